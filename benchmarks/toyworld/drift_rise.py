"""Does an arm still drift over the long video? Its rise from the first window to the last, from a bundle.

Toy world 2's aim is a base model that drifts from its own errors; the diagnostic (`eimg_diagnostic.py`)
says whose errors they are, this says whether the drift is there at all. For each track of a results
bundle's `scores.csv` and each metric asked for, every video's window-level score in its last window
minus its score in the first window after clip 0 (window 0 is clip 0, the reference of colour shift and
sharpness loss, where those are 0 by construction), as a [samples, seeds] matrix; its mean with the
crossed-design interval of the reports (`reports.stats.crossed_mean`: samples and seeds as crossed
random factors), n = samples x seeds. A rise whose interval is clear of zero is drift this n measures.
No torch, no store: the bundle alone.

    python -m benchmarks.toyworld drift_rise results/mechanisms --arm base
    python -m benchmarks.toyworld drift_rise results/toy_erft_control --arm base --metrics colour_shift,psnr
    python -m benchmarks.toyworld drift_rise results/mechanisms --markdown   # the table of the docs
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from reports.bundle import BundleError, read_tables
from reports.stats import crossed_mean

FIRST_WINDOW = 1  # the first window after clip 0


def by_video(scores: pd.DataFrame, arm: str, track: str, metric: str) -> pd.DataFrame:
    """[videos (sample, seed), windows]: the window-level `metric` of `arm` on `track` (scores: a
    bundle's tidy scores table)."""
    w = scores[
        (scores.level == "window") & (scores.arm == arm) & (scores.track == track) & (scores.metric == metric)
    ]
    if w.empty:
        raise ValueError(f"no window-level {metric} of arm {arm} on {track} in this bundle")
    return w.pivot_table(index=["sample", "seed"], columns="window", values="value", aggfunc="first")


def _last_after(table: pd.DataFrame, track: str, first: int) -> int:
    """The last window of a by_video table, checked to come after window `first`."""
    last = table.columns.max()
    if first not in table.columns or last <= first:
        raise ValueError(f"{track}: windows {sorted(table.columns)} have no window {first} before the last")
    return int(last)


def rise_matrix(
    scores: pd.DataFrame, arm: str, track: str, metric: str, first: int = FIRST_WINDOW
) -> pd.DataFrame:
    """[samples, seeds]: each video's window-level `metric` in its last window minus the one in window
    `first`, for `arm` on `track`."""
    table = by_video(scores, arm, track, metric)
    return _rise(table, first, _last_after(table, track, first))


def _rise(table: pd.DataFrame, first: int, last: int) -> pd.DataFrame:
    """by_video table -> [samples, seeds] of window `last` minus window `first`."""
    return (table[last] - table[first]).unstack("seed")


def drift_rise(scores: pd.DataFrame, arm: str, metrics: list[str], first: int = FIRST_WINDOW) -> dict:
    """{track: {metric: first/last window means and the rise with its interval}} for every track of `arm`."""
    out: dict = {}
    for track in sorted(scores[scores.arm == arm].track.unique()):
        for metric in metrics:
            table = by_video(scores, arm, track, metric)
            last = _last_after(table, track, first)
            est = crossed_mean(_rise(table, first, last).to_numpy(dtype=float))
            out.setdefault(track, {})[metric] = {
                "windows": [first, last],
                "first_window_mean": float(table[first].mean()),
                "last_window_mean": float(table[last].mean()),
                "rise": est.mean,
                "interval_95": [est.low, est.high],
                "n": f"{est.n_samples}x{est.n_seeds}",
                "clear_of_zero": bool(est.low > 0 or est.high < 0),
            }
    return out


def markdown(report: dict, metrics: list[str]) -> str:
    """The report as a markdown table: a row per track, per metric its first and last window means and
    the rise with its interval (three decimals, as docs/results/toy_base.md quotes it)."""
    head = "| track | " + " | ".join(f"{m}: first window, last | rise" for m in metrics) + " |"
    lines = [head, "|---|" + "---|---|" * len(metrics)]
    for track, by_metric in report.items():
        cells = []
        for m in metrics:
            r = by_metric[m]
            low, high = r["interval_95"]
            cells += [f"{r['first_window_mean']:.3f}, {r['last_window_mean']:.3f}",
                      f"{r['rise']:+.3f} [{low:+.3f}, {high:+.3f}] ({r['n']})"]  # fmt: skip
        lines.append(f"| {track} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help="a results bundle folder (results/EXPERIMENT)")
    p.add_argument("--arm", default="base", help="the arm to measure (default base)")
    p.add_argument(
        "--metrics", default="colour_shift,truth_distance", help="window-level metrics, comma-separated"
    )
    p.add_argument("--markdown", action="store_true", help="print a markdown table instead of JSON")
    args = p.parse_args(argv)
    scores_file = args.bundle / "scores.csv"
    try:
        scores = read_tables(args.bundle).scores
    except (BundleError, FileNotFoundError) as e:
        print(f"{e}: give a results bundle folder such as results/mechanisms", file=sys.stderr)
        return 2
    if args.arm not in set(scores.arm):
        print(f"arm {args.arm} is not in {scores_file}; its arms: {sorted(set(scores.arm))}", file=sys.stderr)
        return 2
    metrics = [m for m in args.metrics.split(",") if m]
    try:
        report = drift_rise(scores, args.arm, metrics)
    except ValueError as e:
        print(f"{scores_file}: {e}", file=sys.stderr)
        return 2
    if args.markdown:
        print(markdown(report, metrics))
    else:
        print(json.dumps({"bundle": str(args.bundle), "arm": args.arm, "tracks": report}, indent=2))
    return 0
