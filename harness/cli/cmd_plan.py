"""`harness plan EXPERIMENT`: the dry run (harness/dry_run.py)."""

from __future__ import annotations

import argparse

from harness.cli.common import add_detect, add_experiment, fail, parse_detect

NAME = "plan"
HELP = "the dry run: units, checks, the model on the meta device, GPU-hours, memory, power"
DESCRIPTION = (
    "What `harness run EXPERIMENT` would do and cost, with nothing trained, generated or logged: "
    "every (arm, seed) unit and its folder, every input check, each model built on the meta device (the "
    "preset's transformer, LoRA targets, adapters; an official LoRA file's keys checked), training and "
    "generation FLOPs with GPU-hours at a model FLOPs utilisation and memory per GPU (ZeRO-2). With "
    "--detect METRIC=VALUE: from the latest earlier run of the experiment, the samples x seeds that would "
    "detect that difference at 80% power, with unit-hours."
)


def configure(p: argparse.ArgumentParser) -> None:
    add_experiment(p)
    add_detect(p)
    p.add_argument("--gpu", default="H100", help="GPU whose dense bf16 peak the GPU-hours use (default H100)")
    p.add_argument(
        "--gpus", dest="world", type=int, default=8, help="GPUs per training (ZeRO-2 world; default 8)"
    )
    p.add_argument("--mfu", type=float, help="measured model FLOPs utilisation (default: an assumed 0.35)")
    p.add_argument(
        "--samples", type=int, help="samples per track (default: the limit or the benchmark's count)"
    )


def cmd_plan(args: argparse.Namespace) -> int:
    """The dry run: units, input checks, the model on the meta device, cost, and (--detect) power."""
    from harness import dry_run, workspace
    from harness.experiment import load_experiment
    from harness.plan import check_plan, make_plan
    from svi.config import ConfigError

    try:
        detect = parse_detect(args.detect or [])
        exp, source = load_experiment(args.experiment, args.overrides)
        plan = make_plan(exp, source)
        if args.world < 1 or (args.mfu is not None and not 0 < args.mfu <= 1):
            raise ConfigError("--gpus must be at least 1 and --mfu in (0, 1]")
        from svi.model.cost import peak_of

        peak_of(args.gpu)
    except (ConfigError, ValueError) as e:
        return fail(str(e))
    print("\n".join(dry_run.unit_lines(plan)))
    try:
        check_plan(plan)
        print("checks: every input `harness run` checks first is in place")
    except ConfigError as e:
        print(f"checks: would stop before any work:\n{e}")
    print(
        "\n".join(
            dry_run.cost_lines(plan, world=args.world, gpu=args.gpu, mfu=args.mfu, samples=args.samples)
        )
    )
    if detect:
        from harness import tracking

        try:
            tracking.check_reachable()
        except ConfigError as e:
            return fail(str(e))
        print("\n".join(dry_run.power_lines(plan, detect, workspace.tracking_uri())))
    return 0
