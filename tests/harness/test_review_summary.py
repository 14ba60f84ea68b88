"""The review's summary and the references beside the arms (harness/tracking/deltas.py `log_summary`,
harness/tracking/review.py): a committed toy bundle imported into a fresh workspace's MLflow (SQLite),
its review view read back from the experiment tag, the runs it lists searched with its own filter."""

import json
import math
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from harness.tracking import deltas, keys, review
from scoring import references as R

BUNDLE = Path(__file__).resolve().parents[2] / "results" / "ablation_eimg"
NUMBER = re.compile(r"[-+]?\d+\.?\d*")


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """results/ablation_eimg imported once: (client, experiment id, parent run id, links, the review
    view's state, the children by arm, the bundle's manifest)."""
    from harness.run.bundle_import import import_bundle

    home = tmp_path_factory.mktemp("review_summary")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HARNESS_HOME", str(home / "ws"))
        env.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        env.delenv("HARNESS_ARTIFACT_ROOT", raising=False)
        exp_id, parent, links, new = import_bundle(BUNDLE)
        assert new
        c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
        tag = c.get_experiment(exp_id).tags[f"{review.VIEW_TAG_PREFIX}{review.VIEW_ID_PREFIX}{parent}"]
        state = review.read_view(tag)["state"]
        kids = c.search_runs([exp_id], f"tags.`{keys.PARENT_TAG}` = '{parent}'")
        manifest = json.loads((BUNDLE / "manifest.json").read_text())
        yield c, exp_id, parent, links, state, {r.data.tags["arm"]: r for r in kids}, manifest


def test_the_review_lists_every_reference_beside_the_arms_marked_as_no_model(imported):
    c, exp_id, _, _, state, kids, manifest = imported
    references = {u["arm"] for u in manifest["units"] if u["role"] == keys.REFERENCE_ROLE} - {R.RESCORE}
    arms = {u["arm"] for u in manifest["units"] if u["role"] != keys.REFERENCE_ROLE}
    assert {R.FROZEN, R.LOOP, R.PINGPONG, R.PAN, R.TRUTH, R.TRUTH_ALT, R.TRUTH_VAE} <= references
    # the runs the view lists, as the UI asks the store for them: every arm and every reference (the
    # evaluator's rescore is no reference), each in a group of its own
    listed = c.search_runs([exp_id], state["searchFilter"], order_by=[f"metrics.`{keys.REVIEW_ORDER}`"])
    assert {r.data.tags["arm"] for r in listed} == arms | references
    group = state["groupBy"]["groupByKeys"][0]["groupByData"]
    assert all(r.data.tags[group] == r.data.tags["arm"] for r in listed)
    # marked in the table: what each run is
    for arm, run in kids.items():
        if arm in references:
            assert run.data.tags[keys.KIND_TAG] == keys.KIND_REFERENCE, arm
    assert kids["base"].data.tags[keys.KIND_TAG] == keys.KIND_BASE
    assert kids["full"].data.tags[keys.KIND_TAG] == kids["no_eimg"].data.tags[keys.KIND_TAG] == keys.KIND_ARM
    # listed (and charted) the base first, then the arms, then the references in the report's order
    assert [r.data.tags["arm"] for r in listed] == [
        "base", "full", "no_eimg", *[k for k in R.REFERENCE_ROWS if k in references]
    ]  # fmt: skip
    assert state["orderByKey"] == f"metrics.`{keys.REVIEW_ORDER}`"
    cards = {card["metricKey"]: card for card in state["compareRunCharts"] if "metricKey" in card}
    assert cards[keys.REVIEW_ORDER]["deleted"]  # a sort key, not a chart
    assert {card["runsCountToCompare"] for card in cards.values()} == {len(arms | references)}


