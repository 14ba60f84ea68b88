"""Nothing leaves the machine unasked: MLflow's usage telemetry is off in the harness's own process
and in every process it starts, unless the user has said otherwise.

MLflow (3.x) starts its telemetry client when it is imported and sends usage records to its own host
unless `MLFLOW_DISABLE_TELEMETRY` or `DO_NOT_TRACK` is true. The harness sends nothing anywhere its
user did not name, so `quiet` runs before MLflow is first imported (`cli/__init__.py`,
`harness/tracking/__init__.py`), and children inherit the environment (`child_env` states it too). A
user who sets either variable, to any value, is obeyed.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

OFF = "MLFLOW_DISABLE_TELEMETRY"
USER_SWITCHES = (OFF, "DO_NOT_TRACK")  # either one set by the user: theirs is the answer


def quiet(env: MutableMapping[str, str] | None = None) -> None:
    """Turn MLflow telemetry off in `env` (default: this process's environment, which its children
    inherit) unless the user has set either switch."""
    env = os.environ if env is None else env
    if not any(name in env for name in USER_SWITCHES):
        env[OFF] = "true"
