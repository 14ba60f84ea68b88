"""`harness plan EXPERIMENT`: the dry run (harness/declare/preview.py)."""

from __future__ import annotations

import argparse

from cli.common import add_allow_large, add_detect, add_experiment, fail, parse_detect

NAME = "plan"
HELP = "the dry run: units, checks, the model on the meta device, GPU-hours, memory, power"
DESCRIPTION = (
    "What `harness run EXPERIMENT` would do and cost, with nothing trained, generated or logged: "
    "every (arm, seed) unit and its folder, every input check, each model built on the meta device (the "
    "preset's transformer, LoRA targets, adapters; an official LoRA file's keys checked), training and "
    "generation FLOPs with GPU-hours at a model FLOPs utilisation and memory per GPU (ZeRO-2). With "
    "--detect METRIC=VALUE: from the latest earlier run of the experiment, the samples x seeds that would "
    "detect that difference at 80% power, with unit-hours. With --preregister: write the experiment's "
    "pre-registration (results/EXPERIMENT/preregistration.yaml: its hypotheses, design, power from "
    "--power-from DIR for the smallest effects given with --detect, analysis and plan hashes) before any "
    "unit exists; commit it, then `harness run EXPERIMENT --from results/EXPERIMENT` runs only the "
    "registered plan (a change is a new registration: --supersede --reason TEXT). --check-registration: whether "
    "the registration is one: committed before the first unit, every version git holds of it a recorded "
    "registration, the kept ones and the manifest's copy matching by digest (exit 1 if not). "
    "A primary the toy world's committed verdicts (results/toy_verdicts.csv) call invalid on a track of the "
    "experiment, or one-sided without declared guards, is refused (a registered experiment keeps its own)."
)


def configure(p: argparse.ArgumentParser) -> None:
    add_experiment(p)
    add_allow_large(p)
    add_detect(p)
    p.add_argument("--gpu", default="H100", help="GPU whose dense bf16 peak the GPU-hours use (default H100)")
    p.add_argument(
        "--gpus", dest="world", type=int, default=8, help="GPUs per training (ZeRO-2 world; default 8)"
    )
    p.add_argument("--mfu", type=float, help="measured model FLOPs utilisation (default: an assumed 0.35)")
    p.add_argument(
        "--samples", type=int, help="samples per track (default: the limit or the benchmark's count)"
    )
    p.add_argument("--preregister", action="store_true", help="write the pre-registration (see above)")
    p.add_argument(
        "--power-from",
        metavar="DIR",
        help="--preregister: the results bundle whose variance components size it",
    )
    p.add_argument(
        "--supersede", action="store_true",
        help="--preregister: record a new, numbered registration that keeps the old one (needs --reason)",
    )  # fmt: skip
    p.add_argument("--reason", help="--supersede: why the registration changes (the report and page show it)")
    p.add_argument(
        "--to",
        metavar="DIR",
        help="--preregister / --check-registration: the bundle folder (default results/EXP)",
    )
    p.add_argument(
        "--check-registration", action="store_true",
        help="say whether the registration holds (committed before the first unit, never rewritten; exit 1 if not)",
    )  # fmt: skip


