"""SVI-Talk's audio conditioning: MultiTalk's audio projection and per-block audio cross-attention,
attached to diffusers' `WanTransformer3DModel` as an `svi.model.adapters.Adapter`.

    adapter = AudioAdapter.for_transformer(transformer, audio_layers=12, audio_dim=768).attach(transformer)
    load_multitalk(adapter, "weights/multitalk.safetensors")       # MultiTalk's trained audio weights
    with conditioning(transformer, audio=windows):                  # [B, F_pix, 5, L, D] (svi.conditions.audio)
        v = transformer(x, t, context, image_context, return_dict=False)[0]

What it computes (MultiTalk's block, which the official SVI-Talk DiT uses unchanged):
- `AudioProjection` (MultiTalk's AudioProjModel) turns each pixel frame's window of wav2vec2 rows
  into tokens per *latent* frame: latent frame 0 takes pixel frame 0's window (5 rows), every later
  latent frame takes its 4 pixel frames' rows (first frame's i-2..i, the middle two frames' centre
  row, last frame's i..i+2: 8 rows); two ReLU MLP layers to 512, then 32 tokens of 768, LayerNorm.
- In every transformer block, after the text/image cross-attention, `x = x + attn_a(norm_x(x), tokens)`
  where `attn_a` (MultiTalk's SingleStreamAttention) takes queries from the video tokens and keys and
  values from the audio tokens, each latent frame's h*w tokens attending only to its own 32 audio
  tokens. Linear layers with bias, no q/k norm; `norm_x` is an affine LayerNorm computed in fp32.
  Hooks give that order on diffusers' block: a hook on `norm2` records the hidden state h entering
  the cross-attention, and a hook on `attn2` returns text_out + attn_a(norm_x(h + text_out)), so
  the block's own residual makes h + text_out + audio_out.

Officially (train_svi_talk.py) the audio modules come from MultiTalk's checkpoint and stay frozen
under the LoRA; training replaces the audio windows by zeros on 10% of steps (`drop_audio`), with
the fixed prompt "the person is speaking". Inference combines three passes (svi.generation.sampling.guidance_passes with the talk variant's two
scales, text 2 and audio 5).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from svi.model.adapters import Adapter

TALK_PROMPT = "the person is speaking"  # the official training prompt (train_svi_talk.py)
INFERENCE_PROMPT = "a person is talking"  # the official test prompt (test_svi_talk.py)
AUDIO_DROP_PROB = 0.1
VAE_SCALE = 4  # pixel frames per latent frame after the first
INTERMEDIATE_DIM = 512
OUTPUT_DIM = 768
CONTEXT_TOKENS = 32

MULTITALK_REPO = "MeiGen-AI/MeiGen-MultiTalk"
MULTITALK_HELP = (
    "MultiTalk's audio weights are the keys audio_proj.*, blocks.N.audio_cross_attn.* and blocks.N.norm_x.* "
    f"of multitalk.safetensors in https://huggingface.co/{MULTITALK_REPO} (a file of those keys alone, or a "
    "full MultiTalk DiT checkpoint: .safetensors, .pth/.bin, or its .safetensors.index.json with the shards beside it)"
)


class MultiTalkWeightsError(ValueError):
    pass


# ---------------------------------------------------------------------------------------------
# Pure functions


def group_windows(windows: torch.Tensor, vae_scale: int = VAE_SCALE) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel-frame windows -> the rows each latent frame sees (MultiTalk's split).

    windows [B, F_pix, C, L, D], F_pix = 1 + vae_scale * (F_lat - 1), C odd ->
    first [B, 1, C, L, D] (pixel frame 0's window) and
    later [B, F_lat - 1, C + vae_scale - 1, L, D]: per group of vae_scale pixel frames, the first frame's
    rows up to its centre, each middle frame's centre row, the last frame's rows from its centre."""
    b, f_pix, c, *rest = windows.shape
    if vae_scale < 2 or (f_pix - 1) % vae_scale != 0:
        raise ValueError(
            f"{f_pix} pixel frames do not make latent frames of {vae_scale} (need 1 + {vae_scale}k)"
        )
    mid = c // 2
    groups = windows[:, 1:].reshape(b, (f_pix - 1) // vae_scale, vae_scale, c, *rest)
    later = torch.cat(
        [groups[:, :, 0, : mid + 1], groups[:, :, 1:-1, mid], groups[:, :, -1, mid:]], dim=2
    )  # [B, F_lat - 1, (mid + 1) + (vae_scale - 2) + (c - mid), L, D]
    return windows[:, :1], later


def drop_audio(
    windows: torch.Tensor, p: float = AUDIO_DROP_PROB, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training-time audio dropout: each row independently with probability p gets the null audio
    (all-zero wav2vec2 windows, what the official code feeds the projection; the projected tokens are
    then not zero, the projection's biases pass). Returns (windows, dropped [B] bool)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"drop probability must be in [0, 1], got {p}")
    draws = torch.rand(windows.shape[0], generator=generator)  # on CPU: reproducible on every device
    dropped = draws < p
    mask = dropped.to(windows.device).view(-1, *([1] * (windows.ndim - 1)))
    return torch.where(mask, torch.zeros((), dtype=windows.dtype, device=windows.device), windows), dropped


# ---------------------------------------------------------------------------------------------
# Modules


class FP32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 and cast back (Wan's norms; MultiTalk's norm_x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = None if self.weight is None else self.weight.float()
        b = None if self.bias is None else self.bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, w, b, self.eps).to(x.dtype)


class AudioProjection(nn.Module):
    """MultiTalk's AudioProjModel: windows [B, F_pix, C, L, D] -> tokens [B, F_lat, tokens, D_out]."""

    def __init__(
        self,
        audio_layers: int = 12,
        audio_dim: int = 768,
        context: int = 5,
        vae_scale: int = VAE_SCALE,
        intermediate_dim: int = INTERMEDIATE_DIM,
        output_dim: int = OUTPUT_DIM,
        context_tokens: int = CONTEXT_TOKENS,
        norm_output: bool = True,
    ):
        super().__init__()
        self.vae_scale = vae_scale
        self.context_tokens = context_tokens
        self.output_dim = output_dim
        self.proj1 = nn.Linear(context * audio_layers * audio_dim, intermediate_dim)  # latent frame 0
        self.proj1_vf = nn.Linear((context + vae_scale - 1) * audio_layers * audio_dim, intermediate_dim)
        self.proj2 = nn.Linear(intermediate_dim, intermediate_dim)
        self.proj3 = nn.Linear(intermediate_dim, context_tokens * output_dim)
        self.norm = nn.LayerNorm(output_dim) if norm_output else nn.Identity()

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        first, later = group_windows(windows, self.vae_scale)
        b = windows.shape[0]
        first = F.relu(self.proj1(first.flatten(2)))  # [B, 1, I]
        later = F.relu(self.proj1_vf(later.flatten(2)))  # [B, F_lat - 1, I]
        h = F.relu(self.proj2(torch.cat([first, later], dim=1)))  # [B, F_lat, I]
        tokens = self.proj3(h).view(b, h.shape[1], self.context_tokens, self.output_dim)
        return self.norm(tokens)  # [B, F_lat, tokens, D_out]


class AudioCrossAttention(nn.Module):
    """MultiTalk's SingleStreamAttention (one speaker): per latent frame, video queries, audio keys/values."""

    def __init__(self, dim: int, context_dim: int, heads: int):
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.q_linear = nn.Linear(dim, dim)
        self.kv_linear = nn.Linear(context_dim, 2 * dim)  # output [k | v], as MultiTalk's weights lay it out
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """x [B, F * S, dim] (frame-major video tokens), tokens [B, F, T, context_dim] -> [B, F * S, dim]."""
        b, n, dim = x.shape
        frames, num_tokens = tokens.shape[1], tokens.shape[2]
        if n % frames != 0:
            raise ValueError(f"{n} video tokens do not split into {frames} latent frames")
        s, hd = n // frames, dim // self.heads
        q = self.q_linear(x).view(b * frames, s, self.heads, hd).transpose(1, 2)  # [B F, H, S, hd]
        kv = self.kv_linear(tokens.to(x.dtype)).view(b * frames, num_tokens, 2, self.heads, hd)
        k, v = kv.unbind(2)  # [B F, T, H, hd] each
        out = F.scaled_dot_product_attention(q, k.transpose(1, 2), v.transpose(1, 2))  # [B F, H, S, hd]
        return self.proj(out.transpose(1, 2).reshape(b, n, dim))


class AudioBlock(nn.Module):
    """The audio modules of one transformer block (MultiTalk names: audio_cross_attn, norm_x)."""

    def __init__(self, dim: int, context_dim: int, heads: int, eps: float = 1e-6):
        super().__init__()
        self.audio_cross_attn = AudioCrossAttention(dim, context_dim, heads)
        self.norm_x = FP32LayerNorm(dim, eps=eps, elementwise_affine=True)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.audio_cross_attn(self.norm_x(x), tokens)


class AudioAdapter(Adapter):
    """MultiTalk's audio conditioning on a Wan transformer. Input: windows [B, F_pix, C, L, D]."""

    name = "audio"
    trainable = False  # officially frozen under the LoRA

    def __init__(
        self,
        num_blocks: int,
        dim: int,
        heads: int,
        audio_layers: int = 12,
        audio_dim: int = 768,
        context: int = 5,
        vae_scale: int = VAE_SCALE,
        intermediate_dim: int = INTERMEDIATE_DIM,
        output_dim: int = OUTPUT_DIM,
        context_tokens: int = CONTEXT_TOKENS,
        eps: float = 1e-6,
    ):
        super().__init__()
        self.audio_proj = AudioProjection(
            audio_layers, audio_dim, context, vae_scale, intermediate_dim, output_dim, context_tokens
        )
        self.blocks = nn.ModuleList(AudioBlock(dim, output_dim, heads, eps) for _ in range(num_blocks))
        # Per forward: the latent grid, the projected tokens, each block's hidden state before attn2.
        self._grid: tuple[int, int, int] | None = None
        self._tokens: torch.Tensor | None = None
        self._hidden: dict[int, torch.Tensor] = {}

    @classmethod
    def for_transformer(
        cls, transformer: nn.Module, audio_layers: int = 12, audio_dim: int = 768, **sizes
    ) -> AudioAdapter:
        """An adapter sized for `transformer` (its blocks, width, heads, eps) and the audio features' L, D."""
        cfg = transformer.config
        return cls(
            num_blocks=cfg.num_layers,
            dim=cfg.num_attention_heads * cfg.attention_head_dim,
            heads=cfg.num_attention_heads,
            audio_layers=audio_layers,
            audio_dim=audio_dim,
            eps=cfg.eps,
            **sizes,
        )

    def export_state_dict(self) -> dict[str, torch.Tensor]:
        """Frozen officially (nothing to export); when pretrained here (condition.train_adapter, the toy
        world's MultiTalk), its weights under MultiTalk's names, which `load_multitalk` reads back."""
        if not self.trainable:
            return {}
        return {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}

    def take_exported(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        audio = {k: v for k, v in state_dict.items() if is_audio_key(_strip(k))}
        if not audio:
            return state_dict
        load_multitalk(self, audio)
        return {k: v for k, v in state_dict.items() if k not in audio}

    def _install(self, transformer: nn.Module) -> Iterator:
        blocks = transformer.blocks
        if len(blocks) != len(self.blocks):
            raise ValueError(
                f"the adapter has {len(self.blocks)} audio blocks, the transformer {len(blocks)}"
            )
        patch = tuple(transformer.config.patch_size)
        yield transformer.register_forward_pre_hook(
            lambda module, args, kwargs: self._begin(args[0] if args else kwargs["hidden_states"], patch),
            with_kwargs=True,
        )
        for i, block in enumerate(blocks):
            yield block.norm2.register_forward_hook(lambda m, args, out, i=i: self._record(i, args[0]))
            yield block.attn2.register_forward_hook(lambda m, args, out, i=i: self._add_audio(i, out))

    def _begin(self, hidden_states: torch.Tensor, patch: tuple[int, int, int]) -> None:
        b, _, f, h, w = hidden_states.shape  # [B, C, F_lat, H, W]
        windows = self.current_input()
        if windows.ndim != 5 or windows.shape[0] != b:
            raise ValueError(
                f"audio input must be windows [B={b}, F_pix, context, L, D] (svi.conditions.audio.audio_windows per row), "
                f"got {tuple(windows.shape)}"
            )
        self._grid = (f // patch[0], h // patch[1], w // patch[2])
        param = self.audio_proj.proj1.weight
        # Kept until the next forward: gradient checkpointing re-runs the blocks during backward.
        # [B, F_lat, T, D_out]; projected once per clip when sampling (the audio is the same every step)
        self._tokens = self.encoded(lambda w: self.audio_proj(w.to(param.device, param.dtype)))
        if self._tokens.shape[1] != self._grid[0]:
            raise ValueError(
                f"{windows.shape[1]} audio frames make {self._tokens.shape[1]} latent frames, the video has "
                f"{self._grid[0]}: give one window per pixel frame of the clip"
            )

    def _record(self, i: int, hidden: torch.Tensor) -> None:
        self._hidden[i] = hidden

    def _add_audio(self, i: int, text_out: torch.Tensor) -> torch.Tensor:
        h = self._hidden.pop(i).to(text_out.dtype)
        return text_out + self.blocks[i](h + text_out, self._tokens)


# ---------------------------------------------------------------------------------------------
# MultiTalk weights

# Prefixes a checkpoint may put before MultiTalk's own names.
_PREFIXES = ("model.", "diffusion_model.", "module.")


def is_audio_key(key: str) -> bool:
    """MultiTalk's audio parameters: audio_proj.*, blocks.N.audio_cross_attn.*, blocks.N.norm_x.*."""
    if key.startswith("audio_proj."):
        return True
    parts = key.split(".")
    return (
        len(parts) > 3
        and parts[0] == "blocks"
        and parts[1].isdigit()
        and parts[2] in ("audio_cross_attn", "norm_x")
    )


def _strip(key: str) -> str:
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def _read_audio_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The audio tensors of one checkpoint file, by MultiTalk name (safetensors: only those are read)."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return {_strip(k): f.get_tensor(k) for k in f.keys() if is_audio_key(_strip(k))}
    try:  # memory-mapped: a full DiT checkpoint is not read into RAM for its audio keys
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # files from the legacy (non-zip) torch.save format cannot be mapped
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return {_strip(k): v for k, v in state.items() if is_audio_key(_strip(k))}


def read_multitalk(path: str | Path) -> dict[str, torch.Tensor]:
    """MultiTalk's audio tensors from a .safetensors, .pth/.pt/.bin, or a sharded *.index.json."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MultiTalk weights not found: {path}. {MULTITALK_HELP}")
    if path.name.endswith(".json"):
        weight_map = json.loads(path.read_text()).get("weight_map")
        if not isinstance(weight_map, dict):
            raise MultiTalkWeightsError(f"{path} has no weight_map; is it a sharded checkpoint index?")
        shards = sorted({f for k, f in weight_map.items() if is_audio_key(_strip(k))})
        missing = [s for s in shards if not (path.parent / s).is_file()]
        if missing:
            raise FileNotFoundError(f"{path} names shard(s) not found beside it: {', '.join(missing)}")
        tensors: dict[str, torch.Tensor] = {}
        for shard in shards:
            tensors.update(_read_audio_tensors(path.parent / shard))
        return tensors
    return _read_audio_tensors(path)


def load_multitalk(adapter: AudioAdapter, path: str | Path | dict[str, torch.Tensor]) -> int:
    """Load MultiTalk's audio weights (a file, or a state dict) into `adapter` (base DiT keys are
    ignored). Missing or unexpected audio keys and shape mismatches are errors. Returns the tensors loaded."""
    if isinstance(path, dict):
        tensors = {_strip(k): v for k, v in path.items() if is_audio_key(_strip(k))}
        path = "the state dict"
    else:
        tensors = read_multitalk(path)
    if not tensors:
        raise MultiTalkWeightsError(f"no audio keys in {path}. {MULTITALK_HELP}")
    ours = adapter.state_dict()
    missing = sorted(set(ours) - set(tensors))
    unexpected = sorted(set(tensors) - set(ours))
    if missing or unexpected:
        lines = [f"{path} does not match the audio adapter ({len(adapter.blocks)} blocks):"]
        if missing:
            lines.append(
                f"  missing {len(missing)}: {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}"
            )
        if unexpected:
            shown = ", ".join(unexpected[:6]) + (" ..." if len(unexpected) > 6 else "")
            lines.append(f"  unexpected {len(unexpected)}: {shown}")
        lines.append("Check that the file belongs to this base model (same number of blocks).")
        raise MultiTalkWeightsError("\n".join(lines))
    wrong = [
        (k, tuple(v.shape), tuple(ours[k].shape)) for k, v in tensors.items() if v.shape != ours[k].shape
    ]
    if wrong:
        shown = "; ".join(f"{k}: file {a}, adapter {b}" for k, a, b in wrong[:4])
        raise MultiTalkWeightsError(
            f"{len(wrong)} shape mismatch(es) loading {path}: {shown}. The adapter's sizes (transformer width, "
            "audio_layers, audio_dim, context, output_dim, context_tokens) must be MultiTalk's: 12 x 768 "
            "wav2vec2 features, 5-frame windows, 32 tokens of 768"
        )
    with torch.no_grad():
        for key, value in tensors.items():
            ours[key].copy_(value.to(ours[key].dtype))
    return len(tensors)
