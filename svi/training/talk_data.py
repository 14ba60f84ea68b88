"""SVI-Talk training clips in the official preprocessed layout (scripts/data_preprocess/prepare_video_audio.py).

Layout:

    <root>/preprocessed/<id>/frame_data.pkl       dict {"000000.jpg": JPEG bytes, ...}: every frame of the
                                                  video in order, at 25 fps
    <root>/preprocessed/<id>/audio_embedding.pkl  torch tensor [L, N, D]: the wav2vec2 hidden states of
                                                  encoder layers 1..L (12 x 768 for chinese-wav2vec2-base),
                                                  one row per 25 fps video frame, N = int(seconds * 25)
    <root>/raw/audios/<id>.wav                    the speech (16 kHz); only needed to (re)compute
                                                  audio_embedding.pkl (`write_audio_embedding`)

`root` may also be the `preprocessed` folder itself (what the official --dataset_path names).
The official preprocessing centre-crops landscape frames to a square and halves frames 2048 px or
wider before JPEG-encoding them; `write_talk_sample` stores frames as given.

`TalkClipDataset` yields svi/training/data.py's items plus the audio windows of the clip's frames:
{"video": [3, F, H, W] in [-1, 1], "reference": [3, H, W] (a random frame of the window, as the
official SVI-Talk pads with), "prompt": "the person is speaking", "path": str,
"audio": [F, 5, L, D] float32, row i the feature rows i-2..i+2 of the clip's frame i}.
The randomness (start frame, crop, reference) is a pure function of (seed, epoch, index).
"""

from __future__ import annotations

import io
import logging
import pickle
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from svi.conditions.audio import (
    CONTEXT_FRAMES,
    VIDEO_FPS,
    Wav2Vec2Features,
    audio_windows,
    read_audio,
    write_wav,
)
from svi.conditions.multitalk import TALK_PROMPT
from svi.training.clips import (
    REFERENCE_FRAMES,
    BadVideoError,
    check_index,
    cover_size,
    draw_window,
    randint,
    resize_cover_crop,
    validate_clip_shape,
)

logger = logging.getLogger(__name__)

FRAMES_FILE = "frame_data.pkl"
AUDIO_FILE = "audio_embedding.pkl"
LAYOUT_HELP = (
    "expected layout: <root>/preprocessed/<id>/frame_data.pkl (dict of JPEG bytes per frame) and "
    "<root>/preprocessed/<id>/audio_embedding.pkl (tensor [L, N, D]), raw speech in <root>/raw/audios/<id>.wav"
)
# More than this fraction of frames between the video's frame count and the audio rows means the
# two do not line up (typically a video that is not 25 fps).
MAX_FRAME_MISMATCH = 0.05


def preprocessed_folder(root: str | Path) -> Path:
    root = Path(root)
    if (root / "preprocessed").is_dir():
        return root / "preprocessed"
    if root.name == "preprocessed" and root.is_dir():
        return root
    raise FileNotFoundError(f"no talk dataset at {root}; {LAYOUT_HELP}")


def raw_audio_path(root: str | Path, sample_id: str) -> Path:
    return preprocessed_folder(root).parent / "raw" / "audios" / f"{sample_id}.wav"


def load_frames(path: Path) -> list[bytes]:
    """The encoded frames of a frame_data.pkl, in the file's order (the official reader's order)."""
    with open(path, "rb") as f:
        frames = pickle.load(f)
    if not isinstance(frames, dict) or not all(isinstance(v, bytes | bytearray) for v in frames.values()):
        raise BadVideoError.of([(str(path), "is not a dict of encoded frame bytes")], hint=LAYOUT_HELP)
    return list(frames.values())


def load_audio_embedding(path: Path) -> torch.Tensor:
    """audio_embedding.pkl ([L, N, D], official) -> features [N, L, D] float32."""
    with open(path, "rb") as f:
        emb = torch.as_tensor(pickle.load(f))
    if emb.ndim != 3:
        raise BadVideoError.of(
            [(str(path), f"holds shape {tuple(emb.shape)}, expected [L, N, D]")], hint=LAYOUT_HELP
        )
    return emb.transpose(0, 1).float().contiguous()


def write_audio_embedding(root: str | Path, sample_id: str, encoder: Wav2Vec2Features) -> Path:
    """Compute <id>/audio_embedding.pkl from <root>/raw/audios/<id>.wav, in the official format."""
    features = encoder(read_audio(raw_audio_path(root, sample_id)))  # [N, L, D]
    path = preprocessed_folder(root) / sample_id / AUDIO_FILE
    with open(path, "wb") as f:
        pickle.dump(features.transpose(0, 1).contiguous(), f)  # [L, N, D]
    return path


