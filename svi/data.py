"""Training clips in the official SVI data format.

Layout (as in the official Stable-Video-Infinity training scripts):

    <root>/<cat>/<cat>.csv      columns `Filename` (mp4 name relative to the CSV's folder)
    <root>/<cat>/*.mp4                  `Video Description` (the prompt)

`VideoClipDataset` yields one clip per listed video: `num_frames` frames taken every `frame_stride`
source frames from a random start, resized to cover `height` x `width` (aspect ratio kept) and randomly
cropped to exactly that size, as float32 in [-1, 1] with layout [3, F, H, W] (what Wan's VAE takes),
and the clip's reference frame: the image that pads the condition (`reference_frame_index`: a random
frame of the window as the official SVI-Shot does, one from outside the window, or frame 0). For
clip-level Self-Forcing (svi/forcing.py) it also gives the first K frames of the clip before the clip
in the same video (`previous_frame_ids`), the condition the model's rollout of that clip starts from.

The randomness of an item (start frame, crop offsets) is a pure function of (seed, epoch, index), so a
run resumed from a checkpoint sees exactly the clips it would have seen, whatever the number of
DataLoader workers. Broken videos are found when the dataset is built (open + frame count with decord,
which is cheap) rather than hours into training.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import decord
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

FILENAME_COLUMN = "Filename"
PROMPT_COLUMN = "Video Description"
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

LAYOUT_HELP = (
    "expected layout: <root>/<category>/<category>.csv with columns "
    f"'{FILENAME_COLUMN}' and '{PROMPT_COLUMN}', and the mp4 files beside each CSV"
)


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


def _validate_clip_shape(num_frames: int, height: int, width: int, frame_stride: int) -> None:
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


def _item_generator(seed: int, epoch: int, index: int, stream: str = "") -> torch.Generator:
    # A stable hash (not Python's salted hash(), not global RNG, not worker id): resumption-safe.
    # `stream` separates draws added later, so they leave the older ones (start, crop) unchanged.
    digest = hashlib.blake2b(f"svi.data{stream}:{seed}:{epoch}:{index}".encode(), digest_size=8).digest()
    generator = torch.Generator()
    generator.manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))
    return generator


def _randint(high_exclusive: int, generator: torch.Generator) -> int:
    return int(torch.randint(0, high_exclusive, (1,), generator=generator).item())


REFERENCE_FRAMES = ("window", "outside", "first")


def reference_frame_index(
    frame_ids: list[int], num_source_frames: int, mode: str, generator: torch.Generator
) -> int:
    """The source frame that pads the condition of a clip read at `frame_ids` (METHOD.md §3).

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
        r = _randint(outside, generator)
        return r if r < first else r + span
    return frame_ids[_randint(len(frame_ids), generator)]


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
    generator = _item_generator(seed, epoch, index)
    last = num_source_frames - span_frames
    lo = min_start if 0 < min_start <= last else 0
    start = lo + _randint(last - lo + 1, generator)
    frame_ids = list(range(start, start + span_frames, frame_stride))
    ref = reference_frame_index(
        frame_ids, num_source_frames, mode, _item_generator(seed, epoch, index, ":reference")
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


def check_index(index: int, length: int) -> int:
    """A dataset index, negative ones counted from the end; IndexError outside the range."""
    if index < 0:
        index += length
    if not 0 <= index < length:
        raise IndexError(f"index {index} out of range for {length} samples")
    return index


def _describe(error: Exception) -> str:
    # decord's messages carry a C++ stack trace after the first line.
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def _open(path: str, num_threads: int) -> decord.VideoReader:
    return decord.VideoReader(path, ctx=decord.cpu(0), num_threads=num_threads)


def _probe(path: str, min_frames: int) -> tuple[int, str | None]:
    """(frame count, None) for a usable video, else (0 or the count, reason)."""
    if not Path(path).is_file():
        return 0, "file not found"
    try:
        num_frames = len(_open(path, num_threads=1))
    except Exception as error:  # decord raises RuntimeError or its own DECORDError
        return 0, f"cannot be opened by decord ({_describe(error)})"
    if num_frames < min_frames:
        return num_frames, f"has {num_frames} frames, the clip needs at least {min_frames}"
    return num_frames, None


def read_category_csv(csv_path: Path) -> pd.DataFrame:
    """One category's CSV of the official layout (columns stripped; Filename and prompt required)."""
    # keep_default_na=False: an empty description stays "" and a prompt such as "None" stays text.
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in (FILENAME_COLUMN, PROMPT_COLUMN) if c not in table.columns]
    if missing:
        raise ValueError(
            f"{csv_path} lacks column(s) {missing}; found columns {list(table.columns)}. {LAYOUT_HELP}"
        )
    return table


def _as_text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


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


