"""The Wan 2.1 image-to-video backbone, through diffusers' own classes.

Three presets share every code path:
- `tiny`: random initialisation of the same classes at a few thousand parameters, built in code
  (no download), for tests and CPU smoke runs.
- `toy`: the same classes at ~3M parameters, pretrained on the synthetic toy world
  (`harness run pretrain_toy`, see svi/pretrain.py). The pretrained folder is committed at
  `svi/weights/toy` and loads exactly like the real weights (diffusers `from_pretrained`).
- `wan2.1-i2v-14b`: a local diffusers-format folder (`--weights DIR` or `SVI_WEIGHTS`), as published
  in the Wan-AI/Wan2.1-I2V-14B-480P-Diffusers repository.

`Backbone` bundles the components and the frozen encoders' helpers the trainer and generator need:
text -> umT5 context, image -> CLIP feature, pixels <-> normalised VAE latents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from transformers import (
    CLIPVisionConfig,
    CLIPVisionModel,
    PreTrainedTokenizerBase,
    UMT5Config,
    UMT5EncoderModel,
)

PRESETS = ("tiny", "toy", "wan2.1-i2v-14b")
WEIGHTS_ENV = "SVI_WEIGHTS"
# The committed toy base model (a diffusers-format Wan I2V folder, written by svi.pretrain).
TOY_WEIGHTS = Path(__file__).parent / "weights" / "toy"

try:  # transformers >= 5: the PIL processor is the one that works without torchvision
    from transformers import CLIPImageProcessorPil as CLIPImageProcessor
except ImportError:  # pragma: no cover - older transformers
    from transformers import CLIPImageProcessor
WAN_I2V_REPO = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"

# What a diffusers-format Wan I2V folder must hold: (sub-folder, files of which at least one must exist).
REQUIRED_FILES: dict[str, tuple[str, ...]] = {
    "transformer": ("config.json",),
    "transformer/*": (
        "diffusion_pytorch_model.safetensors",
        "diffusion_pytorch_model.safetensors.index.json",
    ),
    "vae": ("config.json",),
    "vae/*": ("diffusion_pytorch_model.safetensors",),
    "text_encoder": ("config.json",),
    "text_encoder/*": ("model.safetensors", "model.safetensors.index.json"),
    "tokenizer": ("tokenizer_config.json",),
    "tokenizer/*": ("tokenizer.json", "spiece.model"),
    "image_encoder": ("config.json",),
    "image_encoder/*": ("model.safetensors",),
    "image_processor": ("preprocessor_config.json",),
}


class WeightsNotFoundError(FileNotFoundError):
    pass


# ---------------------------------------------------------------------------------------------
# Tokenizer without a downloaded vocabulary (tiny preset): UTF-8 bytes are the tokens.


def byte_tokenizer(model_max_length: int = 64) -> PreTrainedTokenizerBase:
    """A umT5-style tokenizer (pad=0, eos=1 appended, unk=2) whose vocabulary is the 256 bytes."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]
    alphabet = pre_tokenizers.ByteLevel.alphabet()  # the 256 printable stand-ins for bytes
    vocab = {tok: i for i, tok in enumerate(specials + sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=model_max_length,
    )


# ---------------------------------------------------------------------------------------------


@dataclass
class Backbone:
    """Wan I2V components. Only the transformer is trained; the rest stay frozen."""

    transformer: WanTransformer3DModel
    vae: AutoencoderKLWan
    text_encoder: UMT5EncoderModel
    tokenizer: PreTrainedTokenizerBase
    image_encoder: CLIPVisionModel | None = None
    image_processor: CLIPImageProcessor | None = None
    max_text_tokens: int = 512
    preset: str = "tiny"

    def __post_init__(self) -> None:
        # Frozen encoders are always in eval mode: umT5 has dropout, which would make the text
        # context (and so every sample) random.
        for m in self.frozen_modules():
            m.eval().requires_grad_(False)

    @property
    def temporal_ratio(self) -> int:
        return self.vae.config.scale_factor_temporal

    @property
    def spatial_ratio(self) -> int:
        return self.vae.config.scale_factor_spatial

    @property
    def latent_channels(self) -> int:
        return self.vae.config.z_dim

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """[C, F_lat, h, w] of a clip of num_frames (4k+1) pixel frames."""
        return (
            self.latent_channels,
            (num_frames - 1) // self.temporal_ratio + 1,
            height // self.spatial_ratio,
            width // self.spatial_ratio,
        )

    def frozen_modules(self) -> list[torch.nn.Module]:
        mods = [self.vae, self.text_encoder, self.image_encoder]
        return [m for m in mods if m is not None]

    def to(self, device: torch.device | str, encoder_dtype: torch.dtype = torch.float32) -> Backbone:
        """Move everything to `device`; frozen encoders in `encoder_dtype` and in eval mode."""
        self.transformer.to(device)
        for m in self.frozen_modules():
            m.to(device).eval().requires_grad_(False)
            if any(p.dtype != encoder_dtype for p in m.parameters()):
                m.to(dtype=encoder_dtype)
        return self

    # -- frozen encoders ------------------------------------------------------------------------

    @torch.no_grad()
    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        """umT5 context, zero-padded after each prompt's tokens as Wan does. -> [B, L, D]."""
        max_len = min(self.max_text_tokens, self.tokenizer.model_max_length)
        enc = self.tokenizer(
            list(prompts),
            padding="max_length",
            max_length=max_len,
            truncation=True,
            add_special_tokens=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        device = self.text_encoder.device
        mask = enc.attention_mask.to(device)
        hidden = self.text_encoder(enc.input_ids.to(device), mask).last_hidden_state  # [B, L, D]
        return hidden * mask.unsqueeze(-1).to(hidden.dtype)

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor) -> torch.Tensor | None:
        """CLIP penultimate-layer tokens of images [B, 3, H, W] in [-1, 1] -> [B, N, D] (None without CLIP)."""
        if self.image_encoder is None:
            return None
        pixels = ((images.float().clamp(-1, 1) + 1) / 2).cpu()
        inputs = self.image_processor(images=list(pixels), return_tensors="pt", do_rescale=False)
        pixel_values = inputs.pixel_values.to(self.image_encoder.device, self.image_encoder.dtype)
        out = self.image_encoder(pixel_values=pixel_values, output_hidden_states=True)
        return out.hidden_states[-2]

    def _latent_stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.latent_channels
        mean = torch.tensor(self.vae.config.latents_mean, device=like.device, dtype=like.dtype)
        std = torch.tensor(self.vae.config.latents_std, device=like.device, dtype=like.dtype)
        return mean.view(1, c, 1, 1, 1), std.view(1, c, 1, 1, 1)

    @torch.no_grad()
    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """Pixels [B, 3, F, H, W] in [-1, 1] -> normalised latents [B, 16, F_lat, h, w] (posterior mode)."""
        vae_dtype = next(self.vae.parameters()).dtype
        mu = self.vae.encode(video.to(self.vae.device, vae_dtype)).latent_dist.mode()
        mean, std = self._latent_stats(mu)
        return (mu - mean) / std

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents [B, 16, F_lat, h, w] -> pixels [B, 3, F, H, W] in [-1, 1]."""
        vae_dtype = next(self.vae.parameters()).dtype
        z = latents.to(self.vae.device, vae_dtype)
        mean, std = self._latent_stats(z)
        return self.vae.decode(z * std + mean).sample.clamp(-1, 1)


# ---------------------------------------------------------------------------------------------
# Presets


@dataclass(frozen=True)
class SmallArch:
    """Sizes of a small random-initialised Wan I2V backbone (the classes and wiring are the 14B model's)."""

    heads: int  # DiT attention heads
    head_dim: int
    ffn_dim: int
    layers: int  # DiT blocks
    image_kv_dim: int  # added_kv_proj_dim: the CLIP image tokens' key/value width
    rope_len: int
    vae_base: int
    vae_mult: tuple[int, ...]
    text_dim: int  # umT5 d_model (2 layers, 4 heads, 259 byte ids)
    text_kv: int
    text_ffn: int
    text_buckets: int
    clip_dim: int  # CLIP vision width (2 layers, 4 heads, 8 px patches)
    clip_ffn: int
    image_size: int
    max_text_tokens: int


# tiny: a few thousand parameters, for tests; a 9 x 32 x 32 clip gives latents [16, 3, 4, 4].
TINY = SmallArch(
    heads=2, head_dim=12, ffn_dim=32, layers=2, image_kv_dim=24, rope_len=32, vae_base=3,
    vae_mult=(1, 1, 1, 1), text_dim=32, text_kv=8, text_ffn=64, text_buckets=8, clip_dim=32,
    clip_ffn=64, image_size=32, max_text_tokens=64,
)  # fmt: skip
# toy: 64 x 64 clips of 17 frames (latents [16, 5, 8, 8], 80 tokens after 2 x 2 patches), a 6-block DiT
# of width 128; what `svi.pretrain` starts from.
TOY = SmallArch(
    heads=4, head_dim=32, ffn_dim=512, layers=6, image_kv_dim=128, rope_len=64, vae_base=16,
    vae_mult=(1, 2, 2, 2), text_dim=64, text_kv=16, text_ffn=128, text_buckets=16, clip_dim=64,
    clip_ffn=128, image_size=64, max_text_tokens=160,
)  # fmt: skip


def build_small(arch: SmallArch, preset: str, seed: int = 0, with_image_encoder: bool = True) -> Backbone:
    """Random-initialised Wan I2V components at a small size: a VAE with Wan's 8x spatial and 4x
    temporal compression, the I2V DiT, and small umT5 (byte tokenizer, no vocabulary download) and
    CLIP encoders. In the toy preset only the VAE and the DiT are trained; the text and image encoders
    keep their seeded random initialisation, which still gives the DiT distinct, deterministic features
    per prompt and image to attend to."""
    torch.manual_seed(seed)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=arch.heads,
        attention_head_dim=arch.head_dim,
        in_channels=36,  # 16 noisy latent + 4 mask + 16 condition latent
        out_channels=16,
        text_dim=arch.text_dim,
        freq_dim=256,
        ffn_dim=arch.ffn_dim,
        num_layers=arch.layers,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        image_dim=arch.clip_dim if with_image_encoder else None,
        added_kv_proj_dim=arch.image_kv_dim if with_image_encoder else None,
        rope_max_seq_len=arch.rope_len,
    )
    vae = AutoencoderKLWan(
        base_dim=arch.vae_base,
        z_dim=16,
        dim_mult=list(arch.vae_mult),
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )
    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=259,
            d_model=arch.text_dim,
            d_kv=arch.text_kv,
            d_ff=arch.text_ffn,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=arch.text_buckets,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )
    image_encoder = image_processor = None
    if with_image_encoder:
        image_encoder = CLIPVisionModel(
            CLIPVisionConfig(
                hidden_size=arch.clip_dim,
                intermediate_size=arch.clip_ffn,
                num_hidden_layers=2,
                num_attention_heads=4,
                image_size=arch.image_size,
                patch_size=8,
                projection_dim=arch.clip_dim,
            )
        )
        side = arch.image_size
        image_processor = CLIPImageProcessor(
            size={"shortest_edge": side}, crop_size={"height": side, "width": side}, resample=3
        )
    return Backbone(
        transformer=transformer,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=byte_tokenizer(model_max_length=arch.max_text_tokens),
        image_encoder=image_encoder,
        image_processor=image_processor,
        max_text_tokens=arch.max_text_tokens,
        preset=preset,
    )


