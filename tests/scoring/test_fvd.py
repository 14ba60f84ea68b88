"""FVD: Fréchet distance known answers, streaming clips and windows, the I3D stand-in, loading errors."""

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from scoring.base import VideoInfo, VideoResult
from scoring.fvd import (
    FVD,
    ReferenceStats,
    feature_stats,
    features_of,
    frechet_distance,
    frechet_from_features,
    fvd_per_window,
    trace_sqrt_product,
)
from scoring.i3d import build_random_i3d, default_i3d_path, load_i3d

# ---------------------------------------------------------------------------------------------------
# Fréchet distance
# ---------------------------------------------------------------------------------------------------


def _random_spd(d: int, rng: np.random.Generator, rank: int | None = None) -> np.ndarray:
    a = rng.standard_normal((d, rank or d))
    return a @ a.T / d + (0 if rank else 1e-3 * np.eye(d))


def test_identical_sets_give_zero():
    features = np.random.default_rng(0).standard_normal((500, 16))
    assert frechet_from_features(features, features) == pytest.approx(0.0, abs=1e-6)
    wide = np.random.default_rng(0).standard_normal((100, 400))
    with pytest.warns(UserWarning):  # 100 samples < 400 dims: singular covariance
        assert frechet_from_features(wide, wide) == pytest.approx(0.0, abs=1e-6)


def test_unit_shift_of_standard_normals_gives_16():
    d = 16
    assert frechet_distance(np.zeros(d), np.eye(d), np.ones(d), np.eye(d)) == pytest.approx(16.0, abs=1e-9)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((20_000, d))
    b = rng.standard_normal((20_000, d)) + 1.0
    assert frechet_from_features(a, b) == pytest.approx(16.0, abs=0.3)


@pytest.mark.parametrize("rank", [None, 5])
def test_eigen_trace_sqrt_matches_scipy_sqrtm(rank):
    rng = np.random.default_rng(2)
    for _ in range(3):
        s1, s2 = _random_spd(40, rng, rank), _random_spd(40, rng)
        expected = np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
        assert trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-7)
        mu1, mu2 = rng.standard_normal(40), rng.standard_normal(40)
        reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * expected
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-7)


@pytest.mark.parametrize("n", [8, 60])  # fewer samples than dimensions (a window's clips), and more
def test_the_distance_to_a_kept_reference_is_the_frechet_distance(n):
    import mpmath

    rng = np.random.default_rng(5)
    reference = rng.standard_normal((120, 40)) * np.linspace(0.5, 2.0, 40)
    features = rng.standard_normal((n, 40)) + 0.3
    stats = ReferenceStats(reference)
    (mu1, s1), (mu2, s2) = feature_stats(features), feature_stats(reference)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n = 8 < 40 dimensions: singular, and said so
        value = stats.distance(features)
        assert value == frechet_from_features(features, reference)
        # the D x D path (sqrt of S1, then of S1^1/2 S2 S1^1/2) agrees to round-off ...
        assert value == pytest.approx(frechet_distance(mu1, s1, mu2, s2), rel=1e-7)
        assert stats.distance(reference) == pytest.approx(0.0, abs=1e-9)
    # ... and the small eigenproblem to a 40-digit computation of the same trace
    mpmath.mp.dps = 40
    m = mpmath.matrix(((features - mu1) @ stats.root / np.sqrt(n)).tolist())
    eig = mpmath.eigsy(m * m.T if n < 40 else m.T * m)[0]
    trace = sum(mpmath.sqrt(max(e, 0)) for e in eig)
    exact = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace)
    assert value == pytest.approx(exact, rel=1e-12)


def test_covariance_is_biased():
    features = np.random.default_rng(3).standard_normal((10, 3))
    _, sigma = feature_stats(features)
    np.testing.assert_allclose(sigma, np.cov(features, rowvar=False, bias=True), atol=1e-12)


