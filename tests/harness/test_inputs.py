"""The inputs the harness writes itself: how long the toy world's fine-tuning videos are."""

from harness.run.provision import toy_training_frames
from svi.config import build_config
from svi.training.clips import previous_min_start


def test_toy_training_videos_hold_three_clips():
    cfg = build_config({"model": {"preset": "toy"}, "variant": "shot"})
    frames = toy_training_frames(cfg.data.num_frames)
    assert frames == 3 * 16 + 1  # three 17-frame clips sharing their boundary frames
    # a clip-level Self-Forcing window (a whole clip before it) has more than one place to start
    first = previous_min_start(cfg.data.num_frames, cfg.data.cond_frames, 1)
    last = frames - cfg.data.num_frames
    assert (first, last) == (16, 32)
