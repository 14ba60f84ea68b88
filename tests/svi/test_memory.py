"""Tests of svi.training.memory: replacement policies, fast vs exact search, budget, memory use, state, gather."""

from __future__ import annotations

import gc
import importlib
import logging
import sys

import psutil
import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as nnf

from svi.flow import shifted_sigmas
from svi.training.memory import ErrorBank, ReplayMemory

MiB = 1 << 20


def structured(n: int, shape: tuple[int, int, int, int], gen: torch.Generator, pattern: torch.Tensor):
    """Errors like a model's: a shared pattern at a random scale + a smooth random field + small noise.

    [n, C, F, H, W]. White noise alone would make every entry almost equally far from every other.
    """
    c, f, h, w = shape
    low = torch.randn(n, c, 3, 4, 6, generator=gen)
    field = nnf.interpolate(low, size=(f, h, w), mode="trilinear", align_corners=False)
    scale = 1 + 0.3 * torch.randn(n, 1, 1, 1, 1, generator=gen)
    return scale * pattern + field + 0.05 * torch.randn(n, c, f, h, w, generator=gen)


def make_pattern(shape: tuple[int, int, int, int], gen: torch.Generator) -> torch.Tensor:
    c, f, h, w = shape
    low = torch.randn(1, c, 5, 8, 10, generator=gen)
    return 2 * nnf.interpolate(low, size=(f, h, w), mode="trilinear", align_corners=False)[0]


def bf16(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.bfloat16).float()


# ------------------------------------------------------------------------------ replacement
@pytest.mark.parametrize("search", ["exact", "fast"])
def test_l2_replaces_the_nearest_entry(search):
    g = torch.Generator().manual_seed(0)
    bank = ErrorBank((4, 8, 8), num_slots=2, capacity=16, search=search, rerank=2, budget_bytes=1 << 24)
    for e in torch.randn(16, 4, 8, 8, generator=g):
        bank.add(1, e)
    before = bank.entries(1)  # [16, 4, 8, 8]
    new = before[11] + 0.01 * torch.randn(4, 8, 8, generator=g)
    assert bank.nearest(1, new) == 11
    bank.add(1, new)
    after = bank.entries(1)
    assert torch.equal(after[11], bf16(new))
    others = [i for i in range(16) if i != 11]
    assert torch.equal(after[others], before[others])
    assert bank.counts.tolist() == [0, 16]


def test_fifo_replaces_the_oldest_in_order():
    bank = ErrorBank((3, 2), num_slots=1, capacity=4, replacement="fifo", budget_bytes=1 << 20)
    for i in range(4):
        bank.add(0, torch.full((3, 2), float(i)))
    for i in range(4, 11):
        bank.add(0, torch.full((3, 2), float(i)))
        values = bank.entries(0)[:, 0, 0].tolist()
        assert sorted(values) == [float(v) for v in range(i - 3, i + 1)]
        assert values[(i - 4) % 4] == float(i)  # positions are overwritten cyclically, oldest first


def test_random_replacement_is_uniformish_and_seeded():
    def run(seed: int) -> list[int]:
        bank = ErrorBank((5,), num_slots=1, capacity=8, replacement="random", seed=seed, budget_bytes=1 << 20)
        for i in range(8):
            bank.add(0, torch.full((5,), float(i)))
        replaced = []
        for i in range(100, 160):
            before = bank.entries(0)
            bank.add(0, torch.full((5,), float(i)))
            changed = (bank.entries(0) != before).any(dim=1).nonzero().flatten().tolist()
            assert len(changed) <= 1  # at most one entry changes (it may replace the latest again)
            replaced.append(int((bank.entries(0)[:, 0] == float(i)).nonzero()))
        assert len(bank) == 8
        return replaced

    picks = run(seed=5)
    assert len(set(picks)) == 8  # every position gets replaced sometime in 60 tries
    assert run(seed=5) == picks
    assert run(seed=6) != picks


