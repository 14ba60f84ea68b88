"""Review copies of generated videos: labelled keyframe strips, one frame per clip, suite previews.

The generated mp4s stay as they are (they are what was scored); these are copies for a person looking
at runs in the MLflow UI. Toy videos are 64 px, so frames are enlarged by a whole factor with nearest
neighbour (pixels stay sharp squares, nothing is invented) until their short side reaches a size one
can watch. A suite's preview puts its first videos side by side in one H.264 mp4 (yuv420p, which
browsers play) and one GIF (which MLflow's artifact viewer shows inline), under the same name in every
arm's run, so MLflow's compare view can show the arms next to each other.

No MLflow and no torch here: PyAV decodes and encodes, Pillow draws; `harness/tracking.py` logs.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svi.video_io import video_fps

REVIEW_SHORT_SIDE = 256  # px: previews and per-clip images are enlarged at least to this
STRIP_SHORT_SIDE = 128  # px: each frame of a keyframe strip
STRIP_MAX_FRAMES = 16  # a 300 s video has 60+ clips; the strip shows this many, evenly spread
PREVIEW_MAX_VIDEOS = 4  # tiles of a suite preview (2 x 2)
GIF_MAX_FRAMES = 120  # a GIF is kept small: every k-th frame, each shown k times as long
GIF_MAX_SIDE = 384  # px: a GIF is shrunk by a whole factor until its long side is at most this
PREVIEW_OPTIONS = {"crf": "18", "preset": "ultrafast", "threads": "2"}  # a viewing copy, not data


@dataclass(frozen=True)
class Keyframe:
    step: int  # the clip index (or the frame index for a video without a sidecar)
    label: str  # what the strip writes under it: "clip 3"
    frame: np.ndarray  # uint8 [H, W, 3]


def enlarge(frame: np.ndarray, short_side: int) -> np.ndarray:
    """uint8 [H, W, 3] enlarged by the smallest whole factor that gives a short side >= `short_side`."""
    k = max(1, math.ceil(short_side / min(frame.shape[:2])))
    return frame if k == 1 else np.repeat(np.repeat(frame, k, axis=0), k, axis=1)


def decoded(path: str | Path) -> Iterator:
    """The decoded frames of a video in order (PyAV VideoFrames), one at a time."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]  # default threading: AUTO costs more than it saves on 64 px
        yield from container.decode(stream)


def frames(path: str | Path) -> Iterator[np.ndarray]:
    """The frames of a video in order, uint8 [H, W, 3], decoded one at a time."""
    from svi.video_io import RGB

    rgb = RGB()
    for frame in decoded(path):
        yield rgb(frame)


def frame_count(path: str | Path) -> int:
    """Frames in a video: the container's count, else its packets counted (no decoding)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.frames or sum(1 for p in container.demux(stream) if p.size)


def clip_ends(video: Path) -> list[tuple[int, int]] | None:
    """(clip index, its last frame) from the generator's sidecar `<video>.json`; None without one."""
    sidecar = video.with_suffix(".json")
    try:
        clips = json.loads(sidecar.read_text())["clips"]
        return [(int(c["index"]), int(c["video_frames"][1]) - 1) for c in clips]
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def keyframes(video: Path, fallback_count: int = 8) -> list[Keyframe]:
    """The last frame of every clip (where the next clip takes over: drift shows there first), read in
    one pass. A video without a sidecar gets `fallback_count` evenly spaced frames, labelled by frame."""
    ends = clip_ends(video)
    if ends is None:
        n = frame_count(video)
        picks = sorted({round(i * (n - 1) / max(1, fallback_count - 1)) for i in range(fallback_count)})
        wanted = {f: (f, f"frame {f}") for f in picks}
    else:
        wanted = {end: (k, f"clip {k}") for k, end in ends}
    from svi.video_io import RGB

    rgb = RGB()
    out, last = [], None
    for i, frame in enumerate(decoded(video)):  # converted to RGB only where wanted
        last = frame
        if i in wanted:
            step, label = wanted.pop(i)
            out.append(Keyframe(step, label, rgb(frame)))
    if wanted and last is not None:  # a sidecar that counts a frame the file lacks: its last frame
        for step, label in sorted(wanted.values()):
            out.append(Keyframe(step, label, rgb(last)))
    return out


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType: a scalable font
    except (TypeError, OSError):
        return ImageFont.load_default()


