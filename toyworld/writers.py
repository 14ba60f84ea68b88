"""Toy-world files in the real formats, so the rest of the harness reads them unchanged.

- `write_training_set`: the official SVI training layout `<root>/<category>/<category>.csv` (columns
  Filename, Video Description) with the mp4s beside it (what `svi.training.data.VideoClipDataset` reads).
- `write_benchmark`: the svi-benchmark layout (what `scoring.suites.load_samples` reads), each
  sample with a `world.json` holding its scene or storyline.
- `true_video`: the ground-truth continuation of a benchmark sample, for drift against the truth.

Both writers are idempotent: a `toyworld.json` beside the data records the parameters and is written
last, so a finished set with the same parameters is kept and an interrupted one is rewritten.
Training scenes and benchmark scenes come from disjoint seed ranges (`world.scene_seed`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from toyworld.stamps import PARAMS_FILE, params_match
from toyworld.story import Storyline, prompts, render_story, sample_storyline
from toyworld.synthetic import DECORD_BAD_WIDTHS, write_video
from toyworld.world import (
    WORLD3_HEADINGS,
    WORLD3_SPEEDS,
    WORLDS,
    Scene,
    check_size,
    describe,
    render,
    sample_scene,
    scene_seed,
)

# bump when the same parameters would now give other files (2: clips encoded deterministically,
# svi.video_io's settings)
FORMAT_VERSION = 2
WORLD_FILE = "world.json"
TRACK_FOLDERS = {"consistent": "consisent_video_gen", "creative": "creative_video_gen"}  # sic, official
SAMPLE_PREFIX = "toy_"
# Training clips start at a random frame below this (story clips at a random clip boundary below it).
MAX_START_FRAME = 1000


def _is_story_clip(index: int, fraction: float) -> bool:
    # Spreads exactly round-down(fraction * n) story clips evenly over the first n clips.
    return int((index + 1) * fraction) > int(index * fraction)


def training_clip(
    seed: int,
    index: int,
    *,
    num_frames: int,
    size: tuple[int, int],
    story: bool,
    event_index: int | None = None,
    world: int = 2,
) -> tuple[np.ndarray, str]:
    """Clip `index` of a training set: uint8 frames [num_frames, H, W, 3] and its description.

    A story clip shows a storyline whose only event is at clip K: frames before `event_index` show
    the scene before the event, the rest after it, and the description is clip K's prompt (the
    change, then the new scene). event_index=1 matches generation, where frame 0 is the carried-over
    condition frame; None (the middle) keeps the event inside (after the first frame of) every
    window longer than half the clip that a loader may crop at a random start. `world` 3: the scene
    with its travelling camera (world.sample_scene).
    """
    scene = sample_scene(scene_seed("train", seed, index), size, world)
    rng = np.random.default_rng(scene_seed("train-time", seed, index))
    if not story:
        start = int(rng.integers(0, MAX_START_FRAME))
        return render(scene, start, num_frames), describe(scene)
    clip = int(rng.integers(1, MAX_START_FRAME // (num_frames - 1) + 1))
    storyline = sample_storyline(
        scene, scene_seed("train-story", seed, index), clip + 1, num_frames, overlap=1, gaps=(clip, clip)
    )
    event_index = num_frames // 2 if event_index is None else event_index
    start = storyline.event_frame(clip) - event_index
    return render_story(storyline, start, num_frames), prompts(storyline)[clip]


# People in the training world (toy world 2): the talking heads and dancers of the conditional tracks,
# at their own 25 fps, captioned with the official SVI-Talk / SVI-Dance training prompts (what those
# tracks generate with). Starts are random within this many frames, so clips see every part of a dance
# or a speech; blinks repeat every 60 s (1500 frames).
PERSON_MAX_START_FRAME = 1500
PERSON_FPS = 25  # talking_heads.FPS and dancers.FPS (imported where used: the dancers import torch)


def person_clip(
    kind: str, seed: int, index: int, *, num_frames: int, size: tuple[int, int]
) -> tuple[np.ndarray, str]:
    """Person clip `index` of a training set (kind "face" or "dancer"): uint8 [num_frames, H, W, 3] and
    its prompt. Seeds come from the `base` split, apart from the talk and dance tracks' own training sets
    and benchmarks."""
    from svi.conditions.multitalk import TALK_PROMPT
    from svi.conditions.pose import DANCE_PROMPT
    from toyworld import dancers, talking_heads

    rng = np.random.default_rng(scene_seed(f"train-{kind}-start", seed, index))
    start = int(rng.integers(0, PERSON_MAX_START_FRAME))
    if kind == "face":
        person = talking_heads.talk_seed("base", seed, index)
        audio = talking_heads.speech((start + num_frames) / talking_heads.FPS, person)
        openings = talking_heads.mouth_opening(audio, num_frames=start + num_frames)
        frames = talking_heads.render_face(openings[start:], *size, seed=person, start_frame=start)
        return frames, TALK_PROMPT
    if kind == "dancer":
        _, frames = dancers.dance_sample(dancers.dance_seed("base", seed, index), num_frames, size, start)
        return frames, DANCE_PROMPT
    raise ValueError(f"unknown person kind {kind!r}: face or dancer")


def clip_kind(seed: int, index: int, faces_fraction: float, dancers_fraction: float) -> str:
    """ "face", "dancer" or "scene" for clip `index`, drawn per clip with the given fractions (with
    both 0 every clip is a scene, as in the first toy world)."""
    if not faces_fraction and not dancers_fraction:
        return "scene"
    u = float(np.random.default_rng(scene_seed("train-kind", seed, index)).random())
    return "face" if u < faces_fraction else "dancer" if u < faces_fraction + dancers_fraction else "scene"


def write_training_set(
    root: str | Path,
    num_clips: int,
    *,
    num_frames: int = 17,
    size: tuple[int, int] = (64, 64),
    fps: int = 8,
    seed: int = 0,
    category: str = "toy",
    story_fraction: float = 0.3,
    event_index: int | None = None,
    faces_fraction: float = 0.0,
    dancers_fraction: float = 0.0,
    world: int = 2,
    progress: bool = True,
) -> Path:
    """Writes `<root>/<category>/<category>.csv` and `num_clips` mp4s; returns `root` (the dataset root).

    Story clips (`story_fraction` of the scene clips, spread evenly) change the scene at frame
    `event_index` (default the middle; see `training_clip`), the others show one scene from a random
    start frame. `faces_fraction` / `dancers_fraction` of the clips (drawn per clip) show a talking
    head or a dancer instead (`person_clip`), at 25 fps. `world` 3: scenes with a travelling camera
    (the people are the same in both worlds).
    """
    size = check_size(size)
    if size[1] in DECORD_BAD_WIDTHS:
        raise ValueError(f"decord cannot decode videos {size[1]} px wide; pick another width (32 or 64)")
    if num_clips < 1 or num_frames < 2:
        raise ValueError(f"need num_clips >= 1 and num_frames >= 2, got {num_clips} and {num_frames}")
    if not 0.0 <= story_fraction <= 1.0:
        raise ValueError(f"story_fraction must be in [0, 1], got {story_fraction}")
    if event_index is not None and not 1 <= event_index < num_frames:
        raise ValueError(f"event_index must be in [1, num_frames), got {event_index}")
    if min(faces_fraction, dancers_fraction) < 0 or faces_fraction + dancers_fraction > 1:
        raise ValueError(
            f"faces_fraction and dancers_fraction must be >= 0 and sum to at most 1, "
            f"got {faces_fraction} and {dancers_fraction}"
        )
    root = Path(root)
    folder = root / category
    csv_path, params_path = folder / f"{category}.csv", folder / PARAMS_FILE
    params = {
        "format": "toyworld-training-set",
        "version": FORMAT_VERSION,
        "num_clips": num_clips,
        "num_frames": num_frames,
        "size": list(size),
        "fps": fps,
        "seed": seed,
        "category": category,
        "story_fraction": story_fraction,
        "event_index": event_index,
        "faces_fraction": faces_fraction,
        "dancers_fraction": dancers_fraction,
        **world_param(world),
    }
    if csv_path.is_file() and params_match(params_path, params):
        return root
    folder.mkdir(parents=True, exist_ok=True)
    params_path.unlink(missing_ok=True)  # until the new set is complete
    rows = []
    for i in tqdm(range(num_clips), desc=f"toy clips -> {folder}", unit="clip", disable=not progress):
        kind = clip_kind(seed, i, faces_fraction, dancers_fraction)
        if kind == "scene":
            frames, prompt = training_clip(
                seed,
                i,
                num_frames=num_frames,
                size=size,
                story=_is_story_clip(i, story_fraction),
                event_index=event_index,
                world=world,
            )
        else:
            frames, prompt = person_clip(kind, seed, i, num_frames=num_frames, size=size)
        name = f"{category}_{i:05d}.mp4"
        write_video(folder / name, frames, fps=fps if kind == "scene" else PERSON_FPS)
        rows.append({"Filename": name, "Video Description": prompt})
    pd.DataFrame(rows, columns=["Filename", "Video Description"]).to_csv(csv_path, index=False)
    params_path.write_text(json.dumps(params, indent=2) + "\n")
    return root


def world_param(world: int) -> dict:
    """The toy world in a set's parameters: absent for world 2, so its sets and stamps stay as they were;
    world 3's with the cameras it draws from (WORLD3_HEADINGS, WORLD3_SPEEDS), so a set drawn from
    other cameras is written again (and sets stamped before the cameras were recorded, once)."""
    if world not in WORLDS:
        raise ValueError(f"unknown toy world {world}; choose one of {', '.join(map(str, WORLDS))}")
    if world == 2:
        return {}
    return {"world": world, "camera": {"headings": list(WORLD3_HEADINGS), "speeds": list(WORLD3_SPEEDS)}}


# -- benchmark -----------------------------------------------------------------------------------


def _write_sample(folder: Path, image: np.ndarray, lines: list[str], world: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(folder / "image.png")  # lossless: equals frame 0 of true_video
    (folder / "prompt.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / WORLD_FILE).write_text(json.dumps(world, indent=1) + "\n")


def _remove_old_samples(track: Path) -> None:
    """Deletes toy samples written earlier (recognised by their world.json), never anything else."""
    if not track.is_dir():
        return
    for sub in track.iterdir():
        world = sub / WORLD_FILE
        if sub.is_dir() and sub.name.startswith(SAMPLE_PREFIX) and world.is_file():
            if json.loads(world.read_text()).get("format") == "toyworld":
                shutil.rmtree(sub)


def write_benchmark(
    root: str | Path,
    *,
    num_consistent: int = 4,
    num_creative: int = 4,
    size: tuple[int, int] = (64, 64),
    seed: int = 1000,
    story_clips: int = 128,
    clip_frames: int = 17,
    overlap: int = 1,
    world: int = 2,
    progress: bool = True,
) -> Path:
    """Writes the svi-benchmark layout under `root` (samples toy_000, ...); returns `root`.

    Consistent samples: a scene, one prompt line. Creative samples: a storyline, one prompt per clip
    (`story_clips` lines). Every sample's world.json lets `true_video` render its true continuation.
    `world` 3: the scenes of the same seeds with a travelling camera (world.sample_scene).
    """
    size = check_size(size)
    if num_consistent < 0 or num_creative < 0 or num_consistent + num_creative == 0:
        raise ValueError(
            f"need some samples, got num_consistent={num_consistent}, num_creative={num_creative}"
        )
    root = Path(root)
    params = {
        "format": "toyworld-benchmark",
        "version": FORMAT_VERSION,
        "num_consistent": num_consistent,
        "num_creative": num_creative,
        "size": list(size),
        "seed": seed,
        "story_clips": story_clips,
        "clip_frames": clip_frames,
        "overlap": overlap,
        **world_param(world),
    }
    params_path = root / PARAMS_FILE
    if params_match(params_path, params):
        return root
    root.mkdir(parents=True, exist_ok=True)
    params_path.unlink(missing_ok=True)  # until the new benchmark is complete
    for track in TRACK_FOLDERS.values():
        _remove_old_samples(root / track)
    common = {"format": "toyworld", "version": FORMAT_VERSION, "size": list(size)}
    common |= {"clip_frames": clip_frames, "overlap": overlap}
    jobs = [("consistent", i) for i in range(num_consistent)] + [("creative", i) for i in range(num_creative)]
    for track, i in tqdm(jobs, desc=f"toy benchmark -> {root}", unit="sample", disable=not progress):
        scene = sample_scene(scene_seed(track, seed, i), size, world)
        folder = root / TRACK_FOLDERS[track] / f"{SAMPLE_PREFIX}{i:03d}"
        if track == "consistent":
            about = {**common, "track": track, "scene": scene.to_dict()}
            _write_sample(folder, render(scene, 0, 1)[0], [describe(scene)], about)
        else:
            story = sample_storyline(
                scene, scene_seed("creative-story", seed, i), story_clips, clip_frames, overlap
            )
            about = {**common, "track": track, "storyline": story.to_dict()}
            _write_sample(folder, render_story(story, 0, 1)[0], prompts(story), about)
    params_path.write_text(json.dumps(params, indent=2) + "\n")
    return root


def load_world(sample_dir: str | Path) -> Scene | Storyline:
    """The scene (consistent track) or storyline (creative track) of a toy benchmark sample."""
    path = Path(sample_dir) / WORLD_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: true videos exist only for toy-world samples (python -m toyworld benchmark)"
        )
    world = json.loads(path.read_text())
    if "storyline" in world:
        return Storyline.from_dict(world["storyline"])
    return Scene.from_dict(world["scene"])


def true_video(sample_dir: str | Path, num_frames: int, *, start: int = 0) -> np.ndarray:
    """uint8 [num_frames, H, W, 3]: the ground-truth video of a benchmark sample from frame `start`."""
    world = load_world(sample_dir)
    if isinstance(world, Storyline):
        return render_story(world, start, num_frames)
    return render(world, start, num_frames)
