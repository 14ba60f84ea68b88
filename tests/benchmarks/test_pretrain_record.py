"""The pretraining record: per phase and machine, steps, median seconds and minutes; final losses."""

from __future__ import annotations

import json

import pytest

from benchmarks.toyworld import pretrain_record as R


def planted(folder):
    rows = [
        {"stage": "vae", "step": s, "vae/l1": 0.5, "vae/num_frames": 5, "vae/seconds_per_step": 1.0}
        for s in (1, 2)
    ]
    rows += [
        {"stage": "vae", "step": s, "vae/l1": 0.2, "vae/num_frames": 17, "vae/seconds_per_step": t}
        for s, t in ((3, 0.3), (4, 2.0), (5, 4.0))
    ]
    rows += [  # a whole-frame phase (vae/side 64 where the crops above logged none)
        {
            "stage": "vae",
            "step": 6,
            "vae/l1": 0.1,
            "vae/num_frames": 17,
            "vae/side": 64,
            "vae/seconds_per_step": 5.0,
        }
    ]
    rows += [
        {"stage": "dit", "step": s, "dit/loss": float(s), "dit/seconds_per_step": 6.0} for s in (1, 2, 3)
    ]
    folder.mkdir()
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_parts_split_by_phase_and_machine(tmp_path):
    rec = R.record(planted(tmp_path / "run"), {"vae": (3, "GPU")}, "CPU")
    vae = {(p["frames"], p["where"]): p for p in rec["stages"]["vae"]["parts"] if p["side"] is None}
    assert set(vae) == {(5, "GPU"), (17, "GPU"), (17, "CPU")}
    whole = [p for p in rec["stages"]["vae"]["parts"] if p["side"] == 64]
    assert len(whole) == 1 and whole[0]["steps"] == 1 and whole[0]["median_seconds"] == 5.0
    assert "| vae | 17-frame windows at 64 px | CPU | 1 | 5.000 |" in R.markdown(rec)
    assert vae[(17, "CPU")]["steps"] == 2 and vae[(17, "CPU")]["median_seconds"] == pytest.approx(3.0)
    assert vae[(17, "CPU")]["minutes"] == pytest.approx(0.1)  # 6 s
    assert rec["stages"]["vae"]["final"]["vae/l1"] == pytest.approx((0.5 * 2 + 0.2 * 3 + 0.1) / 6)
    assert rec["stages"]["dit"]["final"] == {"dit/loss": pytest.approx(2.0)}
    assert rec["stages"]["dit"]["parts"][0]["where"] == "CPU"  # a stage not named in moved ran here


def test_bad_moved_and_missing_folder_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit, match="STAGE=STEPS:WHERE"):
        R.parse_moved(["vae2750"])
    assert R.main([str(tmp_path)]) == 2
    assert "no metrics.jsonl" in capsys.readouterr().err
