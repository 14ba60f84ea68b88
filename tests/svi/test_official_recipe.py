"""Where the official SVI code (vita-epfl/Stable-Video-Infinity) decides, our default follows it.

Each test states one official behaviour; ours stays available as an option. The others live beside
the code they pin: banking rule (test_erft.py), reference / padding frame (test_data.py), mask and
SVI-Film's single-frame steps (test_backbone.py), prompt-file reading and the clip cap
(tests/scoring/test_suites.py), Sync-C/D's face tracks (tests/scoring/test_sync.py), the
Self-Forcing rollout's padding frame (test_forcing.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from svi.config import (
    OFFICIAL_NEGATIVE_PROMPT,
    VARIANTS,
    DataConfig,
    ERFTConfig,
    GenerateConfig,
    MemoryConfig,
    build_config,
    load_config,
)
from svi.generation.generator import LongVideoGenerator
from svi.generation.sampling import config_hash, needs_negative
from svi.model.backbone import build_tiny
from svi.training.memory import warmup_banked

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "recipes"
TOY_VARIANTS = ("shot", "film", "talk", "dance")


@pytest.fixture(scope="module")
def tiny():
    return build_tiny()


def test_defaults_are_the_official_ones():
    data, gen, erft = DataConfig(), GenerateConfig(), ERFTConfig()
    assert data.reference_frame == "window"  # padding: a random frame of the clip's window
    assert data.mask == "first" and gen.mask == "first"  # latent 0 only, even with K = 5
    assert data.p_motion == 0.9  # p_motion_threshold: frame 0 alone on 10% of K > 1 steps
    assert gen.clip_image == "motion"  # CLIP recomputed from the first motion frame every clip
    assert erft.clean_buffer_update_prob == 0.1
    film = load_config(overrides=["variant=film"])
    assert (film.data.cond_frames, film.data.padding, film.data.p_motion) == (5, "zeros", 0.9)
    assert VARIANTS["shot"]["erft"]["y_error_num"] == 3


def test_clip_feature_is_recomputed_from_the_first_motion_frame(tiny, tmp_path):
    """test_svi.py passes the previous clip's last frame(s) as `input_image`, and
    encode_images_adaptive takes the CLIP feature of first_frames[0]: clip k > 0 sees the first motion
    frame's feature, not the reference image's. clip_image=reference keeps the reference's (ours before)."""
    seen: list[torch.Tensor] = []  # the images CLIP encodes, clip by clip
    encode = tiny.encode_image

    def spy(image):
        seen.append(image.clone())
        return encode(image)

    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for clip_image in ("motion", "reference"):
        seen.clear()
        cfg = GenerateConfig(num_frames=9, height=32, width=32, steps=1, clip_image=clip_image)
        gen = LongVideoGenerator(tiny, cfg)
        tiny.encode_image = spy
        try:
            gen.generate(image, lambda k: "p", tmp_path / f"{clip_image}.mp4", num_clips=3, progress=False)
        finally:
            tiny.encode_image = encode
        encoded = torch.cat(seen)  # [clips encoded, 3, H, W]
        torch.testing.assert_close(encoded[0], image)  # clip 0: the reference image
        later = [not torch.allclose(e, image) for e in encoded[1:]]
        assert later and all(later) if clip_image == "motion" else not any(later)
    chain = torch.rand(1, 3, 2, 32, 32)
    gen = LongVideoGenerator(tiny, GenerateConfig(num_frames=9, height=32, width=32))
    torch.testing.assert_close(
        gen.clip_contexts(image[None], [chain]), tiny.encode_image(chain[:, :, 0])
    )  # the first of the K motion frames
    torch.testing.assert_close(gen.clip_contexts(image[None], [None]), tiny.encode_image(image[None]))
    latent = LongVideoGenerator(tiny, GenerateConfig(num_frames=9, height=32, width=32, chaining="latent"))
    torch.testing.assert_close(latent.clip_contexts(image[None], [chain]), tiny.encode_image(image[None]))


