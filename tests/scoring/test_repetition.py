"""Non-repetition (scoring/repetition.py): known answers on hand-made features, frozen, loop and
ping-pong as full repetition, and a toy-world truth that does not repeat, scored with the toy backend."""

import math

import numpy as np
import pytest
import torch

from scoring import references as R
from scoring.base import VideoInfo
from scoring.repetition import (
    REPETITION_GAP,
    NonRepetition,
    nearest_earlier_distance,
    non_repetition,
    window_means,
)

# A frame's feature repeated exactly: 1 - cos(f, f) in float64 is within a few ulps of 0
ROUND_OFF = 8 * np.finfo(np.float64).eps


def _turning(n: int, step: float) -> np.ndarray:
    """[n, 2] unit vectors turning by `step` radians a frame: never repeats within 2 pi / step frames."""
    angle = step * np.arange(n)
    return np.stack([np.cos(angle), np.sin(angle)], axis=1)


def test_nearest_earlier_distance_known_answers():
    # turning features: the closest earlier frame at least `gap` back is the one exactly `gap` back
    step, gap = 0.05, 3
    assert nearest_earlier_distance(_turning(10, step), gap) == pytest.approx([1 - math.cos(gap * step)] * 7)
    a, b, c = np.eye(3)
    seq = np.stack([a, b, a, c, 3 * b])  # frame 2 repeats frame 0; frame 3 is new; frame 4 repeats frame 1
    distances = nearest_earlier_distance(seq, 2)
    assert distances == pytest.approx([0.0, 1.0, 0.0], abs=ROUND_OFF)  # the norm does not count
    assert non_repetition(distances) == pytest.approx(0.0, abs=ROUND_OFF)  # the median
    assert nearest_earlier_distance(seq, 5).shape == (0,) and non_repetition(np.zeros(0)) is None
    with pytest.raises(ValueError, match="at least one frame"):
        nearest_earlier_distance(seq, 0)


def test_the_row_blocks_change_nothing(monkeypatch):
    from scoring import repetition

    feats = np.random.default_rng(0).normal(size=(40, 5))
    whole = nearest_earlier_distance(feats, 4)
    monkeypatch.setattr(repetition, "ROW_BLOCK", 7)
    assert nearest_earlier_distance(feats, 4) == pytest.approx(whole, abs=ROUND_OFF)


def test_window_means_take_each_windows_frames_after_the_gap():
    distances = np.arange(6, dtype=float)  # frames 4 .. 9 with gap 4
    assert window_means(distances, 4, [3, 6, 10]) == [None, pytest.approx(0.5), pytest.approx(3.5)]


@pytest.mark.parametrize("kind", ["frozen", "loop", "pingpong"])
def test_degenerate_references_repeat_fully_and_the_truth_does_not(kind):
    """Features of a 100 s video at 8 fps: the truth turns on (a moving world), the references are
    built from its first 2 s clip of 17 frames (scoring/references.py), as the harness builds them."""
    fps, frames = 8, 800
    gap = round(REPETITION_GAP * fps)
    truth = _turning(frames, 0.003)  # 2.4 rad over the video: nothing comes back
    video = R.build(kind, image=None, clip=truth[:17], frames=frames)
    assert non_repetition(nearest_earlier_distance(video, gap)) == pytest.approx(0.0, abs=ROUND_OFF)
    assert non_repetition(nearest_earlier_distance(truth, gap)) == pytest.approx(1 - math.cos(gap * 0.003))


def test_a_longer_ping_pong_period_leaves_only_its_first_cycle_and_the_median_ignores_it():
    """A ping-pong of a 41-frame clip (period 80 frames, 10 s at 8 fps) with a 5 s gap: frames of the
    first cycle have no exact earlier match, every later frame has one."""
    gap = round(REPETITION_GAP * 8)
    video = R.pingpong(_turning(41, 0.02), 400)
    distances = nearest_earlier_distance(video, gap)
    assert (distances[80 - gap :] <= ROUND_OFF).all() and distances.max() > 0.01
    assert non_repetition(distances) == pytest.approx(0.0, abs=ROUND_OFF)