def build_tiny(seed: int = 0, with_image_encoder: bool = True) -> Backbone:
    """The tiny preset: random initialisation at test size (clips of 4k+1 frames at multiples of 16 px)."""
    return build_small(TINY, "tiny", seed, with_image_encoder)


def build_toy(seed: int = 0) -> Backbone:
    """The toy preset's random initialisation: what `svi.pretrain` starts from."""
    return build_small(TOY, "toy", seed)


def save_backbone(bb: Backbone, folder: str | os.PathLike) -> Path:
    """Write every component as a diffusers-format Wan I2V folder (what `load_wan_i2v` reads)."""
    folder = Path(folder)
    bb.transformer.save_pretrained(folder / "transformer")
    bb.vae.save_pretrained(folder / "vae")
    bb.text_encoder.save_pretrained(folder / "text_encoder")
    bb.tokenizer.save_pretrained(folder / "tokenizer")
    if bb.image_encoder is not None:
        bb.image_encoder.save_pretrained(folder / "image_encoder")
        bb.image_processor.save_pretrained(folder / "image_processor")
    return folder


def resolve_weights(weights: str | os.PathLike | None) -> Path:
    """The weights folder from the argument or SVI_WEIGHTS, or an error saying how to provide it."""
    folder = weights or os.environ.get(WEIGHTS_ENV)
    if not folder:
        raise WeightsNotFoundError(
            "The wan2.1-i2v-14b preset needs a local weights folder: pass --weights DIR (model.weights in "
            f"a config) or set {WEIGHTS_ENV}=DIR.\n" + _how_to_download("DIR")
        )
    return Path(folder).expanduser()


