"""benchmarks/toyworld/eimg_diagnostic.py: the statistics it compares, on known answers."""

import math
import tempfile
from pathlib import Path

import numpy as np
import torch

from benchmarks.toyworld.eimg_diagnostic import (
    banked_errors,
    compare,
    error_stats,
    rms_per_clip,
    rollout_errors,
    round_trip_errors,
)
from scoring import suites
from svi import flow
from svi.config import build_config
from svi.training.memory import ReplayMemory
from toyworld.writers import true_video, write_benchmark


def test_error_stats_known_answers():
    e = torch.zeros(4, 2, 3, 2, 2)
    e[:, 0] = 3.0
    e[:, 1] = -4.0
    s = error_stats(e)
    assert s["n"] == 4
    assert s["channel_mean"] == [3.0, -4.0] and s["channel_rms"] == [3.0, 4.0]
    assert math.isclose(s["rms"], math.sqrt((9 + 16) / 2))


def test_compare_same_direction_and_scale():
    a = error_stats(torch.randn(50, 16, 1, 2, 2) + torch.linspace(-1, 1, 16).view(1, 16, 1, 1, 1))
    c = compare(a, a)
    assert math.isclose(c["rms_ratio_banked_over_inference"], 1.0)
    assert math.isclose(c["channel_mean_cosine"], 1.0, rel_tol=1e-6)
    flipped = {**a, "channel_mean": [-x for x in a["channel_mean"]]}
    assert math.isclose(compare(a, flipped)["channel_mean_cosine"], -1.0, rel_tol=1e-6)


def test_banked_errors_reads_the_clean_bank(tmp_path):
    shape = (2, 1, 2, 2)
    mem = ReplayMemory(shape, flow.shifted_sigmas(5), capacity=3, budget_bytes=1 << 20, dtype=torch.float32)
    for s in flow.shifted_sigmas(5)[:2]:
        mem.bank(float(s), torch.full(shape, 1.0), torch.full(shape, 2.0))
    mem.save(tmp_path / "replay_rank0.pt")
    errors = banked_errors(tmp_path / "replay_rank0.pt")
    assert errors.shape == (2, *shape) and torch.all(errors == 2.0)


class _ShiftingVAE:
    """Encode is the identity on a one-frame video; every decode adds 0.1: k round trips are off by 0.1 k."""

    def encode_video(self, video):
        return video.clone()

    def decode_latents(self, latents):
        return latents + 0.1


def test_round_trip_errors_accumulate_per_trip():
    frames = torch.zeros(3, 3, 4, 4)
    errors = round_trip_errors(_ShiftingVAE(), frames, trips=4)
    assert list(errors) == [1, 2, 3, 4]
    for k, e in errors.items():
        assert e.shape == (3, 3, 1, 4, 4)
        torch.testing.assert_close(e, torch.full_like(e, 0.1 * k))


def test_rms_per_clip_groups_by_clip():
    errors = torch.tensor([[1.0], [3.0], [2.0]], dtype=torch.float64)
    assert rms_per_clip(errors, [1, 1, 2]) == {1: math.sqrt(5.0), 2: 2.0}


def test_latent_rollout_compares_the_carried_latents_with_the_truth_where_each_clip_ends():
    """Latent chaining (toy: 17-frame clips, M = 1 carried latent, so 1 + 4 restated frames): clip 0
    ends at frame 16 and clip 1, which adds 17 - 5 = 12 new frames, at 28; the truth of each hand-off is
    the window ending there, and its error has the carried latents' shape."""
    errors, clip_of, trues = rollout_errors(samples=1, clips=3, seed=0, chaining="latent")
    assert clip_of == [1, 2]
    assert errors.shape == (2, 16, 1, 8, 8) and torch.isfinite(errors).all()
    g = build_config({"variant": "shot", "model": {"preset": "toy"}}).generate
    # the rollout's benchmark is written from fixed parameters: the same sample 0 here
    with tempfile.TemporaryDirectory() as tmp:
        root = write_benchmark(
            Path(tmp) / "bench", num_consistent=1, num_creative=0, size=(g.height, g.width),
            story_clips=3, clip_frames=g.num_frames, overlap=g.motion_frames, progress=False,
        )  # fmt: skip
        sample = suites.load_samples(suites.suite_folder(root, "consistent", "50s"))[0][0]
        truth = true_video(sample.image.parent, 29)
    for frame, t in zip(trues, (16, 28)):
        expected = torch.from_numpy(np.ascontiguousarray(truth[t])).permute(2, 0, 1).float() / 127.5 - 1
        torch.testing.assert_close(frame, expected)
