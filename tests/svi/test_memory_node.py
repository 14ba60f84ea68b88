"""Tests of the node-scope replay memory (memory.scope=node, svi/training/node_memory.py).

One store per node in shared memory: what two real processes see of each other's inserts, that the
store holds what per-process banks hold given the same errors, checkpoints in either scope, the
shared-memory files' life cycle, and that the default stays the official per-process layout. The
2-rank DeepSpeed kill-and-resume run with memory.scope=node is in tests/svi/test_train.py.
"""

from __future__ import annotations

import glob
import importlib
import os

import pytest
import torch
import torch.multiprocessing as mp

from svi.config import MemoryConfig, load_config
from svi.training.memory import ReplayMemory, auto_budget_bytes
from svi.training.node_memory import SHM_DIR, NodeStore, store_name

SIGMAS = torch.tensor([0.9, 0.5, 0.1])
SHAPE = (2, 3)


def _same_store(a: ReplayMemory, b: ReplayMemory) -> None:
    """Both memories hold the same entries in the same rows and slots (generators aside)."""
    for name in ("noise", "clean"):
        x, y = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        for key in ("data", "norm2", "rows", "count", "fifo", "used_rows", "budget_full"):
            vx, vy = x[key], y[key]
            assert torch.equal(vx, vy) if isinstance(vx, torch.Tensor) else vx == vy, f"{name}.{key}"


# ----------------------------------------------------------------------------- configuration
def test_process_scope_is_the_default_and_keeps_old_hashes(monkeypatch):
    from harness.declare.plan import train_hash

    assert MemoryConfig().scope == "process"  # the official layout: a full copy per process
    default = load_config(None)
    assert "scope" not in default.model_dump(mode="json")["memory"]  # so hashes of older runs hold
    node = load_config(None, ["memory.scope=node"])
    assert node.model_dump(mode="json")["memory"]["scope"] == "node"
    assert train_hash(node) != train_hash(default)  # it changes what is sampled after the warmup
    with pytest.raises(Exception, match="host shared memory"):
        load_config(None, ["memory.scope=node", "memory.device=cuda"])
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert auto_budget_bytes("cpu", "node") // 4 == auto_budget_bytes("cpu", "process")


def test_node_scope_needs_a_store_name():
    with pytest.raises(ValueError, match="store_name"):
        ReplayMemory(SHAPE, SIGMAS, capacity=2, budget_bytes=1 << 20, scope="node")


# ------------------------------------------------------------------------------ one process
@pytest.mark.bitwise(
    "the node store and the process banks copy entries and draw indices from the same generators; no arithmetic touches the stored values"
)
def test_one_process_node_store_equals_process_banks_and_leaves_no_files(tmp_path):
    shm = tmp_path / "shm"
    shm.mkdir()
    name = store_name(tmp_path / "run")
    stale = shm / f"{name}-n0-noise.data"
    stale.write_bytes(b"left by a killed run")
    kwargs = dict(capacity=2, budget_bytes=1 << 20, replacement="random", dtype=torch.float16, seed=5)
    node = ReplayMemory(SHAPE, SIGMAS, scope="node", store_name=name, shm_dir=shm, **kwargs)
    ref = ReplayMemory(SHAPE, SIGMAS, **kwargs)
    assert os.listdir(shm) == []  # the stale file is gone, the store's names are unlinked already
    g = torch.Generator().manual_seed(0)
    for step in range(12):  # slots overflow: random replacement draws from the generators
        sigma = float(SIGMAS[step % 3])
        noise, clean = torch.randn(SHAPE, generator=g), torch.randn(SHAPE, generator=g)
        if step == 7:
            clean = torch.full(SHAPE, 1e5)  # finite in float32, inf in float16: the clean bank skips it
        assert node.bank(sigma, noise, clean) == ref.bank(sigma, noise, clean)
        assert torch.equal(node.sample_clean_any(), ref.sample_clean_any())
    _same_store(node, ref)


