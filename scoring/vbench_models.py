"""VBench's own flow and interpolation networks, imported without VBench's pinned dependencies.

VBench 0.1.5 ships the RAFT and AMT-S model code it scores with (`vbench/third_party/`). Those
modules need only torch and numpy, but `import vbench` runs the package's `__init__`, which imports
torchvision and pins transformers==4.33.2 / numpy<2 - both clash with this project's stack. So the
package is installed with `pip install --no-deps vbench==0.1.5` (the Makefile does it) and its model
modules are imported under a bare package object that skips that `__init__`. This keeps the
maintained reference code (the same layers, so the official weight files load unchanged) instead of
a rewrite. torchvision's RAFT is not an option here: torchvision does not import on this stack.

Weights come from a VBench cache folder (VBENCH_CACHE_DIR, default ~/.cache/vbench):
    raft_model/models/raft-things.pth     amt_model/amt-s.pth
Both networks also build with random initialisation, for tests.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F

RAFT_FILE = "raft_model/models/raft-things.pth"
AMT_FILE = "amt_model/amt-s.pth"


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get("VBENCH_CACHE_DIR") or Path.home() / ".cache" / "vbench").expanduser()


def vbench_module(name: str):
    """Import `vbench.<name>` without running vbench/__init__.py."""
    if "vbench" not in sys.modules:
        spec = importlib.util.find_spec("vbench")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(
                "the vbench package (for its RAFT / AMT-S model code) is not installed: "
                "run `make setup`, or `pip install --no-deps vbench==0.1.5` (without --no-deps its pins "
                "would downgrade transformers and numpy)"
            )
        package = types.ModuleType("vbench")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["vbench"] = package
    return importlib.import_module(f"vbench.{name}")


def _weights(file: str, root: str | os.PathLike | None) -> Path:
    path = cache_dir(root) / file
    if not path.is_file():
        raise FileNotFoundError(
            f"VBench weight file not found: {path}. Put VBench's cache folder here (set VBENCH_CACHE_DIR to "
            "it): on a machine with internet, run VBench once for this dimension or download the files its "
            f"README lists, then copy the folder. Expected: {file}."
        )
    return path


MIN_SIDE = 128  # below this both networks' coarsest level is one pixel wide and they return NaN


def _pad_to(x: torch.Tensor, divisor: int) -> tuple[torch.Tensor, list[int]]:
    """Replicate-pad H, W up to multiples of `divisor`, centred (VBench's InputPadder). x: [N, C, H, W]."""
    h, w = x.shape[-2:]
    if min(h, w) < MIN_SIDE:
        raise ValueError(
            f"VBench's RAFT and AMT-S need frames of at least {MIN_SIDE} px per side, got {h}x{w}: score such "
            "small videos with a toy-world backend instead"
        )
    ph, pw = (-h) % divisor, (-w) % divisor
    pad = [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2]
    return F.pad(x, pad, mode="replicate"), pad


class RaftFlow(torch.nn.Module):
    """Optical flow with RAFT (20 iterations), as VBench's dynamic degree runs it.

    (a, b) [N, 3, H, W] float 0-255 -> flow [N, 2, H', W'] on the padded frames (H', W' multiples of 8):
    VBench takes the top 5% of magnitudes over the padded flow, so the padding is kept.
    """

    def __init__(self, model: torch.nn.Module, iters: int = 20):
        super().__init__()
        self.model, self.iters = model.eval(), iters

    @classmethod
    def build(
        cls, weights: str | os.PathLike | None = None, *, random: bool = False, seed: int = 0
    ) -> RaftFlow:
        raft = vbench_module("third_party.RAFT.core.raft")
        args = argparse.Namespace(small=False, mixed_precision=False, alternate_corr=False, dropout=0)
        if random:
            torch.manual_seed(seed)
            return cls(raft.RAFT(args))
        model = raft.RAFT(args)
        state = torch.load(_weights(RAFT_FILE, weights), map_location="cpu", weights_only=True)
        model.load_state_dict({k.replace("module.", ""): v for k, v in state.items()})
        return cls(model)

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        device = next(self.model.parameters()).device
        a, _ = _pad_to(a.to(device), 8)
        b, _ = _pad_to(b.to(device), 8)
        _, flow = self.model(a, b, iters=self.iters, test_mode=True)
        return flow.float().cpu()


class AmtInterpolator(torch.nn.Module):
    """AMT-S frame interpolation at t = 0.5, as VBench's motion smoothness runs it (scale 1, pad 16).

    (a, b) [N, 3, H, W] float 0-255 -> the middle frame [N, 3, H, W] float 0-255.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model.eval()

    @classmethod
    def build(
        cls, weights: str | os.PathLike | None = None, *, random: bool = False, seed: int = 0
    ) -> AmtInterpolator:
        amt = vbench_module("third_party.amt.networks.AMT-S")
        torch.manual_seed(seed)
        model = amt.Model(corr_radius=3, corr_lvls=4, num_flows=3)  # VBench's AMT-S.yaml
        if not random:
            state = torch.load(_weights(AMT_FILE, weights), map_location="cpu", weights_only=False)
            model.load_state_dict(state["state_dict"])
        return cls(model)

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        device = next(self.model.parameters()).device
        h, w = a.shape[-2:]
        a, pad = _pad_to(a.to(device) / 255.0, 16)
        b, _ = _pad_to(b.to(device) / 255.0, 16)
        embt = torch.full((a.shape[0], 1, 1, 1), 0.5, device=device)
        mid = self.model(a, b, embt, scale_factor=1.0, eval=True)["imgt_pred"]
        mid = mid[..., pad[2] : pad[2] + h, pad[0] : pad[0] + w]
        return (mid * 255.0).float().cpu()
