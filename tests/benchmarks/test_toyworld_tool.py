"""`python -m benchmarks.toyworld PROBE`: one tool whose probes are this folder's modules, each run
through its own `main(argv)`, none importing another (what they share is in `demo_recipe.py`)."""

import ast
import importlib
from pathlib import Path

import pytest

from benchmarks.toyworld.__main__ import HERE, NOT_PROBES, main, probes


def test_every_module_of_the_folder_is_a_probe_with_a_main_and_a_line_of_help():
    found = probes()
    assert set(found) == {p.stem for p in HERE.glob("*.py")} - set(NOT_PROBES)
    for name, line in found.items():
        assert line, f"{name}: its docstring's first line is the tool's help for it"
        source = ast.parse((HERE / f"{name}.py").read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in source.body), name


def test_no_probe_imports_another():
    for name in probes():
        tree = ast.parse((HERE / f"{name}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        others = {m for m in imported if m.startswith("benchmarks.toyworld")} - {
            "benchmarks.toyworld.demo_recipe"
        }
        assert not others, f"{name} imports {others}: move what they share into demo_recipe.py"


def test_the_tool_runs_a_probe_with_its_arguments_and_refuses_an_unknown_one(capsys):
    bundle = Path(__file__).resolve().parents[2] / "results" / "mechanisms"
    drift_rise = importlib.import_module("benchmarks.toyworld.drift_rise")
    assert main(["drift_rise", str(bundle), "--markdown"]) == drift_rise.main([str(bundle), "--markdown"])
    out = capsys.readouterr().out
    half = len(out) // 2
    assert out[:half] == out[half:] and "| track |" in out  # the same table, through the tool and directly
    with pytest.raises(SystemExit) as stop:
        main(["no_such_probe"])
    assert stop.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([])


def test_a_probes_usage_line_names_it_as_the_tool_runs_it(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["drift_rise", "--help"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith("usage: python -m benchmarks.toyworld drift_rise ")
