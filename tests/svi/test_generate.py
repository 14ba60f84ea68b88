"""Long-video generation: arithmetic, prompts, seeds, chaining, resume, LoRA on/off."""

import io
import json
import math
from collections import defaultdict

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from svi.config import GenerateConfig, clips_for_seconds, parse_length
from svi.generation.generator import LongVideoGenerator, planted
from svi.generation.sampling import (
    assembled_windows,
    assign_prompts,
    clip_seed,
    lead_frames,
    total_frames,
)
from svi.generation.video import VideoJob, fixed_prompts, stdin_prompts
from svi.model.backbone import build_tiny
from svi.video_io import concat_segments, read_frames, to_uint8_frames, video_fps, write_segment

TINY = dict(num_frames=9, height=32, width=32, steps=2)


@pytest.fixture(scope="module")
def tiny():
    return build_tiny()


def _image(seed=0):
    return torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("seconds, clips", [(50, 10), (250, 50)])
def test_clip_count_for_paper_lengths(seconds, clips):
    # F = 81, K = 1, 16 fps: N (F - K) + K frames; 10 clips ~ 50 s, 50 clips ~ 250 s (docs/method.md §6)
    assert clips_for_seconds(seconds, 16, 81, 1) == clips
    assert total_frames(clips, 81, 1) == clips * 80 + 1
    assert total_frames(clips, 81, 1) >= seconds * 16 > total_frames(clips - 1, 81, 1)


def test_frame_arithmetic_both_chainings():
    pixel = GenerateConfig(motion_frames=5)
    latent = GenerateConfig(chaining="latent", motion_latents=1)
    assert lead_frames(pixel) == 5 and lead_frames(latent) == 5
    assert total_frames(3, 81, 1) == 3 * 80 + 1
    assert total_frames(1, 81, 5) == 81
    assert clips_for_seconds(5, 16, 81, 1) == 1  # 80 frames fit in one clip
    assert clips_for_seconds(50, 16, 81, 5) == 11  # film settings: 76 new frames per clip
    assert parse_length("250s") == 250 and parse_length("12.5s") == 12.5 and parse_length(3) == 3
    with pytest.raises(ValueError, match="seconds"):
        parse_length("long")


def test_a_joined_video_reads_at_the_rate_it_was_written(tmp_path):
    # A one-frame last segment has no B-frame delay, so the joined decode timestamps jump by two frames
    # there and FFmpeg's average rate of this 25 fps video is 1025/43; every reader must say 25.
    from scoring.stream import FrameReader
    from toyworld.synthetic import moving_square_frames

    frames = moving_square_frames(41, 64, 64, (200, 50, 50), "right", seed=0)
    segments = [
        write_segment(tmp_path / "a.mp4", frames[:40], 25),
        write_segment(tmp_path / "b.mp4", frames[40:], 25),
    ]
    path = concat_segments(segments, tmp_path / "v.mp4")
    assert video_fps(path) == 25
    reader = FrameReader(path)
    assert reader.fps == 25.0 and reader.num_frames == 41
    assert np.array_equal(read_frames(path).shape, (41, 64, 64, 3))


def test_no_two_clips_or_seeds_share_noise():
    # seed + clip gave seed 1's clip k the noise of seed 0's clip k + 1: seeds were not independent
    seeds = {(s, k): clip_seed(s, k) for s in range(4) for k in range(100)}
    assert len(set(seeds.values())) == len(seeds)
    assert clip_seed(1, 0) != clip_seed(0, 1) and clip_seed(3, 7) == clip_seed(3, 7)
    assert all(0 <= v < 2**63 for v in seeds.values())  # torch.Generator.manual_seed's range


def test_prompt_assignment():
    assert assign_prompts(["a", "b"], 4) == ["a", "b", "b", "b"]  # last repeated
    assert assign_prompts(["a", "b", "c"], 2) == ["a", "b"]
    assert assign_prompts(["a", "b"], 3, "first") == ["a", "a", "a"]
    with pytest.raises(ValueError):
        assign_prompts([], 3)


