"""Command lines for the training processes: `deepspeed`, `torchrun`, or one plain process.

Only `harness/` starts processes. The child runs `python -m svi.training.train --config FILE`; the launcher
gives it RANK/WORLD_SIZE/MASTER_* and DeepSpeed joins that group (gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.base import telemetry

LAUNCHERS = ("auto", "deepspeed", "torchrun", "none")
POLL_SECONDS = 1.0  # how often `run` calls its on_poll while the children run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_nproc() -> int:
    """One process per visible GPU; one CPU process otherwise."""
    try:
        import torch

        return max(1, torch.cuda.device_count())
    except Exception:  # pragma: no cover - torch always imports in a working install
        return 1


@dataclass(frozen=True)
class Allocation:
    """The nodes of a multi-node job: every node runs torchrun with its own `node_rank`, all meeting
    at `master_addr:master_port` (the job's first node)."""

    nodes: int
    node_rank: int
    master_addr: str
    master_port: int

    @classmethod
    def from_job(cls) -> Allocation | None:
        """The allocation of the submitit job this process runs in, if it spans several nodes."""
        try:
            import submitit

            env = submitit.JobEnvironment()
            nodes, node, hosts, job_id = env.num_nodes, env.node, env.hostnames, env.job_id
        except (ImportError, RuntimeError):  # not inside a submitit job
            return None
        if nodes <= 1:
            return None
        # Every node derives the same port from the job id, so they need not talk before rendezvous.
        port = 20000 + int(str(job_id).split("_")[0]) % 20000
        return cls(nodes=nodes, node_rank=node, master_addr=hosts[0], master_port=port)


def train_command(
    config: str | Path,
    overrides: list[str] = (),
    *,
    nproc: int = 1,
    launcher: str = "auto",
    hostfile: str | None = None,
    master_port: int | None = None,
    allocation: Allocation | None = None,
) -> list[str]:
    """The argv that trains `config` on `nproc` processes of this host (or the hosts in `hostfile`);
    with `allocation`, this node's share of a multi-node job (torchrun on every node)."""
    if launcher not in LAUNCHERS:
        raise ValueError(f"unknown launcher {launcher!r}; choose one of {', '.join(LAUNCHERS)}")
    if allocation is not None:
        if launcher not in ("auto", "torchrun") or hostfile:
            raise ValueError(
                "a multi-node job launches with torchrun on every node (launcher auto or torchrun)"
            )
        launcher = "torchrun"
    if launcher == "auto":
        launcher = "none" if nproc == 1 and not hostfile else ("deepspeed" if hostfile else "torchrun")
    tail = ["--config", str(config), *overrides]
    if launcher == "none":
        if nproc != 1:
            raise ValueError("launcher 'none' runs one process; use torchrun or deepspeed for more")
        return [sys.executable, "-m", "svi.training.train", *tail]
    if launcher == "torchrun":
        a = allocation or Allocation(1, 0, "127.0.0.1", master_port or free_port())
        return [
            sys.executable, "-m", "torch.distributed.run", "--nnodes", str(a.nodes), "--node-rank",
            str(a.node_rank), "--nproc-per-node", str(nproc), "--master-addr", a.master_addr,
            "--master-port", str(a.master_port), "-m", "svi.training.train", *tail,
        ]  # fmt: skip
    port = str(master_port or free_port())
    ds = shutil.which("deepspeed") or str(Path(sys.executable).with_name("deepspeed"))
    cmd = [ds, "--master_port", port]
    if hostfile:
        cmd += ["--hostfile", hostfile]
    else:
        cmd += ["--num_nodes", "1", "--num_gpus", str(nproc)]  # GPUs, or CPU processes without CUDA
    return [*cmd, "--module", "svi.training.train", *tail]


class StageError(RuntimeError):
    """A stage's child process failed; the message carries the last lines of its log."""


def _tail(path: Path, lines: int = 30) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_child(
    cmd: list[str], log: Path, what: str, env: dict[str, str] | None = None, on_poll: Callable | None = None
) -> None:
    """A stage's child process, its output appended to `log`: Ctrl-C gives KeyboardInterrupt, a
    failure a StageError with the log's last lines."""
    rc = run(cmd, env=env or child_env(), log_file=log, on_poll=on_poll)
    if rc == 130:
        raise KeyboardInterrupt
    if rc != 0:
        raise StageError(f"{what} exited with code {rc}; last lines of {log}:\n{_tail(log)}")


def threads_per_rank(ranks: int, cores: int | None = None) -> int:
    """CPU threads for each of `ranks` processes on this host: the cores shared out, at least one."""
    return max(1, (cores or os.cpu_count() or 1) // max(1, ranks))


def child_env(extra: dict[str, str] | None = None, *, ranks: int = 1) -> dict[str, str]:
    """The environment of a child process; `ranks`: how many processes it runs on this host (one
    torch process uses every core, N ranks use cores / N each). The user's OMP_NUM_THREADS wins."""
    env = dict(os.environ)
    telemetry.quiet(env)
    if "TORCH_EXTENSIONS_DIR" not in env:  # DeepSpeed's op builds: in the workspace, not ./.cache
        from harness.base import workspace

        env["TORCH_EXTENSIONS_DIR"] = str(workspace.build_cache())
    env.setdefault("OMP_NUM_THREADS", str(threads_per_rank(ranks)))
    env.update(extra or {})
    return env


def die_with_parent() -> None:
    """In the child, before exec: get SIGKILL if the harness dies (Linux), so no orphan keeps training."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the shared process group still carries a terminal's Ctrl-C
        pass


def run(
    cmd: list[str],
    env: dict[str, str] | None = None,
    log_file: Path | None = None,
    *,
    on_poll: Callable[[], None] | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> int:
    """Run the children in the harness's process group; Ctrl-C stops all of them and returns 130.

    Sharing the group means a Ctrl-C (or a kill of the group) reaches the launcher and its workers
    too; they also die if the harness itself is killed, so a resumed run never races an orphan.

    `on_poll`, when given, is called every `poll_seconds` while the children run and once more after
    they exit with 0 (to read what they wrote, such as probe videos). If it raises, the children are
    stopped (`stop`) and the exception propagates; their checkpoints stay, so the stage resumes.
    """
    out = open(log_file, "ab") if log_file else None  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, env=env or child_env(), stdout=out, stderr=out, preexec_fn=die_with_parent)
    try:
        if on_poll is None:
            return proc.wait()
        while True:
            try:
                rc = proc.wait(timeout=poll_seconds)
            except subprocess.TimeoutExpired:
                on_poll()
                continue
            if rc == 0:
                on_poll()
            return rc
    except KeyboardInterrupt:
        interrupt([proc])
        return 130
    except BaseException:
        stop(proc)
        raise
    finally:
        if out:
            out.close()


def interrupt(procs: list[subprocess.Popen], grace_seconds: float = 30.0) -> None:
    """Pass an interrupt on to children as Ctrl-C (SIGINT: each marks what it was running, as the
    harness does), wait up to `grace_seconds` for them, SIGKILL those left, then stop whatever of
    their trees outlived them. A terminal's Ctrl-C has reached the whole group already; a SIGTERM to
    the harness alone (see cli.main) has not."""
    import time

    workers = [d for p in procs for d in _descendants(p)]
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace_seconds
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    _reap(workers, grace_seconds=10)


def stop(proc: subprocess.Popen, grace_seconds: float = 30.0) -> None:
    """SIGTERM the child and every process it started (launcher workers), SIGKILL what is left after
    `grace_seconds`. The children share the harness's process group, so it is not killed as a group."""
    workers = _descendants(proc)
    for p in workers:
        _signal(p, "terminate")
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    _reap(workers, grace_seconds)


def _descendants(proc: subprocess.Popen) -> list:
    import psutil

    try:
        return psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _signal(p, how: str) -> None:
    import psutil

    try:
        getattr(p, how)()
    except psutil.NoSuchProcess:
        pass


def _reap(workers: list, grace_seconds: float) -> None:
    """Wait up to grace_seconds for these processes to end, SIGTERM then SIGKILL the rest."""
    import psutil

    _, alive = psutil.wait_procs(workers, timeout=grace_seconds)
    for p in alive:
        _signal(p, "terminate")
    _, alive = psutil.wait_procs(alive, timeout=5)
    for p in alive:
        _signal(p, "kill")
