"""benchmarks/toyworld/camera_following.py: its displacement estimate against known shifts and the
toy world's camera, and its arguments."""

import json
from dataclasses import replace

import numpy as np
import pytest

from benchmarks.toyworld.camera_following import (
    SPEED,
    displacement,
    following,
    heading_spread,
    main,
)
from toyworld.world import CAMERA_HEADINGS, CAMERA_SPEEDS, WORLD3_HEADINGS, render, sample_scene


def test_displacement_finds_a_known_shift_and_a_still_picture():
    rng = np.random.default_rng(0)
    image = rng.random((64, 64, 3)).astype(np.float32)
    assert displacement(image, image, 8) == (0, 0)
    moved = np.roll(image, (3, -5), axis=(0, 1))  # the content of image[y, x] is at moved[y + 3, x - 5]
    assert displacement(image, moved, 8) == (3, -5)
    with pytest.raises(ValueError, match="half the frame side"):
        displacement(image, moved, 32)


def test_displacement_of_the_toy_worlds_camera_is_its_speed_over_a_clip():
    """A camera heading right at `SPEED` moves the landscape left by its speed x 16 frames (the
    subjects bounce on their own, so the estimate may miss by a pixel)."""
    scene = sample_scene(3, (64, 64), world=3)
    scene = replace(scene, camera=replace(scene.camera, heading="right", speed=SPEED))
    clip = render(scene, 0, 17).astype(np.float32) / 255
    dy, dx = displacement(clip[0], clip[-1], 20)
    expected = CAMERA_SPEEDS[SPEED] * 64 * 16
    assert abs(dy) <= 1 and abs(dx + expected) <= 1


def test_following_known_answers():
    truth = np.array([0.0, -16.0])
    assert following(truth, truth) == (1.0, 0.0)
    assert following(np.zeros(2), truth) == (0.0, 16.0)  # a still picture
    assert following(-truth, truth) == (-1.0, 32.0)  # the wrong way
    with pytest.raises(ValueError, match="does not move"):
        following(truth, np.zeros(2))


def test_heading_spread_known_answers():
    same = np.ones((8, 2, 4, 4, 3))
    assert heading_spread(same) == 0.0  # a heading that changes nothing
    two = np.stack([np.zeros((2, 4, 4, 3)), np.ones((2, 4, 4, 3))])
    assert heading_spread(two) == 0.5


def test_a_reach_the_frame_cannot_hold_stops_before_any_work(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--reach", "32"])
    assert stop.value.code == 2 and "below half the frame side (32)" in capsys.readouterr().err


def test_one_scene_of_the_committed_base(capsys):
    """The scene's own camera: its one drawn heading, 8 or 16 px over a clip on an axis (x 1.41 on a
    diagonal); the subjects move too."""
    assert main(["--samples", "1", "--threads", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["toy_world"] == 3 and len(out["following_per_heading"]) == 1
    assert set(out["following_per_heading"]) <= set(WORLD3_HEADINGS) and "heading_spread" not in out
    assert 7 <= out["truth_px"] <= 23


def test_text_cfg_asked_with_set_reaches_the_clip(monkeypatch, capsys):
    """`--set generate.guidance_scale=4` guides the clip against the negative prompt (it once passed no
    negative context, so the scale was silently ignored). The real generate_clip runs; the spy only
    records what it was given."""
    from svi.generation.generator import LongVideoGenerator

    given, real = [], LongVideoGenerator.generate_clip

    def spy(self, *args):
        given.append(args[-1])  # neg_context, the last argument
        return real(self, *args)

    monkeypatch.setattr(LongVideoGenerator, "generate_clip", spy)
    for scale in ("1", "4"):
        argv = "--samples 1 --threads 1 --set generate.steps=2".split()
        argv += ["--set", f"generate.guidance_scale={scale}"]
        assert main(argv) == 0
    capsys.readouterr()
    assert given[0] is None and given[1] is not None and given[1].shape[0] == 1


@pytest.mark.slow  # eight clips of the toy model (12 s), for a diagnostic's option
def test_all_headings_restates_a_scene_under_the_eight(capsys):
    """Few sampling steps: what is checked is the restating, not the base's clip."""
    assert main(["--samples", "1", "--threads", "1", "--all-headings", "--set", "generate.steps=2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out["following_per_heading"]) == list(CAMERA_HEADINGS) and out["speed"] == SPEED
    assert 15 <= out["truth_px"] <= 23  # 16 px on an axis, 22.6 on a diagonal
    assert out["heading_spread"]["truth"] > 0.05 and out["heading_spread"]["base"] >= 0
