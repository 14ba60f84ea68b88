"""harness.tracking.store_reader: the harness's MLflow layout read back into frames (a real SQLite store, no mocks)."""

import os

import pandas as pd
import pytest

from harness.tracking.store_reader import load_drift, load_runs, load_samples, load_trials
from reports.frames import SAMPLE_FRAME_COLUMNS, ReportError, split_score_key, sweep_params

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"


def test_load_runs_latest_parent(store):
    runs = load_runs("ablation_eimg", store["uri"])
    assert runs.attrs["parent_run_id"] == store["ablation_eimg"]["parent"]
    assert len(runs) == 6
    assert sorted(runs["arm"].unique()) == ["base", "full", "no_eimg"]
    assert runs["seed"].dtype == "Int64"
    failed = runs[runs["status"] == "FAILED"]
    assert list(zip(failed["arm"], failed["seed"])) == [("no_eimg", 1)]
    base = runs[runs["arm"] == "base"].iloc[0]
    assert base["role"] == "baseline" and base["preset"] == "tiny" and base["variant"] == "shot"
    assert base["backends"]["subject_consistency"] == "vbench-weights"
    assert base["backends"]["fvd"] == "random-init"
    assert base["seconds_per_clip"] == 5.0
    assert "consistent_50s/subject_consistency" in runs.columns
    assert not any(c.startswith("drift/") for c in runs.columns)  # curves are not final scores
    assert runs.loc[runs["arm"] == "base", "consistent_50s/subject_consistency"].tolist() == [0.80, 0.82]


def test_load_runs_explicit_parent(store):
    runs = load_runs("ablation_eimg", store["uri"], parent_run_id=store["ablation_eimg"]["old_parent"])
    assert len(runs) == 1 and runs["consistent_50s/subject_consistency"].iloc[0] == 0.5
    with pytest.raises(ReportError, match="no child runs"):
        load_runs("ablation_eimg", store["uri"], parent_run_id="0" * 32)


def test_clear_errors(store, tmp_path):
    with pytest.raises(ReportError, match="'no_such_experiment' does not exist.*ablation_eimg"):
        load_runs("no_such_experiment", store["uri"])
    with pytest.raises(ReportError, match="'empty' .* has no runs"):
        load_runs("empty", store["uri"])
    with pytest.raises(ReportError, match="no MLflow store at"):
        load_runs("ablation_eimg", f"sqlite:///{tmp_path / 'missing.db'}")
    assert not (tmp_path / "missing.db").exists()  # reading never creates a store


def test_load_drift(store):
    drift = load_drift("ablation_eimg", store["uri"])
    assert list(drift.columns) == [
        "run_id",
        "arm",
        "seed",
        "role",
        "status",
        "suite",
        "metric",
        "clip",
        "value",
        "seconds",
    ]
    assert (drift["status"] == "FINISHED").all()  # the FAILED run logged a curve; it is left out
    assert len(drift) == 5 * 4
    assert set(drift["suite"]) == {"consistent_50s"} and set(drift["metric"]) == {"subject_consistency"}
    base = drift[drift["arm"] == "base"]
    assert base.groupby("clip")["value"].mean()[3] == pytest.approx(0.75)
    assert base.sort_values("clip")["seconds"].unique().tolist() == [5.0, 10.0, 15.0, 20.0]
    with_failed = load_drift("ablation_eimg", store["uri"], finished_only=False)
    assert len(with_failed) == 24 and set(with_failed["status"]) == {"FINISHED", "FAILED"}


SAMPLES = [f"s{i}" for i in range(10)]  # conftest's videos per run and track, each with 4 clips


def test_load_samples_reads_the_per_sample_tables(store):
    df = load_samples("ablation_eimg", store["uri"])
    assert list(df.columns) == SAMPLE_FRAME_COLUMNS and df.attrs["without_samples"] == []
    assert (df["status"] == "FINISHED").all()  # the FAILED run's table is not read
    assert df["seed"].dtype == "Int64" and df["window"].dtype == "Int64"
    video = df[(df["level"] == "video") & (df["metric"] == "subject_consistency")]
    assert len(video) == 5 * len(SAMPLES) * 2  # finished runs x samples x tracks
    full0 = video[(video["arm"] == "full") & (video["seed"] == 0) & (video["track"] == "consistent_50s")]
    assert sorted(full0["sample"]) == list(SAMPLES) and full0["role"].unique().tolist() == ["arm"]
    assert full0["value"].mean() == pytest.approx(0.95)  # the run's final score
    assert full0["run_id"].unique().tolist() == [store["ablation_eimg"]["ids"][("full", 0)]]
    # FVD has no per-video value (null in the table); its set value is the run's final score
    fvd = df[(df["metric"] == "fvd") & (df["arm"] == "base") & (df["seed"] == 1)]
    assert fvd.loc[fvd["level"] == "video", "value"].isna().all()
    assert fvd.loc[fvd["level"] == "run", "value"].tolist() == [520.0]
    # windows: the drift curve of every sample, seconds = (window + 1) * seconds_per_clip
    windows = df[(df["level"] == "window") & (df["arm"] == "base") & (df["seed"] == 0)]
    assert set(windows["metric"]) == {"subject_consistency"}  # windows without a value are dropped
    assert len(windows) == len(SAMPLES) * 4
    assert windows.groupby("window")["value"].mean().tolist() == pytest.approx([0.80, 0.78, 0.76, 0.74])
    assert windows.groupby("window")["seconds"].first().tolist() == [5.0, 10.0, 15.0, 20.0]