@pytest.mark.parametrize("chaining", ["pixel", "latent"])
def test_video_length_seeds_and_sidecar(tmp_path, tiny, chaining):
    cfg = GenerateConfig(**TINY, chaining=chaining, seed=7)
    gen = LongVideoGenerator(tiny, cfg)
    res = gen.generate(_image(), fixed_prompts(["p0", "p1", "p2", "p3"]), tmp_path / "v.mp4", progress=False)
    frames = read_frames(res.path)
    assert len(frames) == res.num_frames == total_frames(4, 9, gen.lead)
    meta = json.loads(res.sidecar.read_text())
    assert meta["complete"] and [c["prompt"] for c in meta["clips"]] == ["p0", "p1", "p2", "p3"]
    seeds = [c["seed"] for c in meta["clips"]]
    assert seeds == [clip_seed(7, k) for k in range(4)] and len(set(seeds)) == 4
    ranges = [c["video_frames"] for c in meta["clips"]]
    assert ranges[0][0] == 0 and ranges[-1][1] == len(frames)
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous, no gap or overlap
    assert [tuple(r) for r in ranges] == assembled_windows(4, cfg, gen.lead)  # as the references lay them out
    assert not (tmp_path / "v.parts").exists()
    # finished video: a second call does nothing
    assert gen.generate(
        _image(), fixed_prompts(["p0", "p1", "p2", "p3"]), tmp_path / "v.mp4", progress=False
    ).skipped


@pytest.mark.parametrize(
    "settings", [dict(chaining="pixel"), dict(chaining="latent"), dict(assembly="keep_all")]
)
@pytest.mark.bitwise(
    "the first clip is sampled from the same image, prompt, noise and batch of one in both videos, and nothing after it feeds back into it"
)
def test_a_video_of_one_clip_is_the_first_clip_of_the_long_video_bit_for_bit(tmp_path, tiny, settings):
    """What the degenerate references of a bundle stand on (scoring/references.py): one generated clip
    per sample gives the long video's first window exactly, so no arm need be generated again."""
    cfg = GenerateConfig(**TINY, seed=3, **settings)
    gen = LongVideoGenerator(tiny, cfg)
    long = gen.generate(_image(), fixed_prompts(["p0", "p1", "p2"]), tmp_path / "long.mp4", progress=False)
    one = gen.generate(_image(), fixed_prompts(["p0"]), tmp_path / "one.mp4", progress=False)
    windows = assembled_windows(3, cfg, gen.lead)
    start, end = windows[0]
    assert [tuple(c["video_frames"]) for c in json.loads(long.sidecar.read_text())["clips"]] == windows
    assert np.array_equal(read_frames(long.path)[start:end], read_frames(one.path)[start:end])


@pytest.mark.bitwise(
    "the same modules run the same operations on the same inputs in one process, the noise from a seeded CPU generator"
)
def test_the_same_sample_and_seed_give_the_same_video_bit_for_bit(tmp_path):
    """Generation's part of the noise floor on the CPU is 0: two generators built afresh make the same
    frames and the same mp4 bytes from the same image, prompts and seed."""
    videos = []
    for name in ("a", "b"):
        gen = LongVideoGenerator(build_tiny(), GenerateConfig(**TINY, seed=11))
        videos.append(
            gen.generate(_image(2), fixed_prompts(["p0", "p1"]), tmp_path / f"{name}.mp4", progress=False)
        )
    assert np.array_equal(read_frames(videos[0].path), read_frames(videos[1].path))
    assert videos[0].path.read_bytes() == videos[1].path.read_bytes()


def test_pixel_chaining_conditions_on_the_last_frames(tiny):
    gen = LongVideoGenerator(tiny, GenerateConfig(**TINY, motion_frames=1))
    ref = _image()[None]
    video = torch.rand(1, 3, 9, 32, 32) * 2 - 1
    chain = gen._next_chain(video, None)
    assert torch.equal(chain, video[:, :, -1:])
    y = gen._condition(ref, [chain], None)
    from svi.model.i2v_condition import build_condition

    torch.testing.assert_close(y, build_condition(tiny, video[:, :, -1:], 9, "reference", ref))


