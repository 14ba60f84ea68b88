"""Replay memory per node (memory.scope=node) against per-process banks: host bytes per node and
update / sample latency, with 2 and 4 CPU processes as the ranks of one node (JSON on stdout).

For each process count N and each scope the N processes form a gloo group (LOCAL_WORLD_SIZE = N) and
build the memory of a training run. Every rank then sees the same number of entries, `slots x
capacity` per bank (full slots): with scope=process each rank's own banks hold them (N copies on the
node, as in the official code), with scope=node the node's one shared store holds them (each rank
banks its share through the writer, local rank 0). Then, in the steady state of a long run:
- update: `ReplayMemory.bank` of one error pair per rank without gather (SVI after its warmup); every
  call replaces an entry of a full slot (l2, fast search). With scope=node one call is collective: the
  writer banks the node's N pairs between two node barriers, so `update_per_pair_ms` divides by N.
- sample: the three draws of an ERFT step (E_noi and E_vid at slot(sigma), E_img from any slot).
Host bytes per node are the sum over the ranks of PSS from /proc/<pid>/smaps_rollup, where a shared
page is divided among the processes that map it (RSS would count the store once per rank): the total
at the end, the baseline before the memory was built (interpreter, torch) and their difference, the
memory's bytes. Medians over all ranks' timed calls.

    python benchmarks/perf/replay_node.py [--procs 2 4] [--shape 16 21 30 52] [--slots 4]
                                          [--capacity 16] [--updates 20] [--samples 50] [--out FILE]

The default entry, 16x21x30x52 (1 MiB in bf16), is a quarter of a 480x832x81 Wan latent, so that 4
processes with per-process banks fit beside other work; --shape 16 21 60 104 measures the real size.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from benchmarks.perf.report import emit
from svi.flow import shifted_sigmas
from svi.training.memory import ReplayMemory
from svi.training.node_memory import store_name

SCOPES = ("process", "node")


def smaps_rollup(pid: int | str = "self") -> dict[str, int]:
    """Pss, Rss and their shared-memory parts of a process, in bytes (Linux)."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss", "Pss_Shmem", "Shared_Clean", "Shared_Dirty"):
                out[key.lower()] = int(rest.split()[0]) * 1024  # kB
    return out


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = sorted(1e3 * s for s in seconds)
    p90 = ms[min(len(ms) - 1, math.ceil(0.9 * len(ms)) - 1)]
    return {"median": round(statistics.median(ms), 3), "p90": round(p90, 3), "n": len(ms)}


