"""What `harness run` logs for review in the MLflow UI, read back through MlflowClient.

Descriptions and provenance, a colour per arm, replay-memory curves reduced over their slots,
scores in the report's units and differences against the reference arm, per-clip images, enlarged
previews, datasets with their sources and prompt text, and params without the sections an untrained
arm never used. One tiny end-to-end run carries most assertions; the rest are small and direct.
"""

import json
import re
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from cli import main
from harness import tracking
from harness.declare.experiment import load_experiment
from harness.tracking import keys, media
from scoring import references as R
from tests.harness.mini import mini_experiment

EXPERIMENT = mini_experiment(
    "review_mini", "arms to look at in the MLflow UI", full="{overrides: {erft.p_img: 0.5}}", limit=2,
    metrics="subject_consistency,colour_shift",
)  # fmt: skip


# -- direct ------------------------------------------------------------------------------------------


def _memory_row(step: int, slots: int = 3) -> dict:
    row = {"step": step, "train/loss": 1.0 / step}
    for bank in ("noise", "clean"):
        fills = [min(step, 4), 1, 0][:slots]
        row[f"memory/{bank}/fill"] = float(sum(fills))
        row[f"memory/{bank}/bytes"] = 1000.0 * step
        for i, f in enumerate(fills):
            row[f"memory/{bank}/fill/slot_{i:02d}"] = float(f)
            if f:
                row[f"memory/{bank}/norm/slot_{i:02d}"] = 2.0 * (i + 1)
    return row


def test_replay_memory_reaches_mlflow_as_a_few_aggregates(home):
    c = tracking.client()
    run_id = c.create_run(tracking.ensure_experiment(c, "review_curves")).info.run_id
    metrics = home / "metrics.jsonl"
    metrics.write_text("".join(json.dumps(_memory_row(s)) + "\n" for s in (1, 2)))
    tracking.CurveForwarder(c, run_id, metrics, every_seconds=0, capacity=4).poll(final=True)
    logged = c.get_run(run_id).data.metrics
    assert not [k for k in logged if "/slot_" in k and not re.search(r"/slot_(fill|norm)_(min|mean|max)$", k)]
    # step 2: slots hold 2, 1, 0 of 4 entries; norms over the filled slots only
    assert logged["memory/noise/fill"] == 3.0 and logged["memory/noise/bytes"] == 2000.0
    assert logged["memory/noise/fill_fraction"] == pytest.approx(3 / (3 * 4))
    assert (logged["memory/noise/slot_fill_min"], logged["memory/noise/slot_fill_max"]) == (0.0, 2.0)
    assert logged["memory/noise/slot_fill_mean"] == pytest.approx(1.0)
    assert (logged["memory/clean/slot_norm_min"], logged["memory/clean/slot_norm_max"]) == (2.0, 4.0)
    assert [m.step for m in c.get_metric_history(run_id, "memory/clean/slot_fill_max")] == [1, 2]
    # without the capacity there is no fraction, the rest is the same
    assert "memory/noise/fill_fraction" not in tracking.reduce_slots(_memory_row(1))


def test_each_arm_has_one_colour_everywhere():
    # MLflow's UI gives the group of a view grouped by tag `arm` the colour of id "tag.arm.<value>":
    # these are its answers (its own function, evaluated by node on the palette of mlflow 3.17's bundle)
    assert {a: tracking.arm_color(a) for a in ("base", "full", "no_eimg", "plain", "framepack")} == {
        "base": "#115026", "full": "#be501e", "no_eimg": "#f792a6", "plain": "#be501e", "framepack": "#a6630c",
    }  # fmt: skip
    # full and plain collide under `arm`: an experiment with both groups its runs by another tag
    assert tracking.group_tag(["base", "full", "no_eimg"]) == "arm"
    tag = tracking.group_tag(["base", "full", "plain"])
    assert tag != "arm" and len({tracking.arm_color(a, tag) for a in ("base", "full", "plain")}) == 3
    mechanisms = list(load_experiment("mechanisms")[0].arms)  # its eight arms
    tag = tracking.group_tag(mechanisms)
    assert len({tracking.arm_color(a, tag) for a in mechanisms}) == len(mechanisms)


def test_runs_in_cluster_jobs_say_so(monkeypatch):
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert tracking.source_type() == "LOCAL"
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "local")  # what submitit sets in every job it starts
    assert tracking.source_type() == "JOB"


