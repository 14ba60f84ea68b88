"""The toy encoder: a small CNN trained on the toy world, the feature extractor of the `toy` backend.

Real VBench weights (DINO, CLIP, MUSIQ, I3D) cannot be used at toy scale, so the toy backend scores
toy-world videos with the same metric formulas on features from this network, trained on toy-world
frames the way MNIST-FID uses a classifier trained on MNIST. Its numbers are comparable between
arms scored with the same weights file, never with published VBench numbers.

Architecture (sizes live in `ToyEncoderConfig` and travel in the weights file's metadata):

    frames [N, 3, H, W] 0-255 -> resize to 64x64 (bilinear, antialiased), scale to [-1, 1]
    trunk: 4 conv3x3-BN-SiLU layers (widths 24, 48, 96, 128; strides 2, 2, 2, 1) -> [N, 128, 8, 8],
           global mean and max pooling -> h [N, 256] (position-free: a moving object keeps its
           embedding; the max keeps small objects visible beside the background that dominates the
           mean). A stride-1 first layer at 64x64 cost ~3x the time for no better held-out scores.
    three linear projections of h, each L2-normalised (the metrics compare them by cosine):
        object     [N, 64] -> number of objects; which (shape, colour) objects and colours are present
        background [N, 64] -> background kind and main colour (a gradient's two ends can swap, which
                   caps that label's accuracy)
        quality    [N, 32] -> severity in [0, 1] (sigmoid), a clean-vs-degraded logit and which
                   degradation (an auxiliary head: a direct signal per kind speeds learning); this one
                   also reads the per-channel spatial std of the first two layers (local contrast
                   energy at 32x32 and 16x16, where blur, noise and blocking show most)
    each head reads 10 * (unit embedding) (`ScaledLinear`), so outputs can be confident early on

The object targets are sets. The toy world labels object slots in depth order, and which object is
drawn first is invisible unless two overlap, so slot-wise heads would learn a guess. The slot labels
are turned into multi-hot targets over the (shape, colour) pairs and over the colours instead.

Training (toyworld/scorers.py, `python -m toyworld.scorers encoder --out ...`): fresh frames
every step from `toyworld.world.sample_labeled_frames` (a quarter rendered at 32x32, so
both toy resolutions are covered); half of them degraded by one of blur, noise, colour cast, JPEG
blockiness or contrast loss at a severity s ~ U(0.05, 1) (clean frames have s = 0). The attribute
heads see degraded frames too, so the object / background embeddings describe the scene's content,
not its quality. Loss = cross-entropies (background kind and colour, object count, degradation kind)
+ multi-label BCE (summed over classes) + BCE(clean logit) + 4 * BCE(severity logit, s), the last
with s as a soft target. Deterministic for a seed on a given machine and thread count
(torch.set_num_threads(2)). ~1000 steps of 64 frames take about 4-5 minutes on 2 CPU cores.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scoring.saved_network import SavedNetwork

IMAGE_SIZE = 64
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "toy_encoder.safetensors"
DEGRADATIONS = ("blur", "noise", "colour_cast", "jpeg", "contrast")
ABSENT = -1  # label id of an absent object slot
EVAL_SEED_OFFSET = 1_000_000_000  # held-out frames come from seeds no training step uses
_SLOT = re.compile(r"object(\d+)_(shape|colour)$")

# sampler(n, seed=..., size=(H, W)) -> (frames uint8 [N, H, W, 3], labels name -> int64 [N])
Sampler = Callable[..., tuple[np.ndarray, dict[str, np.ndarray]]]


# ----------------------------------------------------------------------------------------------
# Config and model


@dataclass
class ToyEncoderConfig:
    image_size: int = IMAGE_SIZE
    widths: tuple[int, ...] = (24, 48, 96, 128)
    strides: tuple[int, ...] = (2, 2, 2, 1)
    object_dim: int = 64
    background_dim: int = 64
    quality_dim: int = 32
    # the label vocabularies: shapes, colours, background_kinds (names, in label-id order)
    vocab: dict[str, list[str]] = field(default_factory=dict)
    max_objects: int = 3
    # single-label heads (cross-entropy) and multi-label heads (BCE): name -> classes
    classes: dict[str, int] = field(default_factory=dict)
    sets: dict[str, int] = field(default_factory=dict)
    background_labels: tuple[str, ...] = ("background_kind", "background_colour")
    quality_labels: tuple[str, ...] = ("degradation",)
    head_scale: float = 10.0  # heads read head_scale * (unit embedding); see ScaledLinear
    quality_taps: int = 2  # early trunk layers whose per-channel spatial std also feeds `quality`

    @property
    def trunk_dim(self) -> int:
        return 2 * self.widths[-1]  # mean and max pooling

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ToyEncoderConfig:
        raw = json.loads(text)
        for key in ("widths", "strides", "background_labels", "quality_labels"):
            raw[key] = tuple(raw[key])
        return cls(**raw)

    @classmethod
    def for_vocab(
        cls, shapes: list[str], colours: list[str], background_kinds: list[str], max_objects: int, **sizes
    ) -> ToyEncoderConfig:
        """Head sizes from the toy world's vocabularies."""
        return cls(
            vocab={
                "shapes": list(shapes),
                "colours": list(colours),
                "background_kinds": list(background_kinds),
            },
            max_objects=max_objects,
            classes={
                "background_kind": len(background_kinds),
                "background_colour": len(colours),
                "num_objects": max_objects + 1,
                "degradation": 1 + len(DEGRADATIONS),  # 0 = clean
            },
            sets={"object_pairs": len(shapes) * len(colours), "object_colours": len(colours)},
            **sizes,
        )


