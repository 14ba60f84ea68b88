"""The coverage summary adds each package's files up and sets an earlier report beside it."""

import json

from benchmarks.coverage_summary import by_package, main


def _report(files: dict[str, tuple[int, int]]) -> dict:
    covered = sum(c for c, _ in files.values())
    total = sum(n for _, n in files.values())
    return {
        "files": {f: {"summary": {"covered_lines": c, "num_statements": n}} for f, (c, n) in files.items()},
        "totals": {"covered_lines": covered, "num_statements": total},
    }


def test_packages_add_up_and_an_earlier_report_stands_beside(tmp_path, capsys):
    now = _report({"svi/a.py": (8, 10), "svi/model/b.py": (2, 10), "cli/c.py": (5, 5)})
    assert by_package(now) == {"cli": (5, 5), "svi": (10, 20)}
    (tmp_path / "now.json").write_text(json.dumps(now))
    (tmp_path / "old.json").write_text(json.dumps(_report({"svi/a.py": (9, 10), "cli/c.py": (4, 5)})))
    assert main([str(tmp_path / "now.json"), "--against", str(tmp_path / "old.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:4] == ["cli", "100.00%", "5", "/"] and "before  80.00%" in out[1]
    assert out[2].split()[:2] == ["svi", "50.00%"] and "before  90.00%" in out[2]
    assert out[3].split()[:2] == ["total", "60.00%"] and "13 / 15" in out[3]
