"""The review guide's screenshots of MLflow's views. The review view comes from a fresh import of a
committed bundle: `harness import results/<experiment>` into an empty workspace, `harness ui` on a free
port, the review link it prints (the summary table: the primary per arm and reference) and its charts
link opened in headless Chromium at 1400 x 1000 with MLflow's Assistant panel open as a fresh browser
shows it (--close-assistant closes it), each first screen saved. The keyframes view needs the frames of
a run's videos, which a bundle does not hold (its data are scores and curves): it comes from `harness
run <experiment>` in an empty workspace, then the keyframes link `harness ui` prints, once its images
have loaded.

    python -m benchmarks.review_shots [--bundle results/ablation_eimg] [--out docs/mlflow_review.png]
                                      [--charts-out docs/mlflow_review_charts.png]
        -> the PNGs, and on stdout each view's text; the charts' with a line 'CUT TITLE: <key>' per
           chart title cut short and 'HIDDEN LEGEND: <label>' per legend item out of sight
    python -m benchmarks.review_shots --run toy_erft_control [--keyframes-out docs/mlflow_keyframes.png]
        -> the keyframes view of a fresh run of that experiment (a name or a YAML path)

The import is CPU-heavy for a minute (an MLflow server and a browser); a run costs what the experiment
costs (every declared unit trained, generated and scored: hours on a CPU for toy_erft_control).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple

from benchmarks.browser import KEYFRAMES_LOADED, TABLE_DRAWN, chromium, review_screenshot
from harness.run.launch import free_port

REPO = Path(__file__).resolve().parents[1]
WIDTH_PX, HEIGHT_PX = 1400, 1000  # the review view is laid out for 1400 px with the Assistant panel open
# What the shot's text ends with, measured on the page: the legend boxes' widths and the charts' titles
# in page order (the primary metric's first in its section)
MEASURES = {
    "legend widths": "[...document.querySelectorAll('div')].filter(d => getComputedStyle(d).overflowY === 'auto' && "
    "d.children.length > 0 && [...d.children].every(c => c.firstElementChild?.tagName.toLowerCase() === 'svg'))"
    ".map(d => Math.round(d.getBoundingClientRect().width)).join(' ')",
    "chart titles": "[...document.querySelectorAll('*')].filter(e => e.children.length === 0 && "
    "/^[a-z_0-9]+\\/[a-z0-9_]+\\/[a-z0-9_]+$/.test(e.textContent.trim())).map(e => e.textContent.trim())"
    ".slice(0, 8).join(', ')",
}


def _harness(args: list[str], env: dict) -> str:
    out = subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"harness {' '.join(args)} failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return out.stdout


def serve_ui(env: dict, port: int, log: Path) -> subprocess.Popen:
    """`harness ui --port PORT` with `env`, its output in `log`, once it answers (or has died: its
    `poll()` says so); a process group of its own, for `stop_ui`."""
    with open(log, "w") as out:  # a file, not a pipe: the server's log must never block it
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "ui", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    return proc


def stop_ui(proc: subprocess.Popen) -> None:
    """Stop a `serve_ui` server: SIGTERM (the harness stops the MLflow server it started), then what
    is left of its process group."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Shots(NamedTuple):
    """The review link's first screen (the summary table) and its charts link's, each (PNG, page text)."""

    summary: tuple[bytes, str]
    charts: tuple[bytes, str]


def shoot_import(
    bundle: Path,
    exe: str,
    width: int = WIDTH_PX,
    height: int = HEIGHT_PX,
    close_assistant: bool = False,
    extra: dict[str, str] | None = None,
) -> Shots:
    """The review link and the charts link that `harness import bundle` prints, in an empty workspace
    of its own served by `harness ui`, each as (PNG, page text) (the text as `review_screenshot` gives it:
    cut titles and hidden legend items listed at its end; `extra` measured on the charts)."""
    with tempfile.TemporaryDirectory(prefix="review-shots-") as home:
        env = {**os.environ, "HARNESS_HOME": str(Path(home) / "ws"), "MLFLOW_DISABLE_TELEMETRY": "true"}
        port = free_port()
        printed = _harness(["import", str(bundle), "--ui-url", f"http://127.0.0.1:{port}"], env)
        link = re.search(r"review in the MLflow UI: (\S+)", printed)[1]
        charts = re.search(r"charts \(per clip and final scores, by arm and reference\): (\S+)", printed)
        server = serve_ui(env, port, Path(home) / "ui.log")
        try:
            size = dict(width=width, height=height, close_assistant=close_assistant)
            summary = review_screenshot(link, exe, ready=TABLE_DRAWN, **size)[:2]
            drawn = review_screenshot(charts[1] if charts else link, exe, extra=extra, **size)[:2]
        finally:
            stop_ui(server)
    return Shots(summary, drawn)


KEYFRAMES_LINK = re.compile(r"^  \S+ keyframes \(samples x arms, a clip slider\): (\S+)$", re.M)


def shoot_run(experiment: str, exe: str, width: int = WIDTH_PX, height: int = HEIGHT_PX) -> tuple[bytes, str]:
    """(PNG, page text) of the keyframes link of a fresh `harness run experiment` (an empty workspace of
    its own, served by `harness ui`), once at least one image per arm and sample of the grid has loaded."""
    with tempfile.TemporaryDirectory(prefix="review-shots-") as home:
        env = {**os.environ, "HARNESS_HOME": str(Path(home) / "ws"), "MLFLOW_DISABLE_TELEMETRY": "true"}
        _harness(["run", experiment], env)
        log = Path(home) / "ui.log"
        server = serve_ui(env, free_port(), log)
        try:
            link = KEYFRAMES_LINK.search(log.read_text())
            if link is None:
                raise RuntimeError(
                    f"harness ui printed no keyframes link (no images logged?):\n{log.read_text()}"
                )
            png, text, _ = review_screenshot(link[1], exe, ready=f"{KEYFRAMES_LOADED}.length >= 4", width=width,
                                             height=height)  # fmt: skip
        finally:
            stop_ui(server)
    return png, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=REPO / "results" / "ablation_eimg")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "mlflow_review.png")
    parser.add_argument("--charts-out", type=Path, default=REPO / "docs" / "mlflow_review_charts.png")
    parser.add_argument("--run", metavar="EXPERIMENT", help="shoot the keyframes view of a fresh run instead")
    parser.add_argument("--keyframes-out", type=Path, default=REPO / "docs" / "mlflow_keyframes.png")
    parser.add_argument("--width", type=int, default=WIDTH_PX, help="the window's width in px")
    parser.add_argument(
        "--close-assistant",
        action="store_true",
        help="close MLflow's Assistant panel first (a fresh browser opens the view with it open)",
    )
    args = parser.parse_args(argv)
    exe = chromium()
    if exe is None:
        print("no chromium on PATH: apt-get install chromium", file=sys.stderr)
        return 1
    if args.run:
        png, text = shoot_run(args.run, exe)
        args.keyframes_out.write_bytes(png)
        print(f"wrote {args.keyframes_out} ({WIDTH_PX}x{HEIGHT_PX}) from a fresh run of {args.run}")
        print(text)
        return 0
    shots = shoot_import(
        args.bundle, exe, args.width, HEIGHT_PX, close_assistant=args.close_assistant, extra=MEASURES
    )
    for out, (png, text), what in (
        (args.out, shots.summary, "review"),
        (args.charts_out, shots.charts, "charts"),
    ):
        out.write_bytes(png)
        print(f"wrote {out} ({args.width}x{HEIGHT_PX}), the {what} link of a fresh import of {args.bundle}")
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
