"""A real MLflow SQLite store laid out the way the harness writes it: experiments and a sweep.

Per-sample tables are logged with the harness's own writer (`harness.tracking.log_samples`): each
run scores SAMPLES videos whose values are the run's final score plus a per-sample OFFSETS term that
is the same in every arm and sums to zero, so means are SCORES and arm differences are constant.
"""

import os

import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from harness.tracking import log_samples
from harness.tracking.keys import SEARCHED_TAG
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
FRAMES_PER_CLIP = 16
SAMPLES = tuple(f"s{i}" for i in range(10))  # enough samples for the tables to test differences
OFFSETS = tuple(0.01 * i - 0.045 for i in range(10))  # per sample, on the logged 0-1 scale (x10 for psnr)
SET_LEVEL = {"fvd"}  # no per-video value: the run's score is the set's


def sample_value(metric: str, score: float, i: int) -> float | None:
    """Sample i's score of a run whose final score is `score` (None for a set-level metric)."""
    if metric in SET_LEVEL:
        return None
    return score + OFFSETS[i] * (10 if metric == "psnr" else 1)


def drift_value(arm: str, seed: int, clip: int) -> float:
    """Known drift curves: base falls 0.02 a clip, the others stay flat; seeds differ by 0.01."""
    start = SCORES[arm][seed][1]["subject_consistency"]
    return start - (0.02 * clip if arm == "base" else 0.0)


def scores_report(scores: dict[str, float], drift: list[float] | None = None) -> dict:
    """A scores report (`SuiteScores.to_json()`'s shape) of SAMPLES videos with these final scores;
    `drift`: the subject_consistency window values (mean over videos), one window per clip."""
    drift = drift or []
    videos = []
    for i, name in enumerate(SAMPLES):
        windows = [(k * FRAMES_PER_CLIP, (k + 1) * FRAMES_PER_CLIP) for k in range(max(1, len(drift)))]
        window_scores = {m: [None] * len(windows) for m in scores}
        if drift:
            window_scores["subject_consistency"] = [d + OFFSETS[i] for d in drift]
        videos.append(
            {
                "video": name,
                "num_frames": windows[-1][1],
                "fps": 16.0,
                "windows": windows,
                "scores": {m: sample_value(m, v, i) for m, v in scores.items()},
                "window_scores": window_scores,
            }
        )
    return {"aggregate": dict(scores), "videos": videos, "backends": {}}


def _child(client, exp_id, parent_id, start, tags, params=(), metrics=(), status="FINISHED", reports=None):
    """A child run; `reports`: track -> scores report, logged as per-sample tables."""
    run = client.create_run(exp_id, start_time=start, tags={"mlflow.parentRunId": parent_id, **tags})
    rid = run.info.run_id
    client.log_batch(
        rid,
        metrics=list(metrics),
        params=[Param(k, str(v)) for k, v in params],
        tags=[],
    )
    for track, report in (reports or {}).items():
        log_samples(client, rid, track, int(tags["seed"]), report)
    client.set_terminated(rid, status=status, end_time=start + 1000)
    return rid


def populate_experiment(
    client: MlflowClient, name: str, art: str, rename: dict | None = None, samples: bool = True
) -> dict:
    """An older invocation (one child) and the latest one (3 arms x 2 seeds, one FAILED); `rename`
    gives arms other names (the scores stay those of SCORES); samples=False logs no per-sample
    tables (runs written before the harness logged them)."""
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
            drift = [drift_value(arm, seed, k) for k in range(DRIFT_CLIPS)]
            reports = {
                "consistent_50s": scores_report(scores, drift),
                "creative_50s": scores_report({"subject_consistency": scores["subject_consistency"] - 0.1}),
            }
            ids[(rename.get(arm, arm), seed)] = _child(
                client, exp_id, parent, start, tags, params, metrics, status, reports if samples else None
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
    searched = "erft.p_vid,erft.p_noi,erft.p_img,erft.p_clean"  # what sweeps/study.py tags its parent with
    tags = {"role": "sweep", SEARCHED_TAG: searched}
    parent = client.create_run(exp_id, start_time=T0, tags=tags).info.run_id
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


@pytest.fixture()
def make_scores_report():
    """`scores_report`, for tests that build a scores report the way this store's runs were logged."""
    return scores_report


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> dict:
    """Tracking URI plus ids: `ablation_eimg`, `variants` (the same runs, arm no_eimg named film),
    `legacy` (the same runs without per-sample tables), the `injection_probs` sweep and an experiment
    `empty` without runs."""
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
        "legacy": populate_experiment(client, "legacy", art, samples=False),
        "injection_probs": populate_sweep(client, "injection_probs", art),
    }
