"""Pruning a sweep trial while it generates (harness/run/probe_watch.py GenerationWatcher): every few
rounds the clips so far are scored, reported to a real Optuna study, and a losing trial stops with its
videos part-way and its intermediate values kept."""

import math

import optuna
import pytest
import torch

from harness import tracking
from harness.run import probe_watch as probes
from svi.config import GenerateConfig
from svi.generation.generator import LongVideoGenerator
from svi.generation.video import VideoJob, fixed_prompts
from svi.model.backbone import build_tiny


class Pruned(Exception):
    def __init__(self, message, tags):
        super().__init__(message)
        self.tags = tags


def _jobs(tmp_path, n=2, clips=6):
    return [
        VideoJob(
            image=(lambda s=s: torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(s)) * 2 - 1),
            prompts=fixed_prompts(["p"] * clips),
            out_path=tmp_path / f"v{s}.mp4",
            num_clips=clips,
        )  # fmt: skip
        for s in range(n)
    ]


@pytest.mark.parametrize("prune", [True, False])
def test_a_trial_is_scored_while_it_generates_and_stops_when_pruned(home, tmp_path, prune):
    c = tracking.client()
    run_id = c.create_run(tracking.ensure_experiment(c, "gen_prune")).info.run_id
    pruner = optuna.pruners.ThresholdPruner(lower=1e9 if prune else -1e9)  # below 1e9: always pruned
    trial = optuna.create_study(pruner=pruner).ask()
    metric = probes.build_metric("colour_shift", "toy")
    watcher = probes.GenerationWatcher(trial, metric, 1, "change", "test", Pruned, offset=100, every=2)
    gen = LongVideoGenerator(
        build_tiny(), GenerateConfig(num_frames=9, height=32, width=32, steps=1, batch_size=2)
    )
    jobs = _jobs(tmp_path)
    if prune:
        with pytest.raises(Pruned) as e:
            gen.generate_batch(jobs, progress=False, on_round=lambda videos: watcher(run_id, "t", videos))
        assert e.value.tags["pruned_clip"] == "2" and e.value.tags["pruned_step"] == "101"
        assert not (tmp_path / "v0.mp4").exists() and (tmp_path / "v0.parts").is_dir()  # part-way, resumable
        history = c.get_metric_history(run_id, "probe/colour_shift")
        assert [m.step for m in history] == [101]
    else:
        gen.generate_batch(jobs, progress=False, on_round=lambda videos: watcher(run_id, "t", videos))
        history = c.get_metric_history(run_id, "probe/colour_shift")
        assert [m.step for m in history] == [101, 102, 103]  # clips 2, 4 and 6 of 6
        assert (tmp_path / "v0.mp4").is_file()
    assert trial.storage.get_trial(trial._trial_id).intermediate_values  # kept in the study
    assert all(math.isfinite(m.value) for m in history)