def test_fast_search_agrees_with_exact_on_structured_errors():
    shape = (4, 5, 12, 16)
    g = torch.Generator().manual_seed(1)
    pattern = make_pattern(shape, g)
    bank = ErrorBank(shape, num_slots=1, capacity=256, search="fast", budget_bytes=64 * MiB, seed=2)
    for e in structured(256, shape, g, pattern):
        bank.add(0, e)
    stored = bank.entries(0).double().flatten(1)  # [256, E]
    trials = 200
    xs = structured(trials, shape, g, pattern)  # [T, C, F, H, W]
    dist_ref = torch.cdist(bf16(xs).double().flatten(1), stored)  # [T, 256] reference distances, float64
    fast_ok = exact_ok = random_ok = 0
    for x, d in zip(xs, dist_ref):
        best = float(d.min())
        fast_ok += float(d[bank.nearest(0, x, search="fast")]) <= 1.01 * best
        exact_ok += float(d[bank.nearest(0, x, search="exact")]) <= 1.01 * best
        random_ok += float(d[int(torch.randint(256, (1,), generator=g))]) <= 1.01 * best
    assert exact_ok == trials
    assert fast_ok >= 0.95 * trials
    assert random_ok < 0.5 * trials  # the data makes the choice matter


# ------------------------------------------------------------------------------------ budget
@pytest.mark.parametrize(
    "kwargs",
    [dict(search="fast"), dict(search="exact"), dict(replacement="random"), dict(replacement="fifo")],
)
def test_budget_caps_memory_warns_once_and_keeps_working(kwargs, caplog):
    probe = ErrorBank((64,), num_slots=4, capacity=10, budget_bytes=1 << 24, **kwargs)
    budget = probe.fixed_nbytes + 5 * probe.row_nbytes + probe.row_nbytes // 2
    bank = ErrorBank((64,), num_slots=4, capacity=10, budget_bytes=budget, **kwargs)
    assert bank.reserved_rows == 5
    g = torch.Generator().manual_seed(0)
    caplog.set_level(logging.WARNING, logger="svi.training.memory")
    for i in range(40):
        bank.add(i % 3, torch.randn(64, generator=g))
        assert len(bank) * bank.row_nbytes + bank.fixed_nbytes <= budget
        assert bank.nbytes + bank.index_nbytes <= budget
    assert bank.budget_full and len(bank) == 5
    warnings = [r for r in caplog.records if "budget" in r.getMessage()]
    assert len(warnings) == 1 and "GiB" in warnings[0].getMessage()
    # An empty slot takes a row from the fullest slot.
    fullest = int(bank.counts.argmax())
    before = bank.counts
    bank.add(3, torch.randn(64, generator=g))
    after = bank.counts
    assert after[3] == 1 and after[fullest] == before[fullest] - 1 and len(bank) == 5
    assert all(bank.sample(s) is not None for s in range(4) if after[s] > 0)
    assert len([r for r in caplog.records if "budget" in r.getMessage()]) == 1


def test_fifo_keeps_age_order_when_the_budget_moves_rows_between_slots():
    probe = ErrorBank((2,), num_slots=3, capacity=4, replacement="fifo", budget_bytes=1 << 20)
    bank = ErrorBank(
        (2,),
        num_slots=3,
        capacity=4,
        replacement="fifo",
        budget_bytes=probe.fixed_nbytes + 4 * probe.row_nbytes,
    )

    def add(slot: int, value: float) -> None:
        bank.add(slot, torch.full((2,), value))

    def values(slot: int) -> list[float]:
        return bank.entries(slot)[:, 0].tolist()

    for v in (1.0, 2.0, 3.0):
        add(0, v)
    add(1, 4.0)  # all 4 rows used
    add(2, 5.0)  # empty slot: takes the oldest entry of the fullest slot (1.0 of slot 0)
    assert values(0) == [2.0, 3.0] and values(2) == [5.0]
    add(0, 6.0)  # budget used, slot not full: replaces the oldest of slot 0 (2.0)
    add(0, 7.0)  # then 3.0
    assert sorted(values(0)) == [6.0, 7.0] and values(1) == [4.0] and len(bank) == 4


def test_budget_too_small_for_one_entry_raises():
    with pytest.raises(ValueError, match="budget_bytes >="):
        ErrorBank((16, 21, 60, 104), budget_bytes=1 << 20)


