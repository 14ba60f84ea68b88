"""The Wan 2.1 image-to-video backbone, through diffusers' own classes.

`load_backbone(model_cfg, device=...)` is the one way to get a backbone from a config: it builds or
loads the preset's components (the table in svi/model/presets.py), decides the precision once
(`resolve_dtype`), places everything on the device and sets the attention kernel. Training
(svi.training.train), generation (`LongVideoGenerator.from_config`) and the harness all call it, so a model is
trained and evaluated with the same dtype and attention; `Backbone.settings()` records them.

Three presets share every code path:
- `tiny`: random initialisation of the same classes at a few thousand parameters, built in code
  (no download), for tests and CPU smoke runs.
- `toy`: the same classes at ~3M parameters, pretrained on the synthetic toy world
  (`harness run pretrain_toy`, see svi/training/pretrain.py). The pretrained folder is committed at
  `svi/weights/toy` and loads exactly like the real weights (diffusers `from_pretrained`).
- `wan2.1-i2v-14b`: a local diffusers-format folder (`--weights DIR` or `SVI_WEIGHTS`), as published
  in the Wan-AI/Wan2.1-I2V-14B-480P-Diffusers repository.
- `wan2.2-i2v-a14b` (SVI 2.0 / 2.0 Pro's base) and its test-size twin `tiny-a14b`: two experts,
  `transformer` (high noise) and `transformer_2` (low noise), no CLIP image encoder; the folder as in
  Wan-AI/Wan2.2-I2V-A14B-Diffusers. `Backbone.experts()` lists them; the sampler picks one per step
  by the boundary (svi.generation.sampling).
- `wan2.2-ti2v-5b` (the DevLog's 5B preview) and its test-size twin `tiny-ti2v`: one transformer taking
  the 48-channel latent alone, the Wan 2.2 VAE, no CLIP; an image replaces latent frame 0
  (`Backbone.first_latent`, svi/model/ti2v_condition.py); the folder as in Wan-AI/Wan2.2-TI2V-5B-Diffusers.

`Backbone` bundles the components and the frozen encoders' helpers the trainer and generator need:
text -> umT5 context, image -> CLIP feature, pixels <-> normalised VAE latents. `build_small`,
`build_tiny`, `build_toy`, `load_wan_i2v` and `save_backbone` are the lower-level pieces.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from transformers import (
    CLIPVisionConfig,
    CLIPVisionModel,
    PreTrainedTokenizerBase,
    UMT5Config,
    UMT5EncoderModel,
)

# The preset table and the weights-folder helpers live in svi/model/presets.py (torch-free); re-exported here.
from svi.model.context_attention import WAN_TEXT_TOKENS, merge_context_padding
from svi.model.presets import (  # noqa: F401
    EXPERT_FOLDERS,
    PRESETS,
    REQUIRED_FILES,
    TINY,
    TOY,
    TOY_WEIGHTS,
    WAN_I2V_REPO,
    WEIGHTS_ENV,
    SmallArch,
    WeightsNotFoundError,
    check_weights_folder,
    get_preset,
    preset_weights,
    resolve_weights,
    toy_world_of,
)

if TYPE_CHECKING:
    from svi.config import ConditionConfig, ModelConfig

try:  # transformers >= 5: the PIL processor is the one that works without torchvision
    from transformers import CLIPImageProcessorPil as CLIPImageProcessor
except ImportError:  # pragma: no cover - older transformers
    from transformers import CLIPImageProcessor


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

    transformer: WanTransformer3DModel  # the only one, or the high-noise expert (t >= the boundary)
    vae: AutoencoderKLWan
    text_encoder: UMT5EncoderModel
    tokenizer: PreTrainedTokenizerBase
    image_encoder: CLIPVisionModel | None = None
    image_processor: CLIPImageProcessor | None = None
    max_text_tokens: int = 512  # the prompt's token limit (longer prompts are cut)
    # The text context's length as the transformer receives it, zero-padded after the prompt's tokens:
    # Wan's 512 for real weights, whatever the token limit, because diffusers' Wan attention takes the
    # last 512 context tokens as text and the ones before them as the image's (transformer_wan.py,
    # `encoder_hidden_states.shape[1] - 512`). None: `max_text_tokens`, which the tiny and toy presets
    # use (the toy's is 512, so its image branch gets CLIP's tokens; the tiny's 64 finds none, and
    # CLIP's tokens join its text cross-attention).
    context_tokens: int | None = None
    preset: str = "tiny"
    toy_world: int | None = None  # the toy world a loaded toy folder was made for (presets.toy_world_of)
    # How it runs (set by load_backbone and LongVideoGenerator.from_config; the defaults are what the
    # lower-level builders give): the transformer's compute dtype, the attention kernel, and the scale
    # of a loaded LoRA (None: no LoRA loaded; a LoRA being trained is not "loaded").
    dtype: torch.dtype = torch.float32
    attention: str = "sdpa"
    lora_scale: float | None = None
    # Wan 2.2 A14B: the low-noise expert (t < the boundary); None for a one-transformer model.
    transformer_2: WanTransformer3DModel | None = None
    # SVI-Talk: the frozen wav2vec2 feature extractor (svi.conditions.audio.Wav2Vec2Features; svi.conditions.attach.attach).
    audio_encoder: object | None = None
    # prompt -> its token count, for every prompt longer than the text limit seen so far (each is said once)
    cut_prompts: dict[str, int] = field(default_factory=dict, repr=False)
    checked_prompts: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        # Frozen encoders are always in eval mode: umT5 has dropout, which would make the text
        # context (and so every sample) random.
        for m in self.frozen_modules():
            m.eval().requires_grad_(False)

    def settings(self) -> dict:
        """What decides its numbers besides the weights, as JSON (in video sidecars, backbone.json)."""
        return {
            "preset": self.preset,
            "dtype": str(self.dtype).removeprefix("torch."),
            "attention": self.attention,
            "lora_scale": self.lora_scale,
            **({"toy_world": self.toy_world} if self.toy_world is not None else {}),
        }

    @property
    def first_latent(self) -> bool:
        """Whether an image conditions by replacing latent frame 0 (Wan 2.2 TI2V) instead of through y."""
        from svi.model.ti2v_condition import replaces_first_latent

        return replaces_first_latent(self.transformer)

    def experts(self) -> list[WanTransformer3DModel]:
        """The transformers: [transformer] or [high-noise expert, low-noise expert]."""
        return [self.transformer] + ([self.transformer_2] if self.transformer_2 is not None else [])

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
        """Move everything to `device`; frozen encoders in `encoder_dtype` and in eval mode. (For
        backbones from the lower-level builders: `load_backbone` places its components itself.)"""
        for tf in self.experts():
            tf.to(device)
        for m in self.frozen_modules():
            m.to(device).eval().requires_grad_(False)
            if any(p.dtype != encoder_dtype for p in m.parameters()):
                m.to(dtype=encoder_dtype)
        return self

    # -- frozen encoders ------------------------------------------------------------------------

    @property
    def text_limit(self) -> int:
        """The most tokens of a prompt the text encoder reads; the rest is cut."""
        return min(self.max_text_tokens, self.tokenizer.model_max_length)

    def prompt_tokens(self, prompt: str) -> int:
        """The prompt's token count before the limit cuts it (special tokens included)."""
        return len(self.tokenizer(prompt, truncation=False, add_special_tokens=True)["input_ids"])

    def _note_cut(self, prompts: list[str]) -> None:
        limit = self.text_limit
        for p in prompts:
            if p in self.checked_prompts:
                continue
            self.checked_prompts.add(p)
            n = self.prompt_tokens(p)
            if n > limit:
                self.cut_prompts[p] = n
                logging.getLogger(__name__).warning(
                    "a prompt of %d tokens is cut to the text encoder's %d (it reads %r...)", n, limit, p[:60]
                )

    @torch.no_grad()
    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        """umT5 context, zero-padded after each prompt's tokens as Wan does. -> [B, L, D]. A prompt
        longer than `text_limit` is cut there, as Wan does; it is said once (a warning with its token
        count) and kept in `cut_prompts`, which the generator's sidecar records."""
        return self.text_features(prompts)

    def text_features(self, prompts: list[str]) -> torch.Tensor:
        """`encode_text` with gradients into umT5 (pretraining that trains it). -> [B, L, D]"""
        hidden, _ = self.text_hidden(prompts)
        pad = (self.context_tokens or self.text_limit) - hidden.shape[1]
        return torch.nn.functional.pad(hidden, (0, 0, 0, pad)) if pad > 0 else hidden  # [B, context, D]

    def text_hidden(self, prompts: list[str], longest: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """umT5's last hidden states, zero after each prompt's tokens, and the token mask, with gradients.
        -> ([B, L, D], [B, L]); L = `text_limit`, or with `longest` the longest prompt's tokens (the
        padding is masked out of the attention, so the prompts' own states do not depend on it)."""
        self._note_cut(list(prompts))
        enc = self.tokenizer(
            list(prompts),
            padding="longest" if longest else "max_length",
            max_length=self.text_limit,
            truncation=True,
            add_special_tokens=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        device = self.text_encoder.device
        mask = enc.attention_mask.to(device)
        hidden = self.text_encoder(enc.input_ids.to(device), mask).last_hidden_state  # [B, L, D]
        return hidden * mask.unsqueeze(-1).to(hidden.dtype), mask

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
        """Pixels [B, 3, F, H, W] in [-1, 1] -> normalised latents [B, C, F_lat, h, w] (posterior mode; C = 16, or 48 for Wan 2.2's VAE)."""
        vae_dtype = next(self.vae.parameters()).dtype
        pixels = video.to(self.vae.device, vae_dtype).contiguous(memory_format=vae_layout(self.vae))
        mu = self.vae.encode(pixels).latent_dist.mode().contiguous()
        mean, std = self._latent_stats(mu)
        return (mu - mean) / std

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents [B, C, F_lat, h, w] -> pixels [B, 3, F, H, W] in [-1, 1]."""
        vae_dtype = next(self.vae.parameters()).dtype
        z = latents.to(self.vae.device, vae_dtype)
        mean, std = self._latent_stats(z)
        z = (z * std + mean).contiguous(memory_format=vae_layout(self.vae))
        return self.vae.decode(z).sample.clamp(-1, 1).contiguous()


# ---------------------------------------------------------------------------------------------
# Building and loading


def small_transformer(
    arch: SmallArch, with_image_encoder: bool = True, channels: tuple[int, int] = (36, 16)
) -> WanTransformer3DModel:
    """The I2V DiT at a small size (random init from torch's global generator); without an image
    encoder it has no image branch (image_dim and added_kv_proj_dim None), as Wan 2.2 I2V's experts.
    channels: (in, out), Wan I2V's (36, 16) (16 noisy latent + 4 mask + 16 condition latent) or Wan 2.2
    TI2V's (48, 48) (the latent alone: `Preset.transformer_channels`)."""
    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=arch.heads,
        attention_head_dim=arch.head_dim,
        in_channels=channels[0],
        out_channels=channels[1],
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


def small_vae(arch: SmallArch, version: str = "2.1") -> AutoencoderKLWan:
    """A random-initialised Wan VAE at a small size, in its device layout. 2.1: Wan 2.1's layout (16
    latent channels, 8x spatial). 2.2: Wan 2.2's (AutoencoderKLWan as in Wan2.2-TI2V-5B-Diffusers' vae/:
    48 latent channels, residual down/up blocks, a 2 x 2 pixel patch over 12 channels, 16x spatial), with
    latents_mean 0 and latents_std 1 (a random VAE has no statistics to normalise by)."""
    common = {"base_dim": arch.vae_base, "dim_mult": list(arch.vae_mult), "num_res_blocks": 1}
    if version == "2.1":
        vae = AutoencoderKLWan(z_dim=16, temperal_downsample=[False, True, True], **common)
    elif version == "2.2":
        vae = AutoencoderKLWan(
            z_dim=48,
            temperal_downsample=[False, True, True],
            is_residual=True,
            in_channels=12,
            out_channels=12,
            patch_size=2,
            scale_factor_spatial=16,
            scale_factor_temporal=4,
            latents_mean=[0.0] * 48,
            latents_std=[1.0] * 48,
            **common,
        )
    else:
        raise ValueError(f"unknown Wan VAE version {version!r}; use 2.1 or 2.2")
    return lay_out_vae(vae)


def build_small(
    arch: SmallArch, preset: str, seed: int = 0, with_image_encoder: bool = True, experts: int = 1
) -> Backbone:
    """Random-initialised Wan I2V components at a small size: a VAE with Wan's 8x spatial and 4x
    temporal compression (Wan 2.2's 16x for a TI2V preset), the I2V DiT (TI2V: the latent alone in and out), and small umT5 (byte tokenizer, no vocabulary download) and
    CLIP encoders. In the toy preset only the VAE and the DiT are trained; the text and image encoders
    keep their seeded random initialisation, which still gives the DiT distinct, deterministic features
    per prompt and image to attend to. experts=2: a second DiT, the low-noise expert, drawn after
    everything else (so the first expert and the encoders are those of experts=1 at the same seed)."""
    torch.manual_seed(seed)
    p = PRESETS.get(preset)
    channels = p.transformer_channels if p is not None else (36, 16)
    transformer = small_transformer(arch, with_image_encoder, channels)
    vae = small_vae(arch, p.vae if p is not None else "2.1")
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
    transformer_2 = small_transformer(arch, with_image_encoder, channels) if experts == 2 else None
    return Backbone(
        transformer=transformer,
        transformer_2=transformer_2,
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
    """The toy preset's random initialisation: what `svi.training.pretrain` starts from."""
    return build_small(TOY, "toy", seed)


def save_backbone(bb: Backbone, folder: str | os.PathLike) -> Path:
    """Write every component as a diffusers-format Wan I2V folder (what `load_wan_i2v` reads)."""
    folder = Path(folder)
    bb.transformer.save_pretrained(folder / "transformer")
    if bb.transformer_2 is not None:
        bb.transformer_2.save_pretrained(folder / "transformer_2")
    bb.vae.save_pretrained(folder / "vae")
    bb.text_encoder.save_pretrained(folder / "text_encoder")
    bb.tokenizer.save_pretrained(folder / "tokenizer")
    if bb.image_encoder is not None:
        bb.image_encoder.save_pretrained(folder / "image_encoder")
        bb.image_processor.save_pretrained(folder / "image_processor")
    return folder


def load_wan_i2v(
    folder: Path,
    dtype: torch.dtype = torch.bfloat16,
    max_text_tokens: int = 512,
    preset: str = "wan2.1-i2v-14b",
    encoder_dtype: torch.dtype | None = None,
) -> Backbone:
    """Load the components from a local diffusers-format folder (never from a hub), on CPU: the
    transformer (both experts of a two-expert preset) in `dtype`, umT5 and CLIP in `encoder_dtype`
    (default `dtype`), the VAE in fp32. A preset without an image encoder (Wan 2.2) reads none."""
    from transformers import AutoTokenizer

    check_weights_folder(folder, preset)
    p = get_preset(preset)
    enc = dtype if encoder_dtype is None else encoder_dtype
    kw = {"local_files_only": True}
    experts = [
        WanTransformer3DModel.from_pretrained(folder / sub, torch_dtype=dtype, **kw)
        for sub in EXPERT_FOLDERS[: p.experts]
    ]
    return Backbone(
        transformer=experts[0],
        transformer_2=experts[1] if len(experts) == 2 else None,
        vae=AutoencoderKLWan.from_pretrained(folder / "vae", torch_dtype=torch.float32, **kw),
        text_encoder=UMT5EncoderModel.from_pretrained(folder / "text_encoder", torch_dtype=enc, **kw),
        tokenizer=AutoTokenizer.from_pretrained(folder / "tokenizer", **kw),
        image_encoder=(
            CLIPVisionModel.from_pretrained(folder / "image_encoder", torch_dtype=enc, **kw)
            if p.image_encoder
            else None
        ),
        image_processor=(
            CLIPImageProcessor.from_pretrained(folder / "image_processor", **kw) if p.image_encoder else None
        ),
        max_text_tokens=max_text_tokens,
        # real Wan weights get Wan's 512-token context; the committed toy model keeps its own length
        context_tokens=WAN_TEXT_TOKENS if get_preset(preset).arch is None else None,
        preset=preset,
        dtype=dtype,
    )


# ---------------------------------------------------------------------------------------------
# The one entry point: a backbone from the config's `model` section

# The VAE on the CPU runs channels-last: oneDNN's 3-D convolutions are about twice as fast in that
# layout, and the RMS norms' reduction over channels becomes contiguous (29% of a toy decode in the
# default layout, 2% in this one). Values agree with the default layout to ~2e-6 (float32 summation
# order). On CUDA the default layout stays (not measured there).
VAE_LAYOUT = {"cpu": torch.channels_last_3d}


def vae_layout(vae: AutoencoderKLWan) -> torch.memory_format:
    """The memory format the VAE's inputs take on its device (`VAE_LAYOUT`)."""
    return VAE_LAYOUT.get(vae.device.type, torch.contiguous_format)


def lay_out_vae(vae: AutoencoderKLWan) -> AutoencoderKLWan:
    """Put the VAE's 3-D convolution weights into its device's layout (in place; saving is unaffected)."""
    fmt = vae_layout(vae)
    for m in vae.modules():
        if isinstance(m, torch.nn.Conv3d):
            m.to(memory_format=fmt)
    return vae


PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


def resolve_dtype(precision: str, device: torch.device | str) -> torch.dtype:
    """The transformer's compute dtype for `model.precision` on `device`: auto is bf16 on CUDA and
    fp32 elsewhere (CPU bf16 matmuls are slow and change results); fp32 / bf16 are taken as given."""
    if precision == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
    try:
        return PRECISIONS[precision]
    except KeyError:
        raise ValueError(f"unknown precision {precision!r}; use auto, {' or '.join(PRECISIONS)}") from None


def set_attention(bb: Backbone, attention: str) -> None:
    """Select the transformer's attention kernel: `sdpa` (torch's, the default) or `flash` (flash-attn)."""
    if attention == "flash":
        try:
            import flash_attn  # noqa: F401
        except ImportError:
            raise ImportError(
                "model.attention=flash needs flash-attn: pip install 'svi-harness[gpu]' on a CUDA machine, "
                "or use model.attention=sdpa (the default)."
            ) from None
        for tf in bb.experts():
            tf.set_attention_backend("flash")
    elif attention == "sdpa":
        for tf in bb.experts():
            tf.reset_attention_backend()  # undo an earlier flash
    else:
        raise ValueError(f"unknown attention {attention!r}; use sdpa or flash")
    bb.attention = attention


def load_backbone(
    model_cfg: ModelConfig,
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    condition: ConditionConfig | None = None,
) -> Backbone:
    """Build (tiny: seeded random init) or load (toy, wan2.1-i2v-14b: from the weights folder) the
    preset's components, in the precision `model_cfg.precision` gives on `device`, moved there, with
    `model_cfg.attention` set, and the `condition` section's adapter attached (svi.conditions.attach.attach:
    SVI-Talk's audio, SVI-Dance's pose). Dtypes: the transformer in `resolve_dtype(...)`; umT5 and CLIP
    in the same on CUDA and in fp32 elsewhere; the VAE always in fp32. Frozen parts are in eval mode;
    the transformer's train/eval mode is the caller's to set."""
    device = torch.device(device)
    preset = get_preset(model_cfg.preset)
    dtype = resolve_dtype(model_cfg.precision, device)
    encoder_dtype = dtype if device.type == "cuda" else torch.float32
    if preset.weights == "code":
        bb = build_small(preset.arch, preset.name, seed, preset.image_encoder, preset.experts)
        bb.max_text_tokens = min(model_cfg.max_text_tokens, preset.arch.max_text_tokens)
    else:
        folder = preset_weights(preset.name, model_cfg.weights)
        bb = load_wan_i2v(
            folder,
            dtype=dtype,
            max_text_tokens=model_cfg.max_text_tokens,
            preset=preset.name,
            encoder_dtype=encoder_dtype,
        )
        if preset.weights == "committed":
            bb.toy_world = toy_world_of(folder)
    for tf in bb.experts():
        tf.to(device=device, dtype=dtype)
        merge_context_padding(tf)  # the text padding's identical rows attended once (same function)
    lay_out_vae(bb.vae.to(device=device, dtype=torch.float32))
    for m in (bb.text_encoder, bb.image_encoder):
        if m is not None:
            m.to(device=device, dtype=encoder_dtype)
    bb.dtype = dtype
    set_attention(bb, model_cfg.attention)
    if condition is not None:
        from svi.conditions.attach import attach

        attach(bb, condition, seed=seed)
    return bb
