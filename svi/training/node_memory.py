"""One replay-memory store per node, in shared memory (`memory.scope=node`).

The official code keeps a full copy of both error banks in every training process (docs/method.md §4):
about 40-55 GB of host RAM per process at real size, times the GPUs of a node. With a node store the
local ranks of a node share one copy: local rank 0 (the store's writer) creates each tensor of the
banks as a file in /dev/shm (tmpfs; pages are committed only when written, like the lazily touched
pool of a per-process bank), the other local ranks map the same files (`torch.from_file(...,
shared=True)`), and the names are unlinked as soon as every local rank has mapped them. The memory
then belongs to the mappings alone: the kernel frees it when the last rank exits, however it exits, so
nothing is left behind in /dev/shm after start-up. Files left by a run killed during start-up carry the
run's name (`store_name`: one per output folder) and are removed when that run starts again.

Only the writer ever changes the store; the other ranks hand it their errors (svi.training.memory.ReplayMemory
does this through a staging area of the store) and wait at the node's barrier while it inserts them.
Concurrent inserts serialised by a lock would be just as correct as memory but not reproducible: the
order of inserts (which decides rows and replacements) would follow the timing of the ranks, and a
rank could sample before or after another rank's insert. One writer between two barriers keeps a run
bit-for-bit identical to itself, resumed or not.

The node's ranks are the `env_local_world_size()` consecutive global ranks around this one (the
layout that torchrun and the deepspeed launcher give); their barrier is a gloo group of their own, so
it works beside an NCCL training group and never waits on another node.
"""

from __future__ import annotations

import atexit
import glob
import hashlib
import math
import os
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

SHM_DIR = "/dev/shm"
_PREFIX = "svi-replay-"
T = TypeVar("T")


def env_local_world_size() -> int:
    """Processes on this node, from the launcher: LOCAL_WORLD_SIZE (torchrun) or LOCAL_SIZE (the
    deepspeed launcher, which sets no LOCAL_WORLD_SIZE); 1 without a launcher."""
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("LOCAL_SIZE", 1))))


def store_name(run_dir: str | os.PathLike) -> str:
    """The node store's name for the run writing to `run_dir` (its output folder): two runs on a node
    never share files, and a resumed run finds the stale files of its killed predecessor."""
    digest = hashlib.sha256(os.path.abspath(os.fspath(run_dir)).encode()).hexdigest()[:16]
    return f"{_PREFIX}{digest}"


