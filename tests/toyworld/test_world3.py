"""Toy world 3: a travelling camera over an endless landscape (determinism, any length, the camera's
travel, a held frame falling behind), with world 2 left as it was."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from scoring import suites
from toyworld import story, world, writers


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-frame PSNR (dB) of uint8 videos [F, H, W, 3]."""
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
    return float(np.mean(10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))))


def test_world3_scene_is_world2s_scene_with_a_camera():
    for seed in range(10):
        two, three = world.sample_scene(seed), world.sample_scene(seed, world=3)
        assert two.camera is None and two.world == 2 and "camera" not in two.to_dict()  # world 2's files
        assert three.world == 3 and replace(three, camera=None) == two
        cam = three.camera
        assert cam.heading in world.WORLD3_HEADINGS and cam.speed in world.WORLD3_SPEEDS
        taken = {*three.background.colours, *(o.colour for o in three.objects)}
        assert len(set(cam.colours)) == world.LANDSCAPE_COLOURS and not taken & set(cam.colours)
        again = world.Scene.from_dict(json.loads(json.dumps(three.to_dict())))
        assert again == three
    with pytest.raises(ValueError, match="choose one of 2, 3"):
        world.sample_scene(0, world=4)


@pytest.mark.parametrize("size", [(64, 64), (32, 64)])
@pytest.mark.bitwise(
    "each pixel is a closed-form function of its frame index and world coordinates, evaluated "
    "elementwise, so a frame range or chunk changes which frames are computed together, not how"
)
def test_world3_renders_any_frame_directly_and_the_same_bytes_every_time(size, monkeypatch):
    for seed in range(3):
        scene = world.sample_scene(seed, size, world=3)
        frames = world.render(scene, 0, 40)
        assert frames.shape == (40, *size, 3)
        assert np.array_equal(world.render(scene, 0, 40), frames)
        assert np.array_equal(world.render(scene, 13, 9), frames[13:22])
    # far along (about 21 minutes at 8 fps): a late window is rendered without the frames before it
    late = world.render(scene, 10_000, 6)
    assert np.array_equal(world.render(scene, 10_003, 3), late[3:])
    monkeypatch.setattr(world, "CHUNK_PIXELS", 2 * size[0] * size[1])  # rendered two frames at a time
    assert np.array_equal(world.render(scene, 5, 30), frames[5:35])


@pytest.mark.bitwise(
    "a world-3 frame's background is each frame's own render_background under the camera; the static "
    "background the frames were first filled with was overwritten whole, so leaving it out changes no byte"
)
def test_world3_draws_each_frames_background_once_and_the_same_frames(monkeypatch):
    """World 3 renders one background per frame (the camera's view), world 2 one for the whole call;
    the frames are those of the frame-by-frame composition: a static background, were one drawn first
    and poisoned, never reaches a world-3 frame."""
    real, calls = world.render_background, []

    def counted(background, size, offset=None):
        calls.append(offset)
        return real(background, size, offset) if offset is not None else real(background, size)

    scene3, scene2 = world.sample_scene(4, world=3), world.sample_scene(4)
    want3, want2 = world.render(scene3, 3, 12), world.render(scene2, 3, 12)
    monkeypatch.setattr(world, "render_background", counted)
    assert np.array_equal(world.render(scene3, 3, 12), want3)
    assert len(calls) == 12 and all(offset is not None for offset in calls)
    calls.clear()
    assert np.array_equal(world.render(scene2, 3, 12), want2) and calls == [None]

    def poisoned(background, size, offset=None):  # a static background full of NaN
        return (
            real(background, size, offset) if offset is not None else np.full((*size, 3), np.nan, np.float32)
        )

    monkeypatch.setattr(world, "render_background", poisoned)
    assert np.array_equal(world.render(scene3, 3, 12), want3)


def test_a_camera_refuses_an_unknown_heading_or_speed_naming_the_allowed_ones():
    cam = world.sample_scene(0, world=3).camera
    with pytest.raises(ValueError, match="heading 'north' is not one of: 'right', .*'up and to the right'"):
        replace(cam, heading="north")
    with pytest.raises(ValueError, match="speed 'fast' is not one of: 'slowly', 'steadily'"):
        replace(cam, speed="fast")
    scene = world.sample_scene(0, world=3).to_dict()
    scene["camera"]["heading"] = "sideways"  # a world.json written by hand
    with pytest.raises(ValueError, match="heading 'sideways'"):
        world.Scene.from_dict(scene)


