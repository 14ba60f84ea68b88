"""`harness report EXPERIMENT | --sweep SWEEP`: tables, power and plots rebuilt from MLflow."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.common import add_detect, fail, parse_detect

NAME = "report"
HELP = "comparison tables and drift plots from MLflow runs"
DESCRIPTION = (
    "Markdown, LaTeX, HTML and CSV tables in the paper's layout and stability plots, from the "
    "latest run of an experiment (or --parent RUN_ID), or a sweep's trial table and objective plots. Every "
    "arm's cell is its mean with a 95% interval for the harness's crossed design (samples and seeds crossed: "
    "one trained model per seed; variance components, Satterthwaite df; n = samples x seeds); every other "
    "arm is compared with the reference arm the same way (paired by seed), and so is each pair the experiment "
    "declares under `comparisons` (e.g. full - plain), marked * when significant after "
    "Holm over every tested difference of the report (the experiment's primary metric, if declared, is a "
    "family of its own); a fine-tuned arm with one seed is never marked. A power section gives the variance "
    "components and the minimum detectable difference of each comparison; drift plots show each arm's mean "
    "with its 95% band. Published numbers are separate rows."
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", nargs="?", help="experiment name")
    p.add_argument("--sweep", help="report a sweep instead")
    p.add_argument("--parent", help="a specific parent run id (default: the latest)")
    p.add_argument(
        "--out",
        help="output folder (default: <workspace>/reports/<name>, with --from too: reading a bundle never "
        "writes into it)",
    )
    p.add_argument("--reference", help="the arm every other arm is compared with (default: the baseline arm)")
    p.add_argument(
        "--from",
        dest="bundle",
        metavar="DIR",
        help="build from a results bundle (harness export) alone: no tracking store, no workspace, no torch",
    )
    add_detect(p)


def cmd_report(args: argparse.Namespace) -> int:
    from harness.base import workspace
    from harness.declare.experiment import load_experiment
    from harness.tracking.store_reader import build_report, build_sweep_report
    from reports.frames import ReportError
    from svi.config import ConfigError

    name = args.sweep or args.experiment
    if not name:
        return fail("name an experiment (harness report EXPERIMENT) or a sweep (--sweep NAME)")
    if args.bundle:
        return _report_from_bundle(args)
    try:
        detect = parse_detect(args.detect or [])
        out = Path(args.out) if args.out else workspace.report_dir(name)
        from harness import tracking

        tracking.check_reachable()  # seconds, not MLflow's minutes of retries against a dead store
    except ConfigError as e:
        return fail(str(e))
    _settle_runs(name)
    try:
        if args.sweep:
            files = build_sweep_report(name, out, workspace.tracking_uri(), args.parent)
        else:
            try:  # a declared experiment: its arms in their declared order, its primary metric
                exp, _ = load_experiment(name)
                name, order, primary, pairs = exp.name, list(exp.arms), exp.primary, exp.comparison_pairs
                guards = exp.guards
            except ConfigError:  # not declared here: whatever MLflow holds under that name
                order, primary, pairs, guards = None, None, None, None
            files = build_report(
                name, out, workspace.tracking_uri(), args.parent, arm_order=order, reference=args.reference,
                primary=primary, comparisons=pairs, detect=detect, guards=guards,
            )  # fmt: skip
    except ReportError as e:
        return fail(str(e))
    for f in files.values():
        print(f)
    return 0


def _settle_runs(experiment: str) -> None:
    """Before a report: runs whose process vanished are marked FAILED, and the parents of submitted
    jobs that have all ended are finished (harness/tracking.py)."""
    from harness import tracking

    try:
        c = tracking.client()
        found = c.get_experiment_by_name(experiment)
        if found is None:
            return
        for run_id in tracking.reap_stale(c, found.experiment_id):
            print(f"run {run_id} was left RUNNING by a process that is gone: marked FAILED", file=sys.stderr)
        for run_id in tracking.settle_submitted(c, found.experiment_id):
            print(f"parent run {run_id}: all its jobs have ended: marked FINISHED", file=sys.stderr)
    except Exception as e:  # reporting must work from a read-only view of the store too
        from harness.base.redact import scrub

        print(f"could not check for stale runs: {type(e).__name__}: {scrub(str(e))}", file=sys.stderr)


def _report_from_bundle(args: argparse.Namespace) -> int:
    """The report of a results bundle, from its files alone (reports/bundle.py)."""
    from reports.bundle import BundleError, build_report_from, read_manifest
    from reports.frames import ReportError

    try:
        detect = parse_detect(args.detect or [])
        manifest = read_manifest(args.bundle)
        if args.experiment and args.experiment != manifest["experiment"]:
            raise BundleError(
                f"{args.bundle} holds experiment {manifest['experiment']!r}, not {args.experiment!r}"
            )
        # Reading a bundle never writes into it: a report asked of a bundle goes to the workspace (or
        # --out); only the commands that make a bundle (run --from, export, pages) write into results/.
        from harness.base import workspace

        out = Path(args.out) if args.out else workspace.report_dir(manifest["experiment"])
        from harness.declare.preregistration import git_check

        files = build_report_from(
            args.bundle, out, reference=args.reference, detect=detect, registration_check=git_check
        )
    except (BundleError, ReportError, ValueError) as e:
        return fail(str(e))
    for f in files.values():
        print(f)
    return 0
