"""Image feature extractors behind the VBench dimensions, built from VBench's own weight files.

VBench (`vbench` 0.1.5) scores subject / background consistency and aesthetic quality with three
networks whose checkpoints it keeps in VBENCH_CACHE_DIR (default ~/.cache/vbench):

    dino_model/dino_vitbase16_pretrain.pth           DINO ViT-B/16 (facebookresearch/dino state dict)
    clip_model/ViT-B-32.pt, clip_model/ViT-L-14.pt   OpenAI CLIP (TorchScript archives, or state dicts)
    aesthetic_model/emb_reader/sa_0_4_vit_l_14_linear.pth   LAION aesthetic head, nn.Linear(768, 1)

The `vbench` package pins transformers==4.33.2 and numpy<2, which clash with this stack, so we do not
import it. Instead each network is rebuilt with transformers' model classes (ViTModel,
CLIPVisionModelWithProjection) and the official keys are converted onto them. The converters infer
the architecture from the tensor shapes, so the same code loads the real ViT-B/16 and a tiny test
checkpoint. `random()` builds the same classes with random weights (backend "random-init") for
tests and for runs on machines without the weights; the numbers are then meaningless as VBench scores.

Preprocessing follows VBench's tensor transforms (frames float 0-255, [N, 3, H, W]):
    DINO: /255, shorter side -> 224 bilinear, no crop, ImageNet mean/std.
    CLIP: /255, shorter side -> 224 bicubic, centre crop 224, CLIP mean/std.
VBench 0.1.5's transforms pass antialias=False to torchvision's Resize, so we do not antialias
either; `make crosscheck` compares the whole path with VBench's own functions.

Departure: VBench runs CLIP in fp16 on CUDA (openai `clip.load` keeps the archive's fp16 weights);
we compute in fp32 everywhere.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, ViTConfig, ViTModel

VBENCH_CACHE_ENV = "VBENCH_CACHE_DIR"

# Files under VBENCH_CACHE_DIR, as VBench lays them out, and where VBench itself downloads them.
DINO_WEIGHTS = "dino_model/dino_vitbase16_pretrain.pth"
CLIP_WEIGHTS = {"ViT-B-32": "clip_model/ViT-B-32.pt", "ViT-L-14": "clip_model/ViT-L-14.pt"}
AESTHETIC_WEIGHTS = "aesthetic_model/emb_reader/sa_0_4_vit_l_14_linear.pth"
WEIGHT_SOURCES = {
    DINO_WEIGHTS: "https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth",
    CLIP_WEIGHTS["ViT-B-32"]: "https://openaipublic.azureedge.net/clip/models/"
    "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    CLIP_WEIGHTS["ViT-L-14"]: "https://openaipublic.azureedge.net/clip/models/"
    "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
    AESTHETIC_WEIGHTS: "https://github.com/LAION-AI/aesthetic-predictor/blob/main/sa_0_4_vit_l_14_linear.pth?raw=true",
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# The official CLIP towers (openai/CLIP `build_model`: heads = width // 64).
CLIP_ARCHS = {
    "ViT-B-32": dict(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, patch_size=32, projection_dim=512
    ),
    "ViT-L-14": dict(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, patch_size=14, projection_dim=768
    ),
}
# Random-init stand-ins for tests: same classes and preprocessing (224 input), a fraction of the cost.
_TINY_DINO = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
_TINY_CLIP = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=2, patch_size=32, projection_dim=16
)

BACKEND_OFFICIAL = "vbench-weights"
BACKEND_RANDOM = "random-init"


# ----------------------------------------------------------------------------------------------
# Cache folder and file loading


def vbench_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding VBench's weights: the argument, else $VBENCH_CACHE_DIR, else ~/.cache/vbench."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path(os.environ.get(VBENCH_CACHE_ENV) or "~/.cache/vbench").expanduser()


def require_weights(
    relative_paths: Iterable[str], cache_dir: str | os.PathLike | None, what: str
) -> list[Path]:
    """Absolute paths of the files, or FileNotFoundError listing every missing one and how to get it."""
    relative_paths = list(relative_paths)
    root = vbench_cache_dir(cache_dir)
    paths = [root / rel for rel in relative_paths]
    missing = [(rel, p) for rel, p in zip(relative_paths, paths) if not p.is_file()]
    if missing:
        lines = [
            f"  {p}"
            + (f"\n      (VBench downloads it from {WEIGHT_SOURCES[rel]})" if rel in WEIGHT_SOURCES else "")
            for rel, p in missing
        ]
        raise FileNotFoundError(
            f"{what} needs VBench's weight files, not found under {VBENCH_CACHE_ENV}={root}:\n"
            + "\n".join(lines)
            + "\nRun VBench once on a machine with internet, or download the files VBench lists for this "
            "dimension, then copy the cache folder here (or point VBENCH_CACHE_DIR / cache_dir at it)."
        )
    return paths


def _is_torchscript(path: Path) -> bool:
    # Both formats are zip files; only TorchScript archives carry a code/ folder and constants.pkl.
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name or name.endswith("/constants.pkl") for name in archive.namelist())


def load_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from a TorchScript archive (openai/CLIP's .pt files) or a plain torch.save file."""
    path = Path(path)
    if _is_torchscript(path):
        state = torch.jit.load(str(path), map_location="cpu").state_dict()
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        for nested in ("state_dict", "model"):  # checkpoints that wrap the weights
            if isinstance(state, dict) and isinstance(state.get(nested), dict):
                state = state[nested]
    # Official archives hold fp16 weights; we compute in fp32.
    return {
        k: v.float() if v.is_floating_point() else v for k, v in state.items() if isinstance(v, torch.Tensor)
    }


