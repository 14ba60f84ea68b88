"""Wan 2.2 TI2V 5B (the DevLog's preview): the presets, the first-latent image condition, a crosscheck
of our sampler against diffusers' `WanImageToVideoPipeline(expand_timesteps=True)`, the chaining of
later clips on the last frame (reconstructed), and training with the condition latent at t = 0.

The official behaviour each test pins is diffusers' TI2V path (pipeline_wan_i2v.py with
expand_timesteps: latent 0 replaced by the image latent before every step, timestep 0 on its tokens,
the output's latent 0 the image latent) and Wan's configs/wan_ti2v_5B.py for the sizes."""

import pytest
import torch

from svi.config import GenerateConfig, ModelConfig, build_config
from svi.generation.generator import LongVideoGenerator
from svi.model.backbone import load_backbone, save_backbone
from svi.model.presets import PRESETS, WeightsNotFoundError, check_weights_folder
from svi.model.ti2v_condition import (
    image_latent,
    replace_first_latent,
    replaces_first_latent,
    token_timesteps,
)
from tests.svi.pipelines import diffusers_clip

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

SMALL = {"num_frames": 9, "height": 64, "width": 64, "steps": 10, "negative_prompt": ""}


@pytest.fixture(scope="module")
def ti2v():
    """The tiny TI2V model (random init, Wan 2.2 VAE layout, no image encoder), shared read-only."""
    return load_backbone(ModelConfig(preset="tiny-ti2v"))


# -- the presets -------------------------------------------------------------------------------------


def test_the_ti2v_presets_take_the_latent_alone_and_the_wan22_vae(ti2v):
    for name in ("wan2.2-ti2v-5b", "tiny-ti2v"):
        p = PRESETS[name]
        assert p.condition == "first_latent" and not p.image_encoder and p.experts == 1
        assert p.transformer_channels == (48, 48) and p.spatial_ratio == 16
    assert PRESETS["tiny"].transformer_channels == (36, 16) and PRESETS["tiny"].spatial_ratio == 8
    tf, vae = ti2v.transformer, ti2v.vae.config
    assert tf.config.in_channels == tf.config.out_channels == 48 and tf.config.image_dim is None
    assert ti2v.image_encoder is None and ti2v.transformer_2 is None and ti2v.first_latent
    assert (vae.z_dim, vae.patch_size, vae.scale_factor_spatial, vae.scale_factor_temporal) == (48, 2, 16, 4)
    assert vae.is_residual and len(vae.latents_mean) == 48
    assert ti2v.latent_shape(9, 64, 64) == (48, 3, 4, 4)
    assert sum(p.numel() for p in tf.parameters()) < 50_000  # test size
    assert not load_backbone(ModelConfig(preset="tiny")).first_latent  # Wan I2V: y channels


def test_the_5b_config_is_counted_without_weights():
    """Without a folder harness plan counts Wan's TI2V 5B config (dim 3072, 30 layers, 24 heads, ffn
    14336, 48 in and out, no image branch): 4,999,787,712 parameters, 18.6 GiB in fp32, the size of
    the published transformer/."""
    from diffusers import WanTransformer3DModel

    from svi.model.cost import image_tokens_for, preset_transformer_config

    config, source = preset_transformer_config("wan2.2-ti2v-5b", None)
    assert "TI2V_5B_CONFIG" in source
    assert config["num_attention_heads"] * config["attention_head_dim"] == 3072
    assert (config["num_layers"], config["ffn_dim"], config["in_channels"], config["out_channels"]) == (
        30,
        14336,
        48,
        48,
    )
    with torch.device("meta"):
        n = sum(p.numel() for p in WanTransformer3DModel.from_config(config).parameters())
    assert n == 4_999_787_712
    assert image_tokens_for("wan2.2-ti2v-5b") == 0
    with pytest.raises(ValueError, match="no expert 1"):
        preset_transformer_config("wan2.2-ti2v-5b", None, 1)


