"""`harness score DIR`: score every video of a folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.common import fail

NAME = "score"
HELP = "score videos: VBench dimensions, FVD, PSNR/SSIM, per window and per video"
DESCRIPTION = (
    "Score every .mp4 in DIR. Videos are streamed in chunks (memory does not grow with "
    "length); values are reported per window (a generated clip, read from the generator's sidecar, or "
    "every N seconds), per video and for the suite, aggregated as each reference does. Writes "
    "scores.json and scores.csv. Videos that cannot be read are named and the rest are scored. Beside "
    "them, each video's degenerate references (--references; scoring/references.py) are built with no "
    "model and scored the same way: its input image held (frozen), its first clip repeated (loop) and "
    "played forward and back (pingpong). The table printed at the end gives each metric's margin over "
    "the best of them and both verdicts (is the metric valid here: anchored to the truth, else unknown with "
    "the toy world's committed verdicts as the prior; do the videos beat standing still); they go to "
    "references.json."
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="folder of generated videos (.mp4, with the generator's .json sidecars)")
    p.add_argument(
        "--metrics",
        default="vbench",
        help="comma-separated metrics or groups: vbench, i2v, fvd, psnr_ssim, sync, or single names",
    )
    p.add_argument(
        "--reference", help="real videos: the FVD reference set, and ground truth (same names) for PSNR/SSIM"
    )
    p.add_argument(
        "--audio",
        help="folder of each video's speech (<video name>.wav/.mp3/.flac) for Sync-C/D; default: the "
        "videos' own soundtracks",
    )
    p.add_argument(
        "--face-detector",
        choices=["haar", "s3fd"],
        default="haar",
        help="Sync-C/D face detector: OpenCV's bundled Haar cascade (weight-free) or the reference's S3FD "
        "(<vbench cache>/syncnet/sfd_face.pth)",
    )
    p.add_argument("--window", default="clip", help="'clip' (one generated clip) or seconds such as '2s'")
    p.add_argument(
        "--long", action="store_true", help="VBench-Long: score 2 s clips separately, average per video"
    )
    p.add_argument(
        "--backend",
        choices=["vbench", "random", "toy"],
        default="vbench",
        help="official VBench weights, random init (pipeline checks and speed only), or toy-world "
        "networks and OpenCV flow (toy-world videos; never comparable with VBench numbers)",
    )
    p.add_argument(
        "--vbench-cache", help="VBench weight folder (default $VBENCH_CACHE_DIR or ~/.cache/vbench)"
    )
    p.add_argument("--i3d", help="i3d_torchscript.pt for FVD (default <vbench cache>/fvd/i3d_torchscript.pt)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--out", help="output folder (default: DIR)")
    p.add_argument(
        "--references",
        default="frozen,loop,pingpong",
        help="degenerate references to build and score beside the videos (comma-separated from frozen, "
        "loop, pingpong, pan; 'none' for none). Written under OUT/references/<kind>/",
    )
    p.add_argument(
        "--reference-draws",
        type=int,
        default=None,
        help="videos a sample of pan (the first frame panned at a random heading and speed, "
        "scoring/pan.py's range), draw 0 scored, the others under OUT/references/pan/draws/ "
        "(default 4)",
    )


def cmd_score(args: argparse.Namespace) -> int:
    from scoring import specs
    from scoring.score import score_suite, write_scores

    folder = Path(args.dir)
    try:
        names = specs.expand(args.metrics)
        specs.parse_window(args.window)
        if not folder.is_dir():
            raise ValueError(f"no such folder: {folder}")
        videos = sorted(folder.glob("*.mp4"))
        if not videos:
            raise ValueError(f"no .mp4 videos in {folder}")
        needs_ref = [n for n in names if specs.spec(n).needs_reference]
        if needs_ref and not args.reference:
            raise ValueError(f"{', '.join(needs_ref)} need --reference DIR (real / ground-truth videos)")
        ref_dir = Path(args.reference) if args.reference else None
        if ref_dir is not None and not ref_dir.is_dir():
            raise ValueError(f"no such reference folder: {ref_dir}")
        audio = _audio_files(videos, args.audio) if any(specs.spec(n).needs_audio for n in names) else None
        kinds = _reference_kinds(args.references)
        drawn = _drawn(args.reference_draws)
    except ValueError as e:
        return fail(str(e))
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    refs = sorted(ref_dir.glob("*.mp4")) if ref_dir else None

    def score(files: list[Path]) -> dict:
        return score_suite(
            files,
            names,
            backend=args.backend,
            window=args.window,
            long=args.long,
            reference_videos={p.stem: p for p in refs} if refs else None,
            reference_set=refs,
            audio=audio,
            build_options={
                "cache_dir": args.vbench_cache,
                "device": args.device,
                "i3d": args.i3d,
                "face_detector": args.face_detector,
            },
        )

    try:
        report = score(videos)
    except (FileNotFoundError, ImportError) as e:
        return fail(str(e))
    for name, reason in report["unavailable"].items():
        print(f"warning: skipping {name}: {reason}", file=sys.stderr)
    if not report["aggregate"]:
        return fail("none of the requested metrics can be computed here")
    out = Path(args.out) if args.out else folder
    files = write_scores(report, out)
    for name, value in report["aggregate"].items():
        shown = "n/a" if value is None else f"{value:.4f}"
        print(f"{name:24s} {shown}   ({report['backends'][name]})")
    for item in report.get("failed", []):
        print(f"could not score {item['video']}: {item['error']}", file=sys.stderr)
    print(f"scores: {', '.join(str(f) for f in files)}")
    failed = {Path(item["video"]).name for item in report.get("failed", [])}
    loops = {}
    if kinds:
        loops = _score_references(
            [v for v in videos if v.name not in failed], kinds, out, report["aggregate"], score, drawn
        )
    _print_collapse(report, loops)
    return 0


def _window_motion(report: dict) -> dict[str, list[float]]:
    """Video name -> its per-window motion (dynamic degree's per-window flow magnitude), for the
    videos that have it."""
    from scoring.references import MOTION

    return {
        str(v["video"]): list(v["window_scores"][MOTION])
        for v in report["videos"]
        if v.get("window_scores", {}).get(MOTION)
    }


def _print_collapse(report: dict, loops: dict) -> None:
    """The videos whose motion collapsed (scoring/references.py `collapse_start`), each against its own
    looped first clip's motion where --references built it; a video with no motion at all whatever
    its references."""
    from scoring.references import collapsed

    motion = _window_motion(report)
    if not motion:
        return
    reference = {
        name: (sum(windows) / len(windows) if windows else None) for name, windows in _window_motion(loops).items()
    } if loops else {}  # fmt: skip
    found = collapsed(motion, reference)
    print(f"\nmotion collapse: {len(found)} of {len(motion)} video(s)")
    for name, start in found.items():
        if start is None:
            print(f"  {name}: static from the start (no motion in any of its {len(motion[name])} window(s))")
        else:
            print(
                f"  {name}: collapsed from window {start} (motion at most a tenth of its looped first clip's)"
            )


def _reference_kinds(text: str) -> list[str]:
    """--references -> the kinds to build; a ValueError naming an unknown one. What needs no truth is
    built here: the references made from the video itself, and pan."""
    from scoring.references import BUILT, PAN

    if text.strip() == "none":
        return []
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    buildable = (*BUILT, PAN)
    unknown = [k for k in kinds if k not in buildable]
    if unknown:
        raise ValueError(
            f"--references: unknown {', '.join(unknown)}; choose from {', '.join(buildable)}, or none"
        )
    return kinds


def _drawn(draws: int | None):
    """--reference-draws -> how pan is drawn (scoring/references.py `Drawn`: scoring/pan.py's stated
    range, for videos whose world is not known); a ValueError below 2."""
    from scoring.references import REFERENCE_DRAWS, Drawn

    try:
        return Drawn(REFERENCE_DRAWS if draws is None else draws)
    except ValueError as e:
        raise ValueError(f"--reference-draws: {e}") from None


def _score_references(videos, kinds, out: Path, aggregate: dict, score, drawn) -> dict:
    """Build each video's degenerate references under OUT/references/ (pan's as `drawn` says), score them
    as the videos were, print the margins table and write references.json; the loop references' scores
    report ({} without them), its videos named as the videos they were built from."""
    import json

    from cli.common import text_table
    from reports.verdicts import read_verdicts, score_rows
    from scoring.references import LOOP, references_of_video

    by_kind, loops = {}, {}
    for kind in kinds:
        print(f"reference {kind}: building {len(videos)} video(s)", file=sys.stderr)
        made = [references_of_video(v, out / "references", [kind], drawn=drawn)[kind] for v in videos]
        scored = score(made)
        by_kind[kind] = scored["aggregate"]
        if kind == LOOP:
            loops = scored
    print(
        "\ndegenerate references (no model): margin = the videos' lead over the best of them; valid? = can the "
        "metric judge here; beats standing still? = asked on a valid metric, or one whose validity is unknown "
        "here (reports/verdicts.py)"
    )
    head, rows, unknown = score_rows(aggregate, by_kind, read_verdicts())
    print("\n".join(text_table(head, rows)))
    if unknown:
        print(
            "validity unknown here (no truth, no other true future); the toy world's verdicts, the prior evidence:"
        )
        print("\n".join(f"  {line}" for line in unknown))
    path = out / "references.json"
    path.write_text(json.dumps({"videos": aggregate, "references": by_kind}, indent=1, sort_keys=True))
    print(f"references: {path}")
    return loops


def _audio_files(videos: list[Path], folder: str | None) -> dict[str, Path]:
    """Each video's speech: <folder>/<video stem>.<wav|mp3|flac>, or the video file itself (its own
    soundtrack) without a folder. A missing file is a ValueError naming it."""
    from scoring.suites import AUDIO_SUFFIXES

    if folder is None:
        return {v.stem: v for v in videos}
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"no such audio folder: {root}")
    found, missing = {}, []
    for v in videos:
        match = next(
            (root / f"{v.stem}{s}" for s in AUDIO_SUFFIXES if (root / f"{v.stem}{s}").is_file()), None
        )
        if match is None:
            missing.append(v.stem)
        else:
            found[v.stem] = match
    if missing:
        raise ValueError(f"no audio in {root} for {', '.join(missing)} ({'/'.join(AUDIO_SUFFIXES)})")
    return found
