"""The texts of the report's pictures as drawn: every title, label, tick label, legend entry and
annotation lies whole inside its figure, stays legible where a page shows the picture (its text column,
688 px wide: LEAST_TEXT_PX tall at least) and no point's label covers another label or another point's
marker. `reports.plots.text_problems` measures the lines of text the renderer draws; these tests draw
the forest, drift and sweep figures the reports write and expect none, and plant each fault the
check is there to find (a title drawn long the old way, a legend as small as the panels' once was, a
label over a marker) to see it found. A few seconds, no browser."""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest
from matplotlib.figure import Figure

from reports.plots import (
    COLUMN_PX,
    LEAST_TEXT_PX,
    PlotTextWarning,
    _save,
    drift_figure,
    forest_figure,
    text_problems,
)

# the mechanisms experiment's arms: eight, so a panel per arm beside the baseline
ARMS = [
    "base",
    "full",
    "plain",
    "diffusion_forcing",
    "self_forcing",
    "diffusion_forcing_erft",
    "framepack",
    "freenoise",
]


def _drift(arms: list[str], track: str = "consistent_100s") -> pd.DataFrame:
    rows = [{"run_id": f"{arm}{seed}", "arm": arm, "seed": seed, "role": "baseline" if i == 0 else "arm",
             "status": "FINISHED", "suite": track, "metric": "colour_shift", "clip": clip, "sample": sample,
             "value": 0.02 * i + 0.01 * clip + 0.005 * seed, "seconds": 2.0 * (clip + 1)}
            for i, arm in enumerate(arms) for seed in range(3) for sample in ("a", "b") for clip in range(4)]  # fmt: skip
    return pd.DataFrame(rows)


def _row(track: str, arm: str, delta: float, low: float = math.nan, high: float = math.nan, **kw) -> dict:
    degenerate = math.isnan(low)
    return {"track": track, "label": f"{arm} (no model) - base" if degenerate else f"{arm} - base", "arm": arm,
            "delta": delta, "low": low, "high": high, "mdd": kw.get("mdd", math.nan),
            "significant": kw.get("significant", False), "kind": "degenerate" if degenerate else "reference",
            "one_seed": kw.get("one_seed", False)}  # fmt: skip


def _ablation_rows() -> pd.DataFrame:
    """ablation_eimg's truth-distance differences as its page once drew them: two one-seed arms, and
    degenerate references near the axis's left edge (frozen at -0.0195) beside one far off it (truth_vae
    at -0.119, written at the edge: its label once lay over frozen's diamond), on two tracks."""
    rows = []
    for track, shift in (("consistent_100s", 0.0), ("creative_100s", -0.004)):
        rows += [
            _row(track, "full", 0.0003 + shift, -0.004 + shift, 0.0045 + shift, mdd=0.005, one_seed=True),
            _row(track, "no_eimg", -0.0013, -0.0025, 0.0001, mdd=0.0028, one_seed=True, significant=True),
            _row(track, "frozen", -0.0195 if not shift else 0.0155),
            _row(track, "loop", -0.0095 if not shift else 0.007),
            _row(track, "pingpong", -0.0094 if not shift else 0.0071),
            _row(track, "truth_vae", -0.119 if not shift else -0.252),
        ]
    return pd.DataFrame(rows)


def _column_px(fig: Figure, points: float) -> float:
    """A font of `points` in `fig` as tall as it shows at the column's width (px), the picture at 120 dpi."""
    return points / 72 * min(120, COLUMN_PX / fig.get_figwidth())


def test_the_forest_plots_texts_are_whole_and_no_reference_label_covers_a_marker():
    for title in ("each arm minus the reference arm", "the declared comparisons"):
        fig = forest_figure(_ablation_rows(), "truth_distance", {}, title)
        assert text_problems(fig) == []
    # the title once ran past both edges ("h distance: ... grey band: MI"): now one line, the key below it
    heading = fig._suptitle.get_text()
    assert heading == "Truth distance: the declared comparisons"
    (key,) = [t for t in fig.texts if t is not fig._suptitle]
    assert "grey band: MDD" in key.get_text() and "T truth_vae" in key.get_text()
    labels = {t.get_text(): t for ax in fig.axes for t in ax.texts}
    assert {"T -0.12", "T -0.25"} <= set(labels)  # far off the scale: written at the edge...
    assert labels["T -0.12"].xyann[1] < 0 < labels["F"].xyann[1]  # ... below the row; the others' marks above


