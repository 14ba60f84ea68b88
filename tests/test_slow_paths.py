"""The testing guide maps every slow test to the end-to-end path it owns: a slow test added without a
row there, or a row whose count of tests is out of date, fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
GUIDE = TESTS.parent / "docs" / "guides" / "testing.md"


def _is_slow(node: ast.expr) -> bool:
    """`pytest.mark.slow` (a decorator or a module's pytestmark)."""
    return isinstance(node, ast.Attribute) and node.attr == "slow"


def slow_tests(root: Path = TESTS) -> dict[str, list[str]]:
    """module path (relative to tests/) -> the names of its slow test functions, read from the source."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("test_*.py")):
        tree = ast.parse(path.read_text())
        whole = any(
            isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets)
            and _is_slow(n.value)
            for n in tree.body
        )
        names = [
            n.name
            for n in tree.body
            if isinstance(n, ast.FunctionDef)
            and n.name.startswith("test_")
            and (whole or any(_is_slow(d) for d in n.decorator_list))
        ]
        if names:
            found[path.relative_to(root).as_posix()] = names
    return found


def table_rows(text: str) -> list[str]:
    """The rows of the guide's table under "What each slow test owns"."""
    section = text.split("### What each slow test owns", 1)[1].split("\n### ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


ITEM = re.compile(r"`([^`]+)`(?: \((\d+) (?:slow )?tests?\b[^)]*\))?")


def mapped(rows: list[str]) -> tuple[set[str], dict[str, int | None]]:
    """What the rows' first cells name: tests as `module::test` (a bare `test_name` after one belongs to
    the same module), and whole modules, each with the count of its slow tests the row states (None:
    all of them)."""
    tests, modules, module = set(), {}, None
    for row in rows:
        for item, count in ITEM.findall(row.split(" | ", 1)[0]):
            if "::" in item:
                module, name = item.split("::", 1)
                tests.add(f"{module}::{name}")
            elif item.endswith(".py"):
                module = item
                modules[module] = int(count) if count else None
            elif module:
                tests.add(f"{module}::{item}")
    return tests, modules


def unmapped(tests: dict[str, list[str]], rows: list[str]) -> list[str]:
    """The slow tests no row names, and those of a module whose row states another count of tests
    (test functions, each parametrisation counted once)."""
    named, modules = mapped(rows)
    missing = []
    for module, names in tests.items():
        whole = module in modules and modules[module] in (None, len(names))
        missing += [f"{module}::{n}" for n in names if not whole and f"{module}::{n}" not in named]
    return missing


def test_every_slow_test_has_its_row_in_the_testing_guide():
    tests = slow_tests()
    assert "svi/test_train.py" in tests and "harness/test_toy_run.py" in tests
    missing = unmapped(tests, table_rows(GUIDE.read_text()))
    assert missing == [], f"add these to docs/guides/testing.md, 'What each slow test owns': {missing}"


def test_a_planted_slow_test_without_a_row_is_found(tmp_path):
    (tmp_path / "harness").mkdir()
    (tmp_path / "harness" / "test_new.py").write_text(
        "import pytest\n\npytestmark = pytest.mark.slow\n\ndef test_a():\n    pass\n\ndef test_b():\n    pass\n"
    )
    (tmp_path / "test_some.py").write_text(
        "import pytest\n\n@pytest.mark.slow\ndef test_c():\n    pass\n\ndef test_fast():\n    pass\n"
    )
    tests = slow_tests(tmp_path)
    assert tests == {"harness/test_new.py": ["test_a", "test_b"], "test_some.py": ["test_c"]}
    rows = ["| `harness/test_new.py` (1 test) | a count out of date |", "| `test_some.py::test_c` | one |"]
    assert unmapped(tests, rows) == ["harness/test_new.py::test_a", "harness/test_new.py::test_b"]
    rows[0] = "| `harness/test_new.py` (2 tests) | both |"
    assert unmapped(tests, rows) == []