def test_the_review_opens_on_the_summary_of_the_primary(imported):
    _, _, parent, links, state, kids, manifest = imported
    primary = manifest["primary"]
    tracks = sorted(
        {keys.split_score_key(k)[0] for k in kids["base"].data.metrics if keys.split_score_key(k)}
    )
    # the review link opens the runs table, whose first columns are the summary: what each run is, then
    # per track the primary's mean and the difference from the base; the charts have a link of their own
    query = parse_qs(urlsplit(links.review).fragment.partition("?")[2])
    assert query["compareRunsMode"] == ["TABLE"] and query["viewStateShareKey"] == [f"harness-{parent}"]
    assert parse_qs(urlsplit(links.charts).fragment.partition("?")[2])["compareRunsMode"] == ["CHART"]
    summary = [f"tags.`{keys.KIND_TAG}`"] + [
        f"tags.`{k}`" for track in tracks for k in keys.summary_keys(track, primary)
    ]
    assert state["selectedColumns"][: len(summary)] == summary
    assert state["columnOrder"][: len(summary)] == summary
    assert all(not c.startswith("metrics.") for c in state["selectedColumns"][: len(summary)])
    assert all(state["columnWidths"][c] >= 7 * len(kids["base"].data.tags.get(c[6:-1], "")) for c in summary)


def _numbers(text: str) -> list[float]:
    return [float(x) for x in NUMBER.findall(text.split("(n=")[0])]


def test_the_summary_writes_every_arm_and_reference_apart_with_its_interval_and_n(imported):
    _, _, _, _, _, kids, manifest = imported
    primary = manifest["primary"]
    results = deltas.read_results(BUNDLE / "report" / "results.csv")
    mine = results[(results["metric"] == primary) & (results["contrast"] == "reference")]
    for track in sorted(set(mine["track"])):
        mean_key, delta_key = keys.summary_keys(track, primary)
        texts = {arm: run.data.tags[mean_key] for arm, run in kids.items() if mean_key in run.data.tags}
        # every arm and every reference scored on the primary, each written apart from every other
        assert {"base", "full", "no_eimg", R.FROZEN, R.LOOP, R.PINGPONG, R.PAN, R.TRUTH_ALT} <= set(texts)
        assert len(set(texts.values())) == len(texts), texts
        for text in texts.values():
            mean, low, high = _numbers(text)
            assert low <= mean <= high and re.search(r"\(n=\d+(×\d+| videos)\)$", text), text
            shown = text.split()[0].lstrip("+-").replace(".", "").lstrip("0")
            assert len(shown) >= deltas.SUMMARY_DIGITS, text  # four significant digits at least
        # the arms' numbers are the report's, to the digits shown
        for rec in mine[mine["track"] == track].to_dict("records"):
            mean, low, high = _numbers(texts[rec["arm"]])
            assert mean == pytest.approx(
                rec["mean"], abs=10 ** -(len(texts[rec["arm"]].split()[0].split(".")[1]))
            )
            if not pd.isna(rec["delta"]):
                d, d_low, d_high = _numbers(kids[rec["arm"]].data.tags[delta_key])
                assert d_low <= d <= d_high and d == pytest.approx(rec["delta"], rel=1e-3)
        differences = [run.data.tags[delta_key] for run in kids.values() if delta_key in run.data.tags]
        assert len(differences) == 2 and len(set(differences)) == 2
        assert delta_key not in kids["base"].data.tags  # the base is what the others differ from


def test_values_that_agree_to_four_digits_get_a_fifth():
    # loop and pingpong on creative_100s: 0.329545 and 0.329525 both read 0.3295 at four digits
    assert deltas.distinct_digits([0.329545, 0.329525, 0.28429]) == 5
    assert deltas.distinct_digits([0.1445, 0.1457, 0.1475]) == deltas.SUMMARY_DIGITS
    assert deltas.distinct_digits([0.5, 0.5]) == deltas.SUMMARY_DIGITS  # equal values stay equal
    assert deltas.distinct_digits([0.001165, 0.002964], signed=True) == deltas.SUMMARY_DIGITS
    assert [deltas.decimals(v, 4) for v in (0.118, 87.259, 12345.6, 0.0)] == [4, 2, 0, 3]
    assert deltas._text(0.118, 4) == "0.1180" and deltas._text(0.001165, 4, signed=True) == "+0.001165"
    assert math.isnan(float("nan")) and deltas._text(float("nan"), 4) == "–"
