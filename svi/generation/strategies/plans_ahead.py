"""What the strategies that plan a whole video before its first clip (framepack, freenoise) need from
it: its clip count and a prompt for every clip, each refused with an error that says what to give."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from svi.generation.video import VideoState

# Strategies that plan the whole video before its first clip, so they need its length up front (a suite
# length or --length; not prompts typed clip by clip): strategy -> why.
PLANS_AHEAD = {
    "framepack": "makes the last section first",
    "freenoise": "denoises the whole video at once",
}


def required_clips(video: VideoState, strategy: str) -> int:
    """The video's clip count, for a strategy of PLANS_AHEAD (an error naming what to give without it)."""
    n = video.job.num_clips
    if n is None:
        raise ValueError(
            f"{video.out_path}: strategy {strategy} {PLANS_AHEAD[strategy]}, so it needs the video's length "
            "before it starts: give num_clips (a suite length, or --length)"
        )
    return n


def required_prompt(video: VideoState, k: int, strategy: str) -> str:
    """Clip k's prompt for a strategy that plans the whole video up front (framepack, freenoise): a
    prompt source that ends early is an error, not the end of the video."""
    prompt = video.job.prompts(k)
    if prompt is None:
        raise ValueError(
            f"{video.out_path}: the prompt source gave no prompt for clip {k} of {video.job.num_clips}; "
            f"strategy {strategy} needs one for every clip up to num_clips"
        )
    return prompt
