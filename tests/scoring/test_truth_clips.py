"""The distance to the truth's clips at the same time (scoring/truth_clips.py): the formula, the
streaming windows, and a still image, a loop and a ping-pong scored worse than a video that follows the
truth with small noise, on the toy backend."""

import numpy as np
import pytest
import torch

from scoring import references as R
from scoring.base import VideoInfo
from scoring.fvd import FVD
from scoring.truth_clips import TruthClipDistance, clip_distances


def test_clip_distances_are_squared_distances_of_paired_clips():
    video = np.array([[0.0, 0.0], [1.0, 2.0]])
    truth = np.array([[3.0, 4.0], [1.0, 2.0]])
    assert clip_distances(video, truth).tolist() == [25.0, 0.0]
    with pytest.raises(ValueError, match="paired clip features"):
        clip_distances(video, truth[:1])


class MeanOfClip(torch.nn.Module):
    """FVD's extractor signature: a clip [B, 3, T, H, W] in [-1, 1] -> [B, 1], its mean."""

    def forward(self, clips, rescale=False, resize=False, return_features=True):
        return clips.float().mean(dim=(1, 2, 3, 4)).unsqueeze(1)


def test_windows_take_the_clips_that_end_in_them_and_the_video_their_mean():
    """Frames of value v (video) and 0 (truth), 8 x 8, I3D's 224 px resize: a clip's feature is its mean
    pixel / 127.5 - 1, so each clip's distance is known; 40 frames in windows of 12: clips end at frames
    16 and 32 (windows 1 and 2), the last 8 frames make no clip."""
    metric = TruthClipDistance(FVD(MeanOfClip(), backend="test"))
    values = torch.cat([torch.full((16,), 51.0), torch.full((16,), 102.0), torch.full((8,), 0.0)])
    frames = values.view(-1, 1, 1, 1).expand(40, 3, 8, 8)
    acc = metric.new_video(VideoInfo("v", 8.0, 40, 8, 8))
    windows = []
    for s in range(0, 40, 12):
        acc.update(frames[s : s + 12], reference=torch.zeros_like(frames[s : s + 12]))
        windows.append(acc.end_window())
    result = acc.finish()
    d = [(51.0 / 127.5) ** 2, (102.0 / 127.5) ** 2]  # |(v/127.5 - 1) - (0/127.5 - 1)|^2
    # float16 buffer of the resized frames (as FVD's): v/127.5 - 1 to 2^-11 relative
    assert windows == [None, pytest.approx(d[0], rel=1e-3), pytest.approx(d[1], rel=1e-3), None]
    assert result.value == pytest.approx(np.mean(d), rel=1e-3)
    with pytest.raises(ValueError, match="needs the truth's frames"):
        metric.new_video(VideoInfo("v", 8.0, 40, 8, 8)).update(frames[:4])


def test_still_loop_and_pingpong_are_farther_from_the_truth_than_a_video_that_follows_it(tmp_path):
    """A toy-world continuation (8 s at 8 fps, 4 clips of 16 frames), a video that follows it with small
    noise (sigma 3 grey levels), and the frozen, loop and ping-pong references of its first 2 s clip,
    each scored against the truth with the toy backend end to end."""
    from scoring.score import build_metrics, score_suite
    from svi.video_io import write_segment
    from toyworld.world import render, sample_scene

    fps, frames = 8, 64
    truth = render(sample_scene(3), 0, frames)  # uint8 [64, 64, 64, 3]
    (tmp_path / "gt").mkdir()
    gt = write_segment(tmp_path / "gt" / "truth.mp4", truth, fps)
    noise = np.random.default_rng(0).normal(0.0, 3.0, truth.shape)
    videos = {"follows": np.clip(truth + noise, 0, 255).round().astype(np.uint8), "same": truth}
    videos.update({k: R.build(k, image=None, clip=truth[:17], frames=frames) for k in R.BUILT})
    for name, video in videos.items():
        write_segment(tmp_path / f"{name}.mp4", video, fps, intra_only=name in R.BUILT)
    try:
        report = score_suite(
            sorted(tmp_path.glob("*.mp4")), "truth_clip_distance", backend="toy", window="2s",
            reference_videos=dict.fromkeys(videos, gt), progress=False,
        )  # fmt: skip
    finally:
        build_metrics.cache_clear()
    assert report["unavailable"] == {} and report["backends"]["truth_clip_distance"] == "toy-encoder"
    value = {v["video"]: v["scores"]["truth_clip_distance"] for v in report["videos"]}
    windows = {v["video"]: v["window_scores"]["truth_clip_distance"] for v in report["videos"]}
    assert value["same"] == 0.0  # the same decoded frames: the same features
    assert 0 < value["follows"] < min(value[k] for k in R.BUILT)
    assert len(windows["follows"]) == 4 and all(w is not None for w in windows["follows"])
    # from the second window on, every reference is farther than the noisy video in every window
    assert all(windows[k][w] > windows["follows"][w] for k in R.BUILT for w in range(1, 4))
    unpaired = score_suite([tmp_path / "same.mp4"], "truth_clip_distance", backend="toy", progress=False,
                           window="2s")  # fmt: skip
    assert "ground-truth video" in unpaired["unavailable"]["truth_clip_distance"]
    build_metrics.cache_clear()
