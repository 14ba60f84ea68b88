"""Consistency dimensions (subject, background, i2v_subject, i2v_background) and aesthetic_quality:
METHOD §8 known answers, pair weighting, streaming equivalence, random-init extractors end to end."""

from __future__ import annotations

import math

import pytest
import torch

from scoring.aesthetic import AestheticQuality
from scoring.base import VideoInfo, VideoResult
from scoring.consistency import (
    I2V_WEIGHTS,
    BackgroundConsistency,
    I2VBackground,
    I2VSubject,
    SubjectConsistency,
    consistency_scores,
    i2v_score,
)
from scoring.extractors import AestheticHead, ClipImageEncoder, DinoViTB16, ImageFeatureExtractor


class PixelFeatures(ImageFeatureExtractor):
    """Feature = top-left pixel's RGB - 127.5, so a test dictates each frame's feature exactly."""

    feature_dim = 3

    def __init__(self) -> None:
        super().__init__("stub", batch_size=2)  # small batches exercise the batching path

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        return frames

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return pixels[:, :, 0, 0] - 127.5


def frames_for(features: torch.Tensor) -> torch.Tensor:
    """[N, 3] features in [-127.5, 127.5] -> [N, 3, 4, 4] frames that PixelFeatures maps back to them."""
    frames = torch.full((features.shape[0], 3, 4, 4), 127.5)
    frames[:, :, 0, 0] = features + 127.5
    return frames


E1, E2, E3 = torch.eye(3) * 100


def info(n: int, reference: torch.Tensor | None = None) -> VideoInfo:
    return VideoInfo("v", 16.0, n, 4, 4, reference)


def run(metric, frames: torch.Tensor, chunk: int, window: int, reference: torch.Tensor | None = None):
    """Feed frames in chunks of `chunk`, closing a window every `window` frames (chunks never straddle)."""
    acc = metric.new_video(info(frames.shape[0], reference))
    windows = []
    for start in range(0, frames.shape[0], window):
        end = min(start + window, frames.shape[0])
        for s in range(start, end, chunk):
            acc.update(frames[s : min(s + chunk, end)])
        windows.append(acc.end_window())
    result = acc.finish()
    assert result.windows == windows
    return result


def random_features(n: int, seed: int = 0) -> torch.Tensor:
    # Signed features so some cosines are negative and the max(0, .) clamp matters.
    return (torch.rand(n, 3, generator=torch.Generator().manual_seed(seed)) - 0.5) * 200


# ----------------------------------------------------------------------------------------------
# Known answers (METHOD §8)


def test_consistency_known_answers():
    s = consistency_scores(torch.stack([E1, E2, E1]))
    torch.testing.assert_close(s, torch.tensor([0.0, 0.5]))  # [(0+0)/2, (0+1)/2]
    assert s.mean().item() == pytest.approx(0.25)
    assert consistency_scores(torch.stack([E1] * 5)).tolist() == pytest.approx([1.0] * 4)
    assert consistency_scores(torch.stack([E1, -E1])).tolist() == [0.0]  # negative cosines clamp to 0
    assert consistency_scores(E1[None]).numel() == 0

    result = run(
        SubjectConsistency(PixelFeatures()), frames_for(torch.stack([E1, E2, E1])), chunk=1, window=3
    )
    assert result.value == pytest.approx(0.25) and result.weight == 2


def test_aggregate_is_pair_weighted():
    metric = BackgroundConsistency(PixelFeatures())
    short = run(metric, frames_for(torch.stack([E1, E2, E1])), chunk=3, window=3)  # 2 pairs, mean 0.25
    long = run(metric, frames_for(torch.stack([E1] * 11)), chunk=4, window=11)  # 10 pairs, mean 1.0
    assert (short.weight, long.weight) == (2, 10)
    assert metric.aggregate([short, long]) == pytest.approx((0.5 + 10.0) / 12)  # not (0.25 + 1) / 2
    one = run(metric, frames_for(E1[None]), chunk=1, window=1)
    assert one.value is None and one.weight == 0  # a 1-frame video has no pair and does not count
    assert metric.aggregate([short, long, one]) == pytest.approx(10.5 / 12)


def test_i2v_known_answer():
    diag = (E1 + E2) / math.sqrt(2)
    features = torch.stack([E1, E2, diag])  # conformity to e1: [1, 0, .707]; consecutive: [0, .707]
    expected = {
        "i2v_subject": 0.5 * 1 + 0.5 * (0 + 0.5**0.5) / 2 + 0.0 * 0,
        "i2v_background": 0.4 * 1 + 0.3 * (0 + 0.5**0.5) / 2 + 0.3 * 0,
    }
    for name, value in expected.items():
        assert i2v_score(E1, features, I2V_WEIGHTS[name]) == pytest.approx(value)
    assert i2v_score(E1, E1[None], I2V_WEIGHTS["i2v_subject"]) is None

    for cls in (I2VSubject, I2VBackground):
        metric = cls(PixelFeatures())
        result = run(metric, frames_for(features), chunk=2, window=3, reference=frames_for(E1[None])[0])
        assert result.value == pytest.approx(expected[metric.name])
        assert metric.aggregate([result, VideoResult(1.0)]) == pytest.approx((expected[metric.name] + 1) / 2)


