"""What standing still scores: an arm's videos beside its degenerate references, from a results bundle.

For one track of a bundle that holds the degenerate references (scoring/references.py: frozen, loop,
pingpong, truth; `harness run EXP --from results/EXP` adds them), each metric's mean over the arm's
videos (and seeds) beside each reference's mean over its videos, and the arm's margin over the best
degenerate one (reports/margins.py), flagged where a reference wins. No torch, no store: the bundle
alone. The scoring guide's table is its `--markdown` output on the committed ablation_eimg bundle.

    python -m benchmarks.toyworld standing_still results/ablation_eimg --track consistent_100s --arm base
    python -m benchmarks.toyworld standing_still results/ablation_eimg --markdown   # the guide's table
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from reports import margins as M
from reports import tables as T
from reports.bundle import BundleError, read_tables
from reports.frames import REFERENCE_ROLE, VIDEO_LEVEL
from scoring.references import REFERENCES
from scoring.specs import GROUPS

METRICS = (*GROUPS["vbench"], "colour_shift")  # the table of the issue that asked for the references
KINDS = REFERENCES


def standing_still(scores: pd.DataFrame, units: list[dict], track: str, arm: str, metrics) -> list[dict]:
    """Per metric: the arm's mean, each reference's, the best degenerate one and the arm's margin over
    it (logged scale). `scores`: a bundle's tidy scores; `units`: its manifest's units (roles)."""
    roles = {u["arm"]: u.get("role") for u in units}
    videos = scores[(scores["track"] == track) & (scores["level"] == VIDEO_LEVEL) & scores["value"].notna()]
    videos = videos.assign(role=videos["arm"].map(roles))
    refs = M.reference_means(videos[videos["role"] == REFERENCE_ROLE].assign(level=VIDEO_LEVEL))
    mine = videos[videos["arm"] == arm]
    if mine.empty:
        raise ValueError(f"no video-level scores of arm {arm!r} on {track}")
    if refs.empty:
        raise ValueError(
            f"the bundle has no degenerate references on {track}: harness run EXP --from results/EXP adds them"
        )
    rows = []
    for metric in metrics:
        values = mine[mine["metric"] == metric]["value"]
        if values.empty:
            continue
        row = {"metric": metric, arm: float(values.mean())}
        for kind in KINDS:
            got = refs[(refs["arm"] == kind) & (refs["metric"] == metric)]["mean"]
            row[kind] = float(got.iloc[0]) if len(got) else None
        best = M.best_degenerate(refs, track, metric)
        row["best"] = best[0] if best else None
        row["margin"] = M.margin(metric, row[arm], best[1]) if best else None
        rows.append(row)
    return rows


def _show(value: float | None, info, signed: bool = False) -> str:
    """A logged value in display units, 2 decimals in percent, else at least 4."""
    fmt = f".{2 if info.scale == 100.0 else max(info.decimals, 4)}f"
    return T.number_text(
        None if value is None else T.scaled(value, info.scale), ("+" if signed else "") + fmt
    )


def markdown(rows: list[dict], arm: str) -> str:
    """Two tables that fit the docs' column: the values (the arm and each reference), then the arm's
    margin over the best degenerate reference."""
    kinds = [k for k in KINDS if any(r[k] is not None for r in rows)]
    values = [["metric", arm, *kinds]]
    margins = [["metric", f"{arm}'s margin over the best degenerate"]]
    for r in rows:
        info = T.metric_info(r["metric"])
        label = info.label + T.arrow(info, "↑", "↓") + (" (%)" if info.scale == 100.0 else "")
        flag = f" ({r['best']} wins)" if r["margin"] is not None and r["margin"] < 0 else ""
        values.append([label, _show(r[arm], info), *(_show(r[k], info) for k in kinds)])
        margins.append([label, _show(r["margin"], info, True) + flag])
    return _table(values) + "\n" + _table(margins)


def _table(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|:--|" + "--:|" * (len(head) - 1)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body]) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "bundle", type=Path, help="a results bundle folder with its references (results/EXPERIMENT)"
    )
    p.add_argument("--track", default="consistent_100s", help="the track (default consistent_100s)")
    p.add_argument("--arm", default="base", help="the arm (default base)")
    p.add_argument(
        "--metrics",
        default=",".join(METRICS),
        help="comma-separated metrics (default: VBench's six and colour shift)",
    )
    p.add_argument("--markdown", action="store_true", help="print a markdown table instead of JSON")
    args = p.parse_args(argv)
    try:
        tables = read_tables(args.bundle)
        rows = standing_still(
            tables.scores, tables.manifest["units"], args.track, args.arm, args.metrics.split(",")
        )
    except (BundleError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(markdown(rows, args.arm) if args.markdown else json.dumps(rows, indent=1))
    return 0
