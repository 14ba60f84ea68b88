"""Error replay memory of SVI: banks of the model's own errors, slotted by timestep (docs/method.md §3-4).

ERFT (error-recycling fine-tuning) banks two errors per training step, one integrated to the noise end
(E_noi) and one to the clean end (E_vid, also served as E_img), and later injects errors sampled from
the banks into the inputs. `ReplayMemory` holds the two banks; `ErrorBank` is one bank.

An `ErrorBank` is a single pool tensor `data` [R, E] (R reserved rows, E = prod(entry_shape)) plus
small per-row indexes; a slot table maps each of the `num_slots` timestep slots to its rows. Rows are
handed out in order 0, 1, 2, ... and never freed, so on CPU (Linux) resident memory grows with the rows
actually written: the untouched pages of the one large `torch.empty` are not resident. On CUDA the
reservation is real: the whole budget is taken up front, so pass an explicit `budget_bytes` there.

When a slot is full the new error replaces a stored one: the nearest in L2 (`l2`, the paper's choice,
keeps the slot diverse), a uniformly random one (`random`) or the oldest (`fifo`). The nearest entry is
found either by reading the whole slot (`exact`) or from a count-sketch of every entry (`fast`): the
sketch distances pick `rerank` candidates and only those rows are read.

Where the banks live is `scope`: "process" (the official layout) keeps a full copy of both banks in
every training process; "node" keeps one store per node in shared memory that the node's ranks share
(svi/training/node_memory.py), so the node's host RAM holds the banks once instead of once per GPU.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import torch
from torch import Tensor

from svi.flow import nearest_index, shifted_sigmas
from svi.training.node_memory import SHM_DIR, NodeStore, env_local_world_size

if TYPE_CHECKING:
    from svi.config import MemoryConfig

logger = logging.getLogger(__name__)

REPLACEMENTS = ("l2", "random", "fifo")
SEARCHES = ("fast", "exact")
SCOPES = ("process", "node")
WARMUP_CLEAN_FLAGS = ("own", "per_sample")  # memory.warmup_clean_flag, see `warmup_banked`
AUTO_BUDGET_FRACTION = 0.4  # of physical RAM, shared by the processes of one node
STATE_VERSION = 1
# Rows per chunk of the exact search: a float32 buffer of at most 16 MiB (below glibc's largest
# mmap threshold, so it is reused rather than page-faulted in again on every call).
_CHUNK_ELEMENTS = 1 << 22
_GIB = float(1 << 30)
# memory.dtype in a config -> the banks' storage dtype
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def warmup_banked(kept: Sequence[bool], own: bool, rule: str = "own") -> list[int]:
    """The ranks whose gathered error pairs this rank banks in a warmup step (SVI's first
    `warmup_steps`, when every rank's pair is gathered to every rank), in rank order.

    kept[r]: rank r's own decision for its pair (its clean gate did not fire, or its
    clean_buffer_update_prob draw passed); own: this rank's. rule "own" (official train_svi.py: the
    rank's `use_clean_input` and its one draw decide whether it banks all the gathered errors): every
    rank's pair or none, by this rank's decision alone. "per_sample": each pair by its own rank's
    decision, so every rank banks the same pairs."""
    if rule not in WARMUP_CLEAN_FLAGS:
        raise ValueError(f"warmup_clean_flag must be one of {WARMUP_CLEAN_FLAGS}, got {rule!r}")
    if rule == "own":
        return list(range(len(kept))) if own else []
    return [r for r, k in enumerate(kept) if k]


def auto_budget_bytes(device: str | torch.device = "cpu", scope: str = "process") -> int:
    """The default memory budget: 40% of physical RAM, divided by the processes on this node for
    per-process banks (scope="process"); the whole 40% for the one store of a node (scope="node").

    The node's processes are counted by LOCAL_WORLD_SIZE (torchrun) or LOCAL_SIZE (the deepspeed
    launcher): svi.training.node_memory.env_local_world_size. On CUDA the pool is really allocated up front, so no
    automatic budget is guessed there.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    device = torch.device(device)
    if device.type != "cpu":
        raise ValueError(
            f"budget_bytes=None (auto) is only supported for CPU banks, got device {device}: on "
            "accelerators the whole budget is allocated up front. Pass budget_bytes explicitly."
        )
    processes = env_local_world_size() if scope == "process" else 1
    return int(AUTO_BUDGET_FRACTION * psutil.virtual_memory().total) // processes


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _parse_dtype(name: str | torch.dtype) -> torch.dtype:
    if isinstance(name, torch.dtype):
        return name
    dtype = getattr(torch, str(name).removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {name!r}; use a torch dtype name such as 'bfloat16'")
    return dtype


_INT_OF_SIZE = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
_POOLS = ("data", "norm2", "sketch")  # an ErrorBank's per-row tensors, on its device


def _cpu_prefix(t: Tensor, n: int) -> Tensor:
    """The first n rows of t as a CPU tensor whose storage holds exactly those rows.

    torch.save writes a view's whole storage, so t[:n] of a large pool would write the whole
    reservation. On CPU the rows are aliased through numpy (no copy); elsewhere they are copied.
    """
    if t.device.type != "cpu":
        return t[:n].cpu()
    raw = t[:n].view(_INT_OF_SIZE[t.element_size()]).numpy()  # numpy has no bfloat16
    return torch.from_numpy(raw).view(t.dtype)


class ErrorBank:
    """One bank of error tensors in `num_slots` timestep slots of up to `capacity` entries each.

    Args:
        entry_shape: shape of one error, e.g. (16, 21, 60, 104) for a 480x832x81 Wan latent.
        num_slots: number of timestep slots (50: the inference schedule).
        capacity: entries per slot (500 in SVI).
        dtype: storage dtype of the errors (bf16 as in SVI).
        device: where the pool lives. CPU pages are committed lazily; CUDA reserves the budget now.
        replacement: what a new error replaces in a full slot: "l2" (the nearest entry), "random",
            or "fifo" (the oldest).
        search: how "l2" finds the nearest entry: "exact" reads every entry of the slot; "fast" ranks
            the entries by count-sketch distance and reads only the `rerank` best candidates.
        budget_bytes: memory cap for data and indexes; None = 40% of RAM / LOCAL_WORLD_SIZE (CPU only).
        sketch_dim: count-sketch width (fast search): 4096 floats = 16 KiB per entry, 0.4% of a 4 MiB
            error; picks within 1% of the nearest ~99% of the time on 500 structured errors (see `nearest`).
        rerank: candidates whose exact distance is computed in fast search.
        seed: seeds the bank's generator (sampling, random replacement) and the sketch hash.
        name: prefix of the keys of `stats()`.
        store: a `NodeStore` holding the pool and its indexes in shared memory (memory.scope=node), or
            None for tensors of this process. In a store, only its writer (local rank 0) changes the
            bank; on the other ranks the bank is a read-only view that samples with its own generator.

    Once the budget's rows are used, a new error replaces an entry of its own slot (chosen by the
    policy) even if the slot is not full; an empty slot takes the policy's entry from the fullest slot
    (for l2: that slot's entry nearest to the new error). A warning is logged the first time.
    """

    def __init__(
        self,
        entry_shape: Sequence[int],
        num_slots: int = 50,
        capacity: int = 500,
        *,
        dtype: torch.dtype = torch.bfloat16,
        device: str | torch.device = "cpu",
        replacement: str = "l2",
        search: str = "fast",
        budget_bytes: int | None = None,
        sketch_dim: int = 4096,
        rerank: int = 8,
        seed: int = 0,
        name: str = "bank",
        store: NodeStore | None = None,
    ) -> None:
        if replacement not in REPLACEMENTS:
            raise ValueError(f"replacement must be one of {REPLACEMENTS}, got {replacement!r}")
        if search not in SEARCHES:
            raise ValueError(f"search must be one of {SEARCHES}, got {search!r}")
        if num_slots < 1 or capacity < 1:
            raise ValueError(f"num_slots and capacity must be >= 1, got {num_slots} and {capacity}")
        if sketch_dim < 1 or rerank < 1:
            raise ValueError(f"sketch_dim and rerank must be >= 1, got {sketch_dim} and {rerank}")
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating point dtype, got {dtype}")
        self.entry_shape = tuple(int(s) for s in entry_shape)
        self.numel = math.prod(self.entry_shape)
        if self.numel < 1:
            raise ValueError(f"entry_shape must have at least one element, got {self.entry_shape}")
        self.num_slots = int(num_slots)
        self.capacity = int(capacity)
        self.dtype = dtype
        self.device = torch.device(device)
        self.replacement = replacement
        self.search = search
        self.sketch_dim = int(sketch_dim)
        self.rerank = int(rerank)
        self.seed = int(seed)
        self.name = name
        # A sketch no smaller than the entry saves nothing: such banks search exactly.
        self.use_sketch = replacement == "l2" and search == "fast" and self.numel > self.sketch_dim
        self.itemsize = torch.empty((), dtype=dtype).element_size()

        # Exact accounting: per-row data + norm2 (+ sketch); fixed slot tables (+ sketch hash).
        self.row_nbytes = self.numel * self.itemsize + 4 + (4 * self.sketch_dim if self.use_sketch else 0)
        self.fixed_nbytes = 8 * self.num_slots * (self.capacity + 2) + (
            4 * self.numel if self.use_sketch else 0
        )
        self.budget_bytes = int(auto_budget_bytes(self.device) if budget_bytes is None else budget_bytes)
        fit_rows = (self.budget_bytes - self.fixed_nbytes) // self.row_nbytes
        if fit_rows < 1:
            need = self.fixed_nbytes + self.row_nbytes
            raise ValueError(
                f"ErrorBank {name!r}: a budget of {self.budget_bytes} bytes ({self.budget_bytes / _GIB:.3g} GiB) "
                f"does not fit one entry of shape {self.entry_shape} ({self.row_nbytes} bytes per entry incl. "
                f"indexes, {self.fixed_nbytes} bytes of tables). Set budget_bytes >= {need}."
            )
        self.reserved_rows = int(min(self.num_slots * self.capacity, fit_rows))
        if store is not None and self.device.type != "cpu":
            raise ValueError(
                f"ErrorBank {name!r}: a node store lives in host shared memory, got device {self.device}; "
                "use device='cpu' (memory.device=cpu) or memory.scope=process"
            )
        self.store = store
        self.writable = store is None or store.writer

        def table(key: str, shape: tuple[int, ...], dtype: torch.dtype, fill: float | None = None) -> Tensor:
            if store is not None:
                return store.tensor(f"{name}.{key}", shape, dtype, fill=fill)
            if fill is None:
                return torch.empty(shape, dtype=dtype, device=self.device if key in _POOLS else "cpu")
            return torch.full(shape, fill, dtype=dtype)

        # Allocated once; on CPU only the rows written become resident (rows are used in order).
        self.data = table("data", (self.reserved_rows, self.numel), dtype)  # [R, E]
        self.norm2 = table("norm2", (self.reserved_rows,), torch.float32)  # [R]
        self.sketch: Tensor | None = None
        self._hash: Tensor | None = None  # built on first use (a store's read-only views never need it)
        if self.use_sketch:
            self.sketch = table("sketch", (self.reserved_rows, self.sketch_dim), torch.float32)  # [R, m]
        # Small tables stay on CPU so bookkeeping never syncs with an accelerator.
        self.rows = table("rows", (self.num_slots, self.capacity), torch.int64, fill=-1)  # [S, C]
        self.count = table("count", (self.num_slots,), torch.int64, fill=0)  # [S]
        self.fifo = table("fifo", (self.num_slots,), torch.int64, fill=0)  # [S] position of the oldest entry
        # [used_rows, budget_full]: counters in a tensor, so that a store's views see the writer's
        self._meta = table("meta", (2,), torch.int64, fill=0)  # [2]
        self._generator = torch.Generator().manual_seed(self.seed)

    @property
    def used_rows(self) -> int:
        """Rows of the pool handed out so far (rows are used in order and never freed)."""
        return int(self._meta[0])

    @used_rows.setter
    def used_rows(self, n: int) -> None:
        self._meta[0] = int(n)

    @property
    def budget_full(self) -> bool:
        """Whether the budget's rows are all used (new errors then replace stored ones)."""
        return bool(self._meta[1])

    @budget_full.setter
    def budget_full(self, full: bool) -> None:
        self._meta[1] = int(bool(full))

    def _check_writable(self) -> None:
        if not self.writable:
            raise RuntimeError(
                f"ErrorBank {self.name!r} is a read-only view of a node store (memory.scope=node, local rank "
                "!= 0): errors reach the store through ReplayMemory.bank, which hands them to local rank 0, "
                "and a checkpoint is restored with ReplayMemory.load_checkpoint"
            )

    # ----------------------------------------------------------------------------------- sizes
    @property
    def counts(self) -> Tensor:
        """Entries per slot, LongTensor [num_slots] (a copy)."""
        return self.count.clone()

    def __len__(self) -> int:
        return int(self.count.sum())

    @property
    def nbytes(self) -> int:
        """Bytes of stored error data: entries * elements * itemsize."""
        return len(self) * self.numel * self.itemsize

    @property
    def index_nbytes(self) -> int:
        """Bytes of the indexes: norm2 and sketches of the used rows, slot tables, sketch hash."""
        return self.used_rows * (self.row_nbytes - self.numel * self.itemsize) + self.fixed_nbytes

    def __repr__(self) -> str:
        return (
            f"ErrorBank(name={self.name!r}, entry_shape={self.entry_shape}, entries={len(self)}, "
            f"rows={self.used_rows}/{self.reserved_rows}, replacement={self.replacement!r}, search={self.search!r})"
        )

    # ------------------------------------------------------------------------------------- add
    def add(self, slot: int, error: Tensor) -> bool:
        """Store `error` (entry_shape, any float dtype/device) in `slot`; returns False if it was skipped.

        A non-finite error is skipped with a warning: one NaN would poison every later l2 search.
        """
        self._check_writable()
        slot = self._check_slot(slot)
        x, xf = self._prepare(error)
        if not bool(torch.isfinite(xf).all()):
            logger.warning("ErrorBank %r: skipped a non-finite error for slot %d", self.name, slot)
            return False
        sk = self._sketch(xf) if self.use_sketch else None
        n = int(self.count[slot])
        if n < self.capacity and self.used_rows < self.reserved_rows:
            row = self.used_rows
            self.used_rows += 1
            self.rows[slot, n] = row
            self.count[slot] = n + 1
        elif n > 0:
            if n < self.capacity:
                self._note_budget_full()
            pos = self._choose(slot, xf, sk)
            row = int(self.rows[slot, pos])
            if self.replacement == "fifo":
                self.fifo[slot] = (pos + 1) % n
        else:
            # Budget used up and this slot empty: move the policy's entry of the fullest slot here.
            self._note_budget_full()
            donor = int(self.count.argmax())
            row = self._remove(donor, self._choose(donor, xf, sk))
            self.rows[slot, 0] = row
            self.count[slot] = 1
            self.fifo[slot] = 0
        self.data[row].copy_(x)
        self.norm2[row] = xf.dot(xf)
        if sk is not None:
            self.sketch[row] = sk
        return True

    def _check_slot(self, slot: int) -> int:
        slot = int(slot)
        if not 0 <= slot < self.num_slots:
            raise IndexError(
                f"slot {slot} out of range for ErrorBank {self.name!r} with {self.num_slots} slots"
            )
        return slot

    def _prepare(self, error: Tensor) -> tuple[Tensor, Tensor]:
        """Flatten and round to the storage dtype; returns (x [E] dtype, xf [E] float32 of the rounded x)."""
        shape = tuple(error.shape)
        if shape != self.entry_shape and shape != (1, *self.entry_shape):
            raise ValueError(
                f"ErrorBank {self.name!r} stores errors of shape {self.entry_shape}, got {shape}; "
                "pass one error at a time (a leading batch dimension of 1 is accepted)"
            )
        if not error.is_floating_point():
            raise ValueError(f"errors must be floating point tensors, got {error.dtype}")
        x = error.detach().reshape(-1).to(device=self.device, dtype=self.dtype)  # [E]
        return x, x.float()

    def _sketch(self, xf: Tensor) -> Tensor:
        """Count-sketch of a flat float32 vector: sketch[b] = sum over h(j) = b of s(j) x_j. [m]"""
        if self._hash is None:
            # One int32 code per element in [0, 2m): bucket = code % m, sign = + below m, - above.
            # Fixed by the seed, so it is rebuilt identically instead of being saved.
            hash_gen = torch.Generator().manual_seed(self.seed + (1 << 32))
            self._hash = torch.randint(
                0, 2 * self.sketch_dim, (self.numel,), generator=hash_gen, dtype=torch.int32
            ).to(self.device)  # [E]
        buckets = torch.zeros(2 * self.sketch_dim, dtype=torch.float32, device=xf.device)
        buckets.index_add_(0, self._hash, xf)
        return buckets[: self.sketch_dim] - buckets[self.sketch_dim :]

    def _note_budget_full(self) -> None:
        if not self.budget_full:
            self.budget_full = True
            logger.warning(
                "ErrorBank %r reached its memory budget of %.3g GiB with %d entries (full slots would need "
                "%.3g GiB); further errors replace stored ones. Raise budget_bytes to keep more.",
                self.name,
                self.budget_bytes / _GIB,
                len(self),
                (self.fixed_nbytes + self.num_slots * self.capacity * self.row_nbytes) / _GIB,
            )

    def _choose(self, slot: int, xf: Tensor, sk: Tensor | None) -> int:
        """Position (in the slot) of the entry the replacement policy gives up for the new error."""
        n = int(self.count[slot])
        if self.replacement == "random":
            return int(torch.randint(n, (1,), generator=self._generator))
        if self.replacement == "fifo":
            return int(self.fifo[slot])
        return self._nearest(slot, xf, sk, "fast" if self.use_sketch else "exact")

    def _remove(self, slot: int, pos: int) -> int:
        """Take position `pos` out of `slot`, keeping the others in age order; returns its row."""
        n = int(self.count[slot])
        row = int(self.rows[slot, pos])
        self.rows[slot, pos : n - 1] = self.rows[slot, pos + 1 : n].clone()
        self.rows[slot, n - 1] = -1
        self.count[slot] = n - 1
        oldest = int(self.fifo[slot]) - (1 if pos < int(self.fifo[slot]) else 0)
        self.fifo[slot] = oldest % (n - 1) if n > 1 else 0
        return row

    # --------------------------------------------------------------------------------- search
    def nearest(self, slot: int, error: Tensor, *, search: str | None = None) -> int:
        """Position in `slot` of the stored entry nearest to `error` in L2; the bank is not changed.

        This is the choice `add` makes under replacement="l2". `search` defaults to the bank's mode;
        "fast" needs a bank built with search="fast" (its sketches).

        Fast search ranks entries by ||sketch_i - sketch_x||^2, an unbiased estimate of ||e_i - x||^2
        whose relative error is about sqrt(2 / sketch_dim) whatever the norms are, then returns the
        exact nearest of the `rerank` best. (Estimating norm2_i + ||x||^2 - 2 <sketch_i, sketch_x>
        instead has an error proportional to the norms, which is large for errors sharing a pattern.)
        """
        slot = self._check_slot(slot)
        search = self.search if search is None else search
        if search not in SEARCHES:
            raise ValueError(f"search must be one of {SEARCHES}, got {search!r}")
        if search == "fast" and not self.use_sketch and self.numel <= self.sketch_dim:
            search = "exact"
        if search == "fast" and not self.use_sketch:
            raise ValueError(
                f"ErrorBank {self.name!r} keeps no sketches; build it with replacement='l2', search='fast'"
            )
        if int(self.count[slot]) == 0:
            raise ValueError(f"slot {slot} of ErrorBank {self.name!r} is empty: nothing to compare with")
        _, xf = self._prepare(error)
        return self._nearest(slot, xf, self._sketch(xf) if search == "fast" else None, search)

    def distances(self, slot: int, error: Tensor) -> Tensor:
        """Exact squared L2 distances from `error` (rounded to the bank's dtype) to the entries of `slot`.

        float32 [count[slot]] on the bank's device, in position order.
        """
        slot = self._check_slot(slot)
        _, xf = self._prepare(error)
        return self._exact_d2(self.rows[slot, : int(self.count[slot])], xf)

    def _nearest(self, slot: int, xf: Tensor, sk: Tensor | None, search: str) -> int:
        rows = self.rows[slot, : int(self.count[slot])]  # [n]
        if search == "exact" or rows.numel() <= self.rerank:
            return int(self._exact_d2(rows, xf).argmin())
        rows_dev = rows.to(self.device)
        est = (self.sketch.index_select(0, rows_dev) - sk).square_().sum(dim=1)  # [n], reads 4m bytes/entry
        cand = est.topk(self.rerank, largest=False).indices.cpu()  # [rerank] positions
        return int(cand[int(self._exact_d2(rows[cand], xf).argmin())])

    def _exact_d2(self, rows: Tensor, xf: Tensor) -> Tensor:
        """||e_i - x||^2 = norm2_i + ||x||^2 - 2 <e_i, x> in float32 for the given rows. [k]"""
        k = rows.numel()
        out = torch.empty(k, dtype=torch.float32, device=self.device)
        x_norm2 = xf.dot(xf)
        step = max(1, min(k, _CHUNK_ELEMENTS // self.numel))
        # One float32 buffer refilled per chunk: a buffer this size is reused by malloc instead of being
        # mapped (and page-faulted) afresh for every chunk.
        buf = torch.empty(step, self.numel, dtype=torch.float32, device=self.device)  # [b, E]
        rows_dev = rows.to(self.device)
        for i in range(0, k, step):
            b = min(step, k - i)
            lo = int(rows[i])
            if bool((rows[i : i + b] == torch.arange(lo, lo + b)).all()):
                buf[:b].copy_(self.data[lo : lo + b])  # consecutive rows: no gather copy
            else:
                buf[:b].copy_(self.data.index_select(0, rows_dev[i : i + b]))
            out[i : i + b] = self.norm2[rows_dev[i : i + b]] + x_norm2 - 2 * (buf[:b] @ xf)
        return out.clamp_min_(0)

    # --------------------------------------------------------------------------------- sample
    def sample(
        self, slot: int, *, device: str | torch.device | None = None, dtype: torch.dtype = torch.float32
    ) -> Tensor | None:
        """A uniformly random entry of `slot` as a new tensor of entry_shape; None if the slot is empty."""
        slot = self._check_slot(slot)
        n = int(self.count[slot])
        if n == 0:
            return None
        pos = int(torch.randint(n, (1,), generator=self._generator))
        return self._read(int(self.rows[slot, pos]), device, dtype)

    def sample_any(
        self, *, device: str | torch.device | None = None, dtype: torch.dtype = torch.float32
    ) -> Tensor | None:
        """A uniformly random entry over all slots (each entry equally likely); None if the bank is empty."""
        total = len(self)
        if total == 0:
            return None
        k = int(torch.randint(total, (1,), generator=self._generator))
        ends = self.count.cumsum(0)  # [S]
        slot = int(torch.searchsorted(ends, torch.tensor(k), right=True))
        pos = k - (int(ends[slot]) - int(self.count[slot]))
        return self._read(int(self.rows[slot, pos]), device, dtype)

    def entries(self, slot: int, *, dtype: torch.dtype = torch.float32) -> Tensor:
        """A copy of all entries of `slot` in position order, [count, *entry_shape] (debugging, tests)."""
        slot = self._check_slot(slot)
        rows = self.rows[slot, : int(self.count[slot])].to(self.device)
        return self.data.index_select(0, rows).to(dtype).view(-1, *self.entry_shape)

    def _read(self, row: int, device: str | torch.device | None, dtype: torch.dtype) -> Tensor:
        device = self.device if device is None else device
        return self.data[row].to(device=device, dtype=dtype, copy=True).view(self.entry_shape)

    # ---------------------------------------------------------------------------------- stats
    def stats(self) -> dict[str, float]:
        """Flat metrics for logging: fill (total and per slot), mean L2 norm per non-empty slot, bytes."""
        out = {f"{self.name}/fill": float(len(self))}
        counts = self.count.tolist()
        for i, c in enumerate(counts):
            out[f"{self.name}/fill/slot_{i:02d}"] = float(c)
        valid = self.rows >= 0  # [S, C]
        if bool(valid.any()):
            slot_of = torch.arange(self.num_slots).unsqueeze(1).expand_as(self.rows)[valid]  # [N]
            norms = self.norm2[self.rows[valid].to(self.device)].double().sqrt().cpu()  # [N]
            sums = torch.zeros(self.num_slots, dtype=torch.float64).index_add_(0, slot_of, norms)
            for i, c in enumerate(counts):
                if c > 0:
                    out[f"{self.name}/norm/slot_{i:02d}"] = float(sums[i]) / c
        out[f"{self.name}/bytes"] = float(self.nbytes)
        return out

    # ---------------------------------------------------------------------------------- state
    def config(self) -> dict[str, Any]:
        """Constructor arguments (budget resolved), as plain values."""
        return {
            "entry_shape": list(self.entry_shape),
            "num_slots": self.num_slots,
            "capacity": self.capacity,
            "dtype": _dtype_name(self.dtype),
            "device": str(self.device),
            "replacement": self.replacement,
            "search": self.search,
            "budget_bytes": self.budget_bytes,
            "sketch_dim": self.sketch_dim,
            "rerank": self.rerank,
            "seed": self.seed,
            "name": self.name,
        }

    def state_dict(self) -> dict[str, Any]:
        """Used rows, tables, counters and generator state, as CPU tensors.

        Like nn.Module.state_dict, on CPU the row tensors alias the bank (no copy): save the dict before
        changing the bank again. Only the used rows are included, never the whole reservation.
        """
        n = self.used_rows
        return {
            "version": STATE_VERSION,
            "config": self.config(),
            "data": _cpu_prefix(self.data, n),  # [n, E]
            "norm2": _cpu_prefix(self.norm2, n),  # [n]
            "sketch": None if self.sketch is None else _cpu_prefix(self.sketch, n),  # [n, m]
            "rows": self.rows.clone(),
            "count": self.count.clone(),
            "fifo": self.fifo.clone(),
            "used_rows": n,
            "budget_full": self.budget_full,
            "generator": self._generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a `state_dict()`; the bank then behaves exactly as the saved one would have.

        The shape, slot count, capacity and dtype must match; replacement policy and search are this
        bank's own (sketches are recomputed if the saved ones do not fit them).
        """
        self._check_writable()
        if state.get("version") != STATE_VERSION:
            raise ValueError(
                f"unsupported ErrorBank state version {state.get('version')!r}, expected {STATE_VERSION}"
            )
        cfg = state["config"]
        mine = self.config()
        diffs = []
        for key in ("entry_shape", "num_slots", "capacity", "dtype"):
            saved = [int(s) for s in cfg[key]] if key == "entry_shape" else cfg[key]
            if saved != mine[key]:
                diffs.append(f"{key}: saved {saved!r}, this bank {mine[key]!r}")
        if diffs:
            raise ValueError(
                f"cannot load state into ErrorBank {self.name!r}, the configuration differs ("
                + "; ".join(diffs)
                + "). Build the bank with the saved values, e.g. ErrorBank.from_state_dict(state)."
            )
        n = int(state["used_rows"])
        if n > self.reserved_rows:
            need = self.fixed_nbytes + n * self.row_nbytes
            raise ValueError(
                f"the saved ErrorBank {self.name!r} holds {n} rows but this bank's budget of "
                f"{self.budget_bytes} bytes fits only {self.reserved_rows}; set budget_bytes >= {need}."
            )
        self.data[:n].copy_(state["data"])
        self.norm2[:n].copy_(state["norm2"])
        if self.sketch is not None:
            saved = state.get("sketch")
            if saved is not None and cfg["sketch_dim"] == self.sketch_dim and cfg["seed"] == self.seed:
                self.sketch[:n].copy_(saved)
            else:
                for row in range(n):
                    self.sketch[row] = self._sketch(self.data[row].float())
        self.rows.copy_(state["rows"])
        self.count.copy_(state["count"])
        self.fifo.copy_(state["fifo"])
        self.used_rows = n
        self.budget_full = bool(state["budget_full"])
        self._generator.set_state(state["generator"])

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], **overrides: Any) -> ErrorBank:
        """A bank built from the saved configuration (overrides win, e.g. device=...) and loaded."""
        cfg = {**state["config"], **overrides}
        cfg["dtype"] = _parse_dtype(cfg["dtype"])
        bank = cls(cfg.pop("entry_shape"), cfg.pop("num_slots"), cfg.pop("capacity"), **cfg)
        bank.load_state_dict(state)
        return bank


class ReplayMemory:
    """The two error banks of SVI: `noise` (E_noi) and `clean` (E_vid and E_img), slotted by sigma.

    Args:
        entry_shape: shape of one error (the latent shape without batch dimension).
        slot_sigmas: [num_slots] sigmas the slots are anchored at; SVI uses the inference schedule,
            svi.flow.shifted_sigmas(50, 5.0). A training sigma goes to the nearest slot.
        capacity: entries per slot in each bank.
        budget_bytes: memory cap of the whole memory, split evenly between the banks; None = 40% of
            physical RAM / LOCAL_WORLD_SIZE with scope="process", 40% of physical RAM with
            scope="node" (the budget is then the node's, not the process's).
        scope: "process": banks of this process alone (the official layout: every training process keeps
            a full copy). "node": one store per node in shared memory (svi/training/node_memory.py), shared by
            the node's ranks and built collectively by them; see below.
        store_name: the node store's name, one per run: svi.training.node_memory.store_name(output_dir).
        shm_dir: the tmpfs folder of the node store.
        warmup_clean_flag: whose banking decision holds for the pairs gathered in a warmup step
            (`warmup_banked`): "own" (official) or "per_sample".
        **bank_kwargs: dtype, device, replacement, search, sketch_dim, rerank, seed of `ErrorBank`.
            The banks get seeds 2*seed and 2*seed + 1 (seed per rank: each rank samples with its own).

    Node scope. Local rank 0 (the store's writer) alone changes the store; every rank samples from it
    with its own generators, as it would from its own banks. `bank` is collective over the node's
    ranks (each calls it equally often) and banks between two node barriers, so no rank samples while
    the store changes and a run, resumed or not, is reproducible bit for bit:
    - with gather=True (SVI's warmup) the pairs of all ranks are all-gathered as in process scope and
      the writer banks those its own decision picks (`warmup_banked`) in rank order, exactly as local
      rank 0 banks them in process scope: the node store is bit for bit local rank 0's banks in process
      scope, random replacement included (drawn from the writer's generator as from rank 0's there).
      The other ranks bank nothing (with warmup_clean_flag=per_sample they would only insert the same
      pairs again; with the official own, their own picks differ, which one shared store cannot hold).
    - without gather (after SVI's warmup) each rank stages its own pair in the store and the writer
      banks the node's pairs in local-rank order, into one set of `capacity` entries per slot for the
      node. In process scope each rank banks and samples only its own errors after the warmup; here
      every rank samples from the errors of all the node's ranks. That (and, in the warmup, the writer's
      decision standing for the node's ranks) departs from the official behaviour, why `process` stays
      the default and why memory.scope enters a run's hash.
    """

    def __init__(
        self,
        entry_shape: Sequence[int],
        slot_sigmas: Tensor,
        capacity: int = 500,
        *,
        budget_bytes: int | None = None,
        scope: str = "process",
        store_name: str | None = None,
        shm_dir: str | os.PathLike = SHM_DIR,
        warmup_clean_flag: str = "own",
        **bank_kwargs: Any,
    ) -> None:
        for key in ("num_slots", "name", "store"):
            if key in bank_kwargs:
                raise TypeError(f"ReplayMemory sets {key!r} of its banks itself; do not pass it")
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        warmup_banked([], False, warmup_clean_flag)  # an unknown rule fails here, not in the warmup
        self.warmup_clean_flag = warmup_clean_flag
        self.slot_sigmas = torch.as_tensor(slot_sigmas, dtype=torch.float64).detach().cpu().reshape(-1)  # [S]
        if self.slot_sigmas.numel() < 1:
            raise ValueError(
                "slot_sigmas must hold at least one sigma, e.g. svi.flow.shifted_sigmas(50, 5.0)"
            )
        self.scope = scope
        self.seed = int(bank_kwargs.pop("seed", 0))
        self.capacity = int(capacity)
        device = bank_kwargs.get("device", "cpu")
        self.budget_bytes = int(auto_budget_bytes(device, scope) if budget_bytes is None else budget_bytes)
        self._bank_kwargs = dict(bank_kwargs)
        num_slots = self.slot_sigmas.numel()
        half = self.budget_bytes // 2
        self.store: NodeStore | None = None

        def make() -> tuple[ErrorBank, ErrorBank]:
            banks = tuple(
                ErrorBank(
                    entry_shape,
                    num_slots,
                    capacity,
                    budget_bytes=half,
                    seed=2 * self.seed + i,
                    name=name,
                    store=self.store,
                    **bank_kwargs,
                )
                for i, name in enumerate(("noise", "clean"))
            )
            if self.store is not None and self.store.local_world_size > 1:
                # Where the node's ranks hand their pairs to the writer (scope node, after the warmup):
                # rounded to the storage dtype by the rank, as its own bank would round them.
                lws, numel = self.store.local_world_size, banks[0].numel
                self._stage = self.store.tensor("stage", (lws, 2, numel), banks[0].dtype)  # [L, 2, E]
                # [L, 2]: per rank (kept and finite, sigma); [1]: the pairs the writer banked last call
                self._stage_meta = self.store.tensor("stage_meta", (lws, 2), torch.float64, fill=0)
                self._banked = self.store.tensor("banked", (1,), torch.int64, fill=0)
            return banks

        if scope == "process":
            self.noise, self.clean = make()
            return
        if store_name is None:
            raise ValueError(
                "a node-scope memory needs a store_name, one per run: svi.training.node_memory.store_name(output_dir)"
            )
        self.store = NodeStore(store_name, shm_dir=shm_dir)
        self.noise, self.clean = self.store.build(make)

    @classmethod
    def from_config(
        cls,
        mem_cfg: MemoryConfig,
        latent_shape: Sequence[int],
        *,
        shift: float,
        seed: int,
        store_name: str | None = None,
    ) -> ReplayMemory:
        """The replay memory of a training run: slots at the shifted inference schedule
        `shifted_sigmas(mem_cfg.num_slots, shift)` (shift: train.timestep_shift), entries of
        `latent_shape` [C, F_lat, h, w], the rest from the `memory` section. `seed` is per rank;
        `store_name` (the run's, svi.training.node_memory.store_name(output_dir)) is needed by memory.scope=node,
        which makes this collective over the node's ranks."""
        return cls(
            latent_shape,
            shifted_sigmas(mem_cfg.num_slots, shift),
            capacity=mem_cfg.capacity,
            budget_bytes=mem_cfg.budget_bytes,
            scope=mem_cfg.scope,
            store_name=store_name,
            warmup_clean_flag=mem_cfg.warmup_clean_flag,
            dtype=DTYPES[mem_cfg.dtype],
            device=mem_cfg.device,
            replacement=mem_cfg.replacement,
            search=mem_cfg.search,
            sketch_dim=mem_cfg.sketch_dim,
            rerank=mem_cfg.rerank,
            seed=seed,
        )

    @property
    def entry_shape(self) -> tuple[int, ...]:
        return self.noise.entry_shape

    @property
    def num_slots(self) -> int:
        return self.slot_sigmas.numel()

    @property
    def nbytes(self) -> int:
        """Bytes of stored error data in both banks."""
        return self.noise.nbytes + self.clean.nbytes

    def __repr__(self) -> str:
        where = "" if self.store is None else f", store={self.store!r}"
        return f"ReplayMemory(scope={self.scope!r}, noise={self.noise!r}, clean={self.clean!r}{where})"

    def slot(self, sigma: float | Tensor) -> int:
        """The slot whose anchor sigma is nearest to `sigma`."""
        return int(nearest_index(float(sigma), self.slot_sigmas))

    def bank(
        self,
        sigma: float | Tensor,
        noise_error: Tensor,
        clean_error: Tensor,
        *,
        keep: bool = True,
        gather: bool = False,
    ) -> int:
        """Bank one error pair at slot(sigma) if `keep`; returns the number of pairs banked by this call
        into this rank's banks (scope process) or into the node store (scope node, the same on every
        rank of the node).

        With `gather=True` and an initialised process group of more than one rank, this is a collective:
        every rank must call it in the same step. The keep flags, sigmas and errors of all ranks are
        gathered and the pairs `warmup_banked` picks are banked in rank order: with warmup_clean_flag
        "own" (official) all of them if this rank's `keep`, else none; with "per_sample" the kept ones,
        so all ranks hold the same memory. SVI gathers during a warmup (its first 50 steps) and then
        banks each rank's own errors only; that schedule is the caller's choice. A pair with a
        non-finite error is skipped. With scope="node" every call is collective over the node's ranks
        (see the class docstring).
        """
        dist = torch.distributed
        gathering = gather and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if self.store is None:
            if gathering:
                return self._bank_pairs(self._warmup_pairs(sigma, noise_error, clean_error, keep))
            return self._bank_pairs([(float(sigma), noise_error, clean_error)] if keep else [])

        store = self.store
        staged = not gathering and store.local_world_size > 1
        if gathering:
            pairs = self._warmup_pairs(sigma, noise_error, clean_error, keep)  # the whole job's, rank order
        elif not staged:
            pairs = [(float(sigma), noise_error, clean_error)] if keep else []  # alone on the node
        else:
            # Finiteness is judged here on the rank's own values, as its own bank would judge them; the
            # staged copies are rounded to the storage dtype exactly as ErrorBank.add rounds.
            ok = keep and self._finite(noise_error) and self._finite(clean_error)
            me = store.local_rank
            self._stage_meta[me, 0], self._stage_meta[me, 1] = float(ok), float(sigma)
            if ok:
                self._stage[me, 0].copy_(noise_error.detach().reshape(-1))
                self._stage[me, 1].copy_(clean_error.detach().reshape(-1))
            store.barrier()  # every rank's pair is staged
            pairs = self._staged_pairs() if store.writer else []
        if store.local_world_size == 1:
            return self._bank_pairs(pairs)
        if store.writer:
            self._banked[0] = self._bank_pairs(pairs, check_finite=not staged)
        store.barrier()  # the store is complete: ranks may sample again
        return int(self._banked[0])

    def _staged_pairs(self) -> list[tuple[float, Tensor, Tensor]]:
        """The pairs the node's ranks staged and kept, in local-rank order (views of the staging area)."""
        return [
            (float(meta[1]), stage[0].view(self.entry_shape), stage[1].view(self.entry_shape))
            for meta, stage in zip(self._stage_meta, self._stage)
            if meta[0] > 0.5
        ]

    def _bank_pairs(self, pairs: list[tuple[float, Tensor, Tensor]], *, check_finite: bool = True) -> int:
        """Bank (sigma, noise error, clean error) pairs in order; returns how many were banked."""
        banked = 0
        for sig, noise, clean in pairs:
            if check_finite and not (self._finite(noise) and self._finite(clean)):
                continue
            slot = self.slot(sig)
            banked += int(self.noise.add(slot, noise) and self.clean.add(slot, clean))
        return banked

    def _warmup_pairs(
        self, sigma: float | Tensor, noise_error: Tensor, clean_error: Tensor, keep: bool
    ) -> list[tuple[float, Tensor, Tensor]]:
        """The gathered (sigma, noise error, clean error) pairs this rank banks (collective)."""
        gathered = self._gather(sigma, noise_error, clean_error, keep)  # [(kept, sigma, noise, clean)]
        chosen = warmup_banked([g[0] for g in gathered], keep, self.warmup_clean_flag)
        return [gathered[r][1:] for r in chosen]

    def _gather(
        self, sigma: float | Tensor, noise_error: Tensor, clean_error: Tensor, keep: bool
    ) -> list[tuple[bool, float, Tensor, Tensor]]:
        """(kept, sigma, noise error, clean error) of every rank, in rank order (collective); [] when no
        rank kept its pair: then no rule banks any (`warmup_banked`) and the errors are not sent."""
        dist = torch.distributed
        world = dist.get_world_size()
        comm_device = noise_error.device
        if dist.get_backend() == "gloo":
            comm_device = torch.device("cpu")
        elif dist.get_backend() == "nccl" and comm_device.type == "cpu":
            comm_device = torch.device("cuda", torch.cuda.current_device())
        # CPU tensors go through gloo, which may lack bf16 collectives: send float32 there.
        on_cpu = comm_device.type == "cpu"
        flags = torch.tensor(
            [float(bool(keep)), float(sigma)], dtype=torch.float64, device=comm_device
        )  # [2]
        all_flags = [torch.empty_like(flags) for _ in range(world)]
        dist.all_gather(all_flags, flags)
        ranks = [(bool(f[0] > 0.5), float(f[1])) for f in (f.cpu() for f in all_flags)]  # (kept, sigma)
        if not any(k for k, _ in ranks):
            return []  # every rank sees the same flags, so every rank skips the error gather
        comm_dtype = torch.float32 if on_cpu else torch.promote_types(noise_error.dtype, clean_error.dtype)
        payload = torch.stack(
            [
                noise_error.detach().reshape(-1).to(device=comm_device, dtype=comm_dtype),
                clean_error.detach().reshape(-1).to(device=comm_device, dtype=comm_dtype),
            ]
        )  # [2, E]
        gathered = [torch.empty_like(payload) for _ in range(world)]
        dist.all_gather(gathered, payload)
        return [
            (k, sig, gathered[r][0].view(self.entry_shape), gathered[r][1].view(self.entry_shape))
            for r, (k, sig) in enumerate(ranks)
        ]

    @staticmethod
    def _finite(t: Tensor) -> bool:
        if bool(torch.isfinite(t).all()):
            return True
        logger.warning("ReplayMemory: skipped an error pair with non-finite values")
        return False

    def sample_noise(self, sigma: float | Tensor, **kw: Any) -> Tensor | None:
        """A random noise-end error (E_noi) of slot(sigma), or None while that slot is empty."""
        return self.noise.sample(self.slot(sigma), **kw)

    def sample_clean(self, sigma: float | Tensor, **kw: Any) -> Tensor | None:
        """A random clean-end error (E_vid) of slot(sigma), or None while that slot is empty."""
        return self.clean.sample(self.slot(sigma), **kw)

    def sample_clean_any(self, **kw: Any) -> Tensor | None:
        """A random clean-end error from any slot (E_img), or None while the clean bank is empty."""
        return self.clean.sample_any(**kw)

    def stats(self) -> dict[str, float]:
        return {**self.noise.stats(), **self.clean.stats()}

    # ---------------------------------------------------------------------------------- state
    def config(self) -> dict[str, Any]:
        kwargs = dict(self._bank_kwargs)
        if "dtype" in kwargs:
            kwargs["dtype"] = _dtype_name(kwargs["dtype"])
        if "device" in kwargs:
            kwargs["device"] = str(kwargs["device"])
        return {
            "entry_shape": list(self.entry_shape),
            "capacity": self.capacity,
            "budget_bytes": self.budget_bytes,
            "seed": self.seed,
            "bank_kwargs": kwargs,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "config": self.config(),
            "slot_sigmas": self.slot_sigmas.clone(),
            "noise": self.noise.state_dict(),
            "clean": self.clean.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported ReplayMemory state version {state.get('version')!r}")
        saved = state["slot_sigmas"]
        if saved.shape != self.slot_sigmas.shape or not torch.allclose(saved.double(), self.slot_sigmas):
            raise ValueError(
                "the saved memory's slot_sigmas differ from this memory's; build it with the saved ones "
                "(ReplayMemory.from_state_dict does)"
            )
        self.noise.load_state_dict(state["noise"])
        self.clean.load_state_dict(state["clean"])

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], **overrides: Any) -> ReplayMemory:
        """A memory built from the saved configuration (overrides win, e.g. device=...) and loaded."""
        cfg = state["config"]
        kwargs = {**cfg["bank_kwargs"], "seed": cfg["seed"], "budget_bytes": cfg["budget_bytes"], **overrides}
        if "dtype" in kwargs:
            kwargs["dtype"] = _parse_dtype(kwargs["dtype"])
        capacity = kwargs.pop("capacity", cfg["capacity"])
        memory = cls(cfg["entry_shape"], state["slot_sigmas"], capacity, **kwargs)
        memory.load_state_dict(state)
        return memory

    def save(self, path: str | os.PathLike) -> None:
        """Write the memory (as this rank sees it) to `path` atomically."""
        _atomic_save(self.state_dict(), path)

    @classmethod
    def load(cls, path: str | os.PathLike, **overrides: Any) -> ReplayMemory:
        """Read a memory written by `save`. The file is memory-mapped, so loading needs no second copy."""
        return cls.from_state_dict(_load(path), **overrides)

    # ----------------------------------------------------------------------------- checkpoints
    def _generator_states(self) -> dict[str, Tensor]:
        return {"noise": self.noise._generator.get_state(), "clean": self.clean._generator.get_state()}

    def _set_generator_states(self, states: dict[str, Tensor]) -> None:
        self.noise._generator.set_state(states["noise"])
        self.clean._generator.set_state(states["clean"])

    def save_checkpoint(self, folder: str | os.PathLike, rank: int) -> None:
        """Write this rank's part of a training checkpoint into `folder`.

        scope process: replay_rank{rank}.pt, the whole memory. scope node: local rank 0 writes the store
        once per node, replay_node{node}.pt (the format of `save`), and every rank writes
        replay_rank{rank}.pt with its own sampling generators only (a few hundred bytes).
        """
        folder = Path(folder)
        if self.store is None:
            self.save(folder / RANK_FILE.format(rank=rank))
            return
        if self.store.writer:
            self.save(folder / NODE_FILE.format(node=self.store.node))
        view = {
            "version": STATE_VERSION,
            "scope": "node",
            "node": self.store.node,
            "local_world_size": self.store.local_world_size,
            "generators": self._generator_states(),
        }
        _atomic_save(view, folder / RANK_FILE.format(rank=rank))

    def load_checkpoint(self, folder: str | os.PathLike, rank: int) -> None:
        """Restore what `save_checkpoint` wrote, in either scope, from a checkpoint of either scope.

        Collective over the node's ranks in node scope: the writer restores the store, every rank its
        generators, and nobody samples before the store is complete. A per-process checkpoint resumed
        with scope node (the memory of a run from before the node store) seeds the store with local
        rank 0's banks: the other ranks' own errors of after the warmup are not carried over.
        """
        folder = Path(folder)
        rank_file = folder / RANK_FILE.format(rank=rank)
        if not rank_file.is_file():
            raise FileNotFoundError(
                f"{rank_file} is missing: the checkpoint was written with a different number of processes "
                "or without a replay memory; resume with the same launch"
            )
        state = _load(rank_file)
        node_ckpt = state.get("scope") == "node"
        if node_ckpt:
            node_file = folder / NODE_FILE.format(node=state["node"])
            if self.store is not None and (
                state["node"] != self.store.node or state["local_world_size"] != self.store.local_world_size
            ):
                raise ValueError(
                    f"{rank_file} was written by node {state['node']} of {state['local_world_size']} local "
                    f"ranks; this rank is on node {self.store.node} of {self.store.local_world_size}. Resume "
                    "with the same number of processes per node."
                )
            if self.store is None or self.store.writer:
                if not node_file.is_file():
                    raise FileNotFoundError(
                        f"{node_file} (the node store of a memory.scope=node checkpoint) is missing; "
                        "the checkpoint is incomplete: resume from an earlier one"
                    )
                self.load_state_dict(_load(node_file))
            self._set_generator_states(state["generators"])
        elif self.store is None:
            self.load_state_dict(state)
        else:
            if self.store.writer:
                if self.store.local_world_size > 1:
                    logger.warning(
                        "resuming memory.scope=node from per-process replay memories: the node store starts "
                        "from local rank 0's banks; the other ranks' own errors are not carried over"
                    )
                self.load_state_dict(state)
            self._set_generator_states({k: state[k]["generator"] for k in ("noise", "clean")})
        if self.store is not None:
            self.store.barrier()  # the store is restored before any rank samples from it


RANK_FILE = "replay_rank{rank}.pt"  # a checkpoint's memory file of one rank
NODE_FILE = "replay_node{node}.pt"  # a checkpoint's node store (memory.scope=node)


def _atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save to `path` through a temporary file beside it and os.replace: never a torn file."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _load(path: str | os.PathLike) -> dict[str, Any]:
    # mmap: at real scale the file is tens of GB; no second copy in RAM while loading.
    return torch.load(os.fspath(path), map_location="cpu", weights_only=True, mmap=True)
