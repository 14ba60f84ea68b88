"""The testing guide's figures are the runs' own records: benchmarks/record.py writes one, and the docs
hook includes it on that page only, stopping the build when a record it names is missing."""

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from mkdocs.exceptions import PluginError

from tests.hooks import load_hook


def _hook():
    return load_hook("records")


def _page(uri: str):
    return SimpleNamespace(file=SimpleNamespace(src_uri=uri))


def test_a_record_is_the_commands_own_output(tmp_path, monkeypatch):
    from benchmarks import record

    monkeypatch.setattr(record, "RECORDS", tmp_path)
    code = record.main(["probe", "--tail", "2", "--", sys.executable, "-c", "'print(1); print(2); print(3)'"])
    text = (tmp_path / "probe.txt").read_text().splitlines()
    assert code == 0 and text[0].startswith("$ ") and "exit 0, wall" in text[1] and text[-2:] == ["2", "3"]
    # the machine's speed, measured before the command: machines of one type differ by 2x
    assert re.search(r"CPU cores \(\w+, float32 matmul \d+ GFLOP/s\), exit 0", text[1])


def test_the_hook_includes_records_on_the_testing_page_only(tmp_path, monkeypatch):
    hook = _hook()
    monkeypatch.setattr(hook, "RECORDS", tmp_path)
    (tmp_path / "make-test.txt").write_text("$ make test\n1 passed\n")
    markdown = "before\n<!-- record make-test -->\nafter"
    assert "```text\n$ make test\n1 passed\n```" in hook.on_page_markdown(
        markdown, _page(hook.PAGE), None, None
    )
    assert hook.on_page_markdown(markdown, _page("results/mechanisms.md"), None, None) == markdown
    with pytest.raises(PluginError, match="no record docs/records/gone.txt"):
        hook.on_page_markdown("<!-- record gone -->", _page(hook.PAGE), None, None)


def test_a_table_record_is_included_as_markdown_on_its_pages_only(tmp_path, monkeypatch):
    hook = _hook()
    monkeypatch.setattr(hook, "RECORDS", tmp_path)
    (tmp_path / "losses.md").write_text("| a |\n|---|\n| 1 |\n")
    markdown = "<!-- table losses -->"
    assert (
        hook.on_page_markdown(markdown, _page("guides/toyworld_record.md"), None, None)
        == "| a |\n|---|\n| 1 |"
    )
    assert hook.on_page_markdown(markdown, _page("results/mechanisms.md"), None, None) == markdown
    with pytest.raises(PluginError, match="no record docs/records/gone.md"):
        hook.on_page_markdown("<!-- table gone -->", _page("guides/toyworld_record.md"), None, None)


def test_a_stage_of_a_ci_run_is_recorded_from_its_log(tmp_path, monkeypatch):
    """.ci/run keeps each stage's output with a last line `# exit N, wall S s`; the record takes the
    wall time and exit code from it instead of running the command again."""
    from benchmarks import record

    monkeypatch.setattr(record, "RECORDS", tmp_path)
    log = tmp_path / "test.log"
    log.write_text("ruff ok\n1339 passed in 580.1s (0:09:40)\n# exit 0, wall 612 s\n")
    assert record.main(["make-test", "--log", str(log), "--", "make", "test"]) == 0
    text = (tmp_path / "make-test.txt").read_text().splitlines()
    assert text[0] == "$ make test" and "exit 0, wall 10 min 12 s (a stage of the CI run" in text[1]
    assert text[-1] == "1339 passed in 580.1s (0:09:40)" and "# exit" not in text[-1]
    log.write_text("no closing line\n")
    with pytest.raises(SystemExit, match="not a stage log"):
        record.main(["make-test", "--log", str(log), "--", "make", "test"])


def record_figures(records: Path) -> dict[str, set[str]]:
    """record -> the figures a text record holds that a page would quote: its wall time and its test
    counts ("1339 passed")."""
    found = {}
    for path in sorted(records.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        wall = re.search(r"wall (\d+ min \d+ s|\d+(?:\.\d+)? s)\b", text)
        found[path.name] = {*([wall[1]] if wall else []), *re.findall(r"\b\d+ passed\b", text)}
    return found


def retyped(text: str, figures: dict[str, set[str]]) -> list[str]:
    """'record: figure' for each record figure `text` types outside a record's marker."""
    return [
        f"{name}: {figure}"
        for name, found in figures.items()
        for figure in sorted(found)
        if re.search(rf"(?<![\w.]){re.escape(figure)}(?!\w)", text)
    ]


def test_the_guides_quote_a_records_figures_by_its_marker_not_by_hand():
    """Where a record exists, a page includes it (`<!-- record NAME -->`) instead of typing its wall time
    or its test counts, which the next run of the command changes."""
    root = Path(__file__).resolve().parents[1]
    figures = record_figures(root / "docs" / "records")
    assert figures and all(figures.values())  # each record has a wall time to quote
    pages = [*sorted((root / "docs" / "guides").glob("*.md")), root / "docs" / "index.md", root / "README.md"]
    found = {p.name: r for p in pages if (r := retyped(p.read_text(encoding="utf-8"), figures))}
    assert not found, f"figures of docs/records/ typed by hand (include the record instead): {found}"
    demo = next(iter(figures["demo.txt"]))
    assert retyped(f"`make demo` took {demo} here.", figures) == [f"demo.txt: {demo}"]  # planted
