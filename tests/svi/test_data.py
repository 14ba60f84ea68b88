"""svi.training.data: scanning the official SVI layout, clip sampling, determinism, bad-video handling."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from svi.training.clips import BadVideoError, cover_size, nearest_valid_num_frames, reference_frame_index
from svi.training.data import VideoClipDataset, collate
from toyworld.synthetic import write_dataset, write_video

SMALL = {"num_frames": 5, "height": 32, "width": 32}


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("svi_data")
    write_dataset(
        root, categories=("cat_a", "cat_b"), videos_per_category=2, num_frames=12, height=40, width=64
    )
    return root


def brightness_video(path: Path, num_frames: int, step: int = 8, height: int = 32, width: int = 32) -> None:
    """Frame i is uniformly grey with value 16 + i * step."""
    values = 16 + step * np.arange(num_frames, dtype=np.int64)
    assert values.max() <= 255
    frames = np.broadcast_to(values[:, None, None, None], (num_frames, height, width, 3)).astype(np.uint8)
    write_video(path, np.ascontiguousarray(frames))


def write_category(root: Path, category: str, rows: list[tuple[str, str]]) -> Path:
    folder = root / category
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows, columns=["Filename", "Video Description"])
    table.to_csv(folder / f"{category}.csv", index=False)
    return folder


def test_scans_official_layout(dataset_root):
    ds = VideoClipDataset(dataset_root, **SMALL)
    assert len(ds) == 4
    assert ds.skipped == []
    expected = {}
    for category in ("cat_a", "cat_b"):
        table = pd.read_csv(dataset_root / category / f"{category}.csv")
        for name, prompt in zip(table["Filename"], table["Video Description"]):
            expected[str(dataset_root / category / name)] = prompt
    for i in range(len(ds)):
        item = ds[i]
        assert item["video"].shape == (3, 5, 32, 32)
        assert item["video"].dtype == torch.float32
        assert item["video"].min() >= -1.0 and item["video"].max() <= 1.0
        # the synthetic videos hold a bright square on a darker gradient: a real spread of values
        assert item["video"].max() - item["video"].min() > 0.5
        assert item["prompt"] == expected[item["path"]]
        assert item["prompt"].startswith("a ") and "square moving" in item["prompt"]


def test_categories_filter_and_unknown(dataset_root):
    ds = VideoClipDataset(dataset_root, categories=["cat_b"], **SMALL)
    assert len(ds) == 2 and all("cat_b" in ds[i]["path"] for i in range(2))
    with pytest.raises(ValueError, match=r"cat_zzz.*found \['cat_a', 'cat_b'\]"):
        VideoClipDataset(dataset_root, categories=["cat_zzz"], **SMALL)


def test_other_target_shapes(dataset_root):
    ds = VideoClipDataset(dataset_root, num_frames=9, height=16, width=48)
    assert ds[0]["video"].shape == (3, 9, 16, 48)
    # 40x64 sources are upscaled to 64x102, then cropped
    upscaled = VideoClipDataset(dataset_root, num_frames=5, height=64, width=96)[0]["video"]
    assert upscaled.shape == (3, 5, 64, 96)
    assert upscaled.min() >= -1.0 and upscaled.max() <= 1.0


def test_deterministic_from_seed_epoch_index(dataset_root):
    a = VideoClipDataset(dataset_root, **SMALL, seed=3)
    b = VideoClipDataset(dataset_root, **SMALL, seed=3)
    torch.manual_seed(123)  # global RNG state must not matter
    x = a[1]["video"]
    torch.manual_seed(456)
    _ = b[0]  # nor the order of access
    assert torch.equal(x, b[1]["video"])
    a.set_epoch(2)
    b.set_epoch(2)
    assert torch.equal(a[1]["video"], b[1]["video"])
    # 8 valid starts x 20 crop offsets: other epochs almost surely differ somewhere
    a.set_epoch(0)
    others = []
    for epoch in range(1, 6):
        b.set_epoch(epoch)
        others.append(b[1]["video"])
    assert any(not torch.equal(x, o) for o in others)


@pytest.mark.bitwise(
    "a worker decodes and crops the same file with the same code; integer pixels and index arithmetic only"
)
def test_same_clips_with_dataloader_workers(dataset_root):
    ds = VideoClipDataset(dataset_root, **SMALL, seed=7)
    ds.set_epoch(1)
    direct = [ds[i]["video"] for i in range(len(ds))]
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2, collate_fn=collate)
    for i, batch in enumerate(loader):
        assert torch.equal(batch["video"][0], direct[i])


def test_frame_stride_respected(tmp_path):
    step, stride = 8, 3
    folder = write_category(tmp_path, "grey", [("ramp.mp4", "a brightening grey screen")])
    brightness_video(folder / "ramp.mp4", num_frames=30, step=step)
    ds = VideoClipDataset(tmp_path, num_frames=5, height=32, width=32, frame_stride=stride)
    for epoch in range(4):
        ds.set_epoch(epoch)
        video = ds[0]["video"]  # [3, F, H, W]
        values = (video.mean(dim=(0, 2, 3)) + 1.0) * 127.5  # decoded grey level per frame
        start = round((values[0].item() - 16) / step)
        assert 0 <= start <= 30 - (5 - 1) * stride - 1
        expected = 16 + step * (start + stride * torch.arange(5, dtype=torch.float32))
        assert torch.allclose(values, expected, atol=3.0), (values, expected)
        assert torch.all(values.diff() > 0)


def test_reference_frame_index_rules():
    """Official SVI-Shot pads with one random frame of the window; `outside` (the DevLog's advice)
    takes one of the same video outside it; `first` is the condition frame itself (our old rule)."""
    g = torch.Generator().manual_seed(0)
    ids = list(range(10, 30, 2))  # a strided window over source frames 10..28
    assert reference_frame_index(ids, 100, "first", g) == 10
    window = {reference_frame_index(ids, 100, "window", g) for _ in range(400)}
    assert window == set(ids)  # uniform over the clip's frames, frame 0 included
    outside = [reference_frame_index(ids, 40, "outside", g) for _ in range(400)]
    assert set(outside) == set(range(10)) | set(range(29, 40))  # both sides, never inside the span
    # a clip spanning the whole video has no outside: a window frame instead
    assert reference_frame_index(list(range(8)), 8, "outside", g) in range(8)
    with pytest.raises(ValueError, match="reference_frame"):
        reference_frame_index(ids, 100, "middle", g)


@pytest.mark.parametrize("mode", ["window", "outside", "first"])
def test_dataset_reference_frame(tmp_path, mode):
    step = 8
    folder = write_category(tmp_path, "grey", [("ramp.mp4", "a brightening grey screen")])
    brightness_video(folder / "ramp.mp4", num_frames=20, step=step)
    ds = VideoClipDataset(tmp_path, num_frames=5, height=32, width=32, reference_frame=mode)
    seen_first = 0
    for epoch in range(12):
        ds.set_epoch(epoch)
        item = ds[0]
        grey = lambda t: round(((t.mean().item() + 1) * 127.5 - 16) / step)  # noqa: E731 source index
        start = grey(item["video"][:, 0])
        ref = grey(item["reference"])
        assert item["reference"].shape == (3, 32, 32) and item["video"].shape == (3, 5, 32, 32)
        if mode == "first":
            assert ref == start
        elif mode == "window":
            assert start <= ref < start + 5
        else:
            assert not start <= ref < start + 5 and 0 <= ref < 20
        seen_first += ref == start
        assert torch.equal(ds[0]["reference"], item["reference"])  # deterministic per (seed, epoch, index)
    assert mode != "window" or seen_first < 12  # not always the condition frame
    assert collate([item, item])["reference"].shape == (2, 3, 32, 32)


@pytest.mark.parametrize(("num_frames", "suggested"), [(80, "77 or 81"), (16, "13 or 17"), (0, "1 or 5")])
def test_num_frames_must_be_4k_plus_1(dataset_root, num_frames, suggested):
    with pytest.raises(ValueError, match=rf"4k\+1.*{suggested}"):
        VideoClipDataset(dataset_root, num_frames=num_frames, height=32, width=32)
    assert nearest_valid_num_frames(80) == (77, 81)


@pytest.mark.parametrize(("height", "width"), [(30, 32), (32, 40), (0, 32)])
def test_spatial_size_multiple_of_16(dataset_root, height, width):
    with pytest.raises(ValueError, match="multiple of 16"):
        VideoClipDataset(dataset_root, num_frames=5, height=height, width=width)


def test_missing_root(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=rf"{missing}.*<category>\.csv"):
        VideoClipDataset(missing, **SMALL)


def test_missing_csv(tmp_path):
    (tmp_path / "cat_x").mkdir()
    with pytest.raises(FileNotFoundError, match=r"cat_x[/\\]cat_x\.csv"):
        VideoClipDataset(tmp_path, **SMALL)


def test_missing_columns(tmp_path):
    folder = tmp_path / "cat_x"
    folder.mkdir()
    pd.DataFrame({"file": ["a.mp4"], "caption": ["x"]}).to_csv(folder / "cat_x.csv", index=False)
    with pytest.raises(
        ValueError, match=r"cat_x\.csv.*Video Description.*found columns \['file', 'caption'\]"
    ):
        VideoClipDataset(tmp_path, **SMALL)


def test_no_samples(tmp_path):
    write_category(tmp_path, "cat_x", [])
    with pytest.raises(ValueError, match="no samples"):
        VideoClipDataset(tmp_path, **SMALL)


def test_empty_description_becomes_empty_prompt(tmp_path):
    folder = write_category(tmp_path, "cat_x", [("v.mp4", "")])
    brightness_video(folder / "v.mp4", num_frames=6)
    ds = VideoClipDataset(tmp_path, **SMALL)
    assert ds[0]["prompt"] == ""


@pytest.fixture
def root_with_bad_videos(tmp_path) -> tuple[Path, dict[str, Path]]:
    folder = write_category(
        tmp_path,
        "mixed",
        [("good.mp4", "fine"), ("missing.mp4", "gone"), ("corrupt.mp4", "noise"), ("short.mp4", "too short")],
    )
    brightness_video(folder / "good.mp4", num_frames=8)
    (folder / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    brightness_video(folder / "short.mp4", num_frames=3)
    bad = {name: folder / f"{name}.mp4" for name in ("missing", "corrupt", "short")}
    return tmp_path, bad


def test_bad_videos_raise_naming_the_file(root_with_bad_videos):
    root, bad = root_with_bad_videos
    with pytest.raises(BadVideoError) as info:
        VideoClipDataset(root, **SMALL)
    assert isinstance(info.value, RuntimeError)
    message = str(info.value)
    assert f"{bad['missing']}: file not found" in message
    assert f"{bad['corrupt']}: cannot be opened" in message
    assert f"{bad['short']}: has 3 frames" in message
    assert "skip_bad=True" in message
    assert {p for p, _ in info.value.bad} == {str(p) for p in bad.values()}


def test_skip_bad_skips_and_warns_once(root_with_bad_videos, caplog):
    root, bad = root_with_bad_videos
    with caplog.at_level(logging.WARNING, logger="svi.training.data"):
        ds = VideoClipDataset(root, **SMALL, skip_bad=True)
    assert len(ds) == 1 and ds[0]["path"].endswith("good.mp4")
    assert len(ds.skipped) == 3
    assert {p for p, _ in ds.skipped} == {str(p) for p in bad.values()}
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "svi.training.data"]
    assert len(warnings) == 1 and "skipped 3 of 4" in warnings[0].getMessage()


def test_load_time_decode_failure_is_bad_video_error(tmp_path):
    folder = write_category(tmp_path, "cat_x", [("v.mp4", "p")])
    brightness_video(folder / "v.mp4", num_frames=6)
    ds = VideoClipDataset(tmp_path, **SMALL)
    (folder / "v.mp4").write_bytes(b"not a video any more")
    with pytest.raises(BadVideoError, match=r"v\.mp4: reading frames"):
        ds[0]
    # re-raised from a DataLoader worker it is still a BadVideoError naming the file
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=1, collate_fn=collate)
    batches = iter(loader)
    with pytest.raises(BadVideoError, match=r"v\.mp4"):
        next(batches)
    assert next(batches, None) is None  # exhausted: the worker is shut down now, not at a later gc


def test_collate_shapes(dataset_root):
    ds = VideoClipDataset(dataset_root, **SMALL)
    batch = collate([ds[i] for i in range(3)])
    assert batch["video"].shape == (3, 3, 5, 32, 32)
    assert len(batch["prompt"]) == 3 and len(batch["path"]) == 3
    assert batch["path"] == [ds[i]["path"] for i in range(3)]
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate)
    first = next(iter(loader))
    assert first["video"].shape == (2, 3, 5, 32, 32)


def test_cover_size_keeps_aspect_and_covers():
    assert cover_size(40, 64, 32, 32) == (32, 51)
    assert cover_size(480, 832, 480, 832) == (480, 832)
    assert cover_size(720, 1280, 480, 832) == (480, 853)
    assert cover_size(1080, 1080, 480, 832) == (832, 832)
