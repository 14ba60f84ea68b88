"""`harness list`: the declared experiments and sweeps."""

from __future__ import annotations

import argparse

NAME = "list"
HELP = "the declared experiments"
DESCRIPTION = None


def configure(p: argparse.ArgumentParser) -> None:
    pass


def cmd_list(args: argparse.Namespace) -> int:
    from harness.declare.experiment import experiment_names
    from sweeps.study import sweep_names

    print("experiments (harness run NAME):")
    for name, desc in experiment_names().items():
        print(f"  {name:18s} {desc}")
    print("sweeps (harness sweep NAME):")
    for name, desc in sweep_names().items():
        print(f"  {name:18s} {desc.splitlines()[0] if desc else ''}")
    return 0
