"""svi.conditions.multitalk: MultiTalk's audio projection and cross-attention as an adapter on diffusers' Wan transformer."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from diffusers import WanTransformer3DModel
from safetensors.torch import save_file

from svi.conditions.audio import frame_window_indices
from svi.conditions.multitalk import (
    AudioAdapter,
    AudioCrossAttention,
    AudioProjection,
    MultiTalkWeightsError,
    drop_audio,
    group_windows,
    load_multitalk,
)
from svi.config import LoraConfig
from svi.model.adapters import MissingConditionError, conditioning
from svi.model.backbone import build_tiny
from svi.model.lora import add_lora

pytestmark = pytest.mark.filterwarnings(
    "ignore::RuntimeWarning"
)  # peft notes diffusers' zero-filled img keys

# Small audio sizes: 2 wav2vec2 layers of width 8, 5-frame windows, 4 tokens of 16.
AUDIO = {"audio_layers": 2, "audio_dim": 8, "intermediate_dim": 16, "output_dim": 16, "context_tokens": 4}
F_PIX = 9  # pixel frames of the tiny clip: latents [16, 3, 4, 4], grid (3, 2, 2)


@pytest.fixture(scope="module")
def base() -> WanTransformer3DModel:
    return build_tiny().transformer.eval()


def inputs(seed: int = 0, batch: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, 36, 3, 4, 4, generator=g),
        torch.tensor([321.0] * batch),
        torch.randn(batch, 8, 32, generator=g),
        torch.randn(batch, 17, 32, generator=g),
    )


def windows(seed: int = 0, batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, F_PIX, 5, 2, 8, generator=torch.Generator().manual_seed(seed))


def adapted(base, seed: int = 1):
    transformer = copy.deepcopy(base)
    torch.manual_seed(seed)
    adapter = AudioAdapter.for_transformer(transformer, **AUDIO).attach(transformer)
    return transformer, adapter


def run(transformer, audio, seed=0, batch=1):
    with torch.no_grad(), conditioning(transformer, audio=audio):
        return transformer(*inputs(seed, batch), return_dict=False)[0]


# -- pure functions -----------------------------------------------------------------------------


def test_group_windows_known_answer():
    # value = 10 * pixel frame + window position
    w = (10 * torch.arange(9)[:, None] + torch.arange(5)[None, :]).float().view(1, 9, 5, 1, 1)
    first, later = group_windows(w)
    assert first.flatten().tolist() == [0, 1, 2, 3, 4]
    assert later.shape == (1, 2, 8, 1, 1)
    assert later[0, 0].flatten().tolist() == [10, 11, 12, 22, 32, 42, 43, 44]
    assert later[0, 1].flatten().tolist() == [50, 51, 52, 62, 72, 82, 83, 84]
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        group_windows(w[:, :8])


def test_latent_frames_see_consecutive_audio_rows():
    # With windows cut from the features, latent frame j >= 1 (pixel frames 4j-3 .. 4j) sees feature rows
    # 4j-5 .. 4j+2 (clamped): its 4 pixel frames' rows with 2 rows of context each side.
    rows = frame_window_indices(81).float()[None, :, :, None, None]  # [1, 81, 5, 1, 1]
    first, later = group_windows(rows)
    assert first.flatten().tolist() == [0, 0, 0, 1, 2]
    for j in range(1, 21):
        expected = [min(max(r, 0), 80) for r in range(4 * j - 5, 4 * j + 3)]
        assert later[0, j - 1].flatten().tolist() == expected


def test_talk_variant_guidance_is_the_official_three_pass_formula():
    """svi_video_talk.py: v = v_uncond + text (v_cond - v_drop_text) + audio (v_drop_text - v_uncond),
    text 2 and audio 5 (test_svi_talk.py's defaults); both scales 1 leave v_cond alone."""
    from svi.config import load_config
    from svi.generation.sampling import guidance_passes

    gen = load_config(overrides=["variant=talk"]).generate
    cond, drop_text, uncond = 3.0, 2.0, 1.0
    passes = guidance_passes(gen, ["audio"])
    assert [(p.text, "audio" in p.streams) for p in passes] == [(True, True), (False, True), (False, False)]
    assert sum(p.weight * v for p, v in zip(passes, (cond, drop_text, uncond))) == 8.0  # 1 + 2 (1) + 5 (1)
    plain = gen.model_copy(update={"guidance_scale": 1.0, "audio_guidance_scale": 1.0})
    assert [p.weight for p in guidance_passes(plain, ["audio"])] == [1.0]


def test_drop_audio_zeroes_whole_rows_with_probability_p():
    w = torch.randn(4000, 3, 2) + 5
    out, dropped = drop_audio(w, 0.1, torch.Generator().manual_seed(0))
    assert dropped.dtype == torch.bool and dropped.shape == (4000,)
    assert 0.08 < dropped.float().mean().item() < 0.12
    assert torch.all(out[dropped] == 0)  # the null audio is all-zero windows, as officially
    assert torch.equal(out[~dropped], w[~dropped])
    again, dropped_again = drop_audio(w, 0.1, torch.Generator().manual_seed(0))
    assert torch.equal(dropped, dropped_again) and torch.equal(out, again)
    assert not drop_audio(w, 0.0)[1].any() and drop_audio(w, 1.0)[1].all()
    with pytest.raises(ValueError):
        drop_audio(w, 1.5)


# -- modules --------------------------------------------------------------------------------------


def test_projection_shapes_and_real_scale_sizes():
    proj = AudioProjection(
        **{k: AUDIO[k] for k in ("audio_layers", "audio_dim", "intermediate_dim", "output_dim")}
    )
    assert proj(torch.randn(2, 9, 5, 2, 8)).shape == (2, 3, 32, 16)
    real = AudioProjection()  # MultiTalk: 12 x 768 features, windows of 5 (first) and 8 (later) rows
    assert real.proj1.in_features == 5 * 12 * 768 and real.proj1_vf.in_features == 8 * 12 * 768
    assert real.proj3.out_features == 32 * 768
    with torch.device("meta"):
        assert real.to("meta")(torch.empty(1, 81, 5, 12, 768)).shape == (1, 21, 32, 768)


def test_projection_matches_multitalks_formula():
    # tokens_j = LayerNorm(proj3(relu(proj2(relu(proj1_j(rows_j flattened as (window, layer, channel)))))))
    torch.manual_seed(0)
    proj = AudioProjection(audio_layers=2, audio_dim=3, intermediate_dim=6, output_dim=4, context_tokens=2)
    w = torch.randn(1, 5, 5, 2, 3)  # 5 pixel frames -> 2 latent frames
    out = proj(w)
    rows_0 = torch.cat([w[0, 0, i, layer] for i in range(5) for layer in range(2)])
    rows_1 = torch.cat(
        [w[0, 1, i, layer] for i in range(3) for layer in range(2)]
        + [w[0, f, 2, layer] for f in (2, 3) for layer in range(2)]
        + [w[0, 4, i, layer] for i in range(2, 5) for layer in range(2)]
    )
    for j, (rows, first) in enumerate(((rows_0, proj.proj1), (rows_1, proj.proj1_vf))):
        h = torch.relu(proj.proj2(torch.relu(first(rows))))
        expected = torch.nn.functional.layer_norm(
            proj.proj3(h).view(2, 4), (4,), proj.norm.weight, proj.norm.bias
        )
        assert torch.allclose(out[0, j], expected, atol=1e-6)


def test_audio_cross_attention_matches_multitalks_formula():
    # kv_linear's output is [k | v] (MultiTalk views it as (2, heads, head_dim)); softmax(q k^T / sqrt(hd)) v
    # per head and per latent frame; then proj.
    torch.manual_seed(0)
    dim, heads, frames, s, t = 8, 2, 2, 3, 4
    attn = AudioCrossAttention(dim=dim, context_dim=6, heads=heads)
    x, tokens = torch.randn(1, frames * s, dim), torch.randn(1, frames, t, 6)
    w, b = attn.kv_linear.weight, attn.kv_linear.bias
    expected = []
    for f in range(frames):
        q = attn.q_linear(x[0, f * s : (f + 1) * s]).view(s, heads, -1)
        k = (tokens[0, f] @ w[:dim].T + b[:dim]).view(t, heads, -1)
        v = (tokens[0, f] @ w[dim:].T + b[dim:]).view(t, heads, -1)
        weights = torch.softmax(torch.einsum("shd,thd->hst", q, k) / (dim // heads) ** 0.5, dim=-1)
        expected.append(torch.einsum("hst,thd->shd", weights, v).reshape(s, dim))
    expected = attn.proj(torch.cat(expected))
    assert torch.allclose(attn(x, tokens)[0], expected, atol=1e-5)


def test_audio_cross_attention_is_local_per_latent_frame():
    torch.manual_seed(0)
    attn = AudioCrossAttention(dim=24, context_dim=16, heads=2)
    x = torch.randn(2, 3 * 4, 24)  # 3 latent frames of 4 tokens
    tokens = torch.randn(2, 3, 5, 16)
    out = attn(x, tokens)
    changed = tokens.clone()
    changed[:, 1] += torch.randn(2, 5, 16)
    diff = (attn(x, changed) - out).abs().amax(dim=(0, 2)).view(3, 4)
    assert torch.all(diff[1] > 1e-4)  # latent frame 1's tokens follow its audio
    assert torch.all(diff[[0, 2]] == 0)  # the others do not see it


@pytest.mark.bitwise(
    "a silent audio path adds exact zeros to the hidden states, and x + 0.0 is x in floating point"
)
def test_only_the_audio_path_changes_the_output(base):
    with torch.no_grad():
        bare = base(*inputs(), return_dict=False)[0]
    transformer, adapter = adapted(base)
    with torch.no_grad():
        for block in adapter.blocks:
            block.audio_cross_attn.proj.weight.zero_()
            block.audio_cross_attn.proj.bias.zero_()
    assert torch.equal(run(transformer, windows(0)), bare)  # bit-identical with a silent audio path

    transformer, adapter = adapted(base)
    with_audio = run(transformer, windows(0))
    assert with_audio.shape == bare.shape
    assert not torch.allclose(with_audio, bare, atol=1e-4)
    assert not torch.allclose(run(transformer, windows(1)), with_audio, atol=1e-4)


def test_hooks_give_multitalks_block_order(base):
    # Reference: one diffusers block written out with MultiTalk's order, x + text + audio(norm_x(x + text)).
    transformer, adapter = adapted(base)
    block, index = transformer.blocks[1], 1
    captured = {}
    block.register_forward_hook(lambda m, args, out: captured.update(args=args, out=out))
    run(transformer, windows(0))
    x, context, temb, rope = captured["args"]
    with torch.no_grad():
        shift, scale, gate, c_shift, c_scale, c_gate = (block.scale_shift_table + temb.float()).chunk(
            6, dim=1
        )
        h = x + block.attn1.forward(block.norm1(x) * (1 + scale) + shift, None, None, rope) * gate
        text = block.attn2.forward(block.norm2.forward(h), context, None, None)
        audio = adapter.blocks[index](h + text, adapter._tokens)
        h = h + text + audio
        expected = h + block.ffn(block.norm3(h) * (1 + c_scale) + c_shift) * c_gate
    assert torch.allclose(captured["out"], expected, atol=1e-5)
    assert audio.abs().max() > 1e-3  # the audio term is not negligible


def test_batch_rows_follow_their_own_audio(base):
    transformer, _ = adapted(base)
    a, b = windows(0), windows(1)
    both = run(transformer, torch.cat([a, b]), batch=2)
    x, t, c, i = inputs(0, 2)
    with torch.no_grad(), conditioning(transformer, audio=b):
        second = transformer(x[1:], t[1:], c[1:], i[1:], return_dict=False)[0]
    assert torch.allclose(both[1:], second, atol=1e-5)


def test_missing_or_misshapen_audio_is_an_error(base):
    transformer, _ = adapted(base)
    with pytest.raises(MissingConditionError, match="audio"), torch.no_grad():
        transformer(*inputs(), return_dict=False)
    with pytest.raises(ValueError, match="latent frames"):
        run(transformer, torch.randn(1, 13, 5, 2, 8))  # 13 pixel frames -> 4 latent frames, video has 3
    with pytest.raises(ValueError, match="windows"):
        run(transformer, torch.randn(2, F_PIX, 5, 2, 8))  # batch 2 for a batch-1 forward


def test_audio_stays_frozen_under_lora(base):
    transformer, adapter = adapted(base)
    assert not any(p.requires_grad for p in adapter.parameters())
    reference = copy.deepcopy(base)
    add_lora(reference, LoraConfig(rank=4, alpha=4))
    add_lora(transformer, LoraConfig(rank=4, alpha=4))
    trainable = [n for n, p in transformer.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in n for n in trainable)
    assert not any(n.startswith("svi_audio.") for n in trainable)
    assert not any(p.requires_grad for p in adapter.parameters())
    # peft wrapped exactly the base model's layers, none of the audio modules
    assert sorted(trainable) == sorted(n for n, p in reference.named_parameters() if p.requires_grad)
    out = run(transformer, windows(0))  # still runs, with the audio path
    assert torch.isfinite(out).all()


def test_gradient_checkpointing_recomputes_the_audio_path(base):
    def input_grad(checkpointing: bool) -> torch.Tensor:
        transformer, _ = adapted(base)
        transformer.train()
        if checkpointing:
            transformer.enable_gradient_checkpointing()
        x, t, c, i = inputs(0)
        x.requires_grad_(True)
        with conditioning(transformer, audio=windows(0)):
            transformer(x, t, c, i, return_dict=False)[0].square().mean().backward()
        return x.grad

    assert torch.allclose(input_grad(True), input_grad(False), atol=1e-6)


# -- MultiTalk weights -----------------------------------------------------------------------------


def multitalk_state(
    num_blocks=2, dim=24, ctx=16, inter=16, tokens=4, rows=5 * 2 * 8, rows_vf=8 * 2 * 8, seed=0
):
    """A state dict written in MultiTalk's key names and shapes, plus some base DiT keys."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g)

    sd = {
        "audio_proj.proj1.weight": r(inter, rows),
        "audio_proj.proj1.bias": r(inter),
        "audio_proj.proj1_vf.weight": r(inter, rows_vf),
        "audio_proj.proj1_vf.bias": r(inter),
        "audio_proj.proj2.weight": r(inter, inter),
        "audio_proj.proj2.bias": r(inter),
        "audio_proj.proj3.weight": r(tokens * ctx, inter),
        "audio_proj.proj3.bias": r(tokens * ctx),
        "audio_proj.norm.weight": r(ctx),
        "audio_proj.norm.bias": r(ctx),
        "patch_embedding.weight": r(dim, 36, 1, 2, 2),  # base DiT keys: ignored
    }
    for n in range(num_blocks):
        p = f"blocks.{n}."
        sd |= {
            p + "audio_cross_attn.q_linear.weight": r(dim, dim),
            p + "audio_cross_attn.q_linear.bias": r(dim),
            p + "audio_cross_attn.kv_linear.weight": r(2 * dim, ctx),
            p + "audio_cross_attn.kv_linear.bias": r(2 * dim),
            p + "audio_cross_attn.proj.weight": r(dim, dim),
            p + "audio_cross_attn.proj.bias": r(dim),
            p + "norm_x.weight": r(dim),
            p + "norm_x.bias": r(dim),
            p + "self_attn.q.weight": r(dim, dim),
        }
    return sd


def audio_part(sd):
    return {
        k: v
        for k, v in sd.items()
        if k.startswith("audio_proj.") or ".audio_cross_attn." in k or ".norm_x." in k
    }


def test_load_multitalk_from_every_format(tmp_path, base):
    sd = multitalk_state()
    save_file(sd, tmp_path / "multitalk.safetensors")
    torch.save(sd, tmp_path / "multitalk.pth")
    # A sharded checkpoint: the audio keys spread over two shards, a third shard of base keys only.
    names = sorted(sd)
    shards = {"a.safetensors": names[::2], "b.safetensors": names[1::2]}
    for shard, keys in shards.items():
        save_file({k: sd[k] for k in keys}, tmp_path / shard)
    weight_map = {k: s for s, keys in shards.items() for k in keys} | {
        "head.weight": "absent-base-shard.safetensors"
    }
    (tmp_path / "index.json").write_text(json.dumps({"weight_map": weight_map}))

    for name in ("multitalk.safetensors", "multitalk.pth", "index.json"):
        transformer, adapter = adapted(base)
        assert load_multitalk(adapter, tmp_path / name) == len(audio_part(sd))
        ours = adapter.state_dict()
        for key, value in audio_part(sd).items():
            assert torch.equal(ours[key], value), (name, key)
        assert torch.equal(
            transformer.svi_audio.blocks[1].audio_cross_attn.kv_linear.weight,
            sd["blocks.1.audio_cross_attn.kv_linear.weight"],
        )


def test_load_multitalk_errors(tmp_path, base):
    _, adapter = adapted(base)
    with pytest.raises(FileNotFoundError, match="multitalk.safetensors"):
        load_multitalk(adapter, tmp_path / "nothing.safetensors")

    def attempt(sd, match):
        path = tmp_path / "w.safetensors"
        save_file(sd, path)
        with pytest.raises(MultiTalkWeightsError, match=match):
            load_multitalk(adapter, path)

    sd = multitalk_state()
    attempt({k: v for k, v in sd.items() if k != "blocks.1.norm_x.bias"}, "missing 1: blocks.1.norm_x.bias")
    attempt(sd | {"blocks.2.norm_x.weight": torch.zeros(24)}, "unexpected 1: blocks.2.norm_x.weight")
    attempt(multitalk_state(ctx=32), "shape mismatch")
    attempt({"patch_embedding.weight": torch.zeros(2)}, "no audio keys")


def test_real_scale_adapter_matches_multitalks_parameter_layout():
    with torch.device("meta"):
        model = WanTransformer3DModel(
            in_channels=36, image_dim=1280, added_kv_proj_dim=5120, num_layers=40, ffn_dim=13824
        )
        adapter = AudioAdapter.for_transformer(model)
    shapes = {k: tuple(v.shape) for k, v in adapter.state_dict().items()}
    assert len(shapes) == 10 + 40 * 8
    assert shapes["blocks.39.audio_cross_attn.kv_linear.weight"] == (2 * 5120, 768)
    assert shapes["blocks.0.audio_cross_attn.q_linear.weight"] == (5120, 5120)
    assert shapes["audio_proj.proj1_vf.weight"] == (512, 8 * 12 * 768)
    assert shapes["audio_proj.proj3.weight"] == (32 * 768, 512)
