"""Tiny synthetic videos and datasets in the official SVI layout (tests and the demo run).

`write_dataset` makes `<root>/<cat>/<cat>.csv` (columns Filename, Video Description) beside mp4s of
coloured squares moving over a gradient, all deterministic from `seed`.

Note on sizes: decord 0.6 fails to decode (size-mismatch error in get_batch) H.264/MPEG-4 videos
whose width is 16, 24, 48 or 72 pixels, although it opens them and counts their frames. Every other even
width tested between 16 and 1280 decodes fine; the defaults here use 64. Heights and widths must be even
(yuv420p).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

COLOURS = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 80, 230),
    "yellow": (230, 220, 40),
    "magenta": (220, 50, 200),
    "cyan": (40, 210, 220),
}
# Direction name -> (dy, dx) in pixels per frame.
DIRECTIONS = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}
DECORD_BAD_WIDTHS = (16, 24, 48, 72)


def write_video(path: str | Path, frames: np.ndarray, fps: int = 16) -> None:
    """Writes uint8 frames [F, H, W, 3] to an H.264 mp4 (yuv420p) that decord reads back frame-exactly,
    with the generator's encoder settings (svi/video_io.py): the same frames give the same bytes, so
    the training clips and benchmark truths the harness writes are the same on every machine (x264's
    defaults, threaded and with its lookahead, encoded them differently run to run)."""
    from svi.video_io import write_segment

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [F, H, W, 3], got {frames.dtype} {frames.shape}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"height and width must be even for yuv420p, got {frames.shape[1:3]}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_segment(path, frames, fps)


def moving_square_frames(
    num_frames: int, height: int, width: int, colour: tuple[int, int, int], direction: str, seed: int
) -> np.ndarray:
    """uint8 [F, H, W, 3]: a square of `colour` moving `direction` (wrapping) over a seeded gradient."""
    rng = np.random.default_rng(seed)
    ys = np.linspace(0.0, 1.0, height)[:, None, None]  # [H, 1, 1]
    xs = np.linspace(0.0, 1.0, width)[None, :, None]  # [1, W, 1]
    low, high = rng.uniform(0, 80, size=3), rng.uniform(100, 180, size=3)
    background = low + (high - low) * (0.5 * ys + 0.5 * xs)  # [H, W, 3]
    side = max(2, min(height, width) // 4)
    y0, x0 = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    dy, dx = DIRECTIONS[direction]
    speed = max(1, min(height, width) // 16)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for i in range(num_frames):
        frame = background.copy()
        y = (y0 + i * dy * speed) % (height - side + 1)
        x = (x0 + i * dx * speed) % (width - side + 1)
        frame[y : y + side, x : x + side] = colour
        frames[i] = np.clip(frame, 0, 255).astype(np.uint8)
    return frames


def write_dataset(
    root: str | Path,
    *,
    categories: tuple[str, ...] | list[str] = ("cat_a", "cat_b"),
    videos_per_category: int = 2,
    num_frames: int = 12,
    height: int = 40,
    width: int = 64,
    fps: int = 16,
    seed: int = 0,
) -> list[Path]:
    """Writes the official layout under `root`; returns the mp4 paths in CSV order, category by category."""
    if width in DECORD_BAD_WIDTHS:
        raise ValueError(f"decord 0.6 cannot decode videos {width} px wide; pick another width")
    root = Path(root)
    colours, directions = list(COLOURS), list(DIRECTIONS)
    paths = []
    for c, category in enumerate(categories):
        folder = root / category
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for v in range(videos_per_category):
            k = c * videos_per_category + v
            colour, direction = colours[k % len(colours)], directions[(k + seed) % len(directions)]
            frames = moving_square_frames(
                num_frames, height, width, COLOURS[colour], direction, seed=seed * 1000 + k
            )
            name = f"{category}_{v:03d}.mp4"
            write_video(folder / name, frames, fps=fps)
            rows.append({"Filename": name, "Video Description": f"a {colour} square moving {direction}"})
            paths.append(folder / name)
        pd.DataFrame(rows, columns=["Filename", "Video Description"]).to_csv(
            folder / f"{category}.csv", index=False
        )
    return paths


STORY = (
    "a {c} square drifts {d}",
    "the {c} square turns",
    "a second square appears",
    "the scene fades to blue",
)


def write_benchmark(
    root: str | Path,
    *,
    folders: tuple[str, ...] = ("consisent_video_gen", "creative_video_gen"),
    samples: int = 3,
    height: int = 64,
    width: int = 64,
    seed: int = 0,
) -> Path:
    """A small benchmark in the svi-benchmark layout: <root>/<track>/<sample>/{image.png, prompt.txt}."""
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    names = list(COLOURS)
    for folder in folders:
        for i in range(samples):
            d = root / folder / f"sample_{i:02d}"
            d.mkdir(parents=True, exist_ok=True)
            colour = names[int(rng.integers(len(names)))]
            direction = list(DIRECTIONS)[int(rng.integers(len(DIRECTIONS)))]
            img = np.zeros((height, width, 3), dtype=np.uint8)
            img[..., 2] = np.linspace(40, 200, width, dtype=np.uint8)[None, :]
            y0, x0 = (int(v) for v in rng.integers(0, min(height, width) // 2, size=2))
            img[y0 : y0 + height // 4, x0 : x0 + width // 4] = COLOURS[colour]
            Image.fromarray(img).save(d / "image.png")
            lines = [s.format(c=colour, d=direction) for s in STORY]
            (d / "prompt.txt").write_text("\n".join(lines if "creative" in folder else lines[:1]) + "\n")
    return root
