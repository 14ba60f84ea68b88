"""The videos being generated: what a job asks for, the state of a video between clips, results, and
prompt sources. Shared by the generator and the strategies, which advance the same `VideoState`s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

# A prompt source gives the prompt of clip k, or None when the video should end there.
PromptSource = Callable[[int], "str | None"]
# A conditioning stream gives an adapter's input for clip k, which covers frames [start, stop) of the
# assembled video (`clip_frame_range`), or None past its end.
ClipStream = Callable[[int, int, int], "torch.Tensor | None"]


@dataclass
class VideoResult:
    path: Path
    sidecar: Path
    num_clips: int
    num_frames: int
    resumed_from: int  # clips finished before this call (chain: the clip it restarted at); 0: fresh
    skipped: bool  # the finished video already existed


@dataclass
class VideoJob:
    """One video to generate, alone or in a batch with others.

    image: the reference [3, H, W] in [-1, 1], or a function that loads it (called when the video
    enters the batch, so a suite's jobs never hold every image at once). prompts(k) gives clip k's
    prompt; the video ends at `num_clips` or when it returns None. `metadata` (e.g. suite, sample,
    digest) goes into the sidecar JSON and into the configuration hash. `streams` gives the inputs of
    the generator's adapters (svi/model/adapters.py) per clip: streams[name](k, start, stop) is the input of
    clip k, which covers frames [start, stop) of the long video (`clip_frame_range`), e.g. audio
    windows [F, 5, L, D] or pose maps [3, F, H, W]; None ends the video (the audio has run out)."""

    image: torch.Tensor | Callable[[], torch.Tensor]
    prompts: PromptSource
    out_path: str | Path
    num_clips: int | None = None
    metadata: dict | None = None
    streams: dict[str, ClipStream] | None = None
    seed: int | None = None  # the noise seed (None: generate.seed); a sample's draws differ here


@dataclass
class VideoState:
    """A video being generated: its files and its chaining state (what parts/state.pt holds).

    `state` is the strategy's own resumable state (tensors and numbers, saved with the rest); `cache` what a
    strategy keeps for the video while it is in the batch and rebuilds on resume (encoded contexts)."""

    job: VideoJob
    out_path: Path
    digest: str
    reference: torch.Tensor  # [1, 3, H, W]
    anchor: torch.Tensor | None  # [1, 16, 1, h, w]: VAE(reference), latent chaining only
    clips: list[dict]  # the sidecar's per-clip records
    chain: torch.Tensor | None  # None before clip 0; [1, 3, K, H, W] frames or [1, 16, M, h, w] latents
    held: np.ndarray | None  # pixel chaining: the last K frames [K, H, W, 3], written at the end
    next_clip: int
    written: int  # frames in the written segments
    start: int  # clips already finished when this call started (> 0: resumed)
    prompt: str | None = None  # the next clip's prompt
    inputs: dict[str, torch.Tensor] | None = None  # the next clip's adapter inputs (streams)
    state: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)
    seed: int = 0  # the seed of its clips' noise (`VideoJob.seed`, else generate.seed)

    @property
    def parts(self) -> Path:
        return self.out_path.with_name(self.out_path.stem + ".parts")

    @property
    def sidecar(self) -> Path:
        return self.out_path.with_suffix(".json")


def fixed_prompts(prompts: Sequence[str]) -> PromptSource:
    """A prompt source over a list: clip k gets prompts[k], None after the last."""
    items = list(prompts)
    return lambda k: items[k] if k < len(items) else None


def stdin_prompts(stream=None, out=None) -> PromptSource:
    """Interactive prompts: one line per clip; an empty line repeats the last prompt; end of input ends."""
    import sys

    stream = stream or sys.stdin
    out = out or sys.stderr
    last: list[str] = []

    def next_prompt(k: int) -> str | None:
        print(
            f"prompt for clip {k} (empty: repeat the last, end of input: finish)> ",
            end="",
            file=out,
            flush=True,
        )
        line = stream.readline()
        if not line:
            return None
        text = line.rstrip("\n")
        if not text.strip():
            if not last:
                print("(no previous prompt: using an empty prompt)", file=out)
                return ""
            return last[-1]
        last.append(text)
        return text

    return next_prompt
