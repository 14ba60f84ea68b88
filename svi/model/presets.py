"""The model presets: one table of what each preset is, and where its weights come from.

Torch-free on purpose: `svi.config` (and through it the harness, which validates every experiment in
well under a second) reads this table, so nothing here may import torch, diffusers or transformers.
`svi.model.backbone` builds or loads the components a preset names.

| preset           | architecture            | weights                                                        |
|------------------|-------------------------|----------------------------------------------------------------|
| `tiny`           | `TINY` (test size)      | built in code, random initialisation (no download)             |
| `toy`            | `TOY` (~3M parameters)  | committed folder `svi/weights/toy`, or `model.weights`         |
| `wan2.1-i2v-14b` | read from the folder    | a local folder, required: `model.weights` or `SVI_WEIGHTS`     |
| `tiny-a14b`      | `TINY`, two experts     | built in code, random initialisation (no download)             |
| `toy-a14b`       | `TOY`, two experts      | committed folder `svi/weights/toy_a14b`, or `model.weights`    |
| `wan2.2-i2v-a14b`| read from the folder    | a local folder, required: `model.weights` or `SVI_WEIGHTS`     |
| `tiny-ti2v`      | `TINY`, Wan 2.2 VAE     | built in code, random initialisation (no download)             |
| `wan2.2-ti2v-5b` | read from the folder    | a local folder, required: `model.weights` or `SVI_WEIGHTS`     |

The two-expert presets (Wan 2.2 I2V A14B and its test-size twin) have a high-noise expert
(`transformer/`) that denoises while t >= the boundary and a low-noise expert (`transformer_2/`) below
it, the Wan 2.1 VAE and umT5, and no CLIP image encoder (diffusers' layout of
Wan-AI/Wan2.2-I2V-A14B-Diffusers). `toy-a14b` is the same at toy scale: the toy's VAE and umT5, and two
toy DiTs without the image branch, each pretrained on its own timestep range of the toy world
(configs/experiments/pretrain_toy_a14b.yaml).

The TI2V presets (Wan 2.2 TI2V 5B and its test-size twin) have one transformer whose input is the
latent alone (48 channels in and out: no mask or condition channels, no image branch), the Wan 2.2 VAE
(48 latent channels, 16 x 16 spatial and 4 x temporal compression) and umT5. An image conditions a clip
by replacing latent frame 0 (`condition="first_latent"`, svi/model/ti2v_condition.py; diffusers'
`expand_timesteps`), as in Wan-AI/Wan2.2-TI2V-5B-Diffusers.

Each preset also carries config defaults (the clip size its model is built for), applied by
`svi.config.build_config` under the variant's and the file's values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

WEIGHTS_ENV = "SVI_WEIGHTS"
# The committed toy base model (a diffusers-format Wan I2V folder, written by svi.training.pretrain).
TOY_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "toy"  # svi/weights/toy
# The committed two-expert toy model (svi.training.pretrain with preset toy-a14b, from TOY_WEIGHTS).
TOY_A14B_WEIGHTS = TOY_WEIGHTS.parent / "toy_a14b"  # svi/weights/toy_a14b
# Which toy world this code is: 3 has a camera that travels over an endless landscape, stated in every
# prompt, and a VAE trained on whole frames (pretrain_toy_w3), so a model can beat a picture held still;
# 2 had people in pretraining, a VAE trained for idempotent round trips, a 512-token text context with an
# unconditional mode (text CFG), and 3-clip fine-tuning videos, all of which 3 keeps but the round-trip
# phase (docs/guides/toyworld_record.md). A pretrained toy folder records the world it was made for in
# TOY_WORLD_FILE; a folder without one is from the first world.
TOY_WORLD = 3
TOY_WORLD_FILE = "toy_world.json"
WAN_I2V_REPO = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"
WAN22_I2V_REPO = "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
WAN22_TI2V_REPO = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"
# The expert boundary of SVI 2.0 / 2.0 Pro's inference (WanVideoSviProPipeline: the low-noise expert
# below t = 875 of 1000); Wan 2.2's own I2V setting is 0.900 (with 40 steps and guidance 3.5 / 3.5).
SVI_BOUNDARY = 0.875
WAN22_BOUNDARY = 0.900
# The folder of each expert in diffusers' layout, and what the errors call it.
EXPERT_FOLDERS = ("transformer", "transformer_2")
EXPERT_NAMES = ("high-noise expert", "low-noise expert")

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
# Wan 2.2 I2V A14B: the second (low-noise) expert beside the first, and no CLIP image encoder.
REQUIRED_FILES_A14B: dict[str, tuple[str, ...]] = {
    **{k: v for k, v in REQUIRED_FILES.items() if not k.startswith("image_")},
    "transformer_2": ("config.json",),
    "transformer_2/*": REQUIRED_FILES["transformer/*"],
}

# Wan 2.2 TI2V 5B: one transformer, no CLIP image encoder.
REQUIRED_FILES_TI2V: dict[str, tuple[str, ...]] = {
    k: v for k, v in REQUIRED_FILES.items() if not k.startswith("image_")
}


class WeightsNotFoundError(FileNotFoundError):
    """A preset's weights folder is missing or incomplete; the message says how to get it."""