def preprocess(frames: torch.Tensor, size: int = IMAGE_SIZE) -> torch.Tensor:
    """[N, 3, H, W] float 0-255 -> [N, 3, size, size] in [-1, 1] (bilinear, antialiased, no crop)."""
    x = frames.float()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x / 127.5 - 1.0


class ScaledLinear(nn.Linear):
    """A linear head on a unit-length embedding, scaled first: W (scale * e) + b.

    Unit-length inputs cap a plain head's logits at |w|, and Adam grows weights only ~lr per step,
    so confident outputs (a sigmoid near 0 or 1, a clear argmax) would take thousands of steps.
    """

    def __init__(self, in_features: int, out_features: int, scale: float) -> None:
        super().__init__(in_features, out_features)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.scale * x)


def _conv_block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.SiLU())


class ToyEncoder(nn.Module, SavedNetwork):
    """Shared conv trunk, three L2-normalised embeddings, attribute and degradation heads."""

    config_class = ToyEncoderConfig
    default_weights = DEFAULT_WEIGHTS
    train_command = "python -m toyworld.scorers encoder"

    def __init__(self, config: ToyEncoderConfig) -> None:
        super().__init__()
        self.config = config
        widths = (3, *config.widths)
        self.trunk = nn.Sequential(
            *[_conv_block(widths[i], widths[i + 1], s) for i, s in enumerate(config.strides)]
        )
        d = config.trunk_dim
        self.object_proj = nn.Linear(d, config.object_dim)
        self.background_proj = nn.Linear(d, config.background_dim)
        taps = sum(config.widths[: config.quality_taps])
        self.quality_proj = nn.Linear(d + taps, config.quality_dim)
        heads = {**config.classes, **config.sets}
        self.attribute_heads = nn.ModuleDict(
            {
                name: ScaledLinear(self._branch_dim(name), n, config.head_scale)
                for name, n in sorted(heads.items())
            }
        )
        self.severity_head = ScaledLinear(config.quality_dim, 1, config.head_scale)
        self.clean_head = ScaledLinear(config.quality_dim, 1, config.head_scale)  # logit of "not degraded"
        self.metadata: dict[str, str] = {}

    def branch_of(self, label: str) -> str:
        if label in self.config.background_labels:
            return "background"
        return "quality" if label in self.config.quality_labels else "object"

    def _branch_dim(self, label: str) -> int:
        c = self.config
        return {"background": c.background_dim, "quality": c.quality_dim, "object": c.object_dim}[
            self.branch_of(label)
        ]

    def embed(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x [N, 3, 64, 64] preprocessed -> trunk [N, 256] and L2-normalised object / background / quality."""
        early = []
        fmap = x
        for i, block in enumerate(self.trunk):
            fmap = block(fmap)
            if i < self.config.quality_taps:
                # Local contrast energy at full and half resolution: what blur lowers and noise,
                # blocking and ringing raise, before deeper layers average it away.
                early.append(fmap.std(dim=(2, 3)))  # [N, C_i]
        # fmap [N, C, 8, 8]. Max pooling keeps small objects visible; the mean is mostly background.
        h = torch.cat([fmap.mean(dim=(2, 3)), fmap.amax(dim=(2, 3))], dim=1)  # [N, 2 C]
        return {
            "trunk": h,
            "object": F.normalize(self.object_proj(h), dim=-1),
            "background": F.normalize(self.background_proj(h), dim=-1),
            "quality": F.normalize(self.quality_proj(torch.cat([h, *early], dim=1)), dim=-1),
        }

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Embeddings, `logits/<head>` [N, classes], `severity` [N] in [0, 1] (and its logit), `clean_logit` [N]."""
        out = self.embed(x)
        for name, head in self.attribute_heads.items():
            out[f"logits/{name}"] = head(out[self.branch_of(name)])
        out["severity_logit"] = self.severity_head(out["quality"])[:, 0]
        out["severity"] = torch.sigmoid(out["severity_logit"])
        out["clean_logit"] = self.clean_head(out["quality"])[:, 0]
        return out

    # -- weights file ----------------------------------------------------------------------------