def cmd_plan(args: argparse.Namespace) -> int:
    """The dry run: units, input checks, the model on the meta device, cost, and (--detect) power."""
    from harness.base import workspace
    from harness.declare import preview
    from harness.declare.experiment import experiment_from, find_experiment, is_pretrain, read_experiment_file
    from harness.declare.plan import check_plan, make_plan
    from harness.declare.primary import check_primary
    from svi.config import ConfigError

    try:
        detect = parse_detect(args.detect or [])
        source = find_experiment(args.experiment)
        raw = read_experiment_file(source)
        if is_pretrain(raw):
            raise ConfigError(
                f"{source} is a pretraining (kind: pretrain), which has no arms to plan: run it with "
                f"`harness run {args.experiment}` (its stages are skipped once done)"
            )
        exp = experiment_from(source, raw, args.overrides)
        plan = make_plan(exp, source)
        if args.world < 1 or (args.mfu is not None and not 0 < args.mfu <= 1):
            raise ConfigError("--gpus must be at least 1 and --mfu in (0, 1]")
        from svi.model.cost import peak_of

        peak_of(args.gpu)
        from harness.declare.bounds import check_scale, check_sizes

        check_sizes(plan.units)  # sizes that cannot fit are refused, naming the bound, not costed
        check_scale(plan, getattr(args, "allow_large", False))  # what the plan asks in all, unless meant
        # the primary against the toy world's verdicts; a check of git's order asks nothing of it
        notes = [] if args.check_registration else check_primary(exp, [u.cfg for u in plan.units])
    except (ConfigError, ValueError) as e:
        return fail(str(e))
    for note in notes:
        print(f"note: {note}")
    if args.preregister or args.check_registration:
        return _registration(args, plan, detect)
    print("\n".join(preview.unit_lines(plan)))
    try:
        check_plan(plan)
        print("checks: every input `harness run` checks first is in place")
    except ConfigError as e:
        print(f"checks: would stop before any work:\n{e}")
    print(
        "\n".join(
            preview.cost_lines(plan, world=args.world, gpu=args.gpu, mfu=args.mfu, samples=args.samples)
        )
    )
    if detect:
        from harness import tracking

        try:
            tracking.check_reachable()
        except ConfigError as e:
            return fail(str(e))
        print("\n".join(preview.power_lines(plan, detect, workspace.tracking_uri())))
    return 0


def _of_this_experiment(folder, name: str) -> None:
    """A ConfigError where `folder` (--to) holds another experiment's registration or bundle: a check of
    one experiment against another's registration proves nothing of it."""
    from harness.declare import preregistration as R
    from reports.bundle import read_manifest
    from svi.config import ConfigError

    registration = R.read_registration(folder) or {}
    manifest = read_manifest(folder) if (folder / "manifest.json").is_file() else {}
    for what, other in (
        ("registration", registration.get("experiment")),
        ("bundle", manifest.get("experiment")),
    ):
        if other is not None and other != name:
            raise ConfigError(
                f"{folder} holds experiment {other}'s {what}, not {name}'s: name {name}'s own folder with --to "
                f"(results/{name}), or plan {other}"
            )


def _registration(args: argparse.Namespace, plan, detect: dict[str, float]) -> int:
    """--preregister (write it) or --check-registration (git's order), for results/EXP or --to."""
    from pathlib import Path

    from harness.declare import preregistration as R
    from reports.bundle import BundleError
    from svi.config import ConfigError

    folder = Path(args.to) if args.to else Path.cwd() / "results" / plan.exp.name
    try:
        _of_this_experiment(folder, plan.exp.name)
    except (ConfigError, BundleError) as e:
        return fail(str(e))
    if args.check_registration:
        try:
            found = R.verified(folder)
        except (ConfigError, BundleError) as e:
            return fail(str(e))
        if found.registration is None and not found.why:
            print(f"{plan.exp.name}: {folder / R.REGISTRATION_FILE} does not exist: not pre-registered")
            return 1
        print(f"{plan.exp.name}: {found.why}")
        return 0 if found.registered else 1
    try:
        if not plan.exp.hypotheses:
            raise ConfigError(
                f"{plan.exp.name} declares no hypotheses: add `hypotheses:` (comparison, metric, direction, one "
                "primary) to its file before registering it"
            )
        if detect and not args.power_from:
            raise ConfigError(
                "--detect with --preregister needs --power-from DIR: the bundle whose components size it"
            )
        power = R.power_block(plan, Path(args.power_from), detect) if args.power_from else []
        path = R.register(plan, folder, power=power, supersede=args.supersede, reason=args.reason)
    except (ConfigError, BundleError) as e:
        return fail(str(e))
    print(f"{plan.exp.name}: registration written to {path}")
    for block in power:
        print(
            f"  {block['hypothesis']}: declared {block['declared_design']} has MDD {block['declared_mdd']:.4g} "
            f"and power {block['declared_power']:.0%} for {block['smallest_effect']:g}; 80% power: "
            f"{', '.join(block['designs_at_80']) or 'not within 2000 samples x 8 seeds'}"
        )
    print(f"commit it before the first unit: git add {path} && git commit -m 'Pre-register {plan.exp.name}'")
    return 0
