"""svi.training.dance_data: the official SVI-Dance preprocessed layout (frame and pose pickles, or mp4 pairs),
pose maps in step with the video frames, determinism, bad samples."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from svi.training.clips import BadVideoError
from svi.training.dance_data import DanceClipDataset, load_frame_pickle, write_frame_pickle
from svi.training.data import collate
from toyworld.synthetic import write_video

SMALL = {"num_frames": 5, "height": 32, "width": 32}


def video_value(i: int) -> int:
    return 16 + 8 * i  # video frame i is uniformly this grey


def pose_value(i: int) -> int:
    return 250 - 8 * i  # its pose map is uniformly this grey: a different, decreasing code


def grey(value: int, height: int = 24, width: int = 40) -> np.ndarray:
    return np.full((height, width, 3), value, dtype=np.uint8)


def official_pickle(path: Path, images: list[np.ndarray]) -> None:
    """What prepare_video_pose.py writes: {"000000.jpg": cv2 JPEG bytes, ...}, pickled."""
    data = {}
    for i, rgb in enumerate(images):
        ok, jpeg = cv2.imencode(".jpg", rgb[..., ::-1])  # cv2 encodes its BGR frames
        assert ok
        data[str(i).zfill(6) + ".jpg"] = jpeg.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(data, f)


def pickled_sample(root: Path, name: str, num_frames: int) -> Path:
    folder = root / name
    official_pickle(folder / "frame_data.pkl", [grey(video_value(i)) for i in range(num_frames)])
    official_pickle(
        folder / "dw_pose_with_foot_wo_face.pkl", [grey(pose_value(i)) for i in range(num_frames)]
    )
    return folder


def frame_indices(item: dict) -> tuple[np.ndarray, np.ndarray]:
    """The source frame index each video frame and each pose map encodes."""
    video = (item["video"].mean(dim=(0, 2, 3)) + 1) * 127.5
    pose = item["pose"].mean(dim=(0, 2, 3)) * 255
    return ((video.numpy() - 16) / 8).round(), ((250 - pose.numpy()) / 8).round()


@pytest.fixture(scope="module")
def pickled_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("preprocessed")
    pickled_sample(root, "00003", 14)
    pickled_sample(root, "00007", 20)
    return root


def test_pickled_layout_pose_in_step_with_frames(pickled_root):
    ds = DanceClipDataset(pickled_root, **SMALL)
    assert len(ds) == 2 and [Path(s.path).name for s in ds.samples] == ["00003", "00007"]
    starts = set()
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            assert item["video"].shape == item["pose"].shape == (3, 5, 32, 32)
            assert item["prompt"] == "the person is dancing"
            assert item["pose"].min() >= 0 and item["pose"].max() <= 1
            video_ids, pose_ids = frame_indices(item)
            start = video_ids[0]
            np.testing.assert_array_equal(video_ids, start + np.arange(5))  # consecutive frames (stride 1)
            np.testing.assert_array_equal(pose_ids, video_ids)  # pose map t belongs to frame t
            # the padding image is one of the clip's frames (the official random window frame)
            assert any(torch.allclose(item["reference"], item["video"][:, t], atol=1e-6) for t in range(5))
            starts.add((i, start))
    assert len(starts) > 2  # the start frame varies with the epoch


def test_deterministic_per_seed_epoch_index(pickled_root):
    a, b = DanceClipDataset(pickled_root, seed=3, **SMALL), DanceClipDataset(pickled_root, seed=3, **SMALL)
    a.set_epoch(2), b.set_epoch(2)
    for key in ("video", "pose", "reference"):
        assert torch.equal(a[1][key], b[1][key])
    batch = collate([a[0], a[1]])
    assert batch["pose"].shape == batch["video"].shape == (2, 3, 5, 32, 32)
    assert batch["reference"].shape == (2, 3, 32, 32) and len(batch["prompt"]) == 2


def test_mp4_pair_layout(tmp_path):
    folder = tmp_path / "clip_a"
    write_video(folder / "video.mp4", np.stack([grey(video_value(i), 32, 64) for i in range(12)]))
    write_video(folder / "dwpose.mp4", np.stack([grey(pose_value(i), 32, 64) for i in range(12)]))
    ds = DanceClipDataset(tmp_path, num_frames=9, height=32, width=32)
    for epoch in range(3):
        ds.set_epoch(epoch)
        video_ids, pose_ids = frame_indices(ds[0])
        np.testing.assert_array_equal(pose_ids, video_ids)
        np.testing.assert_array_equal(video_ids, video_ids[0] + np.arange(9))


def test_cover_crop_cuts_frames_and_poses_alike(tmp_path):
    # frames and pose maps hold the same horizontal ramp (plus a per-frame offset): any spatial or
    # temporal misalignment between the two crops shows as a difference
    ramp = np.tile((np.arange(64) * 3).astype(np.uint8)[None, :, None], (32, 1, 3))
    images = [np.clip(ramp.astype(int) + 4 * i, 0, 255).astype(np.uint8) for i in range(10)]
    official_pickle(tmp_path / "s" / "frame_data.pkl", images)
    official_pickle(tmp_path / "s" / "dw_pose_with_foot_wo_face.pkl", images)
    ds = DanceClipDataset(tmp_path, resize="cover", **SMALL)
    lefts = set()
    for epoch in range(4):
        ds.set_epoch(epoch)
        item = ds[0]
        assert (item["pose"] * 2 - 1 - item["video"]).abs().max() < 0.05
        lefts.add(round(float(item["pose"][0, 0, 0, 0]) * 255))
    assert len(lefts) > 1  # the crop offset is random


def test_bad_samples_are_named(tmp_path):
    pickled_sample(tmp_path, "good", 12)
    official_pickle(tmp_path / "no_pose" / "frame_data.pkl", [grey(10)] * 12)
    short = pickled_sample(tmp_path, "short", 3)
    official_pickle(short / "dw_pose_with_foot_wo_face.pkl", [grey(10)] * 3)
    with pytest.raises(BadVideoError) as info:
        DanceClipDataset(tmp_path, **SMALL)
    message = str(info.value)
    assert "no_pose: lacks dw_pose_with_foot_wo_face.pkl" in message and "short: has 3 frames" in message
    ds = DanceClipDataset(tmp_path, skip_bad=True, **SMALL)
    assert len(ds) == 1 and len(ds.skipped) == 2
    (tmp_path / "video_only").mkdir()
    write_video(tmp_path / "video_only" / "video.mp4", np.stack([grey(10, 32, 32)] * 12))
    with pytest.raises(BadVideoError, match="no pose video"):
        DanceClipDataset(tmp_path, **SMALL)


def test_pickles_are_loaded_without_running_code(tmp_path):
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump({"000000.jpg": np.zeros(3)}, f)  # needs numpy classes to load
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        load_frame_pickle(path)
    frames = [grey(value) for value in (40, 200)]
    write_frame_pickle(tmp_path / "frame_data.pkl", frames)
    data = load_frame_pickle(tmp_path / "frame_data.pkl")
    assert list(data) == ["000000.jpg", "000001.jpg"]
    with open(tmp_path / "old.pkl", "wb") as f:  # protocol 2 spells bytes through _codecs.encode
        pickle.dump(data, f, protocol=2)
    assert load_frame_pickle(tmp_path / "old.pkl") == data
