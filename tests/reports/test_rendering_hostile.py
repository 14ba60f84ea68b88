"""Names from data are rendered as text in every report format, never as markup or formulas, and an
extreme number is shown as what it is: known answers of reports/escape.py, then a whole report (and
the pages' tables) built from arms named like attacks, with infinite and overflowing scores."""

import csv
import html
import io
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports import tables as T
from reports.build import drift_frame_of, render_report
from reports.escape import (
    csv_cell,
    csv_value,
    html_text,
    latex_text,
    markdown_of,
    markdown_text,
    plain,
    words,
)
from reports.frames import VIDEO_LEVEL, WINDOW_LEVEL
from reports.pages import comparisons_table, headline_table, time_table
from reports.plots import drift_figure

REPO = Path(__file__).resolve().parents[2]

IMG = "<img src=x onerror=alert(1)>"
FORMULA = "=cmd|' /C calc'!A0"
HOSTILE = [IMG, FORMULA, "+1", "$x$"]
# names and cell texts the committed pages hold: escaping must leave them byte for byte as they are
ORDINARY = [
    "base",
    "no_eimg",
    "consistent_100s",
    "full - base",
    "diffusion_forcing_erft",
    "diffusion_forcing - base",
    "Sub. Cons",
    "PSNR (dB)",
    "w/o E_img (published)",
    "Deep Forcing (training-free)",
    "toy-encoder, toy-opencv",
    "no_eimg seed 1",
    "10×2",
    "-0.25",
    "0123456789",
]


# -- the escapes: known answers ------------------------------------------------------------------


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_names_are_left_as_they_are_in_markdown_and_html(name):
    assert markdown_text(name) == name
    assert html_text(name) == name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (IMG, "&lt;img src=x onerror=alert(1)&gt;"),
        (FORMULA, r"=cmd\|' /C calc'!A0"),
        ("+1", "+1"),
        ("$x$", "$x$"),  # MkDocs here has no math extension: a dollar is a dollar
        ("a*b*c", r"a\*b\*c"),  # intraword * is emphasis in Python-Markdown
        ("`x`", r"\`x\`"),
        ("[a](javascript:alert(1))", "&#91;a&#93;(javascript:alert(1))"),
        ("x {: onclick=alert(1) }", r"x \{: onclick=alert(1) \}"),  # attr_list on a table cell
        ("_x_", r"\_x\_"),
        ("__init__", r"\_\_init\_\_"),
        ("a_b_ c", r"a_b\_ c"),  # only the underscore that could close emphasis
        ("a\\b", r"a\\b"),
        ("AT&T", "AT&amp;T"),
        ("&lt;", "&amp;lt;"),  # a reference in a name is text too
        ("two\nlines\r\nhere", "two lines here"),  # a line break would end the table row
    ],
)
def test_markdown_text(name, expected):
    assert markdown_text(name) == expected


EXTENSIONS = ["admonition", "attr_list", "md_in_html", "tables", "toc", "pymdownx.details", "pymdownx.highlight",
              "pymdownx.superfences"]  # fmt: skip
RENDERED = [*HOSTILE, *ORDINARY, "a*b*c", "_x_ y", "`x`", "[a](javascript:alert(1))", "x {: onclick=alert(1) }",
            "a\\|b", "__init__", "AT&T", "&lt;", "![i](x.png)"]  # fmt: skip


def test_the_extensions_rendered_here_are_the_sites():
    yaml = pytest.importorskip("yaml")
    site = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))["markdown_extensions"]
    assert [next(iter(e)) if isinstance(e, dict) else e for e in site] == EXTENSIONS


def _render(markdown_source: str) -> str:
    markdown = pytest.importorskip("markdown")
    return markdown.markdown(markdown_source, extensions=EXTENSIONS)


@pytest.mark.parametrize("name", RENDERED)
def test_an_escaped_name_renders_as_its_own_text_in_a_cell_bold_and_a_caption(name):
    out = _render(f"| h |\n|:--|\n| {markdown_text(name)} |\n\n**{markdown_text(name)}**\n\n"
                  f"![{markdown_text(name)}](plot.png)\n")  # fmt: skip
    cell = re.search(r"<td[^>]*>(.*?)</td>", out, re.S)
    assert cell and "<" not in cell[1] and html.unescape(cell[1]) == name
    bold = re.search(r"<strong>(.*?)</strong>", out, re.S)
    assert bold and "<" not in bold[1] and html.unescape(bold[1]) == name
    alt = re.search(r'<img alt="([^"]*)" src="plot.png"', out)
    assert alt and html.unescape(alt[1]) == name


