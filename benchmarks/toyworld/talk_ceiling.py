"""How much lip sync the toy talk track can show at all: Sync-C/D of true toy talking heads, of the
same videos after the toy VAE's round trip (what any generated video passes through), and of the true
videos against another sample's speech (no sync). JSON on stdout.

    python -m benchmarks.toyworld talk_ceiling [--samples 8] [--seconds 10] [--out FILE]

The round trip encodes and decodes each 17-frame clip of the video (frames 0-16, 16-32, ...) as the
generator's clips are decoded, so its score is the ceiling a toy model can reach through its VAE.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    from benchmarks.perf.report import emit
    from scoring.score import score_suite
    from svi.conditions.audio import write_wav
    from toyworld.synthetic import write_video
    from toyworld.talking_heads import talk_sample, vae_round_trip

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--out")
    args = p.parse_args(argv)

    tmp = Path(tempfile.mkdtemp())
    sets: dict[str, list[Path]] = {"true": [], "vae_round_trip": [], "other_speech": []}
    own, other = {}, {}
    for i in range(args.samples):
        frames, audio = talk_sample(args.seconds, seed=10_000 + i, height=64, width=64)
        wav = write_wav(tmp / f"s{i}.wav", audio)
        for name, video in (
            ("true", frames),
            ("vae_round_trip", vae_round_trip(frames)),
            ("other_speech", frames),
        ):
            path = tmp / name / f"s{i}.mp4"
            path.parent.mkdir(exist_ok=True)
            write_video(path, video, 25)
            sets[name].append(path)
        own[f"s{i}"] = wav
        other[f"s{i}"] = tmp / f"s{(i + 1) % args.samples}.wav"
    result = {}
    for name, videos in sets.items():
        audio = other if name == "other_speech" else own
        report = score_suite(videos, "sync", backend="toy", window="video", audio=audio, progress=False)
        per_video = [v["scores"] for v in report["videos"]]
        result[name] = {
            "sync_c": report["aggregate"]["sync_c"],
            "sync_d": report["aggregate"]["sync_d"],
            "sync_c_per_video": [v.get("sync_c") for v in per_video],
        }
    emit({"benchmark": "toy_talk_sync_ceiling", "settings": vars(args), "result": result}, args.out)
    print(json.dumps({k: (v["sync_c"], v["sync_d"]) for k, v in result.items()}))
