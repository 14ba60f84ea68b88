"""Review links for the MLflow UI: a saved view of an experiment's latest parent run.

A fresh browser opens an experiment in MLflow 3's GenAI mode (an empty traces page), and the runs
page it falls back to knows nothing of arms: the parent run starts collapsed and has no metrics of its
own, so the chart view says "No charts", the table shows Dataset / Source / Models instead of scores,
and the drift charts sit among the replay-memory ones in alphabetical order. `harness ui` and the end
of `harness run` therefore write a *saved view* and print a link that opens it in Model training mode.

The saved-view format is internal to MLflow's JavaScript UI (no Python API writes it); what follows
was read from the bundle of mlflow 3.17 (`mlflow/server/js/build/static/js`), which is why
pyproject.toml pins mlflow to 3.17.*. Re-check it there before moving the pin.

  tag       experiment tag `mlflow.sharedViewState.<id>` (the UI's "Views" menu lists every such tag,
            newest first; it refuses to save more than 40 itself; MLflow caps a tag value at 20,000
            characters)
  link      `<server>/#/experiments/<experiment id>/runs?viewStateShareKey=<id>`, plus
            `compareRunsMode=CHART|TABLE` (the runs page's mode) and `workflowType=machine_learning`
            (Model training; without it the browser's own GenAI / Model training choice wins, and the
            experiment's `mlflow.experimentKind` tag does not override that choice)
  value     JSON envelope {"name", "createdAt", "updatedAt" (ms since the epoch), "state"}, where
            `state` is itself a JSON string, optionally zlib-compressed and base64-encoded behind the
            prefix "deflate;". The UI also reads a bare state (no envelope), as older MLflow wrote it.
  state     search facets: searchFilter, orderByKey, orderByAsc, startTime, lifecycleFilter,
            modelVersionFilter, datasetsFilter; and UI state: selectedColumns, columnOrder,
            columnWidths, runsHiddenMode, compareRunCharts, compareRunSections, viewMaximized,
            runListHidden, isAccordionReordered, groupBy, groupsExpanded, useGroupedValuesInCharts,
            hideEmptyCharts, globalLineChartConfig, chartsSearchFilter. The UI drops runsExpanded,
            runsPinned, runsHidden, runsVisibilityMap and autoRefreshEnabled from a shared view, so a
            view cannot expand a parent row or hide a run by id: it groups the runs by their `arm` tag
            instead (one chart line per arm, the mean over seeds with its min-max band) and keeps the
            parent out with its search filter (the children of one parent run: the arms and the
            references beside them). orderByKey `metrics.`<key>`` (or params) also orders the groups,
            by their aggregated value: the runs' `review_order` lists the base, the arms, then the
            references, in the table and in every chart's legend.
  numbers   the charts write a value with two decimals (toFixed(2): bars, difference view), the table
            with three below 10 (Utils.formatMetric); a tag's text is shown whole. The review's summary
            (the primary per arm and reference, harness/tracking/deltas.py) is therefore tags, the
            table's first columns, and the review link opens the table (`compareRunsMode=TABLE`).
            Every chart card draws `runsCountToCompare` runs or groups (the UI's default 10).
  columns   `metrics.`<key>``, `params.`<key>``, `tags.`<key>``, `attributes.`<name>``
  groupBy   {"aggregateFunction": "average"|"min"|"max", "groupByKeys": [{"mode": "tag"|"param"|
            "dataset", "groupByData": <key>}]}
  sections  [{"uuid", "name", "display" (expanded), "isReordered", "deleted", "isGenerated", and
            optionally "columns" (cards per row, 3) and "cardHeight" (px, 360)}]; a chart
            belongs to the section whose uuid is its `metricSectionId`. A metric's section is its key
            without the last `/` part ("drift/consistent_50s"), "Model metrics" for keys without `/`,
            "System metrics" for `system/<name>`. Unless isAccordionReordered is true the UI sorts the
            sections by name, so this view sets it. Charts for keys the view does not list (new keys,
            images) are added by the UI to the section of their name, a new section at the end.
  charts    LINE {metricKey, xAxisKey: "step"|"time"|"time-relative"|"metric", selectedXAxisMetricKey,
            lineSmoothness, scaleType, ...} or BAR {metricKey}; both with uuid, type,
            runsCountToCompare, metricSectionId, deleted, isGenerated, displayName. The experiment's
            chart view titles a chart with its metric key (it ignores displayName there) and a line
            chart's x axis "Step" (or Time, or the x metric's key): neither takes a free title.

  images    IMAGE {imageKeys, step, showRunParams}: one key -> the runs' images of that key with a
            step slider; several keys -> a grid, a row per key and a column per run (the runs tagged
            `mlflow.loggedImages`, at most 10). Images are artifacts `images/<key, / as ~>+step+<k>+...`.
            A grouped view shows no images (groups carry no tags): the review view lists the image cards
            deleted, and a second view of the same children (`<view id>-keyframes`), ungrouped and one
            seed, opens on the grid of samples x arms at the last clip.

Key names come from harness/tracking/keys.py; keys of a kind this module does not know go into the sections
between the scores and the system metrics, expanded, so new keys show up rather than vanish.
"""