@pytest.mark.parametrize(
    ("name", "injected"),
    [(IMG, "<img src"), ("x {: onclick=alert(1) }", 'onclick="alert(1)"'), ("a*b*c", "<em>"),
     ("[a](javascript:alert(1))", '<a href="javascript')],
)  # fmt: skip
def test_unescaped_these_names_would_be_markup(name, injected):
    """What the escaping prevents: the same names written raw become elements and attributes."""
    assert injected in _render(f"| h |\n|:--|\n| {name} |\n")
    assert injected not in _render(f"| h |\n|:--|\n| {markdown_text(name)} |\n")


def test_html_text():
    assert html_text(IMG) == "&lt;img src=x onerror=alert(1)&gt;"
    assert html_text("a\"b'c&d") == "a&quot;b&#x27;c&amp;d"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "\\ & % $ # _ { } ~ ^",
            r"\textbackslash{} \& \% \$ \# \_ \{ \} \textasciitilde{} \textasciicircum{}",
        ),
        ("$x$", r"\$x\$"),
        ("[x]", "{[}x{]}"),  # not an optional argument of the \\ before a row
        ("no_eimg", r"no\_eimg"),
        ("full - base", "full - base"),
        ("a\nb", "a b"),
    ],
)
def test_latex_text(name, expected):
    assert latex_text(name) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        (FORMULA, "'" + FORMULA),
        ("+1", "'+1"),
        ("-x", "'-x"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=x", "''=x"),  # so that csv_value can undo it
        ("full", "full"),
        ("no_eimg", "no_eimg"),
        ("", ""),
    ],
)
def test_csv_cell_neutralises_text_and_csv_value_undoes_it(value, expected):
    assert csv_cell(value) == expected
    assert csv_value(csv_cell(value)) == value


def test_csv_cell_leaves_numbers_as_numbers():
    for number in (-1.5, -3, 0.0, True, math.inf, -math.inf):
        assert csv_cell(number) is number
    assert math.isnan(csv_cell(math.nan))
    assert csv_value("'x") == "'x"  # a name starting with ' that csv_cell did not touch


def test_csv_cells_of_a_frame_touch_only_its_text():
    df = pd.DataFrame(
        {"arm": ["=x", "-y", "ok"], "delta": [-0.5, 1.0, math.nan], "significant": [True, False, True]}
    )
    out = T.csv_cells(df.rename(columns={"delta": "+delta"}))
    assert list(out.columns) == ["arm", "'+delta", "significant"]
    assert out["arm"].tolist() == ["'=x", "'-y", "ok"]
    assert out["'+delta"].dtype == float and out["'+delta"].iloc[0] == -0.5
    assert out["significant"].tolist() == [True, False, True]
    back = T.from_csv_cells(out)
    assert list(back.columns) == ["arm", "+delta", "significant"]
    assert back["arm"].tolist() == ["=x", "-y", "ok"]


def test_words_escape_only_the_names_in_markdown():
    w = words("Re-run `harness run` for {} [low, high]", "<b>_x")
    assert w == "Re-run `harness run` for <b>_x [low, high]"  # the plain text: LaTeX and HTML escape it whole
    assert w.markdown == r"Re-run `harness run` for &lt;b&gt;\_x [low, high]"
    assert markdown_of(w) == w.markdown and markdown_of("ours: `code` *") == "ours: `code` *"
    p = plain("Backend: a*b")
    assert p == "Backend: a*b" and markdown_of(p) == r"Backend: a\*b"


# -- numbers: missing is a dash, the rest is said ------------------------------------------------


