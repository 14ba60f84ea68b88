"""Per-clip time of the conditional adapters over the unconditioned model (JSON).

Three generators share one backbone architecture (the toy preset's sizes, random initialisation,
seeded alike): the plain Wan I2V model, with SVI-Talk's audio adapter (MultiTalk's projection and a
cross-attention per block; the audio windows come from the preset's small wav2vec2, whose feature
extraction is timed once per video and reported apart) and with SVI-Dance's pose encoder (the Conv3d
stack added to the patch embeddings; the pose maps are decoded from an mp4 per clip, as in generation).
Each makes one clip end to end (conditioning, sampling with one pass per step so that the adapters'
own cost is what differs, decoding). Arms alternate; medians over repeats; ratios against the plain
model measured in the same process.

    python benchmarks/perf/adapter_overhead.py [--size 64] [--frames 17] [--steps 20] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.perf.report import emit
from svi.conditions.attach import attach, clip_streams
from svi.config import ConditionConfig, GenerateConfig
from svi.generation.generator import LongVideoGenerator
from svi.model.backbone import build_toy


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=64, help="height = width in pixels (multiple of 16)")
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out")
    args = p.parse_args()

    from svi.conditions.audio import write_wav
    from toyworld.synthetic import write_video

    cfg = GenerateConfig(
        num_frames=args.frames,
        height=args.size,
        width=args.size,
        steps=args.steps,
        guidance_scale=1.0,
        fps=25,
    )
    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    seconds = 4 * args.frames / 25
    wav = write_wav(tmp / "speech.wav", rng.normal(0, 0.1, int(16000 * seconds)).astype(np.float32))
    pose = tmp / "pose.mp4"
    write_video(pose, rng.integers(0, 255, (args.frames, args.size, args.size, 3), dtype=np.uint8), 25)

    generators, streams = {}, {}
    for name, kind, files in (
        ("plain", "none", {}),
        ("audio", "audio", {"audio": wav}),
        ("pose", "pose", {"pose": pose}),
    ):
        bb = build_toy(seed=0)
        # train_adapter: random initialisation instead of the committed toy stand-ins (timing only)
        cond = ConditionConfig(kind=kind, train_adapter=kind != "none")
        attach(bb, cond)
        bb.transformer.eval()
        generators[name] = LongVideoGenerator(bb, cfg, condition=cond)
        streams[name] = clip_streams(bb, files, cfg, cond) or {}
    image = torch.rand(3, args.size, args.size, generator=torch.Generator().manual_seed(0)) * 2 - 1

    t0 = time.perf_counter()
    first = streams["audio"]["audio"](0, 0, args.frames)  # wav2vec2 features of the whole file, then a slice
    feature_seconds = time.perf_counter() - t0
    assert first is not None

    def clip(name: str) -> float:
        gen = generators[name]
        inputs = {k: s(0, 0, args.frames) for k, s in streams[name].items()}
        ref = image[None]
        start = time.perf_counter()
        gen.generate_clip(0, "a face", ref, None, None, gen.bb.encode_image(ref), None, streams=inputs)
        return time.perf_counter() - start

    times: dict[str, list[float]] = {k: [] for k in generators}
    for name in generators:  # warm-up
        clip(name)
    for _ in range(args.repeats):
        for name in generators:
            times[name].append(clip(name))
    med = {k: statistics.median(v) for k, v in times.items()}
    emit(
        {
            "benchmark": "adapter_overhead",
            "settings": vars(args),
            "seconds_per_clip": med,
            "ratio_vs_plain": {k: med[k] / med["plain"] for k in ("audio", "pose")},
            "wav2vec2_features_seconds_per_video": feature_seconds,
            "audio_seconds": seconds,
            "repeats": times,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
