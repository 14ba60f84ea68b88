"""`harness gates`: toy world 3's gates G1-G5 of a committed results bundle (reports/gates.py), read
from the bundle alone: no torch, no store."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from cli.common import fail

NAME = "gates"
HELP = "toy world 3's gates of a results bundle: can the testbed tell a good model from a held frame"
DESCRIPTION = (
    "Toy world 3's gates, read from a committed results bundle (reports/gates.py says what each gate "
    "is; the toy-world guide says why). G1-G4 from BUNDLE's degenerate references and its base arm on "
    "the consistent and creative tracks of the gates' length (GATE_LENGTH there): G1 the VAE's ceiling well above the first frame held "
    "still, G2 a metric valid on the track (the rule of the results pages), G3 the base beating every "
    "degenerate reference over the first seconds, G4 the base's end worse than its start. G5, with "
    "--control, from a positive-control bundle: its planted drift detected on its declared primary. "
    "G6 (the recorded `make demo`) is on the generated page docs/results/world3_gates.md. Prints JSON, "
    "or with --markdown the page's table; exit 1 when a measured gate is not met, 0 otherwise (a gate "
    "the bundle cannot measure is listed as not measured), 2 for a folder that is not a bundle."
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "bundle",
        type=Path,
        metavar="BUNDLE",
        help="a results bundle with references and a base arm (results/EXP)",
    )
    p.add_argument(
        "--control",
        type=Path,
        metavar="DIR",
        help="a positive-control bundle for G5 (results/toy_erft_control)",
    )
    p.add_argument("--markdown", action="store_true", help="print a markdown table instead of JSON")


def cmd_gates(args: argparse.Namespace) -> int:
    from reports import gates as G
    from reports.bundle import BundleError

    try:
        rows = G.bundle_gates(args.bundle, args.control)
    except BundleError as e:  # its message names the folder and what to give instead
        return fail(str(e))
    except ValueError as e:  # a bundle whose tracks the gates cannot read
        return fail(f"{e}: give a results bundle with window-level scores, such as results/ablation_eimg")
    print(G.markdown(rows) if args.markdown else json.dumps([asdict(g) for g in rows], indent=1))
    return 1 if G.not_met(rows) else 0
