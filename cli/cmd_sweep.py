"""`harness sweep SWEEP`: an Optuna study over an experiment arm."""

from __future__ import annotations

import argparse
import sys

from cli.common import fail, prepare_tracking

NAME = "sweep"
HELP = "an Optuna sweep (sweeps/*.yaml) of an experiment arm"
DESCRIPTION = (
    "Run an Optuna study: each trial is the sweep's arm with sampled settings through the "
    "same stages as `harness run`, one nested MLflow run under the sweep's parent run. The study "
    "resumes when re-run; failed trials are recorded and the sweep goes on."
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", help="sweep name (sweeps/NAME.yaml) or path")
    p.add_argument("overrides", nargs="*", help="overrides of the base experiment, e.g. train.steps=50")
    p.add_argument(
        "--trials", type=int, help="total trials of the study, at most 1000 (default: the sweep file's)"
    )
    p.add_argument(
        "--workers", type=int, default=1,
        help="worker processes sharing the study: at most one per core, and as many as memory holds",
    )  # fmt: skip


def cmd_sweep(args: argparse.Namespace) -> int:
    from svi.config import ConfigError
    from sweeps.study import check_scale, load_sweep, run_sweep

    try:
        sweep = load_sweep(args.sweep, args.overrides, check_inputs=True)
        check_scale(sweep, args.trials, args.workers)  # bounded as the file's `trials:`, and by the machine
        if args.trials is not None:
            sweep.trials = args.trials
        prepare_tracking()
        study = run_sweep(sweep, args.sweep, args.overrides, workers=args.workers)
    except ConfigError as e:  # raised before anything is logged
        return fail(str(e))
    except KeyboardInterrupt:
        print(
            "interrupted: the study keeps its finished trials; run the same command to resume",
            file=sys.stderr,
        )
        return 130
    from sweeps.study import best_feasible, counted, feasible

    trials = counted(study.trials)  # a dead trial that was retried is counted once, as its retry
    counts = {s: sum(t.state.name == s for t in trials) for s in ("COMPLETE", "FAIL", "PRUNED", "RUNNING")}
    retried = len(study.trials) - len(trials)
    print(
        f"{sweep.name}: {len(trials)} trials ({', '.join(f'{v} {k.lower()}' for k, v in counts.items() if v)})"
        + (f"; {retried} dead trial(s) retried" if retried else "")
    )
    if counts["COMPLETE"] and len(sweep.objective) == 1:
        best = best_feasible(study)
        if best is None:
            print("best: none: no complete trial holds every constraint (see the sweep's `constraints`)")
        else:
            print(
                f"best: trial {best.number} {sweep.objective[0].metric} = {best.value:.4f} with {best.params}"
            )
        infeasible = sum(t.state.name == "COMPLETE" and not feasible(t) for t in trials)
        if infeasible:
            print(
                f"{infeasible} complete trial(s) broke a constraint: kept, marked feasible=false, never best"
            )
    return 0
