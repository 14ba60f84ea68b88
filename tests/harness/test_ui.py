"""The review link of `harness ui` (harness/tracking/review.py): the saved view's format against the installed MLflow
UI, the tag it writes and the link it prints, and (slow, where a Chromium is installed) what a browser
shows when it opens that link."""

import json
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from mlflow.tracking import MlflowClient

from benchmarks.browser import KEYFRAMES_LOADED, chromium, review_screenshot
from benchmarks.review_shots import KEYFRAMES_LINK, serve_ui, stop_ui
from harness.tracking import keys, review
from scoring import references as R
from tests.harness.mini import mini_experiment

KEYS = [
    "drift/consistent_50s/subject_consistency",
    "drift/consistent_50s/colour_shift",
    "drift/creative_50s/subject_consistency",
    "consistent_50s/subject_consistency",
    "consistent_50s/fvd",
    "creative_50s/subject_consistency",
    keys.DELTA_PREFIX + "consistent_50s/subject_consistency",
    keys.DELTA_LOW_PREFIX + "consistent_50s/subject_consistency",
    keys.PERCENT_PREFIX + "consistent_50s/subject_consistency",
    "train/loss",
    "memory/noise/fill",
    "memory/clean/slot_fill_mean",
    "system/cpu_utilization_percentage",
    "brand_new/thing",  # a key of a kind this version does not know: shown, between
]

# What the UI reads from a shared view (ExperimentPage: the search facets it picks, and its UI state
# fields less the ones it drops from shared views), as read from the mlflow 3.17 bundle.
FACETS = {
    "searchFilter",
    "orderByKey",
    "orderByAsc",
    "startTime",
    "lifecycleFilter",
    "modelVersionFilter",
    "datasetsFilter",
}
DROPPED = {"runsExpanded", "runsPinned", "runsHidden", "runsVisibilityMap", "autoRefreshEnabled"}


def _ui_bundle() -> str | None:
    import mlflow

    js = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    files = sorted(js.glob("*.js")) if js.is_dir() else []
    return "\n".join(f.read_text(errors="replace") for f in files) or None


def test_the_installed_mlflow_ui_reads_what_the_view_writes():
    """The view format is internal to MLflow's UI: this fails when an upgrade changes it (pyproject pins
    mlflow for that reason), naming what moved."""
    bundle = _ui_bundle()
    if bundle is None:
        pytest.skip("this MLflow has no UI bundle (mlflow-skinny?): install mlflow to check the view format")
    for literal in (
        review.VIEW_TAG_PREFIX,
        review.SHARE_KEY_PARAM,
        review.MODE_PARAM,
        review.COMPRESSED_PREFIX,
        review.WORKFLOW_PARAM,
    ):
        assert f'"{literal}"' in bundle, f"the MLflow UI no longer knows {literal!r}"
    assert f'"{review.MODEL_TRAINING}"' in bundle and '"isAccordionReordered"' in bundle
    # the UI-state fields a shared view may set: one array literal in the bundle, then the dropped ones
    arrays = [json.loads(m[0]) for m in re.finditer(r'\["selectedColumns",(?:"\w+",?)+\]', bundle)]
    fields = next((a for a in arrays if "compareRunSections" in a), None)
    dropped = re.search(r'\["runsExpanded",(?:"\w+",?)+\]', bundle)
    assert fields and dropped, (
        "the MLflow UI's list of shared view-state fields moved: re-read harness/tracking/review.py"
    )
    readable = set(fields) - set(json.loads(dropped[0]))
    state = review.view_state(KEYS, parent_run_id="p" * 32)
    assert set(state) - FACETS == readable, "the view writes fields the UI does not read, or misses some"
    assert set(json.loads(dropped[0])) == DROPPED


