"""Wan 2.2 TI2V 5B (the DevLog's preview): the presets, the first-latent image condition, a crosscheck
of our sampler against diffusers' `WanImageToVideoPipeline(expand_timesteps=True)`, the chaining of
later clips on the last frame (reconstructed), and training with the condition latent at t = 0.

The official behaviour each test pins is diffusers' TI2V path (pipeline_wan_i2v.py with
expand_timesteps: latent 0 replaced by the image latent before every step, timestep 0 on its tokens,
the output's latent 0 the image latent) and Wan's configs/wan_ti2v_5B.py for the sizes."""

import pytest
import torch

from svi.config import ModelConfig, build_config
from svi.model.backbone import load_backbone, save_backbone
from svi.model.presets import PRESETS, WeightsNotFoundError, check_weights_folder

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
