"""`pan` and `truth_alt` built and scored as references of a toy experiment end to end
(harness/run/reference_units.py): K draws a sample in the draws layout, draw 0 scored like any video,
truth_alt against the truth; an experiment that does not list them builds what it built before."""

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from cli import main
from harness.declare.experiment import Experiment
from harness.declare.plan import make_plan
from harness.run.reference_units import reference_key, source_unit, wanted
from scoring import references as R
from scoring.energy import draw_paths

EXPERIMENT = """
name: toy_drawn
description: the committed toy base model, 2 draws a sample, with every reference, pan and truth_alt among them
config:
  variant: shot
  model: {{preset: toy}}
  generate: {{steps: 2}}
arms:
  base: {{train: false, role: baseline}}
seeds: [0]
suites: [{{suite: consistent, length: 4s}}]
metrics: truth_distance,colour_shift,energy
draws: 2
metrics_backend: toy
toy_samples: 1
references: [{references}]
reference_draws: 3
"""


@pytest.mark.slow
def test_pan_and_truth_alt_are_scored_beside_the_arm(home):
    every = ", ".join([R.FROZEN, R.LOOP, R.PINGPONG, R.TRUTH, R.PAN, R.TRUTH_ALT])
    (home / "toy_drawn.yaml").write_text(EXPERIMENT.format(references=every))
    assert main(["run", str(home / "toy_drawn.yaml")]) == 0
    c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
    exp = c.get_experiment_by_name("toy_drawn")
    runs = {r.data.tags.get("arm"): r.data.metrics for r in c.search_runs([exp.experiment_id])}
    for kind in (R.PAN, R.TRUTH_ALT):
        assert runs[kind]["consistent_4s/truth_distance"] > 0.0, kind  # scored against the truth
        assert "consistent_4s/colour_shift" in runs[kind]
    # another true future is nearer the truth than the first frame panned at a random camera
    assert runs[R.TRUTH_ALT]["consistent_4s/truth_distance"] < runs[R.PAN]["consistent_4s/truth_distance"]
    assert "consistent_4s/truth_distance" not in runs[R.TRUTH]  # the truth is not scored against itself
    # the energy score: the base's 2 draws and the drawn references have a spread; a deterministic
    # reference scores its distance (the same frames, summed in another order: rel 1e-9)
    for arm in ("base", R.PAN, R.TRUTH_ALT):
        assert runs[arm]["consistent_4s/energy_spread"] > 0.0, arm
        m = runs[arm]
        assert m["consistent_4s/energy_score"] == pytest.approx(
            m["consistent_4s/energy_accuracy"] - m["consistent_4s/energy_spread"], rel=1e-9
        )
    for arm in (R.FROZEN, R.LOOP, R.PINGPONG):
        assert runs[arm]["consistent_4s/energy_spread"] == 0.0
        assert runs[arm]["consistent_4s/energy_score"] == pytest.approx(
            runs[arm]["consistent_4s/truth_distance"], rel=1e-9
        )
    (base_video,) = [p for p in (home / "ws" / "runs").rglob("toy_000.mp4") if "draws" not in p.parts]
    assert len(draw_paths(base_video)) == 2  # the video and its second draw beside it
    # K draws a sample in the draws layout; frame 0 of each is the truth's first frame (lossy H.264)
    from svi.video_io import read_frames

    (truth,) = (home / "ws" / "data").glob("toyworld_benchmark_*/truth/*/toy_000_33.mp4")
    first = read_frames(truth, max_frames=1)[0].astype(float)
    for kind in (R.PAN, R.TRUTH_ALT):
        (video,) = (home / "ws" / "cache" / "references").glob(f"*/consistent_4s/videos/{kind}/toy_000.mp4")
        draws = [read_frames(p) for p in draw_paths(video)]
        assert len(draws) == 3 and all(len(d) == 33 for d in draws)
        assert all(np.abs(d[0] - first).mean() < 3 for d in draws), kind
        assert not np.array_equal(draws[1], draws[2])


def test_an_experiment_that_does_not_list_them_builds_what_it_built_before(tmp_path):
    """The default references are the four they were; adding pan and truth_alt changes no other
    reference's key, and reference_draws is a key of the drawn ones alone."""
    import yaml

    spec = yaml.safe_load(EXPERIMENT.format(references=R.PAN))
    del spec["references"], spec["reference_draws"]
    plain = Experiment(**spec)
    assert plain.reference_kinds == list(R.REFERENCES) and plain.reference_draws == R.REFERENCE_DRAWS
    both = Experiment(**{**spec, "references": [*R.REFERENCES, R.PAN, R.TRUTH_ALT], "reference_draws": 3})
    p1, p2 = make_plan(plain, "test"), make_plan(both, "test")
    source = source_unit(p1)
    assert [reference_key(p1, source, k) for k in R.REFERENCES] == [
        reference_key(p2, source_unit(p2), k) for k in R.REFERENCES
    ]
    again = make_plan(Experiment(**{**spec, "references": [R.PAN], "reference_draws": 5}), "test")
    assert reference_key(again, source_unit(again), R.PAN) != reference_key(p2, source_unit(p2), R.PAN)
    assert wanted(p1)[1] == [*R.REFERENCES, R.RESCORE]
