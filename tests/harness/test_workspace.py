"""Stage markers: a claimed stage resumes only under the configuration that started it."""

from harness.base import workspace


def test_open_stage_claims_resumes_and_wipes(tmp_path):
    stage = tmp_path / "stage"
    assert workspace.open_stage(stage, "a", claim=True) is False  # new: claimed for configuration a
    (stage / "partial.mp4").write_text("cut short")
    assert (
        workspace.open_stage(stage, "a", claim=True) is False and (stage / "partial.mp4").is_file()
    )  # resumes
    assert workspace.open_stage(stage, "b", claim=True) is False  # another configuration: a's work goes
    assert not (stage / "partial.mp4").exists() and workspace.stage_hash_of(stage) == "b"
    workspace.mark_stage(stage, "b")
    assert workspace.open_stage(stage, "b") is True  # done
    assert workspace.open_stage(stage, "b", force=True) is False and not workspace.stage_done(stage, "b")


def test_open_stage_without_claim_leaves_no_marker(tmp_path):
    assert (
        workspace.open_stage(tmp_path / "s", "a") is False and workspace.stage_hash_of(tmp_path / "s") is None
    )
