"""Typed configuration of an SVI training run (the sections `svi/` needs).

One pydantic schema is the single source of truth: YAML files are validated against it, may
`extends:` a base file, and take dotted overrides (`erft.p_img=0 train.steps=200`) as diffs.
Every declaration file of the project (configs, experiments, sweeps) and every override value is read
by the one bounded YAML reader here (`load_yaml_file`, `load_yaml_text`: size, aliases, nesting,
repeated keys), as such a file may come from anyone.
Unknown keys, wrong types and out-of-range values are errors that name the file and the key before
anything runs. `harness/` builds its experiment schema on top of `SVIConfig`.
"""

from __future__ import annotations

import copy
import json
import math
import re
import stat
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from svi.model.presets import DEFAULT_PRESET, PRESETS, PresetName


def _plain_types(annotation) -> set:
    """The types a field's annotation allows, Annotated, Optional and unions unwrapped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _plain_types(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_plain_types(a) for a in typing.get_args(annotation)))
    return {annotation}


class StrictScalars(BaseModel):
    """Numbers and switches as they are written: a field of numbers takes no `true` (pydantic would make
    it 1) and no text (`'100'`), a switch takes only true or false (not 1, not 'yes'). One line naming the
    field, as any other invalid value."""

    @model_validator(mode="before")
    @classmethod
    def _strict_scalars(cls, data):
        if not isinstance(data, dict):
            return data
        for name, value in data.items():
            field = cls.model_fields.get(name)
            if field is None or value is None:
                continue
            kinds = _plain_types(field.annotation) - {type(None)}
            shown = f"{type(value).__name__} {json.dumps(value, default=str)[:40]}"
            if (
                kinds
                and kinds <= {int, float}
                and (isinstance(value, bool) or not isinstance(value, (int, float)))
            ):
                raise ValueError(f"{name} must be a number, not {shown}")
            if kinds == {bool} and not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, not {shown}")
        return data


class Section(StrictScalars):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    """The backbone: which preset (svi/model/presets.py), its weights, precision and attention kernel.
    `svi.model.backbone.load_backbone` builds it from this section alone."""

    preset: PresetName = DEFAULT_PRESET
    # Local diffusers-format folder: required for wan2.1-i2v-14b (or SVI_WEIGHTS); for toy, a
    # pretrained folder other than the committed svi/weights/toy.
    weights: str | None = None
    # The transformer's compute dtype, for training and generation alike. auto: bf16 on CUDA, fp32 on
    # CPU. The frozen umT5 / CLIP encoders follow it on CUDA (fp32 on CPU); the VAE is always fp32.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    attention: Literal["sdpa", "flash"] = "sdpa"
    gradient_checkpointing: bool = False
    # Max umT5 tokens; Wan uses 512. The tiny preset clips this to its own limit.
    max_text_tokens: int = Field(512, ge=1)


class LoraConfig(Section):
    rank: int = Field(128, ge=1)
    alpha: float = Field(128.0, gt=0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    # The official SVI set (q, k, v, o of self- and cross-attention, both FFN linears) in
    # diffusers' Wan module names. peft matches them as suffixes. []: no LoRA (an adapter trains alone).
    # (bounded: a declaration may come from anyone, and every unit of a plan copies its configuration)
    target_modules: list[str] = Field(
        ["to_q", "to_k", "to_v", "to_out.0", "ffn.net.0.proj", "ffn.net.2"], max_length=64
    )


class ERFTConfig(Section):
    # erft: error-recycling fine-tuning; plain: clean flow matching (the non-ERFT fine-tune baseline)
    mode: Literal["erft", "plain"] = "erft"
    # Defaults are the SVI-Shot values (docs/method.md §5).
    p_noi: float = Field(0.01, ge=0.0, le=1.0)
    p_img: float = Field(0.9, ge=0.0, le=1.0)
    p_vid: float = Field(0.9, ge=0.0, le=1.0)
    p_clean: float = Field(0.2, ge=0.0, le=1.0)
    y_error_num: int = Field(3, ge=0)
    clean_buffer_update_prob: float = Field(0.1, ge=0.0, le=1.0)
    # Where E_img goes in y's VAE channels (svi.training.erft.image_error_start). first: the first
    # y_error_num latent frames (SVI 1.0, official); motion: from latent 1, the motion-latent slot of
    # SVI 2.0 Pro's condition, which at inference holds the model's own previous output; auto: motion
    # under data.window=pro, first otherwise. Reconstructed: which slots Pro's training perturbs is
    # unpublished.
    y_error_slot: Literal["auto", "first", "motion"] = "auto"
    # A TI2V model (Wan 2.2 TI2V 5B: the image latent replaces latent 0; svi.model.ti2v_condition): E_img
    # is one latent frame of a clean-end bank entry added to that image latent. window: a random frame of
    # the entry (its frames 1.., as SVI's random temporal window; one frame because the condition is one
    # latent); last: the entry's last latent frame, where the next clip's condition comes from at
    # inference. Reconstructed: the DevLog names reference-image errors for the 5B, not how.
    first_latent_error: Literal["window", "last"] = "window"

    @model_serializer(mode="wrap")
    def _drop_later_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return drop_defaults(handler(self), {"y_error_slot": "auto", "first_latent_error": "window"})


# MemoryConfig settings added after runs were trained: left out of dumps (hence of stage hashes) at
# these values, so the hashes of runs from before them hold. warmup_clean_flag decides nothing in a
# single training process (nothing is gathered), and every run so far trained in one.
_MEMORY_LATER_DEFAULTS = {"scope": "process", "warmup_clean_flag": "own"}


def drop_defaults(data: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """A section's dump without the settings added later while at the values that keep the old
    behaviour, so the stage hashes of runs from before them hold."""
    for key, default in later.items():
        if data.get(key) == default:
            del data[key]
    return data


class MemoryConfig(Section):
    """The error replay memory (svi.training.memory.ReplayMemory.from_config builds it from this section)."""

    num_slots: int = Field(50, ge=1)
    capacity: int = Field(500, ge=1)
    replacement: Literal["l2", "random", "fifo"] = "l2"
    search: Literal["fast", "exact"] = "fast"
    dtype: Literal["bf16", "fp16", "fp32"] = "bf16"
    device: Literal["cpu", "cuda"] = "cpu"
    # Bytes for both banks of one process (scope process) or of the node's store (scope node);
    # None: 40% of RAM per node, divided among its processes with scope process.
    budget_bytes: int | None = Field(None, gt=0)
    warmup_steps: int = Field(50, ge=0)
    # Count-sketch width of the fast nearest-entry search (16 KiB per entry; see benchmarks/perf).
    sketch_dim: int = Field(4096, ge=8)
    rerank: int = Field(8, ge=1)
    # Where the banks live. process (official, the default): a full copy in every training process;
    # after the warmup each rank banks and samples only its own errors. node: one store per node in
    # shared memory (/dev/shm) that the node's ranks share, so host RAM holds the banks once per node,
    # not once per GPU; the warmup banks the same errors, after it every rank samples the pooled errors
    # of its node's ranks, which is why it is not the default (svi/training/memory.py, ReplayMemory).
    scope: Literal["process", "node"] = "process"
    # During the warmup every rank banks the errors all ranks gathered; which clean flag decides whether
    # a gathered error is banked (svi.training.memory.warmup_banked). own (official train_svi.py): this rank's own
    # step, its clean gate and its clean_buffer_update_prob draw, decide for all of them at once, so a
    # rank whose step was clean may skip the other ranks' errors and bank a clean step's errors of
    # theirs. per_sample: each error's own step decides, on every rank alike (ours before; the ranks'
    # banks then stay identical through the warmup). One process gathers nothing: no difference there.
    warmup_clean_flag: Literal["own", "per_sample"] = "own"

    @model_validator(mode="after")
    def _node_store_in_host_memory(self) -> MemoryConfig:
        if self.scope == "node" and self.device != "cpu":
            raise ValueError(
                "scope node keeps the banks in host shared memory: set device cpu, or scope process"
            )
        return self

    @model_serializer(mode="wrap")
    def _drop_later_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return drop_defaults(handler(self), _MEMORY_LATER_DEFAULTS)


# Sizes a declaration can set are bounded here far above any recipe (Wan's clips are 81 frames at
# 480 x 832 or 720 x 1280; SVI trains a few thousand steps), so a typo like 1e12 is an error at once;
# what one process can hold of the rest is the plan's memory estimate (harness/declare/bounds.py).
MAX_CLIP_FRAMES = 1025  # 64 s at 16 fps in one clip
MAX_SIDE = 4096  # pixels
MAX_TRAIN_STEPS = 10_000_000
MAX_SAMPLING_STEPS = 1000  # the scheduler's training timesteps


class DataConfig(Section):
    root: str | None = None
    num_frames: int = Field(81, ge=1, le=MAX_CLIP_FRAMES)
    height: int = Field(480, ge=16, le=MAX_SIDE)
    width: int = Field(832, ge=16, le=MAX_SIDE)
    frame_stride: int = Field(1, ge=1)
    categories: list[str] | None = Field(None, max_length=1000)  # (bounded as lora.target_modules)
    skip_bad: bool = False
    # K: pixel frames of the clip used as condition; the rest of the condition video is padding.
    cond_frames: int = Field(1, ge=1)
    padding: Literal["reference", "zeros"] = "reference"
    # The padding image of `reference` padding (docs/method.md §3). window: one random frame of the clip's
    # window (official SVI-Shot); outside: a random frame of the same source video outside the window,
    # when it has one (the official DevLog's advice); first: frame 0, the condition frame itself.
    reference_frame: Literal["window", "outside", "first"] = "window"
    # With cond_frames > 1, the probability of conditioning on all K frames; otherwise the step
    # conditions on frame 0 alone (official `p_motion_threshold`, 0.9: SVI-Film's 10% of steps).
    p_motion: float = Field(0.9, ge=0.0, le=1.0)
    # Pixel frames the mask marks as condition. first: frame 0 only, i.e. latent 0, even with K = 5
    # (official, the released LoRAs were trained so); condition: all K condition frames.
    mask: Literal["first", "condition"] = "first"
    num_workers: int = Field(0, ge=0)
    # The training window. clip: the clip conditioned on its own first K frames and the padding (SVI 1.0).
    # pro: SVI 2.0 Pro's, as the authors described it (#75; reconstructed, the code is unpublished): the
    # anchor a random frame before the motion window, the motion latent the last latent of the F frames
    # that end 1 + 4 frames into the target, y = [VAE(anchor), that latent, zeros] with the mask on latent 0
    # (svi.training.clips.pro_window_ids). Videos need F + (F - 5) + 1 frames.
    window: Literal["clip", "pro"] = "clip"

    @model_serializer(mode="wrap")
    def _drop_later_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return drop_defaults(handler(self), {"window": "clip"})

    @field_validator("num_frames")
    @classmethod
    def _four_k_plus_one(cls, v: int) -> int:
        if (v - 1) % 4:
            lo = v - (v - 1) % 4
            raise ValueError(f"must be 4k+1 (Wan's VAE packs 4 frames per latent); try {lo} or {lo + 4}")
        return v

    @field_validator("height", "width")
    @classmethod
    def _multiple_of_16(cls, v: int) -> int:
        if v % 16:
            raise ValueError(
                f"must be a multiple of 16 (VAE x8, patch x2); try {v - v % 16} or {v - v % 16 + 16}"
            )
        return v

    @model_validator(mode="after")
    def _cond_fits(self) -> DataConfig:
        if self.cond_frames >= self.num_frames:
            raise ValueError(f"cond_frames ({self.cond_frames}) must be < num_frames ({self.num_frames})")
        return self


class TrainConfig(Section):
    steps: int = Field(1000, ge=1, le=MAX_TRAIN_STEPS)
    lr: float = Field(1e-4, gt=0)
    # The learning rate of the conditioning adapters that train (the pose encoder; an adapter trained
    # alone for a toy stand-in). None: train.lr, as the official scripts (one rate for everything).
    adapter_lr: float | None = Field(None, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: float = Field(1.0, ge=0)
    micro_batch: int = Field(1, ge=1)
    grad_accum: int = Field(1, ge=1)
    zero_stage: Literal[0, 1, 2] = 2
    checkpoint_every: int = Field(100, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    resume: bool = True
    seed: int = 0
    output_dir: str = "runs/train"
    timestep_shift: float = Field(5.0, gt=0)
    num_train_timesteps: int = Field(1000, ge=2)
    # A two-expert model (Wan 2.2 A14B): the expert this run trains, each expert in its own run on its own
    # timestep range, as the authors answered (#79: trained separately and independently). high: t in
    # [expert_boundary x 1000, 1000]; low: t below it. None: a one-transformer model (a two-expert model
    # must name one; checked when training starts). Reconstructed: the training code is unpublished.
    expert: Literal["high", "low"] | None = None
    # The boundary of the training ranges (unpublished). 0.875: SVI's inference switch, so each expert
    # trains on the levels it denoises at inference; 0.9: DiffSynth's own A14B LoRA recipe and Wan 2.2's.
    expert_boundary: float = Field(0.875, gt=0.0, lt=1.0)
    log_every: int = Field(1, ge=1)
    # Probe rollouts (`<output_dir>/probes/`): every `probe_every` steps and at the last step, rank 0
    # generates a `probe_clips`-clip long video with the current model and the generate section's
    # settings, from the first frame and caption of the first training clip. None: no probes.
    probe_every: int | None = Field(None, ge=1)
    probe_clips: int = Field(3, ge=1)


# GenerateConfig settings added after videos were generated: left out of frame hashes at these values.
_LATER_DEFAULTS = {
    "audio_guidance_scale": None,
    "assembly": "drop_lead",
    "strategy": "chain",
    "noise": "streams",
    "planted_drift": 0.0,
    "lora_2": None,
    "boundary": 0.875,
    "guidance_scale_2": None,
}
# Settings of latent chaining's condition (generator._condition): in the frame hash only under
# chaining=latent, so latent-chained digests changed when the official Pro condition became the default.
LATENT_SETTINGS = ("latent_mask", "latent_start")
# The negative prompt of every text-guided pass of the official test scripts (test_svi.py, test_svi_talk.py,
# test_svi_dance.py: one string, the same in all three; the English of Wan's standard negative prompt).
OFFICIAL_NEGATIVE_PROMPT = (
    "bright tones, overexposed, static, blurred details, subtitles, style, works, paintings, images, "
    "static, overall gray, worst quality, low quality, JPEG compression residue, ugly, incomplete, extra "
    "fingers, poorly drawn hands, poorly drawn faces, deformed, disfigured, misshapen limbs, fused "
    "fingers, still picture, messy background, three legs, many people in the background, walking "
    "backwards"
)
# The settings of one strategy (svi/generation/strategies/): in the frame hash only when that strategy is chosen,
# and an error when another is chosen and they differ from their defaults.
STRATEGY_SETTINGS = {
    "rolling": ("rolling_stages",),
    "freenoise": ("freenoise_stride", "freenoise_weights"),
    "history_guidance": ("history_scale",),
}
STRATEGIES = ("chain", "rolling", "framepack", "freenoise", "history_guidance")


class GenerateConfig(Section):
    """Long-video generation (docs/method.md §6)."""

    num_frames: int = Field(81, ge=5, le=MAX_CLIP_FRAMES)  # F: frames per clip, 4k+1
    height: int = Field(480, ge=16, le=MAX_SIDE)
    width: int = Field(832, ge=16, le=MAX_SIDE)
    fps: int = Field(16, ge=1)
    # pixel: decode the last K frames and re-encode them (SVI 1.0); latent: carry the last latent
    # frame(s), no decode/re-encode (SVI 2.0 Pro).
    chaining: Literal["pixel", "latent"] = "pixel"
    motion_frames: int = Field(1, ge=1)  # K (pixel chaining)
    motion_latents: int = Field(1, ge=1)  # latent frames carried (latent chaining)
    padding: Literal["reference", "zeros"] = "reference"
    # Mask of pixel chaining, as data.mask (first: latent 0 only, official).
    mask: Literal["first", "condition"] = "first"
    # Latent chaining's mask (SVI 2.0 Pro, svi.model.i2v_condition.pro_condition). anchor: latent 0 only,
    # so the carried motion latents have mask 0 (WanVideoSviProPipeline, official); carried: the anchor
    # and the carried latents marked known (this harness's rule before SVI 2.0 Pro was released).
    latent_mask: Literal["anchor", "carried"] = "anchor"
    # Latent chaining's clip 0. zeros: [VAE(anchor), zero latents] (official Pro: zero-valued latents, not
    # encoded black frames); padding: VAE of [anchor, `padding` frames], as pixel chaining's clip 0.
    latent_start: Literal["zeros", "padding"] = "zeros"
    # The CLIP image feature of clip k > 0. motion: recomputed every clip from the first motion frame
    # (official); reference: the reference image's, every clip. Latent chaining has no decoded motion
    # frame to encode and always uses the reference image.
    clip_image: Literal["motion", "reference"] = "motion"
    steps: int = Field(50, ge=1, le=MAX_SAMPLING_STEPS)
    shift: float = Field(5.0, gt=0)
    sampler: Literal["euler", "unipc"] = "euler"
    # Text CFG; 1 disables the unconditional pass. 5.0: the official SVI scripts' and SVI 2.0 Pro's
    # pipeline default (WanVideoSviProPipeline); the Pro README's example command passes 4.0 (an example,
    # not the pipeline's setting, and the 2.0 script keeps 5), so 5.0 stays the default here.
    guidance_scale: float = Field(5.0, ge=1.0)
    # Two-expert models (Wan 2.2 A14B): the high-noise expert runs while t >= boundary x 1000, the
    # low-noise one below. 0.875: SVI 2.0 Pro's pipeline (switch below t = 875); Wan 2.2's own I2V
    # setting is 0.900 (with steps=40, guidance_scale=3.5, guidance_scale_2=3.5).
    boundary: float = Field(0.875, gt=0.0, lt=1.0)
    # The low-noise expert's text CFG (diffusers' guidance_scale_2). None: guidance_scale, as SVI's
    # pipeline uses one scale for both experts.
    guidance_scale_2: float | None = Field(None, ge=1.0)
    # SVI-Talk's audio guidance scale (a third pass without text and audio; svi.generation.sampling.guidance_passes).
    # None: no audio guidance (the audio is then in every pass).
    audio_guidance_scale: float | None = Field(None, ge=1.0)
    # The prompt of the passes without text (text CFG's unconditional pass, SVI-Talk's passes without
    # text): the official scripts' for every variant. "" was ours before. The tiny and toy presets keep ""
    # (svi/model/presets.py).
    negative_prompt: str = OFFICIAL_NEGATIVE_PROMPT
    # Clip k's initial noise, always drawn on the CPU in float32 (svi.generation.sampling.noise_seed). streams (the
    # default): its own stream for every (seed, clip), clip_seed(seed, k), so an experiment's seeds are
    # independent replicates (the harness generates every seed's videos with generate.seed = the seed).
    # official: torch.Generator().manual_seed(42 k) as test_svi.py seeds clip k, whatever the seed, to
    # reproduce an official Shot / Film video bit for bit; every seed then draws the same noise. (The
    # official talk and dance scripts seed nothing: their noise is not reproducible.)
    noise: Literal["streams", "official"] = "streams"
    seed: int = 0
    lora: str | None = None  # our export, a diffusers LoRA or an official SVI file
    # A two-expert model's low-noise expert's LoRA (`lora` then goes to the high-noise expert), e.g. the
    # official SVI_Wan2.2-I2V-A14B_low_noise_lora_v2.0_pro file beside its high_noise twin.
    lora_2: str | None = None
    lora_scale: float = 1.0
    # How clips join: drop_lead keeps video[:-K] of every clip but the last (docs/method.md §6); keep_all
    # keeps every clip whole, the K restated frames twice (official SVI-Talk's test script).
    assembly: Literal["drop_lead", "keep_all"] = "drop_lead"
    # A prompt stream shorter than the video's clips (svi.generation.sampling.assign_prompts). repeat (the default):
    # the clips past the last prompt repeat it, so every video has its suite's declared length (50 s,
    # 250 s; the toy's short clips need more clips than its streams have prompts, and the drift windows
    # assume the length). stop: the video ends with its last prompt, min(clips, prompts) clips, as
    # test_svi.py caps them. The two agree whenever the stream covers the length (the paper's streams:
    # one prompt per clip). Recorded in every sidecar; not in the frame hash, whose num_clips it decides.
    after_last_prompt: Literal["repeat", "stop"] = "repeat"
    # Videos generated together, one batched forward per denoising step (each with its own image,
    # prompts and noise). Throughput only: the frames do not depend on it, nor does the video's hash.
    batch_size: int = Field(8, ge=1)
    # How the long video is made (svi/generation/strategies/, README "Long-video mechanisms"). chain: clip k
    # conditioned on the end of clip k-1 (SVI, Wan 2.1 autoregression); rolling: a window of latent
    # frames at noise levels rising along it (Rolling Diffusion); framepack: FramePack's inverted
    # anti-drifting order, the last section first, every section anchored on the reference; freenoise: the
    # whole video denoised in overlapping windows from rescheduled noise (FreeNoise); history_guidance:
    # chain, guided away from a pass without the previous clip's frames (DFoT's history guidance).
    strategy: Literal["chain", "rolling", "framepack", "freenoise", "history_guidance"] = "chain"
    # rolling: the noise levels of the window (G). A shift runs steps / G Euler steps and emits 1 / G of a
    # clip's new latent frames. None: gcd(new latent frames of a clip, steps), the finest rolling the
    # clip and the step count allow.
    rolling_stages: int | None = Field(None, ge=1)
    # freenoise: latent frames between window starts (None: a quarter of a clip's latent frames, at least
    # 1; FreeNoise's 16-frame windows move by 4), and the fusion's position weights (pyramid: FreeNoise's,
    # more weight to a window's middle frames; flat: a plain average).
    freenoise_stride: int | None = Field(None, ge=1)
    freenoise_weights: Literal["pyramid", "flat"] = "pyramid"
    # history_guidance: w in v = v_c + (s - 1)(v_c - v_no_text) + (w - 1)(v_c - v_no_history); 1 leaves
    # out the pass without history (then the strategy is chain).
    history_scale: float = Field(2.0, ge=1.0)
    # A positive control, not a method: clip k is moved away from clip 0's mean colour, along the way
    # it already differs, by k times this much colour shift (`svi.generation.generator.planted`), as it
    # is recorded: the written video and the frames the next clip is conditioned on drift in colour by
    # construction (toy_erft_control's `planted` arm shows the experiment detects a drift it is known
    # to contain). 0: off (official).
    planted_drift: float = Field(0.0, ge=0.0, le=0.1)

    @field_validator("num_frames")
    @classmethod
    def _four_k_plus_one(cls, v: int) -> int:
        return DataConfig._four_k_plus_one(v)

    @field_validator("height", "width")
    @classmethod
    def _multiple_of_16(cls, v: int) -> int:
        return DataConfig._multiple_of_16(v)

    @model_validator(mode="after")
    def _planted_drift_chains_pixels(self):
        if self.planted_drift and (self.chaining != "pixel" or self.strategy != "chain"):
            raise ValueError(
                "generate.planted_drift moves each clip and the frames pixel chaining carries: set "
                "generate.strategy=chain and generate.chaining=pixel"
            )
        return self

    def frame_settings(self) -> dict:
        """The settings that determine the frames (for hashes): all but batch_size (throughput only) and
        after_last_prompt (it decides the clip count, which the hash holds), the settings added later only
        when they differ from their defaults (so older hashes hold), and a strategy's own settings only
        under that strategy."""
        unset = {k for k, v in _LATER_DEFAULTS.items() if getattr(self, k) == v}
        unused = {k for s, keys in STRATEGY_SETTINGS.items() if s != self.strategy for k in keys}
        if self.chaining != "latent" or self.strategy == "framepack":  # framepack builds its own y
            unused |= set(LATENT_SETTINGS)
        return self.model_dump(mode="json", exclude={"batch_size", "after_last_prompt"} | unset | unused)

    def clips_for(self, seconds: float, temporal_ratio: int = 4) -> int:
        """Clips of a video at least `seconds` long under this configuration: the one count every
        caller reads (suite generation, the toy benchmark's length, `harness plan`'s cost)."""
        return clips_for_seconds(seconds, self.fps, self.num_frames, self.lead_frames(temporal_ratio))

    def lead_frames(self, temporal_ratio: int = 4) -> int:
        """Frames at the start of a later clip that restate what the previous clip already showed and
        are left out of the assembled video: the K motion frames (pixel chaining), or the anchor frame
        and the carried latents' frames (latent chaining: 1 + temporal_ratio * M); none with
        assembly=keep_all. `temporal_ratio` is the VAE's (Wan: 4)."""
        return 0 if self.assembly == "keep_all" else self.restated_frames(temporal_ratio)

    def restated_frames(self, temporal_ratio: int = 4) -> int:
        """Frames a later clip restates from the previous one (whatever the assembly keeps)."""
        if self.chaining == "pixel":
            return self.motion_frames
        return 1 + temporal_ratio * self.motion_latents

    def latent_frames(self, temporal_ratio: int = 4) -> int:
        """F_lat: latent frames of a clip (the VAE packs frame 0 alone, then `temporal_ratio` per latent)."""
        return (self.num_frames - 1) // temporal_ratio + 1

    def restated_latents(self, temporal_ratio: int = 4) -> int:
        """Latent frames the restated frames fill (K = 1 + r j pixel frames, or the anchor and the M
        carried latents): 1 + ceil((restated - 1) / r)."""
        return 1 + -(-(self.restated_frames(temporal_ratio) - 1) // temporal_ratio)

    def rolling_stage_count(self, temporal_ratio: int = 4) -> int:
        """G of strategy rolling: `rolling_stages`, or gcd(new latent frames of a clip, steps)."""
        if self.rolling_stages is not None:
            return self.rolling_stages
        return math.gcd(
            self.latent_frames(temporal_ratio) - self.restated_latents(temporal_ratio), self.steps
        )

    def freenoise_window_stride(self, temporal_ratio: int = 4) -> int:
        """Latent frames between FreeNoise window starts: `freenoise_stride`, or a quarter of a window."""
        if self.freenoise_stride is not None:
            return self.freenoise_stride
        return max(1, self.latent_frames(temporal_ratio) // 4)

    @model_validator(mode="after")
    def _overlap_fits(self) -> GenerateConfig:
        lead = self.restated_frames()
        if lead >= self.num_frames:
            raise ValueError(
                f"a {self.num_frames}-frame clip leaves no new frame after {lead} condition frames"
            )
        return self

    @model_validator(mode="after")
    def _strategy_fits(self) -> GenerateConfig:
        """What each strategy can do (svi/generation/strategies/), checked before anything runs."""
        s = self.strategy
        for other, keys in STRATEGY_SETTINGS.items():
            for key in keys:
                if other != s and getattr(self, key) != type(self).model_fields[key].default:
                    raise ValueError(
                        f"{key} is a setting of strategy {other}, but strategy is {s}: "
                        f"set strategy={other} or leave {key} out"
                    )
        if s in ("chain", "history_guidance"):
            return self
        if self.assembly != "drop_lead":
            raise ValueError(
                f"strategy {s} assembles its own frames: assembly=keep_all (SVI-Talk's) is for chain only; "
                "use assembly=drop_lead"
            )
        if s in ("rolling", "freenoise") and self.sampler != "euler":
            raise ValueError(
                f"strategy {s} saves its state between single Euler steps (and rolling gives every latent "
                "frame its own noise level), which UniPC's multistep update does not allow: set sampler=euler"
            )
        if s in ("rolling", "freenoise") and self.chaining == "pixel" and (self.motion_frames - 1) % 4:
            k = self.motion_frames
            raise ValueError(
                f"strategy {s} with pixel chaining needs motion_frames = 1 + 4 j (1, 5, 9, ...) so the "
                f"restated frames fill whole latent frames; got {k}: try {k - (k - 1) % 4} or {k - (k - 1) % 4 + 4}"
            )
        f_lat, lead = self.latent_frames(), self.restated_latents()
        if s == "rolling":
            slots, g = f_lat - lead, self.rolling_stage_count()
            if slots % g or self.steps % g:
                fits = [d for d in range(1, slots + 1) if slots % d == 0 and self.steps % d == 0]
                raise ValueError(
                    f"rolling_stages={g} must divide both the {slots} new latent frames of a clip and "
                    f"steps={self.steps}: try one of {fits}"
                )
        if s == "framepack":
            if self.chaining != "latent":
                raise ValueError(
                    "strategy framepack gives its known frames as latents (the anchor image first, the next "
                    "section's first latent frames last), as SVI 2.0 Pro's latent chaining does: set "
                    "chaining=latent (motion_latents: how many latent frames join two sections)"
                )
            if f_lat < 2 * self.motion_latents + 1:
                raise ValueError(
                    f"strategy framepack needs a clip of at least 2 motion_latents + 1 = "
                    f"{2 * self.motion_latents + 1} latent frames (the anchor, the frames the section before "
                    f"copies, its own end); a {self.num_frames}-frame clip has {f_lat}: lower motion_latents"
                )
        if s == "freenoise" and self.freenoise_window_stride() >= f_lat:
            raise ValueError(
                f"freenoise_stride={self.freenoise_stride} must be below the window ({f_lat} latent frames, "
                "one clip) so that windows overlap"
            )
        return self


class ForcingConfig(Section):
    """Training mechanisms beside ERFT (docs/method.md §10; svi/training/forcing.py). A sibling of `erft`, not a mode
    of it, because Diffusion Forcing composes with ERFT (erft.mode erft or plain) while Self-Forcing
    replaces ERFT's banked errors (erft.mode plain only; SVIConfig rejects the other combinations)."""

    # none: every frame of a clip at one noise level (Wan, SVI). diffusion: Diffusion Forcing (Chen et
    # al. 2024), an independent level per latent frame. self: clip-level Self-Forcing (Huang et al.
    # 2025), the condition frames are the model's own rollout of the clip before the training clip.
    kind: Literal["none", "diffusion", "self"] = "none"
    # self: Euler steps of the no-grad rollout of the previous clip (one transformer pass each, on the
    # train.timestep_shift schedule, no CFG). Left out of dumps (and hashes) with other kinds: moot there.
    rollout_steps: int = Field(4, ge=1)

    @model_serializer(mode="wrap")
    def _drop_moot(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if self.kind != "self":
            data.pop("rollout_steps", None)
        return data


class ConditionConfig(Section):
    """SVI-Talk's audio and SVI-Dance's pose conditioning (the adapters of svi/conditions/multitalk.py and svi/conditions/pose.py);
    `none` for Shot and Film. `svi.conditions.attach.attach` builds the adapter from this section alone."""

    kind: Literal["none", "audio", "pose"] = "none"
    # Talk: the local folder of the wav2vec2 audio encoder (chinese-wav2vec2-base). None: the preset's
    # (tiny and toy: a small seeded one built in code).
    audio_encoder: str | None = None
    # The adapter's weights: MultiTalk's audio modules (talk) or the pose encoder (dance), a local file.
    # None: the preset's (tiny: random initialisation).
    weights: str | None = None
    # Train the adapter too: pretraining the toy world's stand-ins for MultiTalk and UniAnimate-DiT (with
    # lora.target_modules: [], the adapter alone). The official recipes keep the audio modules frozen
    # and train the pose encoder with the LoRA (it always trains).
    train_adapter: bool = False
    # Talk: the probability that a training sample's audio is dropped (official: 0.1). Dance drops
    # follow the official rule in svi.conditions.pose.draw_dance_drops (pose 14.5%, CLIP and y 10%).
    p_drop_audio: float = Field(0.1, ge=0.0, le=1.0)
    # Which stream frames drive clip k at inference. official: talk's audio rows from k F - K (with
    # generate.assembly=keep_all, a constant K-frame lead, as test_svi_talk.py); dance's pose frames
    # start with the previous clip's last one (one frame behind, as svi_video_dance.py). aligned:
    # exactly the frames clip k covers in the assembled video.
    schedule: Literal["official", "aligned"] = "official"


VARIANTS: dict[str, dict[str, Any]] = {
    # docs/method.md §5, official scripts.
    "shot": {
        "erft": {"p_noi": 0.01, "p_img": 0.9, "p_vid": 0.9, "p_clean": 0.2, "y_error_num": 3},
        "data": {"cond_frames": 1, "padding": "reference"},
        "generate": {"motion_frames": 1, "padding": "reference"},
    },
    "film": {
        "erft": {"p_noi": 0.01, "p_img": 0.9, "p_vid": 0.9, "p_clean": 0.5, "y_error_num": 3},
        "data": {"cond_frames": 5, "padding": "zeros"},
        "generate": {"motion_frames": 5, "padding": "zeros"},
    },
    # The conditional variants (docs/method.md §5-6): talking heads driven by audio, dancers by a pose video.
    "talk": {
        "erft": {"p_noi": 0.01, "p_img": 0.9, "p_vid": 0.9, "p_clean": 0.2, "y_error_num": 3},
        "data": {"cond_frames": 1, "padding": "reference"},
        "generate": {
            "motion_frames": 1,
            "padding": "reference",
            "fps": 25,
            "guidance_scale": 2.0,
            "audio_guidance_scale": 5.0,
            "assembly": "keep_all",
        },
        "condition": {"kind": "audio"},
    },
    "dance": {
        "erft": {"p_noi": 0.01, "p_img": 0.9, "p_vid": 0.9, "p_clean": 0.2, "y_error_num": 1},
        "data": {"cond_frames": 1, "padding": "reference"},
        # 25 fps: test_svi_dance.py writes one output frame per pose-video frame at 25 fps
        "generate": {"motion_frames": 1, "padding": "reference", "fps": 25, "guidance_scale": 2.0},
        "condition": {"kind": "pose"},
    },
}


# Sections only training reads: an untrained arm (train: false) neither logs them as params nor
# depends on them.
TRAIN_ONLY_SECTIONS = ("train", "erft", "memory", "lora", "data")


class SVIConfig(Section):
    variant: Literal["shot", "film", "talk", "dance"] | None = None
    model: ModelConfig = ModelConfig()
    lora: LoraConfig = LoraConfig()
    erft: ERFTConfig = ERFTConfig()
    memory: MemoryConfig = MemoryConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    generate: GenerateConfig = GenerateConfig()
    condition: ConditionConfig = ConditionConfig()
    forcing: ForcingConfig = ForcingConfig()

    @model_validator(mode="after")
    def _strategy_takes_the_condition(self) -> SVIConfig:
        if self.condition.kind != "none" and self.generate.strategy != "chain":
            raise ValueError(
                f"generate.strategy={self.generate.strategy} takes no {self.condition.kind} conditioning: the "
                f"adapters' streams are cut per chained clip (svi.model.adapters.clip_frame_range). Use "
                f"generate.strategy=chain for the {self.condition.kind}-driven variants"
            )
        return self

    @model_validator(mode="after")
    def _forcing_combines(self) -> SVIConfig:
        if self.forcing.kind == "self" and self.erft.mode != "plain":
            raise ValueError(
                "forcing.kind=self conditions each clip on the model's own rollout in place of the errors "
                "ERFT injects from its replay memory (Self-Forcing keeps no memory): set erft.mode=plain, "
                "or forcing.kind=diffusion to combine a forcing with ERFT"
            )
        if self.forcing.kind == "self" and self.condition.kind != "none":
            raise ValueError(
                f"forcing.kind=self needs the clip before each training clip and its {self.condition.kind} "
                "stream to roll it out; only the Shot / Film data layout (condition.kind=none) gives it"
            )
        return self

    @model_serializer(mode="wrap")
    def _drop_later_sections(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The forcing section came after runs were trained: without a forcing (kind none, its other
        # settings moot) it is left out of dumps, hence of stage hashes, so the hashes of those runs hold.
        data = handler(self)
        if self.forcing.kind == "none":
            data.pop("forcing", None)
        return data


class ConfigError(ValueError):
    """A configuration problem, with the file and key it comes from."""


def deep_merge(base: dict, diff: dict) -> dict:
    """Return base updated by diff, recursing into nested dicts (diff wins)."""
    out = copy.deepcopy(base)
    for key, value in diff.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def clips_for_seconds(seconds: float, fps: int, clip_frames: int, lead: int) -> int:
    """Fewest clips whose assembled video lasts at least `seconds`: F + (N - 1)(F - lead) >= seconds * fps."""
    want = math.ceil(seconds * fps - 1e-9)
    if want <= clip_frames:
        return 1
    return 1 + math.ceil((want - clip_frames) / (clip_frames - lead))


_LENGTH = re.compile(r"([0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)s?")


def parse_length(text: str | float) -> float:
    """'50s' / '250s' / '12.5s' / 50 -> seconds (a video length, a scoring window). Written exactly so
    (digits, an optional fraction and exponent, an optional `s`: a track is named by it, so not
    `' 50S '`), finite and positive: `infs`, `nans`, `1e309s` are refused."""
    if isinstance(text, bool) or not isinstance(text, (int, float, str)):
        raise ValueError(f"length {text!r} must be seconds such as '50s' or '250s'")
    if isinstance(text, (int, float)):
        seconds = float(text)
    elif _LENGTH.fullmatch(text):
        seconds = float(_LENGTH.fullmatch(text)[1])
    else:
        raise ValueError(f"length {text!r} must be seconds written as digits, such as '50s' or '12.5s'")
    if not math.isfinite(seconds):
        raise ValueError(f"length {text!r} is not a finite number of seconds: write digits, such as '50s'")
    if not seconds > 0:
        raise ValueError(f"length must be a positive number of seconds, got {text!r}")
    return seconds


# -- the one YAML reader of declarations ------------------------------------------------------------
# Experiment, config, sweep and pretraining files, and dotted override values, may come from anyone, so
# every one of them is read here, within bounds: a hostile file (an alias bomb, a 50 MB list, duplicate
# keys that hide a setting) costs milliseconds and one message naming the file, not minutes or gigabytes.
# PyYAML's safe semantics stay (plain data, no Python objects); libyaml parses when it is installed.

YAML_MAX_BYTES = 1 << 20  # a declaration file or override value; the shipped ones are a few kB
# What the document holds once every alias is expanded (json.dumps, deepcopy and validation walk it
# whole): a billion-laughs bomb of 9 levels is 10^9 values from a few hundred bytes.
YAML_MAX_NODES = 100_000
YAML_MAX_TEXT = 4 * YAML_MAX_BYTES  # characters of the expanded strings (a long string aliased often)
YAML_MAX_DEPTH = 32  # nesting of lists and mappings; the shipped declarations nest 5 deep
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _refuse(source: str, mark: Any, message: str) -> ConfigError:
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return ConfigError(f"{source}: {where}{message}")


class _BoundedComposer(yaml.composer.Composer):
    """PyYAML's composer, counting what the document holds with its aliases expanded as it composes.
    The node graph shares an aliased node, so nothing is expanded to count it: each anchored node's
    expanded size is kept, and an alias adds it. A document over a bound stops where it crosses it."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source
        self.depth = 0
        self.nodes = 0
        self.text = 0
        self.sizes: dict[int, tuple[int, int]] = {}  # id(anchored node) -> (nodes, characters)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = self.anchors.get(event.anchor)
            if node is not None:  # (an undefined alias is PyYAML's own error)
                if id(node) not in self.sizes:
                    raise _refuse(
                        self.source, event.start_mark,
                        f"alias *{event.anchor} refers to a node that contains it (a structure without end): "
                        "a declaration is a tree; write the value out",
                    )  # fmt: skip
                self._count(*self.sizes[id(node)], event)
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > YAML_MAX_DEPTH:
            raise _refuse(
                self.source, event.start_mark,
                f"nested more than {YAML_MAX_DEPTH} lists or mappings deep: a declaration nests a few levels; "
                "flatten it (dotted keys such as erft.p_img: 0.5)",
            )  # fmt: skip
        nodes, text = self.nodes, self.text
        node = super().compose_node(parent, index)
        self.depth -= 1
        self._count(1, len(node.value) if isinstance(node, yaml.ScalarNode) else 0, event)
        if event.anchor is not None:
            self.sizes[id(node)] = (self.nodes - nodes, self.text - text)
        return node

    def _count(self, nodes: int, text: int, event: Any) -> None:
        self.nodes += nodes
        self.text += text
        if self.nodes > YAML_MAX_NODES:
            raise _refuse(
                self.source, event.start_mark,
                f"more than {YAML_MAX_NODES} values with its aliases expanded (an alias bomb, or a generated "
                "list?): a declaration holds a few hundred; declare fewer, or split the experiment",
            )  # fmt: skip
        if self.text > YAML_MAX_TEXT:
            raise _refuse(
                self.source, event.start_mark,
                f"more than {YAML_MAX_TEXT} characters of text with its aliases expanded (a long string "
                "aliased many times?): write each value once",
            )  # fmt: skip


class _UniqueKeysConstructor(yaml.constructor.SafeConstructor):
    """PyYAML's safe constructor, refusing a key given twice in one mapping (PyYAML keeps the last,
    silently, which hides the setting that was written first). A merge (`<<: *base`) may still be
    overridden by the mapping's own keys: that is what merging is for."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source
        self.checked: set[int] = set()

    def flatten_mapping(self, node):
        # The first flatten of a node sees its own keys: flattening a merge rewrites the merged node.
        if id(node) not in self.checked:
            self.checked.add(id(node))
            self._refuse_repeated_keys(node)
        super().flatten_mapping(node)

    def _refuse_repeated_keys(self, node: yaml.MappingNode) -> None:
        seen: dict[Any, yaml.ScalarNode] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue  # (a list or mapping as key is PyYAML's own error: unhashable)
            key = self.construct_object(key_node)
            first = seen.setdefault(key, key_node)
            if first is not key_node:
                same = (
                    "appears twice" if first.value == key_node.value else f"repeats {_short(first.value)!r}"
                )
                line = first.start_mark.line + 1
                raise _refuse(
                    self.source, key_node.start_mark,
                    f"key {_short(key_node.value)!r} {same} in one mapping (first on line {line}): keep one",
                )  # fmt: skip


def _short(text: str, limit: int = 60) -> str:
    """A key as a message shows it: a long one cut, so that the message stays one readable line."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _PythonParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's own reader, scanner and parser: the events, where libyaml is not installed."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


def _loader_class(parser: type) -> type:
    """Parser events -> the bounded composer -> the safe constructor that refuses repeated keys. The
    composer comes before the parser so that its methods, not libyaml's own composer, build the nodes."""

    class DeclarationLoader(_BoundedComposer, parser, _UniqueKeysConstructor, yaml.resolver.Resolver):
        def __init__(self, text: str, source: str) -> None:
            parser.__init__(self, text)
            _BoundedComposer.__init__(self, source)
            _UniqueKeysConstructor.__init__(self, source)
            yaml.resolver.Resolver.__init__(self)

    return DeclarationLoader


try:  # libyaml's parser when PyYAML was built with it (several times faster), else PyYAML's own
    from yaml.cyaml import CParser as _FastParser
except ImportError:
    _FastParser = _PythonParser
_DeclarationLoader = _loader_class(_FastParser)
# YAML 1.2's floats without a dot (1e30, 1e-4): PyYAML resolves YAML 1.1, where they are strings, and the
# schema takes a number only as a number. Tried after 1.1's int and float, so 10 stays an int.
_DeclarationLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml_problem(e: yaml.YAMLError) -> str:
    """PyYAML's error on one line: where, then what (its own message spans lines with a snippet)."""
    if not isinstance(e, yaml.MarkedYAMLError):
        return "invalid YAML: " + " ".join(str(e).split())
    mark = e.problem_mark or e.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    what = "; ".join(str(part) for part in (e.context, e.problem) if part)
    return f"invalid YAML{where}: {what}"


def load_yaml_text(text: str, source: str) -> Any:
    """YAML text -> plain data (dicts, lists, scalars), within this section's bounds, or a ConfigError
    on one line naming `source` (a file, an override) and what to do."""
    if len(text) > YAML_MAX_BYTES:
        raise ConfigError(
            f"{source}: {len(text)} characters, more than a declaration may hold ({YAML_MAX_BYTES}): "
            "declare fewer values"
        )
    loader = _DeclarationLoader(text, source)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: {_yaml_problem(e)}") from None
    finally:
        loader.dispose()


def load_yaml_file(path: str | Path) -> Any:
    """A YAML declaration file -> plain data, within the bounds of `load_yaml_text`. The size is
    checked before a byte is read, so a 50 MB file is refused in milliseconds."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path}: not a regular file; give a YAML file")
    too_big = (
        f"{path}: {{}} bytes, more than a declaration file may hold ({YAML_MAX_BYTES} bytes, 1 MiB; the "
        "shipped ones are a few kB): declare fewer values, e.g. seeds: [0, 1, 2], not a generated list"
    )
    if info.st_size > YAML_MAX_BYTES:
        raise ConfigError(too_big.format(info.st_size))
    with path.open("rb") as f:
        data = f.read(YAML_MAX_BYTES + 1)  # a file that grew since the stat is still cut at the bound
    if len(data) > YAML_MAX_BYTES:
        raise ConfigError(too_big.format(f"more than {YAML_MAX_BYTES}"))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    return load_yaml_text(text, str(path))


def read_mapping(path: Path) -> dict:
    """A YAML file whose top level is a mapping, or a ConfigError naming the file."""
    data = load_yaml_file(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def dotted(key: str, value: Any) -> dict:
    """`a.b.c`, value -> {"a": {"b": {"c": value}}}: a typed override (an arm's, a trial's) as a diff."""
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"override key {key!r} has an empty key part")
    for part in reversed(parts):
        value = {part: value}
    return value


def parse_override(text: str) -> dict:
    """`a.b.c=value` (the command line's) -> {"a": {"b": {"c": value}}}; value is parsed as YAML
    (numbers, lists, null)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.subkey=value")
    key, raw = text.split("=", 1)
    value = load_yaml_text(raw, f"override {key.strip()}") if raw.strip() else ""
    return dotted(key, value)


MAX_EXTENDS = 16  # files one `extends:` chain may read (each within the reader's bounds)


def read_yaml(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict:
    """Read a YAML config, resolving `extends:` (a path relative to the file) recursively."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"{path}: `extends` forms a cycle: {' -> '.join(map(str, _seen + (path,)))}")
    if len(_seen) >= MAX_EXTENDS:
        raise ConfigError(
            f"{_seen[0]}: `extends` chains more than {MAX_EXTENDS} files (reached {path}): merge some of them"
        )
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    data = read_mapping(path)
    parent = data.pop("extends", None)
    if parent:
        data = deep_merge(read_yaml(path.parent / parent, _seen + (path,)), data)
    return data


def format_validation_error(err: ValidationError, source: str) -> str:
    """`source: invalid configuration: key: what`, one line for one problem; several problems get a
    line each under the first."""
    problems = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "literal_error":
            msg = f"{msg} (got {e.get('input')!r})"
        elif e["type"] == "value_error":  # a validator's own message, without pydantic's prefix
            msg = msg.removeprefix("Value error, ")
        problems.append(f"{key}: {msg}")
    if len(problems) == 1:
        return f"{source}: invalid configuration: {problems[0]}"
    return "\n".join([f"{source}: invalid configuration", *(f"  {p}" for p in problems)])


def build_config(raw: dict, source: str = "<config>", schema: type[BaseModel] = SVIConfig):
    """Validate a raw dict: the preset's defaults (svi/model/presets.py) under the variant's values under the
    explicit ones."""
    if "variant" not in schema.model_fields:  # another schema (e.g. svi.training.pretrain's): no SVI defaults
        try:
            return schema.model_validate(raw)
        except ValidationError as e:
            raise ConfigError(format_validation_error(e, source)) from None
    variant = raw.get("variant")
    if isinstance(variant, str) and variant in VARIANTS:
        raw = deep_merge(VARIANTS[variant], raw)
    model = raw.get("model") or {}
    preset = model.get("preset", DEFAULT_PRESET) if isinstance(model, dict) else None
    if isinstance(preset, str) and preset in PRESETS:  # (an unknown name fails validation below)
        raw = deep_merge(dict(PRESETS[preset].defaults), raw)
    try:
        return schema.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source)) from None


def load_config(path: str | Path | None = None, overrides: list[str] = (), schema=SVIConfig):
    """Load `path` (or the defaults), apply dotted overrides, validate."""
    raw = read_yaml(path) if path else {}
    for text in overrides:
        raw = deep_merge(raw, parse_override(text))
    source = str(path) if path else "<defaults>"
    if overrides:
        source += " with overrides " + " ".join(overrides)
    return build_config(raw, source, schema)


def save_config(cfg: BaseModel, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
