"""What the positive control's planted drift does to colour shift by construction, before the model
answers it: the videos of an untrained arm, clip k moved k x D of colour shift away from clip 0's mean
colour as `generate.planted_drift` records it (`svi.generation.generator.planted`), scored against the
same videos unplanted. JSON on stdout.

    python -m benchmarks.toyworld planted_effect --arm WORKSPACE/runs/toy_erft_control/base \
        [--track consistent_100s] [--drift 0.0005 0.001] [--out FILE]

`--arm`: an arm's folder of a `harness run` workspace (seed<k>/videos/<track>/<sample>.mp4 with their
sidecars). Both versions of every video are written through the same mp4 writer, so compression treats
them alike. The `planted` arm of an experiment differs from this in one way: each of its clips is
conditioned on the moved frames of the one before, so the model's answer to them (restoring the
colour, or following it) adds to or takes from this effect. Without clamping and rounding, the effect
on a video's colour shift is D times the mean clip index of its windows after the first (25 D for
50 clips). Interval: the crossed design over samples x seeds (`reports.stats.crossed_difference`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path


def planted_copy(video: Path, out: Path, drift: float) -> Path:
    """`video` (with its sidecar) written to `out` with clip k brightened by k x drift -> the new mp4."""
    import numpy as np
    import torch

    from svi.generation.generator import planted
    from svi.video_io import read_frames, to_uint8_frames
    from toyworld.synthetic import write_video

    meta = json.loads(video.with_suffix(".json").read_text())
    frames = read_frames(video)  # [T, H, W, 3] uint8
    parts, origin = [], None
    for clip in sorted(meta["clips"], key=lambda c: c["index"]):
        start, stop = clip["video_frames"]
        x = (
            torch.from_numpy(frames[start:stop]).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
        )  # [1, 3, F, H, W]
        origin = x.mean(dim=(2, 3, 4)) if origin is None else origin  # [1, 3] clip 0's mean colour
        parts.append(to_uint8_frames(planted(x, clip["index"], drift, origin)[0]))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_video(out, np.concatenate(parts), int(meta["fps"]))
    shutil.copy(video.with_suffix(".json"), out.with_suffix(".json"))
    return out


def main(argv: list[str] | None = None) -> None:
    import pandas as pd

    from benchmarks.perf.report import emit
    from reports.stats import crossed_difference
    from scoring.score import score_suite

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--arm", type=Path, required=True, help="an untrained arm's folder: seed<k>/videos/<track>/"
    )
    p.add_argument("--track", default="consistent_100s")
    p.add_argument("--drift", type=float, nargs="+", default=[0.001], help="colour shift added per clip")
    p.add_argument("--out")
    args = p.parse_args(argv)

    videos = sorted(args.arm.glob(f"seed*/videos/{args.track}/*.mp4"))
    if not videos or any(not v.with_suffix(".json").is_file() for v in videos):
        raise SystemExit(
            f"no videos with sidecars under {args.arm}/seed<k>/videos/{args.track}/: name an arm folder"
        )
    keys = [(v.stem, int(v.parents[2].name.removeprefix("seed"))) for v in videos]  # (sample, seed)
    result = {}
    with tempfile.TemporaryDirectory() as folder:
        scores = {}
        for drift in [0.0, *args.drift]:
            copies = [
                planted_copy(v, Path(folder) / f"{drift}" / f"{seed}" / v.name, drift)
                for v, (_, seed) in zip(videos, keys)
            ]
            report = score_suite(copies, "colour_shift", backend="toy", window="clip", progress=False)
            values = [r["scores"]["colour_shift"] for r in report["videos"]]
            scores[drift] = pd.Series(values, index=pd.MultiIndex.from_tuples(keys, names=["sample", "seed"]))
        for drift in args.drift:
            d = crossed_difference(scores[0.0], scores[drift])
            result[str(drift)] = {
                "colour_shift": float(scores[drift].mean()),
                "minus_unplanted": {
                    "mean": d.mean,
                    "low": d.low,
                    "high": d.high,
                    "n": f"{d.n_samples}x{d.n_seeds}",
                },
                "videos_lowered": int((scores[drift] < scores[0.0]).sum()),
            }
    result["unplanted_colour_shift"] = float(scores[0.0].mean())
    emit(
        {"benchmark": "toy_planted_effect", "arm": str(args.arm), "track": args.track, "result": result},
        args.out,
    )
    print(json.dumps(result))
