"""The truth_vae ceiling (scoring/references.py `through_vae`, harness/run/reference_units.py
`vae_roundtrip`) with a preset's real VAE: each clip of a toy-world truth encoded and decoded by the
generator's backbone and assembled as its chaining assembles clips."""

import numpy as np
import pytest

from harness.run.reference_units import vae_roundtrip
from scoring import references as R
from svi.config import build_config
from svi.generation.generator import LongVideoGenerator
from svi.generation.sampling import assembled_windows


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / mse) if mse else float("inf")


@pytest.mark.parametrize("chaining, align", [("latent", "end"), ("pixel", "start")])
def test_the_tiny_presets_vae_takes_the_truth_clip_by_clip(chaining, align):
    """Tiny preset (random-init VAE, clips of 9 frames at 32 px): the round trip of each clip is the
    backbone's decode(encode(clip)), window by window; its PSNR against the truth is finite."""
    from toyworld.world import render, sample_scene

    cfg = build_config({"model": {"preset": "tiny"}, "generate": {"chaining": chaining}})
    gen = LongVideoGenerator.from_config(cfg)
    vae = vae_roundtrip(gen, cfg)
    assert (vae.clip_frames, vae.align) == (cfg.generate.num_frames, align)
    windows = assembled_windows(3, cfg.generate, gen.lead)
    truth = render(sample_scene(1, (32, 32)), 0, windows[-1][1] + 2)  # uint8 [T, 32, 32, 3]
    out = R.through_vae(truth, windows, vae)
    assert out.shape == (windows[-1][1], 32, 32, 3) and out.dtype == np.uint8
    a, b = windows[1]
    spans = [R.clip_span(w, vae, len(truth)) for w in windows]
    s = spans[1][0]
    # window 1 from its own clip, in the same batched call as through_vae makes (the same arithmetic)
    batched = vae.roundtrip(np.stack([truth[x:y] for x, y in spans]))
    assert (out[a:b] == batched[1][a - s : b - s]).all()
    assert np.isfinite(_psnr(out, truth[: len(out)]))
