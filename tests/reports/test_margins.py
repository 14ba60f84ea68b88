"""Degenerate references in reports (reports/margins.py): known answers for the references' intervals
and the collapse counts, and a report in which the references stay out of every arm's numbers."""

import pandas as pd
import pytest

from reports import margins as M
from reports.frames import REFERENCE_ROLE


def test_reference_means_carry_their_intervals():
    """Each reference's mean over its videos with its 95% t-interval (the verdicts compare intervals);
    a set-level value has none."""
    rows = [
        {"track": "t", "arm": "frozen", "metric": "colour_shift", "level": "video", "sample": s, "value": v}
        for s, v in (("s0", 0.0), ("s1", 0.2))
    ] + [{"track": "t", "arm": "frozen", "metric": "fvd", "level": "run", "sample": None, "value": 3.0}]
    means = M.reference_means(pd.DataFrame(rows)).set_index("metric")
    # mean 0.1, sd 0.1414, n 2: t(0.975, 1) = 12.706, half-width 12.706 x 0.1414 / sqrt(2) = 1.2706
    assert means.at["colour_shift", "mean"] == pytest.approx(0.1) and means.at["colour_shift", "n"] == 2
    assert means.at["colour_shift", "low"] == pytest.approx(0.1 - 1.2706, abs=1e-4)
    assert means.at["colour_shift", "high"] == pytest.approx(0.1 + 1.2706, abs=1e-4)
    assert means.at["fvd", "mean"] == 3.0 and pd.isna(means.at["fvd", "low"])


def test_collapse_counts_against_the_looped_first_clip():
    def windows(arm, role, values, sample="s0"):
        return [
            {"track": "t", "arm": arm, "role": role, "seed": 0, "sample": sample, "level": "window",
             "window": w, "metric": "dynamic_degree", "value": v}
            for w, v in enumerate(values)
        ]  # fmt: skip

    arms = pd.DataFrame(
        windows("a", "arm", [3, 3, 0, 0])
        + windows("b", "arm", [3, 3, 3, 3])
        + windows("a", "arm", [3, 3, 3, 3], "s1")
    )
    refs = pd.DataFrame(
        windows("loop", REFERENCE_ROLE, [3, 3, 3, 3]) + windows("loop", REFERENCE_ROLE, [2] * 4, "s1")
    )
    frame = M.collapse_frame(arms, refs).set_index("arm")
    assert frame.at["a", "collapsed videos"] == "1 of 2" and frame.at["a", "first collapsed window"] == 2
    assert frame.at["b", "collapsed videos"] == "0 of 1"
    assert M.collapsed_arms(frame.reset_index()) == ["a (t)"]


def test_references_are_split_from_the_arms():
    runs = pd.DataFrame({"arm": ["base", "frozen"], "role": ["baseline", REFERENCE_ROLE]})
    samples = pd.DataFrame(
        {"arm": ["base", "frozen"], "role": ["baseline", REFERENCE_ROLE], "value": [1.0, 2.0]}
    )
    samples.attrs["without_samples"] = ["x"]
    arm_runs, arm_samples, refs = M.split(runs, samples)
    assert list(arm_runs["arm"]) == ["base"] and list(arm_samples["arm"]) == ["base"]
    assert list(refs["arm"]) == ["frozen"] and arm_samples.attrs["without_samples"] == ["x"]


def test_the_drift_plot_marks_where_collapse_starts():
    from reports.plots import drift_figure

    rows = [
        {"suite": "t", "arm": arm, "role": "arm", "run_id": arm, "sample": s, "seed": 0, "clip": w,
         "seconds": 2.0 * (w + 1),
         "metric": "dynamic_degree", "value": v}
        for arm, values in (("a", [3, 3, 0, 0]), ("b", [3, 3, 3, 3]))
        for s in ("s0", "s1")
        for w, v in enumerate(values)
    ]  # fmt: skip
    fig = drift_figure(pd.DataFrame(rows), ["a", "b"], "dynamic_degree", collapse={"a": 2})
    marks = [line for line in fig.axes[0].get_lines() if line.get_label() == "a: collapse from here"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [6.0, 6.0]  # window 2 ends at 6 s
    assert M.collapse_marks(pd.DataFrame([{"track": "t", "arm": "a", "first collapsed window": 2}])) == {
        ("t", "a"): 2
    }
