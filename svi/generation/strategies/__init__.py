"""The long-video strategies beside chaining (`generate.strategy`; README "Long-video mechanisms").

Each is a small module naming its paper and the formula it implements, driven by the generator's loop
(svi/generation/generator.py, `LongVideoGenerator.generate_batch`): per round, `prepare` readies a video's next unit
of work (False once the video has ended) and `advance` does one unit for every video of the batch,
committing finished clips through the generator (`_commit`: segment, state file, sidecar), so every
strategy streams to disk, resumes and batches as chaining does.

| strategy           | module                 | paper                                                  |
|--------------------|------------------------|--------------------------------------------------------|
| `chain`            | svi/generation/generator.py        | SVI / Wan 2.1 autoregression: clip k on clip k-1's end |
| `history_guidance` | history_guidance.py    | History-Guided Video Diffusion (Song et al. 2025)      |
| `rolling`          | rolling.py             | Rolling Diffusion Models (Ruhe et al. 2024)            |
| `framepack`        | framepack.py           | FramePack (Zhang & Agrawala 2025), anti-drifting order |
| `freenoise`        | freenoise.py           | FreeNoise (Qiu et al. 2024)                            |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch
    from tqdm.auto import tqdm

    from svi.generation.generator import LongVideoGenerator
    from svi.generation.video import VideoState


class Strategy(Protocol):
    def prepare(self, gen: LongVideoGenerator, video: VideoState) -> bool:
        """Ready the video's next unit of work (its prompt); False once the video has ended."""

    def advance(
        self,
        gen: LongVideoGenerator,
        videos: Sequence[VideoState],
        neg_context: torch.Tensor | None,
        progress: tqdm | None,
    ) -> int:
        """One unit of work for each video (batched where the strategy can) -> the clips committed."""


class Chain:
    """`chain` and `history_guidance`: clip k conditioned on the end of clip k - 1 (svi/generation/generator.py)."""

    def prepare(self, gen: LongVideoGenerator, video: VideoState) -> bool:
        return gen._next_prompt(video)

    def advance(self, gen, videos, neg_context, progress) -> int:
        return gen.chain_round(videos, neg_context, progress)


def build_strategy(name: str) -> Strategy:
    """The strategy of `generate.strategy`."""
    if name in ("chain", "history_guidance"):  # history guidance only adds a guidance pass
        return Chain()
    if name == "rolling":
        from svi.generation.strategies.rolling import Rolling

        return Rolling()
    if name == "framepack":
        from svi.generation.strategies.framepack import FramePack

        return FramePack()
    if name == "freenoise":
        from svi.generation.strategies.freenoise import FreeNoise

        return FreeNoise()
    raise ValueError(
        f"unknown strategy {name!r}; use chain, rolling, framepack, freenoise or history_guidance"
    )
