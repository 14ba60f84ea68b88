"""Figures in prose come from the bundle: placeholders filled in the tables' own format, and no interval
typed by hand in a committed reading."""

import re
from pathlib import Path

import pandas as pd
import pytest

from reports import prose

ROOT = Path(__file__).resolve().parents[2]
SIGN = "[-+\u2212]?"  # the minus sign (U+2212) too, as typeset prose writes it
TYPED_INTERVAL = re.compile(rf"{SIGN}\d+\.\d+\s+\[{SIGN}\d+\.\d+,\s+{SIGN}\d+\.\d+\]")  # line breaks too


@pytest.fixture
def summary():
    """Two arms on colour shift (display scale 1, 4 decimals) and SSIM, full against base and plain."""
    common = {"track": "creative_100s", "n": 24, "n_samples": 8, "n_seeds": 3, "basis": "samples"}
    rows = [
        {**common, "arm": "base", "reference": "base", "metric": "colour_shift", "mean": 0.14, "low": 0.05,
         "high": 0.23, "delta": None, "delta_low": None, "delta_high": None, "p": None, "p_holm": None, "mdd": None,
         "delta_n_samples": None},
        {**common, "arm": "full", "reference": "base", "metric": "colour_shift", "mean": 0.05126, "low": 0.04241,
         "high": 0.06019, "delta": -0.09323, "delta_low": -0.19024, "delta_high": 0.00391, "p": 0.0612,
         "p_holm": 0.4577, "mdd": 0.05163, "delta_n_samples": 8.0},
        {**common, "arm": "full", "reference": "plain", "metric": "colour_shift", "mean": 0.05126, "low": 0.04241,
         "high": 0.06019, "delta": -0.113, "delta_low": -0.187, "delta_high": -0.040, "p": 0.004,
         "p_holm": 0.072, "mdd": 0.101, "delta_n_samples": 7.0},
    ]  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "placeholder, text",
    [
        ("{{ mean creative_100s colour_shift full }}", "0.0513 [0.0424, 0.0602]"),
        ("{{ value creative_100s colour_shift full }}", "0.0513"),
        ("{{diff creative_100s colour_shift full base}}", "-0.0932 [-0.1902, +0.0039]"),
        ("{{ diff creative_100s colour_shift full plain }}", "-0.1130 [-0.1870, -0.0400]"),
        ("{{ holm creative_100s colour_shift full base }}", "0.46"),
        ("{{ p creative_100s colour_shift full plain }}", "0.004"),  # below 0.01: three decimals, not 0.00
        ("{{ mdd creative_100s colour_shift full base }}", "0.0516"),
        ("{{ n creative_100s colour_shift full }}", "8×3"),
        ("{{ n creative_100s colour_shift full plain }}", "7×3"),
    ],
)
def test_placeholders_are_filled_in_the_tables_format(summary, placeholder, text):
    assert prose.fill(f"FramePack: {placeholder}.", summary) == f"FramePack: {text}."


@pytest.mark.parametrize(
    "placeholder, message",
    [
        ("{{ median creative_100s colour_shift full }}", "first word must be one of"),
        ("{{ diff creative_100s colour_shift full }}", "diff takes TRACK METRIC ARM REF"),
        ("{{ mean creative_100s colour_shift framepack }}", "no framepack on colour_shift on creative_100s"),
        ("{{ diff creative_100s colour_shift base full }}", "no base - full on colour_shift"),
        ("{{ n creative_100s colour_shift }}", r"n takes TRACK METRIC ARM \[REF\]"),
        ("{{ diff creative_100s colour_shift base base }}", "holds no difference base - base"),
    ],
)
def test_a_placeholder_the_bundle_cannot_fill_is_an_error_naming_it(summary, placeholder, message):
    with pytest.raises(prose.ProseError, match=message) as err:
        prose.fill(f"text {placeholder} more", summary, "results/x/notes.md")
    assert placeholder in str(err.value) and "results/x/notes.md" in str(err.value)


def typed_intervals(text: str) -> list[str]:
    """The intervals written as numbers (outside placeholders) in a reading."""
    return TYPED_INTERVAL.findall("".join(p for placeholder, p in prose.pieces(text) if not placeholder))


def test_no_committed_reading_or_guide_types_an_interval_by_hand():
    """Every interval a bundle's notes.md quotes is a placeholder, so the pages check covers it; the
    guides quote none (they link the generated pages and tables instead)."""
    files = [*sorted((ROOT / "results").glob("*/notes.md")), *sorted((ROOT / "docs" / "guides").glob("*.md"))]
    typed = {str(p.relative_to(ROOT)): found for p in files if (found := typed_intervals(p.read_text()))}
    assert not typed, f"intervals typed by hand (write them as placeholders, reports/prose.py): {typed}"


def test_a_planted_typed_interval_is_found():
    notes = (ROOT / "results" / "ablation_eimg" / "notes.md").read_text()
    assert typed_intervals(notes + "\nfull minus base: -0.0293 [-0.0801, +0.1380].\n") == [
        "-0.0293 [-0.0801, +0.1380]"
    ]
    # typeset with the minus sign (U+2212), as prose sometimes is, it is found all the same
    assert typed_intervals(notes + "\nat 0.001: +0.0111 [\u22120.0170, +0.0392].\n") == [
        "+0.0111 [\u22120.0170, +0.0392]"
    ]


@pytest.mark.parametrize(
    "p, text", [(0.4577, "0.46"), (0.1, "0.10"), (0.0612, "0.061"), (0.0536, "0.054"), (0.0464, "0.046"),
                (0.0504, "0.0504"), (0.0496, "0.0496"), (0.05, "0.050"), (0.01, "0.010"), (0.004, "0.004"),
                (0.0009, "< 0.001"), (0.0, "< 0.001"), (None, "–"), (float("nan"), "–")],
)  # fmt: skip
def test_a_p_value_reads_as_prose_quotes_it(p, text):
    from reports import tables as T

    assert T.p_text(p) == text.replace("–", T.DASH)


def test_the_placeholder_scan_reads_in_linear_time():
    """The scan yields at most one piece per line plus two per placeholder, whatever the text: `{{` and a
    megabyte of spaces (cubic under the old pattern) is one piece; the pieces give the text back."""
    cases = ["{{" + " " * 1_000_000, "{{ a\n" * 200_000, "x {{ mean t m a }} y\n" * 1000, "{{ }}" * 10_000]
    for text in cases:
        found = list(prose.pieces(text))
        placeholders = sum(p for p, _ in found)
        assert len(found) <= text.count("\n") + 2 * placeholders + 1
        assert "".join("{{" + s + "}}" if p else s for p, s in found) == text
    assert len(list(prose.pieces(cases[0]))) == 1


def test_more_placeholders_than_a_file_may_hold_is_one_error(summary):
    text = "{{ value t m a }} " * (prose.MAX_PLACEHOLDERS + 1)
    with pytest.raises(prose.ProseError, match=f"more than the {prose.MAX_PLACEHOLDERS} one file may hold"):
        prose.fill(text, summary)