def test_load_samples_of_runs_without_tables(store):
    df = load_samples("legacy", store["uri"])
    assert set(df["level"]) == {"run"} and len(df.attrs["without_samples"]) == 5
    full = df[
        (df["arm"] == "full") & (df["metric"] == "subject_consistency") & (df["track"] == "consistent_50s")
    ]
    assert sorted(full["value"]) == [0.95, 0.97]


def test_the_table_the_harness_logs(make_scores_report):
    """harness.tracking.samples_table: one row per (video, window) and per video, the keys' columns."""
    from harness.tracking import samples_table
    from harness.tracking.keys import samples_artifact
    from reports.frames import SAMPLE_COLUMNS

    report = make_scores_report({"subject_consistency": 0.9, "fvd": 300.0}, drift=[0.9, 0.8])
    table = samples_table("consistent_50s", 3, report)
    assert list(table.columns) == [*SAMPLE_COLUMNS, "subject_consistency", "fvd"]
    assert len(table) == len(SAMPLES) * 3 and (table["seed"] == 3).all()
    first = table[table["sample"] == "s0"]
    assert first["level"].tolist() == ["window", "window", "video"]
    assert first["window"].tolist()[:2] == [0, 1] and pd.isna(first["window"].iloc[2])
    assert first["fvd"].isna().all()
    assert samples_artifact("consistent_50s") == "scores/consistent_50s/samples.json"


def test_load_trials(store):
    trials = load_trials("injection_probs", store["uri"])
    assert sorted(trials["trial"].tolist()) == [0, 1, 2, 3]
    assert sweep_params(trials) == ["erft.p_vid", "erft.p_noi", "erft.p_img", "erft.p_clean"]
    t1 = trials[trials["trial"] == 1].iloc[0]
    assert t1["objective"] == 0.9 and t1["erft.p_img"] == 0.9 and t1["status"] == "FINISHED"
    assert pd.isna(trials.loc[trials["trial"] == 3, "objective"]).all()
    with pytest.raises(ReportError, match="role=sweep"):
        load_trials("ablation_eimg", store["uri"])


def test_a_sweep_over_other_keys_reports_them(tmp_path):
    """The sweep's parent run names the keys it searched (here train.lr); the report reads those."""
    from mlflow.tracking import MlflowClient

    from harness.tracking.keys import OBJECTIVE, PARENT_TAG, SEARCHED_TAG

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    c = MlflowClient(uri)
    exp = c.create_experiment("lr_sweep", artifact_location=(tmp_path / "a").as_uri())
    parent = c.create_run(exp, tags={"role": "sweep", SEARCHED_TAG: "train.lr,erft.p_img"}).info.run_id
    for trial, lr in enumerate((1e-4, 3e-4)):
        run = c.create_run(exp, tags={PARENT_TAG: parent, "trial": str(trial)}).info.run_id
        for key, value in (("train.lr", lr), ("erft.p_img", 0.9), ("erft.p_vid", 0.9), ("train.steps", 50)):
            c.log_param(run, key, value)
        c.log_metric(run, OBJECTIVE, 0.5 + trial)
        c.set_terminated(run)
    trials = load_trials("lr_sweep", uri)
    assert sweep_params(trials) == ["train.lr", "erft.p_img"]  # not erft.p_vid: it was not searched
    assert sorted(trials["train.lr"].tolist()) == [1e-4, 3e-4]


def test_split_score_key():
    assert split_score_key("consistent_250s/dynamic_degree") == (
        "consistent_250s",
        "consistent",
        "250s",
        "dynamic_degree",
    )
    assert split_score_key("conditional_talk_300s/sync_c")[1] == "conditional_talk"
    assert split_score_key("train/loss") is None and split_score_key("objective") is None
