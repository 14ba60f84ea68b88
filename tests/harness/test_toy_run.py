"""`harness run` on the toy preset: the toy-world benchmark it writes has true continuations, so the
ground-truth metrics (PSNR, truth_distance) and FVD are scored too, labelled with their backends."""

import pytest
from mlflow.tracking import MlflowClient

from harness.cli import main

pytestmark = pytest.mark.slow

EXPERIMENT = """
name: toy_mini
description: the committed toy base model on one toy-world sample per track
config:
  variant: shot
  model: {preset: toy}
  generate: {steps: 3}
arms:
  base: {train: false, role: baseline}
seeds: [0]
suites: [{suite: consistent, length: 4s}, {suite: creative, length: 4s}]
metrics: psnr,truth_distance,colour_shift,fvd,subject_consistency
metrics_backend: toy
toy_samples: 1
"""


@pytest.fixture()
def home(home):
    (home / "toy_mini.yaml").write_text(EXPERIMENT)
    return home


def test_toy_run_scores_against_the_true_continuation(home):
    assert main(["run", str(home / "toy_mini.yaml")]) == 0
    c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
    exp = c.get_experiment_by_name("toy_mini")
    (run,) = [r for r in c.search_runs([exp.experiment_id]) if r.data.tags.get("arm") == "base"]
    m, tags = run.data.metrics, run.data.tags
    assert tags["preset"] == "toy"
    for suite in ("consistent_4s", "creative_4s"):
        # 4 s at 8 fps with 17-frame clips and 1 carried frame: 2 clips, 33 frames.
        assert 5.0 < m[f"{suite}/psnr"] < 60.0
        assert 0.0 <= m[f"{suite}/truth_distance"] <= 1.0
        assert f"{suite}/fvd" in m and f"{suite}/colour_shift" in m
        curve = c.get_metric_history(run.info.run_id, f"drift/{suite}/truth_distance")
        assert sorted(p.step for p in curve) == [0, 1]
    assert tags["metric_backend.subject_consistency"].startswith("toy")
    truth = list((home / "ws" / "data").glob("toyworld_benchmark_*/truth/*/toy_000_33.mp4"))
    assert len(truth) == 2  # one true continuation per track, as long as the generated video
