"""Peak memory of a long video vs a short one: generation must stay flat (JSON on stdout).

Each length runs in a fresh child process (so peaks do not mix) that builds the tiny preset,
generates an N-clip video to a temporary folder and reports its peak resident set size
(ru_maxrss) and its RSS just before generation started. The ratio of the 50-clip peak to the
10-clip peak is the headline; the increments over the pre-generation RSS show what generation
itself holds. Clips are larger than the tiny default (256 x 256) so that keeping frames would show.

    python benchmarks/perf/generate_memory.py [--clips 10 50] [--size 256] [--steps 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile

from benchmarks.perf.report import emit, memory_growth


def child(clips: int, size: int, steps: int) -> dict:
    import psutil
    import torch

    from svi.config import GenerateConfig
    from svi.generation.generator import LongVideoGenerator
    from svi.model.backbone import build_tiny

    torch.set_num_threads(2)
    bb = build_tiny()
    cfg = GenerateConfig(num_frames=9, height=size, width=size, steps=steps)
    gen = LongVideoGenerator(bb, cfg)
    image = torch.rand(3, size, size) * 2 - 1
    with tempfile.TemporaryDirectory() as d:
        # one warm-up clip so allocator pools and kernel caches exist before the baseline is read
        gen.generate(image, lambda k: "warm" if k < 1 else None, f"{d}/warm.mp4", progress=False)
        before = psutil.Process().memory_info().rss
        res = gen.generate(image, lambda k: f"prompt {k}", f"{d}/v.mp4", num_clips=clips, progress=False)
        frames = res.num_frames
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return {"clips": clips, "frames": frames, "rss_before_bytes": before, "peak_rss_bytes": peak}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, nargs=2, default=[10, 50], metavar=("SHORT", "LONG"))
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out")
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.size, args.steps)))
        return
    runs = {}
    for n in args.clips:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            str(n),
            "--size",
            str(args.size),
            "--steps",
            str(args.steps),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        runs[n] = json.loads(out)
    result = {
        "benchmark": "generate_memory",
        "clip": {"frames": 9, "height": args.size, "width": args.size},
        "steps": args.steps,
        "runs": list(runs.values()),
        **memory_growth(runs, args.size, "frames_mib_if_held"),
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