def test_a_view_round_trips_with_the_sections_in_review_order():
    state = review.view_state(KEYS, parent_run_id="abc123")
    value = review.view_tag_value("mini (harness review)", state, created_ms=1_700_000_000_000)
    envelope = json.loads(value)
    assert isinstance(envelope["state"], str) and envelope["createdAt"] == envelope["updatedAt"]
    view = review.read_view(value)
    assert view["name"] == "mini (harness review)" and view["state"] == state
    s = view["state"]
    # the parent's children: the arms and the references beside them, not the parent itself nor the
    # evaluator's rescore (no reference)
    assert s["searchFilter"] == f"tags.`mlflow.parentRunId` = 'abc123' AND tags.arm != '{R.RESCORE}'"
    assert s["groupBy"] == {
        "aggregateFunction": "average",
        "groupByKeys": [{"mode": "tag", "groupByData": "arm"}],
    }
    assert s["isAccordionReordered"] is True and s["runsHiddenMode"] == "SHOW_ALL"

    names = [sec["name"] for sec in s["compareRunSections"]]
    assert names[:2] == ["drift/consistent_50s", "drift/creative_50s"]
    assert names.index("consistent_50s") < names.index("delta_vs_base/consistent_50s") < names.index("train")
    assert names.index("train") < names.index(review.SYSTEM_METRICS) < names.index("memory/clean")
    assert "brand_new" in names and names.index("brand_new") < names.index(review.SYSTEM_METRICS)
    assert set(names[-2:]) == {"memory/clean", "memory/noise"}
    shown = {sec["name"]: sec["display"] for sec in s["compareRunSections"]}
    assert shown["drift/consistent_50s"] and shown["consistent_50s"] and shown["train"] and shown["brand_new"]
    assert (
        not shown["memory/noise"] and not shown[review.SYSTEM_METRICS] and not shown["percent/consistent_50s"]
    )

    by_key = {c["metricKey"]: c for c in s["compareRunCharts"]}
    assert set(by_key) == set(KEYS)
    uuid_of = {sec["name"]: sec["uuid"] for sec in s["compareRunSections"]}
    for key, card in by_key.items():
        assert card["metricSectionId"] == uuid_of[review.section_name(key)]
    assert by_key["drift/consistent_50s/subject_consistency"]["type"] == "LINE"
    assert by_key["consistent_50s/fvd"]["type"] == "BAR"
    assert by_key["system/cpu_utilization_percentage"]["xAxisKey"] == "time"

    assert s["selectedColumns"] == [
        "metrics.`consistent_50s/fvd`",
        "metrics.`consistent_50s/subject_consistency`",
        "metrics.`creative_50s/subject_consistency`",
        "metrics.`delta_vs_base/consistent_50s/subject_consistency`",
    ]
    assert set(s["columnWidths"]) == set(s["columnOrder"]) == set(s["selectedColumns"])


ARMS = ["base", "full", "no_eimg"]
DRIFT_100S = [f"drift/consistent_100s/{m}" for m in ("aesthetic_quality", "background_consistency")]


def test_legends_wrap_as_measured_in_the_browser():
    # measured in Chromium on ablation_eimg's review view (1600 px window, two cards a row): the legend
    # box is 480 px wide and two lines tall, and each arm's item `<arm> (<key>)` (257-331 px) takes a
    # line of its own, so the third arm is out of sight; across the page they fit
    labels = review.legend_labels(DRIFT_100S[0], ARMS)
    assert labels[2] == "no_eimg (drift/consistent_100s/aesthetic_quality)"
    assert review.legend_lines(labels, 480) == 3 > review.LEGEND_LINES
    assert review.legend_lines(labels, 960) <= review.LEGEND_LINES
    assert review.legend_labels("consistent_100s/colour_shift", ARMS) == ARMS  # a bar chart: the arm alone
    assert review.legend_lines([], 480) == 0


