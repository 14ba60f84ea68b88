"""Feature extractors: official-key conversion against independent reference forwards, TorchScript
loading, preprocessing, random builds, and the missing-weights error."""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scoring.extractors import (
    AESTHETIC_WEIGHTS,
    CLIP_ARCHS,
    CLIP_WEIGHTS,
    DINO_WEIGHTS,
    VBENCH_CACHE_ENV,
    AestheticHead,
    ClipImageEncoder,
    DinoViTB16,
    clip_preprocess,
    dino_preprocess,
    load_checkpoint,
)

# ----------------------------------------------------------------------------------------------
# Reference networks in the official layouts, written from the papers' descriptions in plain torch


class _DinoBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.Module()
        self.attn.qkv, self.attn.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Module()
        self.mlp.fc1, self.mlp.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        hd = d // self.heads
        qkv = self.attn.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, heads, N, hd]
        attn = (q @ k.transpose(-2, -1) * hd**-0.5).softmax(-1)
        x = x + self.attn.proj((attn @ v).transpose(1, 2).reshape(b, n, d))
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class _OfficialDino(nn.Module):
    """facebookresearch/dino's ViT layout; positions resized to the input grid by target size."""

    def __init__(
        self, dim: int = 128, depth: int = 2, heads: int = 2, patch: int = 16, grid: int = 4
    ) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, grid * grid + 1, dim))
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, patch, patch)
        self.blocks = nn.ModuleList(_DinoBlock(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.patch, self.grid = patch, grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        t = self.patch_embed.proj(x).flatten(2).transpose(1, 2)  # [B, h0 * w0, D], rows = image rows
        t = torch.cat([self.cls_token.expand(b, -1, -1), t], dim=1)
        h0, w0 = h // self.patch, w // self.patch
        pos = self.pos_embed
        if (h0, w0) != (self.grid, self.grid):
            grid = pos[:, 1:].reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(h0, w0), mode="bicubic", align_corners=False)
            pos = torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h0 * w0, -1)], dim=1)
        t = t + pos
        for blk in self.blocks:
            t = blk(t)
        return self.norm(t)[:, 0]


class _QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _ClipBlock(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)  # official names: in_proj_weight/bias, out_proj
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(width, 4 * width)),
                    ("gelu", _QuickGELU()),
                    ("c_proj", nn.Linear(4 * width, width)),
                ]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [L, B, W]
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class _ClipVisual(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, patch: int, grid: int, embed: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width))
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, width))
        self.ln_pre, self.ln_post = nn.LayerNorm(width), nn.LayerNorm(width)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.Sequential(*[_ClipBlock(width, heads) for _ in range(layers)])
        self.proj = nn.Parameter(torch.randn(width, embed) / width**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x).flatten(2).transpose(1, 2)  # [B, grid^2, W]
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding)
        x = self.transformer.resblocks(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0]) @ self.proj


class _OfficialClip(nn.Module):
    """openai/CLIP's top level: the visual tower plus text-side tensors the converter must ignore."""

    def __init__(
        self, width: int = 128, layers: int = 2, patch: int = 32, grid: int = 2, embed: int = 24
    ) -> None:
        super().__init__()
        self.visual = _ClipVisual(width, layers, width // 64, patch, grid, embed)
        self.token_embedding = nn.Embedding(10, 8)
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image)


