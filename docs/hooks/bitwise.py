"""MkDocs hook: the testing guide's list of the tests that promise bit-identity, read from the tests.

A test that compares two paths' floats exactly (resumed and uninterrupted, batched and alone, in
chunks and whole) carries `@pytest.mark.bitwise("why")`, the reason both paths perform the same
operations in the same order. On `guides/testing.md` the marker line `<!-- bitwise tests -->` becomes
the table of those tests and their reasons, so the list cannot fall behind the tests. Every other
comparison of floats along two paths uses a tolerance (tests/tolerances.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

PAGE = "guides/testing.md"
TESTS = Path(__file__).resolve().parents[2] / "tests"
MARKER = "<!-- bitwise tests -->"


def _reason(decorator: ast.expr) -> str | None:
    """The reason of a `pytest.mark.bitwise("...")` decorator, or None for any other decorator."""
    if isinstance(decorator, ast.Attribute):  # a bare marker: no reason given
        return "" if decorator.attr == "bitwise" else None
    if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
        return None
    if decorator.func.attr != "bitwise":
        return None
    if not decorator.args:
        return ""
    arg = decorator.args[0]
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else ""


def bitwise_tests(root: Path = TESTS) -> list[tuple[str, str]]:
    """(test id, reason) of every test marked bitwise under `root`, sorted by id."""
    found = []
    for path in sorted(root.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                for decorator in node.decorator_list:
                    reason = _reason(decorator)
                    if reason is not None:
                        found.append((f"{path.relative_to(root.parent).as_posix()}::{node.name}", reason))
    return sorted(found)


def bitwise_table(root: Path = TESTS) -> str:
    rows = [f"| `{test}` | {reason} |" for test, reason in bitwise_tests(root)]
    return "\n".join(["| test | why both paths are the same arithmetic |", "|---|---|", *rows])


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    return markdown.replace(MARKER, bitwise_table())
