"""The clip machinery every training dataset shares: window drawing, the reference (padding) frame,
decoding with decord, aspect-preserving resize and crop, and the error a broken video raises.

Shot / Film (data.py), talk (talk_data.py) and dance (dance_data.py) clips are drawn, decoded and
resized here, so the three datasets draw the same windows from the same (seed, epoch, index).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import decord
import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

# Wan's VAE keeps the first frame and compresses every following 4 frames into one latent frame.
TEMPORAL_COMPRESSION = 4
# VAE downsamples x8 spatially, the DiT patchifies latents x2.
SPATIAL_MULTIPLE = 16
# Each DataLoader worker opens its own reader; more decoder threads per worker only oversubscribe.
DECODE_THREADS = 2
# Frames resized at a time: bounds the temporary copies of a long high-resolution clip.
RESIZE_CHUNK_FRAMES = 16
# Above this many files the construction-time probe shows a progress bar.
PROGRESS_MIN_FILES = 200


class BadVideoError(RuntimeError):
    """A listed video is missing, cannot be decoded, or is too short for the requested clip.

    `bad` holds every (path, reason) found. The message comes first in the constructor so that the
    error survives being re-raised from a DataLoader worker (which rebuilds it from its message alone).
    """

    def __init__(self, message: str, bad: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.bad: list[tuple[str, str]] = list(bad or [])

    @classmethod
    def of(cls, bad: list[tuple[str, str]], hint: str = "") -> BadVideoError:
        shown = "\n".join(f"  {path}: {reason}" for path, reason in bad[:10])
        more = f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""
        noun = "video" if len(bad) == 1 else "videos"
        return cls(f"{len(bad)} bad {noun}:\n{shown}{more}" + (f"\n{hint}" if hint else ""), bad)


@dataclass(frozen=True)
class Sample:
    path: str
    prompt: str
    category: str
    num_source_frames: int


def nearest_valid_num_frames(num_frames: int) -> tuple[int, int]:
    """The 4k+1 frame counts just below and above `num_frames` (the lower one is at least 1)."""
    lower = max(1, (num_frames - 1) // TEMPORAL_COMPRESSION * TEMPORAL_COMPRESSION + 1)
    return lower, lower + TEMPORAL_COMPRESSION


def validate_clip_shape(num_frames: int, height: int, width: int, frame_stride: int) -> None:
    if num_frames < 1 or (num_frames - 1) % TEMPORAL_COMPRESSION != 0:
        lower, upper = nearest_valid_num_frames(num_frames)
        raise ValueError(
            f"num_frames must be 4k+1 (Wan's VAE compresses 4 frames into one latent after the first), "
            f"got {num_frames}; nearest valid values: {lower} or {upper}"
        )
    for name, value in (("height", height), ("width", width)):
        if value < SPATIAL_MULTIPLE or value % SPATIAL_MULTIPLE != 0:
            down = max(SPATIAL_MULTIPLE, value // SPATIAL_MULTIPLE * SPATIAL_MULTIPLE)
            raise ValueError(
                f"{name} must be a positive multiple of {SPATIAL_MULTIPLE} (VAE x8, patch x2), got {value}; "
                f"try {down} or {down + SPATIAL_MULTIPLE}"
            )
    if frame_stride < 1:
        raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")


def item_generator(seed: int, epoch: int, index: int, stream: str = "") -> torch.Generator:
    # A stable hash (not Python's salted hash(), not global RNG, not worker id): resumption-safe.
    # `stream` separates draws added later, so they leave the older ones (start, crop) unchanged.
    digest = hashlib.blake2b(f"svi.data{stream}:{seed}:{epoch}:{index}".encode(), digest_size=8).digest()
    generator = torch.Generator()
    generator.manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))
    return generator


def randint(high_exclusive: int, generator: torch.Generator) -> int:
    return int(torch.randint(0, high_exclusive, (1,), generator=generator).item())


REFERENCE_FRAMES = ("window", "outside", "first")


def reference_frame_index(
    frame_ids: list[int], num_source_frames: int, mode: str, generator: torch.Generator
) -> int:
    """The source frame that pads the condition of a clip read at `frame_ids` (docs/method.md §3).

    window: one of the clip's frames, uniformly (official SVI-Shot); outside: a frame of the source
    video before or after the window, uniformly (the official DevLog's advice), or a window frame
    when the clip spans the whole video; first: frame_ids[0], the condition frame itself.
    """
    if mode not in REFERENCE_FRAMES:
        raise ValueError(f"unknown reference_frame {mode!r}; choose one of {REFERENCE_FRAMES}")
    if mode == "first":
        return frame_ids[0]
    first, span = frame_ids[0], frame_ids[-1] - frame_ids[0] + 1
    outside = num_source_frames - span
    if mode == "outside" and outside > 0:
        r = randint(outside, generator)
        return r if r < first else r + span
    return frame_ids[randint(len(frame_ids), generator)]


@dataclass(frozen=True)
class ClipWindow:
    """Where item `index` of an epoch reads: the clip's source frames, its padding frame (`ref`) and
    the frames to decode (the clip's, plus `ref` when it lies outside), and the generator that then
    draws the crop (so every dataset crops from the same stream)."""

    frame_ids: list[int]
    ref: int
    read_ids: list[int]
    generator: torch.Generator


def draw_window(
    seed: int,
    epoch: int,
    index: int,
    num_source_frames: int,
    span_frames: int,
    frame_stride: int,
    mode: str,
    min_start: int = 0,
) -> ClipWindow:
    """The clip window of item `index` in `epoch`: a uniform start (the item's own hash stream), the
    frames every `frame_stride`, and the padding frame by `reference_frame_index` (its own stream, so
    the start frames and crops do not depend on the reference rule). Shared by every training dataset.
    `min_start`: the start is drawn from [min_start, last start] when the video is long enough for it,
    else from all starts (Self-Forcing's clips with a clip before them; 0 draws exactly as before)."""
    generator = item_generator(seed, epoch, index)
    last = num_source_frames - span_frames
    lo = min_start if 0 < min_start <= last else 0
    start = lo + randint(last - lo + 1, generator)
    frame_ids = list(range(start, start + span_frames, frame_stride))
    ref = reference_frame_index(
        frame_ids, num_source_frames, mode, item_generator(seed, epoch, index, ":reference")
    )
    read_ids = frame_ids if ref in frame_ids else frame_ids + [ref]
    return ClipWindow(frame_ids, ref, read_ids, generator)


def previous_window_ids(
    frame_ids: list[int], num_frames: int, cond_frames: int, frame_stride: int
) -> list[int] | None:
    """The source frames of the clip before the clip read at `frame_ids`: the clip whose last K
    (`cond_frames`) frames are this clip's first K, as chained generation makes them (clip k is
    conditioned on the last K frames of clip k-1). None when the video has no such clip (it would start
    before frame 0)."""
    start = frame_ids[0] - (num_frames - cond_frames) * frame_stride
    if start < 0:
        return None
    return list(range(start, start + num_frames * frame_stride, frame_stride))


def previous_frame_ids(
    frame_ids: list[int], num_frames: int, cond_frames: int, frame_stride: int
) -> list[int] | None:
    """The first `cond_frames` (K) source frames of the clip before (`previous_window_ids`), or None."""
    window = previous_window_ids(frame_ids, num_frames, cond_frames, frame_stride)
    return None if window is None else window[:cond_frames]


def previous_min_start(num_frames: int, cond_frames: int, frame_stride: int) -> int:
    """The first start frame whose clip has a clip before it (`previous_frame_ids`)."""
    return (num_frames - cond_frames) * frame_stride


def pro_window_ids(
    frame_ids: list[int], num_frames: int, frame_stride: int, temporal_ratio: int = 4
) -> list[int] | None:
    """SVI 2.0 Pro's motion window for a target clip read at `frame_ids` (#75, 1-based: anchor from
    frames 1..k, motion latent the last latent of frames k+1..k+81, target the 81 frames from k+77):
    the F frames whose last 1 + temporal_ratio are the target's first, so their last latent (its last
    temporal_ratio frames) is the one the target's latent 1 restates, as the previous clip's last latent
    is at inference. The anchor is drawn from the frames before it. None when it would start before
    frame 1 (no frame is left for the anchor)."""
    window = previous_window_ids(frame_ids, num_frames, 1 + temporal_ratio, frame_stride)
    return window if window is not None and window[0] >= 1 else None


def pro_min_start(num_frames: int, frame_stride: int, temporal_ratio: int = 4) -> int:
    """The first target start with a Pro motion window and one anchor frame before it."""
    return previous_min_start(num_frames, 1 + temporal_ratio, frame_stride) + 1


def check_index(index: int, length: int) -> int:
    """A dataset index, negative ones counted from the end; IndexError outside the range."""
    if index < 0:
        index += length
    if not 0 <= index < length:
        raise IndexError(f"index {index} out of range for {length} samples")
    return index


def describe_error(error: Exception) -> str:
    # decord's messages carry a C++ stack trace after the first line.
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def open_video(path: str, num_threads: int) -> decord.VideoReader:
    return decord.VideoReader(path, ctx=decord.cpu(0), num_threads=num_threads)


def probe_video(path: str, min_frames: int) -> tuple[int, str | None]:
    """(frame count, None) for a usable video, else (0 or the count, reason)."""
    if not Path(path).is_file():
        return 0, "file not found"
    try:
        num_frames = len(open_video(path, num_threads=1))
    except Exception as error:  # decord raises RuntimeError or its own DECORDError
        return 0, f"cannot be opened by decord ({describe_error(error)})"
    if num_frames < min_frames:
        return num_frames, f"has {num_frames} frames, the clip needs at least {min_frames}"
    return num_frames, None


def cover_size(src_h: int, src_w: int, height: int, width: int) -> tuple[int, int]:
    """Smallest aspect-preserving size of an src_h x src_w frame that covers height x width."""
    scale = max(height / src_h, width / src_w)
    return max(height, round(src_h * scale)), max(width, round(src_w * scale))


def resize_cover_crop(
    frames: torch.Tensor, height: int, width: int, top: int | None = None, left: int | None = None
) -> torch.Tensor:
    """uint8 [F, h, w, 3] -> float32 [3, F, height, width] in [-1, 1].

    Scales so the frame covers height x width (aspect ratio kept, bilinear with antialias), then crops
    at (top, left) in the resized frame; None means centred.
    """
    num_frames, src_h, src_w, _ = frames.shape
    new_h, new_w = cover_size(src_h, src_w, height, width)
    top = (new_h - height) // 2 if top is None else top
    left = (new_w - width) // 2 if left is None else left
    if not (0 <= top <= new_h - height and 0 <= left <= new_w - width):
        raise ValueError(f"crop ({top}, {left}) outside the resized frame {new_h}x{new_w}")
    out = torch.empty(3, num_frames, height, width, dtype=torch.float32)  # [3, F, H, W]
    for begin in range(0, num_frames, RESIZE_CHUNK_FRAMES):
        chunk = frames[begin : begin + RESIZE_CHUNK_FRAMES].permute(0, 3, 1, 2)  # uint8 [f, 3, h, w]
        if (new_h, new_w) != (src_h, src_w):
            # Resampling uint8 directly uses torch's fixed-point CPU kernel: ~15x faster than float32
            # at 720p -> 480p, within 1 grey level of it.
            chunk = F.interpolate(
                chunk, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False
            )
        chunk = chunk[:, :, top : top + height, left : left + width].float()  # [f, 3, H, W]
        out[:, begin : begin + chunk.shape[0]] = chunk.permute(1, 0, 2, 3) / 127.5 - 1.0
    return out.clamp_(-1.0, 1.0)