def test_cards_are_wide_enough_for_every_arm_in_the_legend():
    # titles alone would allow two cards a row (keys of 40-45 characters); three arms need the width
    assert review.columns_for(DRIFT_100S) == 2
    assert review.columns_for(DRIFT_100S, ARMS) == 1
    assert review.columns_for(DRIFT_100S, ARMS[:2]) == 2  # two arms: a line each
    assert review.columns_for(["consistent_100s/colour_shift"], ARMS) == 3  # bars: short labels
    # more arms than a card across the page can list: one card a row, the best the UI allows
    assert review.columns_for(DRIFT_100S, [f"arm_{i:02d}_with_a_long_name" for i in range(10)]) == 1
    state = review.view_state([*DRIFT_100S, "consistent_100s/colour_shift"], legend_names=ARMS * 2)
    columns = {sec["name"]: sec["columns"] for sec in state["compareRunSections"]}
    assert columns == {"drift/consistent_100s": 1, "consistent_100s": 3}


def test_the_primary_metrics_chart_comes_first_in_its_section_and_the_run_list_is_hidden():
    keys_ = [f"drift/consistent_100s/{m}" for m in ("aesthetic_quality", "colour_shift", "psnr")]
    assert review.primary_first(keys_, "colour_shift") == [keys_[1], keys_[0], keys_[2]]
    assert review.primary_first(keys_, None) == keys_ == review.primary_first(keys_, "fvd")
    state = review.view_state(
        [*keys_, "consistent_100s/colour_shift", "consistent_100s/psnr"], primary="psnr"
    )
    charts = {}
    for card in state["compareRunCharts"]:
        charts.setdefault(card["metricSectionId"], []).append(card["metricKey"])
    assert [cards[0] for cards in charts.values()] == ["drift/consistent_100s/psnr", "consistent_100s/psnr"]
    # laid out for 1400 px with the Assistant panel open: the charts get the width the run list took
    assert state["runListHidden"] is True


def test_the_summary_comes_first_in_the_table_and_the_runs_in_review_order():
    tags = {
        keys.KIND_TAG: len(keys.KIND_REFERENCE),
        **dict.fromkeys(keys.summary_keys("consistent_50s", "fvd"), 40),
    }
    state = review.view_state([*KEYS, keys.REVIEW_ORDER], parent_run_id="p", tag_columns=tags)
    first = [f"tags.`{t}`" for t in tags]
    assert state["selectedColumns"][:3] == state["columnOrder"][:3] == first
    assert state["selectedColumns"][3:] == review.score_columns(KEYS)  # then the final scores
    assert state["columnWidths"][first[1]] == 7 * 40 + 24  # the whole text of a summary
    assert state["orderByKey"] == f"metrics.`{keys.REVIEW_ORDER}`"  # the base, the arms, the references
    (order,) = [c for c in state["compareRunCharts"] if c.get("metricKey") == keys.REVIEW_ORDER]
    assert order["deleted"] and order["type"] == "LINE"
    # every group charted: the arms and the references beside them
    many = [f"arm_{i}" for i in 14 * [0] + list(range(14))]
    charts = review.view_state(KEYS, parent_run_id="p", legend_names=many)["compareRunCharts"]
    assert {c["runsCountToCompare"] for c in charts} == {14}
    assert review.view_state(KEYS, parent_run_id="p")["orderByKey"] == "tags.`mlflow.runName`"


def test_section_names_follow_the_ui():
    assert review.section_name("drift/consistent_50s/fvd") == "drift/consistent_50s"
    assert review.section_name("objective") == review.MODEL_METRICS
    assert review.section_name("system/cpu_utilization_percentage") == review.SYSTEM_METRICS
    assert review.section_name("system/gpu_0/memory") == "system/gpu_0"
    assert review.section_name("memory/noise/slot_fill_mean") == "memory/noise"