def test_the_plan_uses_the_wan22_vae_layout():
    from harness.declare.preview import latent_shape

    # 121 frames at 704 x 1280 (Wan's TI2V 720p): 31 latent frames of 44 x 80, 48 channels
    assert latent_shape(121, 704, 1280, PRESETS["wan2.2-ti2v-5b"]) == (48, 31, 44, 80)
    assert latent_shape(81, 480, 832, PRESETS["wan2.1-i2v-14b"]) == (16, 21, 60, 104)
    cfg = build_config({"model": {"preset": "wan2.2-ti2v-5b"}})
    assert (cfg.generate.num_frames, cfg.generate.height, cfg.generate.width, cfg.generate.fps) == (
        121,
        704,
        1280,
        24,
    )


def test_a_ti2v_folder_needs_no_image_encoder_and_names_what_is_missing(ti2v, tmp_path):
    save_backbone(ti2v, tmp_path / "w")
    check_weights_folder(tmp_path / "w", "wan2.2-ti2v-5b")  # complete without image_encoder/
    with pytest.raises(WeightsNotFoundError, match="image_encoder"):
        check_weights_folder(tmp_path / "w", "wan2.1-i2v-14b")  # Wan 2.1 I2V needs CLIP
    (tmp_path / "w" / "vae" / "config.json").unlink()
    with pytest.raises(WeightsNotFoundError, match=r"(?s)Wan 2\.2 TI2V 5B weights.*vae/config\.json") as e:
        check_weights_folder(tmp_path / "w", "wan2.2-ti2v-5b")
    assert "Wan-AI/Wan2.2-TI2V-5B-Diffusers" in str(e.value) and "image_encoder" not in str(e.value)


# -- the condition (pure) ------------------------------------------------------------------------------


def test_the_image_latent_replaces_latent_zero_only():
    x = torch.arange(2 * 3 * 4 * 2 * 2, dtype=torch.float32).view(2, 3, 4, 2, 2)
    z0 = -torch.ones(2, 3, 1, 2, 2)
    out = replace_first_latent(x, z0)
    assert torch.equal(out[:, :, :1], z0) and torch.equal(out[:, :, 1:], x[:, :, 1:])
    assert x[:, :, 0].min() >= 0  # x itself untouched
    # diffusers' form, (1 - m) z0 + m x with m 0 on frame 0: the same values
    m = torch.ones(1, 1, 4, 2, 2)
    m[:, :, 0] = 0
    torch.testing.assert_close(out, (1 - m) * z0 + m * x)
    with pytest.raises(ValueError, match="does not fit"):
        replace_first_latent(x, torch.zeros(2, 3, 2, 2, 2))  # two frames is not a first latent


def test_token_timesteps_are_zero_on_latent_zero_and_t_elsewhere():
    # 2 samples, 3 latent frames of 2 tokens each (frame-major, as the transformer flattens them)
    assert token_timesteps(700.0, 2, 3, 2).tolist() == [[0, 0, 700, 700, 700, 700]] * 2
    per_sample = token_timesteps(torch.tensor([100.0, 900.0]), 2, 3, 1)
    assert per_sample.tolist() == [[0, 100, 100], [0, 900, 900]]
    # diffusers: (first_frame_mask[0][0][:, ::2, ::2] * t).flatten() on [F, h, w] latents, patch 2 x 2
    m = torch.ones(3, 4, 4)
    m[0] = 0
    assert torch.equal(token_timesteps(500.0, 1, 3, 4)[0], (m[:, ::2, ::2] * 500.0).flatten())


