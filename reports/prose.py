"""Figures in prose, filled from the bundle: the placeholders a results bundle's `notes.md` writes
instead of typing numbers.

A reading quotes the report's numbers. Typed by hand, they drift from the bundle when it grows a unit
or its scoring changes, and no check sees it. Written as placeholders, `harness pages` fills them from
the same summary the report's tables come from, in the tables' own format, so the pages check covers
the prose too:

    {{ mean TRACK METRIC ARM }}            the arm's mean with its 95% interval   0.0513 [0.0424, 0.0602]
    {{ value TRACK METRIC ARM }}           the arm's mean alone                   0.0513
    {{ diff TRACK METRIC ARM REF }}        ARM - REF with its 95% interval        -0.0932 [-0.1902, +0.0039]
                                           (and \\*, the tables' mark, when significant after Holm)
    {{ p TRACK METRIC ARM REF }}           the difference's p (two-sided, or one-sided where registered)
    {{ holm TRACK METRIC ARM REF }}        its Holm-adjusted p                    0.46, 0.004, < 0.001
    {{ mdd TRACK METRIC ARM REF }}         its minimum detectable difference      0.0516
    {{ n TRACK METRIC ARM [REF] }}         samples x seeds behind the mean or the difference   8×3

Values are in the metric's display units (`scoring/specs.py`), with its decimals. A placeholder that
names no row of the summary, or is not one of these, is an error that says which, so a reading cannot
quote a number its bundle does not hold.
"""

from __future__ import annotations

import re

import pandas as pd

from reports import tables as T
from reports.bundle import BundleError

PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
KINDS = {"mean": 3, "value": 3, "diff": 4, "p": 4, "holm": 4, "mdd": 4, "n": (3, 4)}  # kind -> arguments


class ProseError(BundleError):
    """A placeholder that cannot be filled from the bundle (the pages command says which and stops)."""


def fill(text: str, summary: pd.DataFrame, source: str = "notes.md") -> str:
    """`text` with every placeholder replaced by its value from `summary` (reports.tables.summarize's
    frame, as the bundle's results.csv holds it). `source` names the text in errors."""

    def one(match: re.Match) -> str:
        return value(match.group(1).split(), summary, f"{source}: {match.group(0)}")

    return PLACEHOLDER.sub(one, text)


def value(words: list[str], summary: pd.DataFrame, where: str) -> str:
    """The text of one placeholder's words (its kind, then its arguments)."""
    if not words or words[0] not in KINDS:
        raise ProseError(f"{where}: the first word must be one of {', '.join(KINDS)}")
    kind, args = words[0], words[1:]
    want = KINDS[kind]
    if len(args) not in (want if isinstance(want, tuple) else (want,)):
        ref = {3: "", 4: " REF"}.get(want, " [REF]")
        raise ProseError(f"{where}: {kind} takes TRACK METRIC ARM{ref}")
    track, metric, arm = args[:3]
    reference = args[3] if len(args) > 3 else None
    rec = _row(summary, track, metric, arm, reference, where)
    info = T.metric_info(metric)
    if kind == "n":
        return (
            T.n_text(rec["delta_n_samples"], rec["n_seeds"])
            if reference
            else T.n_text(rec["n_samples"], rec["n_seeds"])
        )
    if kind in ("p", "holm"):
        return T.p_text(rec["p" if kind == "p" else "p_holm"])
    if kind == "value":
        return T.number_text(T.scaled(rec["mean"], info.scale), f".{info.decimals}f")
    if kind == "mdd":
        return T.number_text(T.scaled(rec["mdd"], info.scale), f".{info.decimals}f")
    column = ("mean", "low", "high") if kind == "mean" else ("delta", "delta_low", "delta_high")
    cell = T.Cell(*(T.scaled(rec[c], info.scale) for c in column))
    text = T.format_cell(cell, info, signed=kind == "diff")
    significant = kind == "diff" and str(rec.get("significant")).lower() == "true"
    return text + ("\\*" if significant else "")  # the tables' mark, escaped for Markdown prose


def _row(summary: pd.DataFrame, track: str, metric: str, arm: str, reference: str | None, where: str) -> dict:
    rows = summary[(summary["track"] == track) & (summary["metric"] == metric) & (summary["arm"] == arm)]
    if reference is not None:
        rows = rows[rows["reference"] == reference]
        if not rows.empty and rows["delta"].isna().all():
            raise ProseError(
                f"{where}: the bundle holds no difference {arm} - {reference} on {metric} on {track} "
                "(withheld until a pre-registered experiment's last unit, or untested)"
            )
    if rows.empty:
        pair = f"{arm} - {reference}" if reference else arm
        raise ProseError(f"{where}: the bundle's summary has no {pair} on {metric} on {track}")
    return rows.iloc[0].to_dict()
