"""SVI-Dance training clips: video frames and their pose maps, in the official preprocessed layout.

Layout (what SVI's scripts/data_preprocess/prepare_video_pose.py writes and train_svi_dance.py reads
with --dataset_path; one folder per source video, any folder name):

    <root>/<id>/frame_data.pkl                 dict "000000.jpg" -> JPEG bytes of frame 0, ...
    <root>/<id>/dw_pose_with_foot_wo_face.pkl  dict with the same keys -> JPEG bytes of that frame's
                                               DWPose map (body, feet, hands; black background)
    <root>/<id>/dw_pose_with_foot_with_face.pkl  the same with face landmarks (not used for training)
or, the official loader's alternative (it prefers it when present):
    <root>/<id>/video.mp4 + <root>/<id>/dwpose.mp4  (or pose.mp4, as SVI's utils/process.py names it)

Frames are in the dicts' order (the official loader's). prepare_video_pose.py centre-crops landscape
frames to a square and halves frames 2048 px or wider before storing them; the pose maps have the
frames' size. The prompt is fixed: "the person is dancing".

`DanceClipDataset` items extend svi.training.data's: {"video": float32 [3, F, H, W] in [-1, 1], "reference":
[3, H, W] (the padding image, svi.training.data.reference_frame_index), "prompt": str, "path": str (the sample
folder), "pose": float32 [3, F, H, W] in [0, 1], pose map t belonging to video frame t}. The randomness
of an item (start frame, crop, reference frame) is a pure function of (seed, epoch, index), as in
svi.training.data. Broken samples are found when the dataset is built.

The pickles are read with an unpickler that only accepts a dict of names to bytes, so a pickle cannot
run code; still, load data from sources you trust.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from svi.conditions.pose import DANCE_PROMPT
from svi.training.clips import (
    DECODE_THREADS,
    PROGRESS_MIN_FILES,
    REFERENCE_FRAMES,
    RESIZE_CHUNK_FRAMES,
    BadVideoError,
    check_index,
    cover_size,
    describe_error,
    draw_window,
    open_video,
    randint,
    resize_cover_crop,
    validate_clip_shape,
)

logger = logging.getLogger(__name__)

FRAMES_PICKLE = "frame_data.pkl"
POSE_PICKLE = "dw_pose_with_foot_wo_face.pkl"
VIDEO_FILE = "video.mp4"
POSE_VIDEOS = ("dwpose.mp4", "pose.mp4")
# stretch: the official loader's plain resize to H x W; cover: svi.training.clips' cover + random crop.
RESIZES = ("stretch", "cover")

LAYOUT_HELP = (
    f"expected layout: <root>/<id>/{FRAMES_PICKLE} and <root>/<id>/{POSE_PICKLE} (dicts of frame name -> "
    f"JPEG bytes, as SVI's prepare_video_pose.py writes them), or <root>/<id>/{VIDEO_FILE} with "
    f"<root>/<id>/{POSE_VIDEOS[0]}"
)


class _BytesDictUnpickler(pickle.Unpickler):
    # A dict of str -> bytes needs no class; protocol 2 spells bytes through _codecs.encode.
    ALLOWED = {("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"{module}.{name} is not allowed: expected a dict of frame name -> bytes"
        )


def load_frame_pickle(path: str | Path) -> dict[str, bytes]:
    """An official frame pickle (frame name -> encoded image bytes), loaded without running code."""
    with open(path, "rb") as f:
        data = _BytesDictUnpickler(f).load()
    if not isinstance(data, dict) or not all(isinstance(v, bytes | bytearray) for v in data.values()):
        raise ValueError(f"{path} does not hold a dict of frame name -> image bytes")
    return data


def _decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a decodable image")
    return image[..., ::-1]  # BGR -> RGB, [h, w, 3]


def _resize_uint8(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """uint8 [F, h, w, 3] -> uint8 [F, height, width, 3], plain bilinear resize (aspect not kept)."""
    if tuple(frames.shape[1:3]) == (height, width):
        return frames
    out = torch.empty(frames.shape[0], height, width, 3, dtype=torch.uint8)
    for begin in range(0, frames.shape[0], RESIZE_CHUNK_FRAMES):
        chunk = frames[begin : begin + RESIZE_CHUNK_FRAMES].permute(0, 3, 1, 2)
        chunk = F.interpolate(
            chunk, size=(height, width), mode="bilinear", antialias=True, align_corners=False
        )
        out[begin : begin + chunk.shape[0]] = chunk.permute(0, 2, 3, 1)
    return out


@dataclass(frozen=True)
class DanceSample:
    path: str  # the sample folder
    video: str  # frame_data.pkl or video.mp4
    pose: str  # dw_pose_with_foot_wo_face.pkl or dwpose.mp4 / pose.mp4
    num_source_frames: int

    @property
    def pickled(self) -> bool:
        return self.video.endswith(".pkl")


def _probe_sample(folder: Path, min_frames: int) -> tuple[DanceSample | None, str | None]:
    """(sample, None) for a usable folder, else (None, reason)."""
    video = folder / VIDEO_FILE
    if video.is_file():  # the official loader prefers the mp4 pair when video.mp4 exists
        pose = next((folder / n for n in POSE_VIDEOS if (folder / n).is_file()), None)
        if pose is None:
            return None, f"has {VIDEO_FILE} but no pose video ({' or '.join(POSE_VIDEOS)})"
        try:
            count, pose_count = len(open_video(str(video), 1)), len(open_video(str(pose), 1))
        except Exception as error:  # decord raises RuntimeError or its own DECORDError
            return None, f"cannot be opened by decord ({describe_error(error)})"
        if pose_count < count:
            return None, f"{pose.name} has {pose_count} frames, {VIDEO_FILE} {count}"
    else:
        frames_pkl, pose_pkl = folder / FRAMES_PICKLE, folder / POSE_PICKLE
        missing = [p.name for p in (frames_pkl, pose_pkl) if not p.is_file()]
        if missing:
            return None, f"lacks {', '.join(missing)}"
        try:
            frames, poses = load_frame_pickle(frames_pkl), load_frame_pickle(pose_pkl)
        except Exception as error:
            return None, f"unreadable pickle ({describe_error(error)})"
        unmatched = [k for k in frames if k not in poses]
        if unmatched:
            return (
                None,
                f"{len(unmatched)} frames have no pose map in {POSE_PICKLE} (first: {unmatched[0]!r})",
            )
        count, video, pose = len(frames), frames_pkl, pose_pkl
    if count < min_frames:
        return None, f"has {count} frames, the clip needs at least {min_frames}"
    return DanceSample(str(folder), str(video), str(pose), count), None


class DanceClipDataset(torch.utils.data.Dataset):
    """Fixed-length clips with their pose maps from the official SVI-Dance preprocessed folder.

    Defaults are the official training values (train_svi_dance.py): 81 frames at stride 1, 832 x 480
    (portrait), stretched to that size, the padding image a random frame of the clip. Items: see the
    module docstring; `svi.training.data.collate` batches them. Call `set_epoch(e)` before epoch e."""

    def __init__(
        self,
        root: str | Path,
        *,
        num_frames: int = 81,
        height: int = 832,
        width: int = 480,
        frame_stride: int = 1,
        resize: str = "stretch",
        skip_bad: bool = False,
        seed: int = 0,
        reference_frame: str = "window",
        prompt: str = DANCE_PROMPT,
    ):
        validate_clip_shape(num_frames, height, width, frame_stride)
        if reference_frame not in REFERENCE_FRAMES:
            raise ValueError(f"unknown reference_frame {reference_frame!r}; choose one of {REFERENCE_FRAMES}")
        if resize not in RESIZES:
            raise ValueError(f"unknown resize {resize!r}; choose one of {RESIZES}")
        # the official root holds preprocessed/<id>/...; the preprocessed folder itself is taken too
        self.root = Path(root) / "preprocessed" if (Path(root) / "preprocessed").is_dir() else Path(root)
        self.num_frames, self.height, self.width = num_frames, height, width
        self.frame_stride, self.resize, self.seed = frame_stride, resize, seed
        self.reference_frame, self.prompt = reference_frame, prompt
        self.epoch = 0
        self.span_frames = (num_frames - 1) * frame_stride + 1
        self.skipped: list[tuple[str, str]] = []

        if not self.root.is_dir():
            raise FileNotFoundError(
                f"dataset root {self.root} does not exist or is not a folder; {LAYOUT_HELP}"
            )
        folders = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not folders:
            raise ValueError(f"no sample folders under {self.root}; {LAYOUT_HELP}")
        samples, bad = [], []
        for folder in tqdm(
            folders,
            desc="probing dance samples",
            unit="sample",
            leave=False,
            disable=len(folders) < PROGRESS_MIN_FILES,
        ):
            sample, reason = _probe_sample(folder, self.span_frames)
            if sample is not None:
                samples.append(sample)
            else:
                bad.append((str(folder), reason))
        if bad and not skip_bad:
            hint = f"Fix or remove them, pass skip_bad=True to skip them, or lower num_frames / frame_stride. {LAYOUT_HELP}"
            raise BadVideoError.of(bad, hint=hint)
        if bad:
            self.skipped = bad
            logger.warning(
                "skipped %d of %d dance samples under %s; see dataset.skipped",
                len(bad),
                len(folders),
                self.root,
            )
        if not samples:
            raise ValueError(f"no usable samples under {self.root} (all {len(folders)} folders are bad)")
        self.samples: list[DanceSample] = samples

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _read(
        self, sample: DanceSample, read_ids: list[int], pose_ids: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 frames [len(read_ids), h, w, 3] and pose maps [len(pose_ids), h', w', 3]."""
        if sample.pickled:
            frames, poses = load_frame_pickle(sample.video), load_frame_pickle(sample.pose)
            keys = list(frames)
            video = np.stack([_decode(frames[keys[i]]) for i in read_ids])
            pose = np.stack([_decode(poses[keys[i]]) for i in pose_ids])
            return torch.from_numpy(video), torch.from_numpy(pose)
        out = []
        for path, ids in ((sample.video, read_ids), (sample.pose, pose_ids)):
            batch = open_video(path, DECODE_THREADS).get_batch(ids)
            out.append(torch.as_tensor(batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch)))
        return out[0], out[1]

    def __getitem__(self, index: int) -> dict:
        index = check_index(index, len(self))
        sample = self.samples[index]
        window = draw_window(
            self.seed, self.epoch, index, sample.num_source_frames, self.span_frames, self.frame_stride,
            self.reference_frame,
        )  # fmt: skip
        frame_ids, ref, read_ids, generator = window.frame_ids, window.ref, window.read_ids, window.generator
        try:
            frames, poses = self._read(sample, read_ids, frame_ids)
        except Exception as error:
            reason = f"reading frames {frame_ids[0]}..{frame_ids[-1]} failed ({describe_error(error)})"
            raise BadVideoError.of([(sample.path, reason)]) from error
        frames, poses = frames.to(torch.uint8), poses.to(torch.uint8)
        # Pose maps share the frames' geometry: bring them to the frames' size, then crop both alike.
        poses = _resize_uint8(poses, frames.shape[1], frames.shape[2])
        both = torch.cat([frames, poses])  # [F (+1) + F, h, w, 3]
        if self.resize == "stretch":
            both = _resize_uint8(both, self.height, self.width).permute(3, 0, 1, 2).float() / 127.5 - 1.0
        else:
            new_h, new_w = cover_size(frames.shape[1], frames.shape[2], self.height, self.width)
            top = randint(new_h - self.height + 1, generator)
            left = randint(new_w - self.width + 1, generator)
            both = resize_cover_crop(both, self.height, self.width, top, left)  # [3, ..., H, W] in [-1, 1]
        n = len(read_ids)
        video, pose = both[:, :n], (both[:, n:] + 1.0) / 2.0
        reference = video[:, read_ids.index(ref)].clone()  # [3, H, W]
        return {
            "video": video[:, : self.num_frames].contiguous(),
            "reference": reference,
            "prompt": self.prompt,
            "path": sample.path,
            "pose": pose.clamp(0.0, 1.0).contiguous(),
        }


def write_frame_pickle(path: str | Path, frames: list[np.ndarray], quality: int = 95) -> Path:
    """Write RGB uint8 frames [h, w, 3] as an official frame pickle ("000000.jpg" -> JPEG bytes),
    the format prepare_video_pose.py writes (cv2's JPEG encoder, its default quality 95)."""
    data = {}
    for i, frame in enumerate(frames):
        ok, jpeg = cv2.imencode(
            ".jpg", np.ascontiguousarray(frame[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
        if not ok:
            raise ValueError(f"frame {i} could not be JPEG-encoded")
        data[f"{i:06d}.jpg"] = jpeg.tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return path
