"""`harness export EXPERIMENT`: the experiment's results into a committed results bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.common import add_experiment, fail

NAME = "export"
HELP = "an experiment's results from MLflow into a results bundle (results/EXPERIMENT/)"
DESCRIPTION = (
    "Write the latest run of an experiment (or --parent RUN_ID) from the tracking store into a results "
    "bundle: manifest.json (every unit's run record, resolved configuration and stage records), scores.csv "
    "(every per-video and per-window score), curves.csv (thinned training curves) and report/ (built "
    "from the bundle alone). Deterministic: the same results give the same bytes. `harness report "
    "EXPERIMENT --from DIR` rebuilds the report from it with no store. Each unit keeps the plan hash its "
    "run was tagged with when it ran; runs imported from a bundle are exported with that bundle's own "
    "records. --to must be missing, empty, or that experiment's bundle: no other folder is overwritten."
)


def configure(p: argparse.ArgumentParser) -> None:
    add_experiment(p, overrides=False)
    p.add_argument("--to", help="bundle folder (default: results/EXPERIMENT under the current directory)")
    p.add_argument("--parent", help="a specific parent run id (default: the latest)")


def cmd_export(args: argparse.Namespace) -> int:
    from harness import tracking
    from harness.declare.experiment import load_experiment
    from harness.run.bundle_export import export
    from reports.bundle import BundleError
    from reports.frames import ReportError
    from svi.config import ConfigError

    try:
        exp, source = load_experiment(args.experiment)
        tracking.check_reachable()
        to = Path(args.to) if args.to else Path.cwd() / "results" / exp.name
        files = export(exp, source, to, args.parent)
    except (ConfigError, ReportError, BundleError) as e:
        return fail(str(e))
    except OSError as e:  # a folder that cannot be written, found only when writing
        return fail(
            f"--to {args.to or 'results/' + exp.name}: {e.strerror or e}: name a folder you can write"
        )
    print(f"{exp.name}: results bundle in {to}")
    for name in sorted(files):
        print(f"  {files[name]}")
    return 0
