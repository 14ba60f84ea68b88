"""PSNR / SSIM against a ground-truth video: known answers, scikit-image and torchmetrics, streaming.

Tolerances: in float64 our SSIM equals scikit-image's (same valid-region average) and torchmetrics'
map cropped by 5 pixels to 1e-10; PSNR equals both to 1e-10. torchmetrics' default SSIM (the full
reflect-padded map) differs by the border pixels' share, checked to be small but not zero.
"""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity
from torchmetrics.functional.image import peak_signal_noise_ratio as tm_psnr
from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

from scoring.base import VideoInfo, VideoResult
from scoring.fidelity import PSNR, SSIM, psnr, ssim


def sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """scikit-image's SSIM of two [C, H, W] images on [0, 1] with Wang et al.'s settings, as VBench and
    torchmetrics take them: an 11-tap Gaussian window of sigma 1.5, the population covariance."""
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=0
    )


def _pairs() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Image pairs [N, 3, H, W] float64 in [0, 1]: random, and structured (gradients, edges, blur)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 24, 37, generator=g, dtype=torch.float64)
    noisy = (x + 0.1 * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 64), indexing="ij")
    ramp = torch.stack([xx, yy, (xx + yy) / 2]).double()  # [3, 48, 64]
    checker = ((torch.arange(48)[:, None] // 8 + torch.arange(64)[None] // 8) % 2).double().expand(3, 48, 64)
    structured = torch.stack([ramp, checker, 0.5 * ramp + 0.25 * checker])  # [3, 3, 48, 64]
    shifted = torch.roll(structured, shifts=(2, 3), dims=(2, 3))
    dimmed = 0.8 * structured + 0.05
    return {
        "random": (x, noisy),
        "structured_shift": (structured, shifted),
        "structured_contrast": (structured, dimmed),
        "minimum_size": (x[..., :11, :11], noisy[..., :11, :11]),
    }


def _video(frames: int = 7, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A generated video and its ground truth, [T, 3, 20, 28] float32 in [0, 255]."""
    g = torch.Generator().manual_seed(seed)
    truth = torch.rand(frames, 3, 20, 28, generator=g) * 255
    video = (truth + 20 * torch.randn(truth.shape, generator=g)).clamp(0, 255)
    return video, truth


def _info(frames: int = 7) -> VideoInfo:
    return VideoInfo(name="v", fps=8.0, num_frames=frames, height=20, width=28)


def _score(metric, video, truth, window_frames=(4, 3), chunk=None) -> VideoResult:
    """Feed a video window by window, each window in chunks of `chunk` frames (None: whole window)."""
    acc = metric.new_video(_info(video.shape[0]))
    start = 0
    for size in window_frames:
        step = chunk or size
        for i in range(start, start + size, step):
            end = min(i + step, start + size)
            acc.update(video[i:end], reference=truth[i:end])
        acc.end_window()
        start += size
    return acc.finish()


# ---------------------------------------------------------------------------------------------------
# Known answers
# ---------------------------------------------------------------------------------------------------


def test_psnr_of_offset_is_20_db():
    x = torch.rand(4, 3, 16, 16, dtype=torch.float64) * 0.9
    assert torch.allclose(psnr(x + 0.1, x), torch.full((4,), 20.0, dtype=torch.float64), atol=1e-9)


def test_identical_frames():
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64), atol=1e-12)
    assert torch.isinf(psnr(x, x)).all()  # as torchmetrics and scikit-image


def test_ssim_drops_with_noise():
    x, noisy = _pairs()["random"]
    values = ssim(x, noisy)
    assert ((values > 0) & (values < 0.99)).all()


# ---------------------------------------------------------------------------------------------------
# Agreement with scikit-image and torchmetrics
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(_pairs()))
def test_matches_scikit_image(case):
    x, y = _pairs()[case]
    expected_ssim = [sk_ssim(a.numpy(), b.numpy()) for a, b in zip(x, y)]
    expected_psnr = [sk_psnr(a.numpy(), b.numpy(), data_range=1.0) for a, b in zip(x, y)]
    np.testing.assert_allclose(ssim(x, y).numpy(), expected_ssim, atol=1e-10)
    np.testing.assert_allclose(psnr(x, y).numpy(), expected_psnr, atol=1e-10)


@pytest.mark.parametrize("case", list(_pairs()))
def test_matches_torchmetrics(case):
    x, y = _pairs()[case]
    kwargs = dict(gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1.0, reduction="none")
    full_mean, full_map = tm_ssim(x, y, return_full_image=True, **kwargs)  # [N], [N, 3, H, W]
    # torchmetrics' map on the valid region (crop the 5-pixel reflect-padded border) is ours exactly.
    np.testing.assert_allclose(
        ssim(x, y).numpy(), full_map[..., 5:-5, 5:-5].mean(dim=(1, 2, 3)).numpy(), atol=1e-10
    )
    # Its default also averages the border pixels (share f): the two differ by at most 2 f.
    h, w = x.shape[-2:]
    border_share = 1 - (h - 10) * (w - 10) / (h * w)
    assert (ssim(x, y) - full_mean).abs().max().item() <= 2 * border_share
    expected_psnr = tm_psnr(x, y, data_range=1.0, reduction="none", dim=(1, 2, 3))
    np.testing.assert_allclose(psnr(x, y).numpy(), expected_psnr.numpy(), atol=1e-10)


def test_torchmetrics_border_difference_is_real():
    x, y = _pairs()["structured_shift"]
    full = tm_ssim(x, y, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1.0, reduction="none")
    assert (ssim(x, y) - full).abs().max() > 1e-4


def test_float32_is_close_to_float64():
    x, y = _pairs()["random"]
    np.testing.assert_allclose(ssim(x.float(), y.float()).numpy(), ssim(x, y).numpy(), atol=1e-4)


def test_too_small_frames_are_an_error():
    x = torch.rand(1, 3, 10, 32)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(x, x)


# ---------------------------------------------------------------------------------------------------
# The streaming metrics
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric_cls", [PSNR, SSIM])
def test_video_value_is_the_frame_mean_and_matches_scikit_image(metric_cls):
    video, truth = _video()
    result = _score(metric_cls(), video, truth)
    x, y = video.double().numpy() / 255, truth.double().numpy() / 255
    if metric_cls is SSIM:
        frames = [sk_ssim(a, b) for a, b in zip(x, y)]
    else:
        frames = [sk_psnr(b, a, data_range=1.0) for a, b in zip(x, y)]
    assert result.value == pytest.approx(np.mean(frames), abs=1e-10)
    assert result.windows == pytest.approx([np.mean(frames[:4]), np.mean(frames[4:])], abs=1e-10)
    assert result.extra["frames"] == 7 and result.extra["video_frames"] == 7


@pytest.mark.parametrize("metric_cls", [PSNR, SSIM])
def test_chunking_does_not_change_results(metric_cls):
    video, truth = _video()
    results = [_score(metric_cls(), video, truth, chunk=chunk) for chunk in (1, 3, None)]
    for other in results[1:]:
        assert other.value == pytest.approx(results[0].value, abs=1e-12)
        assert other.windows == pytest.approx(results[0].windows, abs=1e-12)


def test_aggregate_is_the_mean_of_videos():
    metric = SSIM()
    results = [_score(metric, *_video(seed=s)) for s in range(3)]
    assert metric.aggregate(results) == pytest.approx(np.mean([r.value for r in results]), abs=1e-12)
    assert metric.name == "ssim" and PSNR.name == "psnr" and metric.needs_reference_video


def test_identical_frames_are_left_out_of_psnr_means():
    video, truth = _video(frames=4)
    video[0] = truth[0]
    result = _score(PSNR(), video, truth, window_frames=(1, 3))
    assert result.windows[0] == math.inf and math.isfinite(result.windows[1])
    assert result.value == pytest.approx(result.windows[1], abs=1e-12)  # the 3 finite frames
    assert result.extra["identical_frames"] == 1
    same = _score(PSNR(), truth, truth, window_frames=(4,))
    assert same.value == math.inf
    assert PSNR().aggregate([result, same]) == pytest.approx(result.value)
    assert PSNR().aggregate([same]) == math.inf


def test_shorter_ground_truth_is_visible():
    video, truth = _video(frames=7)
    acc = SSIM().new_video(_info(frames=9))  # the generated video has 9 frames, the truth only 7
    acc.update(video, reference=truth)
    result = acc.finish()  # closes the open window
    assert result.extra["frames"] == 7 < result.extra["video_frames"] == 9
    assert len(result.windows) == 1


def test_pairing_errors_say_what_is_wrong():
    video, truth = _video()
    acc = PSNR().new_video(_info())
    with pytest.raises(ValueError, match=r"\(7, 3, 20, 28\) vs \(6, 3, 20, 28\)"):
        acc.update(video, reference=truth[:6])
    with pytest.raises(ValueError, match="reference="):
        acc.update(video)
