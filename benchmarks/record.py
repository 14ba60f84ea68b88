"""Record a run's own output as the figures the testing guide shows: the command, the commit, the
machine, the wall time, and the output's last lines (pytest's summary and slowest tests, the stage
table `harness run` prints), written to docs/records/NAME.txt. The machine's float32 matmul speed,
measured just before the command, is in the header: machines of one type differ by 2x. The guide includes the file as it is
(docs/hooks/records.py), so no timing or test count there is typed by hand.

    python -m benchmarks.record make-test -- make test
    python -m benchmarks.record demo --tail 12 -- make demo

A stage of a run already made (CI's stages: `.ci/run` keeps each one's output and wall time under
.cache/ci/) is recorded from its log instead of running again:

    python -m benchmarks.record make-test --log .cache/ci/test.log -- make test
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECORDS = REPO / "docs" / "records"


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def matmul_gflops(seconds: float = 2.0) -> float | None:
    """This machine's float32 matmul speed on all its threads (GFLOP/s, the median of 1024 x 1024
    products over about `seconds`), so that records made on different machines can be compared: 2-core
    machines of one type have differed by 2x. None without torch."""
    try:
        import torch
    except ImportError:
        return None
    n = 1024
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    times, end = [], time.monotonic() + seconds
    while time.monotonic() < end or len(times) < 3:
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / sorted(times)[len(times) // 2] / 1e9


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="python -m benchmarks.record NAME [--tail N] -- COMMAND ...",
    )  # fmt: skip
    p.add_argument("name", help="the record's file name under docs/records/ (without .txt)")
    p.add_argument("--tail", type=int, default=20, help="last lines of the output kept (default 20)")
    p.add_argument(
        "--log",
        type=Path,
        help="record this output of COMMAND instead of running it: a stage log that .ci/run kept, whose "
        "last line is its wall time in seconds ('# wall N s')",
    )
    if "--" not in argv:
        p.error("give the command after --")
    split = argv.index("--")
    args, command = p.parse_args(argv[:split]), argv[split + 1 :]
    if not command or not args.name.replace("-", "").replace("_", "").isalnum():
        p.error("give a plain NAME and a command after --")
    speed = matmul_gflops()
    if args.log:
        if not args.log.is_file():
            p.error(f"no such log: {args.log}")
        stdout, returncode, seconds = read_stage_log(args.log.read_text())
    else:
        start = time.monotonic()
        proc = subprocess.run(" ".join(command), shell=True, cwd=REPO, capture_output=True, text=True)
        seconds = time.monotonic() - start
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        stdout, returncode = proc.stdout, proc.returncode
    lines = [line.rstrip() for line in stdout.replace("\r", "\n").splitlines() if line.strip()]
    minutes, rest = divmod(round(seconds), 60)
    header = [
        f"$ {' '.join(command)}",
        f"# commit {commit()}, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPU cores ({platform.machine()}"
        + (f", float32 matmul {speed:.0f} GFLOP/s" if speed else "")
        + f"), exit {returncode}, wall {minutes} min {rest} s"
        + (" (a stage of the CI run recorded in ci.txt)" if args.log else ""),
        "# ...",
    ]
    RECORDS.mkdir(parents=True, exist_ok=True)
    out = RECORDS / f"{args.name}.txt"
    out.write_text("\n".join(header + lines[-args.tail :]) + "\n")
    print(f"recorded {out}", file=sys.stderr)
    return returncode


def read_stage_log(text: str) -> tuple[str, int, float]:
    """A stage log of .ci/run -> (its output, exit code, wall seconds): the output, then a last line
    `# exit N, wall S s`."""
    body, _, last = text.rstrip("\n").rpartition("\n")
    parts = last.removeprefix("# ").replace(",", "").split()
    if len(parts) != 5 or parts[0] != "exit" or parts[2] != "wall":
        raise SystemExit(f"not a stage log of .ci/run (its last line is {last!r})")
    return body, int(parts[1]), float(parts[3])


if __name__ == "__main__":
    sys.exit(main())
