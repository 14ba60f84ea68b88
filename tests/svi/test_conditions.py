"""svi.conditions.attach and the conditional paths through training and generation (SVI-Talk, SVI-Dance):
adapters built from the config, the official dropouts, per-clip stream slices, guidance rows, and
end-to-end runs on the tiny preset in the official data layouts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from svi.conditions.attach import (
    attach,
    audio_encoder,
    audio_stream,
    clip_streams,
    pose_stream,
    training_inputs,
)
from svi.config import ConditionConfig, GenerateConfig, load_config
from svi.model.adapters import adapters_of
from svi.model.backbone import build_tiny

TINY_GEN = dict(num_frames=9, height=32, width=32, steps=2, batch_size=2)


def test_attach_builds_the_adapter_of_the_kind():
    assert attach(build_tiny(), ConditionConfig()) is None
    bb = build_tiny()
    talk = attach(bb, ConditionConfig(kind="audio"))
    assert list(adapters_of(bb.transformer)) == ["audio"] and not talk.trainable
    assert bb.audio_encoder is not None and talk.audio_proj is not None
    bb = build_tiny()
    dance = attach(bb, ConditionConfig(kind="pose"))
    assert list(adapters_of(bb.transformer)) == ["pose"] and dance.trainable


def test_real_talk_needs_multitalk_and_wav2vec2(tmp_path):
    with pytest.raises(FileNotFoundError, match="chinese-wav2vec2-base"):
        audio_encoder(ConditionConfig(kind="audio"), "wan2.1-i2v-14b")


def test_training_inputs_follow_the_official_dropouts():
    windows = torch.randn(64, 9, 5, 2, 4)
    g = torch.Generator().manual_seed(0)
    inputs, image = training_inputs({"prompt": [""] * 64, "audio": windows}, ConditionConfig(kind="audio"), g)
    dropped = inputs["audio"].flatten(1).abs().sum(1) == 0
    assert 0 < dropped.sum() < 20 and not any(image)  # ~10% of rows lose their audio, never the image
    assert torch.equal(inputs["audio"][~dropped], windows[~dropped])

    from svi.conditions.pose import draw_dance_drops

    pose = torch.rand(64, 3, 9, 16, 16)
    inputs, image = training_inputs(
        {"prompt": [""] * 64, "pose": pose}, ConditionConfig(kind="pose"), torch.Generator().manual_seed(5)
    )
    twin = torch.Generator().manual_seed(5)
    drops = [draw_dance_drops(twin) for _ in range(64)]
    nan_rows = inputs["pose"].flatten(1).isnan().all(1)
    assert nan_rows.tolist() == [d.pose for d in drops] and image == [d.image for d in drops]
    assert 0 < sum(image) < 64 and torch.equal(inputs["pose"][~nan_rows], pose[~nan_rows])


class RowEncoder:
    """Features whose value is the row index: which rows a slice took can be read off."""

    def __call__(self, audio, num_frames=None, fps=25):
        n = num_frames or int(audio.shape[0] / 16000 * fps)
        return torch.arange(n, dtype=torch.float32).view(n, 1, 1).expand(n, 2, 3).clone()


def test_audio_stream_slices_official_and_aligned(tmp_path):
    from svi.conditions.audio import write_wav
    from svi.model.adapters import clip_frame_range

    wav = write_wav(tmp_path / "a.wav", np.zeros(16000 * 2, dtype=np.float32))  # 50 video frames
    gen = GenerateConfig(num_frames=9, height=32, width=32, motion_frames=1, fps=25)
    centre = lambda w: w[:, 2, 0, 0].long().tolist()  # noqa: E731 - the window's own row

    official = audio_stream(RowEncoder(), wav, gen, ConditionConfig(kind="audio", schedule="official"))
    assert centre(official(0, *clip_frame_range(0, 9, 0))) == list(range(0, 9))
    assert centre(official(2, *clip_frame_range(2, 9, 0))) == list(range(17, 26))  # k F - K = 17
    aligned = audio_stream(RowEncoder(), wav, gen, ConditionConfig(kind="audio", schedule="aligned"))
    assert centre(aligned(2, *clip_frame_range(2, 9, 1))) == list(range(16, 25))  # k (F - K) = 16
    assert aligned(7, *clip_frame_range(7, 9, 1)) is None  # starts at frame 56: the audio has ended


def test_pose_stream_slices_official_and_aligned(tmp_path):
    from toyworld.synthetic import write_video

    frames = np.stack([np.full((32, 32, 3), 8 * i, dtype=np.uint8) for i in range(30)])
    path = tmp_path / "pose.mp4"
    write_video(path, frames, 25)
    gen = GenerateConfig(num_frames=9, height=32, width=32, motion_frames=1)
    index = lambda p: (p.mean(dim=(0, 2, 3)) * 255 / 8).round().long().tolist()  # noqa: E731
    aligned = pose_stream(path, gen, ConditionConfig(kind="pose", schedule="aligned"))
    assert index(aligned(1, 8, 17)) == list(range(8, 17))
    official = pose_stream(path, gen, ConditionConfig(kind="pose", schedule="official"))
    assert index(official(1, 8, 17)) == [8] + list(range(8, 16))  # one frame behind, as officially


def test_guided_rows_give_audio_to_the_text_passes_and_null_to_the_last():
    from svi.generation.sampling import sample_latents

    bb = build_tiny()
    adapter = attach(bb, ConditionConfig(kind="audio"))
    seen = []
    bb.transformer.register_forward_pre_hook(lambda m, a: seen.append(adapter.current_input().clone()))
    cfg = GenerateConfig(**{**TINY_GEN, "steps": 1}, guidance_scale=2.0, audio_guidance_scale=5.0)
    x = torch.randn(2, 9, 5, adapter_layers(bb), bb.audio_encoder.dim) + 3
    c, f, h, w = bb.latent_shape(9, 32, 32)
    sample_latents(
        bb.transformer,
        torch.randn(2, c, f, h, w),
        torch.randn(2, 20, f, h, w),
        bb.encode_text(["a", "b"]),
        bb.encode_text([""]),
        bb.encode_image(torch.zeros(2, 3, 32, 32)),
        cfg,
        streams={"audio": x},
    )
    rows = seen[0]  # [3 B, ...]: text + audio, negative + audio, negative + null audio
    assert torch.equal(rows[:2], x) and torch.equal(rows[2:4], x) and not rows[4:].any()


def adapter_layers(bb) -> int:
    return bb.audio_encoder.num_layers


# -- end to end on the tiny preset -----------------------------------------------------------------


def _train(tmp: Path, variant: str, data: Path, extra: str = "") -> tuple[Path, object]:
    from harness.run.launch import child_env

    out = tmp / f"train_{variant}"
    text = f"""