def test_i2v_needs_reference_image():
    metric = I2VSubject(PixelFeatures())
    assert metric.needs_reference_image and not SubjectConsistency(PixelFeatures()).needs_reference_image
    with pytest.raises(ValueError, match="reference_image"):
        metric.new_video(info(3))


# ----------------------------------------------------------------------------------------------
# Streaming


def test_consistency_streaming_matches_whole_video():
    features = random_features(13)
    s = consistency_scores(features)  # s[i - 1] belongs to frame i
    frames = frames_for(features)
    metric = SubjectConsistency(PixelFeatures())
    results = [run(metric, frames, chunk=c, window=5) for c in (1, 3, 13)]
    expected_windows = [s[:4].mean().item(), s[4:9].mean().item(), s[9:].mean().item()]
    for r in results:
        assert r.value == pytest.approx(s.mean().item(), abs=1e-6) and r.weight == 12
        assert r.windows == pytest.approx(expected_windows, abs=1e-6)
    # a window holding only frame 0 has no pair
    assert run(metric, frames, chunk=1, window=1).windows[0] is None


def test_i2v_streaming_matches_whole_video():
    features, image = random_features(10, seed=1), random_features(1, seed=2)
    weights = I2V_WEIGHTS["i2v_background"]
    frames, reference = frames_for(features), frames_for(image)[0]
    metric = I2VBackground(PixelFeatures())
    f = torch.nn.functional.normalize(features, dim=-1)
    c = (f @ torch.nn.functional.normalize(image[0], dim=-1)).clamp_min(0)
    d = (f[1:] * f[:-1]).sum(-1).clamp_min(0)  # d[i - 1] belongs to frame i

    def score(frame_lo: int, frame_hi: int) -> float:  # window over frames [lo, hi), d across its start
        dd = d[max(frame_lo, 1) - 1 : frame_hi - 1]
        return weights[0] * c[frame_lo:frame_hi].max() + weights[1] * dd.mean() + weights[2] * dd.min()

    for chunk in (1, 3, 10):
        r = run(metric, frames, chunk=chunk, window=4, reference=reference)
        assert r.value == pytest.approx(i2v_score(image[0], features, weights), abs=1e-6)
        assert r.windows == pytest.approx(
            [score(0, 4).item(), score(4, 8).item(), score(8, 10).item()], abs=1e-6
        )


def test_finish_closes_an_open_window():
    acc = SubjectConsistency(PixelFeatures()).new_video(info(4))
    acc.update(frames_for(torch.stack([E1, E1])))
    assert acc.end_window() == pytest.approx(1.0)
    acc.update(frames_for(torch.stack([E2, E1])))
    result = acc.finish()  # the runner normally closes it; finish must not drop the frames
    # s = [1, (0 + 0) / 2, (0 + 1) / 2]
    assert result.windows == pytest.approx([1.0, 0.25]) and result.value == pytest.approx(1.5 / 3)


# ----------------------------------------------------------------------------------------------
# aesthetic_quality


def test_aesthetic_known_answer():
    head = AestheticHead(in_features=3)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[10.0, 0.0, 0.0]]))  # e1 scores 10 -> 1.0, e2 scores 0
        head.bias.zero_()
    metric = AestheticQuality(PixelFeatures(), head)
    a = run(metric, frames_for(torch.stack([E1, E2, E1, E1])), chunk=3, window=2)
    assert a.value == pytest.approx(0.75) and a.windows == pytest.approx([0.5, 1.0])
    b = run(metric, frames_for(torch.stack([E2] * 6)), chunk=4, window=6)
    assert metric.aggregate([a, b]) == pytest.approx((0.75 + 0.0) / 2)  # mean over videos, not frames
    with pytest.raises(ValueError, match="ViT-L/14"):
        AestheticQuality(PixelFeatures(), AestheticHead())


# ----------------------------------------------------------------------------------------------
# Random-init extractors end to end


def _video(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, 36, 48, generator=g) * 255
    return (base + torch.randn(n, 3, 36, 48, generator=g) * 20).clamp(0, 255)  # similar frames


def test_random_extractors_end_to_end():
    dino = DinoViTB16.random(tiny=True, batch_size=4)
    clip_b = ClipImageEncoder.random("ViT-B-32", tiny=True)
    clip_l = ClipImageEncoder.random("ViT-L-14", tiny=True)
    metrics = [
        SubjectConsistency(dino),
        BackgroundConsistency(clip_b),
        I2VSubject(dino),
        I2VBackground(dino),
        AestheticQuality(clip_l, AestheticHead.random(in_features=clip_l.feature_dim)),
    ]
    videos = [_video(7, seed=0), _video(5, seed=1)]
    reference = videos[0][0] * 0.9
    for metric in metrics:
        assert metric.backend.startswith("random-init")
        results = [run(metric, v, chunk=3, window=4, reference=reference) for v in videos]
        again = [run(metric, v, chunk=7, window=4, reference=reference) for v in videos]
        for r, r2 in zip(results, again):
            assert r.value == pytest.approx(r2.value, abs=1e-5)  # chunking does not change the numbers
            assert r.windows == pytest.approx(r2.windows, abs=1e-5)
            assert len(r.windows) == 2
        if metric.name != "aesthetic_quality":
            assert all(0.0 <= r.value <= 1.0 for r in results)
        assert metric.aggregate(results) is not None
    assert "DreamSim" in metrics[3].backend
