"""Degenerate references in reports (reports/margins.py): known answers for the margins, the gameable
flag and the collapse counts, and a report in which the references stay out of every arm's numbers."""

import pandas as pd

from reports import margins as M
from reports.frames import REFERENCE_ROLE


def _summary(rows):
    return pd.DataFrame(
        [{"track": "t", "metric": m, "arm": a, "mean": v, "contrast": "vs_reference"} for m, a, v in rows]
    )


def _refs(rows):
    return pd.DataFrame([{"track": "t", "arm": k, "metric": m, "mean": v, "n": 8} for m, k, v in rows])


def test_margins_and_the_gameable_flag():
    summary = _summary([
        ("subject_consistency", "base", 0.70), ("subject_consistency", "full", 0.80),
        ("colour_shift", "base", 0.14), ("colour_shift", "full", 0.10),
        ("dynamic_degree", "base", 1.0), ("dynamic_degree", "full", 1.0),
    ])  # fmt: skip
    refs = _refs([
        ("subject_consistency", "frozen", 1.0), ("subject_consistency", "loop", 0.75),
        ("colour_shift", "frozen", 0.0002), ("colour_shift", "loop", 0.0037),
        ("dynamic_degree", "frozen", 0.0), ("dynamic_degree", "loop", 0.875),
        ("subject_consistency", "truth", 2.0),  # the truth is shown, never the best degenerate
    ])  # fmt: skip
    frame = M.margins_frame(summary, refs, ["base", "full"]).set_index("metric")
    sub = frame.loc["Sub. Cons (gameable on this suite)"]
    assert sub["best degenerate"] == "frozen 100.00" and sub["base margin"] == "-30.00"
    assert sub["full margin"] == "-20.00"
    cs = frame.loc["Colour shift (gameable on this suite)"]
    assert cs["best degenerate"] == "frozen 0.0002" and cs["full margin"] == "-0.0998"
    dyn = frame.loc["Dyn. Deg"]  # the arms move more than any trivial video: not flagged
    assert dyn["best degenerate"] == "loop 87.50" and dyn["base margin"] == "+12.50"
    assert M.gameable_metrics(frame.reset_index()) == ["t: Sub. Cons", "t: Colour shift"]


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
