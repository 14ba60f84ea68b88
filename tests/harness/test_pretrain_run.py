"""`harness run pretrain_toy` with a shortened schedule, end to end, read back through MLflow."""

import pytest
from mlflow.tracking import MlflowClient

from cli import main
from svi.config import ModelConfig
from svi.model.backbone import load_backbone

pytestmark = pytest.mark.slow

SHORT = [
    "world.clips=4",
    "pretrain.vae.phases=[{steps: 1, num_frames: 5, batch: 2}, {steps: 1, num_frames: 17, batch: 1}]",
    "pretrain.vae.stats_clips=2",
    "pretrain.dit.steps=3",
    "pretrain.dit.batch=2",
    "pretrain.dit.warmup_steps=1",
    "evaluate.samples=1",
]


def test_pretrain_toy_short_schedule_end_to_end(home, capsys):
    assert main(["run", "pretrain_toy", *SHORT]) == 0
    out = capsys.readouterr().out
    model = home / "ws" / "runs" / "pretrain_toy" / "pretrain" / "model"
    assert f"model.weights={model}" in out
    # the result is a loadable toy preset folder
    bb = load_backbone(ModelConfig(preset="toy", weights=str(model)))
    assert bb.preset == "toy"

    c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
    exp = c.get_experiment_by_name("pretrain_toy")
    (run,) = c.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["dit.steps"] == "3" and run.data.params["world.clips"] == "4"
    assert [m.step for m in c.get_metric_history(run.info.run_id, "dit/loss")] == [1, 2, 3]
    for key in (
        "eval/psnr",
        "eval/ssim",
        "eval/psnr_still_frame",
        "eval/psnr_vae_roundtrip",
        "eval/psnr_vae_frame0",
        "eval/psnr_vae_last_frame",
    ):
        assert key in run.data.metrics
    artifacts = {a.path for a in c.list_artifacts(run.info.run_id, "model")}
    assert {"model/transformer", "model/vae", "model/tokenizer"} <= artifacts

    # A second invocation skips the finished pretraining stage.
    assert main(["run", "pretrain_toy", *SHORT]) == 0
    out = capsys.readouterr().out
    assert "pretrain: skipped (done)" in out and "evaluate: skipped (done)" in out


def test_pretrain_bad_override_exits_2(home, capsys):
    assert main(["run", "pretrain_toy", "pretrain.dit.stepz=3"]) == 2
    assert "stepz" in capsys.readouterr().err
