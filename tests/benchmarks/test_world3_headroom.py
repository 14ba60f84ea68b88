"""benchmarks/toyworld/world3_headroom.py: the clips it scores, and the headroom it exists to show."""

import json

import pytest

from benchmarks.toyworld.world3_headroom import clip_spans, headroom, main


def test_clip_spans_are_a_chained_videos_clips():
    # clip 0 holds its 17 frames, each later clip its 16 new ones (the boundary frame is shared)
    assert clip_spans(3) == [slice(0, 17), slice(17, 33), slice(33, 49)]


def test_a_sampler_that_knows_the_physics_beats_the_held_frame_once_the_camera_has_moved():
    rows = headroom(samples=2, seconds=8)
    frozen, other = rows["frozen"], rows["other_landscape"]
    assert len(frozen) == len(other) == 4
    assert frozen[0] < frozen[-1]  # the held frame falls behind as the camera travels
    assert other[-1] < frozen[-1]  # redrawn discs ahead cost less than the whole picture standing still


def test_command_line(capsys):
    assert main(["--samples", "1", "--seconds", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["samples"] == 1 and len(out["per_clip"]["frozen"]) == 1
    with pytest.raises(SystemExit):
        main(["--samples", "0"])
