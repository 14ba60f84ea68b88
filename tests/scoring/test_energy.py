"""The energy score's known answers: a deterministic forecast scores its distance, the scalar case is the
CRPS of a normal forecast, and draws of the true distribution beat the held frame and the per-pixel
median that the distance alone prefers."""

import itertools
import math

import numpy as np
import pytest
import torch

from scoring.energy import energy_score, pixel_energy_score, window_energy


def test_hand_computed_terms():
    # K = 2: accuracy (1 + 3) / 2 = 2; spread = 1 / (2 K (K - 1)) * (2 + 2) = 1; score 1
    es = energy_score([1.0, 3.0], [[0.0, 2.0], [2.0, 0.0]])
    assert (es.score, es.accuracy, es.spread, es.draws) == (1.0, 2.0, 1.0, 2)


def test_a_deterministic_video_scores_its_distance():
    truth = torch.rand(4, 8, 8, 3, generator=torch.Generator().manual_seed(0))
    held = truth[:1].expand(4, -1, -1, -1)  # [F, H, W, C]: frame 0 held
    distance = float((held.double() - truth.double()).abs().mean())
    alone = pixel_energy_score(held[None], truth, deterministic=True)
    assert alone.score == alone.accuracy == distance and alone.spread == 0.0
    # the same video drawn three times, scored as a sampler: no spread, so again its distance
    copies = pixel_energy_score(held[None].expand(3, -1, -1, -1, -1), truth)
    assert copies.spread == 0.0 and copies.score == distance


def test_one_draw_of_a_sampler_is_refused():
    with pytest.raises(ValueError, match="at least 2 draws"):
        energy_score([0.5], [[0.0]])
    with pytest.raises(ValueError, match=r"expected \(2, 2\)"):
        energy_score([0.5, 0.2], [[0.0]])


def _normal_crps(mu: float, sigma: float, y: float) -> float:
    """CRPS of N(mu, sigma^2) at y, in closed form (Gneiting and Raftery 2007, eq. 21)."""
    z = (y - mu) / sigma
    pdf = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    return sigma * (z * (2 * cdf - 1) + 2 * pdf - 1 / math.sqrt(math.pi))


@pytest.mark.parametrize("y", [0.0, 1.0])
def test_scalar_draws_estimate_the_crps_of_their_normal(y):
    """d = |a - b| on scalars makes the energy score the CRPS; the fair estimate is unbiased for K = 4.
    The tolerance is 5 standard errors of the mean of the replicates."""
    rng = np.random.default_rng(7)
    scores = []
    for _ in range(4000):
        x = rng.standard_normal(4)  # [K]
        scores.append(energy_score(np.abs(x - y), np.abs(x[:, None] - x[None, :])).score)
    scores = np.asarray(scores)
    tolerance = 5 * scores.std(ddof=1) / math.sqrt(scores.size)
    assert scores.mean() == pytest.approx(_normal_crps(0.0, 1.0, y), abs=tolerance)


