"""Backbone presets, precision, the weights-folder check, and the I2V conditioning builder."""

import pytest
import torch

from svi.config import ModelConfig
from svi.model.backbone import (
    REQUIRED_FILES,
    WeightsNotFoundError,
    build_tiny,
    check_weights_folder,
    load_backbone,
    resolve_dtype,
)
from svi.model.i2v_condition import build_condition, condition_video, frame_mask


@pytest.fixture(scope="module")
def tiny():
    return build_tiny()


def test_tiny_round_trip_shapes(tiny):
    video = torch.rand(2, 3, 9, 32, 32) * 2 - 1
    z = tiny.encode_video(video)
    assert z.shape == (2, *tiny.latent_shape(9, 32, 32)) == (2, 16, 3, 4, 4)
    assert tiny.decode_latents(z).shape == video.shape
    ctx = tiny.encode_text(["a red square", ""])
    assert ctx.shape == (2, 64, 32)
    # Wan zeroes the context after each prompt's tokens ("a red square" = 12 bytes + </s>).
    assert ctx[0, 13:].abs().sum() == 0 and ctx[0, :13].abs().sum() > 0
    img = tiny.encode_image(video[:, :, 0])
    assert img.shape == (2, 17, 32)
    y = torch.zeros(2, 20, 3, 4, 4)
    v = tiny.transformer(torch.cat([z, y], 1), torch.tensor([10.0, 900.0]), ctx, img, return_dict=False)[0]
    assert v.shape == z.shape


def test_vae_runs_channels_last_on_the_cpu_with_the_default_layouts_values(tiny):
    """The CPU layout (VAE_LAYOUT) is a speed choice only: the same latents and pixels as the default
    layout to float32 summation order, handed back in the default layout; saving is unaffected."""
    convs = [m for m in tiny.vae.modules() if isinstance(m, torch.nn.Conv3d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last_3d) for m in convs)
    video = torch.rand(2, 3, 9, 32, 32) * 2 - 1
    z, x = tiny.encode_video(video), tiny.decode_latents(torch.randn(2, 16, 3, 4, 4))
    assert z.is_contiguous() and x.is_contiguous()
    default = build_tiny()
    for m in default.vae.modules():
        if isinstance(m, torch.nn.Conv3d):
            m.to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        mu = default.vae.encode(video).latent_dist.mode()
        mean, std = default._latent_stats(mu)
        torch.testing.assert_close(z, (mu - mean) / std, rtol=1e-5, atol=1e-5)


def test_byte_tokenizer_needs_no_vocabulary(tiny):
    ids = tiny.tokenizer("héllo").input_ids
    assert ids[-1] == tiny.tokenizer.eos_token_id == 1
    assert tiny.tokenizer.decode(ids, skip_special_tokens=True) == "héllo"


def test_missing_weights_folder_lists_files(tmp_path, monkeypatch):
    monkeypatch.delenv("SVI_WEIGHTS", raising=False)
    with pytest.raises(WeightsNotFoundError, match="--weights DIR"):
        load_backbone(ModelConfig(preset="wan2.1-i2v-14b"))
    with pytest.raises(WeightsNotFoundError) as e:
        load_backbone(ModelConfig(preset="wan2.1-i2v-14b", weights=str(tmp_path / "nowhere")))
    assert "transformer/config.json" in str(e.value) and "hf download" in str(e.value)


