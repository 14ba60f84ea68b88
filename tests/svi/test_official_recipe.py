"""Where the official SVI code (vita-epfl/Stable-Video-Infinity) decides, our default follows it.

Each test states one official behaviour; ours stays available as an option. The others live beside
the code they pin: banking rule (test_erft.py), reference / padding frame (test_data.py), mask and
SVI-Film's single-frame steps (test_backbone.py), prompt-file forms (tests/benchmarks/test_suites.py).
"""

from __future__ import annotations

import pytest
import torch

from svi.backbone import build_tiny
from svi.config import VARIANTS, DataConfig, ERFTConfig, GenerateConfig, load_config
from svi.generate import LongVideoGenerator


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
