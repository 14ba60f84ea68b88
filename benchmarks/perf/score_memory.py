"""Peak memory scoring a 250 s video vs a 50 s one at the same resolution (JSON on stdout).

The reference (VBench) loads every frame of a video before scoring it, so its memory grows with
length; the streaming runner should stay flat. Each length is scored in a fresh child process
(PSNR, SSIM against a ground truth, and subject consistency with a small random-init DINO so the
run takes seconds), which reports its peak RSS (ru_maxrss) and its RSS before scoring.

    python benchmarks/perf/score_memory.py [--seconds 50 250] [--size 128] [--fps 16]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.perf.report import emit, memory_growth


def write_clip(path: Path, frames: int, size: int, fps: int) -> None:
    """A moving gradient, written in blocks so the writer itself holds little."""
    import av

    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "20", "preset": "ultrafast"})
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        ramp = np.linspace(0, 255, size, dtype=np.float32)
        for i in range(frames):
            img = np.empty((size, size, 3), dtype=np.uint8)
            img[..., 0] = (ramp[None, :] + i) % 256
            img[..., 1] = (ramp[:, None] + 2 * i) % 256
            img[..., 2] = 128
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def child(video: str, reference: str) -> dict:
    import psutil
    import torch

    from scoring.consistency import SubjectConsistency
    from scoring.extractors import DinoViTB16
    from scoring.fidelity import PSNR, SSIM
    from scoring.stream import score_video

    torch.set_num_threads(2)
    metrics = [PSNR(), SSIM(), SubjectConsistency(DinoViTB16.random(tiny=True))]
    score_video(video, metrics, window="2s", reference_video=reference, chunk_frames=16)  # warm-up pass
    before = psutil.Process().memory_info().rss
    scores = score_video(video, metrics, window="2s", reference_video=reference, chunk_frames=16)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"frames": scores.num_frames, "rss_before_bytes": before, "peak_rss_bytes": peak}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, nargs=2, default=[50, 250], metavar=("SHORT", "LONG"))
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--fps", type=int, default=16)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--out")
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    runs = {}
    with tempfile.TemporaryDirectory() as d:
        for seconds in args.seconds:
            frames = int(seconds * args.fps)
            video = Path(d) / f"v{int(seconds)}.mp4"
            write_clip(video, frames, args.size, args.fps)
            cmd = [sys.executable, __file__, "--child", str(video), str(video)]
            out = (
                subprocess.run(cmd, capture_output=True, text=True, check=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            runs[seconds] = json.loads(out)
    emit(
        {
            "benchmark": "score_memory",
            "video": {"size": args.size, "fps": args.fps},
            "metrics": ["psnr", "ssim", "subject_consistency (tiny random DINO)"],
            "runs": {str(s): r for s, r in runs.items()},
            **memory_growth(runs, args.size, "frames_mib_if_loaded"),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
