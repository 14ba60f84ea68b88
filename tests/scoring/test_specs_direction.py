"""The direction accessors of the metric table (scoring/specs.py) on planted metrics: one higher is
better, one lower is better, one without a direction; and the reports' wrappers over them."""

import math

import numpy as np
import pytest

from scoring import specs
from scoring.specs import MetricSpec

UP, DOWN, FLAT = "planted_up", "planted_down", "planted_flat"


@pytest.fixture(autouse=True)
def planted(monkeypatch):
    for name, higher in ((UP, True), (DOWN, False), (FLAT, None)):
        monkeypatch.setitem(specs.SPECS, name, MetricSpec(name, "planted", name, higher_is_better=higher))


def test_direction_and_has_direction():
    assert specs.direction(UP) is True and specs.direction(DOWN) is False and specs.direction(FLAT) is None
    assert specs.direction("no_such_metric") is None
    assert specs.has_direction(UP) and specs.has_direction(DOWN)
    assert not specs.has_direction(FLAT) and not specs.has_direction("no_such_metric")


def test_oriented_signs_values_differences_and_arrays():
    assert specs.oriented(UP, 0.3) == 0.3 and specs.oriented(DOWN, 0.3) == -0.3
    assert specs.oriented(DOWN, 0.2 - 0.5) == pytest.approx(0.3)  # a difference: lower is better, so +
    np.testing.assert_array_equal(specs.oriented(DOWN, np.array([1.0, -2.0])), [-1.0, 2.0])


def test_better():
    assert specs.better(UP, 2.0, 1.0) and not specs.better(UP, 1.0, 2.0)
    assert specs.better(DOWN, 1.0, 2.0) and not specs.better(DOWN, 2.0, 1.0)
    assert not specs.better(UP, 1.0, 1.0) and not specs.better(DOWN, 1.0, 1.0)  # a tie is not better
    assert not specs.better(UP, math.nan, 1.0)


def test_best_of():
    values = {"a": 0.2, "b": 0.7, "c": math.nan, "d": 0.1}
    assert specs.best_of(UP, values) == "b" and specs.best_of(DOWN, values) == "d"
    assert specs.best_of(UP, {"x": 1.0, "y": 1.0}) == "x"  # a tie: the first
    assert specs.best_of(UP, {}) is None and specs.best_of(DOWN, {"c": math.nan}) is None


def test_clear_better():
    assert specs.clear_better(UP, (0.8, 0.9), (0.5, 0.7)) and not specs.clear_better(
        UP, (0.5, 0.7), (0.8, 0.9)
    )
    assert specs.clear_better(DOWN, (0.5, 0.7), (0.8, 0.9)) and not specs.clear_better(
        DOWN, (0.8, 0.9), (0.5, 0.7)
    )
    assert not specs.clear_better(UP, (0.6, 0.9), (0.5, 0.7))  # overlapping intervals clear nothing
    assert not specs.clear_better(UP, (0.7, 0.9), (0.5, 0.7))  # touching ones neither
    assert not specs.clear_better(UP, (math.nan, 0.9), (0.1, 0.2))  # a missing bound clears nothing


@pytest.mark.parametrize(
    "call",
    [
        lambda m: specs.oriented(m, 1.0),
        lambda m: specs.better(m, 1.0, 2.0),
        lambda m: specs.best_of(m, {"a": 1.0}),
        lambda m: specs.best_of(m, {}),
        lambda m: specs.clear_better(m, (1.0, 2.0), (3.0, 4.0)),
    ],
)
@pytest.mark.parametrize("metric", [FLAT, "no_such_metric"])
def test_a_metric_without_a_direction_raises_naming_it(call, metric):
    with pytest.raises(ValueError, match=f"{metric}.*no direction"):
        call(metric)


def test_the_reports_read_direction_through_the_accessors():
    """The verdicts and margins follow a planted metric's direction and leave a directionless one out."""
    import pandas as pd

    from reports import margins as M
    from reports import verdicts as V

    S = V.Score
    refs = {"frozen": S(0.5, 0.45, 0.55), "loop": S(0.6, 0.55, 0.65)}
    assert V.best_of(UP, refs) == "loop" and V.best_of(DOWN, refs) == "frozen"
    assert V.clear_better(DOWN, S(0.2), S(0.3)) and V.clear_better(UP, S(0.3), S(0.2))
    assert V.validity(UP, S(0.9, 0.85, 0.95), refs, {"a": S(0.7)}, False).verdict == V.VALID
    assert V.validity(DOWN, S(0.9, 0.85, 0.95), refs, {"a": S(0.7)}, False).verdict == V.INVALID
    with pytest.raises(ValueError, match=FLAT):
        V.validity(FLAT, S(0.9, 0.85, 0.95), refs, {"a": S(0.7)}, False)
    means = pd.DataFrame(
        [{"track": "t", "arm": arm, "metric": m, "mean": s.mean, "low": s.low, "high": s.high, "n": 4}
         for m in (UP, DOWN, FLAT) for arm, s in {**refs, "truth": S(0.9, 0.85, 0.95)}.items()]
    )  # fmt: skip
    assert V.judge(FLAT, means, "t", {"a": S(0.7)}) is None  # no direction: no verdict
    assert V.judge(UP, means, "t", {"a": S(0.7)}).verdict == V.VALID
    assert M.best_degenerate(means, "t", UP) == ("loop", 0.6) and M.best_degenerate(means, "t", FLAT) is None
    assert M.margin(UP, 0.7, 0.6) == pytest.approx(0.1) and M.margin(DOWN, 0.7, 0.6) == pytest.approx(-0.1)