def test_incomplete_weights_folder_names_what_is_missing(tmp_path):
    for sub, names in REQUIRED_FILES.items():
        d = tmp_path / sub.rstrip("/*")
        d.mkdir(exist_ok=True)
        (d / names[0]).write_text("{}")
    check_weights_folder(tmp_path)  # complete: no error
    (tmp_path / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(WeightsNotFoundError) as e:
        check_weights_folder(tmp_path)
    assert "vae/diffusion_pytorch_model.safetensors" in str(e.value)
    assert "text_encoder" not in str(e.value).split("Missing:")[1].split("On a machine")[0]


def test_unknown_preset():
    with pytest.raises(ValueError, match="tiny"):
        ModelConfig(preset="wan9")
    with pytest.raises(ValueError, match="tiny, toy, wan2.1-i2v-14b"):  # a config built without validation
        load_backbone(ModelConfig.model_construct(preset="wan9", precision="auto"))


@pytest.mark.parametrize(
    "precision, device, expected",
    [
        ("auto", "cuda", torch.bfloat16),
        ("auto", "cuda:1", torch.bfloat16),
        ("auto", "cpu", torch.float32),
        ("fp32", "cuda", torch.float32),
        ("fp32", "cpu", torch.float32),
        ("bf16", "cpu", torch.bfloat16),
        ("bf16", "cuda", torch.bfloat16),
    ],
)
def test_resolve_dtype_known_answers(precision, device, expected):
    assert resolve_dtype(precision, device) == expected
    assert resolve_dtype(precision, torch.device(device)) == expected


def test_resolve_dtype_rejects_unknown_precision():
    with pytest.raises(ValueError, match="auto, fp32 or bf16"):
        resolve_dtype("fp16", "cpu")


def test_load_backbone_records_dtype_and_attention():
    bb = load_backbone(ModelConfig(), seed=0)
    assert bb.dtype == torch.float32 and bb.attention == "sdpa" and bb.lora_scale is None
    assert bb.settings() == {"preset": "tiny", "dtype": "float32", "attention": "sdpa", "lora_scale": None}
    # Same seed, same weights as the lower-level builder: load_backbone adds no randomness.
    ref = build_tiny(seed=0)
    for a, b in zip(ref.transformer.state_dict().values(), bb.transformer.state_dict().values()):
        assert torch.equal(a, b)
    assert bb.max_text_tokens == 64  # the tiny preset clips model.max_text_tokens (512) to its limit


def test_bf16_precision_on_cpu_puts_only_the_transformer_in_bf16():
    bb = load_backbone(ModelConfig(precision="bf16"))
    assert bb.dtype == torch.bfloat16 and bb.settings()["dtype"] == "bfloat16"
    assert {p.dtype for p in bb.transformer.parameters()} == {torch.bfloat16}
    for m in bb.frozen_modules():  # encoders stay fp32 on CPU, the VAE always
        assert {p.dtype for p in m.parameters()} == {torch.float32}


def test_flash_attention_without_flash_attn_says_what_to_do():
    try:
        import flash_attn  # noqa: F401

        pytest.skip("flash-attn is installed")
    except ImportError:
        pass
    with pytest.raises(ImportError, match="model.attention=sdpa"):
        load_backbone(ModelConfig(attention="flash"))


def test_frame_mask_packs_like_the_vae():
    m = frame_mask(1, 81, 1, (2, 3))
    assert m.shape == (1, 4, 21, 2, 3)
    assert torch.all(m[:, :, 0] == 1) and torch.all(m[:, :, 1:] == 0)
    m5 = frame_mask(1, 81, 5, (1, 1))[0, :, :, 0, 0]  # [4, F_lat]
    assert torch.all(m5[:, :2] == 1) and torch.all(m5[:, 2:] == 0)  # frames 0..4 -> latents 0 and 1
    m3 = frame_mask(1, 81, 3, (1, 1))[0, :, :, 0, 0]
    assert m3[:, 1].tolist() == [1, 1, 0, 0]  # pixel frames 1, 2 of 1..4


def test_condition_video_padding():
    cond = torch.rand(1, 3, 2, 8, 8)
    ref = torch.rand(1, 3, 8, 8)
    v = condition_video(cond, 9, "reference", ref)
    assert v.shape == (1, 3, 9, 8, 8)
    assert torch.equal(v[:, :, :2], cond) and torch.equal(v[:, :, 5], ref)
    z = condition_video(cond, 9, "zeros")
    assert torch.all(z[:, :, 2:] == 0)
    with pytest.raises(ValueError, match="reference image"):
        condition_video(cond, 9, "reference")
    with pytest.raises(ValueError, match="leave no frame"):
        condition_video(torch.rand(1, 3, 9, 8, 8), 9, "zeros")


def test_build_condition_is_mask_plus_vae_latent(tiny):
    video = torch.rand(1, 3, 9, 32, 32) * 2 - 1
    y = build_condition(tiny, video[:, :, :1], 9, "reference", video[:, :, 0])
    assert y.shape == (1, 20, 3, 4, 4)
    expected = tiny.encode_video(condition_video(video[:, :, :1], 9, "reference", video[:, :, 0]))
    torch.testing.assert_close(y[:, 4:], expected)
    assert torch.all(y[:, :4, 0] == 1) and torch.all(y[:, :4, 1:] == 0)


def test_gradient_checkpointing_gives_the_same_gradients():
    from svi.config import LoraConfig
    from svi.model.lora import add_lora

    grads = []
    for ckpt in (False, True):
        bb = build_tiny()
        add_lora(bb.transformer, LoraConfig(rank=2, alpha=2))
        for n, p in bb.transformer.named_parameters():
            if "lora_B" in n:
                torch.nn.init.normal_(p, std=0.1, generator=torch.Generator().manual_seed(0))
        if ckpt:
            bb.transformer.enable_gradient_checkpointing()
        bb.transformer.train()
        g = torch.Generator().manual_seed(1)
        x = torch.randn(1, 36, 3, 4, 4, generator=g)
        out = bb.transformer(
            x,
            torch.tensor([300.0]),
            torch.randn(1, 8, 32, generator=g),
            torch.randn(1, 17, 32, generator=g),
            return_dict=False,
        )[0]
        out.square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in bb.transformer.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys()
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n])