def test_a_large_view_is_compressed_and_then_leaves_collapsed_charts_to_the_ui():
    many = KEYS + [f"memory/noise/fill/slot_{i:03d}" for i in range(200)]
    value = review.view_tag_value("big", review.view_state(many, parent_run_id="p"), created_ms=1)
    assert len(value) <= review.MAX_TAG_CHARS
    assert json.loads(value)["state"].startswith(review.COMPRESSED_PREFIX)
    assert len(review.read_view(value)["state"]["compareRunCharts"]) == len(many)

    huge = KEYS + [f"memory/noise/fill/slot_{i:04d}_{i * 7919 % 10007}" for i in range(3000)]
    state = review.read_view(
        review.view_tag_value("huge", review.view_state(huge, parent_run_id="p"), created_ms=1)
    )["state"]
    charted = {c["metricKey"] for c in state["compareRunCharts"]}
    assert "drift/consistent_50s/subject_consistency" in charted and "train/loss" in charted
    assert not any(k.startswith("memory/") for k in charted)  # the UI adds them to their sections
    assert "memory/noise/fill" in {sec["name"] for sec in state["compareRunSections"]}


def test_the_clip_index_becomes_the_drift_x_axis_when_runs_log_it(monkeypatch):
    monkeypatch.setattr(review, "CLIP_KEY", "clip")
    state = review.view_state([*KEYS, "clip"], parent_run_id="p")
    by_key = {c["metricKey"]: c for c in state["compareRunCharts"]}
    drift = by_key["drift/consistent_50s/subject_consistency"]
    assert drift["xAxisKey"] == "metric" and drift["selectedXAxisMetricKey"] == "clip"
    assert not drift["useGlobalXaxisKey"] and by_key["clip"]["deleted"]
    assert by_key["train/loss"]["xAxisKey"] == "step"
    plain = {c["metricKey"]: c for c in review.view_state(KEYS, parent_run_id="p")["compareRunCharts"]}
    assert plain["drift/consistent_50s/subject_consistency"]["xAxisKey"] == "step"


def _store(home) -> MlflowClient:
    return MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")


def _parent_with_arms(c: MlflowClient, exp_id: str, name: str, role: str = "parent", **tags) -> str:
    parent = c.create_run(exp_id, run_name=name, tags={"role": role, **tags}).info.run_id
    for arm in ("base", "full"):
        child = c.create_run(
            exp_id, run_name=f"{arm}-seed0", tags={keys.PARENT_TAG: parent, "arm": arm, "role": "arm"}
        ).info.run_id
        c.log_metric(child, "consistent_1s/subject_consistency", 0.5)
        for step in range(3):
            c.log_metric(child, "drift/consistent_1s/subject_consistency", 0.5 + step / 10, step=step)
        c.log_param(child, "erft.p_img", "0.9")
        c.set_terminated(child)
    c.set_terminated(parent)
    return parent