from __future__ import annotations

import base64
import json
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlencode

from harness.tracking import keys
from scoring.references import RESCORE

VIEW_TAG_PREFIX = "mlflow.sharedViewState."  # + view id: an experiment tag
SHARE_KEY_PARAM = "viewStateShareKey"
WORKFLOW_PARAM, MODEL_TRAINING = "workflowType", "machine_learning"
MODE_PARAM = "compareRunsMode"  # CHART (charts beside the run list) or TABLE (the runs table)
COMPRESSED_PREFIX = "deflate;"
MAX_TAG_CHARS = 20_000  # MLflow's limit on an experiment tag value (and the UI's on a saved view)
VIEW_ID_PREFIX = "harness-"  # views this module writes (and may delete); the UI's own ids are numbers
KEEP_VIEWS = 10  # harness views kept per experiment (five parents' review and keyframes views): the UI
# lists every view, and stops saving at 40
KEYFRAMES_VIEW = "-keyframes"  # + to a parent's view id: its keyframes view
GRID_SECTION = "keyframes: samples x arms"  # the keyframes view's image grid, first and open
PER_SAMPLE_SECTION = "keyframes: one sample, every arm"  # one image card per sample, collapsed
MAX_GRID_RUNS = 10  # the UI's image cards show the images of at most 10 runs (its constant)
MAX_GRID_KEYS = 24  # rows of the grid (samples x tracks); the per-sample cards list every key
GRID_HEAD_PX, GRID_ROW_PX, GRID_MAX_HEIGHT_PX = 130, 130, 900  # the grid card's height (section field)
DEFAULT_UI_URL = "http://127.0.0.1:5000"  # where `harness ui` serves by default

MODEL_METRICS, SYSTEM_METRICS = "Model metrics", "System metrics"  # the UI's names of two sections
SYSTEM_PREFIX = "system/"  # MLflow's system metrics
PARENT_RUN_TAG = keys.PARENT_TAG
# A drift curve's step is the clip index, but MLflow titles a line chart's x axis "Step" unless a
# metric is the x axis. Runs that log the clip index as a metric (value k at step k) under
# `keys.CLIP_KEY` get it as the drift charts' x axis, titled with its name.
CLIP_KEY = keys.CLIP_KEY

# Where a family of keys goes: (rank in the section order, expanded, line chart). Ranks leave room for
# families added later; unknown keys get OTHER.
DRIFT, SCORES, DELTA, PERCENT, INTERVALS, OTHER, CLIP, SYSTEM, MEMORY = (
    (0, True, True),  # drift/<track>/<metric>: per clip; what a reviewer looks at first
    (1, True, False),  # <track>/<metric>: final scores
    (2, True, False),  # delta_vs_base/<track>/<metric>: against the reference arm
    (3, False, False),  # percent/<track>/<metric>: the scores again, in percent
    (4, False, False),  # delta_vs_base_lo/_hi/_n: the deltas' intervals and sample counts
    (5, True, False),  # train/, probe/, objective and anything new (the UI makes lines of curves)
    (7, False, True),  # the clip index (CLIP_KEY), the drift charts' x axis, and the runs' order in the
    # review (keys.REVIEW_ORDER): no chart of their own
    (8, False, True),  # system/: MLflow's system metrics, against wall time
    (9, False, True),  # memory/: replay-memory statistics, last
)