def test_a_store_larger_than_the_free_shared_memory_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(NodeStore, "free_bytes", lambda self: 100)  # the store takes a few hundred bytes
    with pytest.raises(ValueError, match="shm-size"):
        ReplayMemory(
            SHAPE, SIGMAS, capacity=2, budget_bytes=1 << 20, scope="node", store_name="x", shm_dir=tmp_path
        )
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------- two processes
# Spawned children import their function by module name; with pytest's importlib import mode this
# test module has none, so the worker is written out as a small module on a temporary sys.path entry.
NODE_WORKER = """
import copy
import datetime
import glob
import os

import torch
import torch.distributed as dist

from svi.training.memory import ReplayMemory

SIGMAS = torch.tensor([0.9, 0.5, 0.1])
SHAPE = (2, 3)
KW = dict(capacity=2, budget_bytes=1 << 20, replacement="random")


def pair(step, rank):
    # The errors rank `rank` makes at `step`: any process can compute any rank's.
    g = torch.Generator().manual_seed(1000 * step + rank)
    return float(SIGMAS[(step + rank) % 3]), torch.randn(SHAPE, generator=g), torch.randn(SHAPE, generator=g)


def snap(memory):
    return copy.deepcopy(memory.state_dict())  # a state_dict's rows alias the (changing) store


def run(memory, steps, rank, gather, ref=None):
    # Bank each step's pair of this rank and sample; `ref` (a process-scope memory with the writer's
    # seed) banks every rank's pair in rank order, as the writer does. Returns banked counts, samples.
    banked, samples = [], []
    for step in steps:
        sigma, noise, clean = pair(step, rank)
        keep = step % 5 != 3  # some steps keep nothing (the clean gate's banking rule)
        banked.append(memory.bank(sigma, noise, clean, keep=keep, gather=gather))
        if ref is not None:
            for r in range(2):
                if step % 5 != 3:
                    ref.bank(*pair(step, r))
        if ref is not None:  # the store holds what the reference holds, after every step
            for name in ("noise", "clean"):
                x, y = getattr(memory, name).state_dict(), getattr(ref, name).state_dict()
                assert all(torch.equal(x[k], y[k]) for k in ("data", "rows", "count")), (step, name)
        samples.append((memory.sample_noise(0.5), memory.sample_clean_any()))
        if ref is not None:
            assert all(torch.equal(a, b) for a, b in zip(samples[-1], (ref.sample_noise(0.5), ref.sample_clean_any())))
    return banked, samples


def main(rank, tmp, name):
    os.environ.update(LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2")
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp}/pg", rank=rank, world_size=2, timeout=datetime.timedelta(seconds=60)
    )
    try:
        node = ReplayMemory(SHAPE, SIGMAS, scope="node", store_name=name, seed=10 + rank, **KW)
        dist.barrier()  # the writer unlinks the names as soon as every rank has mapped them
        files_after_build = glob.glob(f"/dev/shm/{name}*")
        proc = ReplayMemory(SHAPE, SIGMAS, seed=10 + rank, **KW)  # today's per-process banks
        ref = ReplayMemory(SHAPE, SIGMAS, seed=10, **KW) if rank == 0 else None  # the writer's seed
        # SVI's warmup: gathered errors, banked by every rank (process) or by the writer (node)
        warm_node, _ = run(node, range(6), rank, gather=True, ref=ref)
        warm_proc, _ = run(proc, range(6), rank, gather=True)
        warm_state = {"node": snap(node), "proc": snap(proc)}
        # after the warmup: each rank's own errors, into the store through the writer
        own, samples = run(node, range(6, 12), rank, gather=False, ref=ref)
        node.save_checkpoint(f"{tmp}/ckpt_node", rank)
        proc.save_checkpoint(f"{tmp}/ckpt_proc", rank)
        after = snap(node)
        dist.barrier()
        # restored into a fresh store: the same store and generators, and it goes on identically
        again = ReplayMemory(SHAPE, SIGMAS, scope="node", store_name=name + "-b", seed=99, **KW)
        again.load_checkpoint(f"{tmp}/ckpt_node", rank)
        restored = snap(again)
        cont = [run(m, range(12, 16), rank, gather=False)[1] for m in (node, again)]
        # a node checkpoint read by process scope, and a per-process checkpoint by node scope
        as_proc = ReplayMemory(SHAPE, SIGMAS, seed=7, **KW)
        as_proc.load_checkpoint(f"{tmp}/ckpt_node", rank)
        old = ReplayMemory(SHAPE, SIGMAS, scope="node", store_name=name + "-c", seed=7, **KW)
        old.load_checkpoint(f"{tmp}/ckpt_proc", rank)
        torch.save(
            {
                "files_after_build": files_after_build,
                "warm": [warm_node, warm_proc],
                "warm_state": warm_state,
                "own": own,
                "samples": samples,
                "after": after,
                "restored": restored,
                "cont": cont,
                "as_proc": as_proc.state_dict(),
                "old": old.state_dict(),
                "proc_after": proc.state_dict(),
                "view_file": torch.load(f"{tmp}/ckpt_node/replay_rank{rank}.pt", weights_only=True),
            },
            f"{tmp}/rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()
"""