def _bar(shift: int, frames: int = 4, width: int = 16) -> torch.Tensor:
    """A one-pixel bar starting at the middle and moving `shift` pixels a frame: [F, 1, W, 1]."""
    video = torch.zeros(frames, 1, width, 1)
    for t in range(frames):
        video[t, 0, width // 2 + shift * (t + 1), 0] = 1.0
    return video


def test_draws_of_the_true_futures_beat_the_held_frame_and_the_median_the_distance_prefers():
    """Three equally likely futures (left, still, right). The exact expectation over every truth and
    every pair of draws: a perfect sampler's energy score is 1/12 - 1/24 = 1/24 of a pixel; the per-pixel
    median of the futures (dark: each pixel is lit in one future of three) scores 1/16 and the held
    picture 1/12. On the distance alone the dark median wins (1/16 against the sampler's 1/12)."""
    futures = {s: _bar(s) for s in (-1, 0, 1)}
    median = torch.stack(list(futures.values())).median(dim=0).values  # per pixel: 0 everywhere
    assert median.sum() == 0
    held = _bar(0)  # the still future is the held bar
    sampler, distance, dark, still = [], [], [], []
    for truth in futures.values():
        for a, b in itertools.product(futures.values(), repeat=2):
            es = pixel_energy_score(torch.stack([a, b]), truth)
            sampler.append(es.score)
            distance.append(es.accuracy)
        dark.append(pixel_energy_score(median[None], truth, deterministic=True).score)
        still.append(pixel_energy_score(held[None], truth, deterministic=True).score)
    assert np.mean(sampler) == pytest.approx(1 / 24, abs=1e-12)
    assert np.mean(dark) == pytest.approx(1 / 16, abs=1e-12)
    assert np.mean(still) == pytest.approx(1 / 12, abs=1e-12)
    assert np.mean(distance) == pytest.approx(1 / 12, abs=1e-12) and np.mean(distance) > np.mean(dark)


def test_windows_of_equal_length_average_to_the_whole_video():
    """Two paths: the per-window scores (sums per frame, then per window) and the whole video's. The
    same float64 sums in another grouping: they agree to float64 rounding of a few hundred terms."""
    from scoring.energy import window_energy

    g = torch.Generator().manual_seed(1)
    draws, truth = torch.rand(3, 8, 4, 4, 3, generator=g), torch.rand(8, 4, 4, 3, generator=g)
    windows = window_energy(draws, truth, [slice(0, 4), slice(4, 8)])
    whole = pixel_energy_score(draws, truth)
    tol = 1e-12
    assert np.mean([w.score for w in windows]) == pytest.approx(whole.score, abs=tol)
    assert np.mean([w.spread for w in windows]) == pytest.approx(whole.spread, abs=tol)
    (one,) = window_energy(draws[:1], truth, [slice(0, 8)])  # one draw: a deterministic video
    assert one.spread == 0.0 and one.score == pytest.approx(pixel_energy_score(draws[:1], truth, True).score)


def test_clip_features_use_the_distance_not_its_square():
    """Futures at -1, 0, +1 (one feature, one clip), equally likely; the exact expectation over every
    truth and pair of draws. With the Euclidean distance the perfect sampler scores 8/9 - 4/9 = 4/9 and
    the forecast at the mean (0) scores 2/3: the sampler wins. With the squared distance both score 2/3:
    it cannot tell a sampler from its mean."""
    from scoring.energy import clip_energy

    futures = [-1.0, 0.0, 1.0]
    sampler, squared = [], []
    for y in futures:
        for a, b in itertools.product(futures, repeat=2):
            (es,) = clip_energy([[[a]], [[b]]], [[y]])
            sampler.append(es.score)
            squared.append(
                energy_score([(a - y) ** 2, (b - y) ** 2], [[0, (a - b) ** 2], [(a - b) ** 2, 0]]).score
            )
    at_mean = [clip_energy([[[0.0]]], [[y]])[0].score for y in futures]
    assert np.mean(sampler) == pytest.approx(4 / 9) and np.mean(at_mean) == pytest.approx(2 / 3)
    assert np.mean(squared) == pytest.approx(2 / 3)  # a tie with the mean: why d is not squared


def test_draws_lie_beside_the_video_and_are_listed_in_order(tmp_path):
    from scoring.energy import draw_path, draw_paths

    video = tmp_path / "s0.mp4"
    video.write_bytes(b"")
    assert draw_path(video, 0) == video and draw_paths(video) == [video]  # one draw: the video alone
    for k in (1, 2, 4):  # draw 3 missing: the list stops at 2
        draw_path(video, k).parent.mkdir(parents=True, exist_ok=True)
        draw_path(video, k).write_bytes(b"")
    assert draw_paths(video) == [
        video,
        tmp_path / "draws" / "s0" / "1.mp4",
        tmp_path / "draws" / "s0" / "2.mp4",
    ]
    assert sorted(tmp_path.glob("*.mp4")) == [video]  # a folder's videos stay one per sample
    with pytest.raises(ValueError):
        draw_path(video, -1)


# -- the metric: a video and its draws on disk, streamed beside the truth --------------------------


def _video(path, seed, frames=16, size=32):
    from svi.video_io import write_segment

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_segment(path, pixels, 8)


def _decoded(path):
    from scoring.stream import FrameReader

    r = FrameReader(path)
    frames = r.read(0, r.num_frames).permute(0, 2, 3, 1).double() / 255.0  # [F, H, W, 3], as the metric reads
    r.close()
    return frames


def _score(videos, truth, names="energy,truth_distance"):
    from scoring.score import score_suite

    report = score_suite(
        videos,
        names,
        backend="toy",
        window="1s",
        reference_videos={v.stem: truth for v in videos},
        progress=False,
    )
    return {v["video"]: v for v in report["videos"]}, report


def test_a_video_without_draws_scores_its_distance_to_the_truth(tmp_path):
    """A deterministic forecast (no draws beside it): energy score = truth distance per window and per
    video, spread 0. Two paths: a mean of per-frame means (truth_distance) against one sum over pixels
    divided once (the energy metric); float64 sums of 16 x 3,072 values in [0, 1] agree to ~1e-15."""
    truth = _video(tmp_path / "truth" / "s0.mp4", 0)
    video = _video(tmp_path / "s0.mp4", 1)
    got, _ = _score([video], truth)
    v = next(iter(got.values()))
    assert v["scores"]["energy_score"] == pytest.approx(v["scores"]["truth_distance"], rel=1e-12)
    assert v["scores"]["energy_accuracy"] == pytest.approx(v["scores"]["truth_distance"], rel=1e-12)
    assert v["scores"]["energy_spread"] == 0.0
    assert len(v["window_scores"]["energy_score"]) == 2  # 16 frames at 8 fps in 1 s windows
    for a, b in zip(v["window_scores"]["energy_score"], v["window_scores"]["truth_distance"]):
        assert a == pytest.approx(b, rel=1e-12)


def test_draws_on_disk_score_as_the_pure_function_scores_their_frames(tmp_path):
    """Three draws (the video and two beside it under draws/): the metric's windows and video value equal
    `window_energy` and `pixel_energy_score` on the decoded frames (two paths, float64, same sums in
    another order: rel 1e-12), and the spread is positive."""
    from scoring.energy import draw_path

    truth = _video(tmp_path / "truth" / "s0.mp4", 0)
    video = _video(tmp_path / "s0.mp4", 1)
    for k in (1, 2):
        _video(draw_path(video, k), 1 + k)
    got, _ = _score([video], truth, "energy")
    v = next(iter(got.values()))
    draws = torch.stack([_decoded(draw_path(video, k)) for k in range(3)])  # [3, F, H, W, 3]
    y = _decoded(truth)
    whole = pixel_energy_score(draws, y)
    assert v["scores"]["energy_score"] == pytest.approx(whole.score, rel=1e-12)
    assert v["scores"]["energy_accuracy"] == pytest.approx(whole.accuracy, rel=1e-12)
    assert v["scores"]["energy_spread"] == pytest.approx(whole.spread, rel=1e-12) and whole.spread > 0
    per = window_energy(draws, y, [slice(0, 8), slice(8, 16)])
    assert v["window_scores"]["energy_score"] == pytest.approx([e.score for e in per], rel=1e-12)


def test_a_draw_shorter_than_its_video_is_refused(tmp_path):
    from scoring.energy import draw_path

    truth = _video(tmp_path / "truth" / "s0.mp4", 0)
    video = _video(tmp_path / "s0.mp4", 1)
    _video(draw_path(video, 1), 2, frames=8)
    _, report = _score([video], truth, "energy_score")
    assert "fewer than the video's 16" in str(report.get("failed"))


def _clip_results(video, truth):
    from scoring.score import build_metrics
    from scoring.stream import score_video

    metrics, _ = build_metrics("clip_energy_score,truth_clip_distance", "toy")
    return score_video(video, metrics, window="video", reference_video=truth).results


def test_clip_energy_of_a_video_without_draws_is_the_root_of_its_truth_clip_distance(tmp_path):
    """One draw (a deterministic forecast): per clip the energy score in clip features is the Euclidean
    distance to the truth's clip, the square root of `truth_clip_distance`'s D_c (the same features in
    float64: rel 1e-9). A second draw identical to the first adds no spread and changes nothing; a
    different one changes the score."""
    import shutil

    from scoring.energy import draw_path

    truth = _video(tmp_path / "truth" / "s0.mp4", 0, frames=32)
    video = _video(tmp_path / "s0.mp4", 1, frames=32)
    one = _clip_results(video, truth)
    roots = np.sqrt(one["truth_clip_distance"].extra["clip_distances"])
    assert len(roots) == 2 and one["clip_energy_score"].extra["clip_energy"] == pytest.approx(roots, rel=1e-9)
    assert one["clip_energy_score"].value == pytest.approx(float(roots.mean()), rel=1e-9)
    draw_path(video, 1).parent.mkdir(parents=True)
    shutil.copy(video, draw_path(video, 1))
    same = _clip_results(video, truth)["clip_energy_score"]
    assert same.extra["draws"] == 2 and same.value == pytest.approx(one["clip_energy_score"].value, rel=1e-9)
    _video(draw_path(video, 1), 5, frames=32)
    assert _clip_results(video, truth)["clip_energy_score"].value != pytest.approx(same.value, rel=1e-6)


def test_the_clip_energy_terms_of_two_draws_are_their_clip_distances(tmp_path):
    """Two different draws, per clip in the toy encoder's clip features: the accuracy term is the mean
    of each draw's own Euclidean distance to the truth's clip (the roots of `truth_clip_distance` of
    each draw scored alone), the score is accuracy - spread, and the spread is positive (half the
    distance between the draws). The same features in float64 along both paths: rel 1e-9."""
    from scoring.energy import draw_path
    from scoring.score import build_metrics
    from scoring.stream import score_video
    from scoring.truth_clips import ClipEnergyScore

    truth = _video(tmp_path / "truth" / "s0.mp4", 0, frames=32)
    video = _video(tmp_path / "s0.mp4", 1, frames=32)
    other = _video(tmp_path / "alone" / "s0.mp4", 2, frames=32)  # draw 1, also scored on its own
    roots = [
        np.sqrt(_clip_results(v, truth)["truth_clip_distance"].extra["clip_distances"])
        for v in (video, other)
    ]
    draw_path(video, 1).parent.mkdir(parents=True)
    _video(draw_path(video, 1), 2, frames=32)
    names = "clip_energy_score,clip_energy_accuracy,clip_energy_spread"
    metrics, _ = build_metrics(names, "toy")
    got = score_video(video, metrics, window="video", reference_video=truth).results
    accuracy, spread, score = (np.asarray(got[n].extra[n if n != "clip_energy_score" else "clip_energy"])
                               for n in ("clip_energy_accuracy", "clip_energy_spread", "clip_energy_score"))  # fmt: skip
    assert accuracy == pytest.approx((roots[0] + roots[1]) / 2, rel=1e-9)
    assert score == pytest.approx(accuracy - spread, rel=1e-9, abs=1e-12) and (spread > 0).all()
    assert all(got[n].extra["draws"] == 2 for n in names.split(","))
    assert got["clip_energy_score"].value == pytest.approx(
        got["clip_energy_accuracy"].value - got["clip_energy_spread"].value, rel=1e-9
    )
    with pytest.raises(ValueError, match="unknown clip energy metric"):
        ClipEnergyScore(metrics[0].fvd, "clip_energy")
