"""MUSIQ (Ke et al., ICCV 2021, "MUSIQ: Multi-scale Image Quality Transformer"), for imaging_quality.

VBench scores imaging quality with pyiqa's MUSIQ trained on SPAQ (`pyiqa_model/musiq_spaq_ckpt-358bb6af.pth`
in VBENCH_CACHE_DIR). pyiqa does not import on this stack (its `archs/arch_util.py` imports
torchvision), so the model is written here from the paper, with module and parameter names laid out
so that pyiqa's checkpoint files load with `load_state_dict(strict=True)`.

The model, as pyiqa runs it (its defaults are the ones VBench uses):
  1. input [N, 3, H, W] in [0, 1] -> [-1, 1];
  2. a multi-scale pyramid: the image resized (bicubic, no antialias, aspect kept) so its longer side
     is 224 and 384 (scales 0 and 1), plus the image at its own resolution (scale 2);
  3. each scale cut into 32x32 patches on a grid zero-padded TensorFlow-"SAME" style (centred); the
     resized scales are padded with masked-out empty patches (or cut) to ceil(L / 32)^2 patches, the
     original resolution keeps all its patches;
  4. each patch -> a ResNet stem (weight-standardised 7x7/2 conv, GroupNorm, ReLU, 3x3/2 max pool,
     one bottleneck unit) -> 8x8x256 features flattened channels-last -> a linear token of 384;
  5. + a hash-based spatial embedding (patch row / column mapped onto a 10x10 grid by nearest
     resizing) + a scale embedding, a CLS token in front, 14 pre-norm transformer layers (6 heads,
     MLP 1152, masked attention), a final LayerNorm, and a linear head on the CLS token.
For SPAQ (one output) the head's value is the score (MOS scale, ~0-100); heads with several outputs
(AVA) are a softmax over rating buckets and the score is their expectation (pyiqa's dist_to_mos).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scoring.vbench_models import _weights

MUSIQ_SPAQ_FILE = "pyiqa_model/musiq_spaq_ckpt-358bb6af.pth"

# pyiqa fills masked attention logits with -1e3 (not -inf): rows of padding tokens then attend
# uniformly instead of producing NaN. Kept for the same numbers.
MASKED_LOGIT = -1e3


@dataclass(frozen=True)
class MUSIQConfig:
    patch_size: int = 32
    hidden_size: int = 384
    mlp_dim: int = 1152
    num_heads: int = 6
    num_layers: int = 14
    num_classes: int = 1  # 1 for SPAQ / KonIQ / PaQ-2-PiQ (a MOS), 10 for AVA (a rating distribution)
    hash_grid_size: int = 10
    longer_side_lengths: tuple[int, ...] = (224, 384)
    max_seq_len_from_original_res: int = -1  # patches kept at the input resolution; < 0: all

    @property
    def num_scales(self) -> int:
        return len(self.longer_side_lengths) + 1  # the resized scales and the original resolution


# -- helpers ---------------------------------------------------------------------------------------


def same_padding(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero-pad H, W as TensorFlow's 'SAME' does: output ceil(size / stride), the odd pixel at the end."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad takes the last dimension first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def hashed_positions(count_h: int, count_w: int, grid_size: int) -> torch.Tensor:
    """Spatial-embedding index of each patch of a count_h x count_w grid, row-major. -> [count_h * count_w].

    Rows and columns are each mapped onto `grid_size` cells by nearest-neighbour resizing, so images of
    any size and aspect share one grid_size x grid_size table (the paper's hash-based embedding).
    """
    grid = torch.arange(grid_size, dtype=torch.float32)[None, None]  # [1, 1, G]
    rows = F.interpolate(grid, size=count_h, mode="nearest")[0, 0].long()  # [count_h]
    cols = F.interpolate(grid, size=count_w, mode="nearest")[0, 0].long()  # [count_w]
    return (rows[:, None] * grid_size + cols[None, :]).flatten()


@dataclass
class Tokens:
    """A batch of images as one patch sequence (the layout is the same for every image of a batch)."""

    patches: torch.Tensor  # [N, S, 3, P, P]
    spatial: torch.Tensor  # [S] hashed spatial-embedding index
    scale: torch.Tensor  # [S] scale index
    mask: torch.Tensor  # [S] bool, False for padding


def patchify(x: torch.Tensor, patch_size: int, grid_size: int, scale_id: int, max_len: int) -> Tokens:
    """Cut [N, 3, H, W] into patches on a 'SAME'-padded grid; pad with empty patches or cut to max_len."""
    n, c, h, w = x.shape
    count_h, count_w = math.ceil(h / patch_size), math.ceil(w / patch_size)
    x = same_padding(x, patch_size, patch_size)  # [N, 3, count_h * P, count_w * P]
    x = x.reshape(n, c, count_h, patch_size, count_w, patch_size)
    patches = x.permute(0, 2, 4, 1, 3, 5).reshape(n, count_h * count_w, c, patch_size, patch_size)
    spatial = hashed_positions(count_h, count_w, grid_size)
    mask = torch.ones(count_h * count_w, dtype=torch.bool)
    if max_len >= 0:
        extra = max(max_len - patches.shape[1], 0)
        patches = F.pad(patches, (0, 0, 0, 0, 0, 0, 0, extra))[:, :max_len]
        spatial = F.pad(spatial, (0, extra))[:max_len]
        mask = F.pad(mask, (0, extra))[:max_len]
    scale = mask.long() * scale_id  # padding: spatial and scale index 0, masked out
    return Tokens(patches, spatial, scale, mask)


def multiscale_tokens(x: torch.Tensor, config: MUSIQConfig) -> Tokens:
    """[N, 3, H, W] in [-1, 1] -> the patches of all scales, smallest first, the input resolution last."""
    h, w = x.shape[-2:]
    p, g = config.patch_size, config.hash_grid_size
    parts = []
    for scale_id, longer in enumerate(sorted(config.longer_side_lengths)):
        ratio = longer / max(h, w)
        size = (round(h * ratio), round(w * ratio))
        resized = F.interpolate(x, size=size, mode="bicubic", align_corners=False)
        parts.append(patchify(resized, p, g, scale_id, max_len=math.ceil(longer / p) ** 2))
    parts.append(patchify(x, p, g, len(config.longer_side_lengths), config.max_seq_len_from_original_res))
    return Tokens(
        torch.cat([t.patches for t in parts], dim=1),
        torch.cat([t.spatial for t in parts]),
        torch.cat([t.scale for t in parts]),
        torch.cat([t.mask for t in parts]),
    )


# -- patch stem: a weight-standardised ResNet root and one bottleneck unit -------------------------


class StdConv2d(nn.Conv2d):
    """Conv with weight standardisation (Qiao et al.) and 'SAME' padding, as MUSIQ's BiT-style stem."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        w = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / (w.std(dim=(1, 2, 3), keepdim=True) + 1e-5)
        x = same_padding(x, self.kernel_size[0], self.stride[0])
        return F.conv2d(x, w, self.bias, self.stride)


class BottleneckUnit(nn.Module):
    """1x1 -> 3x3 -> 1x1 convs with GroupNorm, plus a projected shortcut. [B, C, h, w] -> [B, C_out, h, w]."""

    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.conv1 = StdConv2d(channels, channels, 1, bias=False)
        self.gn1 = nn.GroupNorm(32, channels, eps=1e-4)
        self.conv2 = StdConv2d(channels, channels, 3, bias=False)
        self.gn2 = nn.GroupNorm(32, channels, eps=1e-4)
        self.conv3 = StdConv2d(channels, out_channels, 1, bias=False)
        self.gn3 = nn.GroupNorm(32, out_channels, eps=1e-4)
        self.conv_proj = StdConv2d(channels, out_channels, 1, bias=False)
        self.gn_proj = nn.GroupNorm(32, out_channels, eps=1e-4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.gn_proj(self.conv_proj(x))
        y = F.relu(self.gn1(self.conv1(x)))
        y = F.relu(self.gn2(self.conv2(y)))
        return F.relu(self.gn3(self.conv3(y)) + shortcut)


# -- transformer -----------------------------------------------------------------------------------


class MaskedSelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x [B, S, D], mask [S] bool -> [B, S, D]; a logit is kept where both tokens are real."""
        b, s, d = x.shape
        q, k, v = (
            f(x).reshape(b, s, self.num_heads, -1).transpose(1, 2) for f in (self.query, self.key, self.value)
        )
        logits = (q @ k.transpose(-2, -1)) * (d // self.num_heads) ** -0.5  # [B, heads, S, S]
        logits = logits.masked_fill(~(mask[:, None] & mask[None, :]), MASKED_LOGIT)
        y = logits.softmax(dim=-1) @ v  # [B, heads, S, D / heads]
        return self.out(y.transpose(1, 2).reshape(b, s, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class EncoderLayer(nn.Module):
    """Pre-norm transformer layer."""

    def __init__(self, dim: int, mlp_dim: int, num_heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attention = MaskedSelfAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class HashSpatialEmbedding(nn.Module):
    def __init__(self, grid_size: int, dim: int):
        super().__init__()
        self.position_emb = nn.Parameter(torch.randn(1, grid_size * grid_size, dim) * 0.02)


class ScaleEmbedding(nn.Module):
    def __init__(self, num_scales: int, dim: int):
        super().__init__()
        self.scale_emb = nn.Parameter(torch.randn(num_scales, dim) * 0.02)


class Encoder(nn.Module):
    def __init__(self, config: MUSIQConfig):
        super().__init__()
        dim = config.hidden_size
        self.posembed_input = HashSpatialEmbedding(config.hash_grid_size, dim)
        self.scaleembed_input = ScaleEmbedding(config.num_scales, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.transformer = nn.ModuleDict(
            {
                f"encoderblock_{i}": EncoderLayer(dim, config.mlp_dim, config.num_heads)
                for i in range(config.num_layers)
            }
        )
        self.encoder_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor, tokens: Tokens) -> torch.Tensor:
        """x [B, S, D] patch tokens -> [B, 1 + S, D], the CLS token first."""
        x = x + self.posembed_input.position_emb[0, tokens.spatial]
        x = x + self.scaleembed_input.scale_emb[tokens.scale]
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        mask = F.pad(tokens.mask, (1, 0), value=True)  # [1 + S]
        for layer in self.transformer.values():
            x = layer(x, mask)
        return self.encoder_norm(x)


# -- the model -------------------------------------------------------------------------------------


class MUSIQ(nn.Module):
    """MUSIQ quality score: images [N, 3, H, W] in [0, 1] -> scores [N] float32 on the CPU (SPAQ: ~0-100).

    All images of a call share one size; any size and aspect ratio is accepted.
    """

    STEM_CHANNELS = 64

    def __init__(self, config: MUSIQConfig | None = None):
        super().__init__()
        self.config = config = config or MUSIQConfig()
        c = self.STEM_CHANNELS
        self.conv_root = StdConv2d(3, c, 7, stride=2, bias=False)
        self.gn_root = nn.GroupNorm(32, c, eps=1e-6)
        self.block1 = BottleneckUnit(c, 4 * c)
        token_side = config.patch_size // 4  # after the stride-2 conv and the stride-2 pool
        self.embedding = nn.Linear(4 * c * token_side**2, config.hidden_size)
        self.transformer_encoder = Encoder(config)
        self.head = nn.Linear(config.hidden_size, config.num_classes)
        if config.num_classes > 1:
            self.head = nn.Sequential(self.head, nn.Softmax(dim=-1))

    @classmethod
    def from_cache(
        cls, cache_dir: str | os.PathLike | None = None, device: str | torch.device = "cpu"
    ) -> MUSIQ:
        """MUSIQ-SPAQ, as VBench scores with it, from VBENCH_CACHE_DIR/pyiqa_model/musiq_spaq_ckpt-358bb6af.pth."""
        return cls.from_file(_weights(MUSIQ_SPAQ_FILE, cache_dir)).to(device)

    @classmethod
    def from_file(cls, path: str | os.PathLike, config: MUSIQConfig | None = None) -> MUSIQ:
        """A pyiqa MUSIQ checkpoint: a state dict, maybe under 'params' / 'state_dict', maybe 'module.'-prefixed."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        for wrapper in ("params", "state_dict"):
            if wrapper in state and isinstance(state[wrapper], dict):
                state = state[wrapper]
        state = {k.removeprefix("module."): v for k, v in state.items()}
        model = cls(config)
        model.load_state_dict(state, strict=True)
        return model.eval()

    @classmethod
    def random(cls, seed: int = 0, config: MUSIQConfig | None = None) -> MUSIQ:
        """The same architecture with random weights (scores are meaningless; for tests and timing)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls(config).eval()

    def stem(self, patches: torch.Tensor) -> torch.Tensor:
        """[B, S, 3, P, P] -> tokens [B, S, hidden]."""
        b, s = patches.shape[:2]
        x = F.relu(self.gn_root(self.conv_root(patches.flatten(0, 1))))  # [B*S, 64, P/2, P/2]
        x = F.max_pool2d(same_padding(x, 3, 2), 3, 2)  # [B*S, 64, P/4, P/4]
        x = self.block1(x)  # [B*S, 256, P/4, P/4]
        return self.embedding(x.permute(0, 2, 3, 1).reshape(b, s, -1))  # channels-last, as in TensorFlow

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"MUSIQ takes images [N, 3, H, W] in [0, 1], got shape {tuple(x.shape)}")
        weight = self.embedding.weight
        x = (x.to(weight) - 0.5) * 2.0  # [0, 1] -> [-1, 1]
        device = weight.device
        tokens = multiscale_tokens(x, self.config)
        tokens = Tokens(tokens.patches, *(t.to(device) for t in (tokens.spatial, tokens.scale, tokens.mask)))
        q = self.head(self.transformer_encoder(self.stem(tokens.patches), tokens)[:, 0])  # [N, classes]
        if self.config.num_classes > 1:  # expected rating over buckets 1..C
            q = q @ torch.arange(1, self.config.num_classes + 1, dtype=q.dtype, device=device)[:, None]
        return q[:, 0].float().cpu()
