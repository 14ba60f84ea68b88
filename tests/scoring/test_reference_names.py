"""The references' names have one home (scoring/references.py); the declarations, reports and CLI read
them from there, and "ARM - OTHER" and a registration's number are read by one function each."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

from harness.declare.experiment import Experiment
from reports.frames import split_comparison
from reports.registration import number_of
from scoring import references as R

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cli", "harness", "reports", "scoring", "svi", "sweeps", "toyworld")
NAMES = {*R.DECLARABLE, *R.TRIVIAL, R.TRUTH_ALT, R.RESCORE}
# A benchmark's folder of true continuations is called `truth` on disk: a path, not a reference's name.
ON_DISK = {("harness/run/provision.py", R.TRUTH)}


def spelled_out(source: str) -> list[tuple[int, str]]:
    """(line, name) of every string constant in `source` that is a reference's name."""
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in NAMES
    )


def test_no_package_module_spells_a_reference_name_again():
    found = [
        f"{path.relative_to(ROOT)}:{line} {name!r}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "scoring" / "references.py"
        for line, name in spelled_out(path.read_text())
        if (str(path.relative_to(ROOT)), name) not in ON_DISK
    ]
    assert found == [], "import the name from scoring/references.py: " + "; ".join(found)


def test_the_scan_finds_a_planted_name():
    assert spelled_out('KINDS = ("frozen", "loop")\nx = "truth_vae"\n') == [
        (1, "frozen"),
        (1, "loop"),
        (2, "truth_vae"),
    ]


def test_declarations_accept_exactly_the_declarable_references():
    field = Experiment.model_fields["references"].annotation
    listed = next(get_args(a) for a in get_args(field) if get_args(a) and get_args(a)[0] is not str)
    assert set(get_args(listed[0])) == set(R.DECLARABLE)
    assert Experiment.model_fields["references"].default == list(R.REFERENCES)
    assert set(R.DESCRIPTIONS) == NAMES  # each name is described once, for the pages and `harness score`


@pytest.mark.parametrize(
    ("text", "pair"),
    [("full - plain", ("full", "plain")), ("  a - b ", ("a", "b")), ("x_1 - base", ("x_1", "base"))],
)
def test_split_comparison(text, pair):
    assert split_comparison(text) == pair


@pytest.mark.parametrize("text", ["full-plain", "full - ", " - plain", "a - b - c", "", "full plain"])
def test_split_comparison_refuses_what_is_not_arm_minus_other(text):
    with pytest.raises(ValueError, match="ARM - OTHER_ARM"):
        split_comparison(text)


def test_number_of_a_registration():
    assert number_of({}) == 1  # the first registration may leave its number out
    assert number_of({"number": 3}) == 3
