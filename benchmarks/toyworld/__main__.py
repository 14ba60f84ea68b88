"""The toy-world probes as one tool: `python -m benchmarks.toyworld PROBE [options]`, one module of this
folder per probe (its `main(argv)`; `python -m benchmarks.toyworld PROBE --help` gives its options).
What each found is recorded in docs/guides/toyworld_record.md and the results pages that cite it."""

from __future__ import annotations

import argparse
import ast
import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOT_PROBES = ("__init__", "__main__", "demo_recipe")


def probes() -> dict[str, str]:
    """probe name -> the first line of its module's docstring (read from the source, nothing imported)."""
    out = {}
    for path in sorted(HERE.glob("*.py")):
        if path.stem not in NOT_PROBES:
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            out[path.stem] = doc.split("\n")[0]
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    found = probes()
    if argv and argv[0] in found:
        probe = importlib.import_module(f"benchmarks.toyworld.{argv[0]}")
        named = sys.argv[0]
        sys.argv[0] = f"python -m benchmarks.toyworld {argv[0]}"  # argparse's prog in the probe's usage line
        try:
            return probe.main(argv[1:]) or 0
        finally:
            sys.argv[0] = named
    p = argparse.ArgumentParser(prog="python -m benchmarks.toyworld", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="probe", required=True, metavar="PROBE")
    for name, line in found.items():
        sub.add_parser(name, help=line)
    p.parse_args(argv)  # --help, or no probe or an unknown one: argparse's message, exit 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
