"""`harness gates`: the gates of the committed bundles as reports/gates.py computes them, printed as JSON
or as the page's markdown table, with the exit code saying whether a measured gate is not met."""

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from cli import main
from reports import gates as G

ROOT = Path(__file__).resolve().parents[2]
WORLD2 = ROOT / "results" / "world2"
BUNDLE, CONTROL = ROOT / "results" / "ablation_eimg", ROOT / "results" / "toy_erft_control"


@pytest.mark.parametrize(
    "bundle, control",
    [(BUNDLE, None), (BUNDLE, CONTROL), (WORLD2 / "ablation_eimg", WORLD2 / "toy_erft_control")],
    ids=["world3", "world3-control", "world2-control"],
)
def test_the_command_prints_the_gates_of_reports_gates(capsys, bundle, control):
    want = G.bundle_gates(bundle, control)
    assert want  # the committed bundles hold the tracks the gates read
    argv = ["gates", str(bundle)] + (["--control", str(control)] if control else [])
    rc = main(argv)
    got = json.loads(capsys.readouterr().out)
    assert got == [asdict(g) for g in want]  # every field: the figure, and G3's best trivial video
    assert rc == (1 if G.not_met(want) else 0)
    assert main([*argv, "--markdown"]) == rc
    assert capsys.readouterr().out == G.markdown(want) + "\n"
    if control is not None:
        assert any(g["gate"] == "G5" for g in got)


def test_command_line(capsys):
    assert (
        main(["gates", str(WORLD2 / "ablation_eimg"), "--markdown"]) == 1
    )  # world 2: no metric is valid there (PSNR, anchored to the truth, has no other true future beside it)
    assert "| G2 | consistent_100s | **not met** |" in capsys.readouterr().out
    assert main(["gates", str(ROOT / "results" / "no_such_bundle")]) == 2
    assert "results bundle" in capsys.readouterr().err


def test_a_folder_that_is_not_a_bundle_is_bad_input_saying_what_to_give(capsys, tmp_path):
    assert main(["gates", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no manifest.json" in err and "harness export" in err
    assert main(["gates", str(BUNDLE), "--control", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_not_met_is_the_measured_gates_that_failed():
    rows = [G.Gate("G1", "t", True, ""), G.Gate("G2", "t", None, ""), G.Gate("G3", "t", False, "")]
    assert G.not_met(rows) == [rows[2]]
