"""Known answers of the direct drift measures (colour shift, sharpness loss, distance to the truth)."""

import math

import pytest
import torch
import torch.nn.functional as F

from scoring import drift
from scoring.base import VideoInfo


def _textured(t: int = 4, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    """Frames [t, 3, h, w] float 0-255 with edges everywhere, kept inside [30, 225]."""
    g = torch.Generator().manual_seed(seed)
    return 30 + 195 * torch.rand(t, 3, h, w, generator=g)


def _blur(frames: torch.Tensor) -> torch.Tensor:
    """3x3 box blur per channel (replicate padding)."""
    kernel = torch.full((3, 1, 3, 3), 1 / 9)
    return F.conv2d(F.pad(frames, (1, 1, 1, 1), mode="replicate"), kernel, groups=3)


def _run(metric, windows, references=None):
    """Feed windows (lists of [T, 3, H, W]) through one accumulator in chunks of 3 frames."""
    info = VideoInfo("v", 8.0, sum(len(w) for w in windows), windows[0].shape[2], windows[0].shape[3])
    acc = metric.new_video(info)
    curve = []
    for k, frames in enumerate(windows):
        for s in range(0, len(frames), 3):
            ref = references[k][s : s + 3] if references is not None else None
            acc.update(frames[s : s + 3], reference=ref)
        curve.append(acc.end_window())
    return curve, acc.finish()


# -- pure formulas ---------------------------------------------------------------------------------


def test_mean_rgb_and_colour_shift_formula():
    frames = torch.zeros(2, 3, 4, 4)
    frames[:, 0] = 255.0  # pure red
    assert drift.mean_rgb(frames).tolist() == pytest.approx([1.0, 0.0, 0.0])
    ref = torch.tensor([0.2, 0.4, 0.6], dtype=torch.float64)
    assert drift.colour_shift(ref, ref) == 0.0
    assert drift.colour_shift(ref, ref + 0.1) == pytest.approx(0.1)  # uniform offset -> the offset
    assert drift.colour_shift(ref, ref + torch.tensor([0.3, 0.0, 0.0])) == pytest.approx(0.3 / math.sqrt(3))
    black, white = torch.zeros(3), torch.ones(3)
    assert drift.colour_shift(black, white) == pytest.approx(1.0)  # the maximum


def test_sharpness_formula():
    flat = torch.full((2, 3, 8, 8), 100.0)
    assert drift.sharpness(flat) == 0.0
    # A vertical step edge in luma from 0 to 1: the Laplacian is +-1 on the two columns beside it.
    step = torch.zeros(1, 3, 6, 6)
    step[..., 3:] = 255.0
    # valid region is 4x4; columns 2 and 3 (valid columns 1, 2) carry +1 and -1
    assert drift.sharpness(step) == pytest.approx(2 * 4 / 16)
    assert drift.sharpness_loss(2.0, 2.0) == 0.0
    assert drift.sharpness_loss(2.0, 0.5) == pytest.approx(0.75)
    assert drift.sharpness_loss(2.0, 3.0) == pytest.approx(-0.5)  # sharper than the first window
    assert drift.sharpness_loss(0.0, 1.0) is None


def test_mean_abs_error_formula():
    a = torch.full((3, 3, 4, 4), 100.0)
    assert drift.mean_abs_error(a, a).tolist() == [0.0, 0.0, 0.0]
    assert drift.mean_abs_error(a + 25.5, a).tolist() == pytest.approx([0.1] * 3)
    with pytest.raises(ValueError, match="differ in shape"):
        drift.mean_abs_error(a, a[:, :, :2])


# -- streaming metrics -----------------------------------------------------------------------------


def test_colour_shift_identical_windows_is_zero():
    frames = _textured(5)
    curve, result = _run(drift.ColourShift(), [frames, frames.clone(), frames.clone()])
    assert curve == [0.0, 0.0, 0.0]
    assert result.value == 0.0 and result.windows == curve


def test_colour_shift_of_an_offset_window():
    frames = _textured(4)
    curve, result = _run(drift.ColourShift(), [frames, frames, frames + 25.5])  # +0.1 in window 3
    assert curve[0] == 0.0 and curve[1] == pytest.approx(0.0, abs=1e-12)
    assert curve[2] == pytest.approx(0.1)
    assert result.value == pytest.approx(0.05)  # mean over the windows after the first
    assert result.extra["last_window"] == pytest.approx(0.1)
    metric = drift.ColourShift()
    assert metric.higher_is_better is False and metric.backend == drift.BACKEND_DIRECT


def test_sharpness_loss_of_a_blurred_window():
    frames = _textured(4)
    curve, result = _run(drift.SharpnessLoss(), [frames, _blur(frames), _blur(_blur(frames))])
    assert curve[0] == 0.0
    assert 0.0 < curve[1] < curve[2] < 1.0  # blurrier later windows lose more sharpness
    assert result.value == pytest.approx((curve[1] + curve[2]) / 2)


def test_one_window_video_has_no_drift_value():
    curve, result = _run(drift.SharpnessLoss(), [_textured(4)])
    assert curve == [0.0] and result.value is None


def test_truth_distance_known_answers():
    truth = _textured(6)
    curve, result = _run(drift.TruthDistance(), [truth[:3], truth[3:]], references=[truth[:3], truth[3:]])
    assert curve == [0.0, 0.0] and result.value == 0.0
    off = [truth[:3] + 25.5, truth[3:] + 25.5]
    curve, result = _run(drift.TruthDistance(), off, references=[truth[:3], truth[3:]])
    assert curve == pytest.approx([0.1, 0.1]) and result.value == pytest.approx(0.1)
    assert drift.TruthDistance.needs_reference_video


def test_truth_distance_needs_the_ground_truth():
    acc = drift.TruthDistance().new_video(VideoInfo("v", 8.0, 3, 8, 8))
    with pytest.raises(ValueError, match="reference="):
        acc.update(torch.zeros(3, 3, 8, 8))


def test_chunking_does_not_change_the_curve():
    frames = _textured(8)
    windows = [frames[:4], frames[4:] * 0.8]
    curve_a, _ = _run(drift.ColourShift(), windows)
    acc = drift.ColourShift().new_video(VideoInfo("v", 8.0, 8, 32, 32))
    for f in frames[:4]:
        acc.update(f[None])
    b0 = acc.end_window()
    acc.update(windows[1])
    assert [b0, acc.end_window()] == pytest.approx(curve_a)
