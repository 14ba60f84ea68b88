"""Can a model beat the first frame held still in toy world 3, even in principle? (gate G3's headroom)

A model that knows the world's physics but cannot know the landscape ahead of the camera does at best
what this script's `other_landscape` row does: each consistent-track benchmark scene rendered again
with the same background, subjects and camera over another landscape seed (the discs the camera will
meet drawn anew), scored against the true video. It is a lower bound on what a perfect sampler
conditioned on the first frame misses: such a sampler also keeps the discs already in view, which this
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

from toyworld.world import render, sample_scene, scene_seed

CLIP = 17  # frames per toy clip; consecutive clips share their boundary frame
FPS = 8
BENCHMARK_SEED = 1000  # the toy benchmark's scene seed (harness/run/provision.py's default)


def clip_spans(clips: int) -> list[slice]:
    """Frames of each clip of a chained video: clip 0 is frames 0..16, clip k its 16 new frames."""
    step = CLIP - 1
    return [slice(0, CLIP)] + [slice(1 + step * k, CLIP + step * k) for k in range(1, clips)]


def headroom(samples: int, seconds: float, seed: int = BENCHMARK_SEED) -> dict[str, list[float]]:
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