def _how_to_download(folder: str) -> str:
    return (
        "On a machine with internet, fetch the diffusers-format weights with\n"
        f"    hf download {WAN_I2V_REPO} --local-dir {folder}\n"
        "(or `huggingface-cli download ...` with older huggingface_hub) and copy the folder here."
    )


def preset_weights(preset: str, weights: str | os.PathLike | None) -> Path | None:
    """The folder a preset loads: None for tiny (built in code); model.weights or the committed
    svi/weights/toy for toy; model.weights or SVI_WEIGHTS for wan2.1-i2v-14b (else an error saying how)."""
    if preset == "tiny":
        return None
    if preset == "toy":
        return Path(weights).expanduser() if weights else TOY_WEIGHTS
    return resolve_weights(weights)


def check_weights_folder(folder: Path, preset: str = "wan2.1-i2v-14b") -> None:
    """Raise WeightsNotFoundError listing every expected file that is missing."""
    missing = []
    if not folder.is_dir():
        missing = [f"{sub.rstrip('/*')}/{' or '.join(names)}" for sub, names in REQUIRED_FILES.items()]
    else:
        for sub, names in REQUIRED_FILES.items():
            d = folder / sub.rstrip("/*")
            if not any((d / n).is_file() for n in names):
                missing.append(f"{d.relative_to(folder)}/{' or '.join(names)}")
    if missing:
        head = f"{folder} does not exist" if not folder.is_dir() else f"{folder} is incomplete"
        expected = "\n".join(f"    {m}" for m in missing)
        if preset == "toy":
            what, how = (
                "toy base model",
                (
                    "The committed one lives in svi/weights/toy; `harness run pretrain_toy` trains a new one "
                    "(its output folder then goes to model.weights)."
                ),
            )
        else:
            what, how = "Wan 2.1 I2V weights", _how_to_download(str(folder))
        raise WeightsNotFoundError(f"{what} not found: {head}. Missing:\n{expected}\n{how}")


