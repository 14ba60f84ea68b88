"""`harness`: the command line researchers use. A dispatcher: each command parses and checks its
arguments, then calls the module that does the work (harness/run/pipeline.py, harness/run/suite_generation.py,
scoring/score.py, sweeps/study.py, reports/build.py). Options and dotted overrides may
come in any order. Bad input is one message and exit code 2, before anything runs or is logged.

Subcommands:
    harness list
        The declared experiments (configs/experiments/*.yaml) and sweeps (sweeps/*.yaml).
    harness run EXPERIMENT [key=value ...] [--force STAGE] [--from DIR]
        Train, generate, score and log every arm and seed to MLflow; re-runs skip finished stages;
        with --from, continue from a results bundle, exporting each unit into it as it finishes.
    harness sweep SWEEP [--trials N] [--workers N] [key=value ...]
        An Optuna study over an experiment arm; each trial is one arm plan with sampled overrides.
        --trials at most 1000; --workers at most one per core and what memory holds.
    harness plan EXPERIMENT [--detect METRIC=VALUE] [--gpu H100 --gpus 8 --mfu 0.4]
        The dry run: units, input checks, the model on the meta device, GPU-hours and memory; with
        --detect, the samples x seeds an earlier run's variance components say would detect it.
    harness report EXPERIMENT | --sweep SWEEP [--detect METRIC=VALUE]
        Tables with crossed-design intervals, power, and drift plots rebuilt from MLflow.
    harness export EXPERIMENT [--to DIR]
        The experiment's results into a committed results bundle (results/EXPERIMENT/).
    harness import DIR
        A results bundle into the MLflow store as a parent run with its units, and the review view.
    harness pages [--check]
        The results pages (docs/results/) and README blocks, generated from the committed bundles.
    harness gates BUNDLE [--control DIR] [--markdown]
        Toy world 3's gates G1-G5 of a results bundle (exit 1 when a measured gate is not met).
    harness ui [EXPERIMENT] [--port 5000]
        The MLflow UI on 127.0.0.1 over the workspace's store; prints a link per experiment that opens
        a saved view of its latest run (harness/tracking/review.py).
    harness train [--config FILE] [--nproc N] [--launcher ...] [key=value ...]
        ERFT training of one configuration, launched with deepspeed / torchrun / one process.
    harness generate --suite creative --length 50s --out DIR [...]
    harness generate --image IMG --prompts FILE --length 20s --out DIR [--interactive]
        Long videos on a benchmark suite or from one image, with or without an SVI LoRA; resumable;
        data-parallel under torchrun (each rank generates its share of the samples).
    harness score DIR --metrics vbench,fvd,psnr_ssim [--reference DIR] [--window clip|Ns] [--long]
        VBench dimensions, FVD, PSNR/SSIM of every video in DIR, streamed, per window and per video;
        writes DIR/scores.json and DIR/scores.csv.
    harness demo
        The smallest end-to-end run: writes a small synthetic clip set in the official layout under
        the workspace, trains an ERFT LoRA on the tiny preset, and prints where everything is.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from harness.base import telemetry

# MLflow's usage telemetry off in this process and every child, unless the user set it (harness/base/telemetry.py)
telemetry.quiet()

from cli import (  # noqa: E402
    cmd_demo,
    cmd_export,
    cmd_gates,
    cmd_generate,
    cmd_import,
    cmd_list,
    cmd_pages,
    cmd_plan,
    cmd_report,
    cmd_run,
    cmd_score,
    cmd_sweep,
    cmd_train,
    cmd_ui,
)

# The commands in the order `harness --help` lists them. Each module states its NAME, HELP and
# DESCRIPTION, adds its options in `configure(parser)` and runs as `cmd_<NAME>(args)`.
COMMANDS = (
    cmd_list,
    cmd_run,
    cmd_plan,
    cmd_sweep,
    cmd_report,
    cmd_export,
    cmd_import,
    cmd_pages,
    cmd_gates,
    cmd_ui,
    cmd_train,
    cmd_generate,
    cmd_score,
    cmd_demo,
)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and each command's own parser."""
    p = argparse.ArgumentParser(
        prog="harness",
        description="svi-harness: train, generate, score and compare Stable Video Infinity experiments.",
    )
    # one word in the usage line, the commands listed below it: the help fits 80 columns
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        parser = sub.add_parser(command.NAME, help=command.HELP, description=command.DESCRIPTION)
        command.configure(parser)
        parser.set_defaults(func=getattr(command, f"cmd_{command.NAME}"))
    return p, sub.choices


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Options and positionals (dotted overrides) in any order: `harness sweep NAME --trials 2
    train.steps=30` as well as `harness sweep --trials 2 NAME train.steps=30`."""
    top, commands = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in commands:
        return commands[argv[0]].parse_intermixed_args(argv[1:])
    return top.parse_args(argv)  # --help, or an unknown command (argparse's message, exit 2)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if threading.current_thread() is not threading.main_thread():
        return args.func(args)
    # `kill <pid>` (a scheduler, a process manager) stops the harness as Ctrl-C does: runs are marked
    # KILLED and every child process, the MLflow server's workers and a sweep's workers included, is
    # stopped (harness/run/launch.py `interrupt`).
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.func(args)
    finally:
        signal.signal(signal.SIGTERM, previous)
