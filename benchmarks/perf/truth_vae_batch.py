"""The truth_vae ceiling's cost: clips through the toy VAE one at a time vs in batches (JSON on stdout).

`truth_vae` takes every clip of the true continuation through the arm's VAE (`through_vae`). This
times the harness's own round trip (`harness.run.reference_units.vae_roundtrip` on the toy preset's
committed VAE) over the same `--clips` clips of a toy-world truth, once with `batch` 1 (the
reference) and once with `--batch`, alternating, `--repeats` times, in this process on the same
threads. Headline: the ratio of the medians (clips per second, batched over one at a time), and the
largest pixel difference between the two (float32 summation order: a level or two of 255).

    python benchmarks/perf/truth_vae_batch.py [--clips 16] [--batch 8] [--repeats 3] [--threads 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

from benchmarks.perf.report import emit


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=16)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--out")
    args = p.parse_args(argv)

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from harness.run.reference_units import vae_roundtrip
    from scoring import references as R
    from svi.config import build_config
    from svi.generation.generator import LongVideoGenerator
    from toyworld.world import render, sample_scene

    cfg = build_config({"model": {"preset": "toy"}})
    vae = vae_roundtrip(LongVideoGenerator.from_config(cfg), cfg)
    f = vae.clip_frames
    windows = [(k * (f - 1), k * (f - 1) + f - 1) for k in range(args.clips)]
    truth = render(sample_scene(0, (cfg.generate.height, cfg.generate.width)), 0, windows[-1][1] + 1)
    arms = {"one": dataclasses.replace(vae, batch=1), "batched": dataclasses.replace(vae, batch=args.batch)}
    seconds: dict[str, list[float]] = {k: [] for k in arms}
    out = {}
    R.through_vae(truth, windows[:1], arms["one"])  # warm-up
    for _ in range(args.repeats):
        for name, arm in arms.items():
            t0 = time.perf_counter()
            out[name] = R.through_vae(truth, windows, arm)
            seconds[name].append(time.perf_counter() - t0)
    rate = {k: args.clips / statistics.median(v) for k, v in seconds.items()}
    emit(
        {
            "benchmark": "truth_vae_batch",
            "clips": args.clips,
            "clip_frames": f,
            "batch": args.batch,
            "threads": args.threads,
            "repeats": args.repeats,
            "seconds": seconds,
            "clips_per_second": rate,
            "ratio_batched_over_one": rate["batched"] / rate["one"],
            "max_pixel_difference": int(np.abs(out["one"].astype(int) - out["batched"].astype(int)).max()),
            "load_average_1min": os.getloadavg()[0],
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