def test_encoders_are_deterministic(tiny):
    # umT5 has dropout: the frozen encoders must be in eval mode from construction on.
    assert torch.equal(tiny.encode_text(["a prompt"]), tiny.encode_text(["a prompt"]))
    assert not tiny.text_encoder.training and not tiny.vae.training


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_auto_precision_on_cuda_is_bf16_with_an_fp32_vae():
    bb = load_backbone(ModelConfig(), device="cuda")
    assert bb.settings()["dtype"] == "bfloat16"
    assert {p.dtype for p in bb.transformer.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in bb.text_encoder.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in bb.image_encoder.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in bb.vae.parameters()} == {torch.float32}
    video = torch.rand(1, 3, 9, 32, 32, device="cuda") * 2 - 1
    z = bb.encode_video(video)
    y = build_condition(bb, video[:, :, :1], 9, "reference", video[:, :, 0])
    ctx, img = bb.encode_text(["a prompt"]), bb.encode_image(video[:, :, 0])
    x = torch.cat([z, y], 1).to(torch.bfloat16)
    v = bb.transformer(x, torch.tensor([500.0], device="cuda"), ctx, img, return_dict=False)[0]
    assert v.shape == z.shape and torch.isfinite(v).all()


def test_mask_marks_latent_zero_only_by_default(tiny):
    """Official SVI (encode_images_adaptive without ref_pad_cfg) marks pixel frame 0 only, so latent 0
    alone even with K = 5 motion frames; mask="condition" (ours before) marks all K: latents 0 and 1."""
    video = torch.rand(1, 3, 9, 32, 32) * 2 - 1
    official = build_condition(tiny, video[:, :, :5], 9, "zeros")
    assert torch.all(official[:, :4, 0] == 1) and torch.all(official[:, :4, 1:] == 0)
    ours = build_condition(tiny, video[:, :, :5], 9, "zeros", mask="condition")
    assert torch.all(ours[:, :4, :2] == 1) and torch.all(ours[:, :4, 2:] == 0)
    torch.testing.assert_close(official[:, 4:], ours[:, 4:])  # the latent is the same


