"""The `toy` backend: OpenCV motion models, the trained toy encoder, and every toy metric end to end."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scoring import registry, toy
from scoring.base import VideoInfo
from scoring.fvd import frechet_from_features
from scoring.motion import DynamicDegree, MotionSmoothness
from scoring.stream import score_videos
from scoring.toy_encoder import DEFAULT_WEIGHTS, ToyEncoder
from svi.video_io import read_frames
from toyworld.scorers import degrade
from toyworld.synthetic import moving_square_frames, write_video

TOY_NAMES = registry.expand("vbench,i2v,fvd,psnr_ssim,drift")


def _texture(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A smooth random RGB texture [3, h, w] float 0-255 (bicubic upsampling of 1/4-size noise)."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, h // 4, w // 4, generator=g) * 255
    return F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)[0].clamp(0, 255)


def _blob(cx: float, cy: float, size: int = 64) -> torch.Tensor:
    """A yellow Gaussian blob (sigma 4 px) centred at (cx, cy) over a dark blue background: [3, size, size]."""
    y, x = torch.meshgrid(
        torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij"
    )
    alpha = torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 4.0**2))
    back, fore = torch.tensor([40.0, 60.0, 90.0]), torch.tensor([230.0, 200.0, 40.0])
    return back[:, None, None] * (1 - alpha) + fore[:, None, None] * alpha


# -- OpenCV motion models --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64])
def test_farneback_recovers_a_global_shift(size):
    big = _texture(size + 16, size + 16)
    a = big[:, 8 : 8 + size, 8 : 8 + size]
    b = big[:, 7 : 7 + size, 6 : 6 + size]  # content moves by dx = +2, dy = +1
    flow = toy.farneback_flows(a[None], b[None])[0]  # [2, H, W]
    m = size // 4
    inner = flow[:, m:-m, m:-m]
    assert inner[0].mean().item() == pytest.approx(2.0, abs=0.1)
    assert inner[1].mean().item() == pytest.approx(1.0, abs=0.1)
    assert (inner - torch.tensor([2.0, 1.0])[:, None, None]).abs().max().item() < 0.5


def test_farneback_follows_a_fast_object():
    # 16 px between the frames: more than OpenCV's own pyramid (down to 32 px) can follow
    a, b = _blob(16, 30), _blob(32, 30)
    flow = toy.farneback_flows(a[None], b[None])
    from scoring.motion import top_flow_magnitude

    assert top_flow_magnitude(flow).item() == pytest.approx(16.0, rel=0.15)


def test_midframe_of_a_linearly_moving_blob():
    frames = torch.stack([_blob(20 + 3 * i, 30 + 1.5 * i) for i in range(9)])  # 3 px / frame in x
    pred = toy.farneback_midframes(frames[0:1], frames[2:3])[0]
    err = (pred - frames[1]).abs().mean().item()
    repeat = (frames[0] - frames[1]).abs().mean().item()
    assert err < 0.2 * repeat

    def smoothness(interp):
        acc = MotionSmoothness(interp, backend="test").new_video(VideoInfo("v", 8, 9, 64, 64))
        acc.update(frames)
        return acc.finish().value

    ours = smoothness(toy.farneback_midframes)
    frame_repeat = smoothness(lambda a, b: a)
    assert ours > 0.995
    assert (1 - ours) < 0.25 * (1 - frame_repeat)  # clearly above repeating a frame


def test_dynamic_degree_with_farneback():
    metric = DynamicDegree(toy.farneback_flows, backend=toy.BACKEND_OPENCV)
    moving = torch.stack([_blob(10 + 3 * i, 30) for i in range(16)])
    still = torch.stack([_blob(10, 30)] * 16)
    for frames, expected in ((moving, 1.0), (still, 0.0)):
        acc = metric.new_video(VideoInfo("v", 8, 16, 64, 64))
        acc.update(frames)
        assert acc.finish().value == expected


# -- the toy encoder -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def encoder():
    return ToyEncoder.from_file()  # the committed weights


def test_committed_weights_load_with_their_config(encoder):
    assert DEFAULT_WEIGHTS.is_file() and DEFAULT_WEIGHTS.stat().st_size < 2_000_000
    meta = encoder.metadata
    config = json.loads(meta["config"])
    assert config["classes"]["background_kind"] == len(config["vocab"]["background_kinds"])
    training = json.loads(meta["training"])
    assert {"steps", "seed"} <= set(training)
    assert not encoder.training


def test_encoder_is_deterministic_with_the_documented_shapes(encoder):
    frames = torch.stack([_texture(64, 64, seed=s) for s in range(3)])  # [3, 3, 64, 64]
    small = F.interpolate(frames, size=(32, 32), mode="area")
    for extractor_branch, dim in (("object", 64), ("background", 64), ("quality", 32)):
        ex = toy.ToyImageFeatures(encoder, extractor_branch)
        a, b = ex.extract(frames), ex.extract(frames.clone())
        assert a.shape == (3, dim) and torch.equal(a, b)
        assert torch.allclose(a.norm(dim=-1), torch.ones(3), atol=1e-5)
        assert ex.extract(small).shape == (3, dim)  # 32 px frames are resized to 64
    # batch composition changes nothing (eval-mode BatchNorm)
    ex = toy.ToyImageFeatures(encoder, "object", batch_size=1)
    assert torch.allclose(
        ex.extract(frames), toy.ToyImageFeatures(encoder, "object").extract(frames), atol=1e-5
    )


def test_video_features_formula():
    f = torch.tensor([[[0.0, 2.0], [2.0, 2.0], [4.0, 2.0]]])  # [1, T=3, D=2]
    out = toy.video_features(f)
    std = (8 / 3) ** 0.5
    assert out[0].tolist() == pytest.approx([2.0, 2.0, std, 0.0, 2.0, 0.0])


def test_toy_fvd_extractor(encoder):
    ex = toy.ToyVideoFeatures(encoder)
    clips = torch.rand(2, 3, 16, 224, 224) * 2 - 1
    feats = ex(clips, rescale=False, resize=False, return_features=True)
    assert feats.shape == (2, ex.feature_dim) == (2, 3 * (64 + 64 + 32))
    x = np.random.default_rng(0).normal(size=(20, 4))
    assert frechet_from_features(x, x) == pytest.approx(0.0, abs=1e-9)


def test_quality_heads_prefer_clean_toy_frames(encoder):
    world = pytest.importorskip("toyworld.world")
    frames, _ = world.sample_labeled_frames(16, seed=12345)
    rng = np.random.default_rng(0)
    blurred = np.stack([degrade(f, "blur", 0.9, rng) for f in frames])
    noisy = np.stack([degrade(f, "noise", 0.9, rng) for f in frames])

    def to_tensor(x):
        return torch.from_numpy(x).permute(0, 3, 1, 2).float()

    quality = toy.ToyQuality(encoder)
    clean_q = quality(to_tensor(frames) / 255).mean()
    for bad in (blurred, noisy):
        assert quality(to_tensor(bad) / 255).mean() < clean_q - 15  # MUSIQ-like 0-100 points


# -- registry and the runner -----------------------------------------------------------------------


def test_registry_builds_every_metric_with_the_toy_backend():
    assert "toy" in registry.BACKENDS
    assert registry.GROUPS["drift"] == ["colour_shift", "sharpness_loss", "truth_distance"]
    for name in TOY_NAMES:
        metric = registry.build(name, backend="toy")
        assert metric.name == name
        if name in toy.NAMES:
            assert metric.backend in (toy.BACKEND_ENCODER, toy.BACKEND_OPENCV), name
    # weight-free metrics are the same whatever the backend
    assert registry.build("colour_shift", backend="vbench").backend == "direct"


def test_a_short_video_scores_through_the_runner(tmp_path):
    frames = moving_square_frames(24, 64, 64, (230, 40, 40), "right", seed=3)  # uint8 [24, 64, 64, 3]
    truth = tmp_path / "truth" / "v.mp4"
    video = tmp_path / "gen" / "v.mp4"
    write_video(truth, frames, fps=8)
    # the "generated" video drifts: later frames darken
    fade = np.linspace(1.0, 0.7, len(frames))[:, None, None, None]
    write_video(video, (frames * fade).round().astype(np.uint8), fps=8)
    image = torch.from_numpy(frames[0]).permute(2, 0, 1).float()
    names = [n for n in TOY_NAMES if n != "fvd"]  # FVD needs a reference set: tested above
    metrics = [registry.build(n, backend="toy") for n in names]
    suite = score_videos(
        [video],
        metrics,
        window="1s",
        reference_videos={"v": truth},
        reference_images={"v": image},
        progress=False,
    )
    assert not suite.failed, suite.failed
    scores = suite.videos[0].results
    assert suite.videos[0].windows == [(0, 8), (8, 16), (16, 24)]
    for name in names:
        assert scores[name].value is not None, name
        assert len(scores[name].windows) == 3, name
    assert suite.backends["subject_consistency"] == toy.BACKEND_ENCODER
    assert suite.backends["motion_smoothness"] == toy.BACKEND_OPENCV
    assert 0.0 <= suite.aggregate["imaging_quality"] <= 1.0
    assert 0.0 <= suite.aggregate["aesthetic_quality"] <= 1.0
    curve = scores["colour_shift"].windows
    assert curve[0] == 0.0 and 0.0 < curve[1] < curve[2]  # the fade is a growing colour shift
    assert scores["truth_distance"].windows[2] > scores["truth_distance"].windows[0]


def _fake_sampler(n, seed, size=(64, 64)):
    """Random frames with labels in the toy world's format (one object slot)."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(n, *size, 3), dtype=np.uint8)
    labels = {
        "background_kind": rng.integers(0, 4, n),
        "background_colour": rng.integers(0, 12, n),
        "num_objects": np.ones(n, dtype=np.int64),
        "object0_shape": rng.integers(0, 4, n),
        "object0_colour": rng.integers(0, 12, n),
        "object1_shape": np.full(n, -1),
        "object1_colour": np.full(n, -1),
    }
    return frames, labels