def test_differences_are_logged_only_where_the_bootstrap_ran():
    nan = float("nan")
    summary = pd.DataFrame(
        [  # a VBench dimension with its bootstrap, FVD (set-level: no interval), the reference's own row
            ("consistent_50s", "full", "subject_consistency", 0.01, -0.005, 0.02, 8.0),
            ("consistent_50s", "full", "fvd", -12.0, nan, nan, nan),
            ("consistent_50s", "base", "subject_consistency", nan, nan, nan, nan),
        ],
        columns=["track", "arm", "metric", "delta", "delta_low", "delta_high", "delta_n_samples"],
    )  # fmt: skip
    rows = tracking.delta_rows(summary)
    assert list(rows) == ["full"]
    got = {k: v for k, v, _ in rows["full"]}
    names = keys.delta_keys("consistent_50s", "subject_consistency")
    assert got == pytest.approx(dict(zip(names, (1.0, -0.5, 2.0, 8.0))))  # percentage points, and n
    # a declared comparison (full - plain) is not a difference from the base: it is not logged as one
    summary["contrast"] = "reference"
    other = summary.iloc[[0]].assign(contrast="declared", delta=0.5, delta_low=0.4, delta_high=0.6)
    again = tracking.delta_rows(pd.concat([summary, other]))
    assert {k: v for k, v, _ in again["full"]} == pytest.approx(got)


