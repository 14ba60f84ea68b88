"""toyworld/futures.py: other true futures of a benchmark sample (the `truth_alt` reference), read from
its world.json on both tracks and in both worlds."""

from dataclasses import replace

import numpy as np
import pytest

from toyworld.futures import FUTURES_STREAM, drawn_futures, kept_discs, other_futures, world_cameras
from toyworld.world import WORLD3_HEADINGS, WORLD3_SPEEDS, redrawn_motion, render, sample_scene
from toyworld.writers import TRACK_FOLDERS, true_video, write_benchmark

FRAMES = 40  # past the creative storylines' first event (clip 1 starts showing it at frame 9)


@pytest.fixture(scope="module")
def benches(tmp_path_factory):
    """world -> a toy benchmark of one sample per track, on 9-frame clips (storyline events early)."""
    root = tmp_path_factory.mktemp("bench")
    return {
        world: write_benchmark(
            root / f"world{world}",
            num_consistent=1,
            num_creative=1,
            size=(32, 32),
            story_clips=6,
            clip_frames=9,
            world=world,
            progress=False,
        )  # fmt: skip
        for world in (2, 3)
    }


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("track", ["consistent", "creative"])
def test_other_futures_start_at_the_truths_first_frame_and_go_elsewhere(benches, world, track):
    sample = benches[world] / TRACK_FOLDERS[track] / "toy_000"
    truth = true_video(sample, FRAMES)
    futures = other_futures(sample, FRAMES, draws=3, seed=5)
    assert len(futures) == 3
    for video in futures:
        assert video.shape == truth.shape and video.dtype == np.uint8
        assert np.array_equal(video[0], truth[0])  # the sample's first frame
        assert not np.array_equal(video[-1], truth[-1])  # another future
    assert not np.array_equal(futures[0], futures[1]) and not np.array_equal(futures[1], futures[2])
    again = other_futures(sample, FRAMES, draws=3, seed=5)  # seeded: the same draws
    assert all(np.array_equal(a, b) for a, b in zip(futures, again))
    assert not np.array_equal(other_futures(sample, FRAMES, 1, seed=6)[0], futures[0])
    later = other_futures(sample, FRAMES - 10, draws=3, seed=5, start=10)  # from a later frame
    assert np.array_equal(later[1], futures[1][10:])


def test_a_storylines_futures_keep_its_events(benches):
    """A storyline's draws change what its first scene leaves open and keep its events: with every
    subject's motion drawn as the first draw draws it, the storyline's frames are the draw's."""
    from toyworld.story import render_story
    from toyworld.writers import load_world

    story = load_world(benches[3] / TRACK_FOLDERS["creative"] / "toy_000")
    assert story.events  # the storyline changes within the frames drawn
    (video,) = drawn_futures(story, FRAMES, 1, seed=5)
    rng = np.random.default_rng([5, FUTURES_STREAM])
    scene = story.scene
    drawn = replace(
        scene,
        objects=tuple(redrawn_motion(s, rng) for s in scene.objects),
        camera=replace(scene.camera, landscape_seed=scene.camera.landscape_seed + 1),
    )
    assert np.array_equal(
        video, render_story(replace(story, scene=drawn), 0, FRAMES, discs=kept_discs(scene))
    )


def test_the_first_draw_is_stated_by_its_stream():
    """Draw 0 of a scene: its subjects' motion from stream [seed, FUTURES_STREAM], landscape seed + 1,
    frame 0's discs kept (what world3_headroom's `sampler` rows drew before the function moved here)."""
    scene = sample_scene(7, (64, 64), world=3)
    (video,) = drawn_futures(scene, 33, 1, seed=11)
    rng = np.random.default_rng([11, FUTURES_STREAM])
    objects = tuple(redrawn_motion(s, rng) for s in scene.objects)
    cam = replace(scene.camera, landscape_seed=scene.camera.landscape_seed + 1)
    assert np.array_equal(
        video, render(replace(scene, objects=objects, camera=cam), 0, 33, discs=kept_discs(scene))
    )


def test_the_worlds_cameras_are_world_3s_and_none_where_the_camera_holds_still(benches):
    headings, speeds = world_cameras(benches[3] / TRACK_FOLDERS["creative"] / "toy_000")
    assert sorted(headings) == sorted(WORLD3_HEADINGS) and sorted(speeds) == sorted(WORLD3_SPEEDS)
    assert world_cameras(benches[2] / TRACK_FOLDERS["consistent"] / "toy_000") is None
    with pytest.raises(FileNotFoundError, match="toy-world samples"):
        other_futures(benches[2], 9, 2, seed=0)  # not a sample