def test_the_negative_prompt_is_the_official_one_in_every_variant():
    """test_svi.py (Shot, Film), test_svi_talk.py and test_svi_dance.py pass one and the same negative
    prompt to every text-guided pass: the English of Wan's standard one (sha256 of the scripts' string)."""
    digest = hashlib.sha256(OFFICIAL_NEGATIVE_PROMPT.encode()).hexdigest()
    assert digest == "411bdbdd98002bf986513c4a8315de7311114cf36140c519842d00492f25fd2c"
    assert (
        OFFICIAL_NEGATIVE_PROMPT.startswith("bright tones, overexposed")
        and len(OFFICIAL_NEGATIVE_PROMPT) == 392
    )
    assert GenerateConfig().negative_prompt == OFFICIAL_NEGATIVE_PROMPT
    for variant in VARIANTS:
        cfg = build_config({"variant": variant, "model": {"preset": "wan2.1-i2v-14b"}})
        assert cfg.generate.negative_prompt == OFFICIAL_NEGATIVE_PROMPT, variant
    ours_before = load_config(overrides=['generate.negative_prompt=""'])
    assert ours_before.generate.negative_prompt == ""


def test_toy_shot_and_film_sample_without_text_cfg_talk_and_dance_guide_as_officially():
    """Officially Shot and Film sample with text CFG 5 (the schema's default, which the real presets keep).
    The toy preset samples Shot and Film without it (measured on toy world 3's base: CFG 5 took its videos
    further from the truth, svi/model/presets.py), so they run no negative pass; talk and dance keep
    their variants' official scales (2; talk's audio 5), with a pass on the small presets' negative
    prompt "", the prompt the toy base's unconditional mode was pretrained on (dit.text_dropout)."""
    assert GenerateConfig().guidance_scale == 5.0
    for variant in ("shot", "film"):
        assert (
            build_config({"variant": variant, "model": {"preset": "wan2.1-i2v-14b"}}).generate.guidance_scale
            == 5.0
        )
    for preset in ("tiny", "toy"):
        assert build_config({"model": {"preset": preset}}).generate.negative_prompt == ""
    scales = {"shot": (1.0, None), "film": (1.0, None), "talk": (2.0, 5.0), "dance": (2.0, None)}
    for variant in TOY_VARIANTS:
        g = load_config(CONFIGS / f"toy_{variant}.yaml").generate
        assert g.negative_prompt == ""
        assert (g.guidance_scale, g.audio_guidance_scale) == scales[variant]
        assert needs_negative(g, ("audio",) if variant == "talk" else ()) == (variant in ("talk", "dance"))
    official = load_config(CONFIGS / "toy_shot.yaml", ["generate.guidance_scale=5"]).generate
    assert needs_negative(official, ())  # the official scale, as an option


def test_official_noise_is_test_svi_py_s_cpu_generator_seeded_42_k(tiny, tmp_path):
    """test_svi.py seeds clip k with k * 42 (--seed_times 42) and the pipeline draws the latent noise with
    torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed), dtype=float32) on the CPU."""
    official = GenerateConfig(num_frames=9, height=32, width=32, steps=1, noise="official", seed=5)
    gen = LongVideoGenerator(tiny, official)
    shape = (1, *gen.latent_shape)  # [1, 16, F_lat, h, w]: (1, 16, (F - 1) // 4 + 1, H / 8, W / 8)
    for k in range(4):
        want = torch.randn(shape, generator=torch.Generator().manual_seed(42 * k), dtype=torch.float32)
        for seed in (0, 5):  # the official rule has no seed of its own
            got = gen.clip_noise(seed, k)
            assert got.dtype == torch.float32 and got.device.type == "cpu" and torch.equal(got, want)
    streams = LongVideoGenerator(tiny, official.model_copy(update={"noise": "streams"}))
    assert GenerateConfig().noise == "streams"  # ours: independent replicates across seeds
    assert not torch.equal(streams.clip_noise(5, 1), gen.clip_noise(5, 1))
    # the scheme is in the video's hash (the default's hash is the one from before the option)
    assert config_hash(official) != config_hash(official.model_copy(update={"noise": "streams"}))
    assert "noise" not in official.model_copy(update={"noise": "streams"}).frame_settings()
    res = gen.generate(torch.zeros(3, 32, 32), lambda k: "p", tmp_path / "v.mp4", num_clips=3, progress=False)
    assert [c["seed"] for c in json.loads(res.sidecar.read_text())["clips"]] == [0, 42, 84]