def test_number_text_says_infinities_and_overflows():
    assert T.number_text(math.nan, ".2f") == T.DASH and T.number_text(None, ".2f") == T.DASH
    assert T.number_text(math.inf, ".2f") == "inf"
    assert T.number_text(-math.inf, ".2f") == "-inf"
    assert T.number_text(math.inf, "+.2f") == "+inf"
    assert T.number_text(-0.5, "+.2f") == "-0.50" and T.number_text(0.5, "+.2f") == "+0.50"
    assert T.number_text(1e20, ".2f") == "1.00e+20"  # not 21 digits
    assert T.number_text(1e308, ".1f") == "1.0e+308"
    big = T.scaled(1e308, 100.0)  # finite as logged, beyond the floats in percent
    assert isinstance(big, T.Overflow) and math.isinf(big)
    assert T.number_text(big, ".2f") == "overflow"
    assert T.number_text(T.scaled(-1e308, 100.0), "+.2f") == "-overflow"
    assert T.number_text(T.scaled(np.float64(1e308), 100.0), ".2f") == "overflow"
    assert not isinstance(T.scaled(math.inf, 100.0), T.Overflow)  # infinite already: inf, not overflow
    assert math.isnan(T.scaled(math.nan, 100.0)) and T.scaled(0.5, 100.0) == 50.0


def test_format_cell_never_shows_an_extreme_value_as_missing():
    info = T.metric_info("subject_consistency")
    assert T.format_cell(T.Cell(math.inf), info) == "inf"
    assert T.format_cell(T.Cell(-math.inf), info, signed=True) == "-inf"
    assert T.format_cell(T.Cell(T.scaled(1e308, 100.0)), info) == "overflow"
    assert T.format_cell(T.Cell(1.0, -math.inf, math.inf), info) == "1.00 [-inf, inf]"
    assert T.format_cell(T.Cell(math.inf, math.nan, math.nan, significant=True), info, True) == "+inf*"
    assert T.format_cell(T.Cell(math.nan), info) == T.DASH and T.format_cell(None, info) == T.DASH


# -- the table writers ---------------------------------------------------------------------------


def _table(label: str, notes: list[str]) -> T.Table:
    row = T.Row(label, "ours", "1×1", {"psnr": T.Cell(-1.0)})
    return T.Table(f"{label}: other metrics", "t_50s", "other", [T.metric_info("psnr")], [row], notes)


def test_table_writers_escape_names_and_keep_our_markdown():
    notes = ["ours: `code`, [low, high], *: mark", words("Δ = arm - {} (the reference arm)", IMG)]
    md = T.to_markdown(_table(FORMULA, notes))
    assert f"**{markdown_text(FORMULA)}: other metrics**" in md
    assert "| =cmd\\|' /C calc'!A0 | 1×1 | -1.00 |" in md
    assert "ours: `code`, [low, high], *: mark  " in md and "Δ = arm - &lt;img" in md and "<img" not in md
    tex = T.to_latex(_table("[x] & $y$", notes))
    assert "\n{[}x{]} \\& \\$y\\$ & 1$\\times$1 & -1.00 \\\\" in tex
    assert "\\caption{{[}x{]} \\& \\$y\\$: other metrics}" in tex
    assert "Δ = arm - <img" not in tex and "$\\Delta$ = arm - <img src=x onerror=alert(1)>" in tex
    page = T.to_html(_table(IMG, notes))
    assert "<img" not in page and "<th>&lt;img src=x onerror=alert(1)&gt;</th>" in page


# -- a whole report ------------------------------------------------------------------------------

ARMS = ["base", *HOSTILE]
TRACK = "consistent_50s"
HOSTILE_TRACK = "<svg onload=alert(1)>_50s"
HOSTILE_METRIC = "[m](javascript:alert(1))"  # an unknown metric: its label is its name
SAMPLES, SEEDS, WINDOWS = 6, 2, 3


def _score(arm: str, metric: str, sample: int, seed: int) -> float:
    """Known scores: every arm 0.02 apart; aesthetic_quality holds a 1e308 (+1: its mean, 8e306, is
    beyond the floats in percent) and an inf ($x$) in one sample of seed 0; psnr is negative (the
    CSV's negative numbers)."""
    i = ARMS.index(arm)
    if metric == "aesthetic_quality" and sample == 0 and seed == 0 and arm in ("+1", "$x$"):
        return 1e308 if arm == "+1" else math.inf
    if metric == "psnr":
        return -1.0 - 0.1 * i - 0.01 * sample - 0.005 * seed
    return 0.5 + 0.02 * i + 0.005 * sample + 0.003 * seed


METRICS = {TRACK: ["subject_consistency", "aesthetic_quality", "psnr"], HOSTILE_TRACK: [HOSTILE_METRIC]}


