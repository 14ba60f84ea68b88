"""The toy dancer: a stick figure driven by joint trajectories, and its pose video (the SVI-Dance track).

A dance is a set of smooth periodic "channels" (root position, torso lean, arm and leg angles,
head nod), each `base + sum of amp * sin(2 pi hz t + phase)` with t in seconds: a beat at 0.8-1.6 Hz
for the limbs, slow drifts for the root. Forward kinematics with fixed bone lengths turns them into
9 joints per frame (`joints`, float64 [F, 9, 2] as (y, x) in frame sides, as in `world.py`):

    0 head   1 neck   2 pelvis   3 left elbow   4 left hand   5 right elbow   6 right hand
    7 left foot   8 right foot                     (left / right as seen in the picture)

From the joints:
- `pose_maps`: the "skeleton" video, like the official DWPose maps (`svi.conditions.pose.render_pose`): limbs
  as coloured lines dimmed to 60% and joints as coloured dots, in the colours the official maps
  give the corresponding OpenPose points, on black. Line widths are in frame sides (anti-aliased),
  not svi.conditions.pose's 4 px, so a 32 px and a 64 px map show the same figure.
- `render_dancer`: the true video, a figure (head, torso, arms, legs as filled capsules in its
  look's colours) over a toy-world background. Each frame is a function of that frame's joints and
  the look only, so the pose video determines the video given the reference image.

Rate: 25 fps, as the official SVI-Dance test script consumes the pose video frame by frame and
writes its output at 25 fps (toy scenes elsewhere run at 8 fps; a dance beat needs the finer rate).

Files:
- `write_dance_benchmark`: `<root>/toy_NNN/{image.png, pose.mp4, gt.mp4, world.json}`; image.png is
  frame 0 of gt.mp4 (the reference image), world.json re-renders both exactly (`load_dance_sample`).
- `write_dance_training_set`: the official SVI-Dance layout `<root>/raw/videos/<id>.mp4` and
  `<root>/preprocessed/<id>/{frame_data.pkl, dw_pose_with_foot_wo_face.pkl}` (JPEG per frame, as
  `svi.training.dance_data` reads them; `write_dance_preprocessed`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from svi.conditions.pose import BODY_COLOURS, BODY_LIMBS, LIMB_DIMMING
from toyworld import world

FPS = 25
JOINTS = (
    "head",
    "neck",
    "pelvis",
    "left_elbow",
    "left_hand",
    "right_elbow",
    "right_hand",
    "left_foot",
    "right_foot",
)
LIMBS = ((1, 0), (1, 2), (1, 3), (3, 4), (1, 5), (5, 6), (2, 7), (2, 8))  # (parent, child) joint ids
# OpenPose body point of each joint (picture-left is the dancer's right, as for a person facing us;
# the pelvis borrows the right hip): dots and limbs take the official pose maps' colours for them.
OPENPOSE_POINTS = (0, 1, 8, 3, 4, 6, 7, 10, 13)
OPENPOSE_LIMBS = ((1, 0), (1, 8), (2, 3), (3, 4), (5, 6), (6, 7), (9, 10), (12, 13))  # per LIMBS entry


def _rgb(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    return colour[::-1]  # svi.conditions.pose's colours are written in cv2's BGR canvas order


JOINT_COLOURS = tuple(_rgb(BODY_COLOURS[i]) for i in OPENPOSE_POINTS)
LIMB_COLOURS = tuple(_rgb(BODY_COLOURS[BODY_LIMBS.index(limb)]) for limb in OPENPOSE_LIMBS)
POSE_LIMB_RADIUS = 0.018  # frame sides: half the line width
POSE_JOINT_RADIUS = 0.03

# Bone lengths (frame sides) and the figure's rest height.
TORSO, NECK, UPPER_ARM, FOREARM, LEG = 0.20, 0.09, 0.11, 0.10, 0.24
PELVIS_HEIGHT = 0.52  # y of the pelvis at rest, from the top
BEAT_HZ = (0.8, 1.6)

# Body parts of the dancer: capsules (joint a, joint b, radius in frame sides, look colour slot)
# in drawing order (later on top); the head is a dot on joint 0.
BODY_PARTS = (
    (2, 7, 0.040, "trousers"),
    (2, 8, 0.040, "trousers"),
    (1, 2, 0.075, "shirt"),
    (1, 3, 0.035, "shirt"),
    (1, 5, 0.035, "shirt"),
    (3, 4, 0.030, "skin"),
    (5, 6, 0.030, "skin"),
    (0, 0, 0.065, "skin"),
)
SKIN_COLOURS = ("pink", "orange", "brown", "yellow")


# -- motion ----------------------------------------------------------------------------------------

CHANNELS = (
    "pelvis_y",
    "pelvis_x",
    "lean",
    "nod",
    "left_upper",
    "left_fore",
    "right_upper",
    "right_fore",
    "left_leg",
    "right_leg",
)


@dataclass(frozen=True)
class Dance:
    """A dance: per channel (CHANNELS) a base value and sinusoids (amp, hz, phase); t in seconds.

    Positions are in frame sides, angles in radians: limb angles are measured from straight down,
    outwards (away from the body's midline); lean and nod tilt towards +x.
    """

    channels: dict[str, tuple[float, tuple[tuple[float, float, float], ...]]]
    size: tuple[int, int] = (64, 64)  # (H, W): the frame the joints are laid out in
    fps: int = FPS

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Dance:
        channels = {
            name: (float(base), tuple(tuple(float(v) for v in wave) for wave in waves))
            for name, (base, waves) in d["channels"].items()
        }
        return cls(channels=channels, size=tuple(d["size"]), fps=int(d["fps"]))


def sample_dance(seed: int, size: tuple[int, int] = (64, 64), fps: int = FPS) -> Dance:
    """A random dance that keeps the whole figure inside a frame of `size`."""
    size = world.check_size(size)
    rng = np.random.default_rng([seed, 11])
    ey, ex = world.extent(size)
    beat = float(rng.uniform(*BEAT_HZ))

    def phase() -> float:
        return float(rng.uniform(0, 2 * math.pi))

    def on_beat(amp: tuple[float, float], multiple: float = 1.0) -> tuple[float, float, float]:
        return (float(rng.uniform(*amp)), beat * multiple, phase())

    def drift(amp: float) -> tuple[float, float, float]:
        return (amp * float(rng.uniform(0.5, 1.0)), float(rng.uniform(0.05, 0.2)), phase())

    channels = {
        # Root: slow drift plus a bounce at twice the beat (down on every beat).
        "pelvis_y": (PELVIS_HEIGHT * ey, (drift(0.03), on_beat((0.01, 0.02), 2.0))),
        "pelvis_x": (ex / 2, (drift(0.5 * (ex - 0.7)), drift(0.05))),
        "lean": (0.0, (on_beat((0.05, 0.2), 0.5),)),
        "nod": (0.0, (on_beat((0.05, 0.25)),)),
        "left_upper": (float(rng.uniform(0.3, 1.4)), (on_beat((0.3, 0.9)), on_beat((0.0, 0.3), 0.5))),
        "left_fore": (float(rng.uniform(0.1, 1.0)), (on_beat((0.2, 0.8)),)),
        "right_upper": (float(rng.uniform(0.3, 1.4)), (on_beat((0.3, 0.9)), on_beat((0.0, 0.3), 0.5))),
        "right_fore": (float(rng.uniform(0.1, 1.0)), (on_beat((0.2, 0.8)),)),
        "left_leg": (float(rng.uniform(0.1, 0.3)), (on_beat((0.05, 0.25), 0.5),)),
        "right_leg": (float(rng.uniform(0.1, 0.3)), (on_beat((0.05, 0.25), 0.5),)),
    }
    return Dance(channels=channels, size=size, fps=fps)


def channel_values(dance: Dance, name: str, t_seconds: np.ndarray) -> np.ndarray:
    """float64 [F]: one channel at the times t_seconds [F] (per-frame scalar math: exact slices)."""
    base, waves = dance.channels[name]
    return np.array(
        [base + sum(a * math.sin(2 * math.pi * hz * t + p) for a, hz, p in waves) for t in t_seconds]
    )


def joints(dance: Dance, start: int = 0, num: int = 1) -> np.ndarray:
    """float64 [num, 9, 2]: the joints (y, x) in frame sides at frames start .. start + num - 1."""
    if start < 0 or num < 0:
        raise ValueError(f"start and num must be >= 0, got start={start}, num={num}")
    t = np.arange(start, start + num) / dance.fps
    c = {name: channel_values(dance, name, t) for name in CHANNELS}
    out = np.empty((num, len(JOINTS), 2))
    pelvis = np.stack([c["pelvis_y"], c["pelvis_x"]], axis=-1)  # [F, 2]
    up = np.stack([-np.cos(c["lean"]), np.sin(c["lean"])], axis=-1)  # unit vector pelvis -> neck
    neck = pelvis + TORSO * up
    head = neck + NECK * np.stack([-np.cos(c["lean"] + c["nod"]), np.sin(c["lean"] + c["nod"])], axis=-1)

    def limb(origin: np.ndarray, angle: np.ndarray, length: float, side: int) -> np.ndarray:
        # angle from straight down, outwards: side -1 bends towards -x (left in the picture)
        return origin + length * np.stack([np.cos(angle), side * np.sin(angle)], axis=-1)

    out[:, 0], out[:, 1], out[:, 2] = head, neck, pelvis
    for side, name, elbow_id in ((-1, "left", 3), (1, "right", 5)):
        elbow = limb(neck, c[f"{name}_upper"], UPPER_ARM, side)
        out[:, elbow_id] = elbow
        out[:, elbow_id + 1] = limb(elbow, c[f"{name}_upper"] + c[f"{name}_fore"], FOREARM, side)
    out[:, 7] = limb(pelvis, c["left_leg"], LEG, -1)
    out[:, 8] = limb(pelvis, c["right_leg"], LEG, 1)
    return out


# -- rendering -------------------------------------------------------------------------------------


def _capsule_alpha(
    ys: np.ndarray, xs: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float, px: float
) -> np.ndarray:
    """Coverage [f, H, W, 1] of capsules (segments a [f, 2] -> b [f, 2] with round ends) on the grid ys [H], xs [W]."""
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    py = ys[None, :, None] - a32[:, 0, None, None]  # [f, H, 1]
    pxx = xs[None, None, :] - a32[:, 1, None, None]  # [f, 1, W]
    d = b32 - a32  # [f, 2]
    dy, dx = d[:, 0, None, None], d[:, 1, None, None]
    length2 = np.maximum(dy * dy + dx * dx, np.float32(1e-12))
    h = np.clip((py * dy + pxx * dx) / length2, 0.0, 1.0)  # [f, H, W]
    ey, ex = py - h * dy, pxx - h * dx
    dist = np.sqrt(ey * ey + ex * ex) - np.float32(radius)
    return np.clip(np.float32(0.5) - dist * np.float32(px), 0.0, 1.0)[..., None]


def _check_joints(trajectories: np.ndarray) -> np.ndarray:
    trajectories = np.asarray(trajectories, dtype=np.float64)
    if trajectories.ndim != 3 or trajectories.shape[1:] != (len(JOINTS), 2):
        raise ValueError(
            f"trajectories must be [F, {len(JOINTS)}, 2] joints (y, x) in frame sides, got {trajectories.shape}"
        )
    return trajectories


def _render(trajectories: np.ndarray, size: tuple[int, int], base: np.ndarray, parts) -> np.ndarray:
    """uint8 [F, H, W, 3]: capsules over `base` [H, W, 3] float32, drawn in order.

    parts: [(joint a, joint b, radius in frame sides, rgb)]; a == b draws a dot.
    """
    ys, xs, px = world._grid(size)
    num = len(trajectories)
    out = np.empty((num, *size, 3), dtype=np.uint8)
    chunk = max(1, world.CHUNK_PIXELS // (size[0] * size[1]))
    for begin in range(0, num, chunk):
        j = trajectories[begin : begin + chunk]  # [f, 9, 2]
        frames = np.repeat(base[None], len(j), axis=0)  # [f, H, W, 3]
        for a, b, radius, rgb in parts:
            alpha = _capsule_alpha(ys, xs, j[:, a], j[:, b], radius, px)
            frames += alpha * (np.asarray(rgb, dtype=np.float32) - frames)
        out[begin : begin + len(j)] = np.rint(np.clip(frames, 0, 255))
    return out


def pose_maps(trajectories: np.ndarray, height: int = 64, width: int = 64) -> np.ndarray:
    """uint8 [F, H, W, 3]: the skeleton of joints [F, 9, 2] (frame sides) drawn DWPose-style on black."""
    size = world.check_size((height, width))
    trajectories = _check_joints(trajectories)
    limbs = [
        (a, b, POSE_LIMB_RADIUS, LIMB_DIMMING * np.asarray(rgb, dtype=np.float32))
        for (a, b), rgb in zip(LIMBS, LIMB_COLOURS)
    ]
    dots = [(k, k, POSE_JOINT_RADIUS, rgb) for k, rgb in enumerate(JOINT_COLOURS)]
    return _render(trajectories, size, np.zeros((*size, 3), dtype=np.float32), limbs + dots)


@dataclass(frozen=True)
class DancerLook:
    background: world.Background
    skin: str  # world.COLOURS names
    shirt: str
    trousers: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DancerLook:
        return cls(world.background_from_dict(d["background"]), d["skin"], d["shirt"], d["trousers"])


def sample_dancer_look(seed: int) -> DancerLook:
    """A background and three distinct body colours, none of them the background's main colours."""
    rng = np.random.default_rng([seed, 12])
    skin = world.pick(rng, SKIN_COLOURS)
    shirt = world.pick(rng, world.COLOUR_NAMES, (skin,))
    trousers = world.pick(rng, world.COLOUR_NAMES, (skin, shirt))
    background = world.sample_background(rng, exclude_colours=(skin, shirt, trousers))
    return DancerLook(background, skin, shirt, trousers)


def render_dancer(
    trajectories: np.ndarray,
    height: int = 64,
    width: int = 64,
    *,
    seed: int = 0,
    look: DancerLook | None = None,
) -> np.ndarray:
    """uint8 [F, H, W, 3]: the dancer with joints [F, 9, 2] over its background (look default: from seed).

    Frame i depends only on trajectories[i] and the look: no clock, no noise.
    """
    size = world.check_size((height, width))
    trajectories = _check_joints(trajectories)
    look = look or sample_dancer_look(seed)
    colours = {slot: world.COLOURS[getattr(look, slot)] for slot in ("skin", "shirt", "trousers")}
    parts = [(a, b, radius, colours[slot]) for a, b, radius, slot in BODY_PARTS]
    return _render(trajectories, size, world.render_background(look.background, size), parts)


# -- files -----------------------------------------------------------------------------------------

DANCE_FORMAT = "toyworld-dance"
FORMAT_VERSION = 1  # bump when the same parameters would now give other files


def dance_seed(split: str, seed: int, index: int) -> int:
    """Seed of item `index`: benchmark dances get seeds >= 2**62, training dances below (never the same)."""
    value = world.scene_seed(f"dance-{split}", seed, index)
    return value | (1 << 62) if split == "benchmark" else value


def dance_sample(
    seed: int, num_frames: int, size: tuple[int, int] = (64, 64), start: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(pose maps, true video), each uint8 [num_frames, H, W, 3], of the dance and dancer of `seed`."""
    dance = sample_dance(seed, size)
    j = joints(dance, start, num_frames)
    return pose_maps(j, *dance.size), render_dancer(j, *dance.size, look=sample_dancer_look(seed))


def write_dance_benchmark(
    root: str | Path,
    num_samples: int = 4,
    *,
    seconds: float = 10.0,
    size: tuple[int, int] = (64, 64),
    seed: int = 1000,
    progress: bool = True,
) -> Path:
    """Writes `<root>/toy_NNN/{image.png, pose.mp4, gt.mp4, world.json}`; returns `root`.

    image.png is frame 0 of the true video (lossless), pose.mp4 the skeleton and gt.mp4 the true
    video (25 fps, round(seconds * 25) frames), world.json what re-renders both exactly
    (`load_dance_sample`). Idempotent like the toy world's other writers.
    """
    from svi.video_io import write_segment
    from toyworld.stamps import write_conditional_benchmark

    size = world.check_size(size)
    num_frames = int(round(seconds * FPS))
    if num_samples < 1 or num_frames < 1:
        raise ValueError(f"need num_samples >= 1 and seconds >= 1 / {FPS}, got {num_samples} and {seconds}")
    params = {"format": f"{DANCE_FORMAT}-benchmark", "version": FORMAT_VERSION, "num_samples": num_samples}
    params |= {"seconds": seconds, "size": list(size), "seed": seed}

    def make_item(i: int):
        item_seed = dance_seed("benchmark", seed, i)
        pose, video = dance_sample(item_seed, num_frames, size)
        spec = {
            "format": DANCE_FORMAT,
            "version": FORMAT_VERSION,
            "seed": item_seed,
            "num_frames": num_frames,
        }
        spec |= {"size": list(size), "fps": FPS}
        spec |= {
            "dance": sample_dance(item_seed, size).to_dict(),
            "look": sample_dancer_look(item_seed).to_dict(),
        }
        return video, lambda folder: write_segment(folder / "pose.mp4", pose, FPS), spec

    return write_conditional_benchmark(
        Path(root), DANCE_FORMAT, params, num_samples, make_item, fps=FPS, progress=progress
    )


def load_dance_sample(
    sample_dir: str | Path, num_frames: int | None = None, start: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The exact (pose maps, true video) of a toy dance benchmark sample, from frame `start` on.

    num_frames defaults to the sample's length; the dance goes on past it (closed form in time).
    """
    path = Path(sample_dir) / "world.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: exact true videos exist only for toy dance samples "
            "(toyworld.dancers.write_dance_benchmark)"
        )
    spec = json.loads(path.read_text())
    if spec.get("format") != DANCE_FORMAT:
        raise ValueError(f"{path} is not a toy dance sample (format {spec.get('format')!r})")
    dance, look = Dance.from_dict(spec["dance"]), DancerLook.from_dict(spec["look"])
    j = joints(dance, start, spec["num_frames"] if num_frames is None else num_frames)
    return pose_maps(j, *dance.size), render_dancer(j, *dance.size, look=look)


def write_dance_training_set(
    root: str | Path,
    num_clips: int,
    *,
    seconds: float = 4.0,
    size: tuple[int, int] = (64, 64),
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Writes `num_clips` dances in the official SVI-Dance layout; returns `<root>/preprocessed`.

    Per clip `toy_NNNNN`: <root>/raw/videos/<id>.mp4 (25 fps, the input of the official preprocessing)
    and <root>/preprocessed/<id>/{frame_data.pkl, dw_pose_with_foot_wo_face.pkl}
    (`write_dance_preprocessed`). The returned folder is what `svi.training.dance_data.DanceClipDataset` and the
    official --dataset_path take. Clips are `seconds` long; a loader crops its windows.
    """
    from svi.video_io import write_segment
    from toyworld.stamps import write_stamped

    size = world.check_size(size)
    num_frames = int(round(seconds * FPS))
    if num_clips < 1 or num_frames < 1:
        raise ValueError(f"need num_clips >= 1 and seconds >= 1 / {FPS}, got {num_clips} and {seconds}")
    root = Path(root)
    params = {"format": f"{DANCE_FORMAT}-training-set", "version": FORMAT_VERSION, "num_clips": num_clips}
    params |= {"seconds": seconds, "size": list(size), "seed": seed}

    def write_item(i: int) -> None:
        sample_id = f"toy_{i:05d}"
        pose, video = dance_sample(dance_seed("train", seed, i), num_frames, size)
        (root / "raw" / "videos").mkdir(parents=True, exist_ok=True)
        write_segment(root / "raw" / "videos" / f"{sample_id}.mp4", video, FPS)
        write_dance_preprocessed(root, sample_id, video, pose)

    write_stamped(root, params, num_clips, write_item, desc=f"toy dance clips -> {root}", unit="clip",
                  progress=progress)  # fmt: skip
    return root / "preprocessed"


def write_dance_preprocessed(root: str | Path, sample_id: str, video: np.ndarray, pose: np.ndarray) -> Path:
    """The official preprocessed files of one clip (see `svi.training.dance_data`): uint8 RGB video and pose
    frames [F, H, W, 3] as <root>/preprocessed/<id>/frame_data.pkl and dw_pose_with_foot_wo_face.pkl
    (JPEG per frame, same keys). Returns the clip's folder."""
    from svi.training.dance_data import FRAMES_PICKLE, POSE_PICKLE, write_frame_pickle

    if len(video) != len(pose):
        raise ValueError(
            f"every video frame needs its pose map: got {len(video)} frames and {len(pose)} maps"
        )
    folder = Path(root) / "preprocessed" / sample_id
    write_frame_pickle(folder / FRAMES_PICKLE, list(video))
    write_frame_pickle(folder / POSE_PICKLE, list(pose))
    return folder