def _jitter(module: nn.Module, seed: int) -> nn.Module:
    """Random values everywhere (LayerNorm too), so a swapped or transposed tensor cannot go unseen."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            base = 1.0 if name.endswith("weight") and p.ndim == 1 else 0.0
            p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
    return module.eval()


def _pixels(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------
# Conversion


def test_dino_conversion_matches_reference_forward():
    ref = _jitter(_OfficialDino(dim=128, depth=2, heads=2, patch=16, grid=4), seed=1)
    ext = DinoViTB16.from_state_dict(ref.state_dict())  # heads inferred: 128 // 64
    cfg = ext.model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.image_size) == (
        128,
        2,
        2,
        64,
    )
    with torch.no_grad():
        square = _pixels(2, 3, 64, 64)  # native grid: no interpolation
        torch.testing.assert_close(ext(square), ref(square), atol=1e-5, rtol=1e-5)
        wide = _pixels(2, 3, 64, 112, seed=1)  # 4 x 7 grid: checks the row-major position layout
        torch.testing.assert_close(ext(wide), ref(wide), atol=1e-5, rtol=1e-5)


def test_dino_conversion_strips_training_prefixes_and_ignores_head():
    ref = _jitter(_OfficialDino(dim=64, depth=1, heads=1), seed=2)
    state = {f"module.backbone.{k}": v for k, v in ref.state_dict().items()}
    state["head.mlp.0.weight"] = torch.zeros(4, 64)  # DINO projection head: not part of the backbone
    ext = DinoViTB16.from_state_dict(state)
    x = _pixels(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ext(x), ref(x), atol=1e-5, rtol=1e-5)


def _save_clip_archive(module: nn.Module, path, size: int = 64) -> None:
    with warnings.catch_warnings():  # torch.jit is deprecated in recent torch; the archives still exist
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, torch.zeros(1, 3, size, size), check_trace=False)
        torch.jit.save(traced, str(path))


def test_clip_torchscript_archive_converts_to_encode_image(tmp_path):
    ref = _jitter(_OfficialClip(width=128, layers=2, patch=32, grid=2, embed=24), seed=3)
    _save_clip_archive(ref, tmp_path / "clip.pt")
    state = load_checkpoint(tmp_path / "clip.pt")
    assert "visual.transformer.resblocks.1.attn.in_proj_weight" in state and "logit_scale" in state
    ext = ClipImageEncoder.from_file(tmp_path / "clip.pt")
    cfg = ext.model.config
    assert (cfg.hidden_size, cfg.num_attention_heads, cfg.patch_size, cfg.projection_dim) == (128, 2, 32, 24)
    x = _pixels(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ext(x), ref(x), atol=1e-5, rtol=1e-5)


def test_clip_plain_fp16_state_dict_loads_as_fp32(tmp_path):
    # The published archives hold fp16 weights; a plain state dict is accepted too.
    ref = _jitter(_OfficialClip(width=64, layers=1, patch=32, grid=2, embed=8), seed=4).half().float()
    torch.save({k: v.half() for k, v in ref.state_dict().items()}, tmp_path / "clip_sd.pt")
    ext = ClipImageEncoder.from_file(tmp_path / "clip_sd.pt")
    assert ext.model.visual_projection.weight.dtype == torch.float32
    x = _pixels(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ext(x), ref(x), atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------------------------
# Preprocessing


def test_dino_preprocess_keeps_aspect_and_normalises():
    frames = torch.full((2, 3, 36, 64), 128.0)
    out = dino_preprocess(frames)
    assert out.shape == (2, 3, 224, 398)  # int(224 * 64 / 36): torchvision truncates the long side
    expected = (128 / 255 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(out[0, :, 100, 200], expected)
    assert dino_preprocess(torch.zeros(1, 3, 80, 40)).shape == (1, 3, 448, 224)  # portrait


def test_clip_preprocess_centre_crops():
    frames = _pixels(1, 3, 224, 301).abs() * 100
    out = clip_preprocess(frames)  # shorter side already 224: no resize, crop offset round(38.5) = 38
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    torch.testing.assert_close(out, (frames[..., 38 : 38 + 224] / 255 - mean) / std)
    assert clip_preprocess(torch.rand(2, 3, 90, 160) * 255).shape == (2, 3, 224, 224)


# ----------------------------------------------------------------------------------------------
# Random builds and batching


def test_random_defaults_are_the_official_architectures():
    dino = DinoViTB16.random()
    cfg = dino.model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.patch_size) == (
        768,
        12,
        12,
        16,
    )
    assert dino.backend == "random-init" and dino.feature_dim == 768
    assert CLIP_ARCHS["ViT-L-14"]["projection_dim"] == 768  # the aesthetic head's input
    clip = ClipImageEncoder.random("ViT-B-32")
    cfg = clip.model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.patch_size, cfg.projection_dim) == (768, 12, 32, 512)
    assert cfg.hidden_act == "quick_gelu" and clip.feature_dim == 512


def test_random_extractors_are_deterministic_and_batch_invariant():
    state = torch.get_rng_state()
    a, b = DinoViTB16.random(seed=0, tiny=True), DinoViTB16.random(seed=0, tiny=True)
    assert torch.equal(state, torch.get_rng_state())  # random() leaves the global RNG alone
    frames = torch.rand(5, 3, 40, 72, generator=torch.Generator().manual_seed(0)) * 255
    fa = a.extract(frames, batch_size=2)
    assert fa.shape == (5, 32) and fa.dtype == torch.float32
    assert torch.equal(fa, b.extract(frames, batch_size=2))
    torch.testing.assert_close(fa, a.extract(frames, batch_size=5), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(fa, DinoViTB16.random(seed=1, tiny=True).extract(frames))
    clip = ClipImageEncoder.random("ViT-L-14", tiny=True)
    emb = clip.extract(frames, batch_size=3)
    again = ClipImageEncoder.random("ViT-L-14", tiny=True).extract(frames, batch_size=3)
    assert emb.shape == (5, 16) and torch.equal(emb, again)
    assert clip.extract(frames[:0]).shape == (0, 16)


# ----------------------------------------------------------------------------------------------
# The cache folder


def test_missing_weights_list_expected_paths(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as err:
        DinoViTB16.from_cache(tmp_path)
    assert str(tmp_path / DINO_WEIGHTS) in str(err.value) and "machine with internet" in str(err.value)
    monkeypatch.setenv(VBENCH_CACHE_ENV, str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError, match="ViT-B-32.pt"):
        ClipImageEncoder.from_cache("ViT-B-32")
    with pytest.raises(FileNotFoundError) as err:
        from scoring.aesthetic import AestheticQuality

        AestheticQuality.from_cache()
    message = str(err.value)
    assert str(tmp_path / "env" / CLIP_WEIGHTS["ViT-L-14"]) in message
    assert str(tmp_path / "env" / AESTHETIC_WEIGHTS) in message


def test_from_cache_loads_official_style_files(tmp_path):
    dino_ref = _jitter(_OfficialDino(dim=64, depth=1, heads=1), seed=5)
    (tmp_path / DINO_WEIGHTS).parent.mkdir(parents=True)
    torch.save(dino_ref.state_dict(), tmp_path / DINO_WEIGHTS)
    clip_ref = _jitter(_OfficialClip(width=64, layers=1, patch=32, grid=7, embed=16), seed=6)
    (tmp_path / CLIP_WEIGHTS["ViT-L-14"]).parent.mkdir(parents=True)
    _save_clip_archive(clip_ref, tmp_path / CLIP_WEIGHTS["ViT-L-14"], size=224)
    head_ref = nn.Linear(16, 1)
    (tmp_path / AESTHETIC_WEIGHTS).parent.mkdir(parents=True)
    torch.save(head_ref.state_dict(), tmp_path / AESTHETIC_WEIGHTS)

    dino = DinoViTB16.from_cache(tmp_path, batch_size=4)
    assert dino.backend == "vbench-weights" and dino.batch_size == 4
    clip = ClipImageEncoder.from_cache("ViT-L-14", tmp_path)
    assert clip.backend == "vbench-weights" and clip.model.config.image_size == 224
    head = AestheticHead.from_cache(tmp_path)
    assert head.backend == "vbench-weights" and torch.equal(head.weight, head_ref.weight)

    frames = torch.rand(3, 3, 48, 80, generator=torch.Generator().manual_seed(1)) * 255
    with torch.no_grad():
        torch.testing.assert_close(
            clip.extract(frames), clip_ref(clip_preprocess(frames)), atol=1e-5, rtol=1e-5
        )
        torch.testing.assert_close(
            dino.extract(frames), dino_ref(dino_preprocess(frames)), atol=1e-5, rtol=1e-5
        )