def test_training_is_deterministic_and_round_trips(tmp_path):
    from scoring.toy_encoder import ToyEncoderConfig
    from toyworld.scorers import train_encoder as train

    config = ToyEncoderConfig.for_vocab(
        ["a", "b", "c", "d"], [str(i) for i in range(12)], ["k0", "k1", "k2", "k3"], 3, widths=(4, 8, 8, 8, 8)
    )
    kwargs = dict(steps=2, batch_size=8, eval_frames=16, sampler=_fake_sampler, config=config, progress=False)
    model_a, summary = train(seed=1, **kwargs)
    model_b, _ = train(seed=1, **kwargs)
    for (k, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(a, b), k
    assert set(summary["eval"]["accuracy"]) >= {"background_kind", "object_colour_recall"}
    path = tmp_path / "enc.safetensors"
    model_a.save(path, metadata={"training": json.dumps(summary["training"])})
    loaded = ToyEncoder.from_file(path)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model_a(x)["object"], loaded(x)["object"])
    assert loaded.config == config


def test_scoring_runs_the_encoder_once_per_frame_and_shares_it_without_changing_a_value(tmp_path, encoder):
    """Five toy metrics read the encoder (subject, background, aesthetic, imaging, FVD): each frame goes
    through it once, and every value is what the metric gives scored alone."""
    from scoring.score import score_suite

    frames = moving_square_frames(40, 64, 64, (40, 200, 90), "down", seed=5)  # 40 distinct frames
    truth, video = tmp_path / "truth.mp4", tmp_path / "gen" / "v.mp4"
    write_video(truth, frames, fps=8)
    fade = np.linspace(0.95, 0.6, len(frames))[:, None, None, None]  # no frame equals a true one
    write_video(video, (frames * fade).round().astype(np.uint8), fps=8)
    names = ["subject_consistency", "background_consistency", "aesthetic_quality", "imaging_quality", "fvd"]
    kw = dict(
        backend="toy", window="1s", reference_videos={"v": truth}, reference_set=[truth], progress=False
    )
    shared = toy.shared_outputs(toy.load_encoder(None, "cpu"))
    shared.cache.clear()
    before = shared.computed
    together = score_suite([video], ",".join(names), **kw)
    # 40 generated frames (every metric, windows of 8 frames: FVD's 16-frame clips straddle the
    # reader's chunks) and the truth's 32 frames in FVD's two clips (its reference features)
    assert shared.computed - before == 40 + 32
    for name in names:
        shared.cache.clear()
        alone = score_suite([video], name, **kw)
        assert alone["aggregate"][name] == pytest.approx(together["aggregate"][name], rel=1e-6), name
        got, want = together["videos"][0]["window_scores"][name], alone["videos"][0]["window_scores"][name]
        assert [g is None for g in got] == [w is None for w in want], name  # FVD: a set statistic
        assert [g for g in got if g is not None] == pytest.approx(
            [w for w in want if w is not None], rel=1e-6
        )
    # a window's value is the per-frame values of that window, recomputed: imaging quality's mean
    decoded = torch.stack([torch.from_numpy(f) for f in read_frames(video)]).permute(0, 3, 1, 2).float()
    per_frame = toy.ToyQuality(encoder)(decoded / 255.0) / 100.0
    windows = together["videos"][0]["window_scores"]["imaging_quality"]
    assert windows == pytest.approx([float(per_frame[a : a + 8].mean()) for a in range(0, 40, 8)], rel=1e-5)


