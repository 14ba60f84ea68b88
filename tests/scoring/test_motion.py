"""Known answers for dynamic degree, motion smoothness and imaging quality (docs/method.md §8), streamed."""

import pytest
import torch

from scoring.base import VideoInfo
from scoring.motion import (
    DynamicDegree,
    ImagingQuality,
    MotionSmoothness,
    dynamic_count,
    dynamic_threshold,
    limit_longer_side,
    sample_interval,
    top_flow_magnitude,
)


def _run(metric, video, chunk, fps=16.0, windows=None):
    n, _, h, w = video.shape
    acc = metric.new_video(VideoInfo("v", fps, n, h, w))
    values = []
    bounds = windows or [(0, n)]
    for a, b in bounds:
        for s in range(a, b, chunk):
            acc.update(video[s : min(s + chunk, b)])
        values.append(acc.end_window())
    res = acc.finish()
    return res, values


def test_dynamic_degree_constants():
    assert dynamic_threshold(256, 512) == 6.0
    assert dynamic_threshold(480, 832) == pytest.approx(6 * 480 / 256)
    assert dynamic_count(16) == 4
    assert sample_interval(16) == 2 and sample_interval(8) == 1 and sample_interval(24) == 3


def test_top_five_percent_of_flow_magnitudes():
    flow = torch.zeros(1, 2, 10, 10)
    flow[0, 0, 0, :5] = 6.0
    flow[0, 1, 0, :5] = 8.0  # magnitude 10 on 5 of 100 pixels = the top 5%
    assert top_flow_magnitude(flow).item() == pytest.approx(10.0)


def _shift_flow(a, b):
    """A flow 'model' for the test: uniform horizontal flow equal to the brightness change."""
    d = (b - a).mean(dim=(1, 2, 3))  # [N]
    flow = torch.zeros(a.shape[0], 2, *a.shape[-2:])
    flow[:, 0] = d.view(-1, 1, 1)
    return flow


def test_dynamic_degree_counts_moving_pairs():
    # 32 frames at 16 fps: 16 sampled frames, 15 pairs, threshold 6.0 at 256 px, need 4 pairs above it.
    steps = torch.zeros(32)
    steps[[2, 4, 6, 8]] = 10.0  # four jumps between sampled frames (indices 0, 2, 4, ...)
    brightness = steps.cumsum(0)
    video = brightness.view(-1, 1, 1, 1).expand(32, 3, 256, 256).clone()
    metric = DynamicDegree(_shift_flow, backend="test")
    res, _ = _run(metric, video, chunk=5)
    assert res.extra["pairs"] == 15 and res.extra["pairs_over_threshold"] == 4 and res.value == 1.0
    steps[8] = 0.0  # three jumps: not dynamic
    video = steps.cumsum(0).view(-1, 1, 1, 1).expand(32, 3, 256, 256).clone()
    res, _ = _run(metric, video, chunk=7)
    assert res.value == 0.0
    assert metric.aggregate([res, _run(metric, video * 0, chunk=32)[0]]) == 0.0


@pytest.mark.bitwise(
    "the value is a ratio of integer counts of frame pairs over a threshold, each pair's flow computed alone whatever the chunk"
)
def test_dynamic_degree_is_chunk_invariant():
    g = torch.Generator().manual_seed(0)
    video = (torch.rand(30, 3, 64, 64, generator=g) * 255).round()
    metric = DynamicDegree(_shift_flow, backend="test")
    ref, ref_w = _run(metric, video, chunk=30, windows=[(0, 12), (12, 30)])
    for chunk in (1, 4):
        res, w = _run(metric, video, chunk=chunk, windows=[(0, 12), (12, 30)])
        assert res.value == ref.value and res.extra == ref.extra
        assert w == pytest.approx(ref_w)


def _average(a, b):
    return (a + b) / 2


def test_perfect_interpolation_gives_motion_smoothness_one():
    ramp = torch.arange(11.0).mul(20).view(-1, 1, 1, 1).expand(11, 3, 8, 8).clone()
    res, _ = _run(MotionSmoothness(_average, backend="test"), ramp, chunk=3)
    assert res.value == 1.0


def test_motion_smoothness_known_error_and_chunking():
    # Frames alternate 0, 100: predicting every odd frame from its even neighbours gives 0 -> error 100.
    video = torch.tensor([0.0, 100.0] * 5 + [0.0]).view(-1, 1, 1, 1).expand(11, 3, 4, 4).clone()
    metric = MotionSmoothness(_average, backend="test")
    for chunk in (1, 2, 3, 11):
        res, _ = _run(metric, video, chunk=chunk)
        assert res.value == pytest.approx((255 - 100) / 255)


def test_imaging_quality_divides_by_100_and_limits_size():
    seen = []

    def mean_quality(x):  # [N, 3, H, W] in [0, 1] -> "MUSIQ" 0-100
        seen.append(tuple(x.shape[-2:]))
        return x.mean(dim=(1, 2, 3)) * 100

    video = torch.full((4, 3, 600, 1024), 127.5)
    metric = ImagingQuality(mean_quality, backend="test")
    res, windows = _run(metric, video, chunk=3, windows=[(0, 2), (2, 4)])
    assert res.value == pytest.approx(0.5) and res.extra["musiq_mean"] == pytest.approx(50.0)
    assert windows == pytest.approx([0.5, 0.5])
    assert seen[0] == (300, 512)  # longer side 1024 -> 512
    assert limit_longer_side(torch.zeros(1, 3, 100, 200)).shape[-2:] == (100, 200)
