"""The tests that promise bit-identity (`@pytest.mark.bitwise("why")`) each say why, and the testing
guide lists them all: its table is read from the markers (docs/hooks/bitwise.py)."""

from __future__ import annotations

from tests.hooks import ROOT, load_hook


def _hook():
    return load_hook("bitwise")


def test_every_bitwise_test_names_its_reason_and_is_listed():
    hook = _hook()
    found = dict(hook.bitwise_tests())
    assert (
        "tests/scoring/test_drift_protocols.py::test_long_horizon_coherence_reads_the_consistency_features_once"
        in found
    )
    assert (
        "tests/svi/test_train.py::test_two_rank_deepspeed_run_killed_and_resumed_matches_uninterrupted"
        in found
    )
    empty = [test for test, reason in found.items() if len(reason.split()) < 4]
    assert not empty, f"bitwise markers without a reason: {empty}"
    table = hook.bitwise_table()
    assert all(f"`{test}`" in table for test in found) and table.count("\n| `") == len(found)
    guide = (ROOT / "docs" / "guides" / "testing.md").read_text()
    assert hook.MARKER in guide  # the guide shows the table


def test_a_planted_marker_without_a_reason_is_found(tmp_path):
    hook = _hook()
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_planted.py").write_text(
        "import pytest\n\n@pytest.mark.bitwise\ndef test_a():\n    pass\n\n"
        '@pytest.mark.bitwise("")\ndef test_b():\n    pass\n\n'
        '@pytest.mark.bitwise("same shapes, one thread")\ndef test_c():\n    pass\n'
    )
    assert dict(hook.bitwise_tests(tests)) == {
        "tests/test_planted.py::test_a": "",  # a bare marker
        "tests/test_planted.py::test_b": "",
        "tests/test_planted.py::test_c": "same shapes, one thread",
    }