def test_a_clip_latent_zero_is_its_first_frame_alone(ti2v):
    """The causal VAE encodes frame 0 alone into latent 0: training's condition (x0's latent 0) and
    inference's (the image encoded alone) are the same latent."""
    video = torch.rand(1, 3, 9, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    torch.testing.assert_close(ti2v.encode_video(video)[:, :, :1], image_latent(ti2v, video[:, :, 0]))
    assert replaces_first_latent(ti2v.transformer)


# -- sampling: the crosscheck against diffusers, and later clips ------------------------------------------


def test_the_first_clip_matches_diffusers_ti2v_pipeline(ti2v):
    """Our sampler and diffusers' WanImageToVideoPipeline(expand_timesteps=True) give the same first clip
    from the same noise: the image latent in place of latent 0 before every step, timestep 0 on its
    tokens, Euler at shift 5, text CFG 5, and the clip's latent 0 the image latent."""
    cfg = GenerateConfig(**SMALL, guidance_scale=5.0)
    gen = LongVideoGenerator(ti2v, cfg)
    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    prompt = "a red square moves left"
    noise = gen.clip_noise(0, 0)
    assert noise.shape == (1, 48, 3, 4, 4)
    _, ours = gen.generate_clip(0, prompt, image[None], None, None, None, ti2v.encode_text([""]))
    theirs = diffusers_clip(ti2v, image, prompt, noise, cfg, pipeline={"expand_timesteps": True})
    assert (ours[:, :, 1:] - noise[:, :, 1:]).abs().max() > 0.1  # it moved
    torch.testing.assert_close(ours, theirs.float(), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours[:, :, :1], image_latent(ti2v, image[None]))  # latent 0 kept
    # and the condition matters: another image moves the generated latents too
    other = image.flip(-1)
    _, moved = gen.generate_clip(0, prompt, other[None], None, None, None, ti2v.encode_text([""]))
    assert (moved[:, :, 1:] - ours[:, :, 1:]).abs().max() > 1e-3


def test_later_clips_start_from_the_last_frame_re_encoded(ti2v, tmp_path):
    """SVI 2.0-style chaining (reconstructed for TI2V): clip k's image latent is the last decoded frame
    of clip k-1 re-encoded, and the video keeps each clip but its last frame: N (F - 1) + 1 frames."""
    cfg = GenerateConfig(**SMALL)
    gen = LongVideoGenerator(ti2v, cfg)
    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(2)) * 2 - 1
    neg = ti2v.encode_text([""])
    video0, _ = gen.generate_clip(0, "p", image[None], None, None, None, neg)
    chain = gen._next_chain(video0, None)  # [1, 3, 1, H, W]: the last frame
    assert torch.equal(chain[:, :, 0], video0[:, :, -1])
    y = gen._condition(image[None], [chain], None)
    torch.testing.assert_close(y, image_latent(ti2v, video0[:, :, -1]))
    _, latent1 = gen.generate_clip(1, "p", image[None], chain, None, None, neg)
    torch.testing.assert_close(latent1[:, :, :1], y)
    result = gen.generate(image, lambda k: "p", tmp_path / "v.mp4", num_clips=3, progress=False)
    assert result.num_frames == 3 * (9 - 1) + 1


def test_a_ti2v_model_refuses_what_it_cannot_chain(ti2v):
    for bad in ({"chaining": "latent"}, {"motion_frames": 5}, {"strategy": "rolling"}):
        with pytest.raises(ValueError, match="strategy chain, chaining pixel and motion_frames 1"):
            LongVideoGenerator(ti2v, GenerateConfig(**SMALL, **bad))


# -- training: latent 0 the clean condition at t = 0, E_img on it (reconstructed) ----------------------

SHAPE = (48, 3, 4, 4)  # tiny-ti2v's latent of a 9-frame 64 x 64 clip


def _banked_memory(clean_per_frame: list[float]):
    """A replay memory whose every slot holds one clean-end entry with latent frame f = clean_per_frame[f]."""
    from svi import flow
    from svi.training.memory import ReplayMemory

    mem = ReplayMemory(SHAPE, flow.shifted_sigmas(50), capacity=2, budget_bytes=1 << 24, dtype=torch.float32)
    clean = torch.tensor(clean_per_frame).view(1, -1, 1, 1).expand(SHAPE).clone()
    for s in flow.shifted_sigmas(50):
        mem.bank(float(s), torch.zeros(SHAPE), clean)
    return mem