# ---------------------------------------------------------------------------------------------
# Small architectures (the classes and wiring are the 14B model's; only the sizes differ)


@dataclass(frozen=True)
class SmallArch:
    """Sizes of a small random-initialised Wan I2V backbone (see `svi.model.backbone.build_small`)."""

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
# of width 128; what `svi.training.pretrain` starts from. 512 text tokens, as Wan's: diffusers' Wan
# attention reads the context's last 512 tokens as text and the ones before them as CLIP's, so only at
# 512 does the image cross-attention get its tokens (the first toy world read 160, and CLIP's tokens
# joined the text cross-attention).
TOY = SmallArch(
    heads=4, head_dim=32, ffn_dim=512, layers=6, image_kv_dim=128, rope_len=64, vae_base=16,
    vae_mult=(1, 2, 2, 2), text_dim=64, text_kv=16, text_ffn=128, text_buckets=16, clip_dim=64,
    clip_ffn=128, image_size=64, max_text_tokens=512,
)  # fmt: skip


def widened(arch: SmallArch, width: int) -> SmallArch:
    """`arch` with a DiT of `width` channels: heads of the same head_dim, the FFN 4x the width and the
    CLIP image tokens' key/value width the width, as the toy's (128: 4 heads of 32, FFN 512, kv 128)."""
    if width < arch.head_dim or width % arch.head_dim:
        raise ValueError(f"DiT width {width} must be a multiple of the head size {arch.head_dim}")
    return dataclasses.replace(arch, heads=width // arch.head_dim, ffn_dim=4 * width, image_kv_dim=width)


# ---------------------------------------------------------------------------------------------
# The table

# The small presets' negative prompt: empty. The toy base model learns its text-unconditional mode from
# prompts replaced by the empty one (pretrain_toy's dit.text_dropout), so the empty prompt is what its
# CFG guides away from; the official prompt names failures (blur, extra fingers) the toy never saw
# named. The tiny model is random; its byte tokenizer reads 64 tokens.
SMALL_NEGATIVE_PROMPT = ""

# The test-size presets' clip (9 frames of 32 x 32, latents [16, 3, 4, 4]) and 10 steps.
TINY_DEFAULTS: Mapping[str, Any] = {
    "data": {"num_frames": 9, "height": 32, "width": 32},
    "generate": {
        "num_frames": 9,
        "height": 32,
        "width": 32,
        "steps": 10,
        "negative_prompt": SMALL_NEGATIVE_PROMPT,
    },
}

# The toy world's clips: 17 frames (5 latent frames) of 64 x 64 at 8 fps, so one clip adds 2 s and a 50 s
# video is 25 clips. Shift 3 (pretraining's) suits the small latents better than Wan's 5. No text CFG for
# Shot and Film (the official scale, 5, is the schema's default and `generate.guidance_scale=5` takes it
# here): on toy world 3's base, CFG 5 moved the first 10 s of a chained video further from the truth
# (mean pixel distance 0.220 against 0.174 without, first frame held still 0.152; docs/guides/toyworld_record.md)
# and costs a second transformer pass per step. Talk and dance keep their variants' official scales.
# 10 sampling steps (official 50, the toy's 20 before toy world 3): on world 3's base 20, 10 and 5 steps
# gave the same first 10 s (mean distance 0.166 / 0.165 / 0.165 on 8 consistent scenes, held frame
# 0.147), and the transformer is half of a toy clip's generation time.
TOY_DEFAULTS: Mapping[str, Any] = {
    "data": {"num_frames": 17, "height": 64, "width": 64},
    "train": {"timestep_shift": 3.0},
    "generate": {
        "num_frames": 17,
        "height": 64,
        "width": 64,
        "fps": 8,
        "steps": 10,
        "shift": 3.0,
        "guidance_scale": 1.0,
        "negative_prompt": SMALL_NEGATIVE_PROMPT,
    },
}

# The two-expert toy keeps 20 steps, so that its high-noise expert runs 6 of them (shift 3, boundary
# 0.875; half as many at 10) and its committed bundles stay under the plan they were made with.
TOY_A14B_DEFAULTS: Mapping[str, Any] = {**TOY_DEFAULTS, "generate": {**TOY_DEFAULTS["generate"], "steps": 20}}

# The TI2V test twin's clip: 9 frames of 64 x 64, latents [48, 3, 4, 4] under the Wan 2.2 VAE's 16x
# compression (4 tokens per latent frame after the 2 x 2 patches; 32 x 32 would leave one).
TINY_TI2V_DEFAULTS: Mapping[str, Any] = {
    "data": {"num_frames": 9, "height": 64, "width": 64},
    "generate": {**TINY_DEFAULTS["generate"], "height": 64, "width": 64},
}
# Wan 2.2 TI2V 5B's own sampling (Wan's configs/wan_ti2v_5B.py): 121 frames at 24 fps, 704 x 1280
# (its 720p size), 50 steps, shift 5 and guidance 5 (the schema's defaults already).
TI2V_5B_DEFAULTS: Mapping[str, Any] = {
    "data": {"num_frames": 121, "height": 704, "width": 1280},
    "generate": {"num_frames": 121, "height": 704, "width": 1280, "fps": 24},
}

# How an image conditions a clip: `channels`, Wan I2V's y (mask + condition latent) concatenated to the
# noisy latent; `first_latent`, Wan 2.2 TI2V's replacement of latent frame 0 (its tokens at timestep 0).
ConditionKind = Literal["channels", "first_latent"]
# The VAE: Wan 2.1's (16 latent channels, 8x spatial) or Wan 2.2's (48 channels, 16x spatial).
VAE_LAYOUTS: dict[str, tuple[int, int]] = {"2.1": (16, 8), "2.2": (48, 16)}  # version -> (channels, spatial)
I2V_CONDITION_CHANNELS = 20  # Wan I2V's y: a 4-channel mask and a 16-channel condition latent

# code: built in code from `arch` (random init, seeded); committed: a folder in the repository,
# replaceable by model.weights; local: a local folder the user must provide (model.weights or SVI_WEIGHTS).
WeightsSource = Literal["code", "committed", "local"]


@dataclass(frozen=True)
class Preset:
    """What one model preset is."""

    name: str
    summary: str
    arch: SmallArch | None  # None: the architecture comes from the weights folder's configs
    weights: WeightsSource
    committed_weights: Path | None = None  # the folder of a `committed` preset
    experts: int = 1  # 2: a high-noise and a low-noise transformer (Wan 2.2 A14B)
    image_encoder: bool = True  # a CLIP image encoder (Wan 2.1 I2V); Wan 2.2 I2V has none
    repo: str = WAN_I2V_REPO  # where a `local` preset's diffusers-format weights are published
    # A model of the toy world (toy, toy-a14b): without data.root / a benchmark the harness writes
    # toy-world training clips and a toy-world benchmark for it (harness/run/provision.py).
    toy_world: bool = False
    condition: ConditionKind = "channels"
    vae: Literal["2.1", "2.2"] = "2.1"
    # Config defaults (nested sections, e.g. {"generate": {"steps": 10}}), under the variant's and the file's.
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def latent_channels(self) -> int:
        """Channels of the VAE's latent (16 for Wan 2.1's, 48 for Wan 2.2's)."""
        return VAE_LAYOUTS[self.vae][0]

    @property
    def spatial_ratio(self) -> int:
        """The VAE's spatial compression (8 for Wan 2.1's, 16 for Wan 2.2's); time is 4x in both."""
        return VAE_LAYOUTS[self.vae][1]

    @property
    def transformer_channels(self) -> tuple[int, int]:
        """The DiT's (in_channels, out_channels): the latent and y (36, 16), or the latent alone (48, 48)."""
        c = self.latent_channels
        return (c + I2V_CONDITION_CHANNELS if self.condition == "channels" else c), c


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="tiny",
            summary="random init at test size, built in code (tests, CPU smoke runs)",
            arch=TINY,
            weights="code",
            defaults=TINY_DEFAULTS,
        ),
        Preset(
            name="toy",
            summary="~3M-parameter Wan I2V pretrained on the toy world (committed in svi/weights/toy)",
            arch=TOY,
            weights="committed",
            committed_weights=TOY_WEIGHTS,
            toy_world=True,
            defaults=TOY_DEFAULTS,
        ),
        Preset(
            name="wan2.1-i2v-14b",
            summary=f"Wan 2.1 I2V 14B 480p from a local diffusers-format folder ({WAN_I2V_REPO})",
            arch=None,
            weights="local",
        ),
        # The two-expert model at test size: each expert its own random initialisation, so they differ.
        Preset(
            name="tiny-a14b",
            summary="two-expert Wan 2.2 I2V at test size (no image encoder), random init, built in code",
            arch=TINY,
            weights="code",
            experts=2,
            image_encoder=False,
            defaults=TINY_DEFAULTS,
        ),
        # The two-expert model at toy scale: the toy's clip and sampler defaults, the boundary SVI's
        # (generate.boundary and train.expert_boundary default to 0.875 as for the real one).
        Preset(
            name="toy-a14b",
            summary="two-expert Wan 2.2 I2V at toy scale, each expert pretrained on its own timestep range "
            "(committed in svi/weights/toy_a14b)",
            arch=TOY,
            weights="committed",
            committed_weights=TOY_A14B_WEIGHTS,
            experts=2,
            image_encoder=False,
            toy_world=True,
            defaults=TOY_A14B_DEFAULTS,
        ),
        # SVI 2.0 / 2.0 Pro's base model. Clip size, 50 steps, shift 5 and guidance 5.0 are the schema's
        # defaults already (WanVideoSviProPipeline's); generate.boundary defaults to SVI's 0.875.
        Preset(
            name="wan2.2-i2v-a14b",
            summary=f"Wan 2.2 I2V A14B (two experts) from a local diffusers-format folder ({WAN22_I2V_REPO})",
            arch=None,
            weights="local",
            experts=2,
            image_encoder=False,
            repo=WAN22_I2V_REPO,
        ),
        # Wan 2.2 TI2V at test size: the same classes and conditioning as the 5B (a 48-channel DiT with
        # no image branch, the Wan 2.2 VAE layout), random init.
        Preset(
            name="tiny-ti2v",
            summary="Wan 2.2 TI2V at test size (first-latent image condition, Wan 2.2 VAE), random init, "
            "built in code",
            arch=TINY,
            weights="code",
            image_encoder=False,
            condition="first_latent",
            vae="2.2",
            defaults=TINY_TI2V_DEFAULTS,
        ),
        # The DevLog's 5B preview (SVI on it is reconstructed: docs/guides/wan22.md).
        Preset(
            name="wan2.2-ti2v-5b",
            summary=f"Wan 2.2 TI2V 5B from a local diffusers-format folder ({WAN22_TI2V_REPO})",
            arch=None,
            weights="local",
            image_encoder=False,
            repo=WAN22_TI2V_REPO,
            condition="first_latent",
            vae="2.2",
            defaults=TI2V_5B_DEFAULTS,
        ),
    )
}
PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)
DEFAULT_PRESET = "tiny"
# `ModelConfig.preset`'s type: exactly the table's names (a tuple subscript is Literal["tiny", ...]).
PresetName = Literal[PRESET_NAMES]  # type: ignore[valid-type]