def _video(path: Path, n: int, clips: list[tuple[int, int]] | None, size: int = 32) -> Path:
    """An H.264 video of n frames whose frame i is grey level 10 * i, with the generator's sidecar."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=8)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        for i in range(n):
            frame = np.full((size, size, 3), 10 * i, np.uint8)
            out.mux(s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(s.encode())
    if clips is not None:
        sidecar = {"clips": [{"index": k, "video_frames": list(r)} for k, r in enumerate(clips)]}
        path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def test_review_copies_are_labelled_enlarged_and_playable(tmp_path):
    a = _video(tmp_path / "a.mp4", 9, [(0, 5), (5, 9)])
    b = _video(tmp_path / "b.mp4", 5, None)
    frames = media.keyframes(a)
    assert [(f.step, f.label) for f in frames] == [(0, "clip 0"), (1, "clip 1")]
    assert abs(int(frames[0].frame.mean()) - 40) <= 3  # the last frame of clip 0 is frame 4
    assert media.enlarge(frames[0].frame, media.REVIEW_SHORT_SIDE).shape == (256, 256, 3)
    strip = media.keyframe_strip(frames, tmp_path / "a.keyframes.png")
    assert Image.open(strip).size[1] > media.STRIP_SHORT_SIDE  # a band for the labels under the frames
    assert [f.label for f in media.keyframes(b, fallback_count=3)] == ["frame 0", "frame 2", "frame 4"]

    mp4, gif = media.suite_preview([a, b], tmp_path / "p.mp4", tmp_path / "p.gif")
    with av.open(str(mp4)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"
        assert (s.width, s.height) == (512, 256)  # two tiles side by side, each 32 px x 8
        assert sum(1 for _ in c.decode(s)) == 9  # the longer video's length; the shorter holds
    assert Image.open(gif).n_frames == 9
    assert media.up_to_date([mp4, gif], [a, b])


# -- end to end ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_run_is_reviewable_in_the_mlflow_ui(home):
    (home / "review_mini.yaml").write_text(EXPERIMENT)
    assert main(["run", str(home / "review_mini.yaml")]) == 0
    c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
    exp = c.get_experiment_by_name("review_mini")
    runs = {
        r.info.run_name: r
        for r in c.search_runs([exp.experiment_id])
        if r.data.tags.get("role") != "reference"  # the degenerate references, logged beside the arms
    }
    base, full = runs.pop("base-seed0"), runs.pop("full-seed0")
    (parent,) = runs.values()
    tags = {"parent": parent.data.tags, "base": base.data.tags, "full": full.data.tags}
    # the references beside the arms in the review: grouped by the arms' tag, said to be references
    group = base.data.tags[keys.GROUP_BY_TAG]
    refs = [r for r in c.search_runs([exp.experiment_id]) if r.data.tags.get("role") == keys.REFERENCE_ROLE]
    assert refs and all(r.data.tags[keys.GROUP_BY_TAG] == group and group in r.data.tags for r in refs)
    assert {r.data.tags[keys.KIND_TAG] for r in refs if r.data.tags["arm"] != R.RESCORE} == {
        keys.KIND_REFERENCE
    }
    assert (base.data.tags[keys.KIND_TAG], full.data.tags[keys.KIND_TAG]) == (keys.KIND_BASE, keys.KIND_ARM)

    # 1. descriptions and provenance
    note = exp.tags[keys.NOTE_TAG]
    assert "arms to look at" in note and "`full` (arm): `erft.p_img=0.5`" in note and "consistent 1s" in note
    assert "`base` (baseline): untrained base model" in note
    assert (
        "**full**, seed 0, role arm" in tags["full"][keys.NOTE_TAG]
        and "erft.p_img=0.5" in tags["full"][keys.NOTE_TAG]
    )
    assert "Trained: no" in tags["base"][keys.NOTE_TAG]
    assert tags["parent"][keys.NOTE_TAG].startswith("# review_mini: report")
    assert "(plot: `report/drift_" in tags["parent"][keys.NOTE_TAG]  # no broken image in the description
    for t in tags.values():
        assert t[keys.SOURCE_NAME_TAG] == "harness run review_mini" and t[keys.SOURCE_TYPE_TAG] == "LOCAL"
        assert t[keys.USER_TAG] and re.fullmatch(r"[0-9a-f]{40}|unknown", t[keys.SOURCE_COMMIT_TAG])
        assert "suite" not in t  # per-track tags only (suite_digest.<track>)
    assert tags["full"][keys.RUN_COLOR_TAG] == tracking.arm_color("full") != tags["base"][keys.RUN_COLOR_TAG]

    # 2. readable metrics: no per-slot curves, scores in percent, differences with their interval and n
    m = full.data.metrics
    assert not [k for k in m if re.search(r"/slot_\d+$", k)] and "memory/noise/fill_fraction" in m
    jsonl = Path(c.download_artifacts(full.info.run_id, "train/metrics.jsonl", str(home / "dl")))
    assert "memory/noise/fill/slot_00" in jsonl.read_text()  # the per-slot detail stays in the file
    track, vb = "consistent_1s", "subject_consistency"
    assert m[keys.percent_key(track, vb)] == pytest.approx(100 * m[keys.score_key(track, vb)])
    assert keys.percent_key(track, "colour_shift") not in m  # shown raw in the report: no copy
    d, lo, hi, n = (m[k] for k in keys.delta_keys(track, vb))
    assert lo <= d <= hi and n == 2
    # the mean of paired differences against the difference of the logged means: equal in exact
    # arithmetic; the scores are float32 on [0, 1] shown x100, so they agree to float32's rounding of a
    # value near 100 (about 1e-5), not relatively when the two arms nearly tie (d near 0)
    assert d == pytest.approx(
        100 * (m[keys.score_key(track, vb)] - base.data.metrics[keys.score_key(track, vb)]), abs=1e-4
    )
    assert tags["full"][keys.DELTA_REFERENCE_TAG] == "base"
    assert not [k for k in base.data.metrics if k.startswith("delta_vs_base")]

    # 3. media: one image per clip (step = clip), previews at the root, labelled strips, the report on top
    images = [a.path for a in c.list_artifacts(full.info.run_id, "images") if a.path.endswith(".png")]
    steps = sorted(re.search(r"\+step\+(\d+)\+", p)[1] for p in images if "consistent_1s~sample_00" in p)
    assert steps == ["0", "1"]  # a 1 s tiny video is two clips
    for r in (base, full):
        root = {a.path for a in c.list_artifacts(r.info.run_id)}
        assert {keys.preview_name(track, ".mp4"), keys.preview_name(track, ".gif")} <= root
    preview = c.download_artifacts(full.info.run_id, keys.preview_name(track, ".mp4"), str(home / "dl"))
    with av.open(preview) as v:
        assert v.streams.video[0].codec_context.name == "h264" and v.streams.video[0].height >= 256
    root = {a.path for a in c.list_artifacts(parent.info.run_id)}
    assert {"report.md", "report.html", "report"} <= root
    md = Path(c.download_artifacts(parent.info.run_id, "report.md", str(home / "dl"))).read_text()
    assert "](report/drift_" in md  # its plots stay in report/, linked from the root

    # 4. datasets and params
    inputs = {i.dataset.name: i for i in full.inputs.dataset_inputs}
    prompts = inputs[track]
    assert prompts.dataset.source_type == "local" and "synthetic_benchmark" in prompts.dataset.source
    assert [t.value for t in prompts.tags if t.key == "mlflow.data.context"] == ["evaluation"]
    table = json.loads(
        Path(c.download_artifacts(full.info.run_id, f"datasets/{track}.json", str(home / "dl"))).read_text()
    )
    sample = Path(json.loads(prompts.dataset.source)["uri"]) / table["data"][0][0]
    assert table["data"][0][table["columns"].index("prompt")] == (sample / "prompt.txt").read_text().strip()
    (training,) = [i for i in full.inputs.dataset_inputs if i.dataset.name != track]
    assert [t.value for t in training.tags if t.key == "mlflow.data.context"] == ["training"]
    assert json.loads(training.dataset.source)["uri"] == full.data.params["data.root"]
    assert [i.dataset.name for i in base.inputs.dataset_inputs] == [track]  # the base arm never trained
    assert base.data.params["arm"] == "base" and full.data.params["arm"] == "full"
    assert not [k for k in base.data.params if k.split(".")[0] in ("train", "erft", "memory", "lora", "data")]
    assert full.data.params["train.steps"] == "3" and base.data.params["generate.steps"] == "2"

    # the reports still read the run from MLflow alone
    assert main(["report", "review_mini", "--out", str(home / "again")]) == 0
    again = pd.read_csv(home / "again" / "results.csv")
    assert set(again["metric"]) == {vb, "colour_shift"}