class VideoClipDataset(torch.utils.data.Dataset):
    """Fixed-length clips from the videos listed in `<root>/<cat>/<cat>.csv`.

    Items: {"video": float32 [3, F, H, W] in [-1, 1], "reference": float32 [3, H, W] (the padding
    image, `reference_frame_index`), "prompt": str, "path": str}. With `previous_frames` K > 0 (clip-level
    Self-Forcing), the start is drawn among the clips that have a clip before them in their video when
    it is long enough (`previous_min_start`), and items also hold "previous": float32 [3, K, H, W], that
    clip's first K frames cropped like the clip (zeros where there is none), "previous_reference":
    float32 [3, H, W], the padding image of that clip's own condition, drawn by `reference_frame` from
    that clip's window (not this one's, which holds the frames its rollout is to reach; zeros where there
    is none), and "has_previous": bool.
    Call `set_epoch(e)` before iterating epoch e. With persistent DataLoader workers the workers hold
    their own copy of the dataset, so the epoch must reach them (or use non-persistent workers, which
    re-copy the dataset every epoch).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        num_frames: int = 81,
        height: int = 480,
        width: int = 832,
        frame_stride: int = 1,
        categories: list[str] | None = None,
        skip_bad: bool = False,
        seed: int = 0,
        reference_frame: str = "window",
        previous_frames: int = 0,
    ):
        _validate_clip_shape(num_frames, height, width, frame_stride)
        if not 0 <= previous_frames < num_frames:
            raise ValueError(f"previous_frames must be in [0, num_frames), got {previous_frames}")
        self.previous_frames = previous_frames
        if reference_frame not in REFERENCE_FRAMES:
            raise ValueError(f"unknown reference_frame {reference_frame!r}; choose one of {REFERENCE_FRAMES}")
        self.reference_frame = reference_frame
        self.root = Path(root)
        self.num_frames = num_frames
        self.height = height
        self.width = width
        self.frame_stride = frame_stride
        self.seed = seed
        self.epoch = 0
        # Source frames spanned by one clip.
        self.span_frames = (num_frames - 1) * frame_stride + 1
        self.skipped: list[tuple[str, str]] = []

        listed = self._scan(categories)  # [(path, prompt, category)]
        samples, bad = [], []
        for path, prompt, category in tqdm(
            listed, desc="probing videos", unit="video", leave=False, disable=len(listed) < PROGRESS_MIN_FILES
        ):
            count, reason = _probe(path, self.span_frames)
            if reason is None:
                samples.append(Sample(path, prompt, category, count))
            else:
                bad.append((path, reason))
        if bad and not skip_bad:
            hint = "Fix or remove them, pass skip_bad=True to skip them, or lower num_frames / frame_stride."
            raise BadVideoError.of(bad, hint=hint)
        if bad:
            self.skipped = bad
            logger.warning(
                "skipped %d of %d videos under %s (missing, unreadable or shorter than %d frames); "
                "see dataset.skipped",
                len(bad),
                len(listed),
                self.root,
                self.span_frames,
            )
        if not samples:
            raise ValueError(f"no usable videos under {self.root} (all {len(listed)} listed ones are bad)")
        self.samples: list[Sample] = samples
        if previous_frames:
            need = self.span_frames + previous_min_start(num_frames, previous_frames, frame_stride)
            short = sum(s.num_source_frames < need for s in samples)
            if short:
                logger.warning(
                    "%d of %d videos under %s are shorter than %d frames: their clips have no clip before "
                    "them, so Self-Forcing keeps their clean condition (train/self_forcing_fallback). Use "
                    "videos of at least %d frames, or a shorter data.num_frames.",
                    short, len(samples), self.root, need, need,
                )  # fmt: skip

    def _scan(self, categories: list[str] | None) -> list[tuple[str, str, str]]:
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"dataset root {self.root} does not exist or is not a folder; {LAYOUT_HELP}"
            )
        found = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if categories is not None:
            unknown = sorted(set(categories) - set(found))
            if unknown:
                raise ValueError(f"unknown categories {unknown} under {self.root}; found {found}")
            found = [c for c in found if c in set(categories)]
        if not found:
            raise ValueError(f"no category folders under {self.root}; {LAYOUT_HELP}")
        listed = []
        for category in found:
            folder = self.root / category
            csv_path = folder / f"{category}.csv"
            if not csv_path.is_file():
                raise FileNotFoundError(f"category folder {folder} has no CSV {csv_path}; {LAYOUT_HELP}")
            table = read_category_csv(csv_path)
            for row, (filename, prompt) in enumerate(zip(table[FILENAME_COLUMN], table[PROMPT_COLUMN])):
                filename = _as_text(filename).strip()
                # An empty Filename would resolve to the folder itself; name the CSV row instead.
                path = (
                    str(folder / filename)
                    if filename
                    else f"{csv_path} (row {row + 2}, empty {FILENAME_COLUMN})"
                )
                listed.append((path, _as_text(prompt), category))
        if not listed:
            raise ValueError(f"no samples listed in the CSVs of {found} under {self.root}; {LAYOUT_HELP}")
        return listed

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        index = check_index(index, len(self))
        sample = self.samples[index]
        k = self.previous_frames
        min_start = previous_min_start(self.num_frames, k, self.frame_stride) if k else 0
        window = draw_window(
            self.seed, self.epoch, index, sample.num_source_frames, self.span_frames, self.frame_stride,
            self.reference_frame, min_start,
        )  # fmt: skip
        frame_ids, ref, read_ids, generator = window.frame_ids, window.ref, window.read_ids, window.generator
        before = previous_window_ids(frame_ids, self.num_frames, k, self.frame_stride) if k else None
        previous = before[:k] if before else None
        if previous:
            # the previous clip's padding frame, by the same rule from its own window, on its own stream
            draw = _item_generator(self.seed, self.epoch, index, ":previous_reference")
            previous_ref = reference_frame_index(before, sample.num_source_frames, self.reference_frame, draw)
            # decoded and cropped with the clip, split off below
            read_ids = read_ids + previous + [previous_ref]
        try:
            batch = _open(sample.path, DECODE_THREADS).get_batch(read_ids)
            # decord returns its NDArray, or a torch tensor if someone set decord's bridge to torch.
            frames = torch.as_tensor(batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch))
        except Exception as error:
            reason = f"reading frames {frame_ids[0]}..{frame_ids[-1]} failed ({_describe(error)})"
            raise BadVideoError.of([(sample.path, reason)]) from error
        if frames.ndim != 4 or frames.shape[0] != len(read_ids) or frames.shape[-1] != 3:
            reason = f"decoded {tuple(frames.shape)}, expected [{len(read_ids)}, h, w, 3]"
            raise BadVideoError.of([(sample.path, reason)])
        frames = frames.to(torch.uint8)  # [F (+1 for a reference outside the window), h, w, 3]

        new_h, new_w = cover_size(frames.shape[1], frames.shape[2], self.height, self.width)
        top = _randint(new_h - self.height + 1, generator)
        left = _randint(new_w - self.width + 1, generator)
        video = resize_cover_crop(frames, self.height, self.width, top, left)  # [3, F (+1), H, W]
        reference = video[:, read_ids.index(ref)].clone()  # [3, H, W], cropped like the clip
        item = {"prompt": sample.prompt, "path": sample.path}
        if k:
            n = len(read_ids)
            item["has_previous"] = previous is not None
            item["previous"] = (
                video[:, n - k - 1 : n - 1].clone() if previous else video.new_zeros(3, k, *video.shape[2:])
            )  # [3, K, H, W]
            item["previous_reference"] = (
                video[:, n - 1].clone() if previous else video.new_zeros(3, *video.shape[2:])
            )  # [3, H, W]
        if len(read_ids) > self.num_frames:
            video = video[:, : self.num_frames].contiguous()
        return {"video": video, "reference": reference, **item}


# extra item keys: the conditional datasets', Self-Forcing's
STREAMS = ("audio", "pose", "previous", "previous_reference")


def collate(batch: list[dict]) -> dict:
    """Items -> {"video": [B, 3, F, H, W], "reference": [B, 3, H, W], "prompt": list[str], "path": list[str]},
    plus the conditional datasets' streams when the items have them: "audio" [B, F, 5, L, D]
    (svi/talk_data.py), "pose" [B, 3, F, H, W] (svi/dance_data.py), and Self-Forcing's "previous"
    [B, 3, K, H, W], "previous_reference" [B, 3, H, W] and "has_previous" [B] bool (VideoClipDataset
    with previous_frames)."""
    if not batch:
        raise ValueError("collate got an empty batch")
    out = {
        "video": torch.stack([item["video"] for item in batch]),
        "reference": torch.stack([item["reference"] for item in batch]),
        "prompt": [item["prompt"] for item in batch],
        "path": [item["path"] for item in batch],
    }
    for stream in STREAMS:
        if stream in batch[0]:
            out[stream] = torch.stack([item[stream] for item in batch])
    if "has_previous" in batch[0]:
        out["has_previous"] = torch.tensor([item["has_previous"] for item in batch], dtype=torch.bool)
    return out


def training_clips(cfg) -> torch.utils.data.Dataset:
    """The training clips of `data.root` in the layout the variant reads: `<cat>/<cat>.csv` beside
    the videos (Shot, Film), or the official preprocessed folders (talk: svi/talk_data.py; dance:
    svi/dance_data.py)."""
    d, kind = cfg.data, cfg.condition.kind
    common = {"num_frames": d.num_frames, "height": d.height, "width": d.width, "seed": cfg.train.seed}
    common.update(reference_frame=d.reference_frame, skip_bad=d.skip_bad)
    if kind == "audio":
        from svi.talk_data import TalkClipDataset

        return TalkClipDataset(d.root, **common)
    if kind == "pose":
        from svi.dance_data import DanceClipDataset

        return DanceClipDataset(d.root, frame_stride=d.frame_stride, **common)
    # Self-Forcing rolls out the clip before each training clip from that clip's first K frames
    previous = d.cond_frames if cfg.forcing.kind == "self" else 0
    return VideoClipDataset(
        d.root, frame_stride=d.frame_stride, categories=d.categories, previous_frames=previous, **common
    )