def worker(rank: int, nprocs: int, scope: str, args: argparse.Namespace, tmp: str) -> None:
    """One rank: build, fill, time updates and samples, measure its own PSS; write rank{r}.json."""
    os.environ.update(LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(nprocs))
    torch.set_num_threads(1)  # N ranks on a few cores: no oversubscription by intra-op threads
    dist.init_process_group(
        "gloo",
        init_method=f"file://{tmp}/pg",
        rank=rank,
        world_size=nprocs,
        timeout=datetime.timedelta(minutes=10),
    )
    try:
        shape = tuple(args.shape)
        sigmas = shifted_sigmas(args.slots, 5.0)  # [S]
        entries = args.slots * args.capacity  # per bank, as every rank sees them
        gen = torch.Generator().manual_seed(1234 + rank)

        def pair(i: int) -> tuple[float, torch.Tensor, torch.Tensor]:
            return (
                float(sigmas[i % args.slots]),
                torch.randn(shape, generator=gen),
                torch.randn(shape, generator=gen),
            )

        dist.barrier()
        base = smaps_rollup()
        dist.barrier()
        memory = ReplayMemory(
            shape,
            sigmas,
            capacity=args.capacity,
            budget_bytes=1 << 40,  # nominal: the slots cap the rows; CPU pages are committed as written
            scope=scope,
            store_name=store_name(Path(tmp) / "run") if scope == "node" else None,
            seed=rank,
        )
        # Fill to full slots: entry i of the node's sequence goes to slot i % S, so each slot gets C.
        if scope == "process":
            for i in range(entries):
                memory.bank(*pair(i))
        else:
            for j in range(entries // nprocs):
                memory.bank(*pair(j * nprocs + rank))
        assert len(memory.noise) == len(memory.clean) == entries, (len(memory.noise), entries)

        update_s = []
        for i in range(args.updates + 1):
            p = pair(rank + i)  # generated outside the timed call
            dist.barrier()  # the ranks start each call together, as training steps do
            t0 = time.perf_counter()
            memory.bank(*p)
            if i > 0:  # the first call warms caches and the allocator
                update_s.append(time.perf_counter() - t0)
        sample_s = []
        for i in range(args.samples):
            sigma = float(sigmas[(i * 7 + rank) % args.slots])
            t0 = time.perf_counter()
            memory.sample_noise(sigma)
            memory.sample_clean(sigma)
            memory.sample_clean_any()
            sample_s.append(time.perf_counter() - t0)

        dist.barrier()  # every rank has touched what it will touch
        end = smaps_rollup()
        dist.barrier()  # nobody exits (unmapping the store) before all have measured
        result = {
            "base": base,
            "end": end,
            "update_s": update_s,
            "sample_s": sample_s,
            "stored_entries": len(memory.noise) + len(memory.clean),
            "data_bytes": memory.nbytes,
            "index_bytes": memory.noise.index_nbytes + memory.clean.index_nbytes,
        }
        Path(tmp, f"rank{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def run(nprocs: int, scope: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="replay_node_") as tmp:
        mp.spawn(worker, args=(nprocs, scope, args, tmp), nprocs=nprocs, join=True)
        ranks = [json.loads(Path(tmp, f"rank{r}.json").read_text()) for r in range(nprocs)]
    pss_end = sum(r["end"]["pss"] for r in ranks)
    pss_base = sum(r["base"]["pss"] for r in ranks)
    update = summary_ms([s for r in ranks for s in r["update_s"]])
    per_node = 1 if scope == "node" else nprocs  # copies of the banks on the node
    return {
        "procs": nprocs,
        "scope": scope,
        "host_bytes_per_node": {
            "memory_pss": pss_end - pss_base,
            "pss_total": pss_end,
            "pss_baseline": pss_base,
            "rss_total": sum(r["end"]["rss"] for r in ranks),
            "expected_banks": per_node * (ranks[0]["data_bytes"] + ranks[0]["index_bytes"]),
        },
        "entries_per_rank": ranks[0]["stored_entries"],  # both banks, as each rank sees them
        "entries_per_node": per_node * ranks[0]["stored_entries"],
        "update_ms": update,
        "update_per_pair_ms": round(update["median"] / (nprocs if scope == "node" else 1), 3),
        "sample_step_ms": summary_ms([s for r in ranks for s in r["sample_s"]]),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--procs", type=int, nargs="+", default=[2, 4], help="processes per node")
    parser.add_argument("--shape", type=int, nargs=4, default=[16, 21, 30, 52], help="one error [C F H W]")
    parser.add_argument("--slots", type=int, default=4, help="timestep slots")
    parser.add_argument(
        "--capacity", type=int, default=16, help="entries per slot (> rerank: the fast search ranks them)"
    )
    parser.add_argument("--updates", type=int, default=20, help="timed bank() calls per rank")
    parser.add_argument("--samples", type=int, default=50, help="timed sample steps per rank")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    bad = [n for n in args.procs if n < 1 or (args.slots * args.capacity) % n]
    if bad:
        parser.error(
            f"slots x capacity ({args.slots * args.capacity}) must be a multiple of --procs, not {bad}"
        )

    runs = []
    for n in args.procs:
        for scope in SCOPES:
            print(f"{n} processes, scope={scope} ...", file=sys.stderr)
            runs.append(run(n, scope, args))
    by = {(r["procs"], r["scope"]): r for r in runs}
    ratios = {}
    for n in args.procs:
        p, s = by[(n, "process")], by[(n, "node")]
        ratios[str(n)] = {
            "memory_pss_process_over_node": round(
                p["host_bytes_per_node"]["memory_pss"] / s["host_bytes_per_node"]["memory_pss"], 2
            ),
            "update_ms_node_over_process": round(s["update_ms"]["median"] / p["update_ms"]["median"], 2),
            "update_per_pair_node_over_process": round(s["update_per_pair_ms"] / p["update_per_pair_ms"], 2),
            "sample_ms_node_over_process": round(
                s["sample_step_ms"]["median"] / p["sample_step_ms"]["median"], 2
            ),
        }
    numel = math.prod(args.shape)
    result = {
        "benchmark": "replay_node",
        "config": {
            "entry_shape": args.shape,
            "elements": numel,
            "dtype": "bfloat16",
            "entry_bytes": 2 * numel,
            "slots": args.slots,
            "capacity": args.capacity,
            "entries_per_rank_per_bank": args.slots * args.capacity,
            "updates": args.updates,
            "samples": args.samples,
            "replacement": "l2",
            "search": "fast",
        },
        "runs": runs,
        "ratios": ratios,
    }
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