def test_streaming_reads_the_consistency_features_once_and_gives_window_values():
    """On the consistency dimension's pass: each frame embedded once for both, the formulas' values."""
    from scoring.consistency import SubjectConsistency
    from tests.scoring.test_drift_protocols import MeanColour, _score, _video

    extractor = MeanColour()
    base = SubjectConsistency(extractor)
    metric = NonRepetition("non_repetition", base)
    frames = _video(48, seed=3)  # 12 s at 4 fps: gap 20 frames
    own, result = _score([base, metric], frames, chunk=8)
    assert extractor.frames == 48
    features = (frames.mean(dim=(2, 3)) - 127.5).double().numpy()
    distances = nearest_earlier_distance(features, 20)
    assert result.value == pytest.approx(float(np.median(distances)))
    assert result.windows == pytest.approx(window_means(distances, 20, list(range(8, 49, 8))))
    still = frames[:1].expand(48, -1, -1, -1)
    assert _score([base, metric], still)[1].value == pytest.approx(0.0, abs=1e-6)
    short = NonRepetition("non_repetition", SubjectConsistency(MeanColour())).new_video(
        VideoInfo("v", 4.0, 20, 8, 8)
    )
    short.update(frames[:20])
    result = short.finish()
    assert result.value is None and "not longer than the 5 s gap" in result.extra["reason"]


def test_toy_world_truth_against_its_references_on_the_toy_backend(tmp_path):
    """A toy-world continuation (15 s at 8 fps) and its frozen, loop and ping-pong references of its first
    2 s clip, encoded as the harness encodes them and scored with the toy backend end to end. The loop's
    frames 40-50 and the ping-pong's 40-63 have no exact repeat 5 s (40 frames) back yet, every later
    frame has one: the median is an exact repeat's. Features of equal frames embedded in other batches
    differ by float32 round-off, about 1e-6 in cosine."""
    from scoring.score import build_metrics, score_suite
    from svi.video_io import write_segment
    from toyworld.world import render, sample_scene

    fps, frames = 8, 120
    truth = render(sample_scene(3), 0, frames)  # uint8 [120, 64, 64, 3]
    write_segment(tmp_path / "truth.mp4", truth, fps)
    for kind in R.BUILT:
        video = R.build(kind, image=None, clip=truth[:17], frames=frames)
        write_segment(tmp_path / f"{kind}.mp4", video, fps, intra_only=True)
    try:
        report = score_suite(
            sorted(tmp_path.glob("*.mp4")), "non_repetition", backend="toy", window="2s", progress=False
        )
    finally:
        build_metrics.cache_clear()
    assert report["unavailable"] == {} and report["backends"]["non_repetition"] == "toy-encoder"
    value = {v["video"]: v["scores"]["non_repetition"] for v in report["videos"]}
    windows = {v["video"]: v["window_scores"]["non_repetition"] for v in report["videos"]}
    assert all(value[k] == pytest.approx(0.0, abs=1e-5) for k in R.BUILT)
    assert value["truth"] > 1e-3
    # the injection_probs sweep's bound sits between them, a factor of ten from each
    from sweeps.study import load_sweep

    bounds = [
        c.min for c in load_sweep("injection_probs").constraints if c.metric.endswith("/non_repetition")
    ]
    assert bounds and value["truth"] > 10 * bounds[0] > 100 * max(value[k] for k in R.BUILT)
    assert all(w == pytest.approx(0.0, abs=1e-5) for k in R.BUILT for w in windows[k][4:])  # from 8 s on
    assert windows["truth"][:2] == [None, None] and windows["truth"][2] > 0  # frames 40.. are measured
    assert torch.isfinite(torch.tensor(windows["truth"][2:])).all()
