"""The toy world: determinism, closed-form continuation, bouncing, storylines, labels, file formats."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from scoring import suites
from toyworld import story, world, writers
from toyworld.__main__ import main

# ---------------------------------------------------------------------------------------------------
# Scenes
# ---------------------------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_frames():
    a, b = world.sample_scene(7), world.sample_scene(7)
    assert a == b
    assert world.render(a, 0, 20).tobytes() == world.render(b, 0, 20).tobytes()
    assert not np.array_equal(world.render(a, 0, 20), world.render(world.sample_scene(8), 0, 20))
    # JSON round trip keeps every float exactly
    again = world.Scene.from_dict(json.loads(json.dumps(a.to_dict())))
    assert again == a and np.array_equal(world.render(again, 5, 3), world.render(a, 5, 3))


@pytest.mark.parametrize("size", [(64, 64), (32, 32), (32, 64)])
@pytest.mark.bitwise(
    "each pixel is a closed-form function of its frame index, evaluated elementwise, so chunking changes which frames are computed together, not how"
)
def test_render_at_an_offset_equals_slicing_a_longer_render(size, monkeypatch):
    for seed in range(6):
        scene = world.sample_scene(seed, size)
        frames = world.render(scene, 0, 40)  # [F, H, W, 3]
        assert frames.shape == (40, *size, 3) and frames.dtype == np.uint8
        assert np.array_equal(world.render(scene, 10, 5), frames[10:15])
        assert np.array_equal(world.render(scene, 39, 1), frames[39:])
    # the same when rendering in chunks of 3 frames
    monkeypatch.setattr(world, "CHUNK_PIXELS", 3 * size[0] * size[1])
    assert np.array_equal(world.render(scene, 7, 20), frames[7:27])


def test_sizes_must_be_multiples_of_16():
    with pytest.raises(ValueError, match="multiple of 16"):
        world.sample_scene(0, (40, 64))
    scene = world.sample_scene(0, (64, 64))
    assert world.render(scene, 0, 2, size=(32, 32)).shape == (2, 32, 32, 3)
    with pytest.raises(ValueError, match="aspect ratio"):
        world.render(scene, 0, 1, size=(32, 64))


def test_objects_bounce_inside_the_frame_for_1000_frames():
    t = np.arange(1000, dtype=np.float64)
    for seed in range(30):
        scene = world.sample_scene(seed, (32, 64) if seed % 3 == 0 else (64, 64))
        height, width = world.extent(scene.size)
        for sprite in scene.objects:
            y, x = world.centres(sprite, t, scene.size)
            r = sprite.radius
            assert y.min() >= r - 1e-9 and y.max() <= height - r + 1e-9
            assert x.min() >= r - 1e-9 and x.max() <= width - r + 1e-9
            # no teleporting: steps never exceed the speed, and the objects do move
            steps = np.hypot(np.diff(y), np.diff(x))
            assert steps.max() <= np.hypot(*sprite.velocity) + 1e-9 and steps.mean() > 0.5 / 64 / 2
            assert 0.5 / 64 <= np.hypot(*sprite.velocity) <= 2.5 / 64


def test_object_is_drawn_where_the_physics_puts_it():
    scene = world.sample_scene(3)
    solid = world.Background("solid", ("black", "black"))
    sprite = replace(scene.objects[0], colour="white", shape="circle")
    one = world.Scene(solid, (sprite,), (64, 64))
    frames = world.render(one, 0, 300).astype(float).mean(axis=-1)  # [F, H, W]
    y, x = world.centres(sprite, np.arange(300.0), one.size)
    ys, xs = (np.arange(64) + 0.5) / 64, (np.arange(64) + 0.5) / 64
    weight = frames - frames.min()
    centre_y = (weight.sum(axis=2) * ys).sum(axis=1) / weight.sum(axis=(1, 2))
    centre_x = (weight.sum(axis=1) * xs).sum(axis=1) / weight.sum(axis=(1, 2))
    assert np.abs(centre_y - y).max() < 0.5 / 64 and np.abs(centre_x - x).max() < 0.5 / 64
    # anti-aliased: edge pixels take intermediate values
    assert ((frames > 40) & (frames < 200)).any()


def test_descriptions_name_everything_and_distinct_scenes_read_differently():
    texts = {}
    for seed in range(300):
        scene = world.sample_scene(seed)
        text = world.describe(scene)
        for sprite in scene.objects:
            assert f"{sprite.colour} {sprite.shape}" in text
        assert scene.background.colours[0] in text
        if scene.background.kind != "solid":
            assert scene.background.colours[1] in text
        key = (tuple(world.labels(scene).items()), tuple(world.size_word(o) for o in scene.objects))
        key += (world.background_phrase(scene.background),)
        assert texts.setdefault(text, key) == key, f"two different scenes read {text!r}"
    scene = world.sample_scene(0)
    orange = replace(scene.objects[0], colour="orange", shape="circle", size=0.27)  # no size word
    assert world.describe(replace(scene, objects=(orange,))).startswith("An orange circle bounces around")


def test_labels_match_the_scene():
    for seed in range(40):
        scene = world.sample_scene(seed)
        lab = world.labels(scene)
        assert set(lab) == set(world.LABEL_CLASSES)
        assert world.BACKGROUND_KINDS[lab["background_kind"]] == scene.background.kind
        assert list(world.COLOURS)[lab["background_colour"]] == scene.background.colours[0]
        assert lab["num_objects"] == len(scene.objects)
        for i in range(3):
            if i < len(scene.objects):
                assert world.SHAPES[lab[f"object{i}_shape"]] == scene.objects[i].shape
                assert list(world.COLOURS)[lab[f"object{i}_colour"]] == scene.objects[i].colour
            else:
                assert lab[f"object{i}_shape"] == lab[f"object{i}_colour"] == world.NONE
        assert all(-1 <= v < world.LABEL_CLASSES[k] for k, v in lab.items())


def test_labeled_frames_are_deterministic_and_match_their_scenes():
    frames, table = world.sample_labeled_frames(12, seed=5, size=(32, 32))
    again, table2 = world.sample_labeled_frames(12, seed=5, size=(32, 32))
    assert frames.shape == (12, 32, 32, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames, again) and all(np.array_equal(table[k], table2[k]) for k in table)
    assert all(v.dtype == np.int64 and v.shape == (12,) for v in table.values())
    for i in range(12):
        scene = world.sample_scene(world.scene_seed("labels", 5, i), (32, 32))
        assert {k: int(v[i]) for k, v in table.items()} == world.labels(scene)
    assert not np.array_equal(frames, world.sample_labeled_frames(12, seed=6, size=(32, 32))[0])


def test_training_and_benchmark_seeds_are_disjoint():
    train = {world.scene_seed("train", s, i) for s in range(3) for i in range(200)}
    bench = {
        world.scene_seed(t, s, i) for t in ("consistent", "creative") for s in range(3) for i in range(200)
    }
    assert max(train) < 2**62 <= min(bench)


# ---------------------------------------------------------------------------------------------------
# Storylines
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def line():
    return story.sample_storyline(world.sample_scene(5), seed=11, num_clips=40)


def test_storyline_events_every_one_to_three_clips(line):
    clips = [e.clip for e in line.events]
    assert clips and clips[0] in (1, 2, 3) and all(1 <= b - a <= 3 for a, b in zip(clips, clips[1:]))
    assert {e.kind for e in line.events} <= set(story.EVENT_KINDS)
    assert line.event_frame(2) == 2 * 16 + 1
    assert story.Storyline.from_dict(json.loads(json.dumps(line.to_dict()))) == line
    assert line == story.sample_storyline(world.sample_scene(5), seed=11, num_clips=40)
    for clip in range(line.num_clips):
        assert 1 <= len(story.clip_scene(line, clip).objects) <= 3


def test_storyline_prompts_change_exactly_at_event_clips(line):
    texts = story.prompts(line)
    assert len(texts) == line.num_clips
    event_clips = {e.clip for e in line.events}
    for k in range(1, line.num_clips):
        if k in event_clips:
            assert texts[k] != texts[k - 1]
        else:  # the scene as the previous clip left it, without the previous change sentence
            assert texts[k] == world.describe(story.clip_scene(line, k - 1))
        assert texts[k].endswith(world.describe(story.clip_scene(line, k)))
    first = next(e for e in line.events)
    assert texts[first.clip].split(". ")[0] + "." == story.change_sentence(
        first, line.scene, tuple(range(len(line.scene.objects)))
    )


def test_storyline_frames_change_at_the_event_frame_and_physics_continues(line):
    frames = story.render_story(line, 0, line.num_frames)  # [F, H, W, 3]
    assert np.array_equal(story.render_story(line, 37, 60), frames[37:97])
    for event in line.events:
        f = line.event_frame(event.clip)
        before = story.scene_at(line, f - 1)
        # the frame as it would be without the event differs from the rendered one
        assert not np.array_equal(world.render(before, f, 1)[0], frames[f]), event
        assert np.array_equal(world.render(before, f - 1, 1)[0], frames[f - 1])
    recolour = next(e for e in line.events if e.kind == "recolour")
    f = line.event_frame(recolour.clip)
    old, new = story.scene_at(line, f - 1), story.scene_at(line, f)
    moved = [o for o in new.objects if o.colour == recolour.colour][0]
    was = [o for o in old.objects if replace(o, colour=recolour.colour) == moved]
    assert was, "a recoloured object keeps its trajectory"


def test_entering_objects_slide_in_from_their_edge():
    scene = world.sample_scene(2)
    sprite = world.sample_entering_sprite(np.random.default_rng(0), "white", scene.size, frame=50)
    t = np.arange(50, 400, dtype=np.float64)
    y, x = world.centres(sprite, t, scene.size)
    along = {"top": y, "bottom": 1 - y, "left": x, "right": 1 - x}[sprite.enter_edge]
    assert abs(along[0]) < 1e-9  # centre on the border line at the event frame
    steps = np.hypot(np.diff(y), np.diff(x))
    assert steps.max() <= np.hypot(*sprite.velocity) + 1e-9  # continuous into the bounce
    assert along[-300:].min() >= sprite.radius - 1e-9


# ---------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------


def test_training_set_reads_through_the_svi_dataset(tmp_path):
    from svi.training.data import VideoClipDataset

    root = writers.write_training_set(tmp_path / "data", 2, size=(32, 32), story_fraction=0.5, progress=False)
    csv = root / "toy" / "toy.csv"
    table = pd.read_csv(csv)
    assert list(table.columns) == ["Filename", "Video Description"] and len(table) == 2
    # clip 1 is a story clip: its description starts with the change, which shows at frame 8
    frames, prompt = writers.training_clip(0, 1, num_frames=17, size=(32, 32), story=True)
    assert table["Video Description"][1] == prompt and prompt.count(".") >= 2
    at_one, same = writers.training_clip(0, 1, num_frames=17, size=(32, 32), story=True, event_index=1)
    assert np.array_equal(at_one[1:10], frames[8:]) and same == prompt  # the same story, shifted
    data = VideoClipDataset(root, num_frames=17, height=32, width=32)
    item = data[1]
    assert item["video"].shape == (3, 17, 32, 32) and item["prompt"] == prompt
    decoded = (item["video"].permute(1, 2, 3, 0).numpy() + 1) * 127.5  # [F, H, W, 3]
    assert np.abs(decoded - frames).mean() < 12  # H.264 at 32 px is lossy, but it is this clip
    # idempotent: the same parameters keep the files
    stamp = csv.stat().st_mtime_ns
    writers.write_training_set(tmp_path / "data", 2, size=(32, 32), story_fraction=0.5, progress=False)
    assert csv.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="decord"):
        writers.write_training_set(tmp_path / "bad", 1, size=(48, 48), progress=False)


def test_training_set_with_people_mixes_faces_and_dancers_at_their_frame_rate(tmp_path):
    from svi.conditions.multitalk import TALK_PROMPT
    from svi.conditions.pose import DANCE_PROMPT
    from toyworld import dancers, talking_heads

    assert writers.PERSON_FPS == talking_heads.FPS == dancers.FPS
    kinds = [writers.clip_kind(0, i, 0.2, 0.3) for i in range(2000)]
    assert abs(kinds.count("face") / 2000 - 0.2) < 0.03 and abs(kinds.count("dancer") / 2000 - 0.3) < 0.03
    assert {writers.clip_kind(0, i, 0.0, 0.0) for i in range(50)} == {"scene"}  # the first toy world's
    n = 12
    root = writers.write_training_set(
        tmp_path / "data", n, size=(32, 32), faces_fraction=0.3, dancers_fraction=0.3, progress=False
    )
    table = pd.read_csv(root / "toy" / "toy.csv")
    kinds = [writers.clip_kind(0, i, 0.3, 0.3) for i in range(n)]
    assert {"face", "dancer", "scene"} <= set(kinds)
    for i, kind in enumerate(kinds):
        prompt = table["Video Description"][i]
        assert prompt == {"face": TALK_PROMPT, "dancer": DANCE_PROMPT}.get(kind, prompt)
        if kind != "scene":
            frames, _ = writers.person_clip(kind, 0, i, num_frames=17, size=(32, 32))
            assert frames.shape == (17, 32, 32, 3) and frames.std() > 10  # a picture, not a blank
    # the same clip index with no people is the first world's scene, byte for byte
    plain = writers.write_training_set(tmp_path / "plain", 2, size=(32, 32), progress=False)
    assert (
        pd.read_csv(plain / "toy" / "toy.csv")["Video Description"][0]
        == writers.training_clip(0, 0, num_frames=17, size=(32, 32), story=False)[1]
    )
    with pytest.raises(ValueError, match="sum to at most 1"):
        writers.write_training_set(
            tmp_path / "bad", 1, size=(32, 32), faces_fraction=0.6, dancers_fraction=0.6
        )


def test_benchmark_layout_loads_and_true_video_starts_at_the_image(tmp_path):
    root = writers.write_benchmark(
        tmp_path / "bench", num_consistent=2, num_creative=2, size=(32, 32), story_clips=6, progress=False
    )
    consistent, _ = suites.load_samples(suites.suite_folder(root, "consistent", "50s"))
    creative, _ = suites.load_samples(suites.suite_folder(root, "creative", "50s"))
    assert [s.name for s in consistent] == ["toy_000", "toy_001"] == [s.name for s in creative]
    assert all(len(s.prompts) == 1 for s in consistent) and all(len(s.prompts) == 6 for s in creative)
    for sample in consistent + creative:
        video = writers.true_video(sample.image.parent, 40)
        assert video.shape == (40, 32, 32, 3)
        assert np.array_equal(video[0], np.asarray(Image.open(sample.image).convert("RGB")))
        assert np.array_equal(writers.true_video(sample.image.parent, 10, start=30), video[30:])
    line = writers.load_world(creative[0].image.parent)
    assert list(creative[0].prompts) == story.prompts(line)
    # idempotent; other parameters rewrite and drop stale samples
    image = consistent[0].image
    stamp = image.stat().st_mtime_ns
    writers.write_benchmark(
        tmp_path / "bench", num_consistent=2, num_creative=2, size=(32, 32), story_clips=6, progress=False
    )
    assert image.stat().st_mtime_ns == stamp
    writers.write_benchmark(
        tmp_path / "bench", num_consistent=1, num_creative=1, story_clips=6, progress=False
    )
    assert [p.name for p in (root / "consisent_video_gen").iterdir()] == ["toy_000"]


def test_cli_writes_a_benchmark_and_explains_itself(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["benchmark", "--help"])
    assert e.value.code == 0 and "--story-clips" in capsys.readouterr().out
    rc = main(
        [
            "benchmark",
            str(tmp_path),
            "--consistent",
            "1",
            "--creative",
            "0",
            "--size",
            "32",
            "--story-clips",
            "2",
        ]
    )
    assert rc == 0 and str(tmp_path) in capsys.readouterr().out
    assert (tmp_path / "consisent_video_gen" / "toy_000" / "world.json").is_file()
    with pytest.raises(SystemExit):
        main(["train-set", str(tmp_path), "--clips", "1", "--size", "40"])
    assert "multiple of 16" in capsys.readouterr().err
