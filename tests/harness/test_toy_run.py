"""`harness run` on the toy preset: the toy-world benchmark it writes has true continuations, so the
ground-truth metrics (PSNR, truth_distance) and FVD are scored too, labelled with their backends."""

import pytest
from mlflow.tracking import MlflowClient

from cli import main

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


SMALL = ["train.steps=2", "toy_samples=2", "generate.steps=3"]


def test_toy_talk_and_dance_pretrain_then_svi_end_to_end(home):
    """The conditional track on the toy preset: pretraining the toy MultiTalk / UniAnimate stand-ins,
    then SVI-Talk and SVI-Dance against their bases, scored with Sync-C/D and PSNR / SSIM, reported
    with the published conditional rows beside ours."""
    ws = home / "ws"
    talk = "suites=[{suite: conditional, track: talk, length: 2s}]"
    assert main(["run", "pretrain_toy_talk", *SMALL, talk]) == 0
    (adapter,) = ws.glob("runs/pretrain_toy_talk/adapter/seed0/train/lora.safetensors")
    assert main(["run", "svi_talk", *SMALL, "seeds=[0]", talk, f"condition.weights={adapter}"]) == 0
    report = (ws / "reports" / "svi_talk" / "report.md").read_text()
    assert (
        "| base | 2×1 |" in report
        and "| svi | 2×1 |" in report
        and "SVI-Talk (published; not comparable)" in report
    )  # toy networks
    assert "toy-sync+fixed" in report

    dance = "suites=[{suite: conditional, track: dance, length: 2s}]"
    assert main(["run", "pretrain_toy_dance", *SMALL, dance]) == 0
    (encoder,) = ws.glob("runs/pretrain_toy_dance/encoder/seed0/train/lora.safetensors")
    assert main(["run", "svi_dance", *SMALL, "seeds=[0]", dance, f"condition.weights={encoder}"]) == 0
    c = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    exp = c.get_experiment_by_name("svi_dance")
    runs = {r.data.tags["arm"]: r for r in c.search_runs([exp.experiment_id]) if "arm" in r.data.tags}
    for arm in ("base", "svi"):
        assert 5.0 < runs[arm].data.metrics["conditional_dance_2s/psnr"] < 60.0
    assert "SVI-Dance (published; not comparable)" in (ws / "reports" / "svi_dance" / "report.md").read_text()
