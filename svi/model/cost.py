"""The compute and memory the Wan DiT costs, counted from its configuration (pure; no weights, no GPU).

What `harness plan` estimates a real-scale experiment's GPU-hours and memory with, and what
`benchmarks/perf/real_scale.py` divides measured time by (model FLOPs utilisation). FLOPs are counted
analytically from the transformer's config (`forward_flops`); the preset's config comes from the weights
folder when one is named, else from diffusers' defaults for the 14B I2V model (`preset_transformer_config`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from svi.model.context_attention import WAN_TEXT_TOKENS

# the text context is always umT5's full 512 tokens (diffusers' Wan attention assumes it)
TEXT_TOKENS = WAN_TEXT_TOKENS
# The image context of the 14B model: the penultimate tokens of its CLIP ViT-H/14 at 224 px (16 x 16
# patches + CLS), 1280 wide (image_encoder/config.json's hidden_size; the I2V transformer's image_dim).
WAN_CLIP_TOKENS = 257
WAN_CLIP_WIDTH = 1280
# Peak dense bf16 tensor-core FLOP/s per device, by a substring of its name (torch.cuda.get_device_name;
# the first match wins: "H100 PCIe" before "H100"). H100 SXM and H200 share the same compute.
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("H800", 989e12),
    ("A100", 312e12),
)
# Wan 2.2 TI2V 5B's transformer when no weights folder is named: Wan's configs/wan_ti2v_5B.py (dim 3072,
# ffn 14336, 24 heads, 30 layers, freq 256, text 4096, patch (1, 2, 2), in = out = 48) in diffusers'
# names, with no image branch. It counts 4,999,787,712 parameters, 18.6 GiB in fp32: the size of the
# transformer/ of Wan-AI/Wan2.2-TI2V-5B-Diffusers (an image branch would add 0.95 B).
TI2V_5B_CONFIG = {
    "num_attention_heads": 24,
    "attention_head_dim": 128,
    "ffn_dim": 14336,
    "num_layers": 30,
    "freq_dim": 256,
    "text_dim": 4096,
    "patch_size": (1, 2, 2),
    "in_channels": 48,
    "out_channels": 48,
    "image_dim": None,
    "added_kv_proj_dim": None,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "rope_max_seq_len": 1024,
}
TRAIN_FORWARD_MULTIPLE = 3  # forward + backward = 3 forwards (the usual MFU convention)

# -- FLOPs of the Wan DiT, analytically (pure) ------------------------------------------------------


@dataclass(frozen=True)
class DiTDims:
    """What the FLOP count of one Wan DiT forward depends on."""

    layers: int
    dim: int  # heads x head_dim: the model width (5120 at 14B)
    ffn_dim: int
    text_dim: int  # umT5 width, the text embedder's input (4096)
    image_dim: int | None  # CLIP width, the image embedder's input (1280); None: no image branch
    in_channels: int  # 16 noisy latent + 4 mask + 16 condition latent
    out_channels: int
    patch: tuple[int, int, int]
    freq_dim: int

    @classmethod
    def from_config(cls, config: Mapping) -> DiTDims:
        """From a WanTransformer3DModel config (`model.config` or a config.json's dict)."""
        return cls(
            layers=config["num_layers"],
            dim=config["num_attention_heads"] * config["attention_head_dim"],
            ffn_dim=config["ffn_dim"],
            text_dim=config["text_dim"],
            image_dim=config.get("image_dim"),
            in_channels=config["in_channels"],
            out_channels=config["out_channels"],
            patch=tuple(config["patch_size"]),
            freq_dim=config["freq_dim"],
        )


def video_tokens(latent_shape: tuple[int, ...], patch: tuple[int, int, int]) -> int:
    """Tokens of a latent [C, F, h, w] after the (t, h, w) patch embedding: 32760 at 480 x 832 x 81."""
    _, f, h, w = latent_shape
    return (f // patch[0]) * (h // patch[1]) * (w // patch[2])


def forward_flops(
    dims: DiTDims, video: int, text: int, image: int, lora_rank: int = 0, blocks: int | None = None
) -> dict[str, int]:
    """FLOPs of one transformer forward for one sample (a multiply-add is 2 FLOPs), matmuls only.

    video, text, image: token counts L, T, I (no image tokens without an image branch); D = dims.dim,
    F = dims.ffn_dim, r = lora_rank, blocks defaults to dims.layers. Per block:
      self_attn_proj   q, k, v, o on L tokens                         8 L D^2
      self_attn        Q K^T and (softmax) V, all heads               4 L^2 D
      cross_attn_proj  q, o on L; text k, v on T; image k, v on I     4 L D^2 + 4 (T + I) D^2
      cross_attn       over the text and the image keys               4 L (T + I) D
      ffn              D -> F -> D on L tokens                        4 L D F
      lora             r-rank A, B beside the 10 adapted linears      24 L r D + 8 T r D + 4 L r (D + F)
                       (the official targets: attn1/attn2 to_q, to_k, to_v, to_out.0 and both FFN
                       linears; attn2's to_k / to_v see the text tokens; the image add_k/v_proj have none)
    Outside the blocks (embed_head): patch embedding, text embedder (text_dim -> D -> D), image embedder
    (image_dim -> image_dim -> D), time embedding (freq_dim -> D -> D, then D -> 6 D, once per sample) and
    the output projection. Norms, RoPE, softmax and elementwise work are left out (small next to these).
    """
    n_blocks = dims.layers if blocks is None else blocks
    d, f, r = dims.dim, dims.ffn_dim, lora_rank
    image = image if dims.image_dim is not None else 0
    per_block = {
        "self_attn_proj": 8 * video * d * d,
        "self_attn": 4 * video * video * d,
        "cross_attn_proj": 4 * video * d * d + 4 * (text + image) * d * d,
        "cross_attn": 4 * video * (text + image) * d,
        "ffn": 4 * video * d * f,
        "lora": 24 * video * r * d + 8 * text * r * d + 4 * video * r * (d + f),
    }
    patch_volume = dims.patch[0] * dims.patch[1] * dims.patch[2]
    embed_head = (
        2 * video * dims.in_channels * patch_volume * d  # patch embedding (a strided conv = a matmul)
        + 2 * text * (dims.text_dim * d + d * d)
        + (2 * image * (dims.image_dim**2 + dims.image_dim * d) if image else 0)
        + 2 * (dims.freq_dim * d + d * d + 6 * d * d)
        + 2 * video * d * dims.out_channels * patch_volume  # proj_out
    )
    block_total = sum(per_block.values())
    return {
        **{f"per_block_{k}": v for k, v in per_block.items()},
        "per_block": block_total,
        "blocks": n_blocks,
        "embed_head": embed_head,
        "total": n_blocks * block_total + embed_head,
    }


def preset_transformer_config(preset: str, weights: str | None, expert: int = 0) -> tuple[dict, str]:
    """The preset's WanTransformer3DModel config (all its layers) and where it came from; `expert` 1 is
    a two-expert preset's low-noise expert (transformer_2/).

    tiny / toy / tiny-a14b / tiny-ti2v: their `SmallArch` row as `build_small` builds it. The local
    presets: the weights folder's transformer/config.json (transformer_2/ for expert 1) when one is
    given (nothing else is read), else for wan2.1-i2v-14b and wan2.2-i2v-a14b diffusers' defaults (the
    14B DiT, which both share) with the I2V fields: 36 input channels, and for Wan 2.1 CLIP image tokens
    projected to the width (Wan 2.2's experts have no image branch); for wan2.2-ti2v-5b `TI2V_5B_CONFIG`.
    """
    from diffusers import WanTransformer3DModel

    from svi.model.backbone import small_transformer
    from svi.model.presets import EXPERT_FOLDERS, WEIGHTS_ENV, get_preset

    p = get_preset(preset)
    if not 0 <= expert < p.experts:
        raise ValueError(f"preset {preset} has {p.experts} transformer(s); no expert {expert}")
    if p.arch is not None:
        with torch.device("meta"):  # the real builder, no memory
            model = small_transformer(p.arch, p.image_encoder, p.transformer_channels)
        return dict(model.config), f"svi.model.presets {preset} (SmallArch)"
    folder = weights or os.environ.get(WEIGHTS_ENV)
    missing = ""
    if folder:
        path = Path(folder).expanduser() / EXPERT_FOLDERS[expert]
        if (path / "config.json").is_file():  # checked first: diffusers would look on the Hub otherwise
            return dict(WanTransformer3DModel.load_config(path)), f"{path}/config.json"
        missing = f"; {path}/config.json does not exist"
    if p.condition == "first_latent":
        return dict(TI2V_5B_CONFIG), "Wan's wan_ti2v_5B config in diffusers' names (TI2V_5B_CONFIG)" + (
            missing or " (no weights folder given)"
        )
    defaults = {
        k: v.default
        for k, v in inspect.signature(WanTransformer3DModel.__init__).parameters.items()
        if v.default is not inspect.Parameter.empty
    }
    width = defaults["num_attention_heads"] * defaults["attention_head_dim"]
    i2v = {"in_channels": 36, "image_dim": WAN_CLIP_WIDTH, "added_kv_proj_dim": width}
    if not p.image_encoder:  # Wan 2.2 I2V: the condition rides in the 36 channels only
        i2v = {"in_channels": 36, "image_dim": None, "added_kv_proj_dim": None}
    config = {**defaults, **i2v}
    return config, "diffusers WanTransformer3DModel defaults + I2V fields" + (
        missing or " (no weights folder given)"
    )


def image_tokens_for(preset: str) -> int:
    """CLIP tokens of the preset's image encoder: (image_size / 8)^2 + 1 for build_small's CLIP; 0
    without one (Wan 2.2)."""
    from svi.model.presets import get_preset

    if not get_preset(preset).image_encoder:
        return 0
    arch = get_preset(preset).arch
    return WAN_CLIP_TOKENS if arch is None else (arch.image_size // 8) ** 2 + 1


# -- what a configuration costs (pure) ----------------------------------------------------------------

BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
ADAM_STATE_BYTES = 12  # an fp32 master copy, Adam's m and v: 4 + 4 + 4 bytes per trainable parameter


def training_memory(
    dims: DiTDims,
    params: int,
    trainable: int,
    video: int,
    text: int,
    image: int,
    *,
    world: int,
    dtype_bytes: int = 2,
    checkpointing: bool = True,
) -> dict[str, float]:
    """Bytes per GPU of one ERFT training process (batch 1, DeepSpeed ZeRO-2), by part:

    weights      every transformer parameter in the compute dtype (the frozen base and the LoRA)
    gradients    the trainable parameters' gradients in the compute dtype, partitioned over `world` (ZeRO-2)
    optimizer    fp32 master weights and Adam's two moments, 12 bytes per trainable, partitioned (ZeRO-2)
    activations  with gradient checkpointing: every block's input (L x D) kept, plus one block's recompute
                 at its widest: about 10 L D + 2 L F values (q, k, v, attention out, norms; the FFN's hidden
                 layer before and after its activation). Without: that working set kept for every block.
                 Memory-efficient attention (SDPA, flash) never holds the L x L matrix.
    The frozen encoders (umT5, CLIP, VAE), the CUDA context and allocator slack are not counted."""
    block_working = block_working_bytes(dims, video, text, image, dtype_bytes)
    if checkpointing:
        activations = dims.layers * video * dims.dim * dtype_bytes + block_working
    else:
        activations = dims.layers * block_working
    out = {
        "weights": params * dtype_bytes,
        "gradients": trainable * dtype_bytes / world,
        "optimizer": trainable * ADAM_STATE_BYTES / world,
        "activations": activations,
    }
    out["total"] = sum(out.values())
    return out


def block_working_bytes(dims: DiTDims, video: int, text: int, image: int, dtype_bytes: int = 2) -> int:
    """Bytes of one DiT block's widest working set over `video` tokens: about 10 L D + 2 L F values (q, k,
    v, attention out, norms; the FFN's hidden layer before and after its activation) and the context's
    keys and values (2 (text + image) D). Memory-efficient attention never holds the L x L matrix."""
    return (10 * video * dims.dim + 2 * video * dims.ffn_dim + 2 * (text + image) * dims.dim) * dtype_bytes


def inference_memory(
    dims: DiTDims, params: int, video: int, text: int, image: int, *, dtype_bytes: int = 2
) -> dict[str, float]:
    """Bytes of one generation process (batch 1, no gradients): every parameter in the compute dtype and
    one block's working set (activations are dropped block by block). The frozen encoders, the VAE's
    decode and the CUDA context are not counted."""
    out = {
        "weights": params * dtype_bytes,
        "activations": block_working_bytes(dims, video, text, image, dtype_bytes),
    }
    out["total"] = sum(out.values())
    return out


def gpu_hours(flops: float, peak_flops_per_second: float, mfu: float) -> float:
    """Hours of one GPU to do `flops` at `mfu` of its peak."""
    return flops / (peak_flops_per_second * mfu) / 3600.0


def peak_of(gpu: str) -> float:
    """The dense bf16 peak of a GPU named like torch.cuda.get_device_name (a substring match)."""
    for key, flops in PEAK_BF16_FLOPS:
        if key.lower() in gpu.lower():
            return flops
    known = ", ".join(k for k, _ in PEAK_BF16_FLOPS)
    raise ValueError(f"no peak FLOP/s known for GPU {gpu!r}; known: {known}")
