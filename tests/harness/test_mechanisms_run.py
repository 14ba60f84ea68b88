"""Every long-video mechanism through `harness run` (slow): the training mechanisms (`forcing`) and the
inference strategies (`generate.strategy`) as arms of one tiny experiment, the shape of the shipped
`mechanisms` experiment, each trained, generated, scored, logged and in the report."""

import pytest
from mlflow.tracking import MlflowClient

from cli import main
from tests.harness.mini import mini_experiment

pytestmark = pytest.mark.slow

ARMS = {  # arm -> (trains, forcing.kind or None, generate.strategy)
    "diffusion_forcing": (True, "diffusion", "rolling"),
    "self_forcing": (True, "self", "chain"),
    "diffusion_forcing_erft": (True, "diffusion", "chain"),
    "framepack": (False, None, "framepack"),
    "freenoise": (False, None, "freenoise"),
    "history": (False, None, "history_guidance"),
}
MORE_ARMS = """\
  diffusion_forcing: {overrides: {forcing.kind: diffusion, erft.mode: plain, generate.strategy: rolling}}
  self_forcing: {overrides: {forcing.kind: self, erft.mode: plain}}
  diffusion_forcing_erft: {overrides: {forcing.kind: diffusion}}
  framepack: {train: false, overrides: {generate.strategy: framepack, generate.chaining: latent}}
  freenoise: {train: false, overrides: {generate.strategy: freenoise}}
  history: {train: false, overrides: {generate.strategy: history_guidance}}
"""


def test_every_mechanism_runs_as_an_arm_and_reaches_the_report(home):
    (home / "mech.yaml").write_text(
        mini_experiment(
            "mech_mini", "the mechanisms side by side", more_arms=MORE_ARMS, steps=2, checkpoint_every=2
        )
    )
    assert main(["run", str(home / "mech.yaml")]) == 0
    c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
    exp = c.get_experiment_by_name("mech_mini")
    runs = {
        r.data.tags.get("arm"): r
        for r in c.search_runs([exp.experiment_id])
        if r.data.tags.get("arm") and r.data.tags.get("role") != "reference"  # the references beside them
    }
    assert set(runs) == {"base", "full", *ARMS}
    for arm, (trains, forcing, strategy) in ARMS.items():
        run = runs[arm]
        assert run.info.status == "FINISHED", arm
        assert run.data.params["generate.strategy"] == strategy, arm
        assert run.data.params.get("forcing.kind") == forcing, arm  # absent without a forcing
        assert ("train/loss" in run.data.metrics) == trains, arm
        assert "consistent_1s/subject_consistency" in run.data.metrics, arm
    assert (
        runs["self_forcing"].data.metrics["train/self_forcing_fallback"] == 0.0
    )  # every clip had one before
    assert runs["base"].data.params["generate.strategy"] == "chain"  # a param of every arm, default chain
    report = (home / "ws" / "reports" / "mech_mini" / "report.md").read_text()
    for arm in ARMS:
        assert f"| {arm} |" in report, arm
