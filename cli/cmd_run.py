"""`harness run EXPERIMENT`: check, plan and run every (arm, seed) unit, inline or as jobs."""

from __future__ import annotations

import argparse
import json
import sys

from cli.common import (
    add_allow_large,
    add_experiment,
    disk_full_exit,
    fail,
    prepare_tracking,
    review_links,
    store_line,
)

NAME = "run"
HELP = "train, generate, score and log an experiment"
DESCRIPTION = (
    "Run a declared experiment (harness list): for each arm and seed, train (DeepSpeed or "
    "torchrun child processes), generate on the suites, score, and log to MLflow. Finished stages are "
    "skipped on a re-run; a killed run resumes. Overrides: experiment fields (seeds=[0,1]) or the base "
    "configuration (train.steps=50 erft.p_img=0). With --from DIR, a results bundle (harness export) "
    "holds the units already done: the units it holds finished under the same plan are taken as done, the "
    "rest run here and each is exported into the bundle as it finishes, so a long experiment advances "
    "over several sittings or machines with the bundle committed between them."
)


def configure(p: argparse.ArgumentParser) -> None:
    add_experiment(p)
    add_allow_large(p)
    p.add_argument(
        "--force",
        action="append",
        nargs="?",
        const="bundle",
        choices=["train", "generate", "score", "pretrain", "bundle"],
        help="redo a stage (pretrain: for kind: pretrain experiments such as pretrain_toy); with --from, "
        "--force alone (or --force bundle) runs again the bundle's units made under another plan and "
        "replaces them",
    )
    p.add_argument(
        "--from",
        dest="bundle",
        metavar="DIR",
        help="continue from a results bundle (e.g. results/EXPERIMENT; a missing or empty folder, or one "
        "with only its notes.md, starts one): its finished units of the same plan are done, the rest run and are exported into it",
    )
    p.add_argument("--arm", help="run only this arm (all its seeds unless --seed)")
    p.add_argument("--seed", type=int, help="run only this seed")
    jobs = p.add_argument_group(
        "jobs",
        "Run every (arm, seed) as its own job through submitit, under one parent run; defaults come from "
        "the experiment's executor: section. A re-submitted job resumes its stages.",
    )
    jobs.add_argument(
        "--executor",
        choices=["inline", "local", "slurm"],
        help="inline: one after another here (default); local: parallel local jobs; slurm: one SLURM job each",
    )
    jobs.add_argument("--nodes", type=int, help="nodes per job (slurm; torchrun across them)")
    jobs.add_argument("--gpus-per-node", type=int, help="GPUs per node, one training process each")
    jobs.add_argument("--partition", help="SLURM partition")
    jobs.add_argument(
        "--time-limit", type=int, metavar="MIN", help="job time limit in minutes (re-queued at it)"
    )
    jobs.add_argument("--parallel", type=int, help="local: units at once (default 2; threads shared out)")
    jobs.add_argument(
        "--no-wait",
        action="store_true",
        help="submit and return; `harness report` aggregates when they are done",
    )