def test_the_positive_control_adds_k_times_the_drift_to_clip_k_s_colour_shift():
    """generate.planted_drift: a colour drift planted by construction (the positive control), off by default."""
    from scoring.drift import colour_shift

    origin = torch.tensor([[0.1, -0.2, 0.3]])  # [B, 3] clip 0's mean colour
    clip = torch.tensor([0.2, -0.2, 0.2]).view(1, 3, 1, 1, 1).repeat(1, 1, 2, 4, 4)  # drifted: +R, -B
    assert planted(clip, 0, 0.01, origin) is clip and planted(clip, 3, 0.0, origin) is clip
    moved = planted(clip, 3, 0.01, origin)
    way = torch.tensor([0.1, 0.0, -0.1]) / math.sqrt(0.02)  # the unit vector it already drifted along
    torch.testing.assert_close(moved[0, :, 0, 0, 0], clip[0, :, 0, 0, 0] + 2 * math.sqrt(3) * 0.03 * way)

    def shift(x):  # the metric's colour shift on [0, 1] against clip 0's
        return colour_shift((origin[0].double() + 1) / 2, (x.mean(dim=(0, 2, 3, 4)).double() + 1) / 2)

    assert shift(moved) == pytest.approx(shift(clip) + 3 * 0.01)  # k x drift, by construction
    still = (
        origin.view(1, 3, 1, 1, 1).expand(1, 3, 2, 4, 4) + 1e-7
    )  # at the origin, to rounding: no way to move
    torch.testing.assert_close(planted(still, 5, 0.01, origin), still)
    assert GenerateConfig().planted_drift == 0.0
    assert "planted_drift" not in GenerateConfig().frame_settings()  # older frame hashes hold
    with pytest.raises(ValueError, match="generate.chaining=pixel"):
        GenerateConfig(planted_drift=0.01, chaining="latent")


def test_the_planted_drift_reaches_the_written_clip_and_what_the_next_one_is_conditioned_on(tiny, tmp_path):
    drift = 0.01
    runs = {}
    clips = [
        torch.rand(1, 3, 9, 32, 32, generator=torch.Generator().manual_seed(k)) * 1.2 - 0.6 for k in (1, 2)
    ]
    for name, value in (("off", 0.0), ("planted", drift)):
        gen = LongVideoGenerator(tiny, GenerateConfig(**TINY, motion_frames=1, planted_drift=value))
        recorded = []
        gen._commit = lambda v, k, frames, start, rec=recorded: rec.append((v.chain.clone(), frames))
        state = gen._open(VideoJob(_image(), fixed_prompts(["a"]), tmp_path / f"{name}.mp4", 2))
        for k, clip in enumerate(clips):
            state.next_clip = k
            gen._record(state, clip, None)
        runs[name] = recorded
    origin = clips[0].mean(dim=(2, 3, 4))
    expected = planted(clips[1], 1, drift, origin)  # clip 0 is as sampled; clip 1 moved from clip 0's colour
    assert not torch.equal(expected, clips[1])
    torch.testing.assert_close(runs["off"][0][0], runs["planted"][0][0])
    torch.testing.assert_close(runs["planted"][1][0], expected[:, :, -1:])  # what clip 2 is conditioned on
    written = runs["planted"][1][1].astype(np.int64)  # [F - K, H, W, 3] uint8
    assert np.abs(written - to_uint8_frames(expected[0])[:-1].astype(np.int64)).max() == 0


@pytest.mark.bitwise(
    "one thread; the resumed clips start from the saved chaining state, which is the tensor the uninterrupted run held, and run the same operations"
)
def test_resume_after_a_crash_gives_the_same_video(tmp_path, tiny, one_thread):
    cfg = GenerateConfig(**TINY)
    prompts = ["a", "b", "c", "d", "e"]
    full = LongVideoGenerator(tiny, cfg).generate(
        _image(), fixed_prompts(prompts), tmp_path / "full.mp4", progress=False
    )

    def crashing(k):
        if k == 3:
            raise RuntimeError("killed")
        return prompts[k]

    with pytest.raises(RuntimeError, match="killed"):
        LongVideoGenerator(tiny, cfg).generate(_image(), crashing, tmp_path / "cut.mp4", progress=False)
    assert (tmp_path / "cut.parts" / "seg_00002.mp4").is_file() and not (tmp_path / "cut.mp4").exists()
    res = LongVideoGenerator(tiny, cfg).generate(
        _image(), fixed_prompts(prompts), tmp_path / "cut.mp4", progress=False
    )
    assert res.resumed_from == 3
    assert np.array_equal(read_frames(full.path), read_frames(res.path))
    assert full.path.read_bytes() == res.path.read_bytes()


