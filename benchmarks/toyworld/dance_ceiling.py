"""What PSNR and SSIM mean on the toy dance track: reference points against the true video, from
the best a toy model can do to knowing nothing of the dance. JSON on stdout.

    python -m benchmarks.toyworld dance_ceiling [--samples 8] [--seconds 10] [--out FILE]

Per benchmark dancer (the dancers of the toy `conditional_dance` track, seed 1000), each written as a
25 fps mp4 and scored against the true video's mp4 by the track's own PSNR / SSIM (`score_suite`):
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
import tempfile
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> None:
    from benchmarks.perf.report import emit
    from scoring.score import score_suite
    from toyworld import world
    from toyworld.dancers import FPS, dance_sample, dance_seed, sample_dancer_look
    from toyworld.synthetic import write_video
    from toyworld.talking_heads import vae_round_trip

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=1000, help="the benchmark's seed (write_dance_benchmark's)")
    p.add_argument("--out")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:  # the mp4s are scored, then removed
        tmp = Path(folder)
        num_frames = int(round(args.seconds * FPS))  # as write_dance_benchmark
        sets: dict[str, list[Path]] = {"vae_round_trip": [], "still_reference": [], "empty_stage": []}
        truths: dict[str, Path] = {}
        for i in range(args.samples):
            seed = dance_seed("benchmark", args.seed, i)
            _, truth = dance_sample(seed, num_frames)  # [F, 64, 64, 3]
            background = world.render_background(sample_dancer_look(seed).background, truth.shape[1:3])
            candidates = {
                "vae_round_trip": vae_round_trip(truth),
                "still_reference": np.repeat(truth[:1], len(truth), axis=0),
                "empty_stage": np.repeat(background.round().astype(np.uint8)[None], len(truth), axis=0),
            }
            truths[f"s{i}"] = tmp / "truth" / f"s{i}.mp4"
            write_video(truths[f"s{i}"], truth, FPS)
            for name, video in candidates.items():
                sets[name].append(tmp / name / f"s{i}.mp4")
                write_video(sets[name][-1], video, FPS)
        result = {}
        for name, videos in sets.items():
            report = score_suite(videos, "psnr_ssim", window="video", reference_videos=truths, progress=False)
            result[name] = {m: report["aggregate"][m] for m in ("psnr", "ssim")}
    emit(
        {"benchmark": "toy_dance_fidelity_reference_points", "settings": vars(args), "result": result},
        args.out,
    )
    print(json.dumps(result))