def write_talk_sample(
    root: str | Path,
    sample_id: str,
    frames: np.ndarray,
    samples: torch.Tensor | np.ndarray,
    encoder: Wav2Vec2Features | None = None,
    sample_rate: int = 16000,
) -> Path:
    """Write one sample in the official layout: uint8 frames [F, h, w, 3] (25 fps) as frame_data.pkl,
    the speech as raw/audios/<id>.wav, and audio_embedding.pkl if an encoder is given. Returns its folder."""
    root = Path(root)
    folder = root / "preprocessed" / sample_id
    folder.mkdir(parents=True, exist_ok=True)
    encoded = {}
    for i, frame in enumerate(np.asarray(frames, dtype=np.uint8)):
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=95)
        encoded[f"{i:06d}.jpg"] = buffer.getvalue()
    with open(folder / FRAMES_FILE, "wb") as f:
        pickle.dump(encoded, f)
    write_wav(root / "raw" / "audios" / f"{sample_id}.wav", samples, sample_rate)
    if encoder is not None:
        write_audio_embedding(root, sample_id, encoder)
    return folder


class TalkClipDataset(torch.utils.data.Dataset):
    """Fixed-length talking clips with their audio windows, from the official preprocessed layout.

    Defaults are the official SVI-Talk training clip: 81 frames at 480 x 640 (train_svi_talk.py's
    defaults, which scripts/train/svi_talk.sh keeps), a random frame of the window as the reference.
    Files are checked to exist when the dataset is built; frame counts when an item is read (the
    pickles hold every encoded frame, too big to open them all up front).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        num_frames: int = 81,
        height: int = 480,
        width: int = 640,
        context: int = CONTEXT_FRAMES,
        seed: int = 0,
        reference_frame: str = "window",
        prompt: str = TALK_PROMPT,
        skip_bad: bool = False,
    ):
        validate_clip_shape(num_frames, height, width, 1)
        if reference_frame not in REFERENCE_FRAMES:
            raise ValueError(f"unknown reference_frame {reference_frame!r}; choose one of {REFERENCE_FRAMES}")
        self.folder = preprocessed_folder(root)
        self.num_frames, self.height, self.width = num_frames, height, width
        self.context = context
        self.seed = seed
        self.epoch = 0
        self.reference_frame = reference_frame
        self.prompt = prompt
        self.skipped: list[tuple[str, str]] = []

        ids = sorted(p.name for p in self.folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not ids:
            raise ValueError(f"no sample folders under {self.folder}; {LAYOUT_HELP}")
        samples, bad = [], []
        for sample_id in ids:
            missing = [n for n in (FRAMES_FILE, AUDIO_FILE) if not (self.folder / sample_id / n).is_file()]
            if not missing:
                samples.append(sample_id)
                continue
            reason = f"lacks {', '.join(missing)}"
            if AUDIO_FILE in missing and raw_audio_path(self.folder, sample_id).is_file():
                reason += " (compute it from the raw wav with svi.training.talk_data.write_audio_embedding)"
            bad.append((str(self.folder / sample_id), reason))
        if bad and not skip_bad:
            raise BadVideoError.of(bad, hint=f"Fix them or pass skip_bad=True. {LAYOUT_HELP}")
        if bad:
            self.skipped = bad
            logger.warning(
                "skipped %d of %d talk samples under %s; see dataset.skipped", len(bad), len(ids), self.folder
            )
        if not samples:
            raise ValueError(f"no usable samples under {self.folder}")
        self.ids: list[str] = samples

    def __len__(self) -> int:
        return len(self.ids)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        index = check_index(index, len(self))
        folder = self.folder / self.ids[index]
        frames = load_frames(folder / FRAMES_FILE)
        features = load_audio_embedding(folder / AUDIO_FILE)  # [N, L, D]
        total, rows = len(frames), features.shape[0]
        if total < self.num_frames:
            raise BadVideoError.of([(str(folder), f"has {total} frames, the clip needs {self.num_frames}")])
        if abs(total - rows) > MAX_FRAME_MISMATCH * total + 1:
            reason = (
                f"{total} frames but {rows} audio rows; the rows are per 25 fps frame, so re-encode the video "
                f"at {VIDEO_FPS} fps and recompute the pickles"
            )
            raise BadVideoError.of([(str(folder), reason)])

        window = draw_window(self.seed, self.epoch, index, total, self.num_frames, 1, self.reference_frame)
        start, ref, read_ids, generator = window.frame_ids[0], window.ref, window.read_ids, window.generator
        try:
            pixels = np.stack(
                [np.asarray(Image.open(io.BytesIO(frames[i])).convert("RGB")) for i in read_ids]
            )
        except Exception as error:
            raise BadVideoError.of(
                [(str(folder), f"decoding frames failed ({type(error).__name__}: {error})")]
            ) from error
        pixels = torch.from_numpy(pixels)  # uint8 [F (+1), h, w, 3]
        new_h, new_w = cover_size(pixels.shape[1], pixels.shape[2], self.height, self.width)
        top = randint(new_h - self.height + 1, generator)
        left = randint(new_w - self.width + 1, generator)
        video = resize_cover_crop(pixels, self.height, self.width, top, left)  # [3, F (+1), H, W]
        reference = video[:, read_ids.index(ref)].clone()
        video = video[:, : self.num_frames].contiguous()
        audio = audio_windows(features, start, start + self.num_frames, self.context)  # [F, context, L, D]
        return {
            "video": video,
            "reference": reference,
            "prompt": self.prompt,
            "path": str(folder),
            "audio": audio,
        }