def test_a_changed_config_does_not_resume_a_stale_video(tmp_path, tiny):
    prompts = fixed_prompts(["a", "b", "c"])
    LongVideoGenerator(tiny, GenerateConfig(**TINY)).generate(
        _image(), prompts, tmp_path / "v.mp4", progress=False
    )
    res = LongVideoGenerator(tiny, GenerateConfig(**TINY, seed=1)).generate(
        _image(), prompts, tmp_path / "v.mp4", progress=False
    )
    assert not res.skipped and res.resumed_from == 0


def test_interactive_prompts():
    out = io.StringIO()
    source = stdin_prompts(io.StringIO("first\n\nsecond\n"), out)
    assert [source(0), source(1), source(2), source(3)] == ["first", "first", "second", None]
    assert "prompt for clip 0" in out.getvalue()


def test_cfg_uses_one_batched_forward(tiny):
    calls = []
    hook = tiny.transformer.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    try:
        gen = LongVideoGenerator(tiny, GenerateConfig(**TINY, guidance_scale=5.0))
        ctx = tiny.encode_text(["x"])
        gen.generate_clip(0, "x", _image()[None], None, None, tiny.encode_image(_image()[None]), ctx)
        assert calls == [2, 2]  # steps=2, conditional + unconditional together
        calls.clear()
        LongVideoGenerator(tiny, GenerateConfig(**TINY, guidance_scale=1.0)).generate_clip(
            0, "x", _image()[None], None, None, None, None
        )
        assert calls == [1, 1]
    finally:
        hook.remove()


def test_the_negative_context_is_there_exactly_where_the_configuration_guides(tiny):
    """`negative_context` is what generate_clip takes as `neg_context`: the negative prompt's encoding
    where text CFG applies (scale above 1), None where it does not (the toy recipes' scale 1)."""
    assert LongVideoGenerator(tiny, GenerateConfig(**TINY, guidance_scale=1.0)).negative_context() is None
    cfg = GenerateConfig(**TINY, guidance_scale=5.0, negative_prompt="blurry")
    neg = LongVideoGenerator(tiny, cfg).negative_context()
    assert torch.equal(neg, tiny.encode_text(["blurry"]))  # the same call on the same input: bit for bit


def test_unipc_sampler_runs(tmp_path, tiny):
    cfg = GenerateConfig(**{**TINY, "steps": 3}, sampler="unipc")
    res = LongVideoGenerator(tiny, cfg).generate(
        _image(), fixed_prompts(["a", "b"]), tmp_path / "u.mp4", progress=False
    )
    assert res.num_frames == total_frames(2, 9, 1)


def _official_lora(transformer, rank=4):
    g = torch.Generator().manual_seed(0)
    sd = {}
    for i, block in enumerate(transformer.blocks):
        for lin, short in [("to_q", "q"), ("to_v", "v")]:
            w = getattr(block.attn1, lin).weight
            sd[f"blocks.{i}.self_attn.{short}.lora_A.weight"] = torch.randn(rank, w.shape[1], generator=g)
            sd[f"blocks.{i}.self_attn.{short}.lora_B.weight"] = torch.randn(w.shape[0], rank, generator=g)
    return sd


