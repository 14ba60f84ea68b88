"""benchmarks/toyworld/world3_headroom.py: the clips it scores, and the headroom it exists to show."""

import json
from dataclasses import replace

import numpy as np
import pytest

from benchmarks.toyworld.world3_headroom import (
    clip_spans,
    drawn_futures,
    headroom,
    kept_discs,
    main,
)
from toyworld.world import WORLD3_HEADINGS, redrawn_motion, render, sample_scene


def test_clip_spans_are_a_chained_videos_clips():
    # clip 0 holds its 17 frames, each later clip its 16 new ones (the boundary frame is shared)
    assert clip_spans(3) == [slice(0, 17), slice(17, 33), slice(33, 49)]


def test_a_sampler_that_knows_the_physics_beats_the_held_frame_once_the_camera_has_moved():
    rows = headroom(samples=2, seconds=8)
    frozen, other = rows["frozen"], rows["other_landscape"]
    assert len(frozen) == len(other) == 4
    assert frozen[0] < frozen[-1]  # the held frame falls behind as the camera travels
    assert other[-1] < frozen[-1]  # redrawn discs ahead cost less than the whole picture standing still


def test_keeping_what_frame_0_shows_is_the_truth_until_new_landscape_comes_into_view():
    """Known answers: the kept discs are every disc frame 0 shows, so another landscape seed with them
    renders frame 0 exactly as the truth; new cells then come in with other discs, so the video parts
    from the truth later (a 1 px / frame camera crosses a 32 px landscape cell in 32 frames)."""
    scene = sample_scene(7, (64, 64), world=3)
    scene = replace(scene, camera=replace(scene.camera, speed="steadily"))
    other = replace(scene, camera=replace(scene.camera, landscape_seed=scene.camera.landscape_seed + 1))
    truth, kept = render(scene, 0, 80), render(other, 0, 80, discs=kept_discs(scene))
    assert np.array_equal(kept[0], truth[0])
    assert not np.array_equal(render(other, 0, 1)[0], truth[0])  # without them frame 0 differs
    assert not np.array_equal(kept[-1], truth[-1])
    own = render(scene, 0, 80, discs=kept_discs(scene))  # the scene's own discs change nothing
    assert np.array_equal(own, truth)


def test_keep_in_view_beats_the_held_frame_and_redrawing_everything():
    rows = headroom(samples=2, seconds=6)
    assert all(k < o for k, o in zip(rows["keep_in_view"], rows["other_landscape"]))
    assert all(k <= f for k, f in zip(rows["keep_in_view"], rows["frozen"]))
    assert rows["keep_in_view"][0] == 0.0  # clip 0 holds only what frame 0 showed


def test_command_line(capsys):
    assert main(["--samples", "1", "--seconds", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["samples"] == 1 and len(out["per_clip"]["frozen"]) == 1
    assert main(["--samples", "1", "--seconds", "2", "--samplers"]) == 0
    assert {"sampler", "sampler_blind"} <= set(json.loads(capsys.readouterr().out)["mean"])
    with pytest.raises(SystemExit):
        main(["--samples", "0"])
    with pytest.raises(SystemExit):
        main(["--vae", "/no/such/folder"])
    assert "no such folder" in capsys.readouterr().err


def test_a_drawn_future_starts_as_the_truth_and_only_the_blind_one_changes_the_camera():
    """Known answers: a drawn future keeps the subjects where frame 0 shows them and frame 0's discs, so
    its frame 0 is the truth's exactly; the subjects' new velocities part it from the truth later. The
    sampler that reads the prompt keeps the truth's camera; the blind one draws it, so over draws its
    cameras are not all the truth's."""
    scene = sample_scene(7, (64, 64), world=3)
    truth = render(scene, 0, 33)
    for blind in (False, True):
        futures = drawn_futures(scene, 33, draws=3, blind=blind, seed=1)
        assert len(futures) == 3
        for video in futures:
            assert video.shape == truth.shape and np.array_equal(video[0], truth[0])
            assert not np.array_equal(video[-1], truth[-1])
    again = drawn_futures(scene, 33, draws=3, blind=True, seed=1)  # seeded: the same draws
    assert all(np.array_equal(a, b) for a, b in zip(again, drawn_futures(scene, 33, 3, True, seed=1)))
    # Without subjects only the camera and the landscape seed are left: the reading draws render the
    # truth's camera over landscape seed + 1 + j, and the blind ones do not all draw that camera.
    bare = replace(scene, objects=())
    cam = bare.camera
    reading = drawn_futures(bare, 33, draws=3, blind=False, seed=1)
    blind = drawn_futures(bare, 33, draws=3, blind=True, seed=1)
    for j, video in enumerate(reading):
        seeded = replace(bare, camera=replace(cam, landscape_seed=cam.landscape_seed + 1 + j))
        assert np.array_equal(video, render(seeded, 0, 33, discs=kept_discs(bare)))
    assert any(not np.array_equal(b, r) for b, r in zip(blind, reading))


def test_redrawn_motion_keeps_where_a_subject_is_and_leaves_an_entering_one_alone():
    scene = sample_scene(7, (64, 64), world=3)
    rng = np.random.default_rng(0)
    for sprite in scene.objects:
        new = redrawn_motion(sprite, rng)
        assert (new.position, new.angle, new.shape, new.size) == (
            sprite.position,
            sprite.angle,
            sprite.shape,
            sprite.size,
        )
        assert new.velocity != sprite.velocity
    entering = replace(scene.objects[0], enter_frame=8, enter_edge="left")
    assert redrawn_motion(entering, rng) is entering


def test_a_sampler_must_read_the_heading_to_beat_the_held_frame():
    """What the rows exist to show, on 2 scenes and 8 s without the VAE: a perfect sampler that reads
    the camera's words beats the held frame once the camera has moved, and one that draws the camera
    instead is further from the truth than the one that reads it (eight headings: it is almost never
    the truth's)."""
    assert len(WORLD3_HEADINGS) == 8
    rows = headroom(samples=2, seconds=8, samplers=True)
    sampler, blind, frozen = rows["sampler"], rows["sampler_blind"], rows["frozen"]
    assert sampler[-1] < frozen[-1]
    assert np.mean(sampler) < np.mean(blind)
    assert all(k <= s for k, s in zip(rows["keep_in_view"], sampler))  # knowing the subjects' paths helps