def keyframe_strip(frames_: list[Keyframe], out: Path, max_frames: int = STRIP_MAX_FRAMES) -> Path:
    """Keyframes side by side (at most `max_frames`, evenly spread), each enlarged to a short side of
    STRIP_SHORT_SIDE with its label ("clip 3") under it, as a PNG."""
    from PIL import Image, ImageDraw

    if not frames_:
        raise ValueError(f"no frames for the keyframe strip {out}: the video is empty")
    if len(frames_) > max_frames:
        idx = sorted({round(i * (len(frames_) - 1) / (max_frames - 1)) for i in range(max_frames)})
        frames_ = [frames_[i] for i in idx]
    tiles = [enlarge(f.frame, STRIP_SHORT_SIDE) for f in frames_]
    h = max(t.shape[0] for t in tiles)
    gap, band = 4, 22
    width = sum(t.shape[1] for t in tiles) + gap * (len(tiles) - 1)
    strip = Image.new("RGB", (width, h + band), "white")
    draw, font = ImageDraw.Draw(strip), _font(14)
    x = 0
    for tile, f in zip(tiles, frames_):
        strip.paste(Image.fromarray(tile), (x, 0))
        draw.text((x + tile.shape[1] // 2, h + band // 2), f.label, fill="black", font=font, anchor="mm")
        x += tile.shape[1] + gap
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.png")
    strip.save(tmp)
    os.replace(tmp, out)
    return out


# -- suite previews ----------------------------------------------------------------------------------


def _grid(n: int) -> tuple[int, int]:
    """(rows, columns) of n tiles: side by side up to 2, then 2 x 2."""
    return (1, n) if n <= 2 else (math.ceil(n / 2), 2)


def _labelled(tile: np.ndarray, text: str, font) -> np.ndarray:
    from PIL import Image, ImageDraw

    im = Image.fromarray(tile)
    draw = ImageDraw.Draw(im)
    box = draw.textbbox((4, 4), text, font=font)
    draw.rectangle((box[0] - 3, box[1] - 2, box[2] + 3, box[3] + 2), fill=(0, 0, 0))
    draw.text((4, 4), text, fill=(255, 255, 255), font=font)
    return np.asarray(im)


def _composite(videos: list[Path], short_side: int) -> Iterator[np.ndarray]:
    """Frames of `videos` played together in a grid, each tile enlarged and labelled with its name; a
    video that ends first holds its last frame. uint8 [H, W, 3] with even H and W (yuv420p)."""
    font = _font(16)
    streams = [frames(v) for v in videos]
    current: list[np.ndarray | None] = [None] * len(videos)
    rows, cols = _grid(len(videos))
    while True:
        alive = False
        for i, s in enumerate(streams):
            nxt = next(s, None)
            if nxt is not None:
                current[i], alive = nxt, True
        if not alive:
            return
        tiles = [
            _labelled(enlarge(f, short_side), v.stem, font) for f, v in zip(current, videos) if f is not None
        ]
        th, tw = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
        height, width = rows * th, cols * tw
        canvas = np.zeros((height + height % 2, width + width % 2, 3), np.uint8)  # yuv420p: even sides
        for i, t in enumerate(tiles):
            r, c = divmod(i, cols)
            canvas[r * th : r * th + t.shape[0], c * tw : c * tw + t.shape[1]] = t
        yield canvas


def suite_preview(
    videos: list[Path],
    mp4: Path,
    gif: Path,
    *,
    max_videos: int = PREVIEW_MAX_VIDEOS,
    short_side: int = REVIEW_SHORT_SIDE,
) -> tuple[Path, Path]:
    """The first `max_videos` videos of a suite side by side, enlarged, as an H.264 mp4 at the videos'
    frame rate and a GIF of at most GIF_MAX_FRAMES frames (same duration). -> (mp4, gif)."""
    import av
    from PIL import Image

    videos = sorted(videos)[:max_videos]
    if not videos:
        raise ValueError("no videos to preview")
    fps = video_fps(videos[0])
    total = max(frame_count(v) for v in videos)
    every = max(1, math.ceil(total / GIF_MAX_FRAMES))
    mp4.parent.mkdir(parents=True, exist_ok=True)
    tmp = mp4.with_name(mp4.name + ".tmp.mp4")
    gif_frames: list[Image.Image] = []
    # +faststart puts the index first, so a browser starts playing before the whole file arrived
    with av.open(str(tmp), mode="w", options={"movflags": "+faststart"}) as out:
        stream = None
        for i, canvas in enumerate(_composite(videos, short_side)):
            if stream is None:
                stream = out.add_stream("libx264", rate=fps, options=dict(PREVIEW_OPTIONS))
                stream.width, stream.height, stream.pix_fmt = canvas.shape[1], canvas.shape[0], "yuv420p"
            for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                out.mux(packet)
            if i % every == 0:
                im = Image.fromarray(canvas)
                # a whole factor: on enlarged tiles, BOX over aligned blocks gives back exact pixels
                f = math.ceil(max(im.size) / GIF_MAX_SIDE)
                if f > 1:
                    im = im.resize((im.width // f, im.height // f), Image.BOX)
                gif_frames.append(
                    im.quantize(colors=255, method=Image.Quantize.FASTOCTREE)
                )  # one byte a pixel while collected
        if stream is not None:
            for packet in stream.encode():
                out.mux(packet)
    os.replace(tmp, mp4)
    tmp_gif = gif.with_name(gif.name + ".tmp.gif")
    duration_ms = max(20, round(1000 * every / float(fps)))
    gif_frames[0].save(tmp_gif, save_all=True, append_images=gif_frames[1:], duration=duration_ms, loop=0)
    os.replace(tmp_gif, gif)
    return mp4, gif


def up_to_date(outputs: list[Path], inputs: list[Path]) -> bool:
    """Every output exists and is newer than every input (a regenerated video renews its previews)."""
    if not all(o.is_file() for o in outputs):
        return False
    newest = max((i.stat().st_mtime for i in inputs), default=0.0)
    return min(o.stat().st_mtime for o in outputs) >= newest
