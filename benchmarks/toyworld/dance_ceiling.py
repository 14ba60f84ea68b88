"""What PSNR and SSIM mean on the toy dance track: reference points against the true video, from
the best a toy model can do to knowing nothing of the dance. JSON on stdout.

    python -m benchmarks.toyworld.dance_ceiling [--samples 8] [--seconds 10] [--out FILE]

Per benchmark dancer (the seeds `conditional_dance` uses), each compared with its true video frame by
frame, as the dance track scores a generated video:
- `vae_round_trip`: the true video through the toy VAE one 17-frame clip at a time, as generated clips
  are decoded: the ceiling of any toy model;
- `still_reference`: the reference image (frame 0) held for the whole video: a model that keeps the
  dancer but ignores the pose;
- `empty_stage`: the background alone: a model that lost the dancer.
A generated dance between `empty_stage` and `still_reference` has lost most of the figure.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def _scores(video: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """uint8 [F, H, W, 3] pair -> mean PSNR (dB) and SSIM over the frames (RGB in [0, 1])."""
    import torch

    from benchmarks.metrics.fidelity import psnr, ssim

    def frames(v: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(v).permute(0, 3, 1, 2).double() / 255.0  # [F, 3, H, W]

    x, y = frames(video), frames(truth)
    p = psnr(x, y)
    return {"psnr": float(p[torch.isfinite(p)].mean()), "ssim": float(ssim(x, y).mean())}


def main(argv: list[str] | None = None) -> None:
    from benchmarks.perf.report import emit
    from benchmarks.toyworld import world
    from benchmarks.toyworld.dance import FPS, dance_sample, dance_seed, sample_dancer_look
    from benchmarks.toyworld.talk import vae_round_trip

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=1000, help="the benchmark's seed (write_dance_benchmark's)")
    p.add_argument("--out")
    args = p.parse_args(argv)

    num_frames = int(round(args.seconds * FPS))  # as write_dance_benchmark
    per_set: dict[str, list[dict[str, float]]] = {
        "vae_round_trip": [],
        "still_reference": [],
        "empty_stage": [],
    }
    for i in range(args.samples):
        seed = dance_seed("benchmark", args.seed, i)
        _, truth = dance_sample(seed, num_frames)  # [F, 64, 64, 3]
        look = sample_dancer_look(seed)
        background = world.render_background(look.background, truth.shape[1:3]).round().astype(np.uint8)
        candidates = {
            "vae_round_trip": vae_round_trip(truth),
            "still_reference": np.repeat(truth[:1], len(truth), axis=0),
            "empty_stage": np.repeat(background[None], len(truth), axis=0),
        }
        for name, video in candidates.items():
            per_set[name].append(_scores(video, truth))
    result = {
        name: {metric: float(np.mean([s[metric] for s in scores])) for metric in ("psnr", "ssim")}
        for name, scores in per_set.items()
    }
    emit(
        {"benchmark": "toy_dance_fidelity_reference_points", "settings": vars(args), "result": result},
        args.out,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
