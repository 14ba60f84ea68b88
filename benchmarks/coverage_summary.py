"""Line coverage per package and in total, from coverage.py's JSON report (`make coverage`, or CI's
`make test COVERAGE=1` then `make test-slow COVERAGE=1`, write .cache/coverage.json).

    python -m benchmarks.coverage_summary .cache/coverage.json [--against OLD.json]

With --against, each package's lines covered then and now, so a change can show that coverage did not
drop.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def by_package(report: dict) -> dict[str, tuple[int, int]]:
    """package (the file's first folder) -> (lines covered, statements), over the report's files."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for name, data in report["files"].items():
        package = Path(name).parts[0]
        out[package][0] += data["summary"]["covered_lines"]
        out[package][1] += data["summary"]["num_statements"]
    return {p: (c, n) for p, (c, n) in sorted(out.items())}


def _pct(covered: int, total: int) -> str:
    return f"{100 * covered / total:6.2f}%" if total else "    - "


def summary(report: dict, old: dict | None = None) -> str:
    now = by_package(report)
    then = by_package(old) if old else {}
    lines = ["line coverage (covered / statements):"]
    for package, (c, n) in now.items():
        row = f"  {package:<10} {_pct(c, n)}  {c:>6} / {n:<6}"
        if package in then:
            row += f"   before {_pct(*then[package])}  {then[package][0]:>6} / {then[package][1]}"
        lines.append(row)
    t = report["totals"]
    row = f"  {'total':<10} {_pct(t['covered_lines'], t['num_statements'])}  {t['covered_lines']:>6} / {t['num_statements']:<6}"
    if old:
        o = old["totals"]
        row += f"   before {_pct(o['covered_lines'], o['num_statements'])}  {o['covered_lines']:>6} / {o['num_statements']}"
    lines.append(row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("report", type=Path, help="coverage.py's JSON report")
    p.add_argument("--against", type=Path, help="an earlier JSON report to set beside it")
    args = p.parse_args(argv)
    for path in filter(None, (args.report, args.against)):
        if not path.is_file():
            p.error(f"no such report: {path} (make it with `make coverage`)")
    old = json.loads(args.against.read_text()) if args.against else None
    print(summary(json.loads(args.report.read_text()), old))
    return 0


if __name__ == "__main__":
    sys.exit(main())
