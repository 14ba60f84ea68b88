"""Replay memory at the real entry size: add() on a full slot (exact vs fast search), sample(), bytes,
and how often the fast search picks what the exact one would (JSON on stdout).

One error is a 480x832x81 Wan latent, 16x21x60x104 = 2,096,640 elements (4 MiB in bf16). Two banks
(search="exact" and search="fast") get the same full slot of structured errors: a shared pattern at a
random scale + a smooth random field + small noise, the kind of set where the choice of the nearest
entry matters (white noise would make all entries equally far). Agreement is measured without
changing the bank: for each new error the fast pick is compared with exact distances to every entry.

    python benchmarks/perf/replay_memory.py [--entries 500] [--repeats 15] [--trials 200] [--quick]
                                            [--out FILE]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as nnf
from tqdm import tqdm

from benchmarks.perf.report import emit
from svi.training.memory import ErrorBank

ENTRY_SHAPE = (16, 21, 60, 104)  # latent [C, F, H, W] of an 81-frame 480x832 clip


class StructuredErrors:
    """Fast generator of error-like tensors [C, F, H, W] (float32).

    Smooth fields come from upsampling low-resolution noise; the small white noise is a random window
    of one precomputed pool, so generating an entry costs about as much as copying it.
    """

    def __init__(self, shape: tuple[int, ...], seed: int = 0) -> None:
        self.shape = shape
        self.numel = math.prod(shape)
        self.gen = torch.Generator().manual_seed(seed)
        c = shape[0]
        low = torch.randn(1, c, 5, 8, 10, generator=self.gen)
        self.pattern = 2 * nnf.interpolate(low, size=shape[1:], mode="trilinear", align_corners=False)[0]
        self.noise_pool = 0.05 * torch.randn(2 * self.numel, generator=self.gen)  # [2E]

    def __call__(self) -> torch.Tensor:
        low = torch.randn(1, self.shape[0], 3, 4, 6, generator=self.gen)
        field = nnf.interpolate(low, size=self.shape[1:], mode="trilinear", align_corners=False)[0]
        scale = 1 + 0.3 * float(torch.randn(1, generator=self.gen))
        offset = int(torch.randint(self.numel, (1,), generator=self.gen))
        noise = self.noise_pool[offset : offset + self.numel].view(self.shape)
        return field.add_(self.pattern, alpha=scale).add_(noise)


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = sorted(1e3 * s for s in seconds)
    p90 = ms[min(len(ms) - 1, math.ceil(0.9 * len(ms)) - 1)]
    return {"median": round(statistics.median(ms), 3), "p90": round(p90, 3), "n": len(ms)}


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def exact_distances(bank: ErrorBank, xs: torch.Tensor) -> torch.Tensor:
    """Squared distances of a batch of errors xs [k, E] to every entry of slot 0: [k, n] float32.

    Same formula as the bank's exact search, but one pass over the pool serves k errors.
    """
    rows = bank.rows[0, : int(bank.count[0])]
    xf = xs.to(bank.dtype).float()  # [k, E] rounded like stored entries
    x_norm2 = (xf * xf).sum(1, keepdim=True)  # [k, 1]
    out = torch.empty(xs.shape[0], rows.numel())
    step = max(1, (1 << 24) // bank.numel)
    for i in range(0, rows.numel(), step):
        idx = rows[i : i + step]
        block = bank.data.index_select(0, idx).float()  # [b, E]
        out[:, i : i + idx.numel()] = bank.norm2[idx] + x_norm2 - 2 * (xf @ block.T)
    return out.clamp_min_(0)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=500, help="entries in the full slot (SVI: 500)")
    parser.add_argument("--repeats", type=int, default=15, help="timed add()s per search mode")
    parser.add_argument("--trials", type=int, default=200, help="new errors for the agreement check")
    parser.add_argument("--sketch-dim", type=int, default=None, help="default: ErrorBank's")
    parser.add_argument("--rerank", type=int, default=None, help="default: ErrorBank's")
    parser.add_argument("--quick", action="store_true", help="64 entries, 5 repeats, 40 trials")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.quick:
        args.entries, args.repeats, args.trials = 64, 5, 40

    sketch_kwargs = {
        k: v for k, v in (("sketch_dim", args.sketch_dim), ("rerank", args.rerank)) if v is not None
    }
    numel = math.prod(ENTRY_SHAPE)
    budget = 1 << 40  # nominal: a bank reserves at most num_slots * capacity rows, here one slot
    banks = {
        "exact": ErrorBank(ENTRY_SHAPE, 1, args.entries, search="exact", budget_bytes=budget, seed=1),
        "fast": ErrorBank(
            ENTRY_SHAPE, 1, args.entries, search="fast", budget_bytes=budget, seed=1, **sketch_kwargs
        ),
    }
    make = StructuredErrors(ENTRY_SHAPE, seed=0)

    t0 = time.perf_counter()
    gen_seconds = 0.0
    for _ in tqdm(range(args.entries), desc="fill slot", file=sys.stderr):
        t1 = time.perf_counter()
        e = make()
        gen_seconds += time.perf_counter() - t1
        for bank in banks.values():
            bank.add(0, e)
    fill_seconds = time.perf_counter() - t0

    # Agreement, measured first on the untouched slot: nothing is written.
    fast = banks["fast"]
    ok_d = ok_d2 = exact_match = 0
    batch = 20
    with tqdm(total=args.trials, desc="fast vs exact", file=sys.stderr) as bar:
        for start in range(0, args.trials, batch):
            xs = torch.stack([make() for _ in range(min(batch, args.trials - start))])  # [k, C, F, H, W]
            d2 = exact_distances(fast, xs.flatten(1))  # [k, n]
            for x, row in zip(xs, d2):
                pick = fast.nearest(0, x, search="fast")
                best = float(row.min())
                exact_match += pick == int(row.argmin())
                ok_d += math.sqrt(float(row[pick])) <= 1.01 * math.sqrt(best)
                ok_d2 += float(row[pick]) <= 1.01 * best
                bar.update()

    # add() on the full slot: each call replaces an entry (steady state of a long run).
    new_errors = [make() for _ in range(args.repeats + 1)]
    add_seconds: dict[str, list[float]] = {"exact": [], "fast": []}
    for i, e in enumerate(tqdm(new_errors, desc="add (exact, fast)", file=sys.stderr)):
        for mode, bank in banks.items():
            dt = timed(lambda bank=bank, e=e: bank.add(0, e))
            if i > 0:  # the first call warms caches and allocator
                add_seconds[mode].append(dt)

    sample_seconds = [timed(lambda: fast.sample(0)) for _ in range(max(20, 4 * args.repeats))]
    sample_bf16_seconds = [timed(lambda: fast.sample(0, dtype=torch.bfloat16)) for _ in range(20)]

    add_ms = {mode: summary_ms(s) for mode, s in add_seconds.items()}
    index_per_entry = fast.row_nbytes - numel * fast.itemsize
    result = {
        "benchmark": "replay_memory",
        "config": {
            "entry_shape": list(ENTRY_SHAPE),
            "elements": numel,
            "dtype": "bfloat16",
            "entries_in_slot": args.entries,
            "repeats": args.repeats,
            "trials": args.trials,
            "sketch_dim": fast.sketch_dim,
            "rerank": fast.rerank,
        },
        "add_full_slot_ms": add_ms,
        "add_latency_ratio_exact_over_fast": round(add_ms["exact"]["median"] / add_ms["fast"]["median"], 2),
        "sample_ms": summary_ms(sample_seconds),
        "sample_bf16_ms": summary_ms(sample_bf16_seconds),
        "bytes_per_entry": {
            "data": numel * fast.itemsize,
            "index_fast": index_per_entry,
            "index_exact": banks["exact"].row_nbytes - numel * fast.itemsize,
            "index_fraction_fast": round(index_per_entry / (numel * fast.itemsize), 5),
            "fixed_fast": fast.fixed_nbytes,
        },
        "fast_vs_exact": {
            "trials": args.trials,
            "agreement_within_1pct_distance": round(ok_d / args.trials, 4),
            "agreement_within_1pct_squared_distance": round(ok_d2 / args.trials, 4),
            "exact_nearest_picked": round(exact_match / args.trials, 4),
        },
        "seconds": {
            "fill": round(fill_seconds, 2),
            "generate_errors_during_fill": round(gen_seconds, 2),
        },
    }
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