def hostile_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, samples) of ARMS x SEEDS finished runs: per-video scores and the drift windows of
    subject_consistency; preset and variant tags like attacks too."""
    runs, rows = [], []
    for i, arm in enumerate(ARMS):
        role = "baseline" if i == 0 else "arm"
        for seed in range(SEEDS):
            run_id = f"r{i}-{seed}"
            scores = {}
            for track, metrics in METRICS.items():
                for m in metrics:
                    values = [_score(arm, m, s, seed) for s in range(SAMPLES)]
                    with np.errstate(over="ignore", invalid="ignore"):
                        scores[f"{track}/{m}"] = float(np.mean(values))
                    for s, v in enumerate(values):
                        rows.append({"arm": arm, "role": role, "seed": seed, "run_id": run_id, "status": "FINISHED",
                                     "track": track, "sample": f"s{s}", "level": VIDEO_LEVEL, "window": None,
                                     "metric": m, "value": v, "seconds": math.nan})  # fmt: skip
                        if m == "subject_consistency":
                            rows += [{"arm": arm, "role": role, "seed": seed, "run_id": run_id, "status": "FINISHED",
                                      "track": track, "sample": f"s{s}", "level": WINDOW_LEVEL, "window": w,
                                      "metric": m, "value": v - 0.01 * w, "seconds": 5.0 * (w + 1)}
                                     for w in range(WINDOWS)]  # fmt: skip
            runs.append({"run_id": run_id, "arm": arm, "seed": seed, "role": role, "status": "FINISHED",
                         "trained": i > 0, "variant": "<b>bold</b>", "preset": "<script>alert(1)</script>",
                         "git_commit": "0123456789abcdef",
                         "backends": {m: "vbench-weights" for ms in METRICS.values() for m in ms}, **scores})  # fmt: skip
    return pd.DataFrame(runs), pd.DataFrame(rows)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    runs, samples = hostile_frames()
    out = tmp_path_factory.mktemp("hostile")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy on inf: overflow, invalid value (expected)
        return render_report(
            "exp", out, runs, samples, drift_frame_of(samples), source="test", arm_order=ARMS,
            comparisons=[("$x$", "+1")], built="",
        )  # fmt: skip


def _md_row(md: str, table_title: str, label: str) -> list[str]:
    """The cells of the row `label` of the Markdown table under the bold `table_title`."""
    block = md.split(f"**{table_title}**", 1)[1].split("\n\n", 2)[1]
    for line in block.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if cells and cells[0] == label:
            return cells
    raise AssertionError(f"no row {label!r} under {table_title!r}")


def test_report_markdown_holds_no_markup_from_names(report):
    md = report["report.md"].read_text(encoding="utf-8")
    for raw in ("<img", "<script", "<svg", "<b>", "](javascript"):
        assert raw not in md
    assert "&lt;img src=x onerror=alert(1)&gt;" in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert r"&lt;svg onload=alert(1)&gt;\_50s" in md and "&#91;m&#93;(javascript:alert(1))" in md
    # every row of every table has as many cells as its header: a | in a name is no cell border
    for block in re.findall(r"((?:^\|.*\|\n)+)", md, flags=re.M):
        widths = {len(re.split(r"(?<!\\)\|", line)) for line in block.splitlines()}
        assert len(widths) == 1, block
    title = f"{TRACK}: VBench dimensions (%)"
    assert _md_row(md, title, markdown_text(FORMULA))[0] == r"=cmd\|' /C calc'!A0"


def test_report_shows_infinite_and_overflowing_scores_explicitly(report):
    md = report["report.md"].read_text(encoding="utf-8")
    title, diff = (
        f"{TRACK}: VBench dimensions (%)",
        f"{TRACK}: VBench dimensions, difference vs base (Δ, percentage points)",
    )
    aest = 3  # cells: Arm, n, Sub. Cons, Aest
    plus_one, dollar = _md_row(md, title, "+1")[aest], _md_row(md, title, "$x$")[aest]
    assert plus_one.strip("*").startswith("overflow")  # a mean of 8e306: beyond the floats in percent
    assert dollar.strip("*").startswith("inf")
    assert _md_row(md, diff, "+1")[aest].startswith("+overflow")
    assert _md_row(md, diff, "$x$")[aest].startswith("+inf")
    for cell in (plus_one, dollar, _md_row(md, diff, "+1")[aest], _md_row(md, diff, "$x$")[aest]):
        assert cell != T.DASH


def test_results_csv_cells_are_text_or_numbers_never_formulas(report):
    with open(report["results.csv"], newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert header == T.SUMMARY_COLUMNS
    negative = 0
    for row in body:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
            if cell.startswith("-"):
                float(cell)  # a negative number, written as a number
                negative += 1
    assert negative > 0  # psnr's means and differences are negative
    arms = {row[header.index("arm")] for row in body}
    assert arms == {"base", IMG, "'" + FORMULA, "'+1", "$x$"}
    summary = T.from_csv_cells(pd.read_csv(report["results.csv"]))
    assert set(summary["arm"]) == set(ARMS)  # read back, the names are the arms' own
    aest = T.vs_reference(summary).query("metric == 'aesthetic_quality'").set_index("arm")["mean"]
    assert aest["$x$"] == math.inf and aest["+1"] == pytest.approx(1e308 / 12)  # raw numbers, as computed


def test_report_latex_and_html_escape_names(report):
    tex = report["report.tex"].read_text(encoding="utf-8")
    assert "\n\\$x\\$ & " in tex and "\n$x$ &" not in tex  # the arm's row, not math
    assert "{[}m{]}(javascript:alert(1))" in tex and r"\textless" not in tex
    assert r"\title{exp: report}" in tex
    page = report["report.html"].read_text(encoding="utf-8")
    assert "<img src=x" not in page and "<script" not in page and "<svg" not in page and "<b>bold" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_pages_tables_escape_names_read_back_from_results_csv(report):
    summary = pd.read_csv(report["results.csv"])  # as the pages read it: neutralised names
    table = headline_table(summary, ["subject_consistency"], ARMS)
    lines = table.splitlines()
    labels = [re.split(r"(?<!\\)\|", line)[1].strip() for line in lines[2:]]  # arms as rows
    assert labels == ["n", "base", "&lt;img src=x onerror=alert(1)&gt; - base", "=cmd\\|' /C calc'!A0 - base",
                      "+1 - base", "$x$ - base"]  # fmt: skip
    assert {len(re.split(r"(?<!\\)\|", line)) for line in lines} == {len(re.split(r"(?<!\\)\|", lines[0]))}
    assert "<" not in table and "'=" not in table
    aest = headline_table(summary, ["aesthetic_quality"], ARMS)
    assert "+overflow" in aest and "+inf" in aest
    compared = comparisons_table(summary, ["subject_consistency"])
    assert f"| {TRACK} | Sub. Cons ↑ (%) | $x$ - +1 |" in compared
    units = time_table({"provenance": {f"{IMG} seed 0": {"host": "<script>x</script>|h", "run_seconds": 90}}})
    assert (
        units.splitlines()[2]
        == "| &lt;img src=x onerror=alert(1)&gt; seed 0 | &lt;script&gt;x&lt;/script&gt;\\|h | 1.5 |"
    )
    assert (
        time_table({"provenance": {"u": {"host": "h", "run_seconds": math.inf}}}).splitlines()[2]
        == "| u | h | inf |"
    )


# -- plots ---------------------------------------------------------------------------------------


def _drift(arms: list[str]) -> pd.DataFrame:
    rows = [{"run_id": f"r{i}", "arm": arm, "seed": 0, "role": "baseline" if i == 0 else "arm", "status": "FINISHED",
             "suite": TRACK, "metric": "colour_shift", "clip": clip, "sample": sample,
             "value": 0.1 * i + 0.01 * clip + (sample == "b") * 0.02, "seconds": 5.0 * (clip + 1)}
            for i, arm in enumerate(arms) for sample in ("a", "b") for clip in range(3)]  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("arms", [["base", "$x$", "$\\foo$"], ["base", "$x$", "$\\foo$", "a", "b", "c"]])
def test_plot_texts_with_names_are_drawn_literally(arms):
    """One axes and a panel per arm: `$\\foo$` as mathtext would stop the drawing with an error."""
    fig = drift_figure(_drift(arms), arms, "colour_shift")
    fig.savefig(io.BytesIO(), format="png")  # draws: no mathtext parsed
    shown = [ax for ax in fig.axes if ax.get_visible()]
    # one legend in the axes, or one for every panel below them
    legends = [
        t
        for legend in [*fig.legends, *(ax.get_legend() for ax in shown)]
        if legend
        for t in legend.get_texts()
    ]
    assert {t.get_text() for t in legends} >= {"$x$ (n=2×1)", "$\\foo$ (n=2×1)"}
    assert not any(t.get_parse_math() for t in legends)
    assert not any(ax.title.get_parse_math() for ax in shown)
