"""`harness import DIR`: a results bundle into the MLflow store, for review in the UI."""

from __future__ import annotations

import argparse

from cli.common import fail, store_line

NAME = "import"
HELP = "load a results bundle (results/EXPERIMENT) into MLflow for review in the UI"
DESCRIPTION = (
    "Load a results bundle (harness export, harness run --from) into the tracking store (the workspace's, "
    "or MLFLOW_TRACKING_URI's team server) as a parent run with a child run per unit: tags, the arms' "
    "configurations as params, final scores, drift curves (step = clip), training curves, per-sample "
    "tables and the report; then write the saved review view and print its link, as at the end of a run. "
    "`harness report EXPERIMENT` then works on the imported runs too. Videos and images are not in a "
    "bundle, so there is no keyframes view. The bundle is checked whole first (no symbolic links, size "
    "caps, its schema, names, and the digests of its tables): a bad one is one line and exit code 2, with "
    "nothing created. Importing the same bundle again finds the runs of the first import and creates none."
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", metavar="DIR", help="the results bundle folder (e.g. results/ablation_eimg)")
    p.add_argument(
        "--ui-url", help="the UI's address for the printed link (default: harness ui's, or the team server)"
    )


def cmd_import(args: argparse.Namespace) -> int:
    from harness import tracking
    from harness.base import workspace
    from harness.run.bundle_import import import_bundle
    from harness.tracking import review
    from reports.bundle import BundleError, read_manifest, unit_counts
    from svi.config import ConfigError

    try:
        manifest = read_manifest(args.bundle)  # its files and schema, before the store is touched
        uri = workspace.tracking_uri()
        tracking.check_reachable(uri)
        server = uri.split(":", 1)[0].lower() in ("http", "https")
        base = args.ui_url or (uri if server else review.DEFAULT_UI_URL)
        _, parent, links, new = import_bundle(args.bundle, base)
    except (BundleError, ConfigError) as e:
        return fail(str(e))
    if not new:
        print(
            f"{manifest['experiment']}: {args.bundle} was imported before, as parent run {parent}: nothing "
            "imported again"
        )
        print(store_line(uri))
        return 0
    done, declared, refs = unit_counts(manifest)  # the arms' units apart from the references, as the page
    print(
        f"{manifest['experiment']}: {len(manifest['units']) - refs} unit(s) of the arms ({done} finished, "
        f"{declared} declared)"
        + (f" and {refs} reference unit(s)" if refs else "")
        + f" imported from {args.bundle} (parent run {parent})"
    )
    print(store_line(uri))
    if links:
        after = "" if server else "  (after: harness ui)"
        print(f"review in the MLflow UI: {links.review}{after}")
        if links.charts:
            print(f"charts (per clip and final scores, by arm and reference): {links.charts}{after}")
    return 0
