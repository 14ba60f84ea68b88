"""The `pruner:` section of a sweep file: validation, defaults, Optuna pruners, probe values."""

import math

import optuna
import pytest

from cli import main
from harness.run import probe_watch as probes
from harness.run.probe_watch import probe_sign
from svi.config import ConfigError
from sweeps.study import Pruner, load_sweep, make_pruner

EXPERIMENT = """
name: prunecfg
config: {model: {preset: tiny}}
arms:
  full: {}
  base: {train: false, role: baseline}
suites: [{suite: consistent, length: 1s, limit: 1}]
metrics: subject_consistency,colour_shift
metrics_backend: random
"""

SWEEP = """
name: prunecfg_sweep
experiment: {experiment}
arm: {arm}
space: {{erft.p_img: {{low: 0.0, high: 1.0}}}}
objective: {objective}
trials: 2
pruner: {pruner}
"""
ONE = "[{metric: consistent_1s/subject_consistency, direction: maximize}]"
TWO = (
    "[{metric: consistent_1s/subject_consistency}, {metric: consistent_1s/colour_shift, direction: minimize}]"
)


@pytest.fixture()
def write(home):
    (home / "exp.yaml").write_text(EXPERIMENT)

    def _write(pruner: str, objective: str = ONE, arm: str = "full"):
        f = home / "prunecfg_sweep.yaml"
        f.write_text(SWEEP.format(experiment=home / "exp.yaml", arm=arm, objective=objective, pruner=pruner))
        return f

    return _write


def test_defaults_and_the_shipped_sweep(write):
    p = load_sweep(str(write("{kind: median}"))).pruner
    assert (p.metric, p.backend, p.reduce, p.every, p.clips) == ("colour_shift", None, "change", None, 3)
    assert (p.n_startup_trials, p.n_warmup_steps, p.interval_steps) == (5, 0, 1)
    assert load_sweep(str(write("null"))).pruner is None
    shipped = load_sweep("injection_probs")
    assert shipped.pruner.enabled and shipped.pruner.metric in probes.usable_metrics()


@pytest.mark.parametrize(
    ("pruner", "message"),
    [
        ("{kind: hyperband}", "pruner.kind"),
        ("{kind: median, bogus: 1}", "pruner.bogus: unknown key"),
        ("{kind: percentile}", "needs `percentile`"),
        ("{kind: percentile, percentile: 120}", "pruner.percentile"),
        ("{kind: median, lower: 0.1}", "`lower` applies to kind threshold"),
        ("{kind: threshold}", "needs `lower`, `upper` or both"),
        ("{kind: threshold, lower: 0.5, upper: 0.1}", "must not exceed upper"),
        ("{kind: threshold, upper: 1, n_startup_trials: 2}", "`n_startup_trials` applies to kind median"),
        ("{metric: no_such_metric}", "unknown metric 'no_such_metric'"),
        ("{metric: psnr}", "psnr needs a reference"),
        ("{metric: subject_consistency, backend: tpu}", "unknown backend 'tpu'"),
        ("{clips: 1}", "needs clips >= 2"),
        ("{every: 0}", "pruner.every"),
    ],
)
def test_bad_pruner_sections_name_the_key(write, pruner, message):
    with pytest.raises(ConfigError, match="prunecfg_sweep.yaml") as e:
        load_sweep(str(write(pruner)))
    assert message in str(e.value)


def test_multi_objective_pruning_is_a_config_error_before_anything_runs(write, tmp_path, capsys):
    f = write("{kind: median}", objective=TWO)
    with pytest.raises(ConfigError, match="does not prune multi-objective studies"):
        load_sweep(str(f))
    assert main(["sweep", str(f)]) == 2
    assert "multi-objective" in capsys.readouterr().err
    assert not (tmp_path / "ws" / "mlflow.db").exists() and not (tmp_path / "ws" / "optuna.db").exists()
    assert load_sweep(str(write("{kind: none}", objective=TWO))).pruner.enabled is False  # off: fine


def test_pruning_an_untrained_arm_is_a_config_error(write):
    with pytest.raises(ConfigError, match="train: false"):
        load_sweep(str(write("{kind: median}", arm="base")))


class _Metric:
    def __init__(self, higher_is_better: bool):
        self.higher_is_better = higher_is_better


def test_optuna_pruners_and_the_sign_of_reported_values():
    assert isinstance(make_pruner(None), optuna.pruners.NopPruner)
    assert isinstance(make_pruner(Pruner(kind="none")), optuna.pruners.NopPruner)
    assert isinstance(make_pruner(Pruner(kind="median")), optuna.pruners.MedianPruner)
    assert isinstance(make_pruner(Pruner(kind="percentile", percentile=25)), optuna.pruners.PercentilePruner)

    assert probe_sign(_Metric(True), "maximize") == 1 and probe_sign(_Metric(False), "minimize") == 1
    assert probe_sign(_Metric(False), "maximize") == -1 and probe_sign(_Metric(True), "minimize") == -1
    # threshold bounds are in the metric's units: with negated reports they swap and change sign
    p = Pruner(kind="threshold", lower=0.1, upper=0.3)
    same, flipped = make_pruner(p, 1), make_pruner(p, -1)
    assert (same._lower, same._upper) == (0.1, 0.3) and (flipped._lower, flipped._upper) == (-0.3, -0.1)


def test_reduce_clips_and_ready_probes(tmp_path):
    assert probes.reduce_clips([0.9, 0.8, 0.6], "change") == pytest.approx(-0.3)
    assert probes.reduce_clips([0.9, 0.8, 0.6], "mean") == pytest.approx(0.7667, abs=1e-4)
    assert probes.reduce_clips([0.9, 0.8, 0.6], "last") == 0.6
    assert math.isnan(probes.reduce_clips([0.9, float("nan")], "change"))
    with pytest.raises(ValueError, match="no value for some clip"):
        probes.reduce_clips([0.9, None], "mean")
    for name in ("step_00000004.mp4", "step_00000004.json", "step_00000002.mp4", "step_00000002.json"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "step_00000006.mp4").write_bytes(b"")  # its sidecar is not there yet: not ready
    (tmp_path / "step_00000006.json.tmp").write_bytes(b"")
    assert probes.ready_probes(tmp_path) == [
        (2, tmp_path / "step_00000002.mp4"),
        (4, tmp_path / "step_00000004.mp4"),
    ]