def cmd_run(args: argparse.Namespace) -> int:
    from harness.declare.experiment import experiment_from, find_experiment, is_pretrain, read_experiment_file
    from svi.config import ConfigError

    try:
        path = find_experiment(args.experiment)
        raw = read_experiment_file(path)
        if is_pretrain(raw):
            from harness.declare import pretrain_experiment

            exp = pretrain_experiment.load(path, raw, args.overrides)
            prepare_tracking()
            return run_pretrain_experiment(exp, args)
        exp, source = experiment_from(path, raw, args.overrides), path  # names, numbers, metrics
        from harness.declare.bounds import check_scale, check_sizes
        from harness.declare.plan import check_plan, make_plan
        from harness.declare.primary import check_primary

        plan = make_plan(exp, source)
        check_sizes(plan.units)  # what the sizes make fits the machine: refused before the store is made
        check_scale(plan, getattr(args, "allow_large", False))  # what the plan asks in all, unless meant
        for note in check_primary(exp, [u.cfg for u in plan.units]):  # as `harness plan` checks it
            print(f"note: {note}")
        prepare_tracking()
        units = select_units(plan, args.arm, args.seed)
        spec = executor_spec(exp.executor, args)
        check_plan(plan)  # weights, benchmark samples, training clips
        if spec.kind != "inline":
            from harness.run.jobs import check_executor

            check_executor(spec)
        bundle = None
        if args.bundle:
            units, bundle, references_only = continue_from(plan, units, args)
            if not units and not references_only:
                return 0
    except ConfigError as e:
        return fail(str(e))
    from harness.base.clock import StageClock
    from harness.run.pipeline import run_experiment

    force = tuple(f for f in args.force or () if f != "bundle")
    clock = StageClock()  # the report's seconds; each unit's are in its result
    try:
        if spec.kind == "inline" or not units:  # (no unit: only the references, made here)
            results = run_experiment(plan, force=force, units=units, bundle=bundle, clock=clock)
        else:
            from harness.run.jobs import run_jobs

            results = run_jobs(
                plan, spec, experiment_arg=args.experiment, overrides=args.overrides, units=units,
                force=force, wait=not args.no_wait, bundle=bundle, clock=clock,
            )  # fmt: skip
            if args.no_wait:
                return 0
    except KeyboardInterrupt:
        print("interrupted: finished stages are kept; run the same command to resume", file=sys.stderr)
        return 130
    except OSError as e:
        code = disk_full_exit(e)
        if code is None:
            raise
        return code
    from harness.base import workspace
    from harness.base.clock import stage_table
    from reports.frames import STAGES

    print(f"\n{exp.name}: {len(results)} run(s)")
    for r in results:
        line = f"  {r.arm:12s} seed {r.seed}  {r.status}"
        if r.error:
            line += f"  {r.error.splitlines()[0][:200]}"
        print(line)
        for k, v in r.scores.items():
            print(f"      {k:40s} {'n/a' if v is None else f'{v:.4f}'}")
    rows = [(f"{r.arm} seed {r.seed}", r.seconds) for r in results]
    if "references" in clock.seconds:  # the degenerate references: built and scored once per suite
        rows.append(("references", {"references": clock.seconds.pop("references")}))
    rows.append(("report", clock.seconds))
    lines = stage_table(rows, STAGES)
    if lines:
        print("\nwhere the time went (wall minutes per stage; logged as time/<stage>):")
        print("\n".join(lines))
    report = workspace.report_dir(exp.name) / "report.md"
    if report.is_file():
        print(f"report: {report}  (also .html, .tex, .csv and drift plots beside it)")
    uri = workspace.tracking_uri()
    print(store_line(uri))
    from harness.tracking import review

    server = uri.split(":", 1)[0].lower() in ("http", "https")  # a team server serves the UI itself
    try:
        links = review_links(uri if server else review.DEFAULT_UI_URL, exp.name) or []
    except LookupError:  # nothing was logged (every unit skipped before its run existed)
        links = []
    after = "" if server else "  (after: harness ui)"
    for _, found in links:
        print(f"review in the MLflow UI: {found.review}{after}")
        if found.charts:
            print(f"charts (per clip and final scores, by arm and reference): {found.charts}{after}")
        if found.keyframes:
            print(f"keyframes (samples x arms, a clip slider): {found.keyframes}{after}")
    return 0 if all(r.status == "FINISHED" for r in results) else 1


