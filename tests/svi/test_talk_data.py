"""svi.training.talk_data: the official SVI-Talk preprocessed layout, frame/audio alignment, determinism."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from svi.conditions.audio import Wav2Vec2Features
from svi.conditions.multitalk import TALK_PROMPT
from svi.training.clips import BadVideoError
from svi.training.data import collate
from svi.training.talk_data import TalkClipDataset, write_audio_embedding, write_talk_sample

SMALL = {"num_frames": 5, "height": 32, "width": 32}
STEP = 16  # frame i is uniformly grey with value 16 + 16 i


def grey_jpeg(value: int, height: int = 24, width: int = 40) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), value, np.uint8)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def write_official_sample(root: Path, sample_id: str, num_frames: int, audio_rows: int | None = None) -> None:
    """What prepare_video_audio.py writes: {"000000.jpg": JPEG bytes, ...} and a tensor [L, N, D]
    whose rows are the video frame index (here L = 2, D = 3)."""
    folder = root / "preprocessed" / sample_id
    folder.mkdir(parents=True)
    frames = {f"{i:06d}.jpg": grey_jpeg(16 + STEP * i) for i in range(num_frames)}
    with open(folder / "frame_data.pkl", "wb") as f:
        pickle.dump(frames, f)
    rows = num_frames if audio_rows is None else audio_rows
    embedding = torch.arange(rows, dtype=torch.float32)[None, :, None].expand(2, rows, 3).contiguous()
    with open(folder / "audio_embedding.pkl", "wb") as f:
        pickle.dump(embedding, f)


@pytest.fixture()
def root(tmp_path) -> Path:
    write_official_sample(tmp_path, "a1", 12)
    write_official_sample(tmp_path, "b2", 10)
    return tmp_path


def frame_index(video: torch.Tensor) -> list[int]:
    """The source frame each clip frame shows, from its grey level."""
    grey = (video.mean(dim=(0, 2, 3)) + 1) * 127.5
    return [round((g - 16) / STEP) for g in grey.tolist()]


def test_items_line_up_frames_and_audio(root):
    ds = TalkClipDataset(root, **SMALL)
    assert len(ds) == 2
    starts = set()
    for epoch in range(4):
        ds.set_epoch(epoch)
        for index in range(len(ds)):
            item = ds[index]
            assert item["video"].shape == (3, 5, 32, 32) and item["reference"].shape == (3, 32, 32)
            assert item["prompt"] == TALK_PROMPT == "the person is speaking"
            assert item["audio"].shape == (5, 5, 2, 3) and item["audio"].dtype == torch.float32
            frames = frame_index(item["video"])
            assert frames == list(range(frames[0], frames[0] + 5))
            # Each frame's window is centred on its own audio row: rows i-2 .. i+2, clamped to the recording.
            total = 12 if item["path"].endswith("a1") else 10
            for k, f in enumerate(frames):
                expected = [min(max(r, 0), total - 1) for r in range(f - 2, f + 3)]
                assert item["audio"][k, :, 0, 0].tolist() == expected
            assert frame_index(item["reference"][:, None])[0] in frames  # a frame of the window
            starts.add((index, frames[0]))
    assert len(starts) > 2  # the start frame varies with the epoch


def test_deterministic_per_seed_epoch_index(root):
    a, b = TalkClipDataset(root, **SMALL, seed=3), TalkClipDataset(root, **SMALL, seed=3)
    for ds in (a, b):
        ds.set_epoch(2)
    for index in range(2):
        x, y = a[index], b[index]
        assert torch.equal(x["video"], y["video"]) and torch.equal(x["audio"], y["audio"])
        assert torch.equal(x["reference"], y["reference"])


def test_collate(root):
    ds = TalkClipDataset(root, **SMALL)
    batch = collate([ds[0], ds[1]])
    assert batch["video"].shape == (2, 3, 5, 32, 32)
    assert batch["audio"].shape == (2, 5, 5, 2, 3)
    assert batch["prompt"] == [TALK_PROMPT] * 2 and len(batch["path"]) == 2


def test_root_may_be_the_preprocessed_folder(root):
    assert TalkClipDataset(root / "preprocessed", **SMALL).ids == ["a1", "b2"]


def test_missing_files_are_found_when_built(root):
    (root / "preprocessed" / "b2" / "audio_embedding.pkl").unlink()
    (root / "raw" / "audios").mkdir(parents=True)
    (root / "raw" / "audios" / "b2.wav").write_bytes(b"")
    with pytest.raises(BadVideoError, match="write_audio_embedding") as info:
        TalkClipDataset(root, **SMALL)
    assert len(info.value.bad) == 1
    ds = TalkClipDataset(root, **SMALL, skip_bad=True)
    assert ds.ids == ["a1"] and len(ds.skipped) == 1
    with pytest.raises(FileNotFoundError, match="preprocessed"):
        TalkClipDataset(root / "nowhere", **SMALL)


def test_bad_samples_are_named(tmp_path):
    write_official_sample(tmp_path, "short", 4)
    write_official_sample(tmp_path, "thirty_fps", 12, audio_rows=10)
    ds = TalkClipDataset(tmp_path, **SMALL)
    with pytest.raises(BadVideoError, match="needs 5"):
        ds[0]
    with pytest.raises(BadVideoError, match="25 fps"):
        ds[1]


def test_written_samples_round_trip_with_a_real_encoder(tmp_path):
    encoder = Wav2Vec2Features.random(seed=0)
    frames = np.stack([np.full((24, 24, 3), 16 + STEP * i, np.uint8) for i in range(10)])
    g = torch.Generator().manual_seed(0)
    speech = 0.1 * torch.randn(int(16000 * 10 / 25), generator=g)  # 10 frames at 25 fps
    write_talk_sample(tmp_path, "s", frames, speech, encoder=encoder)
    assert (tmp_path / "raw" / "audios" / "s.wav").is_file()
    with open(tmp_path / "preprocessed" / "s" / "audio_embedding.pkl", "rb") as f:
        stored = pickle.load(f)
    assert stored.shape == (2, 10, 16)  # [L, N, D], N = int(0.4 s * 25)
    item = TalkClipDataset(tmp_path, **SMALL)[0]
    start = frame_index(item["video"])[0]
    features = stored.transpose(0, 1)  # [N, L, D]
    assert torch.equal(item["audio"][:, 2], features[start : start + 5])
    # The pickle holds the encoder's features of the speech (read back from the 16-bit wav).
    assert torch.allclose(stored, encoder(speech).transpose(0, 1), atol=1e-3)
    (tmp_path / "preprocessed" / "s" / "audio_embedding.pkl").unlink()
    write_audio_embedding(tmp_path, "s", encoder)
    with open(tmp_path / "preprocessed" / "s" / "audio_embedding.pkl", "rb") as f:
        assert torch.equal(pickle.load(f), stored)