def test_encode_batch_reference_padding_and_motion_layouts(tiny):
    """Training pads with the clip's reference frame (not frame 0), takes CLIP from condition frame 0,
    and with K > 1 conditions on frame 0 alone with probability 1 - p_motion (official SVI-Film: 10%)."""
    from svi.config import DataConfig
    from svi.training.batch import condition_counts, encode_batch

    video = torch.rand(3, 3, 9, 32, 32) * 2 - 1
    reference = torch.rand(3, 3, 32, 32) * 2 - 1
    shot = DataConfig(num_frames=9, height=32, width=32, cond_frames=1, padding="reference")
    enc = encode_batch(tiny, video, ["a", "b", "c"], shot, reference=reference)
    torch.testing.assert_close(enc.y, build_condition(tiny, video[:, :, :1], 9, "reference", reference))
    torch.testing.assert_close(enc.image_context, tiny.encode_image(video[:, :, 0]))

    film = DataConfig(num_frames=9, height=32, width=32, cond_frames=5, padding="zeros")
    assert DataConfig().p_motion == 0.9
    g = torch.Generator().manual_seed(0)
    counts = [c for _ in range(500) for c in condition_counts(4, film, g)]
    assert set(counts) == {1, 5} and abs(counts.count(1) / len(counts) - 0.1) < 0.03
    assert condition_counts(3, film, None) == [5, 5, 5]  # no generator: always K
    film_mixed = film.model_copy(update={"p_motion": 0.5})
    want = condition_counts(3, film_mixed, torch.Generator().manual_seed(0))
    enc = encode_batch(tiny, video, ["a", "b", "c"], film_mixed, generator=torch.Generator().manual_seed(0))
    assert sorted(set(want)) == [1, 5]  # this seed mixes both layouts in one batch
    for i, k in enumerate(want):
        torch.testing.assert_close(
            enc.y[i : i + 1], build_condition(tiny, video[i : i + 1, :, :k], 9, "zeros")
        )


def _image_branch_tokens(bb, ctx: torch.Tensor, img: torch.Tensor) -> set[int]:
    """How many context tokens each block's image cross-attention (attn2.add_k_proj) receives."""
    seen: set[int] = set()
    hooks = [
        block.attn2.add_k_proj.register_forward_hook(lambda m, args, out: seen.add(args[0].shape[1]))
        for block in bb.transformer.blocks
    ]
    z, y = torch.zeros(1, 16, 3, 4, 4), torch.zeros(1, 20, 3, 4, 4)
    with torch.no_grad():
        bb.transformer(torch.cat([z, y], 1), torch.tensor([500.0]), ctx, img, return_dict=False)
    for h in hooks:
        h.remove()
    return seen


def test_real_weights_get_wans_512_token_context_so_the_image_branch_sees_the_image():
    """diffusers' Wan attention splits the context as [image tokens | last 512 = text]: real weights
    get their text zero-padded to 512 whatever the prompt limit, and the image branch gets CLIP's 17
    tokens (here on the tiny architecture with the real context length)."""
    bb = build_tiny()
    bb.context_tokens = 512
    ctx = bb.encode_text(["a red square"])
    assert ctx.shape == (1, 512, 32) and ctx[0, 13:].abs().sum() == 0
    img = bb.encode_image(torch.zeros(1, 3, 32, 32))
    assert _image_branch_tokens(bb, ctx, img) == {17}


def test_small_presets_keep_their_short_context_and_a_silent_image_branch(tiny):
    """The documented deviation of the tiny and toy presets (kept for the committed toy weights): with a
    64-token context the split finds no image tokens, so the image branch adds nothing and CLIP's
    tokens join the text cross-attention."""
    ctx = tiny.encode_text(["a red square"])
    img = tiny.encode_image(torch.zeros(1, 3, 32, 32))
    assert ctx.shape[1] == 64 and _image_branch_tokens(tiny, ctx, img) == {0}


def test_a_small_architecture_with_wans_context_length_feeds_the_image_branch():
    """A small architecture reading 512 text tokens (toy world 2) gets Wan's context length, so CLIP's
    tokens reach the image cross-attention instead of the text one."""
    from dataclasses import replace

    from svi.model.backbone import build_small
    from svi.model.presets import TINY

    bb = build_small(replace(TINY, max_text_tokens=512), "tiny")
    ctx = bb.encode_text(["a red square"])
    assert ctx.shape == (1, 512, 32)
    assert _image_branch_tokens(bb, ctx, bb.encode_image(torch.zeros(1, 3, 32, 32))) == {17}
