"""Where a generated toy dance loses its fidelity: per second, its PSNR against the true video beside
the still reference's (frame 0 held), and its mean colour's offset from the true video's in the first
and the last second, with each sample's stage (background kind and colours). JSON on stdout.

    python -m benchmarks.toyworld dance_seconds --videos RUN/videos/conditional_dance_10s \
        --bench WORKSPACE/data/toyworld_benchmark_<key>/conditional_dance [--out FILE]

`--videos`: the dances of one arm and seed (<sample>.mp4, as `harness run` writes them); `--bench`: the
conditional dance track they were generated from (<sample>/{gt.mp4, world.json}). A second in which
the video's PSNR falls below the still reference's is one in which holding the first frame would have
done better; a colour offset that grows from the first second to the last is drift.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def _per_second(video: np.ndarray, truth: np.ndarray, fps: int) -> list[float]:
    """PSNR in dB of uint8 [F, H, W, 3] against the truth, frames pooled per second -> one per second."""
    import torch

    from scoring.fidelity import psnr

    def frames(x: np.ndarray) -> torch.Tensor:  # [F, 3, H, W] in 0..1
        return torch.from_numpy(x).permute(0, 3, 1, 2).double() / 255.0

    per_frame = psnr(frames(video), frames(truth))  # [F]
    mse = 10.0 ** (-per_frame / 10.0)  # back to per-frame MSE, so a second pools them as one picture
    return [float(10.0 * np.log10(1.0 / mse[i : i + fps].mean())) for i in range(0, len(video), fps)]


def main(argv: list[str] | None = None) -> None:
    from benchmarks.perf.report import emit
    from svi.video_io import read_frames
    from toyworld.dancers import FPS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=Path, required=True, help="folder of <sample>.mp4 generated dances")
    p.add_argument("--bench", type=Path, required=True, help="the conditional_dance folder (<sample>/gt.mp4)")
    p.add_argument("--out")
    args = p.parse_args(argv)

    videos = sorted(args.videos.glob("*.mp4"))
    needed = ("gt.mp4", "world.json")  # the true video and the sample's stage, checked before any reading
    missing = [f"{v.stem}/{f}" for v in videos for f in needed if not (args.bench / v.stem / f).is_file()]
    if not videos or missing:
        p.error(  # exit 2, before any video is read
            f"need the dances in {args.videos} with their samples in {args.bench}/<sample>/{{gt.mp4, "
            f"world.json}} (missing: {missing or 'the videos'})"
        )
    result = {}
    for path in videos:
        video, truth = read_frames(path), read_frames(args.bench / path.stem / "gt.mp4")
        n = min(len(video), len(truth))
        video, truth = video[:n], truth[:n]  # [n, H, W, 3] uint8
        still = np.repeat(truth[:1], n, axis=0)
        offset = video.astype(np.float64) - truth.astype(np.float64)  # [n, H, W, 3]
        stage = json.loads((args.bench / path.stem / "world.json").read_text())["look"]["background"]
        result[path.stem] = {
            "stage": {"kind": stage["kind"], "colours": stage["colours"]},
            "psnr_per_second": _per_second(video, truth, FPS),
            "still_reference_psnr_per_second": _per_second(still, truth, FPS),
            "colour_offset_first_second": offset[:FPS].mean(axis=(0, 1, 2)).tolist(),  # RGB, grey levels
            "colour_offset_last_second": offset[-FPS:].mean(axis=(0, 1, 2)).tolist(),
        }
    emit({"benchmark": "toy_dance_seconds", "videos": str(args.videos), "result": result}, args.out)