def test_the_picture_moves_against_the_camera_one_pixel_a_frame():
    """Known answer: a camera moving steadily right (1/64 of a frame side per frame at 64 px) shows the
    landscape one pixel further left in every frame."""
    base = world.sample_scene(5, world=3)
    camera = replace(base.camera, heading="right", speed="steadily")
    scene = replace(base, objects=(), camera=camera, background=world.Background("solid", ("grey", "grey")))
    frames = world.render(scene, 100, 9).astype(int)  # [9, 64, 64, 3]
    assert frames.std() > 20  # the landscape shows discs
    for t in range(8):
        assert np.abs(frames[t + 1][:, :-1] - frames[t][:, 1:]).max() <= 1  # up to rounding
    down = replace(scene, camera=replace(camera, heading="down"))
    frames = world.render(down, 100, 3).astype(int)
    assert np.abs(frames[1][:-1] - frames[0][1:]).max() <= 1
    vy, vx = replace(camera, heading="up and to the left", speed="slowly").velocity
    assert vy == pytest.approx(vx) and math.hypot(vy, vx) == pytest.approx(0.5 / 64)


def test_a_held_frame_falls_behind_in_world3_and_the_world_never_repeats():
    """The first frame held still loses to the truth far more in world 3 than in world 2 (the gate G1's
    other side), and no later window of a long world-3 video is a copy of an earlier one."""
    held2, held3 = [], []
    for i in range(4):
        seed = world.scene_seed("consistent", 1000, i)
        for w, out in ((2, held2), (3, held3)):
            video = world.render(world.sample_scene(seed, world=w), 0, 161)  # 20 s at 8 fps
            out.append(psnr(np.repeat(video[:1], 160, axis=0), video[1:]))
    assert np.mean(held3) < 14 < np.mean(held2) - 1
    video = world.render(
        world.sample_scene(world.scene_seed("consistent", 1000, 0), world=3), 0, 801, size=(32, 32)
    )
    for t in range(0, 800, 80):  # frame t against every frame at least 5 s later
        assert max(psnr(video[t : t + 1], video[s : s + 1]) for s in range(t + 40, 801, 8)) < 25


def test_world3_prompts_state_the_landscape_and_where_the_camera_goes():
    scene = world.sample_scene(3, world=3)
    text = world.describe(scene)
    assert text.startswith(world.describe(replace(scene, camera=None))[:-1])
    assert f"scattered with {scene.camera.colours[0]} and {scene.camera.colours[1]} discs." in text
    assert text.endswith(f"The camera moves {scene.camera.speed} {scene.camera.heading}.")


def test_world3_storylines_keep_the_camera_going_through_events():
    scene = world.sample_scene(4, world=3)
    line = story.sample_storyline(scene, 9, 6)
    assert all(story.clip_scene(line, k).camera == scene.camera for k in range(6))
    frames = story.render_story(line, 0, line.num_frames)
    assert np.array_equal(story.render_story(line, 30, 20), frames[30:50])
    assert all("The camera moves" in p for p in story.prompts(line))


def test_world3_training_set_and_benchmark(tmp_path):
    root = writers.write_benchmark(
        tmp_path / "bench", num_consistent=1, num_creative=1, story_clips=4, world=3, progress=False
    )
    assert json.loads((root / "toyworld.json").read_text())["world"] == 3
    (sample,), _ = suites.load_samples(suites.suite_folder(root, "consistent", "50s"))
    assert writers.load_world(sample.image.parent).camera is not None
    assert "The camera moves" in sample.prompts[0]
    assert writers.true_video(sample.image.parent, 300).shape == (300, 64, 64, 3)  # any length
    two = writers.write_benchmark(
        tmp_path / "two", num_consistent=1, num_creative=1, story_clips=4, progress=False
    )
    assert "world" not in json.loads((two / "toyworld.json").read_text())  # world 2's stamps as before
    frames, prompt = writers.training_clip(0, 2, num_frames=17, size=(64, 64), story=False, world=3)
    assert frames.shape == (17, 64, 64, 3) and "The camera moves" in prompt
    with pytest.raises(ValueError, match="unknown toy world"):
        writers.write_training_set(tmp_path / "bad", 1, world=1, progress=False)


def test_cli_writes_world3(tmp_path, capsys):
    from toyworld.__main__ import main

    assert main(["preview", str(tmp_path / "p.mp4"), "--world", "3", "--frames", "9"]) == 0
    assert "The camera moves" in capsys.readouterr().out
    assert (
        main(["benchmark", str(tmp_path / "b"), "--world", "3", "--consistent", "1", "--creative", "0"]) == 0
    )
    assert json.loads((tmp_path / "b" / "toyworld.json").read_text())["world"] == 3


def test_world3_sets_are_stamped_with_the_camera_they_draw():
    """World 3's stamp records the cameras its scenes are drawn from (all eight headings, both speeds),
    so a set drawn from other cameras has another stamp and is written again."""
    assert writers.world_param(2) == {}  # world 2's stamps as they were
    camera = writers.world_param(3)["camera"]
    assert camera == {"headings": list(world.CAMERA_HEADINGS), "speeds": list(world.CAMERA_SPEEDS)}
