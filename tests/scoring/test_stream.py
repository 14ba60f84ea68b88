"""The scoring runner: windows from the generator's sidecar or seconds, VBench-Long, bad videos."""

import json

import numpy as np
import pytest

from scoring.motion import ImagingQuality
from scoring.stream import parse_window, score_video, score_videos, window_bounds
from toyworld.synthetic import write_video


def _brightness(x):
    return x.mean(dim=(1, 2, 3)) * 100


@pytest.fixture()
def video(tmp_path):
    # 40 frames at 16 fps; brightness steps up every 10 frames: 50, 100, 150, 200
    frames = np.repeat(np.array([50, 100, 150, 200], dtype=np.uint8), 10)[:, None, None, None]
    frames = np.broadcast_to(frames, (40, 32, 64, 3)).copy()
    path = tmp_path / "v.mp4"
    write_video(path, frames, fps=16)
    clips = [{"index": i, "video_frames": [10 * i, 10 * i + 10]} for i in range(4)]
    path.with_suffix(".json").write_text(json.dumps({"clips": clips}))
    return path


def test_window_parsing_and_bounds():
    assert parse_window("clip") == ("clip", None) and parse_window("2.5s") == ("seconds", 2.5)
    with pytest.raises(ValueError, match="clip"):
        parse_window("often")
    assert window_bounds(40, 16, "1s") == [(0, 16), (16, 32), (32, 40)]
    assert parse_window("video") == ("video", None) and window_bounds(40, 16, "video") == [(0, 40)]
    side = {"clips": [{"video_frames": [0, 10]}, {"video_frames": [10, 30]}]}
    assert window_bounds(35, 16, "clip", side) == [(0, 10), (10, 30), (30, 35)]


def test_clip_windows_give_the_drift_curve(video):
    metric = ImagingQuality(_brightness, backend="test")
    s = score_video(video, [metric], window="clip", chunk_frames=7)
    curve = s.results["imaging_quality"].windows
    assert s.windows == [(0, 10), (10, 20), (20, 30), (30, 40)]
    assert curve == pytest.approx([50 / 255, 100 / 255, 150 / 255, 200 / 255], abs=0.01)
    assert s.results["imaging_quality"].value == pytest.approx(125 / 255, abs=0.01)
    # the chunk size changes nothing
    s2 = score_video(video, [metric], window="clip", chunk_frames=40)
    assert s2.results["imaging_quality"].windows == pytest.approx(curve)


def test_seconds_windows_and_long_protocol(video):
    metric = ImagingQuality(_brightness, backend="test")
    s = score_video(video, [metric], window="1s")
    assert s.windows == [(0, 16), (16, 32), (32, 40)]
    long = score_video(video, [metric], long=True)  # 2 s clips = 32 frames: [0, 32), [32, 40)
    r = long.results["imaging_quality"]
    assert long.windows == [(0, 32), (32, 40)]
    first = (50 * 10 + 100 * 10 + 150 * 10 + 200 * 2) / 32 / 255
    assert r.windows == pytest.approx([first, 200 / 255], abs=0.01)
    assert r.value == pytest.approx((first + 200 / 255) / 2, abs=0.01)  # mean of clips, not of frames


def test_unreadable_videos_are_named_and_the_rest_scored(tmp_path, video):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    metric = ImagingQuality(_brightness, backend="test")
    suite = score_videos([video, bad], [metric], window="clip", progress=False)
    assert [v.video for v in suite.videos] == ["v"]
    assert suite.failed[0][0] == str(bad)
    assert suite.aggregate["imaging_quality"] == pytest.approx(125 / 255, abs=0.01)
    rows = suite.rows()
    assert [r["level"] for r in rows] == ["window"] * 4 + ["video", "suite"]
    assert suite.to_json()["failed"][0]["video"] == str(bad)


def test_clip_windows_need_a_sidecar(tmp_path, video):
    video.with_suffix(".json").unlink()
    with pytest.raises(ValueError, match="sidecar"):
        score_video(video, [ImagingQuality(_brightness, backend="test")], window="clip")
