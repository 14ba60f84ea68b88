"""Sync-C / Sync-D throughput on this machine: frames per second of each part and end to end (JSON).

Random-init SyncNet v2 (224 x 224 crops, the real architecture) and a face detector (OpenCV's Haar
cascade by default, or random-init S3FD at the reference's 0.25 scale) on synthetic frames of the
given size (a square moving over a gradient) with 25 fps audio (noise). Parts, each timed on its own:
- detection: `detector.detect` per frame;
- crop: the face tracker (13-frame median of the box, pad, cut, resize to 224) per frame;
- embedding: SyncNet on 5-frame windows and their MFCC windows, in batches (one window per frame);
- end to end: a video through the streaming accumulator (Sync-C and Sync-D sharing one pass). The
  synthetic frames hold no face, so after the detector has run on a frame (its cost is counted) a
  fixed centre box stands in for its answer.
The reference (SyncNetInstance.evaluate) embeds crops it holds in memory, in batches of 20; the same
embedding measured that way in this run is the `reference_batch` figure, and the ratio says what
streaming costs. Medians over repeats.

    python benchmarks/perf/sync_throughput.py [--frames 50] [--height 480 --width 832] [--repeats 3]
                                              [--detector haar|s3fd] [--quick] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from benchmarks.perf.report import emit
from scoring.base import VideoInfo
from scoring.faces import S3FD, FaceTracker, HaarFaceDetector, TrackRules
from scoring.sync import (
    SAMPLES_PER_FRAME,
    SyncScorer,
    audio_windows,
    mfcc_features,
    sync_metric,
    video_windows,
)
from scoring.syncnet import SyncNet
from toyworld.synthetic import moving_square_frames


class _DetectThenCentre:
    """Runs the detector (its cost is real) and answers with a centre box: the frames hold no face."""

    def __init__(self, detector, box):
        self.detector, self.box = detector, box
        self.backend = detector.backend

    def detect(self, frame):
        self.detector.detect(frame)
        return [(*self.box, 1.0)]


def _median_seconds(parts: dict, repeats: int) -> dict[str, float]:
    """Median wall seconds of each part; parts alternate within each repeat, so a machine that slows
    down (other jobs) slows every part alike."""
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(repeats):
        for name, fn in parts.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=50)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=832)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=20, help="5-frame windows per SyncNet call")
    p.add_argument("--detector", choices=["haar", "s3fd"], default="haar")
    p.add_argument("--quick", action="store_true", help="30 frames, 2 repeats")
    p.add_argument("--out")
    args = p.parse_args()
    if args.quick:
        args.frames, args.repeats = 30, 2
    n, h, w = args.frames, args.height, args.width

    frames_u8 = moving_square_frames(n, h, w, (200, 120, 90), "right", seed=0)  # [n, H, W, 3]
    frames = torch.from_numpy(frames_u8).permute(0, 3, 1, 2).float()  # [n, 3, H, W] 0-255
    audio = torch.from_numpy(
        np.random.default_rng(0).uniform(-0.3, 0.3, n * SAMPLES_PER_FRAME).astype(np.float32)
    )
    side = min(h, w) / 3  # a face-sized box in the middle
    box = (w / 2 - side / 2, h / 2 - side / 2, w / 2 + side / 2, h / 2 + side / 2)

    model = SyncNet.random()
    detector = HaarFaceDetector() if args.detector == "haar" else S3FD.random()
    scorer = SyncScorer(model, detector, batch_windows=args.batch)

    def detect():
        for f in frames_u8:
            detector.detect(f)

    crops_out: list[np.ndarray] = []

    def crop():
        tracker = FaceTracker()
        crops = []
        for f in frames_u8:
            crops += tracker.push(f, [(*box, 1.0)])
        crops += tracker.flush()
        crops_out[:] = [c for _, _, c in crops]

    crop()
    crops = np.stack(crops_out)  # [n, 224, 224, 3]
    mfcc = mfcc_features(audio)
    windows = n - 5

    def embed_stream():  # as the accumulator does: batches built from the last crops as they arrive
        for s in range(0, windows, args.batch):
            starts = list(range(s, min(s + args.batch, windows)))
            scorer.embed(crops[s : starts[-1] + 5], mfcc, starts)

    def embed_reference():  # the reference: every window's input built up front, then batches of 20
        with torch.inference_mode():
            video_in = video_windows(crops)[:windows]  # [windows, 3, 5, 224, 224]
            audio_in = audio_windows(mfcc, range(windows))  # [windows, 1, 13, 20]
            for s in range(0, windows, 20):
                model.embed_video(video_in[s : s + 20])
                model.embed_audio(audio_in[s : s + 20])

    # every track scored, however short the measured video (the reference's rules need 101 frames)
    rules = TrackRules(min_track=0, min_face_size=0.0)

    def end_to_end():
        stand_in = _DetectThenCentre(detector, box)
        c, d = (
            sync_metric("sync_c", model, stand_in, args.batch, rules),
            sync_metric("sync_d", model, stand_in, args.batch, rules),
        )
        info = VideoInfo("bench", 25.0, n, h, w, audio=audio)
        accs = [c.new_video(info), d.new_video(info)]
        for s in range(0, n, 16):
            for acc in accs:
                acc.update(frames[s : s + 16])
        for acc in accs:
            acc.end_window()
        return [acc.finish() for acc in accs]

    assert end_to_end()[0].value is not None  # warm-up, and the pass really scores
    parts = {
        "detection": detect,
        "crop": crop,
        "embedding": embed_stream,
        "reference_batch_embedding": embed_reference,
        "mfcc": lambda: mfcc_features(audio),
        "end_to_end": end_to_end,
    }
    seconds = _median_seconds(parts, args.repeats)
    per_frame = {"detection": n, "crop": n, "end_to_end": n}
    emit(
        {
            "benchmark": "sync_throughput",
            "frames": n,
            "frame_size": [h, w],
            "crop_size": model.crop_size,
            "batch_windows": args.batch,
            "repeats": args.repeats,
            "backend": f"{model.backend}+{detector.backend}",
            "median_seconds": seconds,
            "frames_per_second": {
                k: per_frame.get(k, windows) / v for k, v in seconds.items() if k != "mfcc"
            },
            "mfcc_seconds_per_audio_second": seconds["mfcc"] / (n / 25),
            "ratio_stream_over_reference_embedding": seconds["embedding"]
            / seconds["reference_batch_embedding"],
            "video_seconds_per_wall_second": n / 25 / seconds["end_to_end"],
        },
        args.out,
    )


if __name__ == "__main__":
    main()