def test_official_lora_changes_the_video_and_no_lora_leaves_it(tmp_path):
    from svi.model.lora import load_lora

    lora_file = tmp_path / "svi_shot.safetensors"
    save_file(_official_lora(build_tiny().transformer), str(lora_file))
    videos = {}
    for name, lora in [("base", None), ("lora", lora_file)]:
        bb = build_tiny()
        if lora:
            load_lora(bb.transformer, lora)
        res = LongVideoGenerator(bb, GenerateConfig(**TINY)).generate(
            _image(), fixed_prompts(["a", "b"]), tmp_path / f"{name}.mp4", progress=False
        )
        videos[name] = read_frames(res.path).astype(int)
    assert np.abs(videos["base"] - videos["lora"]).max() > 10


@pytest.fixture(scope="module")
def lora_file(tmp_path_factory):
    """A LoRA on every to_q of the tiny preset (seed 0), with random nonzero weights."""
    from svi.config import LoraConfig
    from svi.model.lora import add_lora, export_lora

    bb = build_tiny(seed=0)
    add_lora(bb.transformer, LoraConfig(rank=2, alpha=2, target_modules=["to_q"]))
    g = torch.Generator().manual_seed(1)
    for name, p in bb.transformer.named_parameters():
        if ".lora_" in name:
            p.data = torch.randn(p.shape, generator=g) * 0.2
    return export_lora(bb.transformer, tmp_path_factory.mktemp("lora") / "adapter.safetensors")


def _cfg(**generate):
    from svi.config import build_config

    return build_config({"generate": {**TINY, **generate}})  # preset tiny, train.seed 0


def test_from_config_applies_the_lora_scale(lora_file):
    x = torch.randn(3, 24, generator=torch.Generator().manual_seed(2))  # to_q input: heads * head_dim
    out = {}
    for scale in (None, 1.0, 0.5):
        gen = LongVideoGenerator.from_config(
            _cfg(lora_scale=scale or 1.0), None if scale is None else lora_file, "cpu"
        )
        assert not gen.bb.transformer.training and gen.bb.lora_scale == scale
        assert not any(".lora_" in n for n, _ in gen.bb.transformer.named_parameters())  # merged
        with torch.no_grad():
            out[scale] = gen.bb.transformer.blocks[0].attn1.to_q(x)
    full, half = out[1.0] - out[None], out[0.5] - out[None]
    assert full.abs().max() > 1e-3
    torch.testing.assert_close(half, 0.5 * full)


@pytest.mark.bitwise(
    "from_config builds the same modules from the same seed and merges the LoRA with the same call the hand-built generator makes"
)
def test_from_config_matches_the_hand_built_generator_and_records_the_backbone(tmp_path, lora_file):
    # What `harness generate` did by hand on CPU before from_config (the LoRA merged): same frames, bit for bit.
    from svi.model.lora import load_lora

    cfg = _cfg(lora_scale=0.5)
    res = LongVideoGenerator.from_config(cfg, lora_file, "cpu").generate(
        _image(), fixed_prompts(["a", "b"]), tmp_path / "new.mp4", progress=False
    )
    bb = build_tiny(seed=cfg.train.seed)
    bb.to("cpu")
    bb.transformer.eval()
    load_lora(bb.transformer, lora_file, scale=0.5, fuse=True)
    ref = LongVideoGenerator(bb, cfg.generate).generate(
        _image(), fixed_prompts(["a", "b"]), tmp_path / "old.mp4", progress=False
    )
    assert np.array_equal(read_frames(res.path), read_frames(ref.path))
    meta = json.loads(res.sidecar.read_text())
    assert meta["backbone"] == {"preset": "tiny", "dtype": "float32", "attention": "sdpa", "lora_scale": 0.5}
    assert json.loads(ref.sidecar.read_text())["backbone"]["lora_scale"] is None  # set only by from_config


# -- batched generation -------------------------------------------------------------------------


@pytest.fixture()
def segments(monkeypatch):
    """The uint8 frames of every segment the generator writes, by (folder, video, segment): what the
    mp4 holds before the codec. libx264's output for the same frames varies slightly from call to
    call in a busy process, so frames are compared here exactly and the mp4s only loosely."""
    import svi.generation.generator as generator_module
    from svi.video_io import write_segment

    written = {}

    def spy(path, frames, fps):
        written[(path.parent.parent.name, path.parent.name.removesuffix(".parts"), path.name)] = frames.copy()
        return write_segment(path, frames, fps)

    monkeypatch.setattr(generator_module, "write_segment", spy)
    return written