def test_wrong_shape_and_non_finite_errors():
    bank = ErrorBank((2, 3), num_slots=2, capacity=2, budget_bytes=1 << 20)
    with pytest.raises(ValueError, match="shape"):
        bank.add(0, torch.zeros(3, 2))
    assert bank.add(0, torch.zeros(1, 2, 3))  # a batch dimension of 1 is accepted
    assert not bank.add(0, torch.full((2, 3), float("nan")))
    assert len(bank) == 1
    with pytest.raises(IndexError):
        bank.add(2, torch.zeros(2, 3))


# ------------------------------------------------------------------------------------- bytes
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_nbytes_is_exact(dtype):
    bank = ErrorBank((3, 5, 7), num_slots=3, capacity=4, dtype=dtype, budget_bytes=1 << 24, sketch_dim=16)
    itemsize = torch.empty((), dtype=dtype).element_size()
    for i in range(9):
        bank.add(i % 3, torch.randn(3, 5, 7))
        assert bank.nbytes == (i + 1) * 105 * itemsize
    assert bank.index_nbytes == 9 * (4 + 4 * bank.sketch_dim) + bank.fixed_nbytes


def test_entries_no_larger_than_the_sketch_are_searched_exactly():
    bank = ErrorBank((3, 5, 7), num_slots=1, capacity=3, budget_bytes=1 << 24, sketch_dim=4096)
    assert not bank.use_sketch and bank.sketch is None
    for v in (0.0, 5.0, 10.0):
        bank.add(0, torch.full((3, 5, 7), v))
    assert bank.nearest(0, torch.full((3, 5, 7), 4.0)) == 1  # "fast" falls back to exact here
    bank.add(0, torch.full((3, 5, 7), 4.0))
    assert sorted(bank.entries(0)[:, 0, 0, 0].tolist()) == [0.0, 4.0, 10.0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="lazy page commit is checked on Linux")