@pytest.mark.slow
def test_two_processes_share_one_store(tmp_path, monkeypatch):
    (tmp_path / "svi_memory_node_worker.py").write_text(NODE_WORKER)
    monkeypatch.syspath_prepend(str(tmp_path))
    worker = importlib.import_module("svi_memory_node_worker")
    name = store_name(tmp_path)
    try:
        mp.spawn(worker.main, args=(str(tmp_path), name), nprocs=2, join=True)
    finally:
        leaked = glob.glob(os.path.join(SHM_DIR, f"{name}*"))
        for f in leaked:
            os.unlink(f)
    assert leaked == []  # nothing left in /dev/shm
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2))
    assert r0["files_after_build"] == r1["files_after_build"] == []  # unlinked once both had mapped them
    # The warmup banks what per-process banks hold: bit for bit local rank 0's, random replacement
    # included (rank 1's own banks draw other replacements); both ranks report the same counts.
    assert r0["warm"] == r1["warm"] and r0["warm"][0] == r0["warm"][1]
    warm = [ReplayMemory.from_state_dict(r["warm_state"]["node"]) for r in (r0, r1)]
    _same_store(warm[0], warm[1])
    _same_store(warm[0], ReplayMemory.from_state_dict(r0["warm_state"]["proc"]))
    # After it, both ranks' inserts are in the one store that both see (rank 0 checked each step
    # against a per-process memory fed both ranks' pairs in rank order, samples included).
    assert r0["own"] == r1["own"] and sum(r0["own"]) > 0
    a, b = ReplayMemory.from_state_dict(r0["after"]), ReplayMemory.from_state_dict(r1["after"])
    _same_store(a, b)
    stored = {tuple(e.flatten().tolist()) for s in range(3) for e in a.noise.entries(s)}
    from_rank = {r: any(tuple(e.flatten().tolist()) in stored for e in _own_noise(r)) for r in (0, 1)}
    assert from_rank == {0: True, 1: True}
    # Each rank samples with its own generator: the same store, different draws.
    draws = [(x, y) for s, t in zip(r0["samples"], r1["samples"]) for x, y in zip(s, t) if x is not None]
    assert draws and any(not torch.equal(x, y) for x, y in draws)
    # Checkpoint: the store once per node, a small generator file per rank; restored exactly.
    assert sorted(p.name for p in (tmp_path / "ckpt_node").iterdir()) == [
        "replay_node0.pt",
        "replay_rank0.pt",
        "replay_rank1.pt",
    ]
    assert r0["view_file"]["scope"] == "node" and "noise" not in r0["view_file"]
    for r in (r0, r1):
        _same_store(ReplayMemory.from_state_dict(r["after"]), ReplayMemory.from_state_dict(r["restored"]))
        for name in ("noise", "clean"):
            assert torch.equal(r["after"][name]["generator"], r["restored"][name]["generator"])
        assert all(
            (x is None and y is None) or torch.equal(x, y) for s, t in zip(*r["cont"]) for x, y in zip(s, t)
        )
        # process scope reads the node checkpoint: the store's entries, the rank's own generators
        _same_store(ReplayMemory.from_state_dict(r["as_proc"]), a)
        assert torch.equal(r["as_proc"]["noise"]["generator"], r["after"]["noise"]["generator"])
    # node scope reads an old per-process checkpoint: local rank 0's banks seed the store
    _same_store(ReplayMemory.from_state_dict(r1["old"]), ReplayMemory.from_state_dict(r0["proc_after"]))


def _own_noise(rank: int) -> list[torch.Tensor]:
    """The noise errors `rank` banked after the warmup (steps 6-11 of NODE_WORKER, kept ones)."""
    out = []
    for step in range(6, 12):
        if step % 5 == 3:
            continue
        g = torch.Generator().manual_seed(1000 * step + rank)
        out.append(torch.randn(SHAPE, generator=g).to(torch.bfloat16).float())
    return out


def test_several_local_ranks_without_a_process_group_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="process group"):
        NodeStore("svi-replay-x", shm_dir=tmp_path, local_rank=1, local_world_size=2)