def _num_blocks(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    indices = {int(m.group(1)) for k in state if (m := pattern.match(k))}
    if not indices:
        raise KeyError(f"no transformer blocks '{prefix}N.*' in the checkpoint: is it the right file?")
    return max(indices) + 1


def _load_converted(model: nn.Module, converted: dict[str, torch.Tensor]) -> None:
    try:
        model.load_state_dict(converted, strict=True)
    except RuntimeError as err:
        raise RuntimeError(
            f"converted keys do not fit {type(model).__name__}; the converters target the transformers "
            f"layout pinned in constraints.txt (5.x). Original error: {err}"
        ) from err


# ----------------------------------------------------------------------------------------------
# Preprocessing (batched tensors, frames float 0-255 [N, 3, H, W])


def _resize_shorter_side(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """VBench's Resize(size, antialias=False) on tensors: shorter side -> size, longer side truncated.

    VBench 0.1.5's dino_transform / clip_transform pass antialias=False; with antialiasing the CLIP
    dimensions drifted from VBench by up to 4e-3 (benchmarks/crosscheck), without it by < 3e-7.
    """
    h, w = x.shape[-2:]
    if h <= w:
        new_h, new_w = size, int(size * w / h)
    else:
        new_h, new_w = int(size * h / w), size
    if (new_h, new_w) == (h, w):  # torchvision returns the input untouched
        return x
    return F.interpolate(x, size=(new_h, new_w), mode=mode, align_corners=False, antialias=False)


def _center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))  # torchvision's rounding
    return x[..., top : top + size, left : left + size]


def _normalize(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    mean_t = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean_t) / std_t


def dino_preprocess(frames: torch.Tensor, size: int = 224) -> torch.Tensor:
    """[N, 3, H, W] 0-255 -> [N, 3, 224, W'] (shorter side 224, aspect kept, no crop), ImageNet-normalised."""
    x = frames.float() / 255.0
    x = _resize_shorter_side(x, size, "bilinear")
    return _normalize(x, IMAGENET_MEAN, IMAGENET_STD)


def clip_preprocess(frames: torch.Tensor, size: int = 224) -> torch.Tensor:
    """[N, 3, H, W] 0-255 -> [N, 3, 224, 224]: bicubic shorter side 224, centre crop, CLIP-normalised."""
    x = frames.float() / 255.0
    # Bicubic overshoot below 0 / above 1 is kept: torchvision clamps only uint8 images.
    x = _resize_shorter_side(x, size, "bicubic")
    x = _center_crop(x, size)
    return _normalize(x, CLIP_MEAN, CLIP_STD)


# ----------------------------------------------------------------------------------------------
# Shared extractor behaviour


