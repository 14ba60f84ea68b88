"""Pieces both sides of the crosscheck import: pure torch, no project or vbench imports.

`run.py` (project venv) and `vbench_side.py` (the crosscheck venv with the real `vbench` package) each
import this file from its own folder, so the injected networks are the same classes in both processes;
their weights travel as state-dict files written once by `run.py`, never re-drawn from an RNG.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Formats of the files exchanged through the work folder.
MANIFEST = "manifest.json"
VBENCH_RESULTS = "vbench_results.json"


class FeatureNet(nn.Module):
    """A small deterministic image network standing in for DINO / CLIP / MUSIQ.

    pixels [N, 3, H, W] (any H, W >= 8) -> [N, out_dim]. The last layer is affine, so features are signed
    and cosines between frames can fall below 0 (which exercises VBench's max(0, cos) clamp).
    """

    def __init__(self, out_dim: int = 32, width: int = 16) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.conv1 = nn.Conv2d(3, width, kernel_size=5, stride=4, padding=2)
        self.conv2 = nn.Conv2d(width, 2 * width, kernel_size=3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc = nn.Linear(2 * width * 16, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.conv1(x))  # [N, w, H/4, W/4]
        x = F.gelu(self.conv2(x))  # [N, 2w, H/8, W/8]
        return self.fc(self.pool(x).flatten(1))  # [N, out_dim]

    # openai/CLIP's model API, which VBench's background_consistency / aesthetic_quality call.
    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)


def build_feature_net(seed: int, out_dim: int) -> FeatureNet:
    """A FeatureNet drawn from its own seed (the global RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = FeatureNet(out_dim)
    return net.eval()


def load_feature_net(path: str, out_dim: int) -> FeatureNet:
    net = FeatureNet(out_dim)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval()


def load_linear(path: str) -> nn.Linear:
    state = torch.load(path, map_location="cpu", weights_only=True)
    out_features, in_features = state["weight"].shape
    layer = nn.Linear(in_features, out_features)
    layer.load_state_dict(state)
    return layer.eval()