def test_resident_memory_grows_with_rows_written_not_reserved():
    numel, entries = 524288, 48  # 1 MiB per entry in bf16
    budget = min(4 << 30, psutil.virtual_memory().total // 4)
    bank = ErrorBank((numel,), num_slots=50, capacity=500, budget_bytes=budget)
    assert bank.reserved_rows * numel * 2 > budget // 2  # the pool really reserves GiBs
    # Run every code path once on another bank, so first-call allocations are not counted.
    warm = ErrorBank((numel,), num_slots=1, capacity=1, budget_bytes=64 * MiB)
    warm.add(0, torch.ones(numel))
    warm.add(0, torch.ones(numel))
    del warm
    error = torch.empty(numel)  # one reused buffer: the loop allocates nothing that stays
    gc.collect()
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    for i in range(entries):
        error.fill_(float(i + 1))
        bank.add(i % 50, error)
    grown = proc.memory_info().rss - rss0
    data = entries * numel * 2
    assert bank.nbytes == data
    # 8 MiB covers malloc keeping freed temporaries (the float32 copy of an entry is 2 MiB) and the
    # partly touched huge pages of norm2/sketch; the lower bound shows the rows were really written.
    assert 0.9 * data <= grown <= 1.01 * data + 8 * MiB, (
        f"RSS grew {grown / MiB:.1f} MiB for {data / MiB} MiB"
    )


# ------------------------------------------------------------------------------------- state
BANK_VARIANTS = [
    dict(replacement="l2", search="fast", rerank=2),
    dict(replacement="l2", search="exact"),
    dict(replacement="random"),
    dict(replacement="fifo"),
]


def _exercise(memory: ReplayMemory, gen: torch.Generator, steps: int) -> list[torch.Tensor | None]:
    """Bank random errors at random sigmas and sample; returns everything sampled."""
    out: list[torch.Tensor | None] = []
    sigmas = memory.slot_sigmas
    for _ in range(steps):
        sigma = float(sigmas[int(torch.randint(4, (1,), generator=gen))])
        memory.bank(sigma, torch.randn(3, 4, 5, generator=gen), torch.randn(3, 4, 5, generator=gen))
        out += [memory.sample_noise(sigma), memory.sample_clean(sigma), memory.sample_clean_any()]
    return out


def _same(a: list[torch.Tensor | None], b: list[torch.Tensor | None]) -> bool:
    return len(a) == len(b) and all(
        (x is None and y is None) or (x is not None and y is not None and torch.equal(x, y))
        for x, y in zip(a, b)
    )


@pytest.mark.parametrize("variant", BANK_VARIANTS, ids=lambda v: "-".join(map(str, v.values())))
@pytest.mark.bitwise(
    "the memory stores and samples tensors without arithmetic on them; a reloaded bank holds the same bytes and the same generator state"
)
def test_save_load_continues_identically(tmp_path, variant):
    probe = ErrorBank((3, 4, 5), num_slots=4, capacity=6, budget_bytes=1 << 24, **variant)
    # Room for 14 of the 24 entries per bank, so the budget is reached and rows move between slots.
    budget = 2 * (probe.fixed_nbytes + 14 * probe.row_nbytes)
    memory = ReplayMemory((3, 4, 5), torch.tensor([0.9, 0.6, 0.3, 0.1]), 6, budget_bytes=budget, **variant)
    _exercise(memory, torch.Generator().manual_seed(0), 40)
    assert memory.clean.budget_full
    memory.save(tmp_path / "memory.pt")
    loaded = ReplayMemory.load(tmp_path / "memory.pt")
    assert loaded.config() == memory.config()
    a = _exercise(memory, torch.Generator().manual_seed(1), 40)
    b = _exercise(loaded, torch.Generator().manual_seed(1), 40)
    assert _same(a, b)
    for name in ("noise", "clean"):
        x, y = getattr(memory, name), getattr(loaded, name)
        assert torch.equal(x.counts, y.counts) and x.used_rows == y.used_rows
        for s in range(4):
            assert torch.equal(x.entries(s), y.entries(s))
    assert memory.stats() == loaded.stats()


def test_bank_state_dict_round_trip_and_file_holds_only_used_rows(tmp_path):
    bank = ErrorBank((1024,), num_slots=2, capacity=500, budget_bytes=256 * MiB, seed=4)
    assert bank.reserved_rows == 1000
    g = torch.Generator().manual_seed(0)
    for i in range(10):
        bank.add(i % 2, torch.randn(1024, generator=g))
    torch.save(bank.state_dict(), tmp_path / "bank.pt")
    size = (tmp_path / "bank.pt").stat().st_size
    assert size < 10 * bank.row_nbytes + 64 * 1024  # 10 rows and the tables, not the 1000 rows reserved
    state = torch.load(tmp_path / "bank.pt", weights_only=True)
    loaded = ErrorBank.from_state_dict(state)
    for i in range(20):
        assert torch.equal(bank.sample(i % 2), loaded.sample(i % 2))


def test_load_rejects_a_different_configuration():
    bank = ErrorBank((4, 4), num_slots=3, capacity=5, budget_bytes=1 << 20)
    bank.add(0, torch.randn(4, 4))
    other = ErrorBank((4, 4), num_slots=3, capacity=6, dtype=torch.float32, budget_bytes=1 << 20)
    with pytest.raises(ValueError, match="capacity.*dtype"):
        other.load_state_dict(bank.state_dict())
    tiny = ErrorBank((4, 4), num_slots=3, capacity=5, budget_bytes=bank.fixed_nbytes + bank.row_nbytes)
    bank.add(1, torch.randn(4, 4))
    with pytest.raises(ValueError, match="budget_bytes >="):
        tiny.load_state_dict(bank.state_dict())


# -------------------------------------------------------------------------- stats, sampling
def test_stats_keys_and_values():
    bank = ErrorBank((2, 8), num_slots=3, capacity=4, budget_bytes=1 << 20, name="noise")
    bank.add(0, torch.full((2, 8), 1.0))
    bank.add(0, torch.full((2, 8), 3.0))
    bank.add(2, torch.full((2, 8), -2.0))
    stats = bank.stats()
    assert set(stats) == {
        "noise/fill",
        "noise/fill/slot_00",
        "noise/fill/slot_01",
        "noise/fill/slot_02",
        "noise/norm/slot_00",
        "noise/norm/slot_02",
        "noise/bytes",
    }
    assert stats["noise/fill"] == 3 and stats["noise/fill/slot_00"] == 2 and stats["noise/fill/slot_01"] == 0
    assert stats["noise/norm/slot_00"] == pytest.approx((4 + 12) / 2)  # ||c * 1_16|| = 4c
    assert stats["noise/norm/slot_02"] == pytest.approx(8)
    assert stats["noise/bytes"] == 3 * 16 * 2


def test_sample_is_a_copy_and_empty_gives_none():
    bank = ErrorBank((2, 3), num_slots=2, capacity=3, budget_bytes=1 << 20)
    assert bank.sample(0) is None and bank.sample_any() is None
    bank.add(0, torch.ones(2, 3))
    s = bank.sample(0, dtype=torch.bfloat16)
    assert s.shape == (2, 3) and s.dtype == torch.bfloat16
    s.fill_(7)
    assert torch.equal(bank.sample(0), torch.ones(2, 3))
    assert bank.sample(1) is None


def test_sample_any_is_uniform_over_entries_of_all_slots():
    bank = ErrorBank((4,), num_slots=5, capacity=4, budget_bytes=1 << 20)
    for slot, copies in [(0, 3), (2, 1), (4, 2)]:
        for _ in range(copies):
            bank.add(slot, torch.full((4,), float(slot)))
    seen = torch.tensor([float(bank.sample_any()[0]) for _ in range(600)])
    assert set(seen.tolist()) == {0.0, 2.0, 4.0}
    assert (seen == 0).float().mean() == pytest.approx(0.5, abs=0.07)  # 3 of 6 entries


# --------------------------------------------------------------------------------- ReplayMemory
def test_replay_memory_slots_banks_and_samples():
    sigmas = shifted_sigmas(50, 5.0)
    memory = ReplayMemory((2, 3, 4), sigmas, capacity=3, budget_bytes=1 << 24, seed=3)
    assert memory.noise.seed != memory.clean.seed
    assert memory.noise.budget_bytes == memory.clean.budget_bytes == (1 << 24) // 2
    assert memory.slot(1.0) == 0 and memory.slot(0.0) == 49
    assert all(memory.slot(float(s)) == k for k, s in enumerate(sigmas))
    noise, clean = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    assert memory.bank(float(sigmas[10]) + 1e-4, noise, clean) == 1
    assert memory.bank(float(sigmas[10]), noise, clean, keep=False) == 0
    assert memory.bank(0.5, torch.full((2, 3, 4), float("inf")), clean) == 0
    assert memory.noise.counts[10] == 1 and len(memory.clean) == 1
    assert torch.equal(memory.sample_noise(float(sigmas[10])), bf16(noise))
    assert torch.equal(memory.sample_clean(float(sigmas[10])), bf16(clean))
    assert torch.equal(memory.sample_clean_any(), bf16(clean))
    assert memory.sample_noise(float(sigmas[20])) is None
    assert memory.nbytes == 2 * 24 * 2
    stats = memory.stats()
    assert stats["noise/fill"] == stats["clean/fill"] == 1


# Spawned children import their function by module name; with pytest's importlib import mode this
# test module has none, so the worker is written out as a small module on a temporary sys.path entry.
GATHER_WORKER = """
import datetime

import torch
import torch.distributed as dist

from svi.training.memory import ReplayMemory


def main(rank, tmp):
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp}/pg", rank=rank, world_size=2, timeout=datetime.timedelta(seconds=60)
    )
    try:
        out = {}
        for rule in ("per_sample", "own"):
            memory = ReplayMemory(
                (2, 3), torch.tensor([0.9, 0.5, 0.1]), capacity=4, budget_bytes=1 << 24, warmup_clean_flag=rule
            )
            noise, clean = torch.full((2, 3), rank + 1.0), torch.full((2, 3), -(rank + 1.0))
            banked = [
                memory.bank(0.9 if rank == 0 else 0.1, noise, clean, gather=True),
                memory.bank(0.5, 2 * noise, 2 * clean, keep=rank == 1, gather=True),
                memory.bank(0.5, noise, clean, keep=False, gather=True),
            ]
            out[rule] = {"banked": banked, "state": memory.state_dict()}
        torch.save(out, f"{tmp}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()
"""


@pytest.mark.slow
def test_gather_banks_every_ranks_errors_by_the_warmup_rule(tmp_path, monkeypatch):
    (tmp_path / "svi_memory_gather_worker.py").write_text(GATHER_WORKER)
    monkeypatch.syspath_prepend(str(tmp_path))
    worker = importlib.import_module("svi_memory_gather_worker")
    mp.spawn(worker.main, args=(str(tmp_path),), nprocs=2, join=True)
    both = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    # official (own): each rank's own keep flag decides for every gathered pair of the step
    own = [r["own"] for r in both]
    assert own[0]["banked"] == [2, 0, 0] and own[1]["banked"] == [2, 2, 0]
    rank1 = ReplayMemory.from_state_dict(own[1]["state"])
    assert rank1.noise.counts.tolist() == [1, 2, 1]  # step 2: rank 0's pair (not kept there) and its own
    assert ReplayMemory.from_state_dict(own[0]["state"]).noise.counts.tolist() == [1, 0, 1]
    # per_sample: each pair by its own rank's flag, the same memory on every rank
    results = [r["per_sample"] for r in both]
    assert results[0]["banked"] == results[1]["banked"] == [2, 1, 0]
    states = [ReplayMemory.from_state_dict(r["state"]) for r in results]
    for memory in states:
        assert memory.noise.counts.tolist() == [1, 1, 1]
        assert torch.equal(memory.noise.entries(0), torch.full((1, 2, 3), 1.0))  # rank 0, sigma 0.9
        assert torch.equal(memory.noise.entries(2), torch.full((1, 2, 3), 2.0))  # rank 1, sigma 0.1
        assert torch.equal(memory.clean.entries(1), torch.full((1, 2, 3), -4.0))  # rank 1 kept, step 2
    for name in ("noise", "clean"):
        a, b = (getattr(m, name).state_dict() for m in states)
        assert torch.equal(a["data"], b["data"]) and torch.equal(a["rows"], b["rows"])


def test_from_config_equals_the_explicit_construction():
    from svi.config import MemoryConfig

    mem_cfg = MemoryConfig(
        num_slots=7, capacity=3, replacement="random", search="exact", dtype="fp16", budget_bytes=1 << 20,
        sketch_dim=16, rerank=2,
    )  # fmt: skip
    shape = (16, 3, 4, 4)
    made = ReplayMemory.from_config(mem_cfg, shape, shift=3.0, seed=11)
    explicit = ReplayMemory(
        shape, shifted_sigmas(7, 3.0), capacity=3, budget_bytes=1 << 20, dtype=torch.float16, device="cpu",
        replacement="random", search="exact", sketch_dim=16, rerank=2, seed=11,
    )  # fmt: skip
    assert torch.equal(made.slot_sigmas, explicit.slot_sigmas)
    assert (made.capacity, made.budget_bytes, made.seed) == (explicit.capacity, explicit.budget_bytes, 11)
    assert made._bank_kwargs == explicit._bank_kwargs
    for a, b in [(made.noise, explicit.noise), (made.clean, explicit.clean)]:
        assert (a.entry_shape, a.num_slots, a.dtype, a.replacement, a.search, a.seed) == (
            b.entry_shape, b.num_slots, b.dtype, b.replacement, b.search, b.seed
        )  # fmt: skip
        assert (a.sketch_dim, a.rerank, a.device) == (b.sketch_dim, b.rerank, b.device)
    # Same errors in, same memory out (the seeds drive random replacement).
    g = torch.Generator().manual_seed(0)
    for i in range(12):
        e1, e2 = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
        sigma = float(shifted_sigmas(7, 3.0)[i % 7])
        assert made.bank(sigma, e1, e2) == explicit.bank(sigma, e1, e2)
    assert _same_state(made.state_dict(), explicit.state_dict())


def _same_state(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b))
    return a == b
