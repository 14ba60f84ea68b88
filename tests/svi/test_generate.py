"""Long-video generation: arithmetic, prompts, seeds, chaining, resume, LoRA on/off."""

import io
import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from svi.backbone import build_tiny
from svi.config import GenerateConfig
from svi.generate import (
    LongVideoGenerator,
    assign_prompts,
    clips_for_seconds,
    fixed_prompts,
    lead_frames,
    parse_length,
    stdin_prompts,
    total_frames,
)
from svi.video_io import read_frames

TINY = dict(num_frames=9, height=32, width=32, steps=2)


@pytest.fixture(scope="module")
def tiny():
    return build_tiny()


def _image(seed=0):
    return torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("seconds, clips", [(50, 10), (250, 50)])
def test_clip_count_for_paper_lengths(seconds, clips):
    # F = 81, K = 1, 16 fps: N (F - K) + K frames; 10 clips ~ 50 s, 50 clips ~ 250 s (METHOD.md §6)
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
    assert len(set(seeds)) == 4 and seeds[0] == 7
    ranges = [c["video_frames"] for c in meta["clips"]]
    assert ranges[0][0] == 0 and ranges[-1][1] == len(frames)
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous, no gap or overlap
    assert not (tmp_path / "v.parts").exists()
    # finished video: a second call does nothing
    assert gen.generate(
        _image(), fixed_prompts(["p0", "p1", "p2", "p3"]), tmp_path / "v.mp4", progress=False
    ).skipped


def test_pixel_chaining_conditions_on_the_last_frames(tiny):
    gen = LongVideoGenerator(tiny, GenerateConfig(**TINY, motion_frames=1))
    ref = _image()[None]
    video = torch.rand(1, 3, 9, 32, 32) * 2 - 1
    chain = gen._next_chain(video, None)
    assert torch.equal(chain, video[:, :, -1:])
    y = gen._condition(ref, chain, None)
    from svi.conditioning import build_condition

    torch.testing.assert_close(y, build_condition(tiny, video[:, :, -1:], 9, "reference", ref))


@pytest.fixture()
def one_thread():
    # byte-identical videos need one summation order: a single thread (MKL may vary its thread count)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
    from svi.lora import load_lora

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
    from svi.lora import add_lora, export_lora

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
        with torch.no_grad():
            out[scale] = gen.bb.transformer.blocks[0].attn1.to_q(x)
    full, half = out[1.0] - out[None], out[0.5] - out[None]
    assert full.abs().max() > 1e-3
    torch.testing.assert_close(half, 0.5 * full)


def test_from_config_matches_the_hand_built_generator_and_records_the_backbone(tmp_path, lora_file):
    # What `harness generate` did by hand on CPU before from_config: same frames, bit for bit.
    from svi.lora import load_lora

    cfg = _cfg(lora_scale=0.5)
    res = LongVideoGenerator.from_config(cfg, lora_file, "cpu").generate(
        _image(), fixed_prompts(["a", "b"]), tmp_path / "new.mp4", progress=False
    )
    bb = build_tiny(seed=cfg.train.seed)
    bb.to("cpu")
    bb.transformer.eval()
    load_lora(bb.transformer, lora_file, scale=0.5)
    ref = LongVideoGenerator(bb, cfg.generate).generate(
        _image(), fixed_prompts(["a", "b"]), tmp_path / "old.mp4", progress=False
    )
    assert np.array_equal(read_frames(res.path), read_frames(ref.path))
    meta = json.loads(res.sidecar.read_text())
    assert meta["backbone"] == {"preset": "tiny", "dtype": "float32", "attention": "sdpa", "lora_scale": 0.5}
    assert json.loads(ref.sidecar.read_text())["backbone"]["lora_scale"] is None  # set only by from_config
