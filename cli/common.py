"""What every command shares: the exit code and message of bad input, the store line, a full disk,
the tracking check before anything is logged, --detect, and the review links of the MLflow UI."""

from __future__ import annotations

import argparse
import sys

EXIT_USAGE = 2


def fail(msg: str) -> int:
    from harness.base.redact import scrub

    print(f"error: {scrub(msg)}", file=sys.stderr)
    return EXIT_USAGE


def store_line(uri: str) -> str:
    from harness.base.redact import redact_uri

    return f"MLflow store: {redact_uri(uri)}  (browse with: harness ui)"


def disk_full_exit(error: BaseException) -> int | None:
    """One line and exit 1 for a full disk (wherever it surfaced), None for any other error."""
    from harness.base import workspace

    full = workspace.disk_full(error)
    if full is None:
        return None
    print(f"error: {workspace.disk_full_message(full)}", file=sys.stderr)
    return 1


def prepare_tracking() -> None:
    """The workspace can be written and the tracking store answers, before anything is logged."""
    from harness import tracking
    from harness.base import workspace

    workspace.check_writable()
    tracking.check_reachable()


def parse_detect(items: list[str]) -> dict[str, float]:
    """`--detect METRIC=VALUE` options -> {metric: difference in the metric's display units}; a
    ConfigError naming the item for an unknown metric or a value that is not a positive number."""
    from scoring.specs import SPECS
    from svi.config import ConfigError

    out = {}
    for item in items:
        metric, _, value = item.partition("=")
        if metric not in SPECS:
            raise ConfigError(f"--detect {item}: unknown metric {metric!r}; known: {', '.join(SPECS)}")
        try:
            out[metric] = abs(float(value))
        except ValueError:
            raise ConfigError(
                f"--detect {item}: give METRIC=VALUE with a number, e.g. colour_shift=0.01"
            ) from None
        if out[metric] == 0:
            raise ConfigError(f"--detect {item}: a difference of 0 cannot be detected")
    return out


def add_detect(parser: argparse.ArgumentParser) -> None:
    """`--detect METRIC=VALUE` (report and plan): a difference worth finding (`parse_detect`)."""
    parser.add_argument(
        "--detect",
        action="append",
        metavar="METRIC=VALUE",
        help="a difference worth finding, in the metric's display units (VBench: percentage points), "
        "e.g. colour_shift=0.01: the samples x seeds that would detect it at 80%% power",
    )


def review_links(base_url: str, experiment: str | None = None) -> list | None:
    """(experiment, review.Links) of the review and keyframes views (harness/tracking/review.py) of each experiment's latest parent run,
    written as an experiment tag first; None, after saying why, when the store refuses: a link is not
    worth failing a run or the UI for. LookupError for a named experiment the store does not hold."""
    from harness import tracking
    from harness.tracking import review

    try:
        return review.review_links(tracking.client(), base_url, experiment)
    except LookupError:
        raise
    except Exception as e:
        from harness.base.redact import scrub

        print(
            f"no review link: the saved view could not be written ({type(e).__name__}: {scrub(str(e))[:200]}); "
            "the runs are in the UI all the same",
            file=sys.stderr,
        )
        return None


def add_experiment(parser: argparse.ArgumentParser, overrides: bool = True) -> None:
    """The EXPERIMENT positional (a declared name or a YAML path) and, with `overrides`, the dotted
    overrides after it (run, plan, export)."""
    parser.add_argument("experiment", help="experiment name or path to an experiment YAML")
    if overrides:
        parser.add_argument(
            "overrides", nargs="*", help="dotted overrides: experiment fields (seeds=[0,1]) or the base "
            "configuration (train.steps=50)",
        )  # fmt: skip


def add_allow_large(p) -> None:
    """`--allow-large`: go past the ceiling on what one plan may ask (harness/declare/bounds.py
    MAX_PLAN_VIDEO_HOURS), on purpose."""
    p.add_argument(
        "--allow-large",
        action="store_true",
        help="plan past the ceiling on what one plan may ask (1,000 hours of generated video over all units, "
        "tracks and samples), on purpose",
    )


def text_table(head: list[str], rows: list[list[str]]) -> list[str]:
    """Console lines of a plain-text table: each column padded to its widest cell, two spaces apart."""
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