variant: {variant}
model: {{preset: tiny}}
lora: {{rank: 4, alpha: 4}}
memory: {{capacity: 2, budget_bytes: 16777216, warmup_steps: 1}}
data: {{root: {data}, num_frames: 9, height: 32, width: 32}}
train: {{steps: 3, lr: 0.002, checkpoint_every: 3, seed: 1, output_dir: {out}}}
generate: {{num_frames: 9, height: 32, width: 32, steps: 2, batch_size: 2}}
{extra}"""
    f = tmp / f"{variant}.yaml"
    f.write_text(text)
    run = subprocess.run(
        [sys.executable, "-m", "svi.training.train", "--config", str(f)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return out / "lora.safetensors", load_config(f)


def _frames(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, size=(1, 40, 40, 3))
    return np.clip(base + np.arange(n)[:, None, None, None] * 2, 0, 255).astype(np.uint8)


@pytest.mark.slow
def test_talk_trains_with_frozen_audio_and_generates_from_a_wav(tmp_path):
    from svi.conditions.audio import write_wav
    from svi.generation.generator import LongVideoGenerator
    from svi.generation.video import fixed_prompts
    from svi.training.talk_data import write_talk_sample

    enc = audio_encoder(ConditionConfig(kind="audio"), "tiny")
    rng = np.random.default_rng(0)
    for i in range(2):
        write_talk_sample(tmp_path / "talk", f"s{i}", _frames(20, i), rng.normal(0, 0.1, 12800), encoder=enc)
    lora, cfg = _train(tmp_path, "talk", tmp_path / "talk")
    keys = load_file(str(lora)).keys()
    assert keys and not any("audio" in k or "norm_x" in k for k in keys)  # the audio modules stayed frozen

    gen = LongVideoGenerator.from_config(cfg, lora)
    wav = write_wav(tmp_path / "speech.wav", rng.normal(0, 0.1, 16000).astype(np.float32))  # 25 frames
    streams = clip_streams(gen.bb, {"audio": wav}, cfg.generate, cfg.condition)
    image = torch.zeros(3, 32, 32)
    result = gen.generate(
        image, fixed_prompts(["a person is talking"] * 5), tmp_path / "talk.mp4", streams=streams
    )
    # official: clips keep all 9 frames; clip k's audio starts at 9k - 1, so clip 3 (26) is past the end
    assert result.num_clips == 3 and result.num_frames == 27
    meta = json.loads(result.sidecar.read_text())
    assert meta["generate"]["assembly"] == "keep_all"


@pytest.mark.slow
def test_dance_trains_the_pose_encoder_and_generates_from_a_pose_video(tmp_path):
    from svi.conditions.pose import OFFICIAL_KEY
    from svi.generation.generator import LongVideoGenerator
    from svi.generation.video import fixed_prompts
    from svi.training.dance_data import write_frame_pickle
    from toyworld.synthetic import write_video

    for i in range(2):
        folder = tmp_path / "dance" / "preprocessed" / f"d{i}"
        write_frame_pickle(folder / "frame_data.pkl", list(_frames(16, i)))
        write_frame_pickle(folder / "dw_pose_with_foot_wo_face.pkl", list(255 - _frames(16, 10 + i)))
    lora, cfg = _train(tmp_path, "dance", tmp_path / "dance")
    keys = load_file(str(lora)).keys()
    assert any(OFFICIAL_KEY in k for k in keys) and any("lora" in k for k in keys)  # encoder + LoRA, one file

    gen = LongVideoGenerator.from_config(cfg, lora)
    write_video(tmp_path / "pose.mp4", 255 - _frames(12, 3), 16)
    streams = clip_streams(gen.bb, {"pose": tmp_path / "pose.mp4"}, cfg.generate, cfg.condition)
    result = gen.generate(
        torch.zeros(3, 32, 32),
        fixed_prompts(["the person is dancing"] * 2),
        tmp_path / "d.mp4",
        streams=streams,
    )
    assert result.num_clips == 2 and result.num_frames == 17  # dance keeps video[:-K]: 9 + 8


def test_adapters_encode_their_input_once_per_clip_when_sampling():
    """The pose encoder (3D convs over full-size pose maps) and the audio projection run once per clip,
    not once per denoising step: their input is the same at every step."""
    from svi.generation.sampling import sample_latents

    bb = build_tiny()
    encoder = attach(bb, ConditionConfig(kind="pose"))
    calls = []
    encoder.register_forward_hook(lambda m, a, out: calls.append(1))
    cfg = GenerateConfig(**{**TINY_GEN, "steps": 3}, guidance_scale=2.0)
    c, f, h, w = bb.latent_shape(9, 32, 32)
    args = (
        torch.randn(1, c, f, h, w),
        torch.randn(1, 20, f, h, w),
        bb.encode_text(["a"]),
        bb.encode_text([""]),
    )
    sample_latents(bb.transformer, *args, None, cfg, streams={"pose": torch.rand(1, 3, 9, 32, 32)})
    assert len(calls) == 1  # 3 steps x 2 guidance passes in one forward each: one encoding
    with torch.enable_grad():  # training: every forward encodes (autograd needs its own graph)
        from svi.model.adapters import conditioning

        with conditioning(bb.transformer, pose=torch.rand(1, 3, 9, 32, 32)):
            for _ in range(2):
                bb.transformer(torch.cat(args[:2], 1), torch.ones(1), args[2], None, return_dict=False)
    assert len(calls) == 3


def test_a_stand_in_file_loads_its_adapter_and_merges_its_lora(tmp_path):
    """A pretrained stand-in (adapter + LoRA fine-tune, one file) loads as that model: the adapter's
    weights into the adapter, the LoRA merged into the base, so a new LoRA can train on top."""
    from svi.config import LoraConfig
    from svi.model.adapters import conditioning
    from svi.model.lora import add_lora, export_lora

    bb = build_tiny()
    attach(bb, ConditionConfig(kind="pose", train_adapter=True))
    add_lora(bb.transformer, LoraConfig(rank=4, alpha=4))
    with torch.no_grad():
        for name, p in bb.transformer.named_parameters():
            if "lora_B" in name or "svi_pose" in name:
                p.add_(torch.randn_like(p) * 0.05)
    path = export_lora(bb.transformer, tmp_path / "stand_in.safetensors")

    fresh = build_tiny()
    attach(fresh, ConditionConfig(kind="pose", weights=str(path)))
    assert not any("lora" in n for n, _ in fresh.transformer.named_parameters())  # merged, not attached
    c, f, h, w = fresh.latent_shape(9, 32, 32)
    args = (torch.randn(1, 36, f, h, w), torch.full((1,), 500.0), fresh.encode_text(["a"]), None)
    pose = torch.rand(1, 3, 9, 32, 32)
    outs = []
    for model in (bb.transformer.eval(), fresh.transformer.eval()):
        with torch.no_grad(), conditioning(model, pose=pose):
            outs.append(model(*args, return_dict=False)[0])
    assert torch.allclose(outs[0], outs[1], atol=1e-5)


def test_adapter_lr_gives_the_pose_encoder_its_own_group_and_none_keeps_one_group_as_officially():
    from svi.config import LoraConfig, TrainConfig
    from svi.model.lora import add_lora
    from svi.training.train import param_groups

    bb = build_tiny()
    attach(bb, ConditionConfig(kind="pose", train_adapter=True))
    add_lora(bb.transformer, LoraConfig(rank=4, alpha=4))
    trainable = {id(p) for p in bb.transformer.parameters() if p.requires_grad}

    (one,) = param_groups(bb.transformer, TrainConfig(lr=1e-4))  # the official scripts: one rate
    assert {id(p) for p in one["params"]} == trainable and "lr" not in one

    lora, encoder = param_groups(bb.transformer, TrainConfig(lr=1e-4, adapter_lr=5e-4))
    names = {id(p): n for n, p in bb.transformer.named_parameters()}
    assert encoder["lr"] == 5e-4 and "lr" not in lora
    assert all("svi_pose" in names[id(p)] for p in encoder["params"])
    assert all("lora_" in names[id(p)] for p in lora["params"])
    assert {id(p) for p in lora["params"] + encoder["params"]} == trainable
    opt = torch.optim.AdamW(param_groups(bb.transformer, TrainConfig(lr=1e-4, adapter_lr=5e-4)), lr=1e-4)
    assert [g["lr"] for g in opt.param_groups] == [1e-4, 5e-4]