def test_a_looped_clip_computes_each_distinct_flow_once_and_scores_as_uncached(tmp_path):
    """The degenerate references repeat frames: dynamic degree and motion smoothness of a clip looped
    six times compute the flows of its distinct pairs only, and give what a cold cache gives."""
    from scoring import references as R
    from scoring.score import score_suite
    from svi.video_io import write_segment

    clip = moving_square_frames(9, 64, 64, (40, 200, 90), "down", seed=3)  # [9, 64, 64, 3]
    video = tmp_path / "loop" / "v.mp4"
    video.parent.mkdir()
    write_segment(video, R.loop(clip, 54), 8, intra_only=True)  # as the references are written
    names = "dynamic_degree,motion_smoothness"

    def scores():
        rep = score_suite([video], names, backend="toy", window="1s", progress=False)
        return rep["aggregate"], rep["videos"][0]["window_scores"]

    toy.FLOWS.cache.clear()
    toy.FLOWS.size_bytes = 0
    before = toy.FLOWS.computed
    cached = scores()
    # the distinct pairs among the decoded frames: 9 neighbour pairs (the wrap included) and 9 pairs two
    # apart, each both ways, plus those of the stream's first frame (its own quantiser): about 29 of the
    # 53 + 2 x 52 pairs asked for
    gray = toy.gray_u8(torch.from_numpy(read_frames(video)).permute(0, 3, 1, 2).float())
    keys = [toy.frame_key(g) for g in gray]
    pairs = {keys[i] + keys[i + 1] for i in range(len(keys) - 1)}  # dynamic degree's neighbours
    pairs |= {keys[i] + keys[i + 2] for i in range(len(keys) - 2)}  # smoothness, both ways
    pairs |= {keys[i + 2] + keys[i] for i in range(len(keys) - 2)}
    first = toy.FLOWS.computed - before
    assert first <= len(pairs) <= 9 + 2 * 9 + 4  # without the cache: 53 + 2 x 52 (what is asked for)
    assert scores() == cached and toy.FLOWS.computed - before == first  # again: every flow a hit
    toy.FLOWS.cache.clear()
    toy.FLOWS.size_bytes = 0
    assert scores() == cached  # a hit returns exactly what computing again gives


def test_the_flow_cache_keeps_to_its_byte_budget():
    frames = [np.full((16, 16), i, dtype=np.uint8) for i in range(6)]
    cache = toy.FlowCache(capacity_bytes=3 * 16 * 16 * 2 * 4)  # room for three 16 x 16 flows
    for a, b in zip(frames, frames[1:]):
        cache(a, b)
    assert len(cache.cache) == 3 and cache.size_bytes <= cache.capacity_bytes and cache.computed == 5
    cache(frames[4], frames[5])  # the newest pair is still kept
    assert cache.computed == 5
    cache(frames[0], frames[1])  # the oldest was dropped
    assert cache.computed == 6