def _node_group(local_rank: int, local_world_size: int) -> tuple[int, dist.ProcessGroup | None]:
    """(this node's index, a gloo group of the node's ranks or None when the rank is alone on its node).

    Every rank of the job must call this (dist.new_group is collective over the whole job).
    """
    if not dist.is_available() or not dist.is_initialized():
        if local_world_size > 1:
            raise RuntimeError(
                f"memory.scope=node with LOCAL_WORLD_SIZE={local_world_size} needs the launcher's "
                "torch.distributed process group: initialise it before building the memory"
            )
        return 0, None
    rank, world = dist.get_rank(), dist.get_world_size()
    if world % local_world_size or rank % local_world_size != local_rank:
        raise RuntimeError(
            f"rank {rank} of {world} has LOCAL_RANK={local_rank}, LOCAL_WORLD_SIZE={local_world_size}: the "
            "node store needs the ranks of a node numbered consecutively (as torchrun and the deepspeed "
            "launcher do, with the same number of processes on every node); use memory.scope=process"
        )
    node = rank // local_world_size
    if local_world_size == 1:
        return node, None
    group = None
    for n in range(world // local_world_size):  # every rank creates every group, in the same order
        g = dist.new_group(list(range(n * local_world_size, (n + 1) * local_world_size)), backend="gloo")
        if n == node:
            group = g
    return node, group


class NodeStore:
    """Tensors in shared memory, created by local rank 0 and mapped by the other ranks of its node.

    Args:
        name: the run's store name (`store_name(output_dir)`); files are `<shm_dir>/<name>-n<node>-<key>`.
        shm_dir: a tmpfs folder (/dev/shm). Its free space bounds the store: check `free_bytes`.
        local_rank, local_world_size: this rank's place on its node; default from LOCAL_RANK and
            `env_local_world_size()` (set by torchrun and deepspeed), 0 and 1 without them.

    Build the tensors with `build(make)`: `make` (which calls `tensor(...)`) runs on the writer first
    and then, once the files exist, on the other ranks, which map them; the names are then unlinked.
    Building is collective over the node's ranks, and so is `barrier()`.
    """

    def __init__(
        self,
        name: str,
        *,
        shm_dir: str | os.PathLike = SHM_DIR,
        local_rank: int | None = None,
        local_world_size: int | None = None,
    ) -> None:
        if not name or "/" in name:
            raise ValueError(f"a node store name is a plain file name, got {name!r}; see store_name()")
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0) if local_rank is None else local_rank)
        self.local_world_size = env_local_world_size() if local_world_size is None else int(local_world_size)
        if not 0 <= self.local_rank < self.local_world_size:
            raise ValueError(
                f"local rank {self.local_rank} out of range for {self.local_world_size} local ranks"
            )
        self.shm_dir = os.fspath(shm_dir)
        if not os.path.isdir(self.shm_dir):
            raise FileNotFoundError(
                f"{self.shm_dir} (shared memory for the node store) does not exist; mount a tmpfs there or "
                "use memory.scope=process"
            )
        self.node, self.group = _node_group(self.local_rank, self.local_world_size)
        self.prefix = f"{name}-n{self.node}-"
        self.writer = self.local_rank == 0
        self._files: list[str] = []
        self._building = False
        self.reserved_bytes = 0  # the sizes of the store's files (sparse: committed as written)
        if self.writer:
            for stale in glob.glob(os.path.join(glob.escape(self.shm_dir), glob.escape(self.prefix) + "*")):
                os.unlink(stale)  # left by a run of this name killed during start-up
            atexit.register(self.unlink)

    def __repr__(self) -> str:
        return (
            f"NodeStore({self.prefix!r}, node={self.node}, local_rank={self.local_rank}/"
            f"{self.local_world_size}, writer={self.writer})"
        )

    def free_bytes(self) -> int:
        """Free space of the shared-memory folder: a store larger than this would crash (SIGBUS) once
        its pages are written."""
        st = os.statvfs(self.shm_dir)
        return st.f_bavail * st.f_frsize

    def tensor(
        self, key: str, shape: Sequence[int], dtype: torch.dtype, *, fill: float | None = None
    ) -> Tensor:
        """The store's tensor `key`: created (and filled with `fill`) by the writer, mapped by the others."""
        if not self._building:
            raise RuntimeError(
                "NodeStore.tensor is called from inside build(make), on every rank of the node"
            )
        shape = tuple(int(s) for s in shape)
        numel = math.prod(shape)
        nbytes = max(1, numel) * torch.empty((), dtype=dtype).element_size()
        path = os.path.join(self.shm_dir, self.prefix + key)
        self.reserved_bytes += nbytes
        if self.writer:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            self._files.append(path)
            try:
                os.ftruncate(fd, nbytes)  # sparse: pages are committed as they are written
            finally:
                os.close(fd)
        else:
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"{path} is missing: local rank 0 of this node did not create the node store. Are "
                    "LOCAL_RANK / LOCAL_WORLD_SIZE those of the launcher, and do all ranks build the memory "
                    "with the same configuration?"
                ) from None
            if size != nbytes:
                raise RuntimeError(
                    f"{path} holds {size} bytes but this rank expects {nbytes}: the ranks of the node built "
                    "the memory with different configurations (budget_bytes, capacity or entry shape)"
                )
        t = torch.from_file(path, shared=True, size=max(1, numel), dtype=dtype)[:numel].view(shape)
        if self.writer and fill is not None:
            t.fill_(fill)
        return t

    def build(self, make: Callable[[], T]) -> T:
        """Run `make` on the writer, then on the other ranks (which map what it created); unlink the names.

        The writer checks that the store fits in the free space of `shm_dir` (tmpfs pages are committed
        as they are written: a store larger than the free space would crash the run with SIGBUS once it
        filled up) and tells the other ranks whether it succeeded, so a failure is an error on every
        rank rather than a wait.
        """
        self._building = True
        error: BaseException | None = None
        status = torch.zeros(3, dtype=torch.int64)  # [ok, bytes reserved, bytes free]
        try:
            if self.writer:
                try:
                    out = make()
                    free = self.free_bytes()
                    status[:] = torch.tensor([int(self.reserved_bytes <= free), self.reserved_bytes, free])
                except BaseException as e:  # reported to the other ranks, then raised here
                    error = e
            if self.group is not None:
                dist.broadcast(status, src=self.node * self.local_world_size, group=self.group)
            if error is not None:
                raise error
            if not status[0]:
                _, reserved, free = status.tolist()
                if reserved == 0:
                    raise RuntimeError(
                        f"local rank 0 of node {self.node} failed to build the node store: see its error"
                    )
                raise ValueError(
                    f"the node store reserves {reserved / (1 << 30):.3g} GiB but {self.shm_dir} has "
                    f"{free / (1 << 30):.3g} GiB free; once filled it would crash the run (SIGBUS). Set "
                    "memory.budget_bytes lower, enlarge the tmpfs (docker: --shm-size) or use memory.scope=process."
                )
            if not self.writer:
                out = make()
            self.barrier()  # every rank has mapped the files
        except BaseException:
            self.unlink()
            raise
        finally:
            self._building = False
        self.unlink()  # from here on the memory lives as long as some rank maps it
        return out

    def barrier(self) -> None:
        """Wait for the node's ranks (nothing to wait for when the rank is alone on its node)."""
        if self.group is not None:
            dist.barrier(group=self.group)

    def unlink(self) -> None:
        """Remove the files' names (the writer's); mapped memory stays valid until unmapped."""
        while self._files:
            path = self._files.pop()
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
