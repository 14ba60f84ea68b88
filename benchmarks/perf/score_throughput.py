"""Frames per second through each scoring dimension with random-init networks on this machine (JSON).

Every dimension builds its full-size network (random weights, same architecture as VBench's) and
scores the same in-memory frames through its accumulator, so the figure includes preprocessing,
feature extraction and the formula. Medians over repeats. PSNR/SSIM compare the frames with
themselves shifted by one; FVD runs I3D on 16-frame clips.

    python benchmarks/perf/score_throughput.py [--frames 32] [--height 240 --width 416] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from benchmarks.perf.report import emit
from scoring import registry
from scoring.base import VideoInfo
from scoring.specs import GROUPS

DIMENSIONS = [
    *GROUPS["vbench"],
    "i2v_subject",
    "fvd",
    "psnr",
    "ssim",
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--width", type=int, default=416)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--only", help="comma-separated subset of dimensions")
    p.add_argument("--out")
    args = p.parse_args()

    g = torch.Generator().manual_seed(0)
    frames = (torch.rand(args.frames, 3, args.height, args.width, generator=g) * 255).round()
    image = frames[0]
    info = VideoInfo("bench", 16.0, args.frames, args.height, args.width, image)
    names = args.only.split(",") if args.only else DIMENSIONS
    results = {}
    for name in names:
        try:
            metric = registry.build(name, backend="random")
        except registry.MetricUnavailable as e:
            results[name] = {"unavailable": str(e)}
            continue
        times = []
        for _ in range(args.repeats):
            acc = metric.new_video(info)
            t0 = time.perf_counter()
            for s in range(0, args.frames, 16):
                chunk = frames[s : s + 16]
                ref = frames[s + 1 : s + 1 + len(chunk)] if metric.needs_reference_video else None
                if ref is not None and len(ref) < len(chunk):
                    chunk = chunk[: len(ref)]
                acc.update(chunk, reference=ref)
            acc.end_window()
            acc.finish()
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        results[name] = {
            "median_seconds": med,
            "frames_per_second": args.frames / med,
            "backend": metric.backend,
        }
    emit(
        {
            "benchmark": "score_throughput",
            "frames": args.frames,
            "frame_size": [args.height, args.width],
            "repeats": args.repeats,
            "dimensions": results,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