def test_a_long_title_and_long_names_are_wrapped_within_the_figure():
    # row labels as long as two panels beside them leave room for
    long = {"full": "img_both_and_a_longer_name", "no_eimg": "no_eimg_and_then_some"}
    rows = _ablation_rows().replace({"arm": long})
    rows["label"] = [
        f"{long[a]} - base" if a in long else lab
        for a, lab in zip(rows["label"].str.split(" ").str[0], rows["label"])
    ]
    fig = forest_figure(rows, "truth_distance", {}, "each arm minus the reference arm, " * 4)
    assert text_problems(fig) == []
    assert fig._suptitle.get_text().count("\n") == 1  # wrapped, not cut
    arms = ["base", "an_arm_whose_name_runs_on_and_on_for_a_while", *ARMS[2:]]
    assert text_problems(drift_figure(_drift(arms, "a_track_" * 12), arms, "colour_shift")) == []


@pytest.mark.parametrize("arms", [ARMS[:3], ARMS], ids=["one axes", "a panel per arm"])
def test_drift_plots_texts_are_whole_and_their_legends_legible_at_the_column_width(arms):
    fig = drift_figure(_drift(arms), arms, "colour_shift", collapse={arms[1]: 2})
    assert text_problems(fig) == []
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    sizes = [_column_px(fig, t.get_fontsize()) for legend in legends for t in legend.get_texts()]
    ticks = [_column_px(fig, t.get_fontsize()) for ax in fig.axes for t in ax.get_xticklabels()]
    # eight arms' panels once drew x-small legends (6.9 pt) 11.4 inches wide: 5.8 px in the column
    assert min(sizes) >= LEAST_TEXT_PX and min(ticks) >= LEAST_TEXT_PX
    if len(arms) == len(ARMS):
        assert min(sizes) == pytest.approx(10.5, abs=0.1)  # `small` (8.3 pt), 7.6 inches wide


def test_the_check_finds_a_title_cut_text_too_small_and_a_label_over_a_marker():
    """Each fault planted in a figure drawn the old way, and seen."""
    fig = Figure(figsize=(6.4, 2.5))
    ax = fig.add_subplot()
    title = "Truth distance: each arm minus the reference arm (95% interval; filled, *: Holm; grey band: MDD)"
    ax.set_title(title)  # as the forest plots once drew it: one line, wider than the figure
    ax.plot([0.0, 1.0], [0.0, 0.0], marker="D", ms=5, ls="none")
    # beside its arrow, over the diamond at (0, 0): the label ablation_eimg's forest plot once drew
    ax.annotate("T -0.119", (-0.05, 0.0), xytext=(8, 0), textcoords="offset points", va="center")
    ax.annotate("F", (1.0, 0.0), xytext=(0, 5), textcoords="offset points", ha="center")  # its own: fine
    ax.text(0.5, 0.0, "one")
    ax.text(0.5, 0.0, "another")
    problems = text_problems(fig)
    assert any("is cut" in p and "left edge" in p for p in problems)
    assert any("is cut" in p and "right edge" in p for p in problems)
    assert any(p.startswith("'T -0.119' covers the marker") for p in problems)
    assert not any(p.startswith("'F' covers the marker") for p in problems)
    assert "'one' covers 'another'" in problems
    # a legend as the panels once drew it: x-small in an 11.4-inch figure
    wide = Figure(figsize=(11.4, 3.0))
    wide.add_subplot().plot([0, 1], label="diffusion_forcing (n=8×3)")
    wide.axes[0].legend(fontsize="x-small")
    small = [p for p in text_problems(wide) if "diffusion_forcing" in p]
    assert small == [f"'diffusion_forcing (n=8×3)' is 5.8 px at {COLUMN_PX} px wide (< 9)"]


def test_a_report_warns_of_a_plot_whose_texts_are_wrong(tmp_path):
    fig = Figure(figsize=(3.0, 2.0))
    fig.suptitle("a title far wider than a figure three inches wide can hold")
    with pytest.warns(PlotTextWarning, match="is cut"):
        _save(fig, tmp_path / "cut.png")
    assert (tmp_path / "cut.png").stat().st_size > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlotTextWarning)
        _save(forest_figure(_ablation_rows(), "truth_distance", {}), tmp_path / "forest.png")