def _frames_of(segments, folder, video):
    return {name: f for (d, v, name), f in segments.items() if d == folder and v == video}


def _jobs(folder, prompt_lists, **kw):
    from svi.generation.video import VideoJob

    return [
        VideoJob(_image(10 + i), fixed_prompts(p), folder / f"v{i}.mp4", **kw)
        for i, p in enumerate(prompt_lists)
    ]


def _assert_same_video(a, b, segs=None, a_dir=None, b_dir=None, exact=False):
    """Two results of the same video: sidecar clip records, segment frames (within one level, or
    exactly), and the mp4s up to codec noise."""
    meta_a, meta_b = (json.loads(r.sidecar.read_text()) for r in (a, b))
    assert meta_a["clips"] == meta_b["clips"] and meta_a["config_hash"] == meta_b["config_hash"]
    if segs is not None:
        fa, fb = _frames_of(segs, a_dir, a.path.stem), _frames_of(segs, b_dir, b.path.stem)
        assert fa.keys() == fb.keys() and fa
        for name in fa:
            diff = np.abs(fa[name].astype(int) - fb[name].astype(int))
            assert diff.max() <= (0 if exact else 1) and diff.mean() < 0.01, name
    va, vb = read_frames(a.path).astype(int), read_frames(b.path).astype(int)
    assert va.shape == vb.shape == (a.num_frames, 32, 32, 3)
    assert np.abs(va - vb).mean() < 1.0  # codec noise only


BATCHED = [
    dict(chaining="pixel"),
    dict(chaining="pixel", motion_frames=5, padding="zeros", mask="condition"),
    dict(chaining="latent"),
]


@pytest.mark.parametrize("settings", BATCHED, ids=["pixel", "pixel-k5-film", "latent"])
def test_a_batch_equals_one_video_at_a_time(tmp_path, tiny, segments, settings):
    # 3 videos of 3, 2 and 4 clips, each with its own image and prompts, 2 at a time: the third
    # takes the second's place when it ends. CFG on, so every forward holds 2 x 2 rows.
    cfg = GenerateConfig(**TINY, **settings, guidance_scale=5.0, batch_size=2)
    prompt_lists = [["a", "b", "c"], ["x", "y"], ["q", "r", "s", "t"]]
    gen = LongVideoGenerator(tiny, cfg)
    (tmp_path / "batch").mkdir()
    batch = gen.generate_batch(_jobs(tmp_path / "batch", prompt_lists), progress=False)
    alone = [
        gen.generate(_image(10 + i), fixed_prompts(p), tmp_path / "alone" / f"v{i}.mp4", progress=False)
        for i, p in enumerate(prompt_lists)
    ]
    assert [r.num_clips for r in batch] == [3, 2, 4] and not any(r.skipped for r in batch)
    for b, a, prompts in zip(batch, alone, prompt_lists):
        _assert_same_video(b, a, segments, "batch", "alone")
        assert [c["prompt"] for c in json.loads(b.sidecar.read_text())["clips"]] == prompts
        assert not (tmp_path / "batch" / f"{b.path.stem}.parts").exists()
    # each sample's own image and prompts: two samples differ far more than a sample from itself alone
    v0, v1 = (_frames_of(segments, "batch", v)["seg_00000.mp4"].astype(int) for v in ("v0", "v1"))
    assert np.abs(v0 - v1).mean() > 0.1
    # finished: a second call skips them all
    assert all(r.skipped for r in gen.generate_batch(_jobs(tmp_path / "batch", prompt_lists), progress=False))


