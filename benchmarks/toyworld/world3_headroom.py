"""Can a model beat the first frame held still in toy world 3, even in principle? (gate G3's headroom)

The `other_landscape` row renders each consistent-track benchmark scene again with the same
background, subjects and camera over another landscape seed (every disc drawn anew, even those in
view at frame 0) and scores it against the true video. A model that knows the world's physics and
keeps what its first frame shows does at least this well: it would keep the discs in view, which this
row redraws. Beside it, the first frame held still (`frozen`). Both as the mean absolute pixel
difference on [0, 1] (the `truth_distance` metric), per 2 s clip of the first `--seconds`, without a
VAE (no ceiling is taken off either row). Rendering only: no model, no torch.

    python -m benchmarks.toyworld.world3_headroom --samples 16 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

import numpy as np

from harness.declare.experiment import TOY_BENCHMARK_SEED
from svi.model.presets import TOY_DEFAULTS
from toyworld.world import render, sample_scene, scene_seed

CLIP = TOY_DEFAULTS["generate"]["num_frames"]  # frames per toy clip; consecutive clips share one
FPS = TOY_DEFAULTS["generate"]["fps"]


def clip_spans(clips: int) -> list[slice]:
    """Frames of each clip of a chained video: clip 0 is frames 0..16, clip k its 16 new frames."""
    step = CLIP - 1
    return [slice(0, CLIP)] + [slice(1 + step * k, CLIP + step * k) for k in range(1, clips)]


def headroom(samples: int, seconds: float, seed: int = TOY_BENCHMARK_SEED) -> dict[str, list[float]]:
    """Per-clip mean absolute difference to the truth of `frozen` and `other_landscape`, over the first
    `samples` consistent-track scenes of world 3."""
    clips = max(1, round(seconds * FPS / (CLIP - 1)))
    spans = clip_spans(clips)
    frames = spans[-1].stop
    out = {"frozen": np.zeros(clips), "other_landscape": np.zeros(clips)}
    for i in range(samples):
        scene = sample_scene(scene_seed("consistent", seed, i), (64, 64), world=3)
        redrawn = replace(scene, camera=replace(scene.camera, landscape_seed=scene.camera.landscape_seed + 1))
        truth = render(scene, 0, frames).astype(np.float32) / 255  # [F, H, W, 3]
        other = render(redrawn, 0, frames).astype(np.float32) / 255
        for k, span in enumerate(spans):
            out["frozen"][k] += np.abs(truth[:1] - truth[span]).mean() / samples
            out["other_landscape"][k] += np.abs(other[span] - truth[span]).mean() / samples
    return {name: [round(float(v), 4) for v in values] for name, values in out.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=16, help="consistent-track scenes (default 16)")
    p.add_argument("--seconds", type=float, default=10.0, help="video length scored (default 10: G3's span)")
    args = p.parse_args(argv)
    if args.samples < 1 or args.seconds <= 0:
        p.error("--samples must be at least 1 and --seconds positive")
    rows = headroom(args.samples, args.seconds)
    means = {name: round(float(np.mean(v)), 4) for name, v in rows.items()}
    print(json.dumps({"samples": args.samples, "seconds": args.seconds, "per_clip": rows, "mean": means}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
