"""The testing guide's figures are the runs' own records: benchmarks/record.py writes one, and the docs
hook includes it on that page only, stopping the build when a record it names is missing."""

import re
import sys
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