def load_wan_i2v(
    folder: Path,
    dtype: torch.dtype = torch.bfloat16,
    max_text_tokens: int = 512,
    preset: str = "wan2.1-i2v-14b",
) -> Backbone:
    """Load the components from a local diffusers-format folder (never from a hub)."""
    from transformers import AutoTokenizer

    check_weights_folder(folder, preset)
    kw = {"local_files_only": True}
    return Backbone(
        transformer=WanTransformer3DModel.from_pretrained(folder / "transformer", torch_dtype=dtype, **kw),
        vae=AutoencoderKLWan.from_pretrained(folder / "vae", torch_dtype=torch.float32, **kw),
        text_encoder=UMT5EncoderModel.from_pretrained(folder / "text_encoder", torch_dtype=dtype, **kw),
        tokenizer=AutoTokenizer.from_pretrained(folder / "tokenizer", **kw),
        image_encoder=CLIPVisionModel.from_pretrained(folder / "image_encoder", torch_dtype=dtype, **kw),
        image_processor=CLIPImageProcessor.from_pretrained(folder / "image_processor", **kw),
        max_text_tokens=max_text_tokens,
        preset=preset,
    )


def load_backbone(
    preset: str = "tiny",
    weights: str | os.PathLike | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    max_text_tokens: int = 512,
    attention: str = "sdpa",
    seed: int = 0,
) -> Backbone:
    """Build or load a preset's components (on CPU; call `.to(device)` after)."""
    if preset == "tiny":
        bb = build_tiny(seed=seed)
    elif preset in ("toy", "wan2.1-i2v-14b"):
        bb = load_wan_i2v(
            preset_weights(preset, weights), dtype=dtype, max_text_tokens=max_text_tokens, preset=preset
        )
    else:
        raise ValueError(f"unknown model preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if attention == "flash":
        try:
            import flash_attn  # noqa: F401
        except ImportError:
            raise ImportError(
                "model.attention=flash needs flash-attn: pip install 'svi-harness[gpu]' on a CUDA machine, "
                "or use model.attention=sdpa (the default)."
            ) from None
        bb.transformer.set_attention_backend("flash")
    return bb