def test_small_sets_warn_and_tiny_sets_fail():
    rng = np.random.default_rng(4)
    with pytest.warns(UserWarning, match="10 samples for 400 dimensions"):
        frechet_from_features(rng.standard_normal((10, 400)), rng.standard_normal((500, 400)))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_from_features(rng.standard_normal((1, 4)), rng.standard_normal((10, 4)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # enough samples: no warning
        frechet_from_features(rng.standard_normal((20, 4)), rng.standard_normal((20, 4)))


# ---------------------------------------------------------------------------------------------------
# Streaming clips with a transparent extractor
# ---------------------------------------------------------------------------------------------------


class FrameProbe(torch.nn.Module):
    """Stand-in extractor whose first 16 features are the clip's per-frame means (to see which frames
    went in); checks the input layout and the TorchScript call signature."""

    def forward(self, x, rescale=True, resize=True, return_features=False):
        assert not rescale and not resize and return_features
        assert x.shape[1:] == (3, 16, 224, 224) and x.dtype == torch.float32
        features = torch.zeros(x.shape[0], 400)
        features[:, :16] = x.mean(dim=(1, 3, 4))
        return features


def _ramp_video(frames: int = 40) -> torch.Tensor:
    """Frame i is the constant 5 i: [T, 3, 12, 20] float 0-255."""
    return (
        (5.0 * torch.arange(frames, dtype=torch.float32)).view(-1, 1, 1, 1).expand(frames, 3, 12, 20).clone()
    )


def _feed(metric: FVD, video: torch.Tensor, chunk: int, window_ends: tuple[int, ...] = ()) -> VideoResult:
    acc = metric.new_video(VideoInfo(name="v", fps=16.0, num_frames=video.shape[0], height=12, width=20))
    for start in range(0, video.shape[0], chunk):
        acc.update(video[start : start + chunk])
        if start + chunk in window_ends:
            assert acc.end_window() is None
    return acc.finish()


def _frame_ids(features: np.ndarray) -> np.ndarray:
    """Recover the frame indices from FrameProbe features ((5 i) / 127.5 - 1)."""
    return np.round((features[:, :16] + 1) * 127.5 / 5).astype(int)


@pytest.mark.parametrize("chunk", [1, 7, 40])
def test_a_40_frame_video_gives_two_clips(chunk):
    result = _feed(FVD(FrameProbe()), _ramp_video(40), chunk)
    assert result.value is None and result.extra["features"].shape == (2, 400)
    assert result.extra["features"].dtype == np.float64
    np.testing.assert_array_equal(_frame_ids(result.extra["features"]), [range(0, 16), range(16, 32)])
    assert result.extra["clip_starts"].tolist() == [0, 16] and result.extra["dropped_frames"] == 8


@pytest.mark.parametrize(("stride", "starts"), [(8, [0, 8, 16, 24]), (20, [0, 20])])
def test_stride_overlaps_or_skips(stride, starts):
    for chunk in (3, 40):
        result = _feed(FVD(FrameProbe(), stride_frames=stride), _ramp_video(40), chunk)
        assert result.extra["clip_starts"].tolist() == starts
        np.testing.assert_array_equal(
            _frame_ids(result.extra["features"]), [range(s, s + 16) for s in starts]
        )


def test_buffer_is_bounded():
    metric = FVD(FrameProbe())
    acc = metric.new_video(VideoInfo(name="v", fps=16.0, num_frames=40, height=12, width=20))
    acc.update(_ramp_video(40))
    assert acc.buffer.shape == (16, 3, 224, 224) and acc.buffer.dtype == torch.float16


def test_clips_belong_to_the_window_they_start_in():
    video = _ramp_video(40)
    result = _feed(FVD(FrameProbe()), video, chunk=4, window_ends=(20, 40))
    assert result.windows == [None, None] and result.extra["clip_windows"].tolist() == [0, 0]
    result = _feed(FVD(FrameProbe()), video, chunk=4, window_ends=(16,))
    assert result.windows == [None, None]  # finish closes the window left open
    assert result.extra["clip_windows"].tolist() == [0, 1]


def test_per_window_curve_groups_clips_by_window():
    rng = np.random.default_rng(5)
    reference = rng.standard_normal((50, 8))
    results = [
        VideoResult(
            None, extra={"features": rng.standard_normal((3, 8)) + v, "clip_windows": np.array([0, 1, 2])}
        )
        for v in range(4)
    ] + [VideoResult(None, extra={"features": np.zeros((0, 8)), "clip_windows": np.zeros(0, dtype=np.int64)})]
    with pytest.warns(UserWarning):  # 4 clips per window < 8 dims
        curve = fvd_per_window(results, reference)
        assert len(curve) == 3
        for k in range(3):
            window_k = np.stack([r.extra["features"][k] for r in results[:4]])
            assert curve[k] == pytest.approx(frechet_from_features(window_k, reference))
        assert fvd_per_window(results, reference, min_clips=5) == [None, None, None]
    assert features_of(results).shape == (12, 8)


# ---------------------------------------------------------------------------------------------------
# The I3D stand-in, end to end
# ---------------------------------------------------------------------------------------------------


def test_random_i3d_shapes_and_signature():
    model = build_random_i3d(seed=0)
    assert 12e6 < sum(p.numel() for p in model.parameters()) < 13.5e6  # Inception-I3D has ~12.3M
    x = torch.rand(2, 3, 8, 64, 64) * 2 - 1  # smaller than 16x224x224: adaptive pooling
    with torch.inference_mode():
        logits = model(x, rescale=False, resize=False, return_features=True)
        probs = model(x, rescale=False, resize=False, return_features=False)
    assert logits.shape == (2, 400) and torch.isfinite(logits).all() and logits.std() > 0.1
    assert torch.allclose(probs.sum(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match="rescale=False, resize=False"):
        model(x, rescale=True)
    other = build_random_i3d(seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))


def _video_set(kind: str, count: int = 2, frames: int = 20) -> list[torch.Tensor]:
    """Small synthetic videos [T, 3, 24, 32] in 0-255: moving gradients or noise."""
    g = torch.Generator().manual_seed(7)
    videos = []
    for v in range(count):
        if kind == "gradient":
            t = torch.arange(frames).view(-1, 1, 1, 1)
            x = torch.arange(32).view(1, 1, 1, -1)
            video = (
                (127 + 100 * torch.sin((x + 2 * t + 5 * v) / 5.0)).float().expand(frames, 3, 24, 32).clone()
            )
        else:
            video = torch.rand(frames, 3, 24, 32, generator=g) * 255
        videos.append(video)
    return videos


def _score_set(metric: FVD, videos: list[torch.Tensor]) -> list[VideoResult]:
    results = []
    for video in videos:
        acc = metric.new_video(VideoInfo(name="v", fps=16.0, num_frames=video.shape[0], height=24, width=32))
        acc.update(video)
        acc.end_window()
        results.append(acc.finish())
    return results


def test_fvd_end_to_end_with_random_i3d():
    torch.manual_seed(0)
    metric = FVD.with_random_i3d(seed=0)
    assert metric.backend == "random" and metric.name == "fvd" and not metric.higher_is_better
    reference = _score_set(metric, _video_set("gradient"))
    with pytest.raises(RuntimeError, match="reference_features"):
        metric.aggregate(reference)
    metric.reference_features = metric.features_of(reference)  # [2, 400]: one clip per video
    assert metric.reference_features.shape == (2, 400)
    with pytest.warns(UserWarning, match="2 samples for 400 dimensions"):
        same = metric.aggregate(_score_set(metric, _video_set("gradient")))
        different = metric.aggregate(_score_set(metric, _video_set("noise")))
    assert same == pytest.approx(0.0, abs=1e-6)
    assert different > 1.0


# ---------------------------------------------------------------------------------------------------
# Loading the TorchScript weights
# ---------------------------------------------------------------------------------------------------


def test_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("VBENCH_CACHE_DIR", str(tmp_path))
    expected = tmp_path / "fvd" / "i3d_torchscript.pt"
    assert default_i3d_path() == expected
    with pytest.raises(FileNotFoundError, match="StyleGAN-V FVD release") as error:
        load_i3d()
    assert str(expected) in str(error.value)
    with pytest.raises(FileNotFoundError, match="i3d_torchscript.pt"):
        FVD()
    with pytest.raises(FileNotFoundError, match="elsewhere.pt"):
        load_i3d(tmp_path / "elsewhere.pt")


class _TinyScripted(torch.nn.Module):
    """A TorchScript module with the published file's call signature."""

    def forward(
        self, x: torch.Tensor, rescale: bool = True, resize: bool = True, return_features: bool = False
    ):
        assert not rescale and not resize and return_features
        return x.mean(dim=(2, 3, 4)).repeat(1, 134)[:, :400]


def test_torchscript_file_is_loaded_and_called_with_the_port_signature(tmp_path, monkeypatch):
    monkeypatch.setenv("VBENCH_CACHE_DIR", str(tmp_path))
    default_i3d_path().parent.mkdir(parents=True)
    torch.jit.script(_TinyScripted()).save(str(default_i3d_path()))
    metric = FVD()
    assert metric.backend == "i3d_torchscript"
    result = _feed(metric, _ramp_video(16), chunk=16)
    assert result.extra["features"].shape == (1, 400)
    assert result.extra["features"][0, 0] == pytest.approx((5 * 7.5) / 127.5 - 1, abs=1e-3)  # mean of frames