def get_preset(name: str) -> Preset:
    """The table's entry, or an error listing the presets."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}") from None


# ---------------------------------------------------------------------------------------------
# Weights folders (checked before anything runs; no torch needed)


def how_to_download(folder: str, repo: str = WAN_I2V_REPO) -> str:
    """How to get a local preset's weights (Wan 2.1 I2V by default) onto this machine."""
    return (
        "On a machine with internet, fetch the diffusers-format weights with\n"
        f"    hf download {repo} --local-dir {folder}\n"
        "(or `huggingface-cli download ...` with older huggingface_hub) and copy the folder here."
    )


def resolve_weights(weights: str | os.PathLike | None, preset: str = "wan2.1-i2v-14b") -> Path:
    """The weights folder from the argument or SVI_WEIGHTS, or an error saying how to provide it."""
    folder = weights or os.environ.get(WEIGHTS_ENV)
    if not folder:
        raise WeightsNotFoundError(
            f"The {preset} preset needs a local weights folder: pass --weights DIR (model.weights in "
            f"a config) or set {WEIGHTS_ENV}=DIR.\n" + how_to_download("DIR", get_preset(preset).repo)
        )
    return Path(folder).expanduser()


def preset_weights(preset: str, weights: str | os.PathLike | None) -> Path | None:
    """The folder a preset loads: None when built in code (tiny); model.weights or the committed folder
    (toy); model.weights or SVI_WEIGHTS (the local presets; else an error saying how to get it)."""
    p = get_preset(preset)
    if p.weights == "code":
        return None
    if p.weights == "committed":
        return Path(weights).expanduser() if weights else p.committed_weights
    return resolve_weights(weights, p.name)


