"""reports/bundle.py: a results bundle reads back as the frames it was written from, its bytes are
deterministic, and its report equals the report built from the MLflow store it came from."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.tracking.store_reader import build_report, load_runs, load_samples
from reports.bundle import BundleError, build_report_from, read_bundle, read_manifest, write_bundle

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frames(store):
    runs = load_runs("ablation_eimg", store["uri"])
    samples = load_samples("ablation_eimg", store["uri"], runs.attrs["parent_run_id"])
    return runs, samples


@pytest.fixture(scope="module")
def bundle(frames, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle")
    write_bundle(folder, "ablation_eimg", *frames, extra={"arm_order": ["base", "full", "no_eimg"]})
    return folder


def test_a_bundle_reads_back_as_the_frames_it_was_written_from(frames, bundle):
    runs, samples = frames
    runs2, samples2, manifest = read_bundle(bundle)
    assert manifest["experiment"] == "ablation_eimg" and len(manifest["units"]) == len(runs)
    key = ["arm", "seed"]
    a = runs.sort_values(key).reset_index(drop=True)
    b = runs2.sort_values(key).reset_index(drop=True)
    for col in ["arm", "seed", "role", "status", "variant", "preset", "backends"]:
        assert a[col].tolist() == b[col].tolist(), col
    pd.testing.assert_series_equal(a["consistent_50s/fvd"], b["consistent_50s/fvd"], check_names=False)
    cols = ["arm", "seed", "track", "sample", "level", "window", "metric"]
    left = samples.sort_values(cols).reset_index(drop=True)
    right = samples2.sort_values(cols).reset_index(drop=True)
    assert left[cols].astype(str).equals(right[cols].astype(str))
    assert right["value"].to_numpy() == pytest.approx(left["value"].to_numpy(), rel=1e-8, nan_ok=True)


@pytest.mark.bitwise(
    "the same frames written by the same code: formatting, sorting and hashing, no arithmetic that depends on the CPU"
)
def test_the_same_results_give_the_same_bytes(frames, bundle, tmp_path):
    runs, samples = frames
    shuffled = samples.sample(frac=1.0, random_state=3)  # row order does not matter
    write_bundle(
        tmp_path, "ablation_eimg", runs.iloc[::-1], shuffled, extra={"arm_order": ["base", "full", "no_eimg"]}
    )
    for name in ("manifest.json", "scores.csv"):
        assert (tmp_path / name).read_bytes() == (bundle / name).read_bytes(), name


def test_the_report_from_a_bundle_equals_the_report_from_the_store(store, bundle, tmp_path):
    from_store = build_report(
        "ablation_eimg", tmp_path / "store", tracking_uri=store["uri"], arm_order=["base", "full", "no_eimg"]
    )
    from_bundle = build_report_from(bundle, tmp_path / "bundle")
    assert set(from_store) == set(from_bundle)
    a = pd.read_csv(from_store["results.csv"])
    b = pd.read_csv(from_bundle["results.csv"])
    missing = a.merge(b, how="outer", on=["track", "arm", "metric"], indicator=True)
    assert (missing["_merge"] == "both").all(), missing.loc[
        missing["_merge"] != "both", ["track", "arm", "metric", "_merge"]
    ]
    pd.testing.assert_frame_equal(a, b)
    # the Markdown differs only in its first line: where it came from (and the store's build time)
    md_a = from_store["report.md"].read_text().split("\n", 3)[3]
    md_b = from_bundle["report.md"].read_text().split("\n", 3)[3]
    assert md_a.replace(md_a.split("\n")[0], "", 1) == md_b.replace(md_b.split("\n")[0], "", 1)
    first = from_bundle["report.md"].read_text().splitlines()[2]
    assert first.startswith("Results bundle of 5 finished unit(s)") and "built" not in first
    again = build_report_from(bundle, tmp_path / "again")  # reproducible: no time in the report
    assert again["report.md"].read_bytes() == from_bundle["report.md"].read_bytes()


def test_a_folder_that_is_not_a_bundle_is_named(tmp_path):
    with pytest.raises(BundleError, match="no manifest.json"):
        read_manifest(tmp_path)


def test_a_report_from_a_bundle_imports_neither_torch_nor_a_store(bundle, tmp_path):
    code = (
        "import sys; from reports.bundle import build_report_from; "
        f"build_report_from({str(bundle)!r}, {str(tmp_path)!r}); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]


def test_unit_counts_keep_the_arms_units_apart_from_the_references():
    """results/world2/ablation_eimg (toy world 2's demo): 3 arms x 1 seed, all finished, and 5 reference
    units (frozen, loop, pingpong, truth and the rescoring pass), which its page does not count among
    the units."""
    from reports.bundle import read_manifest, unit_counts

    manifest = read_manifest(REPO / "results" / "world2" / "ablation_eimg")
    assert len(manifest["units"]) == 8
    assert unit_counts(manifest) == (3, 3, 5)
    failed = {
        **manifest,
        "units": [{**u, "status": "FAILED"} if u["arm"] == "full" else u for u in manifest["units"]],
    }
    assert unit_counts(failed) == (2, 3, 5)
