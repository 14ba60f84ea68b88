"""`harness ui`: the MLflow UI over the workspace's store, with review links."""

from __future__ import annotations

import argparse
import sys

from cli.common import fail, review_links
from harness.run import launch

NAME = "ui"
HELP = "the MLflow UI over the workspace's store (127.0.0.1), with a review link per experiment"
DESCRIPTION = None


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", nargs="?", help="link only this experiment's latest run")
    p.add_argument("--port", type=int, default=5000)


def cmd_ui(args: argparse.Namespace) -> int:
    from harness import tracking
    from harness.base import workspace
    from harness.base.redact import redact_uri
    from svi.config import ConfigError

    uri = workspace.tracking_uri()
    address = f"http://127.0.0.1:{args.port}"
    try:
        tracking.check_reachable(uri)
        links = review_links(address, args.experiment)
    except ConfigError as e:
        return fail(str(e))
    except LookupError as e:  # a named experiment the store does not hold
        return fail(str(e))
    print(f"MLflow UI for {redact_uri(uri)} at {address} (Ctrl-C stops it)", flush=True)
    if links:
        print("review the latest run of each experiment (Model training: the summary, then the charts):")
        for name, found in links:
            print(f"  {name}: {found.review}")
            if found.charts:
                print(f"  {name} charts (per clip and final scores, by arm and reference): {found.charts}")
            if found.keyframes:
                print(f"  {name} keyframes (samples x arms, a clip slider): {found.keyframes}")
    elif links is not None:
        print("no runs yet: `harness run EXPERIMENT` logs some, then open the link it prints")
    sys.stdout.flush()
    cmd = [
        sys.executable, "-m", "mlflow", "ui", "--default-artifact-root", workspace.artifact_root(),
        "--host", "127.0.0.1", "--port", str(args.port),
    ]  # fmt: skip
    # The store's URI (it may carry a password) goes by the environment, which `ps` does not show, not
    # on the command line. No job runners (MLflow's GenAI evaluation jobs, unused here): five fewer
    # processes, and none that starts after a stop signal has been passed on and so outlives the UI.
    env = {"MLFLOW_BACKEND_STORE_URI": uri, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return launch.run(cmd, env=launch.child_env(env))