def family(key: str) -> tuple[int, bool, bool]:
    """The (rank, expanded, line chart) of a metric key (see the constants above)."""
    if (CLIP_KEY is not None and key == CLIP_KEY) or key == keys.REVIEW_ORDER:
        return CLIP
    if key.startswith(keys.DRIFT_PREFIX):
        return DRIFT
    if keys.split_score_key(key) is not None:
        return SCORES
    if key.startswith(keys.DELTA_PREFIX):
        return DELTA
    if key.startswith(keys.PERCENT_PREFIX):
        return PERCENT
    if key.startswith((keys.DELTA_LOW_PREFIX, keys.DELTA_HIGH_PREFIX, keys.DELTA_N_PREFIX)):
        return INTERVALS
    if key.startswith(keys.MEMORY_PREFIX):
        return MEMORY
    if key.startswith(SYSTEM_PREFIX):
        return SYSTEM
    if key.startswith(("train/", keys.PROBE_PREFIX)):
        return (OTHER[0], True, True)  # curves per training step
    return OTHER


def section_name(key: str) -> str:
    """The chart section the UI puts `key` in (its `extractChartSectionName`)."""
    head = key.rsplit("/", 1)[0] if "/" in key else ""
    if head == "":
        return MODEL_METRICS
    if head + "/" == SYSTEM_PREFIX:
        return SYSTEM_METRICS
    return head


@dataclass(frozen=True)
class Section:
    name: str
    expanded: bool
    keys: tuple[str, ...]


def sections(metric_keys: Iterable[str]) -> list[Section]:
    """The metric keys as chart sections in review order: drift, scores, differences, other curves,
    then collapsed: percent scores, intervals, system metrics and replay memory (last)."""
    by_name: dict[str, list[str]] = {}
    rank: dict[str, tuple[int, bool]] = {}  # section -> (rank, expanded) of its first family
    for key in sorted(set(metric_keys)):
        name = section_name(key)
        by_name.setdefault(name, []).append(key)
        rank[name] = min(rank.get(name, family(key)[:2]), family(key)[:2])
    order = sorted(by_name, key=lambda n: (rank[n][0], n))
    return [Section(n, rank[n][1], tuple(by_name[n])) for n in order]


# The review view is laid out for a 1400 px window with MLflow's Assistant panel open (it opens by
# itself in a fresh browser and takes 350 px; the link cannot close it: its state is the browser's
# local storage). Beside the run list the charts would get 460 px, where a legend holds no more than
# two arms' `<arm> (<key>)` items, so the view opens with the run list hidden (its toggle shows it) and
# the legends name the arms, in their colours.
RUN_LIST_HIDDEN = True
# A chart card is titled with its whole metric key, cut with an ellipsis where the card is narrower:
# at the UI's three cards per row a card holds about TITLE_CHARS_PER_ROW / 3 characters of title on
# a 1600 px window (measured in the browser test), so a section whose keys are longer gets fewer, wider
# cards.
TITLE_CHARS_PER_ROW = 100
MAX_COLUMNS, CARD_HEIGHT_PX = 3, 360  # the UI's defaults
CHART_RUNS = 10  # the runs (or groups) a chart draws, the UI's default; more where the view has more


# Under each chart MLflow 3.17 draws a legend box of a fixed 32 px (100 px in full screen; no view field
# changes it): two lines of items that wrap, each a 28 px line sample and the label in 12 px type, 16 px
# apart. A line chart's label is `<arm> (<metric key>)`, a bar chart's `<arm>`. Items past the second
# line are hidden behind a scrollbar, so a section's cards are made wide enough for every arm's item to
# fit on the two lines. Measured in Chromium at a 1600 px window: the legend box is 480 px wide at two
# cards per row, a label 5.2-5.6 px a character (6 here, to be safe).
LEGEND_LINES = 2
LEGEND_ROW_PX = 960  # the legend box's width at one card per row (2 x 480 px)
LEGEND_PX_PER_CHAR, LEGEND_ITEM_PX, LEGEND_GAP_PX = 6, 28, 16


def legend_lines(labels: Iterable[str], width_px: float) -> int:
    """The lines a legend of these labels wraps onto in a box `width_px` wide (the UI's flex-wrap: an
    item goes on the current line if it fits, else starts the next; a label wider than the box is cut
    with an ellipsis on a line of its own)."""
    lines, used = 0, None
    for label in labels:
        item = min(width_px, LEGEND_ITEM_PX + LEGEND_PX_PER_CHAR * len(label))
        if used is None or used + LEGEND_GAP_PX + item > width_px:
            lines, used = lines + 1, item
        else:
            used += LEGEND_GAP_PX + item
    return lines