def test_a_batch_follows_the_clip_by_clip_recipe(tmp_path, tiny, segments):
    # the batch's bookkeeping against the one-clip primitive chained by hand: clip k of each video
    # from its own noise stream (clip_seed(seed, k)) with its own prompt, conditioned on the previous clip's last frame, whose CLIP
    # feature it also takes
    cfg = GenerateConfig(**TINY, seed=3, guidance_scale=5.0, batch_size=2)
    gen = LongVideoGenerator(tiny, cfg)
    prompt_lists = [["a", "b", "c"], ["d", "e", "f"]]
    gen.generate_batch(_jobs(tmp_path / "batch", prompt_lists), progress=False)
    neg = tiny.encode_text([cfg.negative_prompt])
    for i, prompts in enumerate(prompt_lists):
        ref, chain = _image(10 + i)[None], None
        for k, prompt in enumerate(prompts):
            image_context = tiny.encode_image(ref if chain is None else chain[:, :, 0])
            video, _ = gen.generate_clip(k, prompt, ref, chain, None, image_context, neg)
            chain = video[:, :, -1:]
            expected = to_uint8_frames(video[0])[:-1].astype(int)
            got = segments[("batch", f"v{i}", f"seg_{k:05d}.mp4")].astype(int)
            assert np.abs(expected - got).max() <= 1 and np.abs(expected - got).mean() < 0.01


def test_a_batch_runs_each_stage_once_per_round(tmp_path, tiny, monkeypatch):
    # per round: one text-encoder call for the round's prompts, one VAE encode for the conditioning,
    # one image encode, one decode; per step one transformer forward of B conditional and B
    # unconditional rows, with a timestep per row
    calls = defaultdict(list)
    for name in ("encode_text", "encode_video", "encode_image", "decode_latents"):
        fn = getattr(tiny, name)
        monkeypatch.setattr(tiny, name, lambda x, _fn=fn, _name=name: calls[_name].append(len(x)) or _fn(x))
    hook = tiny.transformer.register_forward_hook(
        lambda m, args, out: calls["transformer"].append((args[0].shape[0], tuple(args[1].shape)))
    )
    try:
        gen = LongVideoGenerator(tiny, GenerateConfig(**TINY, guidance_scale=5.0, batch_size=3))
        gen.generate_batch(_jobs(tmp_path, [["a", "b"], ["c", "d"], ["e", "f"]]), progress=False)
    finally:
        hook.remove()
    assert calls["encode_text"] == [1, 3, 3]  # the negative prompt once, then each round's prompts
    assert calls["encode_video"] == calls["encode_image"] == calls["decode_latents"] == [3, 3]
    assert calls["transformer"] == [(6, (6,))] * 4  # 2 rounds x 2 steps


def _killed_at(prompts, clip):
    """A prompt source that raises at `clip`: the run dies there, after clip - 1 was saved."""

    def source(k):
        if k == clip:
            raise RuntimeError("killed")
        return prompts[k]

    return source


@pytest.mark.parametrize("chaining", ["pixel", "latent"])
@pytest.mark.bitwise(
    "one thread; the resumed batch has the uninterrupted batch's size and order, so every matrix product has the same shape (the comparison with one video alone keeps a tolerance: another batch size is another kernel)"
)
def test_a_batch_killed_after_clip_1_resumes_to_the_uninterrupted_batch(
    tmp_path, tiny, segments, one_thread, chaining
):
    gen = LongVideoGenerator(tiny, GenerateConfig(**TINY, chaining=chaining, batch_size=3))
    prompt_lists = [["a", "b", "c", "d"], ["e", "f", "g", "h"], ["i", "j", "k", "l"]]
    full = gen.generate_batch(_jobs(tmp_path / "full", prompt_lists), progress=False)
    jobs = _jobs(tmp_path / "cut", prompt_lists)
    jobs[1].prompts = _killed_at(prompt_lists[1], 2)
    with pytest.raises(RuntimeError, match="killed"):
        gen.generate_batch(jobs, progress=False)
    # every video of the batch got to clip 1, with the chaining state it has there alone
    for i, p in enumerate(prompt_lists):
        with pytest.raises(RuntimeError, match="killed"):
            gen.generate(_image(10 + i), _killed_at(p, 2), tmp_path / "alone" / f"v{i}.mp4", progress=False)
        cut, alone = (
            torch.load(tmp_path / d / f"v{i}.parts" / "state.pt", weights_only=False)
            for d in ("cut", "alone")
        )
        assert cut["next_clip"] == alone["next_clip"] == 2 and cut["clips"] == alone["clips"]
        torch.testing.assert_close(cut["chain"], alone["chain"], atol=1e-4, rtol=0)
        assert not (tmp_path / "cut" / f"v{i}.mp4").exists()
    resumed = gen.generate_batch(_jobs(tmp_path / "cut", prompt_lists), progress=False)
    assert [r.resumed_from for r in resumed] == [2, 2, 2]
    for r, f in zip(resumed, full):
        _assert_same_video(r, f, segments, "cut", "full", exact=True)


