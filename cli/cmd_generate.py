"""`harness generate`: long videos on a benchmark suite or from one image."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from cli.common import fail

NAME = "generate"
HELP = "long videos on a benchmark suite or from one image"
DESCRIPTION = (
    "Generate long videos clip by clip (SVI chaining). A killed run resumes from the last "
    "finished clip; under torchrun each rank generates its share of the suite's samples."
)


def configure(p: argparse.ArgumentParser) -> None:
    from scoring import suites  # torch-free: the track names for --suite

    p.add_argument(
        "--suite",
        choices=list(suites.SUITES),
        metavar="SUITE",
        help=f"benchmark track to generate: {', '.join(suites.SUITES)} (conditional_talk / "
        "conditional_dance: the conditional tracks)",
    )
    p.add_argument(
        "--length", help="video length such as 50s or 250s (suites: default the track's, 50s; talk 300s)"
    )
    p.add_argument("--benchmark-root", help="svi-benchmark folder (default: $SVI_BENCHMARK)")
    p.add_argument("--limit", type=int, help="only the first N samples")
    p.add_argument("--samples", help="only these samples, comma-separated folder names")
    p.add_argument("--skip-bad", action="store_true", help="skip and count bad samples instead of failing")
    p.add_argument("--image", help="reference image of a single custom video")
    p.add_argument("--prompts", help="prompt stream file for --image: one prompt per line (one per clip)")
    p.add_argument("--interactive", action="store_true", help="read each clip's prompt from standard input")
    p.add_argument(
        "--audio",
        help="speech (wav, mp3, flac) driving a talking head from --image (variant talk; the video lasts "
        "as long as the audio unless --length is shorter)",
    )
    p.add_argument(
        "--pose",
        help="pose video (rendered DWPose maps, e.p. pose.mp4) driving a dance from --image (variant dance; "
        "as long as the pose video unless --length says otherwise, looping it)",
    )
    p.add_argument("--out", required=True, help="output folder (or .mp4 path for --image)")
    p.add_argument(
        "--preset",
        help="model preset: tiny, wan2.1-i2v-14b, wan2.2-i2v-a14b (two experts) or wan2.2-ti2v-5b "
        "(first-latent image condition); default from the config: tiny",
    )
    p.add_argument("--weights", help="local Wan weights folder for real presets (or SVI_WEIGHTS)")
    p.add_argument(
        "--lora",
        help="LoRA file: ours, diffusers or an official SVI checkpoint (a two-expert model: the high-noise expert's)",
    )
    p.add_argument("--lora-2", help="a two-expert model's low-noise expert's LoRA file (generate.lora_2)")
    p.add_argument("--no-lora", action="store_true", help="the base model (Wan 2.1 baseline): load no LoRA")
    p.add_argument("--config", help="YAML config; its generate section is used")
    p.add_argument("overrides", nargs="*", help="dotted overrides such as generate.steps=20 generate.seed=3")


def cmd_generate(args: argparse.Namespace) -> int:
    from harness.declare.experiment import track_seconds
    from harness.run.suite_generation import (
        device_for_rank,
        generate_one,
        generate_suite,
        sha256_file,
        suite_samples,
    )
    from scoring import suites
    from svi.config import ConfigError, load_config
    from svi.generation.generator import LongVideoGenerator
    from svi.model.presets import WeightsNotFoundError, check_weights_folder, preset_weights

    overrides = list(args.overrides)
    if args.preset:
        overrides.insert(0, f"model.preset={args.preset}")
    if args.weights:
        overrides.append(f"model.weights={args.weights}")
    if args.lora:
        overrides.append(f"generate.lora={args.lora}")
    if args.lora_2:
        overrides.append(f"generate.lora_2={args.lora_2}")
    if args.suite and not args.length:
        args.length = suites.SUITES[args.suite].length  # the paper's length of the track
    if args.suite and not any(o.startswith("variant=") for o in overrides):
        overrides.insert(0, f"variant={suites.SUITES[args.suite].variant}")  # the track's settings
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    out = Path(args.out)
    try:
        seconds = track_seconds(args.length) if args.length else None
        drive = args.audio or args.pose
        if args.suite and (args.image or args.prompts or args.interactive or drive):
            raise ConfigError(
                "use either --suite or --image/--prompts/--interactive/--audio/--pose, not both"
            )
        if not args.suite and not args.image:
            raise ConfigError(
                "say what to generate: --suite NAME, or --image IMG with --prompts FILE, --interactive, "
                "--audio FILE (talk) or --pose VIDEO (dance)"
            )
        if args.image and not (args.prompts or args.interactive or drive):
            raise ConfigError("--image needs --prompts FILE (one prompt per line) or --interactive")
        if args.audio and args.pose:
            raise ConfigError("give --audio (a talking head) or --pose (a dance), not both")
        if drive and not any(o.startswith("variant=") for o in overrides):
            overrides.insert(0, f"variant={'talk' if args.audio else 'dance'}")
        for path in (args.audio, args.pose):
            if path and not Path(path).is_file():
                raise ConfigError(f"no such file: {path}")
        cfg = load_config(args.config, overrides)
        if drive and cfg.condition.kind != ("audio" if args.audio else "pose"):
            raise ConfigError(
                f"--{'audio' if args.audio else 'pose'} needs a model with that conditioning "
                f"(variant={'talk' if args.audio else 'dance'}); this config has condition.kind={cfg.condition.kind}"
            )
        from svi.generation.strategies.plans_ahead import PLANS_AHEAD

        if args.interactive and not args.length and cfg.generate.strategy in PLANS_AHEAD:
            raise ConfigError(
                f"generate.strategy={cfg.generate.strategy} {PLANS_AHEAD[cfg.generate.strategy]}, so it needs "
                "the video's length before the first clip: give --length (prompts may still come interactively)"
            )
        lora = None if args.no_lora else cfg.generate.lora
        lora_2 = None if args.no_lora else cfg.generate.lora_2  # a two-expert model's low-noise expert
        folder = preset_weights(cfg.model.preset, cfg.model.weights)
        if folder is not None:
            check_weights_folder(folder, cfg.model.preset)
        if args.suite:
            bench = suites.benchmark_root(args.benchmark_root)
            names = [n for n in (args.samples or "").split(",") if n] or None
            samples, manifest = suite_samples(
                bench, args.suite, args.length, limit=args.limit, names=names, skip_bad=args.skip_bad
            )
        elif args.prompts:
            suites.read_prompt_file(Path(args.prompts))  # a bad prompt file fails before any loading
        generator = LongVideoGenerator.from_config(cfg, lora, device_for_rank(), lora_2)
    except (ConfigError, FileNotFoundError, WeightsNotFoundError, suites.BadSampleError, ValueError) as e:
        return fail(str(e))

    model_id = {
        "preset": cfg.model.preset,
        "weights": cfg.model.weights,
        "lora_sha256": sha256_file(lora) if lora else None,
    }
    if lora_2:  # a two-expert model's low-noise LoRA (absent otherwise, so earlier records stay as they were)
        model_id["lora_2_sha256"] = sha256_file(lora_2)
    if args.suite:
        results = generate_suite(
            generator, samples, manifest, out, seconds=seconds, model=model_id, rank=rank, world=world
        )
    else:
        results = [
            generate_one(
                generator, args.image, args.prompts, out, seconds=seconds, interactive=args.interactive,
                model=model_id, audio=args.audio, pose=args.pose,
            )
        ]  # fmt: skip
    for r in results:
        state = (
            "existed"
            if r.skipped
            else (f"resumed at clip {r.resumed_from}" if r.resumed_from else "generated")
        )
        print(f"{r.path}: {r.num_clips} clips, {r.num_frames} frames ({state})")
    return 0