def legend_labels(key: str, names: Iterable[str]) -> list[str]:
    """The legend of `key`'s chart for runs (or groups) with these names, as the UI writes it."""
    return [f"{n} ({key})" if family(key)[2] else n for n in names]


def columns_for(metric_keys: Iterable[str], legend_names: Iterable[str] = ()) -> int:
    """Cards per row for a section whose charts are titled with these keys: as many as keep the
    longest title whole and every legend item (one per name in `legend_names`: the arms, or the runs
    when ungrouped) on the legend's two lines, at most the UI's three; one where even a card across
    the page cannot show every item (docs/guides/review.md says how to see them then)."""
    metric_keys, names = list(metric_keys), sorted(set(legend_names))
    longest = max((len(k) for k in metric_keys), default=0)
    for columns in range(max(1, min(MAX_COLUMNS, TITLE_CHARS_PER_ROW // (longest + 1))), 1, -1):
        width = LEGEND_ROW_PX / columns
        if all(legend_lines(legend_labels(k, names), width) <= LEGEND_LINES for k in metric_keys):
            return columns
    return 1


def primary_first(metric_keys: Iterable[str], primary: str | None) -> list[str]:
    """The keys of a section with the primary metric's (`.../<primary>`) first, the rest in order."""
    metric_keys = list(metric_keys)
    mine = [k for k in metric_keys if primary and k.rsplit("/", 1)[-1] == primary]
    return mine + [k for k in metric_keys if k not in mine]


def _chart(
    key: str, section_uuid: str, uuid: str, x_metric: str | None = None, runs: int = CHART_RUNS
) -> dict:
    """One chart card as the UI serialises it (fields that JavaScript leaves undefined are absent).
    x_metric: a metric whose value at each step is the x coordinate (the axis is titled with its name);
    runs: how many runs (or groups) it charts, in the view's order."""
    _, _, line = family(key)
    card = {
        "uuid": uuid,
        "type": "LINE" if line else "BAR",
        "runsCountToCompare": runs,
        "metricSectionId": section_uuid,
        "deleted": False,
        "isGenerated": True,  # the UI may still turn a bar into a line when the data has steps
        "metricKey": key,
        "displayName": key.rsplit("/", 1)[-1],  # unused by the experiment's chart view (titles: keys)
    }
    if line:
        system = key.startswith(SYSTEM_PREFIX)
        card.update(
            lineSmoothness=0,
            xAxisScaleType="linear",
            scaleType="linear",
            range={},
            xAxisKey="time" if system else "metric" if x_metric else "step",
            selectedXAxisMetricKey=x_metric or "",
            yAxisKey="metric",
            yAxisExpressions=[],
            ignoreOutliers=False,
            useGlobalXaxisKey=not (system or x_metric),
            useGlobalLineSmoothing=True,
        )
    return card


def _image_card(
    image_keys: Iterable[str], section_uuid: str, uuid: str, step: int, deleted: bool = False
) -> dict:
    """An image card: one key (that sample in every run, a step slider) or several (a grid)."""
    return {
        "uuid": uuid,
        "type": "IMAGE",
        "runsCountToCompare": MAX_GRID_RUNS,
        "metricSectionId": section_uuid,
        "deleted": deleted,
        "isGenerated": True,
        "imageKeys": list(image_keys),
        "step": step,
        "showRunParams": False,  # the column heads: run names, not every parameter
    }


def _column(kind: str, key: str) -> str:
    return f"{kind}.`{key}`"


def score_columns(metric_keys: Iterable[str]) -> list[str]:
    """The runs table's columns: final scores `<track>/<metric>` by track, then their differences
    against the reference arm (`delta_vs_base/...`) where the runs have them."""
    found = set(metric_keys)
    scores = sorted(k for k in found if keys.split_score_key(k) is not None)
    deltas = [keys.DELTA_PREFIX + k for k in scores if keys.DELTA_PREFIX + k in found]
    return [_column("metrics", k) for k in scores + deltas]


def view_state(
    metric_keys: Iterable[str],
    *,
    parent_run_id: str | None = None,
    run_id: str | None = None,
    group_by_tag: str | None = "arm",
    param_columns: Iterable[str] = (),
    image_keys: Iterable[str] = (),
    legend_names: Iterable[str] = (),
    primary: str | None = None,
    tag_columns: dict[str, int] | None = None,
) -> dict:
    """The state of a saved view (what the UI's Share button stores) for runs with these metric keys.

    parent_run_id: the view lists that parent's child runs only; run_id: that one run (a parent run
    without children); neither: every run of the experiment;
    group_by_tag: runs grouped (one chart line per value, the mean over the group) by this tag;
    param_columns: parameters shown in the table after the scores (a sweep's searched keys);
    image_keys: the runs' image keys, listed as deleted cards (grouped runs show no images, and the UI
    would add a "No images found" card for each key the view does not list);
    legend_names: what the charts' legends list (the groups' values, or the runs' names when
    ungrouped): the sections' cards are wide enough to show every one (`columns_for`);
    primary: the experiment's primary metric, whose charts come first in their sections (`primary_first`);
    tag_columns: tags shown first in the table (the review's summary: `keys.KIND_TAG`, the summary
    tags), each with the characters of its longest value. Runs that log `keys.REVIEW_ORDER` are listed
    (and their groups charted) in its order, else by name.
    """
    metric_keys = sorted(set(metric_keys))
    tag_columns = tag_columns or {}
    runs = max(CHART_RUNS, len(set(legend_names)))  # every arm and reference in each chart
    x_clip = CLIP_KEY if CLIP_KEY in metric_keys else None
    section_list, charts = [], []
    for i, sec in enumerate(sections(metric_keys)):
        uuid = f"harness-section-{i:03d}"
        section_list.append(
            {
                "uuid": uuid,
                "name": sec.name,
                "display": sec.expanded,
                "isReordered": False,
                "deleted": False,
                "isGenerated": True,
                "columns": columns_for(sec.keys, legend_names),
                "cardHeight": CARD_HEIGHT_PX,
            }
        )
        for j, k in enumerate(primary_first(sec.keys, primary)):
            card = _chart(
                k, uuid, f"{uuid}-chart-{j:03d}", x_clip if k.startswith(keys.DRIFT_PREFIX) else None, runs
            )
            card["deleted"] = k in (x_clip, keys.REVIEW_ORDER)  # listed, so that the UI does not add it back
            charts.append(card)
    uuid_of = {sec["name"]: sec["uuid"] for sec in section_list}
    for j, k in enumerate(sorted(set(image_keys))):
        home = uuid_of.get(section_name(k), section_list[0]["uuid"] if section_list else "")
        charts.append(_image_card([k], home, f"harness-image-{j:03d}", 0, deleted=True))
    tags = [_column("tags", t) for t in tag_columns]
    columns = tags + score_columns(metric_keys) + [_column("params", p) for p in param_columns]
    widths = {c: min(320, max(120, 7 * len(c.split("`")[1]) + 24)) for c in columns}
    # a tag's text is read whole: as wide as its longest value (7 px a character)
    widths.update({c: min(420, max(widths[c], 7 * tag_columns[t] + 24)) for c, t in zip(tags, tag_columns)})
    if parent_run_id:  # the arms' runs and the references' beside them (not the evaluator's rescore)
        runs_shown = f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}' AND tags.arm != '{RESCORE}'"
    elif run_id:
        runs_shown = f"attributes.run_id = '{run_id}'"
    else:
        runs_shown = ""
    ordered = keys.REVIEW_ORDER in metric_keys
    return {
        # search facets: the parent's children by run name (<arm>-seed<k>). Sorted by start time (the
        # UI's default), the UI would fetch the parent of the listed runs back in as "Additional runs".
        "searchFilter": runs_shown,
        "orderByKey": _column("metrics", keys.REVIEW_ORDER) if ordered else "tags.`mlflow.runName`",
        "orderByAsc": True,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "modelVersionFilter": "All Runs",
        "datasetsFilter": [],
        # UI state
        "selectedColumns": columns,
        # wide enough for the whole key (7 px a character); the UI applies widths only to columns in
        # columnOrder, and places the columns it does not list (Created, Duration) after these
        "columnOrder": columns,
        "columnWidths": widths,
        "runsHiddenMode": "SHOW_ALL",  # the UI's default shows the first 10 rows in charts only
        "compareRunCharts": charts,
        "compareRunSections": section_list,
        "isAccordionReordered": True,  # keep this section order (the UI sorts by name otherwise)
        "viewMaximized": False,
        "runListHidden": RUN_LIST_HIDDEN,
        "groupBy": (
            {"aggregateFunction": "average", "groupByKeys": [{"mode": "tag", "groupByData": group_by_tag}]}
            if group_by_tag
            else None
        ),
        "groupsExpanded": {},  # every group open in the table (the UI's default)
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
        "globalLineChartConfig": {"xAxisKey": "step", "lineSmoothness": 0, "selectedXAxisMetricKey": ""},
        "chartsSearchFilter": "",
    }


def keyframes_state(
    metric_keys: Iterable[str],
    images: dict[str, int],
    parent_run_id: str,
    seed: str,
    legend_names: Iterable[str] = (),
) -> dict:
    """The keyframes view: `parent_run_id`'s children of one seed (one column per arm), ungrouped, opening
    on a grid of their images (a row per sample) at the last clip; the per-sample cards and the metric
    sections below, collapsed. images: image key -> its last step; legend_names: that seed's run names."""
    state = view_state(metric_keys, parent_run_id=parent_run_id, group_by_tag=None, legend_names=legend_names)
    # the arms (the references have no frames to show)
    state["searchFilter"] += f" AND tags.role != '{keys.REFERENCE_ROLE}' AND tags.seed = '{seed}'"
    last = max(images.values(), default=0)
    rows = min(len(images), MAX_GRID_KEYS)
    # one card across the page, tall enough for about six rows of frames (it scrolls beyond)
    height = min(GRID_MAX_HEIGHT_PX, GRID_HEAD_PX + GRID_ROW_PX * rows)
    grid = {
        "uuid": "harness-keyframes-grid",
        "name": GRID_SECTION,
        "display": True,
        "columns": 1,
        "cardHeight": height,
    }
    each = {"uuid": "harness-keyframes-each", "name": PER_SAMPLE_SECTION, "display": False}
    new = [{**sec, "isReordered": False, "deleted": False, "isGenerated": True} for sec in (grid, each)]
    state["compareRunSections"] = new + [{**sec, "display": False} for sec in state["compareRunSections"]]
    cards = [_image_card(sorted(images)[:MAX_GRID_KEYS], grid["uuid"], "harness-keyframes-grid-card", last)]
    cards += [
        _image_card([k], each["uuid"], f"harness-keyframes-each-{j:03d}", last)
        for j, k in enumerate(sorted(images))
    ]
    state["compareRunCharts"] = cards + state["compareRunCharts"]
    return state


def logged_images(c, run_id: str) -> dict[str, int]:
    """A run's image keys -> the last step logged, read from MLflow's file names under `images/`."""
    found: dict[str, int] = {}
    for f in c.list_artifacts(run_id, "images"):
        parts = f.path.rsplit("/", 1)[-1].split("+")
        if len(parts) >= 3 and parts[1] == "step" and parts[2].lstrip("-").isdigit():
            key = parts[0].replace("~", "/")
            found[key] = max(found.get(key, int(parts[2])), int(parts[2]))
    return found


def encode_state(state: dict, compress: bool = False) -> str:
    text = json.dumps(state, separators=(",", ":"))
    if compress:  # what the UI's pako.inflate reads: zlib, base64, behind the prefix
        return COMPRESSED_PREFIX + base64.b64encode(zlib.compress(text.encode(), 9)).decode()
    return text


def view_tag_value(name: str, state: dict, created_ms: int, updated_ms: int | None = None) -> str:
    """The experiment tag's value: the envelope around the state, compressed only if it must be, and
    with chart cards left to the UI (collapsed sections first) if even that is too long."""
    updated = created_ms if updated_ms is None else updated_ms

    def envelope(s: dict, compress: bool) -> str:
        return json.dumps(
            {"name": name, "createdAt": created_ms, "updatedAt": updated, "state": encode_state(s, compress)}
        )

    value = envelope(state, False)
    if len(value) <= MAX_TAG_CHARS:
        return value
    value = envelope(state, True)
    if len(value) <= MAX_TAG_CHARS:
        return value
    collapsed = {s["uuid"] for s in state["compareRunSections"] if not s["display"]}
    slim = {
        **state,
        "compareRunCharts": [c for c in state["compareRunCharts"] if c["metricSectionId"] not in collapsed],
    }
    value = envelope(slim, True)
    if len(value) > MAX_TAG_CHARS:
        raise ValueError(
            f"the saved view is {len(value)} characters, over MLflow's {MAX_TAG_CHARS}: too many metric keys "
            "in expanded sections; log fewer keys per run or open the runs page without a view"
        )
    return value


def read_view(value: str) -> dict:
    """A saved view's tag value -> {"name", "createdAt", "updatedAt", "state": dict}, as the UI reads
    it (an envelope, or a bare state as older MLflow versions wrote it; compressed or not)."""

    def state_of(text: str) -> dict:
        if text.startswith(COMPRESSED_PREFIX):
            text = zlib.decompress(base64.b64decode(text[len(COMPRESSED_PREFIX) :])).decode()
        return json.loads(text)

    outer = json.loads(value) if not value.startswith(COMPRESSED_PREFIX) else None
    if isinstance(outer, dict) and isinstance(outer.get("name"), str) and isinstance(outer.get("state"), str):
        return {**outer, "state": state_of(outer["state"])}
    return {"name": None, "createdAt": None, "updatedAt": None, "state": state_of(value)}


def view_url(base_url: str, experiment_id: str, view_id: str, mode: str = "CHART") -> str:
    """The link that opens a saved view in Model training mode (`mode`: CHART or TABLE)."""
    query = urlencode({SHARE_KEY_PARAM: view_id, MODE_PARAM: mode, WORKFLOW_PARAM: MODEL_TRAINING})
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"


# -- MLflow: the latest parent run, its children's keys, the tag ----------------------------------


def latest_parent(c, experiment_id: str):
    """The newest parent run of an experiment (an experiment's invocation or a sweep), or None."""
    found = []
    for role in ("parent", "sweep"):
        found += c.search_runs(
            [experiment_id],
            filter_string=f"tags.role = '{role}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
    return max(found, key=lambda r: r.info.start_time, default=None)


class Links(NamedTuple):
    """The links `save_view` prints: the review view, the keyframes view (None: no images logged), and
    the review view's charts where the review link opens on its summary table (else None)."""

    review: str
    keyframes: str | None
    charts: str | None = None


def summary_columns(children) -> dict[str, int]:
    """The tags of the review's summary the children carry (`keys.KIND_TAG`, then the summary tags by
    track), each with the characters of its longest value; {} where the report has not written them."""
    found: dict[str, int] = {}
    for r in children:
        for k, v in r.data.tags.items():
            if k == keys.KIND_TAG or k.startswith(keys.SUMMARY_PREFIX):
                found[k] = max(found.get(k, 0), len(v))
    return {k: found[k] for k in sorted(found, key=lambda k: (k != keys.KIND_TAG, k))}


def save_view(
    c, experiment_id: str, base_url: str = DEFAULT_UI_URL, parent=None, mode: str | None = None
) -> Links | None:
    """Write the review view of `parent` (default: the experiment's latest parent run) as an experiment
    tag, and its keyframes view where the children logged images; return their links, or None when the
    experiment has no parent run yet. The review link opens `mode` (CHART or TABLE; default: TABLE
    where the children carry the summary of a primary metric, which the table shows first, else CHART). Older views
    this module wrote are deleted beyond the newest KEEP_VIEWS; views people saved in the UI are left
    alone."""
    parent = parent or latest_parent(c, experiment_id)
    if parent is None:
        return None
    pid = parent.info.run_id
    children = c.search_runs(
        [experiment_id], filter_string=f"tags.`{PARENT_RUN_TAG}` = '{pid}'", max_results=5000
    )
    sweep = parent.data.tags.get("role") == "sweep"
    searched = [k for k in parent.data.tags.get(keys.SEARCHED_TAG, "").split(",") if k] if sweep else []
    metric_keys = {k for r in children for k in r.data.metrics}
    first_seed = min((r.data.tags.get("seed", "") for r in children), key=_seed_order, default="")
    # every arm logs the same samples: the image keys of one child of the first seed stand for all
    images = next(
        (
            found
            for r in children
            if r.data.tags.get("seed", "") == first_seed and (found := logged_images(c, r.info.run_id))
        ),
        {},
    )
    # the children's grouping tag (reports/colours.py: the one that gives each arm its own colour)
    group = next(
        (r.data.tags[keys.GROUP_BY_TAG] for r in children if keys.GROUP_BY_TAG in r.data.tags), "arm"
    )
    # what the legends list: the arms and the references beside them (the groups' values), or the runs
    # of a sweep; not the evaluator's rescore, which the view leaves out
    listed = [r for r in children if r.data.tags.get("arm") != RESCORE]
    legend = [r.info.run_name if sweep else r.data.tags.get(group, "") for r in listed]
    summary = {} if sweep else summary_columns(children)
    if children:
        state = view_state(
            metric_keys,
            parent_run_id=pid,
            group_by_tag=None if sweep else group,  # a sweep's trials share one arm: a line per trial
            param_columns=searched,
            image_keys=images if not sweep else (),
            legend_names=legend,
            primary=parent.data.tags.get(keys.PRIMARY_TAG),
            tag_columns=summary,
        )
    else:  # a run without children (pretraining, or one whose jobs have not started): the run itself
        state = view_state(parent.data.metrics, run_id=pid, group_by_tag=None)
    now = int(time.time() * 1000)
    name = parent.info.run_name or pid

    # the review opens on the table where it holds the summary of a primary metric, first
    mode = mode or ("TABLE" if any(k.startswith(keys.SUMMARY_PREFIX) for k in summary) else "CHART")

    def write(view_id: str, label: str, state: dict, mode: str = "CHART") -> str:
        value = view_tag_value(f"{name} ({label})", state, created_ms=parent.info.start_time, updated_ms=now)
        c.set_experiment_tag(experiment_id, VIEW_TAG_PREFIX + view_id, value)
        return view_url(base_url, experiment_id, view_id, mode)

    review = write(VIEW_ID_PREFIX + pid, "harness review", state, mode)
    charts = view_url(base_url, experiment_id, VIEW_ID_PREFIX + pid) if mode == "TABLE" else None
    keyframes = None
    if children and images:
        arms = [r for r in children if r.data.tags.get("role") != keys.REFERENCE_ROLE]
        seed_runs = [r.info.run_name for r in arms if r.data.tags.get("seed", "") == first_seed]
        frames = keyframes_state(metric_keys, images, pid, first_seed, legend_names=seed_runs)
        keyframes = write(VIEW_ID_PREFIX + pid + KEYFRAMES_VIEW, f"keyframes, seed {first_seed}", frames)
    _prune(c, experiment_id)
    return Links(review, keyframes, charts)


def _seed_order(seed: str) -> tuple[int, str]:
    return (int(seed), "") if seed.lstrip("-").isdigit() else (1 << 62, seed)


def _prune(c, experiment_id: str) -> None:
    tags = c.get_experiment(experiment_id).tags
    ours = []
    for key, value in tags.items():
        if key.startswith(VIEW_TAG_PREFIX + VIEW_ID_PREFIX):
            try:
                ours.append((read_view(value).get("createdAt") or 0, key))
            except (ValueError, zlib.error):
                ours.append((0, key))  # unreadable: oldest
    for _, key in sorted(ours, reverse=True)[KEEP_VIEWS:]:
        c.delete_experiment_tag(experiment_id, key)


def review_links(
    c, base_url: str = DEFAULT_UI_URL, experiment: str | None = None, limit: int = 10
) -> list[tuple[str, Links]]:
    """(experiment name, links) for `experiment`, or for the `limit` experiments whose latest parent run
    is newest (a team server holds many), newest first; each link's views are written first."""
    if experiment is not None:
        found = c.get_experiment_by_name(experiment)
        if found is None:
            names = ", ".join(e.name for e in c.search_experiments()) or "none yet"
            raise LookupError(f"no MLflow experiment named {experiment!r} in this store (it has: {names})")
        experiments = [found]
    else:
        experiments = c.search_experiments()
    latest = [(latest_parent(c, e.experiment_id), e) for e in experiments]
    latest = sorted(((p, e) for p, e in latest if p is not None), key=lambda pe: -pe[0].info.start_time)
    return [(e.name, save_view(c, e.experiment_id, base_url, p)) for p, e in latest[:limit]]