def toy_world_of(folder: Path) -> int:
    """The toy world a pretrained toy folder was made for (TOY_WORLD_FILE; 1 without one)."""
    import json

    path = Path(folder) / TOY_WORLD_FILE
    return int(json.loads(path.read_text())["toy_world"]) if path.is_file() else 1


def files_fingerprint(path: Path) -> str:
    """A content hash of a weights file, or of a folder's files (their relative paths and bytes): which
    weights, wherever they lie. For the small committed ones (a few MB; milliseconds)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(path).as_posix().encode() if path.is_dir() else f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def committed_weights_fingerprint(preset: str, weights: str | os.PathLike | None) -> str | None:
    """The content hash of the base weights a committed-weights preset (toy) loads, so a stage made
    with other weights under the same path (the committed folder after a re-pretraining) is not taken
    for this one's; None for the other presets (code-built, or a user's local folder of many GB)."""
    if get_preset(preset).weights != "committed":
        return None
    return files_fingerprint(preset_weights(preset, weights))


def required_files(preset: str) -> dict[str, tuple[str, ...]]:
    """What the preset's diffusers-format folder must hold (REQUIRED_FILES, REQUIRED_FILES_A14B for two
    experts, REQUIRED_FILES_TI2V for one transformer without an image encoder)."""
    p = PRESETS.get(preset)
    if p is not None and p.experts == 2:
        return REQUIRED_FILES_A14B
    if p is not None and not p.image_encoder:
        return REQUIRED_FILES_TI2V
    return REQUIRED_FILES


def check_weights_folder(folder: Path, preset: str = "wan2.1-i2v-14b") -> None:
    """Raise WeightsNotFoundError listing every expected file that is missing (a two-expert preset's
    expert files are named with their expert: `transformer_2/config.json (the low-noise expert)`)."""
    two = PRESETS.get(preset) is not None and PRESETS[preset].experts == 2
    missing = []
    for sub, names in required_files(preset).items():
        d = sub.rstrip("/*")
        if not folder.is_dir() or not any((folder / d / n).is_file() for n in names):
            note = f" (the {EXPERT_NAMES[EXPERT_FOLDERS.index(d)]})" if two and d in EXPERT_FOLDERS else ""
            missing.append(f"{d}/{' or '.join(names)}{note}")
    if missing:
        head = f"{folder} does not exist" if not folder.is_dir() else f"{folder} is incomplete"
        expected = "\n".join(f"    {m}" for m in missing)
        if PRESETS.get(preset) is not None and PRESETS[preset].weights == "committed":
            what = f"{preset} base model"
            how = (
                f"The committed one lives in {PRESETS[preset].committed_weights}; `harness run "
                f"pretrain_{preset.replace('-', '_')}` "
                "trains a new one (its output folder then goes to model.weights)."
            )
        elif two:
            what, how = "Wan 2.2 I2V A14B weights", how_to_download(str(folder), WAN22_I2V_REPO)
        elif PRESETS.get(preset) is not None and PRESETS[preset].condition == "first_latent":
            what, how = "Wan 2.2 TI2V 5B weights", how_to_download(str(folder), WAN22_TI2V_REPO)
        else:
            what, how = "Wan 2.1 I2V weights", how_to_download(str(folder))
        raise WeightsNotFoundError(f"{what} not found: {head}. Missing:\n{expected}\n{how}")
