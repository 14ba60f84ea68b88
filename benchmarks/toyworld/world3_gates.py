"""Toy world 3's gates G1-G5 from committed bundles (reports/gates.py says what each gate is; G6, the
recorded `make demo`, is on the generated page docs/results/world3_gates.md).

G1-G4 come from a benchmark bundle's references and its base arm (consistent and creative tracks);
G5 from a positive-control bundle (`--control`, toy_erft_control). No torch, no store: the bundles
alone. Exit 1 when a measured gate is not met, 0 otherwise (gates a bundle cannot measure are listed).

    python -m benchmarks.toyworld.world3_gates results/ablation_eimg --control results/toy_erft_control
    python -m benchmarks.toyworld.world3_gates results/ablation_eimg --markdown
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from reports import gates as G
from reports.bundle import BundleError, read_manifest, read_tables


def bundle_gates(bundle: Path, control: Path | None = None) -> list[G.Gate]:
    """G1-G4 of `bundle` (its declared primary preferred where valid) and G5 of `control`."""
    declared = read_manifest(bundle).get("primary")
    scores = read_tables(bundle).scores
    means = G.bundle_means(bundle)
    if control is None:
        return G.gates(scores, declared, means=means)
    return G.gates(
        scores, declared, read_tables(control).scores, read_manifest(control).get("primary"), means
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help="a results bundle with references and a base arm (results/EXP)")
    p.add_argument("--control", type=Path, help="a positive-control bundle for G5 (results/toy_erft_control)")
    p.add_argument("--markdown", action="store_true", help="print a markdown table instead of JSON")
    args = p.parse_args(argv)
    try:
        rows = bundle_gates(args.bundle, args.control)
    except (BundleError, FileNotFoundError, ValueError) as e:
        print(f"{e}: give results bundle folders such as results/ablation_eimg", file=sys.stderr)
        return 2
    print(G.markdown(rows) if args.markdown else json.dumps([asdict(g) for g in rows], indent=1))
    return 1 if any(g.passed is False for g in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
