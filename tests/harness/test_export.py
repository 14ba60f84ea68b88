"""`harness export` writes a results bundle from the tracking store; `harness report --from` rebuilds the
report from the bundle alone."""

import json

from harness.cli import main
from tests.reports.conftest import store  # noqa: F401 - the reports' MLflow store, as a fixture here


def test_export_then_report_from_the_bundle(home, monkeypatch, capsys, store):  # noqa: F811
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    bundle = home / "results" / "ablation_eimg"
    assert main(["export", "ablation_eimg", "--to", str(bundle)]) == 0
    assert "results bundle in" in capsys.readouterr().out
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["arm_order"] == ["base", "full", "no_eimg"] and manifest["primary"] == "colour_shift"
    assert set(manifest["arms"]) == {"base", "full", "no_eimg"}  # each arm's resolved configuration
    assert manifest["arms"]["no_eimg"]["erft"]["p_img"] == 0.0
    assert (bundle / "scores.csv").read_text().startswith("arm,seed,track,sample,level,window,metric,value\n")
    assert (bundle / "report" / "report.md").is_file() and (bundle / "curves.csv").is_file()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # no store: the bundle is enough
    assert main(["report", "ablation_eimg", "--from", str(bundle), "--out", str(home / "again")]) == 0
    report = (home / "again" / "report.md").read_text()
    assert "Results bundle of 5 finished unit(s)" in report and "| full |" in report
    assert main(["report", "svi_shot", "--from", str(bundle)]) == 2
    assert "holds experiment 'ablation_eimg', not 'svi_shot'" in capsys.readouterr().err
    assert main(["report", "ablation_eimg", "--from", str(home)]) == 2
    assert "no manifest.json" in capsys.readouterr().err