def test_the_step_puts_the_condition_at_t0_and_scores_later_latents_only():
    from svi.config import ERFTConfig
    from svi.training.erft import Recycler

    x0 = torch.randn(2, *SHAPE, generator=torch.Generator().manual_seed(0))
    y = x0[:, :, :1].clone()
    prep = Recycler(ERFTConfig(mode="plain"), None, seed=0, first_latent=True).prepare(x0, y)
    model_in = prep.model_input()
    assert model_in.shape == x0.shape  # the latent alone: no y channels
    torch.testing.assert_close(model_in[:, :, :1], x0[:, :, :1])  # latent 0 clean
    torch.testing.assert_close(model_in[:, :, 1:], prep.x_t[:, :, 1:])
    t = prep.model_timestep((1, 2, 2))  # [B, 3 frames x 4 tokens]
    assert t.shape == (2, 12) and (t[:, :4] == 0).all()
    assert torch.equal(t[:, 4:], prep.timestep[:, None].expand(2, 8))
    rec = Recycler(ERFTConfig(mode="plain"), None, seed=0, first_latent=True)
    v = prep.target.clone()
    v[:, :, 0] = 1e3  # whatever the model says on the condition latent is not scored
    assert rec.loss(v, prep) == 0
    v[:, :, 1] += 1.0
    assert rec.loss(v, prep) > 0
    # the same step of an I2V model scores latent 0 too
    plain = Recycler(ERFTConfig(mode="plain"), None, seed=0)
    i2v = plain.prepare(torch.randn(2, 16, 3, 4, 4), torch.zeros(2, 20, 3, 4, 4))
    bad = i2v.target.clone()
    bad[:, :, 0] += 1.0
    assert plain.loss(bad, i2v) > 0


@pytest.mark.parametrize("choice", ["window", "last"])
def test_image_errors_go_on_the_replaced_first_latent(choice):
    """erft.first_latent_error: E_img is one frame of a clean-end entry added to the image latent that
    replaces latent 0. window (default): a random frame 1.. of the entry; last: its last frame. The
    noisy latents get no E_img; E_vid / E_noi stay on them (off here)."""
    from svi.config import ERFTConfig
    from svi.training.erft import Recycler

    x0 = torch.randn(64, *SHAPE, generator=torch.Generator().manual_seed(0))
    y = x0[:, :, :1].clone()
    cfg = ERFTConfig(p_noi=0, p_vid=0, p_img=1, p_clean=0, first_latent_error=choice)
    mem = _banked_memory([1000.0, 10.0, 20.0])  # frame 0 would be an error the model never made
    prep = Recycler(cfg, mem, seed=3, first_latent=True).prepare(x0, y)
    added = (prep.y - y).mean(dim=(1, 2, 3, 4))  # [B], the frame's value
    assert all(g.img and not g.vid and not g.noi for g in prep.injected)
    if choice == "last":
        assert torch.equal(added, torch.full((64,), 20.0))
    else:  # a random frame of 1..F-1, both drawn
        assert set(added.tolist()) == {10.0, 20.0}
    torch.testing.assert_close(prep.model_input()[:, :, :1], prep.y)  # the model sees z0 + E_img
    clean = Recycler(cfg.model_copy(update={"p_img": 0.0}), mem, seed=3, first_latent=True).prepare(x0, y)
    torch.testing.assert_close(prep.x_t, clean.x_t)  # the noisy latents carry no E_img
    # the default is left out of dumps (stage hashes of earlier runs hold), the option is recorded
    assert ("first_latent_error" in cfg.model_dump()) == (choice != "window")


def test_banked_errors_have_no_error_on_the_condition_latent():
    from svi import flow
    from svi.config import ERFTConfig
    from svi.training.erft import Recycler
    from svi.training.memory import ReplayMemory

    mem = ReplayMemory(SHAPE, flow.shifted_sigmas(50), capacity=2, budget_bytes=1 << 24, dtype=torch.float32)
    rec = Recycler(ERFTConfig(p_clean=0), mem, seed=0, first_latent=True)
    x0 = torch.randn(1, *SHAPE)
    prep = rec.prepare(x0, x0[:, :, :1].clone())
    assert rec.bank(prep.target + 1.0, prep) == 1  # wrong by 1 everywhere, latent 0 included
    s = float(prep.sigma[0])
    for e in (mem.sample_clean(s, device="cpu"), mem.sample_noise(s, device="cpu")):
        assert (e[:, 0] == 0).all() and (e[:, 1:] != 0).all()