def continue_from(plan, units: list, args: argparse.Namespace):
    """-> (units still to run, the bundle folder, whether only the degenerate references are to be
    made): `--from`'s reading of the bundle, said on the console. With nothing left to run, the
    bundle's report is rebuilt and printed."""
    from pathlib import Path

    from harness.run.bundle_export import from_bundle
    from svi.config import ConfigError

    if args.no_wait:
        raise ConfigError("--from exports each unit into the bundle as it finishes: leave out --no-wait")
    from harness.declare.preregistration import check_plan, verified
    from reports.bundle import BundleError

    try:  # a registered experiment runs only as registered, forced or not
        check_plan(plan, Path(args.bundle))
        found = from_bundle(plan, units, Path(args.bundle), force="bundle" in (args.force or ()))
        registration = verified(Path(args.bundle))
    except BundleError as e:  # a registration that is not one: said before any work
        raise ConfigError(str(e)) from None
    if registration.registration is not None and not registration.registered:
        print(f"{plan.exp.name}: {registration.why} (the report will say so)")
    for u in found.done:
        print(f"  {u.arm:12s} seed {u.seed}  in the bundle (same plan): done")
    for u in found.replaced:
        print(f"  {u.arm:12s} seed {u.seed}  in the bundle under another plan: running again (--force)")
    print(f"{plan.exp.name}: {len(found.done)} unit(s) from {found.folder}, {len(found.todo)} to run")
    if not found.todo and len(found.done) == len(plan.units) and (found.folder / "manifest.json").is_file():
        from harness.run.reference_units import missing_from
        from reports.bundle import read_manifest

        lacking = missing_from(plan, read_manifest(found.folder))
        if lacking:  # run with no unit: the references are made and merged into the bundle
            print(f"the bundle lacks the degenerate references {', '.join(lacking)}: scoring them")
            return [], found.folder, True
    if not found.todo:
        from harness.run.bundle_export import refresh_declaration
        from reports.bundle import build_report_from

        if len(found.done) == len(plan.units) and refresh_declaration(plan.exp, found.folder):
            print(
                f"every declared unit is in the bundle: its declaration updated from {plan.exp.name}'s file"
            )
        from harness.declare.preregistration import git_check

        files = build_report_from(found.folder, registration_check=git_check)
        print(f"nothing to run; report rebuilt from the bundle: {files['report.md']}")
    return list(found.todo), found.folder, False


def select_units(plan, arm: str | None, seed: int | None) -> list:
    """The plan's units narrowed by `--arm` / `--seed` (a ConfigError naming the choices if none is left)."""
    from svi.config import ConfigError

    if arm is not None and arm not in plan.exp.arms:
        raise ConfigError(f"{plan.exp.name} has no arm {arm!r}; its arms: {', '.join(plan.exp.arms)}")
    if seed is not None and seed not in plan.exp.seeds:
        seeds = ", ".join(map(str, plan.exp.seeds))
        raise ConfigError(f"{plan.exp.name} has no seed {seed}; its seeds: {seeds} (or override seeds=[...])")
    return [u for u in plan.units if (arm is None or u.arm == arm) and (seed is None or u.seed == seed)]


def executor_spec(spec, args: argparse.Namespace):
    """The experiment's `executor:` section with the command line's options on top."""
    given = {
        "kind": args.executor,
        "nodes": args.nodes,
        "gpus_per_node": args.gpus_per_node,
        "partition": args.partition,
        "time_limit_min": args.time_limit,
        "parallel": args.parallel,
    }
    from pydantic import ValidationError

    from svi.config import ConfigError, format_validation_error

    try:
        return type(spec).model_validate(
            {**spec.model_dump(), **{k: v for k, v in given.items() if v is not None}}
        )
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, "the command line's job options")) from None


def run_pretrain_experiment(exp, args: argparse.Namespace) -> int:
    from harness.base import workspace
    from harness.run import pretraining

    try:
        model = pretraining.run_pretrain(exp, force=tuple(args.force or ()))
    except KeyboardInterrupt:
        print("interrupted: finished stages are kept; run the same command to resume", file=sys.stderr)
        return 130
    except Exception as e:  # the MLflow run is marked FAILED with the error already
        from harness.base.redact import scrub

        code = disk_full_exit(e)
        if code is None:
            print(f"{exp.name}: FAILED: {scrub(str(e))}", file=sys.stderr)
        return code or 1
    result = json.loads((model.parent / "eval" / "eval.json").read_text())["mean"]
    print(f"\n{exp.name}: toy base model in {model}")
    for k, v in result.items():
        print(f"      eval/{k:28s} {v:.4f}")
    print(f"use it with model.weights={model} (or copy it over svi/weights/toy to make it the default)")
    print(store_line(workspace.tracking_uri()))
    return 0
