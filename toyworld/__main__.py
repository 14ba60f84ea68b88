"""Command line for the toy world: write a training set, a benchmark, or a preview video.

python -m toyworld train-set workspace/data/toy --clips 2000
python -m toyworld benchmark workspace/bench/toy --consistent 8 --creative 8
python -m toyworld preview /tmp/story.mp4 --seed 3 --story --frames 200
"""

from __future__ import annotations

import argparse
import sys

from toyworld import story, world, writers


def _size(text: str) -> tuple[int, int]:
    """'64' or '64x64' (HxW) -> (H, W)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} must look like 64 or 64x64 (HxW)") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"size {text!r} must look like 64 or 64x64 (HxW)")
    try:
        return world.check_size(tuple(parts))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m toyworld",
        description="Procedural, deterministic toy-world videos: training sets, benchmarks with true "
        "continuations, previews. Same arguments, same bytes; existing sets with the same "
        "parameters are kept.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    world_help = "toy world: 2, or 3 (a travelling camera over an endless landscape); default 2"

    t = sub.add_parser(
        "train-set",
        help="write an SVI training set (<root>/<category>/<category>.csv + mp4s)",
        description="Write an SVI training set: <ROOT>/<category>/<category>.csv (Filename, Video "
        "Description) with one mp4 per clip beside it, readable by svi.training.data.VideoClipDataset.",
    )
    t.add_argument("root", metavar="ROOT", help="dataset root folder")
    t.add_argument("--clips", type=int, required=True, help="number of clips (videos) to write")
    t.add_argument("--frames", type=int, default=17, help="frames per clip (default 17; Wan wants 4k+1)")
    t.add_argument("--world", type=int, default=2, choices=world.WORLDS, help=world_help)
    t.add_argument(
        "--size", type=_size, default=(64, 64), help="HxW in pixels, multiples of 16 (default 64x64)"
    )
    t.add_argument("--fps", type=int, default=8, help="frame rate stored in the mp4s (default 8)")
    t.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    t.add_argument("--category", default="toy", help="category folder and CSV name (default toy)")
    t.add_argument(
        "--story-fraction",
        type=float,
        default=0.3,
        help="fraction of clips that contain a storyline event (default 0.3)",
    )
    t.add_argument(
        "--event-index",
        type=int,
        default=None,
        help="frame of a story clip where the event shows (default: the middle, which stays inside "
        "any randomly cropped window longer than half the clip; 1 matches generation, where frame 0 is "
        "the condition frame)",
    )

    b = sub.add_parser(
        "benchmark",
        help="write a benchmark in the svi-benchmark layout, with true continuations",
        description="Write <ROOT>/consisent_video_gen/toy_NNN and <ROOT>/creative_video_gen/toy_NNN "
        "(image.png, prompt.txt, world.json), loadable by scoring.suites; world.json gives "
        "every sample's true continuation (toyworld.writers.true_video).",
    )
    b.add_argument("root", metavar="ROOT", help="benchmark root folder (pass it as --benchmark-root later)")
    b.add_argument("--consistent", type=int, default=4, help="consistent-track samples (default 4)")
    b.add_argument("--creative", type=int, default=4, help="creative-track samples (default 4)")
    b.add_argument("--world", type=int, default=2, choices=world.WORLDS, help=world_help)
    b.add_argument(
        "--size", type=_size, default=(64, 64), help="HxW in pixels, multiples of 16 (default 64x64)"
    )
    b.add_argument("--seed", type=int, default=1000, help="benchmark seed (default 1000)")
    b.add_argument(
        "--story-clips", type=int, default=128, help="clips (prompt lines) per storyline (default 128)"
    )
    b.add_argument("--clip-frames", type=int, default=17, help="frames per generated clip (default 17)")
    b.add_argument(
        "--overlap", type=int, default=1, help="condition frames carried between clips (default 1)"
    )

    v = sub.add_parser(
        "preview",
        help="write one scene (or storyline) as an mp4 to look at",
        description="Render one toy-world scene, or a storyline over it, to an mp4 and print its prompts.",
    )
    v.add_argument("out", metavar="OUT.mp4", help="output video path")
    v.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    v.add_argument("--frames", type=int, default=160, help="frames to render (default 160)")
    v.add_argument("--world", type=int, default=2, choices=world.WORLDS, help=world_help)
    v.add_argument("--size", type=_size, default=(64, 64), help="HxW, multiples of 16 (default 64x64)")
    v.add_argument("--fps", type=int, default=8, help="frame rate (default 8)")
    v.add_argument("--story", action="store_true", help="apply a storyline (events at clip boundaries)")
    v.add_argument("--clip-frames", type=int, default=17, help="frames per clip for --story (default 17)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "train-set":
            root = writers.write_training_set(
                args.root,
                args.clips,
                num_frames=args.frames,
                size=args.size,
                fps=args.fps,
                seed=args.seed,
                category=args.category,
                story_fraction=args.story_fraction,
                event_index=args.event_index,
                world=args.world,
            )
            csv = root / args.category / f"{args.category}.csv"
            print(f"training set: {csv} ({args.clips} clips); pass {root} as the data root")
        elif args.command == "benchmark":
            root = writers.write_benchmark(
                args.root,
                num_consistent=args.consistent,
                num_creative=args.creative,
                size=args.size,
                seed=args.seed,
                story_clips=args.story_clips,
                clip_frames=args.clip_frames,
                overlap=args.overlap,
                world=args.world,
            )
            for track, n in (("consistent", args.consistent), ("creative", args.creative)):
                if n:
                    print(f"{track}: {n} samples in {root / writers.TRACK_FOLDERS[track]}")
            print(f"benchmark root: {root} (use it as --benchmark-root or SVI_BENCHMARK)")
        else:
            _preview(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _preview(args: argparse.Namespace) -> None:
    from toyworld.synthetic import write_video

    scene = world.sample_scene(args.seed, args.size, args.world)
    if args.story:
        num_clips = max(1, -(-(args.frames - 1) // (args.clip_frames - 1)))
        line = story.sample_storyline(scene, args.seed, num_clips, args.clip_frames)
        frames, texts = story.render_story(line, 0, args.frames), story.prompts(line)
    else:
        frames, texts = world.render(scene, 0, args.frames), [world.describe(scene)]
    write_video(args.out, frames, fps=args.fps)
    print("\n".join(f"clip {k}: {t}" for k, t in enumerate(texts)) if args.story else texts[0])
    print(f"wrote {args.out} ({args.frames} frames, {args.size[0]}x{args.size[1]})")


if __name__ == "__main__":
    sys.exit(main())