def test_save_view_tags_the_experiment_and_links_model_training(home):
    c = _store(home)
    exp_id = c.create_experiment("mini")
    assert review.save_view(c, exp_id) is None  # no run yet
    older = _parent_with_arms(c, exp_id, "mini 1")
    time.sleep(0.01)
    latest = _parent_with_arms(c, exp_id, "mini 2")
    links = review.save_view(c, exp_id, "http://127.0.0.1:5001/")
    url = links.review
    assert links.keyframes is None  # these runs logged no images

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://127.0.0.1:5001/"
    route, _, query = parts.fragment.partition("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    assert route == f"/experiments/{exp_id}/runs"
    assert params == {
        "viewStateShareKey": f"harness-{latest}",
        "compareRunsMode": "CHART",
        "workflowType": "machine_learning",
    }
    value = c.get_experiment(exp_id).tags[f"mlflow.sharedViewState.harness-{latest}"]
    view = review.read_view(value)
    assert view["name"] == "mini 2 (harness review)" and latest in view["state"]["searchFilter"]
    assert "metrics.`consistent_1s/subject_consistency`" in view["state"]["selectedColumns"]
    assert older not in json.dumps(view)

    # the same parent again: the same tag; more parents: only the newest KEEP_VIEWS harness views stay,
    # and a view someone saved in the UI is never touched
    c.set_experiment_tag(exp_id, "mlflow.sharedViewState.1700000000000abcdefgh", value)
    assert review.save_view(c, exp_id).review == url.replace("5001", "5000")
    for i in range(review.KEEP_VIEWS + 1):
        review.save_view(c, exp_id, parent=c.get_run(_parent_with_arms(c, exp_id, f"mini {3 + i}")))
    views = [k for k in c.get_experiment(exp_id).tags if k.startswith(review.VIEW_TAG_PREFIX)]
    assert len([k for k in views if review.VIEW_ID_PREFIX in k]) == review.KEEP_VIEWS
    assert "mlflow.sharedViewState.1700000000000abcdefgh" in views


def test_keyframes_get_a_view_of_their_own_with_the_grid_at_the_last_clip(home):
    import numpy as np

    c = _store(home)
    # the images go under the test's folder (a bare sqlite store would put them in ./mlruns)
    exp_id = c.create_experiment("mini", artifact_location=(home / "artifacts").as_uri())
    parent = c.create_run(exp_id, run_name="mini 1", tags={"role": "parent"}).info.run_id
    for arm in ("base", "full"):
        for seed in ("1", "0"):
            child = c.create_run(
                exp_id, run_name=f"{arm}-seed{seed}", tags={keys.PARENT_TAG: parent, "arm": arm, "seed": seed}
            ).info.run_id
            c.log_metric(child, "consistent_1s/subject_consistency", 0.5)
            for sample in ("sample_b", "sample_a"):
                for clip in range(3):
                    frame = np.full((4, 4, 3), 40 * clip, dtype=np.uint8)
                    c.log_image(child, frame, key=keys.image_key("consistent_1s", sample), step=clip)
    assert review.logged_images(c, child) == {"consistent_1s/sample_a": 2, "consistent_1s/sample_b": 2}

    links = review.save_view(c, exp_id)
    assert parse_qs(urlsplit(links.keyframes).fragment.partition("?")[2])["viewStateShareKey"] == [
        f"harness-{parent}-keyframes"
    ]
    tags = c.get_experiment(exp_id).tags
    frames = review.read_view(tags[f"mlflow.sharedViewState.harness-{parent}-keyframes"])
    state = frames["state"]
    assert frames["name"] == "mini 1 (keyframes, seed 0)"
    # one seed, every arm, ungrouped: the UI shows images of runs (not of groups), one column per run
    assert state["searchFilter"] == (
        f"tags.`mlflow.parentRunId` = '{parent}' AND tags.arm != '{R.RESCORE}' AND tags.role != 'reference' "
        "AND tags.seed = '0'"
    )
    assert state["groupBy"] is None
    first, *rest = state["compareRunSections"]
    assert first["name"] == review.GRID_SECTION and first["display"] and not any(s["display"] for s in rest)
    assert first["columns"] == 1 and first["cardHeight"] == review.GRID_HEAD_PX + 2 * review.GRID_ROW_PX
    grid = state["compareRunCharts"][0]
    assert grid["type"] == "IMAGE" and grid["metricSectionId"] == first["uuid"]
    assert grid["imageKeys"] == ["consistent_1s/sample_a", "consistent_1s/sample_b"] and grid["step"] == 2
    each = [card for card in state["compareRunCharts"][1:] if card["type"] == "IMAGE"]
    assert [card["imageKeys"] for card in each] == [["consistent_1s/sample_a"], ["consistent_1s/sample_b"]]

    # the grouped review view lists the image cards deleted: a group has no images to show
    grouped = review.read_view(tags[f"mlflow.sharedViewState.harness-{parent}"])["state"]
    images = [card for card in grouped["compareRunCharts"] if card["type"] == "IMAGE"]
    assert len(images) == 2 and all(card["deleted"] for card in images)


def test_sweeps_are_not_grouped_and_show_the_searched_params(home):
    c = _store(home)
    exp_id = c.create_experiment("injection_probs")
    parent = _parent_with_arms(c, exp_id, "sweep", role="sweep", **{keys.SEARCHED_TAG: "erft.p_img"})
    review.save_view(c, exp_id)
    state = review.read_view(c.get_experiment(exp_id).tags[f"mlflow.sharedViewState.harness-{parent}"])[
        "state"
    ]
    assert state["groupBy"] is None and "params.`erft.p_img`" in state["selectedColumns"]

    lone = c.create_run(exp_id, run_name="pretrain", tags={"role": "parent"}).info.run_id
    c.log_metric(lone, "eval/psnr", 20.0)
    review.save_view(c, exp_id)  # a parent without children: the view lists the run itself
    state = review.read_view(c.get_experiment(exp_id).tags[f"mlflow.sharedViewState.harness-{lone}"])["state"]
    assert state["searchFilter"] == f"attributes.run_id = '{lone}'"


def test_review_links_name_the_experiments(home):
    c = _store(home)
    exp_id = c.create_experiment("mini")
    c.create_experiment("empty")
    _parent_with_arms(c, exp_id, "mini 1")
    assert [(name, links.keyframes) for name, links in review.review_links(c)] == [("mini", None)]
    with pytest.raises(LookupError, match="no MLflow experiment named 'nope'.*mini"):
        review.review_links(c, experiment="nope")


# -- a browser on the landing link (slow: a tiny run first) -----------------------------------------

EXPERIMENT = mini_experiment("mini", "two arms, for the review link", limit=2)  # 2 samples: a grid
WIDTH, HEIGHT = 1600, 1000


def _serve_ui(home: Path, log: Path) -> tuple[subprocess.Popen, str, str]:
    """`harness ui` on a free port -> (process, the review and keyframes links it printed), once the
    server answers."""
    from harness.run.launch import child_env, free_port

    port = free_port()
    env = {**child_env(), "HARNESS_HOME": str(home / "ws"), "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = serve_ui(env, port, log)
    link = re.search(r"^  mini: (\S+)$", log.read_text(), re.M)
    frames = KEYFRAMES_LINK.search(log.read_text())
    assert proc.poll() is None and link and frames, log.read_text()[-3000:]
    return proc, link[1], frames[1]


@pytest.mark.slow
def test_the_review_link_opens_model_training_with_the_arms_charted(home, capsys):
    exe = chromium()
    if exe is None:
        pytest.skip(
            "no chromium on PATH: apt-get install chromium (or put chromium or google-chrome on PATH)"
        )
    from PIL import Image, ImageStat

    from cli import main

    (home / "mini.yaml").write_text(EXPERIMENT)
    assert main(["run", str(home / "mini.yaml")]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"review in the MLflow UI: http://127\.0\.0\.1:5000/#/experiments/\d+/runs\?\S*"
                     r"workflowType=machine_learning", printed), printed[-2000:]  # fmt: skip

    proc, url, keyframes_url = _serve_ui(home, home / "ui.log")
    try:
        png, text, location = review_screenshot(url, exe)
        # the keyframes view: the grid of samples (rows) x arms (columns), images loaded
        frames_png, frames_text, _ = review_screenshot(
            keyframes_url, exe, ready=f"{KEYFRAMES_LOADED}.length >= 4"
        )
        # the same results as a committed bundle, imported back: the review view works on it as on the run
        bundle = home / "results" / "mini"
        assert main(["export", str(home / "mini.yaml"), "--to", str(bundle)]) == 0
        capsys.readouterr()
        assert main(["import", str(bundle), "--ui-url", url.split("/#", 1)[0]]) == 0
        imported = re.search(r"review in the MLflow UI: (\S+)", capsys.readouterr().out)[1]
        imported_png, imported_text, _ = review_screenshot(imported, exe)
    finally:
        stop_ui(proc)
    (home / "review.png").write_bytes(png)
    (home / "keyframes.png").write_bytes(frames_png)
    for expected in (review.GRID_SECTION, "consistent_1s/", "base-seed0", "full-seed0"):
        assert expected in frames_text, (
            f"{expected!r} not on the page: {home / 'keyframes.png'}\n{frames_text[:3000]}"
        )
    assert "No images found" not in frames_text
    image = Image.open(home / "review.png")
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    spread = ImageStat.Stat(image.convert("L")).stddev[0]
    assert spread > 10, f"a blank page (grey-level sd {spread:.1f}): {home / 'review.png'}"
    # Model training's runs page with the shared view applied, the arms as groups, their charts drawn;
    # not the GenAI traces page, not "No charts"
    assert "/runs" in location and "traces" not in location, location
    # (the run list is hidden: the legends name the groups)
    for expected in ("You're viewing a shared view", "Group by: arm", "drift/consistent_1s",
                     "drift/consistent_1s/subject_consistency", "base (drift/consistent_1s",
                     "full (drift/consistent_1s"):  # fmt: skip
        assert expected in text, f"{expected!r} not on the page: {home / 'review.png'}\n{text[:3000]}"
    assert "No charts" not in text and "Additional runs" not in text
    assert "CUT TITLE" not in text, [line for line in text.splitlines() if "CUT TITLE" in line]
    sections = [line for line in text.splitlines() if line.startswith(("drift/", "memory/", "train"))]
    assert sections[0].startswith("drift/") and sections[-1].startswith("memory/"), sections
    (home / "imported.png").write_bytes(imported_png)
    for expected in ("You're viewing a shared view", "Group by: arm", "base (drift/consistent_1s",
                     "full (drift/consistent_1s", "drift/consistent_1s/subject_consistency"):  # fmt: skip
        assert expected in imported_text, f"{expected!r} not on the page: {home / 'imported.png'}"
    assert "No charts" not in imported_text


@pytest.mark.slow
def test_a_committed_bundle_shows_every_arm_in_its_legends_and_whole_titles(tmp_path):
    """results/world2/ablation_eimg (toy world 2's demo bundle) imported fresh (three arms and their
    references, keys up to 51 characters) and opened at 1400 px with MLflow's Assistant panel open, as a
    fresh browser shows it. The review link opens on the summary table: every arm and reference, each
    reference said to be one (no model), the primary's mean per track with enough digits to tell them
    apart. The charts link: the charts drawn on the first screen list all three arms in their legends
    (the references after them, out of sight where the legend is full) and show their whole titles, the
    primary metric's chart (colour_shift) first. With the cards two a row, or beside the run list,
    no_eimg was out of sight in the drift charts' legends."""
    exe = chromium()
    if exe is None:
        pytest.skip("no chromium on PATH: apt-get install chromium")
    from benchmarks.review_shots import shoot_import

    shots = shoot_import(Path(__file__).resolve().parents[2] / "results" / "world2" / "ablation_eimg", exe)
    (png, summary), (charts_png, text) = shots
    (tmp_path / "review.png").write_bytes(png)
    (tmp_path / "charts.png").write_bytes(charts_png)
    head = summary.index(keys.KIND_TAG)
    for expected in ("base-seed0", "full-seed0", "no_eimg-seed0", f"{R.FROZEN}-seed0", f"{R.LOOP}-seed0",
                     keys.KIND_REFERENCE, keys.KIND_BASE, "summary/consistent_100s/colour_shift"):  # fmt: skip
        assert expected in summary, f"{expected!r} not in the table: {tmp_path / 'review.png'}"
    assert head < summary.index("summary/consistent_100s/colour_shift")
    means = re.findall(r"^([-+]?\d+\.\d+) \[", summary, re.M)
    assert len(means) >= 6 and all(len(m.replace(".", "").lstrip("0")) >= 4 for m in means), means
    for arm in ("base", "full", "no_eimg"):
        assert f"{arm} (drift/consistent_100s/" in text, f"{arm} not in a legend: {tmp_path / 'charts.png'}"
    hidden = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("HIDDEN LEGEND")]
    assert not [h for h in hidden if h.split(" (")[0] in ("base", "full", "no_eimg")], hidden
    assert "CUT TITLE" not in text, [line for line in text.splitlines() if "CUT TITLE" in line]
    assert text.index("drift/consistent_100s/colour_shift") < text.index(
        "drift/consistent_100s/aesthetic_quality"
    )
