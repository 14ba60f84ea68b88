"""Training clips in the official SVI data format.

Layout (as in the official Stable-Video-Infinity training scripts):

    <root>/<cat>/<cat>.csv      columns `Filename` (mp4 name relative to the CSV's folder)
    <root>/<cat>/*.mp4                  `Video Description` (the prompt)

`VideoClipDataset` yields one clip per listed video: `num_frames` frames taken every `frame_stride`
source frames from a random start, resized to cover `height` x `width` (aspect ratio kept) and randomly
cropped to exactly that size, as float32 in [-1, 1] with layout [3, F, H, W] (what Wan's VAE takes),
and the clip's reference frame: the image that pads the condition (`reference_frame_index`: a random
frame of the window as the official SVI-Shot does, one from outside the window, or frame 0). For
clip-level Self-Forcing (svi/training/forcing.py) it also gives the first K frames of the clip before the clip
in the same video (`previous_frame_ids`), the condition the model's rollout of that clip starts from.

The randomness of an item (start frame, crop offsets) is a pure function of (seed, epoch, index), so a
run resumed from a checkpoint sees exactly the clips it would have seen, whatever the number of
DataLoader workers. Broken videos are found when the dataset is built (open + frame count with decord,
which is cheap) rather than hours into training.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from svi.training.clips import (
    DECODE_THREADS,
    PROGRESS_MIN_FILES,
    REFERENCE_FRAMES,
    BadVideoError,
    Sample,
    check_index,
    cover_size,
    describe_error,
    draw_window,
    item_generator,
    open_video,
    previous_min_start,
    previous_window_ids,
    pro_min_start,
    pro_window_ids,
    probe_video,
    randint,
    reference_frame_index,
    resize_cover_crop,
    validate_clip_shape,
)

logger = logging.getLogger(__name__)

FILENAME_COLUMN = "Filename"
PROMPT_COLUMN = "Video Description"
LAYOUT_HELP = (
    "expected layout: <root>/<category>/<category>.csv with columns "
    f"'{FILENAME_COLUMN}' and '{PROMPT_COLUMN}', and the mp4 files beside each CSV"
)


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
        pro_window: bool = False,
    ):
        validate_clip_shape(num_frames, height, width, frame_stride)
        if not 0 <= previous_frames < num_frames:
            raise ValueError(f"previous_frames must be in [0, num_frames), got {previous_frames}")
        if pro_window and previous_frames:
            raise ValueError("data.window=pro and Self-Forcing's previous clip do not combine: use one")
        self.pro_window = pro_window
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
            need = self.span_frames + (pro_min_start(num_frames, frame_stride) if pro_window else 0)
            count, reason = probe_video(path, need)
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
        if self.pro_window:  # every video is long enough (checked when the dataset was built)
            min_start = pro_min_start(self.num_frames, self.frame_stride)
        window = draw_window(
            self.seed, self.epoch, index, sample.num_source_frames, self.span_frames, self.frame_stride,
            self.reference_frame, min_start,
        )  # fmt: skip
        frame_ids, ref, read_ids, generator = window.frame_ids, window.ref, window.read_ids, window.generator
        before = previous_window_ids(frame_ids, self.num_frames, k, self.frame_stride) if k else None
        previous = before[:k] if before else None
        if previous:
            # the previous clip's padding frame, by the same rule from its own window, on its own stream
            draw = item_generator(self.seed, self.epoch, index, ":previous_reference")
            previous_ref = reference_frame_index(before, sample.num_source_frames, self.reference_frame, draw)
            # decoded and cropped with the clip, split off below
            read_ids = read_ids + previous + [previous_ref]
        motion = pro_window_ids(frame_ids, self.num_frames, self.frame_stride) if self.pro_window else None
        if motion:  # Pro: the motion window, then the anchor, a frame before it (its own stream)
            anchor = randint(motion[0], item_generator(self.seed, self.epoch, index, ":anchor"))
            read_ids = read_ids + motion + [anchor]
        try:
            batch = open_video(sample.path, DECODE_THREADS).get_batch(read_ids)
            # decord returns its NDArray, or a torch tensor if someone set decord's bridge to torch.
            frames = torch.as_tensor(batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch))
        except Exception as error:
            reason = f"reading frames {frame_ids[0]}..{frame_ids[-1]} failed ({describe_error(error)})"
            raise BadVideoError.of([(sample.path, reason)]) from error
        if frames.ndim != 4 or frames.shape[0] != len(read_ids) or frames.shape[-1] != 3:
            reason = f"decoded {tuple(frames.shape)}, expected [{len(read_ids)}, h, w, 3]"
            raise BadVideoError.of([(sample.path, reason)])
        frames = frames.to(torch.uint8)  # [F (+1 for a reference outside the window), h, w, 3]

        new_h, new_w = cover_size(frames.shape[1], frames.shape[2], self.height, self.width)
        top = randint(new_h - self.height + 1, generator)
        left = randint(new_w - self.width + 1, generator)
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
        if motion:
            n = len(read_ids)
            item["motion"] = video[:, n - self.num_frames - 1 : n - 1].clone()  # [3, F, H, W]
            item["anchor"] = video[:, n - 1].clone()  # [3, H, W]
        if len(read_ids) > self.num_frames:
            video = video[:, : self.num_frames].contiguous()
        return {"video": video, "reference": reference, **item}


# extra item keys: the conditional datasets', Self-Forcing's, the Pro window's
STREAMS = ("audio", "pose", "previous", "previous_reference", "motion", "anchor")


def collate(batch: list[dict]) -> dict:
    """Items -> {"video": [B, 3, F, H, W], "reference": [B, 3, H, W], "prompt": list[str], "path": list[str]},
    plus the conditional datasets' streams when the items have them: "audio" [B, F, 5, L, D]
    (svi/training/talk_data.py), "pose" [B, 3, F, H, W] (svi/training/dance_data.py), and Self-Forcing's "previous"
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
    the videos (Shot, Film), or the official preprocessed folders (talk: svi/training/talk_data.py; dance:
    svi/training/dance_data.py)."""
    d, kind = cfg.data, cfg.condition.kind
    common = {"num_frames": d.num_frames, "height": d.height, "width": d.width, "seed": cfg.train.seed}
    common.update(reference_frame=d.reference_frame, skip_bad=d.skip_bad)
    if kind == "audio":
        from svi.training.talk_data import TalkClipDataset

        return TalkClipDataset(d.root, **common)
    if kind == "pose":
        from svi.training.dance_data import DanceClipDataset

        return DanceClipDataset(d.root, frame_stride=d.frame_stride, **common)
    # Self-Forcing rolls out the clip before each training clip from that clip's first K frames
    previous = d.cond_frames if cfg.forcing.kind == "self" else 0
    return VideoClipDataset(
        d.root,
        frame_stride=d.frame_stride,
        categories=d.categories,
        previous_frames=previous,
        pro_window=d.window == "pro",
        **common,
    )