def test_a_few_erft_steps_on_tiny_ti2v_train_the_lora(ti2v):
    """The smoke test: forward_loss with ERFT on tiny-ti2v (condition = the clip's latent 0, errors
    banked from step 1 and injected after), three optimizer steps: the loss is finite, E_img reaches
    the image latent and the LoRA weights move."""
    import copy

    from svi.model.lora import add_lora
    from svi.training.erft import Recycler
    from svi.training.memory import ReplayMemory
    from svi.training.train import forward_loss

    cfg = build_config(
        {
            "model": {"preset": "tiny-ti2v"},
            "erft": {"p_noi": 0.5, "p_vid": 0.9, "p_img": 1.0, "p_clean": 0.0},
            "lora": {"rank": 4, "alpha": 4},
        }
    )
    tf = copy.deepcopy(ti2v.transformer)
    add_lora(tf, cfg.lora)
    params = [p for p in tf.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    from svi import flow

    mem = ReplayMemory(SHAPE, flow.shifted_sigmas(50), capacity=4, budget_bytes=1 << 24, dtype=torch.float32)
    rec = Recycler(cfg.erft, mem, seed=0, first_latent=ti2v.first_latent)
    g = torch.Generator().manual_seed(0)
    batch = {
        "video": torch.rand(2, 3, 9, 64, 64, generator=g) * 2 - 1,
        "prompt": ["a", "b"],
        "reference": torch.rand(2, 3, 64, 64, generator=g) * 2 - 1,
    }
    opt = torch.optim.AdamW(params, lr=1e-2)
    injected = 0
    for _ in range(3):
        loss, v, prep, _ = forward_loss(tf, ti2v, batch, cfg, rec, "cpu")
        assert torch.isfinite(loss) and prep.first_latent and prep.y.shape == (2, 48, 1, 4, 4)
        loss.backward()
        opt.step()
        opt.zero_grad()
        rec.bank(v, prep)
        injected += sum(g.img for g in prep.injected)
    assert injected >= 4  # steps 2 and 3 draw E_img from the banks step 1 filled
    assert all((a - b).abs().max() > 0 for a, b in zip(params, before))
    bad = cfg.model_copy(update={"data": cfg.data.model_copy(update={"window": "pro"})})
    with pytest.raises(ValueError, match="data.window=clip"):
        forward_loss(tf, ti2v, batch, bad, rec, "cpu")
    from svi.config import ForcingConfig

    for kind in ("diffusion", "self"):
        with pytest.raises(ValueError, match="use forcing.kind=none"):
            Recycler(cfg.erft, mem, forcing=ForcingConfig(kind=kind), first_latent=True)


def test_the_guide_states_the_counted_size_and_the_plan(tmp_path, monkeypatch, capsys):
    """docs/guides/wan22.md's TI2V figures are the count of Wan's config and `harness plan ti2v_shot`'s
    own output (memory per GPU, its parts, GPU-hours per generated minute), not typed."""
    import re
    from pathlib import Path

    from diffusers import WanTransformer3DModel

    from cli import main
    from svi.model.cost import preset_transformer_config

    config, _ = preset_transformer_config("wan2.2-ti2v-5b", None)
    with torch.device("meta"):
        n = sum(p.numel() for p in WanTransformer3DModel.from_config(config).parameters())
    guide = (Path(__file__).resolve().parents[2] / "docs" / "guides" / "wan22.md").read_text()
    section = guide[guide.index("## Wan 2.2 TI2V 5B (preview)") :]
    assert f"{n:,} parameters ({n / 1e9:.2f} B parameters" in section
    assert f"{n * 4 / 2**30:.1f} GiB in fp32" in section and f"{2 * n / 1e9:.1f} GB\nin bf16" in section
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    assert main(["plan", "ti2v_shot", "--gpu", "H100", "--gpus", "8"]) == 0
    out = capsys.readouterr().out
    train = re.search(
        r"svi seed 0: train .*?([\d.]+) GB per GPU \(weights ([\d.]+) GB.*activations ([\d.]+) GB", out
    )
    total, weights, activations = train.groups()
    assert (
        f"at {total} GB per GPU (weights\n{weights} GB with the LoRA, activations {activations} GB)"
        in section
    )
    per_minute = re.search(r"base seed 0: generate .*\(([\d.]+) GPU-h per generated minute\)", out)[1]
    assert f"generation at {per_minute} GPU-h per generated minute" in section