@pytest.mark.parametrize("settings", BATCHED, ids=["pixel", "pixel-k5-film", "latent"])
def test_videos_at_different_clips_share_a_batch(tmp_path, tiny, segments, settings):
    # v0 was killed after clip 1, v1 after clip 2, v2 is finished, v3 not started: the first round
    # takes clips 2, 3 and 0 together (with K = 5, clip 0's one condition frame needs its own encode)
    gen = LongVideoGenerator(tiny, GenerateConfig(**TINY, **settings, batch_size=3))
    prompt_lists = [["a", "b", "c"], ["d", "e", "f", "g"], ["h", "i"], ["j", "k"]]
    mixed = tmp_path / "mixed"
    for i, clip in [(0, 2), (1, 3)]:
        with pytest.raises(RuntimeError, match="killed"):
            gen.generate(
                _image(10 + i), _killed_at(prompt_lists[i], clip), mixed / f"v{i}.mp4", progress=False
            )
    gen.generate(_image(12), fixed_prompts(prompt_lists[2]), mixed / "v2.mp4", progress=False)
    results = gen.generate_batch(_jobs(mixed, prompt_lists), progress=False)
    assert [r.resumed_from for r in results] == [2, 3, 0, 0]
    assert [r.skipped for r in results] == [False, False, True, False]
    assert [r.num_clips for r in results] == [3, 4, 2, 2]
    for i, (r, p) in enumerate(zip(results, prompt_lists)):
        alone = gen.generate(
            _image(10 + i), fixed_prompts(p), tmp_path / "alone" / f"v{i}.mp4", progress=False
        )
        _assert_same_video(r, alone, segments, "mixed", "alone")


def test_guidance_passes_combine_as_text_cfg_and_multitalk():
    from svi.generation.sampling import GuidancePass, guidance_passes

    cfg = GenerateConfig(**TINY, guidance_scale=5.0)
    assert guidance_passes(cfg) == [
        GuidancePass(True, frozenset(), 5.0),
        GuidancePass(False, frozenset(), -4.0),
    ]
    # a pose stream is in both passes of text CFG
    both = frozenset({"pose"})
    assert [p.streams for p in guidance_passes(cfg, ["pose"])] == [both, both]
    assert guidance_passes(GenerateConfig(**TINY, guidance_scale=1.0)) == [
        GuidancePass(True, frozenset(), 1.0)
    ]

    # SVI-Talk: v = v_u + s_t (v_c - v_t) + s_a (v_t - v_u), for any velocities
    talk = GenerateConfig(**TINY, guidance_scale=2.0, audio_guidance_scale=4.5)
    passes = guidance_passes(talk, ["audio"])
    assert [(p.text, sorted(p.streams)) for p in passes] == [
        (True, ["audio"]),
        (False, ["audio"]),
        (False, []),
    ]
    v_c, v_t, v_u = 0.7, -1.3, 2.9
    expected = v_u + 2.0 * (v_c - v_t) + 4.5 * (v_t - v_u)
    assert sum(p.weight * v for p, v in zip(passes, (v_c, v_t, v_u))) == pytest.approx(expected)
    assert sum(p.weight for p in passes) == pytest.approx(1.0)
    # audio scale 1: its pass has weight 0 and is left out (text CFG against the audio-only pass)
    no_audio_cfg = guidance_passes(
        GenerateConfig(**TINY, guidance_scale=2.0, audio_guidance_scale=1.0), ["audio"]
    )
    assert [(p.text, p.weight) for p in no_audio_cfg] == [(True, 2.0), (False, -1.0)]
    assert all(p.streams == {"audio"} for p in no_audio_cfg)
