"""Backbone presets, the weights-folder check, and the I2V conditioning builder."""

import pytest
import torch

from svi.backbone import REQUIRED_FILES, WeightsNotFoundError, build_tiny, check_weights_folder, load_backbone
from svi.conditioning import build_condition, condition_video, frame_mask


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


def test_byte_tokenizer_needs_no_vocabulary(tiny):
    ids = tiny.tokenizer("héllo").input_ids
    assert ids[-1] == tiny.tokenizer.eos_token_id == 1
    assert tiny.tokenizer.decode(ids, skip_special_tokens=True) == "héllo"


def test_missing_weights_folder_lists_files(tmp_path, monkeypatch):
    monkeypatch.delenv("SVI_WEIGHTS", raising=False)
    with pytest.raises(WeightsNotFoundError, match="--weights DIR"):
        load_backbone("wan2.1-i2v-14b")
    with pytest.raises(WeightsNotFoundError) as e:
        load_backbone("wan2.1-i2v-14b", tmp_path / "nowhere")
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
        load_backbone("wan9")


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
    from svi.lora import add_lora

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
