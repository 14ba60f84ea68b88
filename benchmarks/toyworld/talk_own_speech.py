"""Does a generated toy talk follow its own speech? Sync-C/D of each video against its own speech and
against another sample's (the next one's, in name order), with the paired difference's 95% t-interval
over the videos. JSON on stdout.

    python -m benchmarks.toyworld talk_own_speech --videos RUN/videos/conditional_talk_10s \
        --bench WORKSPACE/data/toyworld_benchmark_<key>/conditional_talk [--out FILE]

`--videos`: the talks of one arm and seed (<sample>.mp4, as `harness run` writes them); `--bench`: the
conditional talk track they were generated from (<sample>/audio.wav). A video whose lip motion follows
its speech scores a higher Sync-C and a lower Sync-D against its own speech than against another's;
`talk_ceiling.py` gives the same comparison for the world's true talking heads.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    from benchmarks.perf.report import emit
    from reports.stats import mean_ci
    from scoring.score import score_suite

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=Path, required=True, help="folder of <sample>.mp4 generated talks")
    p.add_argument(
        "--bench", type=Path, required=True, help="the conditional_talk folder (<sample>/audio.wav)"
    )
    p.add_argument("--out")
    args = p.parse_args(argv)

    videos = sorted(args.videos.glob("*.mp4"))
    names = [v.stem for v in videos]
    missing = [n for n in names if not (args.bench / n / "audio.wav").is_file()]
    if len(videos) < 2 or missing:
        raise SystemExit(
            f"need at least 2 talks in {args.videos} with their speech in {args.bench}/<sample>/audio.wav "
            f"(missing: {missing or 'the videos'})"
        )
    own = {n: args.bench / n / "audio.wav" for n in names}
    other = {n: own[names[(i + 1) % len(names)]] for i, n in enumerate(names)}
    scores = {}
    for label, audio in (("own_speech", own), ("other_speech", other)):
        report = score_suite(videos, "sync", backend="toy", window="video", audio=audio, progress=False)
        scores[label] = {m: [v["scores"][m] for v in report["videos"]] for m in ("sync_c", "sync_d")}
    result = {}
    for m in ("sync_c", "sync_d"):
        a, b = scores["own_speech"][m], scores["other_speech"][m]
        diff = mean_ci([x - y for x, y in zip(a, b)])
        result[m] = {
            "own_speech": mean_ci(a).mean,
            "other_speech": mean_ci(b).mean,
            "own_minus_other": {"mean": diff.mean, "low": diff.low, "high": diff.high, "n": diff.n},
            "per_video_own": a,
            "per_video_other": b,
        }
    emit({"benchmark": "toy_talk_own_speech", "videos": str(args.videos), "result": result}, args.out)
