"""Extra conditioning streams on diffusers' `WanTransformer3DModel`: audio (SVI-Talk) and pose (SVI-Dance).

The transformer's forward takes no extra inputs, so an adapter works through hooks:

    adapter = AudioAdapter(...)                   # an `Adapter` subclass (svi/conditions/multitalk.py, svi/conditions/pose.py)
    adapter.attach(transformer)                   # registers it as `transformer.svi_<name>` + its hooks
    with conditioning(transformer, audio=tokens): # rows line up with the forward's batch
        v = transformer(x, t, context, image_context, return_dict=False)[0]

Registered inside the transformer, an adapter moves, casts, saves and is wrapped by DeepSpeed with
it; whether it trains is the adapter's own `trainable` flag (audio: frozen, as officially; pose:
trained with the LoRA). Its module names never end in a LoRA target (`to_q`, `ffn.net.2`, ...), so
peft leaves it alone. A forward of an attached adapter without an input is an error that says how to
give one; a dropped condition is given explicitly (`Adapter.null_input`), so every batch row says
what it saw.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import torch
from torch import nn


class MissingConditionError(RuntimeError):
    pass


class Adapter(nn.Module):
    """Base class: one named conditioning stream attached to a Wan transformer by hooks."""

    name: ClassVar[str] = "adapter"
    trainable: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self._input: torch.Tensor | None = None
        self._handles: list = []

    @property
    def attribute(self) -> str:
        return f"svi_{self.name}"

    def attach(self, transformer: nn.Module) -> Adapter:
        """Register under the transformer and install the hooks (`_install`). Returns self."""
        if getattr(transformer, self.attribute, None) is not None:
            raise ValueError(f"the transformer already has a {self.name} adapter")
        transformer.add_module(self.attribute, self)
        self.requires_grad_(self.trainable)
        self._handles = list(self._install(transformer))
        return self

    def _install(self, transformer: nn.Module) -> Iterator:
        """Register this adapter's hooks on the transformer; yield their handles."""
        raise NotImplementedError

    def null_input(self, like: torch.Tensor) -> torch.Tensor:
        """The input of a row whose condition is dropped (training dropout, the unconditional pass)."""
        return torch.zeros_like(like)

    def export_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights this adapter adds to an exported LoRA file (svi.model.lora.export_lora), under the
        official key names: a trained adapter's (the pose encoder); none for a frozen one."""
        return {}

    def take_exported(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Load this adapter's keys from a LoRA file's state dict (if it has them); return the rest."""
        return state_dict

    def encoded(self, encode) -> torch.Tensor:
        """encode(current input), reused across the forwards of one sampling loop: the input does not
        change between denoising steps (sample_latents gives the same tensor every step), so it is
        encoded once per clip, as the official pipelines do. Never reused under autograd (training)."""
        x = self.current_input()
        if torch.is_grad_enabled():
            return encode(x)
        memo = getattr(self, "_memo", None)
        if memo is None or memo[0] is not x:
            self._memo = memo = (x, encode(x))
        return memo[1]

    def current_input(self) -> torch.Tensor:
        if self._input is None:
            raise MissingConditionError(
                f"the transformer has a {self.name} adapter but this forward got no {self.name} input: "
                f"call it under svi.model.adapters.conditioning(transformer, {self.name}=...)"
            )
        return self._input


def adapters_of(transformer: nn.Module) -> dict[str, Adapter]:
    """The adapters attached to `transformer` (also through a peft or DeepSpeed wrapper), by name."""
    return {m.name: m for m in transformer.modules() if isinstance(m, Adapter)}


@contextmanager
def conditioning(transformer: nn.Module, **inputs: torch.Tensor | None):
    """Give the attached adapters their inputs for the forwards inside the block (name=tensor).

    A name without an attached adapter is an error; an adapter not named gets no input (its forward
    raises). Inputs are cleared on exit."""
    adapters = adapters_of(transformer)
    unknown = sorted(set(inputs) - set(adapters))
    if unknown:
        have = ", ".join(adapters) or "none"
        raise ValueError(f"no adapter for input(s) {', '.join(unknown)}; attached: {have}")
    for name, x in inputs.items():
        adapters[name]._input = x
    try:
        yield
    finally:
        for name in inputs:
            adapters[name]._input = None
            adapters[name]._memo = None


def clip_frame_range(clip: int, clip_frames: int, lead_frames: int) -> tuple[int, int]:
    """Frames [start, stop) of the assembled long video that clip `clip` covers.

    Clip k > 0 restates the previous clip's last `lead_frames` frames (the K motion frames), so it
    starts at k (F - K): with F = 81 and K = 1, clips start at 0, 80, 160, ... An audio or pose
    stream sliced with this range lines up with the frames of each clip."""
    if clip < 0 or lead_frames >= clip_frames:
        raise ValueError(f"bad clip {clip} or lead {lead_frames} for {clip_frames}-frame clips")
    start = clip * (clip_frames - lead_frames)
    return start, start + clip_frames
