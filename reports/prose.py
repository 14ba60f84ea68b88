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
quote a number its bundle does not hold. A placeholder lies within one line; a `{{` with no `}}` after
it on its line is text. The scan (`pieces`) reads each character a bounded number of times whatever the
text, and a file holds at most MAX_PLACEHOLDERS of them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from reports import tables as T
from reports.bundle import BundleError

OPEN, CLOSE = "{{", "}}"
MAX_PLACEHOLDERS = 2000  # the committed readings hold a few hundred at most
KINDS = {"mean": 3, "value": 3, "diff": 4, "p": 4, "holm": 4, "mdd": 4, "n": (3, 4)}  # kind -> arguments


class ProseError(BundleError):
    """A placeholder that cannot be filled from the bundle (the pages command says which and stops)."""


def pieces(text: str) -> Iterator[tuple[bool, str]]:
    """`text` as (is a placeholder, the piece) in order: text as it is, a placeholder as the words between
    its braces. Linear: every search starts where the last one ended and a `}}` is looked for only up to
    its line's end (a `{{` with none there is text to the line's end), so each character is read a
    bounded number of times, and each round yields a piece."""
    start, n, line_end = 0, len(text), -1
    while start < n:
        opened = text.find(OPEN, start)
        if opened < 0:
            break
        if line_end < opened:
            line_end = text.find("\n", opened)
            line_end = n if line_end < 0 else line_end
        closed = text.find(CLOSE, opened + len(OPEN), line_end)
        if closed < 0:  # no placeholder on the rest of this line
            yield False, text[start : line_end + 1]
            start = line_end + 1
            continue
        if opened > start:
            yield False, text[start:opened]
        yield True, text[opened + len(OPEN) : closed]
        start = closed + len(CLOSE)
    if start < n:
        yield False, text[start:]


def fill(text: str, summary: pd.DataFrame, source: str = "notes.md") -> str:
    """`text` with every placeholder replaced by its value from `summary` (reports.tables.summarize's
    frame, as the bundle's results.csv holds it). `source` names the text in errors."""
    found = list(pieces(text))
    count = sum(is_placeholder for is_placeholder, _ in found)
    if count > MAX_PLACEHOLDERS:
        raise ProseError(
            f"{source}: {count} placeholders, more than the {MAX_PLACEHOLDERS} one file may hold: quote fewer "
            "figures, or leave them to the report's tables"
        )
    return "".join(
        value(piece.split(), summary, f"{source}: {OPEN}{piece}{CLOSE}") if is_placeholder else piece
        for is_placeholder, piece in found
    )


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