def _motion_latents(num_frames: int, motion_frames: int, temporal_ratio: int = 4) -> set[int]:
    """The latent frames that hold the K motion (condition) frames: Wan's VAE puts frame 0 alone in
    latent 0 and frames 4 j - 3 .. 4 j in latent j."""
    latent_of = [0] + [1 + (f - 1) // temporal_ratio for f in range(1, num_frames)]
    return {latent_of[f] for f in range(motion_frames)}


def test_toy_y_error_num_covers_the_official_latents():
    """E_img corrupts y's first y_error_num latent frames (train_svi.py: y[:, 4:, :y_error_num]).
    Officially (81-frame clips, 21 latents) that covers every motion latent and then padding latents:
    Shot / Talk K = 1 -> latent 0 + 2 padding; Film K = 5 -> latents 0, 1 + 1 padding; Dance 1 -> latent
    0 alone. The toy clip (17 frames, 5 latents) must cover the same: all its motion latents and as
    many padding latents (a y_error_num of 1 left Film's motion frames 1-4, latent 1, never corrupted)."""
    for variant in TOY_VARIANTS:
        k, n = VARIANTS[variant]["data"]["cond_frames"], VARIANTS[variant]["erft"]["y_error_num"]
        official = _motion_latents(81, k)
        padding = n - len(official)
        assert official == set(range(len(official))) and padding >= 0
        toy = load_config(CONFIGS / f"toy_{variant}.yaml")
        assert toy.data.cond_frames == k
        motion = _motion_latents(toy.data.num_frames, k)
        covered = set(range(toy.erft.y_error_num))
        assert motion <= covered, f"{variant}: motion latents {motion} not all corrupted"
        assert len(covered - motion) == padding, f"{variant}: {len(covered - motion)} padding latents"
        assert toy.erft.y_error_num <= toy.generate.latent_frames()
    assert _motion_latents(17, 5) == {0, 1} and _motion_latents(81, 5) == {0, 1}


def test_warmup_banking_follows_the_ranks_own_clean_flag():
    """train_svi.py, warmup: every rank all_gathers the step's errors of all ranks and, if its own step was
    not clean (or its one clean_buffer_update_prob draw passed), banks them all; else none of them."""
    kept = [True, False, True]  # ranks 0 and 2 would bank their own pair, rank 1 not
    assert warmup_banked(kept, own=True) == [0, 1, 2]  # a rank that keeps: every rank's pair
    assert warmup_banked(kept, own=False) == []  # rank 1: not even the kept pairs of ranks 0 and 2
    assert MemoryConfig().warmup_clean_flag == "own"
    # ours (per_sample): each pair by its own rank's flag, the same on every rank
    assert (
        warmup_banked(kept, own=False, rule="per_sample") == warmup_banked(kept, True, "per_sample") == [0, 2]
    )
    assert "warmup_clean_flag" not in MemoryConfig().model_dump()  # moot in one process: old hashes hold
    assert MemoryConfig(warmup_clean_flag="per_sample").model_dump()["warmup_clean_flag"] == "per_sample"
    with pytest.raises(ValueError, match="warmup_clean_flag"):
        warmup_banked(kept, True, "mine")