class ImageFeatureExtractor(nn.Module):
    """Raw frames in, one feature vector per frame out. Subclasses define preprocess and forward."""

    feature_dim: int

    def __init__(self, backend: str, batch_size: int) -> None:
        super().__init__()
        self.backend = backend
        self.batch_size = batch_size

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        param = next(self.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    @torch.no_grad()
    def extract(self, frames: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        """[N, 3, H, W] float 0-255 -> [N, D] float32 features on the CPU, computed in batches."""
        batch_size = batch_size or self.batch_size
        outputs = []
        for start in range(0, frames.shape[0], batch_size):
            # Move the raw batch first so the resize runs on the model's device (fast on a GPU).
            pixels = self.preprocess(frames[start : start + batch_size].to(self.device))
            outputs.append(self(pixels).float().cpu())
        if not outputs:
            return torch.zeros(0, self.feature_dim)
        return torch.cat(outputs)


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """A private RNG scope so building a random model neither uses nor moves the global seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# ----------------------------------------------------------------------------------------------
# DINO ViT-B/16


def dino_config(
    hidden_size: int = 768,
    num_hidden_layers: int = 12,
    num_attention_heads: int = 12,
    intermediate_size: int = 3072,
    patch_size: int = 16,
    image_size: int = 224,
) -> ViTConfig:
    """facebookresearch/dino's VisionTransformer in transformers' terms (exact GELU, LayerNorm eps 1e-6)."""
    return ViTConfig(
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        intermediate_size=intermediate_size,
        patch_size=patch_size,
        image_size=image_size,
        layer_norm_eps=1e-6,
        qkv_bias=True,
        hidden_act="gelu",
    )


def _strip_dino_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # DINO's full training checkpoints prefix the backbone; the pretrain files VBench uses do not.
    return {re.sub(r"^(module\.)?(backbone\.)?", "", k): v for k, v in state.items()}


def dino_config_from_state_dict(state: Mapping[str, torch.Tensor], num_heads: int | None = None) -> ViTConfig:
    """Architecture from tensor shapes; heads are not visible in shapes, DINO's ViTs use 64 per head."""
    hidden = state["cls_token"].shape[-1]
    patch = state["patch_embed.proj.weight"].shape[-1]
    grid = math.isqrt(state["pos_embed"].shape[1] - 1)
    return dino_config(
        hidden_size=hidden,
        num_hidden_layers=_num_blocks(state, "blocks."),
        num_attention_heads=num_heads or hidden // 64,
        intermediate_size=state["blocks.0.mlp.fc1.weight"].shape[0],
        patch_size=patch,
        image_size=patch * grid,
    )


def convert_dino_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """facebookresearch/dino ViT keys -> transformers ViTModel (add_pooling_layer=False) keys."""
    state = _strip_dino_prefix(state)
    out = {
        "embeddings.cls_token": state["cls_token"],
        "embeddings.position_embeddings": state["pos_embed"],
        "embeddings.patch_embeddings.projection.weight": state["patch_embed.proj.weight"],
        "embeddings.patch_embeddings.projection.bias": state["patch_embed.proj.bias"],
        "layernorm.weight": state["norm.weight"],
        "layernorm.bias": state["norm.bias"],
    }
    for i in range(_num_blocks(state, "blocks.")):
        src, dst = f"blocks.{i}.", f"layers.{i}."
        # Fused qkv [3D, D]: DINO reshapes its output as (3, heads, head_dim), so rows are q | k | v.
        _split_qkv(out, state, f"{src}attn.qkv.", f"{dst}attention.")
        pairs = {
            "norm1": "layernorm_before",
            "norm2": "layernorm_after",
            "attn.proj": "attention.o_proj",
            "mlp.fc1": "mlp.fc1",
            "mlp.fc2": "mlp.fc2",
        }
        _renamed(out, state, src, dst, pairs)
    return out


def _split_qkv(out: dict, state: dict, fused: str, dst: str) -> None:
    """Into `out`: the q | k | v row blocks of the fused projection `fused`{weight,bias} [3D, ...] as
    `dst`{q,k,v}_proj.{weight,bias} (in place)."""
    for kind in ("weight", "bias"):
        q, k, v = state[f"{fused}{kind}"].chunk(3, dim=0)
        for name, part in (("q", q), ("k", k), ("v", v)):
            out[f"{dst}{name}_proj.{kind}"] = part


def _renamed(out: dict, state: dict, src: str, dst: str, pairs: dict[str, str]) -> None:
    """Into `out`: each `src`A.{weight,bias} of `state` as `dst`B.{weight,bias}, for A -> B in `pairs`."""
    for a, b in pairs.items():
        for kind in ("weight", "bias"):
            out[f"{dst}{b}.{kind}"] = state[f"{src}{a}.{kind}"]


class DinoViTB16(ImageFeatureExtractor):
    """DINO ViT-B/16 CLS features: what DINO's `forward` returns (the CLS token after the final norm)."""

    def __init__(self, model: ViTModel, backend: str = BACKEND_RANDOM, batch_size: int = 32) -> None:
        super().__init__(backend, batch_size)
        self.model = model.eval()
        self.feature_dim = model.config.hidden_size

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        return dino_preprocess(frames)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """[N, 3, 224, W] normalised -> [N, hidden] CLS features."""
        # Frames keep their aspect ratio, so the 14x14 position grid is interpolated to the frame's grid.
        # DINO interpolates bicubically with scale_factor=((h0 + 0.1) / 14, (w0 + 0.1) / 14) (an offset
        # against float error in its older versions) whereas transformers passes the target size; the
        # sampled positions differ by under 0.1 grid cell, so features differ slightly for non-square
        # frames. A crosscheck against VBench's own run quantifies it.
        out = self.model(pixel_values=pixel_values, interpolate_pos_encoding=True)
        return out.last_hidden_state[:, 0]  # [N, hidden]

    @classmethod
    def from_state_dict(
        cls,
        state: Mapping[str, torch.Tensor],
        num_heads: int | None = None,
        backend: str = BACKEND_OFFICIAL,
        batch_size: int = 32,
    ) -> DinoViTB16:
        state = _strip_dino_prefix(state)
        model = ViTModel(dino_config_from_state_dict(state, num_heads), add_pooling_layer=False)
        _load_converted(model, convert_dino_state_dict(state))
        return cls(model, backend=backend, batch_size=batch_size)

    @classmethod
    def from_cache(
        cls,
        cache_dir: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
    ) -> DinoViTB16:
        """The official DINO ViT-B/16 from VBENCH_CACHE_DIR/dino_model/dino_vitbase16_pretrain.pth."""
        (path,) = require_weights([DINO_WEIGHTS], cache_dir, "DINO ViT-B/16 (subject consistency, i2v)")
        return cls.from_state_dict(load_checkpoint(path), batch_size=batch_size).to(device)

    @classmethod
    def random(cls, seed: int = 0, tiny: bool = False, batch_size: int = 32) -> DinoViTB16:
        """Random weights; the full ViT-B/16 unless tiny (a 2-layer width-32 ViT with the same input)."""
        with _seeded(seed):
            model = ViTModel(dino_config(**(_TINY_DINO if tiny else {})), add_pooling_layer=False)
        return cls(model, backend=BACKEND_RANDOM, batch_size=batch_size)


# ----------------------------------------------------------------------------------------------
# OpenAI CLIP image tower


def clip_vision_config(
    hidden_size: int,
    num_hidden_layers: int,
    num_attention_heads: int,
    patch_size: int,
    projection_dim: int,
    image_size: int = 224,
    intermediate_size: int | None = None,
) -> CLIPVisionConfig:
    """openai/CLIP's VisionTransformer in transformers' terms (QuickGELU, LayerNorm eps 1e-5, MLP 4x)."""
    return CLIPVisionConfig(
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 4 * hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        patch_size=patch_size,
        image_size=image_size,
        projection_dim=projection_dim,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
    )


def clip_config_from_state_dict(
    state: Mapping[str, torch.Tensor], num_heads: int | None = None
) -> CLIPVisionConfig:
    """Architecture from the visual.* shapes, with openai/CLIP's rule heads = width // 64."""
    width, _, patch, _ = state["visual.conv1.weight"].shape
    grid = math.isqrt(state["visual.positional_embedding"].shape[0] - 1)
    return clip_vision_config(
        hidden_size=width,
        num_hidden_layers=_num_blocks(state, "visual.transformer.resblocks."),
        num_attention_heads=num_heads or width // 64,
        patch_size=patch,
        projection_dim=state["visual.proj"].shape[1],
        image_size=patch * grid,
        intermediate_size=state["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
    )


def convert_clip_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """openai/CLIP visual.* keys -> transformers CLIPVisionModelWithProjection keys (text tower dropped)."""
    v, m = "visual.", "vision_model."
    out = {
        m + "embeddings.class_embedding": state[v + "class_embedding"],
        m + "embeddings.position_embedding.weight": state[v + "positional_embedding"],
        m + "embeddings.patch_embedding.weight": state[v + "conv1.weight"],
        # CLIP applies x @ proj with proj [width, embed]; nn.Linear stores [embed, width].
        "visual_projection.weight": state[v + "proj"].t().contiguous(),
    }
    _renamed(out, state, v, m, {"ln_pre": "pre_layrnorm", "ln_post": "post_layernorm"})
    for i in range(_num_blocks(state, v + "transformer.resblocks.")):
        src, dst = f"{v}transformer.resblocks.{i}.", f"{m}encoder.layers.{i}."
        # nn.MultiheadAttention packs q | k | v row-wise in in_proj_{weight,bias} [3W, W].
        _split_qkv(out, state, f"{src}attn.in_proj_", f"{dst}self_attn.")
        pairs = {
            "attn.out_proj": "self_attn.out_proj",
            "ln_1": "layer_norm1",
            "ln_2": "layer_norm2",
            "mlp.c_fc": "mlp.fc1",
            "mlp.c_proj": "mlp.fc2",
        }
        _renamed(out, state, src, dst, pairs)
    return out


class ClipImageEncoder(ImageFeatureExtractor):
    """CLIP image embeddings: the projected, post-LayerNorm CLS token = openai `model.encode_image`."""

    def __init__(
        self,
        model: CLIPVisionModelWithProjection,
        name: str = "ViT-B-32",
        backend: str = BACKEND_RANDOM,
        batch_size: int = 32,
    ) -> None:
        super().__init__(backend, batch_size)
        self.model = model.eval()
        self.name = name
        self.feature_dim = model.config.projection_dim

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        return clip_preprocess(frames, self.model.config.image_size)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """[N, 3, 224, 224] normalised -> [N, embed] image embeddings (not normalised)."""
        return self.model(pixel_values=pixel_values).image_embeds

    @classmethod
    def from_state_dict(
        cls,
        state: Mapping[str, torch.Tensor],
        name: str = "ViT-B-32",
        num_heads: int | None = None,
        backend: str = BACKEND_OFFICIAL,
        batch_size: int = 32,
    ) -> ClipImageEncoder:
        model = CLIPVisionModelWithProjection(clip_config_from_state_dict(state, num_heads))
        _load_converted(model, convert_clip_state_dict(state))
        return cls(model, name=name, backend=backend, batch_size=batch_size)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike, name: str = "ViT-B-32", batch_size: int = 32
    ) -> ClipImageEncoder:
        """An openai/CLIP checkpoint: TorchScript archive as published, or a plain state dict."""
        return cls.from_state_dict(load_checkpoint(path), name=name, batch_size=batch_size)

    @classmethod
    def from_cache(
        cls,
        name: str = "ViT-B-32",
        cache_dir: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
    ) -> ClipImageEncoder:
        """The official CLIP tower from VBENCH_CACHE_DIR/clip_model/{name}.pt."""
        if name not in CLIP_WEIGHTS:
            raise ValueError(f"unknown CLIP model {name!r}; VBench uses one of {sorted(CLIP_WEIGHTS)}")
        (path,) = require_weights([CLIP_WEIGHTS[name]], cache_dir, f"CLIP {name}")
        return cls.from_file(path, name=name, batch_size=batch_size).to(device)

    @classmethod
    def random(
        cls, name: str = "ViT-B-32", seed: int = 0, tiny: bool = False, batch_size: int = 32
    ) -> ClipImageEncoder:
        """Random weights with the official architecture of `name`, or a tiny 2-layer tower if tiny."""
        if name not in CLIP_ARCHS:
            raise ValueError(f"unknown CLIP model {name!r}; choose one of {sorted(CLIP_ARCHS)}")
        with _seeded(seed):
            model = CLIPVisionModelWithProjection(
                clip_vision_config(**(_TINY_CLIP if tiny else CLIP_ARCHS[name]))
            )
        return cls(model, name=name, backend=BACKEND_RANDOM, batch_size=batch_size)


# ----------------------------------------------------------------------------------------------
# LAION aesthetic predictor v1


class AestheticHead(nn.Linear):
    """LAION aesthetic predictor v1: a linear map from L2-normalised CLIP ViT-L/14 embeddings to 1-10."""

    def __init__(self, in_features: int = 768, backend: str = BACKEND_RANDOM) -> None:
        super().__init__(in_features, 1)
        self.backend = backend

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> AestheticHead:
        state = load_checkpoint(path)
        head = cls(state["weight"].shape[1], backend=BACKEND_OFFICIAL)
        head.load_state_dict(state)
        return head.eval()

    @classmethod
    def from_cache(
        cls, cache_dir: str | os.PathLike | None = None, device: str | torch.device = "cpu"
    ) -> AestheticHead:
        """The official head from VBENCH_CACHE_DIR/aesthetic_model/emb_reader/sa_0_4_vit_l_14_linear.pth."""
        (path,) = require_weights([AESTHETIC_WEIGHTS], cache_dir, "LAION aesthetic head")
        return cls.from_file(path).to(device)

    @classmethod
    def random(cls, seed: int = 0, in_features: int = 768) -> AestheticHead:
        with _seeded(seed):
            head = cls(in_features, backend=BACKEND_RANDOM)
        return head.eval()
