"""What scoring a sample's draws costs: the energy scores against the distance of one video (JSON).

The energy scores read a video's other draws beside it (`scoring.energy.draw_paths`) and each term is
its own metric, so every term reads the draws again. One synthetic video of `--seconds` at the toy
world's size and fps, with `--draws - 1` other draws beside it and a truth, is scored in this process
with each set of metrics below, alternating, one window per 10 s; the headline is each set's median
seconds over that of `truth_clip_distance` (the reference: the clip features of the video and the
truth, no draws).

    python benchmarks/perf/energy_scoring.py [--seconds 100] [--draws 2] [--repeats 3] [--threads 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.perf import report

SETS = {  # name -> the metrics scored together; the first is the reference
    "truth_clip_distance": "truth_clip_distance",
    "clip_energy_score": "clip_energy_score",
    "clip_energy (3 terms)": "clip_energy",
    "energy (3 pixel terms)": "energy",
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=100, help="video length (the toy world's 8 fps)")
    p.add_argument("--draws", type=int, default=2, help="draws of the sample, the video included (K)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out")
    args = p.parse_args()

    import numpy as np
    import torch

    from scoring.energy import draw_path
    from scoring.score import build_metrics
    from scoring.stream import score_video
    from svi.config import build_config
    from svi.video_io import write_segment

    torch.set_num_threads(args.threads)
    g = build_config({"model": {"preset": "toy"}}).generate
    frames = args.seconds * g.fps + 1

    def video(path: Path, seed: int) -> Path:
        rng = np.random.default_rng(seed)  # noise frames: the cost does not depend on the content
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_segment(
            path, rng.integers(0, 256, (frames, g.height, g.width, 3), dtype=np.uint8), g.fps
        )

    with tempfile.TemporaryDirectory() as d:
        truth = video(Path(d) / "truth" / "s.mp4", 0)
        sample = video(Path(d) / "s.mp4", 1)
        for k in range(1, args.draws):
            video(draw_path(sample, k), 1 + k)
        built = {name: build_metrics(names, "toy")[0] for name, names in SETS.items()}
        seconds: dict[str, list[float]] = {name: [] for name in SETS}
        for repeat in range(args.repeats + 1):  # the first round warms up
            for name, metrics in built.items():
                start = time.perf_counter()
                score_video(sample, metrics, window="10s", reference_video=truth)
                if repeat:
                    seconds[name].append(time.perf_counter() - start)

    median = {name: statistics.median(s) for name, s in seconds.items()}
    reference = median["truth_clip_distance"]
    report.emit(
        {
            "benchmark": "energy_scoring",
            "video": {"seconds": args.seconds, "frames": frames, "height": g.height, "width": g.width},
            "draws": args.draws,
            "repeats": args.repeats,
            "seconds_median": median,
            "seconds_runs": seconds,
            "ratio_to_truth_clip_distance": {name: m / reference for name, m in median.items()},
        },
        args.out,
    )


if __name__ == "__main__":
    main()
