"""`harness pages`: the results pages and the README's result blocks, generated from the committed
results bundles."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.common import fail

NAME = "pages"
HELP = "write the results pages (docs/results/, README blocks) and the glossary from the committed bundles"
DESCRIPTION = (
    "For every results bundle under results/ (harness export, harness run --from): rebuild its report from "
    "the bundle, write its results page docs/results/EXPERIMENT.md (what ran, which declared units are in, "
    "the headline table of the primary metric, the reading in results/EXPERIMENT/notes.md, the whole "
    "report with intervals, power and drift plots) and fill the README's block between "
    "<!-- results:EXPERIMENT --> and <!-- /results:EXPERIMENT --> with the headline table; write the glossary "
    "docs/glossary.md from reports/glossary.py, whose entries each results page links at a term's first use. "
    "--check writes nothing and exits 1 when a committed file differs from what its bundle gives (CI runs it "
    "as a test)."
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default=".", help="the repository (default: the current directory)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when a page is stale")


def cmd_pages(args: argparse.Namespace) -> int:
    from harness.declare.preregistration import git_check
    from reports.bundle import BundleError
    from reports.pages import bundle_folders, bundle_line, stale_pages, write_pages
    from svi.model.presets import TOY_WORLD  # the current toy world, which each page names its bundle against

    root = Path(args.root)
    found = bundle_folders(root)
    if not found:
        return fail(f"no results bundles under {root / 'results'} (harness export EXPERIMENT writes one)")
    try:
        for bundle in found:
            print(bundle_line(bundle))
        if args.check:
            stale = stale_pages(root, git_check, current_world=TOY_WORLD)
            for line in stale:
                print(f"stale: {line}")
            if stale:
                print("run `harness pages` and commit what it writes")
                return 1
            print("every results page matches its bundle")
            return 0
        for path in write_pages(root, git_check, current_world=TOY_WORLD):
            print(f"wrote {path}")
    except BundleError as e:
        return fail(str(e))
    return 0
