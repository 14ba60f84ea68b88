"""A real MLflow SQLite store laid out the way the harness writes it: experiments and a sweep."""

import os

import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from reports.published import VBENCH_SIX

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

T0 = 1_700_000_000_000  # ms; explicit start times make "latest parent" deterministic
VBENCH = "vbench-weights"

# arm -> seed -> (status, final scores on the logged scale); no_eimg seed 1 FAILED with scores that
# would drag its mean down if they were averaged in.
NAMES = (
    *VBENCH_SIX,
    "fvd",
    "psnr",
)


def _scores(*values: float) -> dict[str, float]:
    return dict(zip(NAMES, values))


SCORES = {
    "base": {
        0: ("FINISHED", _scores(0.80, 0.90, 0.50, 0.60, 0.30, 0.98, 500.0, 18.0)),
        1: ("FINISHED", _scores(0.82, 0.92, 0.52, 0.62, 0.30, 0.98, 520.0, 20.0)),
    },
    "full": {
        0: ("FINISHED", _scores(0.95, 0.93, 0.60, 0.70, 0.20, 0.99, 300.0, 21.0)),
        1: ("FINISHED", _scores(0.97, 0.95, 0.62, 0.72, 0.10, 0.99, 320.0, 23.0)),
    },
    "no_eimg": {
        0: ("FINISHED", _scores(0.90, 0.99, 0.55, 0.65, 0.25, 0.97, 400.0, 19.0)),
        1: ("FAILED", _scores(0.10, 0.10)),
    },
}
DRIFT_CLIPS = 4
SECONDS_PER_CLIP = 5.0


def drift_value(arm: str, seed: int, clip: int) -> float:
    """Known drift curves: base falls 0.02 a clip, the others stay flat; seeds differ by 0.01."""
    start = SCORES[arm][seed][1]["subject_consistency"]
    return start - (0.02 * clip if arm == "base" else 0.0)


def _child(client, exp_id, parent_id, start, tags, params=(), metrics=(), status="FINISHED"):
    run = client.create_run(exp_id, start_time=start, tags={"mlflow.parentRunId": parent_id, **tags})
    rid = run.info.run_id
    client.log_batch(
        rid,
        metrics=list(metrics),
        params=[Param(k, str(v)) for k, v in params],
        tags=[],
    )
    client.set_terminated(rid, status=status, end_time=start + 1000)
    return rid


def populate_experiment(client: MlflowClient, name: str, art: str, rename: dict | None = None) -> dict:
    """An older invocation (one child) and the latest one (3 arms x 2 seeds, one FAILED); `rename`
    gives arms other names (the scores stay those of SCORES)."""
    rename = rename or {}
    exp_id = client.create_experiment(name, artifact_location=f"{art}/{name}")
    old = client.create_run(exp_id, start_time=T0, tags={"role": "parent"}).info.run_id
    _child(
        client,
        exp_id,
        old,
        T0 + 1,
        {"arm": "full", "seed": "0", "role": "arm"},
        metrics=[Metric("consistent_50s/subject_consistency", 0.5, T0, 0)],
    )
    client.set_terminated(old, end_time=T0 + 10)
    parent = client.create_run(exp_id, start_time=T0 + 10_000, tags={"role": "parent"}).info.run_id
    ids = {}
    start = T0 + 10_001
    for arm, seeds in SCORES.items():
        for seed, (status, scores) in seeds.items():
            metrics = [Metric(f"consistent_50s/{m}", v, T0, 0) for m, v in scores.items()]
            metrics.append(
                Metric("creative_50s/subject_consistency", scores["subject_consistency"] - 0.1, T0, 0)
            )
            metrics += [
                Metric("drift/consistent_50s/subject_consistency", drift_value(arm, seed, k), T0, k)
                for k in range(DRIFT_CLIPS)
            ]
            backends = {f"metric_backend.{m}": ("random-init" if m == "fvd" else VBENCH) for m in scores}
            tags = {
                "arm": rename.get(arm, arm),
                "seed": str(seed),
                "role": "baseline" if arm == "base" else "arm",
                "variant": "shot",
                "preset": "tiny",
                "git_commit": "0123456789abcdef",
                **backends,
            }
            params = [
                ("seconds_per_clip", SECONDS_PER_CLIP),
                ("erft.p_img", 0.0 if arm == "no_eimg" else 0.9),
            ]
            ids[(rename.get(arm, arm), seed)] = _child(
                client, exp_id, parent, start, tags, params, metrics, status
            )
            start += 1
    client.set_terminated(parent, end_time=start)
    return {"old_parent": old, "parent": parent, "ids": ids}


# trial -> (status, objective, params)
TRIALS = {
    0: ("FINISHED", 0.5, {"erft.p_vid": 0.1, "erft.p_noi": 0.2, "erft.p_img": 0.3, "erft.p_clean": 0.4}),
    1: ("FINISHED", 0.9, {"erft.p_vid": 0.5, "erft.p_noi": 0.6, "erft.p_img": 0.9, "erft.p_clean": 0.1}),
    2: ("FINISHED", 0.7, {"erft.p_vid": 0.8, "erft.p_noi": 0.1, "erft.p_img": 0.7, "erft.p_clean": 0.2}),
    3: ("FAILED", None, {"erft.p_vid": 0.9, "erft.p_noi": 0.9, "erft.p_img": 0.0, "erft.p_clean": 0.0}),
}


def populate_sweep(client: MlflowClient, name: str, art: str) -> dict:
    exp_id = client.create_experiment(name, artifact_location=f"{art}/{name}")
    parent = client.create_run(exp_id, start_time=T0, tags={"role": "sweep"}).info.run_id
    ids = {}
    for trial, (status, objective, params) in TRIALS.items():
        metrics = []
        if objective is not None:
            metrics = [
                Metric("objective", objective, T0, 0),
                Metric("consistent_50s/subject_consistency", objective, T0, 0),
            ]
        ids[trial] = _child(
            client,
            exp_id,
            parent,
            T0 + 1 + trial,
            {"trial": str(trial), "role": "arm", "metric_backend.subject_consistency": VBENCH},
            params.items(),
            metrics,
            status,
        )
    client.set_terminated(parent, end_time=T0 + 100)
    return {"parent": parent, "ids": ids}


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> dict:
    """Tracking URI plus ids: `ablation_eimg`, `variants` (the same runs, arm no_eimg named film), the
    `injection_probs` sweep and an experiment `empty` without runs."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    art = (root / "artifacts").as_uri()
    client.create_experiment("empty", artifact_location=f"{art}/empty")
    return {
        "uri": uri,
        "root": root,
        "ablation_eimg": populate_experiment(client, "ablation_eimg", art),
        "variants": populate_experiment(client, "variants", art, {"no_eimg": "film"}),
        "injection_probs": populate_sweep(client, "injection_probs", art),
    }
