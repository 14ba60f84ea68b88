"""Long-video generation, clip by clip (METHOD.md §6).

Clip 0 is conditioned on the reference image; clip k on the end of clip k-1:
- `pixel` chaining (SVI 1.0): the last K decoded frames are re-encoded by the VAE together with the
  padding (the reference image repeated, or zeros). The output keeps video[:-K] of every clip but
  the last, so a video of N clips has N (F - K) + K frames. The CLIP image feature is recomputed
  from the first motion frame every clip (official; `clip_image: reference` keeps the reference's).
- `latent` chaining (SVI 2.0 Pro): y = [VAE(anchor image), last latent frame(s) of clip k-1, zeros],
  with no decode/re-encode between clips. A later clip's first 1 + 4 M frames restate the anchor
  and the carried motion, so they are dropped: N clips have F + (N - 1)(F - 1 - 4 M) frames.
Each clip is sampled with classifier-free guidance (`guidance_passes`: text CFG's conditional and
unconditional passes, SVI-Talk's three with audio, all in one batched forward), Euler over the
shifted schedule or diffusers' UniPC, and its own seed. A model with adapters (svi/adapters.py:
audio, pose) takes their inputs per clip from each job's streams, sliced to the frames the clip
covers in the long video (`svi.adapters.clip_frame_range`).

Frames reach disk as each clip finishes (one mp4 segment per clip, joined at the end), so memory
stays flat however long the video is. After every clip the chaining state is saved, and a call
with the same configuration resumes from the last finished clip and ends identical to an
uninterrupted run.

Videos are generated in batches (`generate_batch`, up to `generate.batch_size` at a time; `generate`
is the batch of one): each round takes the next clip of every video in the batch, each with its own
reference image, prompt, chaining state and noise (clip k of a video draws from noise_seed on the CPU,
exactly as alone), through one text-encoder call, one VAE encode for the conditioning, one
transformer forward per step (with CFG: B conditional and B unconditional rows) and one decode.
The videos may be at different clips (a resumed one ahead of a fresh one) and of different lengths:
one that ends leaves the batch and the next job takes its place. Segments, state files and sidecars
are per video and the same as alone, so a killed batch resumes video by video; the frames match
one-at-a-time generation up to float rounding (batched kernels sum in another order), and
`batch_size` is not part of the configuration hash.

`generate.strategy` picks how the long video is made; this file is `chain` (above, the default) and
`history_guidance` (chain with one more guidance pass). The others are modules of svi/strategies/
(rolling, framepack, freenoise) driven by the same loop: each round the strategy advances every video
of the batch (`Strategy.advance`), and commits finished clips through `_commit`, which writes the
segment, the state file (the strategy's own state under "strategy") and the sidecar. So every strategy
streams to disk, resumes from its last saved state and batches its videos the same way.

`LongVideoGenerator.from_config(cfg, lora, device)` is the one way an entry point (harness run,
harness generate, sweeps) builds a generator; its sidecar JSON records the backbone's settings
(preset, dtype, attention, LoRA scale).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from svi import flow
from svi.conditioning import build_condition, frame_mask
from svi.config import (
    ConditionConfig,
    GenerateConfig,
    SVIConfig,
    parse_length,  # noqa: F401 - re-exported (callers hold svi.generate)
)
from svi.files import atomic_torch_save, atomic_write_text
from svi.forcing import frame_timesteps_to_tokens
from svi.video_io import concat_segments, to_uint8_frames, write_segment

# A prompt source gives the prompt of clip k, or None when the video should end there.
PromptSource = Callable[[int], "str | None"]
# A conditioning stream gives an adapter's input for clip k, which covers frames [start, stop) of the
# assembled video (`clip_frame_range`), or None past its end.
ClipStream = Callable[[int, int, int], "torch.Tensor | None"]


# -- clip and frame arithmetic (pure) -----------------------------------------------------------


def lead_frames(cfg: GenerateConfig, temporal_ratio: int = 4) -> int:
    """Alias of `GenerateConfig.lead_frames` (the one definition), for callers holding a config."""
    return cfg.lead_frames(temporal_ratio)


def total_frames(num_clips: int, clip_frames: int, lead: int) -> int:
    """Frames of an assembled video of num_clips clips: F + (N - 1)(F - lead)."""
    return clip_frames + (num_clips - 1) * (clip_frames - lead) if num_clips > 0 else 0


def clips_for_seconds(seconds: float, fps: int, clip_frames: int, lead: int) -> int:
    """Fewest clips whose assembled video lasts at least `seconds`."""
    want = math.ceil(seconds * fps - 1e-9)
    if want <= clip_frames:
        return 1
    return 1 + math.ceil((want - clip_frames) / (clip_frames - lead))


def assign_prompts(
    prompts: Sequence[str], num_clips: int, mode: str = "stream", after_last: str = "repeat"
) -> list[str]:
    """The prompt of each clip, `num_clips` at most: `stream` takes them in order, `first` uses prompt 0
    for every clip. A stream shorter than the clips (`generate.after_last_prompt`): `repeat` repeats its
    last prompt up to num_clips; `stop` ends the list there, min(num_clips, len(prompts)) clips, as the
    official test_svi.py caps a video's clips at its number of prompts (`first`, its
    --use_first_prompt_only, is never capped)."""
    if not prompts:
        raise ValueError("no prompts given")
    if after_last not in ("repeat", "stop"):
        raise ValueError(f"unknown after_last {after_last!r}; use 'repeat' or 'stop'")
    if mode == "first":
        return [prompts[0]] * num_clips
    if mode != "stream":
        raise ValueError(f"unknown prompt mode {mode!r}; use 'stream' or 'first'")
    if after_last == "stop":
        return list(prompts[:num_clips])
    return [prompts[min(k, len(prompts) - 1)] for k in range(num_clips)]


# clip_seed's scheme, in every video's hash: a video begun under seed + clip is not resumed
NOISE_STREAMS = "seedseq"
# generate.noise=official's scheme: test_svi.py seeds clip k's CPU generator with k * 42 (its
# --seed_times, default 42) and draws torch.randn(shape, generator, dtype=float32) on the CPU
OFFICIAL_NOISE = "cpu-generator-42k"
OFFICIAL_SEED_STEP = 42


def clip_seed(seed: int, clip: int) -> int:
    """The noise seed of clip `clip` of a video generated with `seed` (generate.noise=streams): a separate
    stream for every (seed, clip) pair (numpy's SeedSequence), so no two clips of one video share noise
    (identical noise in every clip accumulates artifacts) and no two seeds do either. The former seed +
    clip gave seed s + 1 clip k the noise of seed s clip k + 1, so an experiment's seeds were not
    independent replicates. The official test_svi.py generates one video and seeds its clip k with 42 k:
    distinct noise per clip, but the same for every video; generate.noise=official draws exactly that."""
    return int(np.random.SeedSequence([seed, clip]).generate_state(1, dtype=np.uint64)[0] >> 1)


def noise_seed(scheme: str, seed: int, clip: int) -> int:
    """The seed of clip `clip`'s CPU noise generator under generate.noise `scheme`: clip_seed(seed, clip)
    for streams; 42 clip for official (test_svi.py's rule; `seed` is not used)."""
    if scheme == "official":
        return OFFICIAL_SEED_STEP * clip
    if scheme != "streams":
        raise ValueError(f"unknown noise scheme {scheme!r}; use 'streams' or 'official'")
    return clip_seed(seed, clip)


def noise_generator(scheme: str, seed: int, clip: int) -> torch.Generator:
    """A CPU generator seeded for clip `clip` (`noise_seed`): the device does not change the draws."""
    return torch.Generator().manual_seed(noise_seed(scheme, seed, clip))


def config_hash(cfg: GenerateConfig, extra: dict | None = None) -> str:
    """Digest of everything that determines the frames (the config and e.g. the inputs' digest); the
    noise scheme is in it, so a video begun under another scheme is not resumed."""
    noise = NOISE_STREAMS if cfg.noise == "streams" else OFFICIAL_NOISE
    blob = json.dumps({"generate": cfg.frame_settings(), "noise": noise, **(extra or {})}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# -- sampling one clip ----------------------------------------------------------------------------


def _unipc(cfg: GenerateConfig):
    from diffusers import UniPCMultistepScheduler

    sched = UniPCMultistepScheduler(
        num_train_timesteps=flow.NUM_TRAIN_TIMESTEPS,
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        flow_shift=cfg.shift,
    )
    sched.set_timesteps(cfg.steps)
    return sched


@dataclass(frozen=True)
class GuidancePass:
    """One forward of a guided denoising step: the prompt's context (text) or the negative prompt's,
    the conditioning streams given as they are (the others get their adapter's null input), and the
    pass's weight in the guided velocity."""

    text: bool
    streams: frozenset[str]
    weight: float
    # the clip's conditioning as chaining builds it; False: history guidance's pass without the frames
    # carried from the previous clip (svi/strategies/history_guidance.py)
    history: bool = True


def guidance_passes(
    cfg: GenerateConfig, streams: Collection[str] = (), history: bool = True
) -> list[GuidancePass]:
    """The passes of one step; the guided velocity is sum_i weight_i v_i (the weights sum to 1).

    Text CFG (METHOD.md §6): v = v_u + s (v_c - v_u); the streams (a pose video) are in both passes.
    With an audio stream and audio_guidance_scale (SVI-Talk, MultiTalk's two scales):
    v = v_u + s_t (v_c - v_t) + s_a (v_t - v_u), where v_c has text and audio, v_t the negative
    prompt and audio, v_u neither. With strategy history_guidance and clips that have a history
    (`history`; clip 0 has none): v = v_c + (s - 1)(v_c - v_t) + (w - 1)(v_c - v_h), v_h without the
    history (svi.strategies.history_guidance). Passes of weight 0 are left out: a scale of 1 drops its pass."""
    every = frozenset(streams)
    s_t = cfg.guidance_scale
    if cfg.strategy == "history_guidance" and history:
        from svi.strategies.history_guidance import history_weights

        passes = [
            GuidancePass(text, every, weight, hist)
            for text, hist, weight in history_weights(s_t, cfg.history_scale)
        ]
    elif "audio" in every and cfg.audio_guidance_scale is not None:
        s_a = cfg.audio_guidance_scale
        passes = [
            GuidancePass(True, every, s_t),
            GuidancePass(False, every, s_a - s_t),
            GuidancePass(False, every - {"audio"}, 1.0 - s_a),
        ]
    else:
        passes = [GuidancePass(True, every, s_t), GuidancePass(False, every, 1.0 - s_t)]
    return [p for p in passes if p.weight != 0.0]


def needs_negative(cfg: GenerateConfig, streams: Collection[str] = ()) -> bool:
    """Whether a step runs a pass with the negative prompt (its context is encoded once per video batch)."""
    return any(not p.text for p in guidance_passes(cfg, streams))


class GuidedVelocity:
    """The guided velocity of B samples: v(x, sigma) = sum_i w_i v_i(x, sigma) over the guidance passes
    (`guidance_passes`), all passes in one transformer forward ([P B, ...]; text CFG: P = 2, talk: P = 3).

    y [B, 20, F_lat, h, w]; context [B, L, D]; neg_context [1, L, D] (shared) or None (no pass with the
    negative prompt: text and audio unguided); image_context [B, N, D] or None; streams: the attached
    adapters' inputs for these B clips (svi/adapters.py), e.g. {"audio": [B, F, 5, L, D]}, bound to the
    forwards under `conditioning()`; no_history: (y, image_context) of history guidance's pass without
    history, or None. sigma: one level for every token (a float, the timestep per batch element), or one
    per latent frame [B, F_lat] (the transformer's per-token timestep, [B, seq_len])."""

    def __init__(
        self,
        transformer,
        y: torch.Tensor,
        context: torch.Tensor,
        neg_context: torch.Tensor | None,
        image_context: torch.Tensor | None,
        cfg: GenerateConfig,
        streams: dict[str, torch.Tensor] | None = None,
        no_history: tuple[torch.Tensor, torch.Tensor | None] | None = None,
    ):
        from svi.adapters import adapters_of

        streams = streams or {}
        if neg_context is None:  # no negative prompt: no text (nor audio) guidance
            cfg = cfg.model_copy(update={"guidance_scale": 1.0, "audio_guidance_scale": None})
        passes = guidance_passes(cfg, streams, history=no_history is not None)
        self.transformer = transformer
        self.dtype = dtype = next(transformer.parameters()).dtype
        b = y.shape[0]
        y_free, image_free = no_history if no_history is not None else (None, None)
        self.ctx = torch.cat([context if p.text else neg_context.expand(b, -1, -1) for p in passes]).to(dtype)
        self.y = torch.cat([y if p.history else y_free for p in passes]).to(dtype)
        self.image = (
            None
            if image_context is None
            else torch.cat([image_context if p.history else image_free for p in passes]).to(dtype)
        )
        adapters = adapters_of(transformer)
        self.stream_rows = {
            name: torch.cat([x if name in p.streams else adapters[name].null_input(x) for p in passes])
            for name, x in streams.items()
        }
        self.weights = [p.weight for p in passes]

    def conditioning(self):
        """The adapters' inputs, bound for the forwards inside the block (they hold for a whole loop: the
        adapters encode them once, `Adapter.encoded`)."""
        from svi.adapters import conditioning

        return conditioning(self.transformer, **self.stream_rows)

    def timesteps(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        """The transformer's timestep for the P B rows: [P B] for one level, [P B, seq_len] per frame."""
        rows = len(self.weights) * x.shape[0]
        if not isinstance(sigma, torch.Tensor):
            return torch.full((rows,), flow.sigma_to_t(sigma), device=x.device)
        p_t, p_h, p_w = self.transformer.config.patch_size  # Wan: (1, 2, 2)
        if p_t != 1 or sigma.shape != (x.shape[0], x.shape[2]):
            raise ValueError(
                f"per-frame sigma must be [B, F_lat] = {(x.shape[0], x.shape[2])} with patch_t 1"
            )
        per_frame = flow.sigma_to_t(sigma).to(device=x.device, dtype=torch.float32)  # [B, F_lat]
        tokens = (x.shape[-2] // p_h) * (x.shape[-1] // p_w)  # tokens per latent frame
        return frame_timesteps_to_tokens(torch.cat([per_frame] * len(self.weights)), tokens)

    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        """x [B, 16, F_lat, h, w] at level sigma -> the guided velocity [B, 16, F_lat, h, w] (float32)."""
        n = len(self.weights)
        xin = torch.cat([x] * n)  # [P B, 16, F_lat, h, w]
        t = self.timesteps(x, sigma)
        v = self.transformer(
            torch.cat([xin, self.y], dim=1).to(self.dtype), t, self.ctx, self.image, return_dict=False
        )[0]
        if n == 1:
            return v.float()
        parts = v.float().chunk(n)
        if n == 2:  # text CFG in its usual form: v_u + s (v_c - v_u)
            return parts[1] + self.weights[0] * (parts[0] - parts[1])
        return sum(w * part for w, part in zip(self.weights, parts))


@torch.no_grad()
def sample_latents(
    transformer,
    noise: torch.Tensor,
    y: torch.Tensor,
    context: torch.Tensor,
    neg_context: torch.Tensor | None,
    image_context: torch.Tensor | None,
    cfg: GenerateConfig,
    progress: tqdm | None = None,
    streams: dict[str, torch.Tensor] | None = None,
    no_history: tuple[torch.Tensor, torch.Tensor | None] | None = None,
) -> torch.Tensor:
    """Integrate B clips from noise [B, 16, F_lat, h, w] to clean latents, every step one transformer
    forward over the guidance passes together (`GuidedVelocity`, which documents the inputs). The samples
    share the step schedule; the timestep goes per batch element."""
    velocity = GuidedVelocity(transformer, y, context, neg_context, image_context, cfg, streams, no_history)
    x = noise.float()
    with velocity.conditioning():
        if cfg.sampler == "euler":
            sigmas = torch.cat(
                [flow.shifted_sigmas(cfg.steps, cfg.shift), torch.zeros(1, dtype=torch.float64)]
            )
            for s, s_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
                x = flow.euler_step(x, velocity(x, s), s, s_next)
                if progress is not None:
                    progress.update(1)
        else:
            sched = _unipc(cfg)
            for i, t in enumerate(sched.timesteps):
                x = sched.step(velocity(x, float(sched.sigmas[i])), t, x).prev_sample
                if progress is not None:
                    progress.update(1)
    return x


# -- the long-video generator ------------------------------------------------------------------


@dataclass
class VideoResult:
    path: Path
    sidecar: Path
    num_clips: int
    num_frames: int
    resumed_from: int  # clips finished before this call (chain: the clip it restarted at); 0: fresh
    skipped: bool  # the finished video already existed


@dataclass
class VideoJob:
    """One video to generate, alone or in a batch with others.

    image: the reference [3, H, W] in [-1, 1], or a function that loads it (called when the video
    enters the batch, so a suite's jobs never hold every image at once). prompts(k) gives clip k's
    prompt; the video ends at `num_clips` or when it returns None. `metadata` (e.g. suite, sample,
    digest) goes into the sidecar JSON and into the configuration hash. `streams` gives the inputs of
    the generator's adapters (svi/adapters.py) per clip: streams[name](k, start, stop) is the input of
    clip k, which covers frames [start, stop) of the long video (`clip_frame_range`), e.g. audio
    windows [F, 5, L, D] or pose maps [3, F, H, W]; None ends the video (the audio has run out)."""

    image: torch.Tensor | Callable[[], torch.Tensor]
    prompts: PromptSource
    out_path: str | Path
    num_clips: int | None = None
    metadata: dict | None = None
    streams: dict[str, ClipStream] | None = None


@dataclass
class _Video:
    """A video being generated: its files and its chaining state (what parts/state.pt holds).

    `state` is the strategy's own resumable state (tensors and numbers, saved with the rest); `cache` what a
    strategy keeps for the video while it is in the batch and rebuilds on resume (encoded contexts)."""

    job: VideoJob
    out_path: Path
    digest: str
    reference: torch.Tensor  # [1, 3, H, W]
    anchor: torch.Tensor | None  # [1, 16, 1, h, w]: VAE(reference), latent chaining only
    clips: list[dict]  # the sidecar's per-clip records
    chain: torch.Tensor | None  # None before clip 0; [1, 3, K, H, W] frames or [1, 16, M, h, w] latents
    held: np.ndarray | None  # pixel chaining: the last K frames [K, H, W, 3], written at the end
    next_clip: int
    written: int  # frames in the written segments
    start: int  # clips already finished when this call started (> 0: resumed)
    prompt: str | None = None  # the next clip's prompt
    inputs: dict[str, torch.Tensor] | None = None  # the next clip's adapter inputs (streams)
    state: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)

    @property
    def parts(self) -> Path:
        return self.out_path.with_name(self.out_path.stem + ".parts")

    @property
    def sidecar(self) -> Path:
        return self.out_path.with_suffix(".json")


class LongVideoGenerator:
    """Generates long videos with a Wan I2V backbone (optionally with an SVI LoRA).

    `from_config` is how entry points build one; the constructor takes a backbone already built (the
    trainer's probes use the live one being trained).
    """

    def __init__(
        self,
        backbone,
        cfg: GenerateConfig,
        device: torch.device | str = "cpu",
        condition: ConditionConfig | None = None,
    ):
        from svi.adapters import adapters_of

        self.bb, self.cfg, self.device = backbone, cfg, torch.device(device)
        # How the jobs' streams are cut per clip (svi.conditions.clip_streams); none: no adapter.
        self.condition = condition or ConditionConfig()
        self.lead = cfg.lead_frames(backbone.temporal_ratio)
        self.latent_shape = backbone.latent_shape(cfg.num_frames, cfg.height, cfg.width)
        # The adapters' inputs every job must give (audio, pose): none for the plain Wan I2V model.
        self.streams = tuple(adapters_of(backbone.transformer))
        if self.streams and cfg.strategy != "chain":
            raise ValueError(
                f"strategy {cfg.strategy} takes no {'/'.join(self.streams)} conditioning (its streams are cut "
                "per chained clip): use strategy chain for the adapter-driven variants"
            )
        from svi.strategies import build_strategy

        self.strategy = build_strategy(cfg.strategy)

    @classmethod
    def from_config(
        cls, cfg: SVIConfig, lora: str | Path | None = None, device: torch.device | str = "cpu"
    ) -> LongVideoGenerator:
        """The generator of a run: `load_backbone(cfg.model)` on `device` (seeded by train.seed for the
        random-init preset), the transformer in eval mode, the `lora` file (None: the bare base model)
        loaded at `cfg.generate.lora_scale`, generating with `cfg.generate`. The caller picks the LoRA
        (a trained arm's, or cfg.generate.lora): this does not read cfg.generate.lora."""
        from svi.backbone import load_backbone
        from svi.lora import load_lora

        bb = load_backbone(cfg.model, device=device, seed=cfg.train.seed, condition=cfg.condition)
        bb.transformer.eval()
        if lora is not None:
            load_lora(bb.transformer, lora, scale=cfg.generate.lora_scale)
            bb.lora_scale = cfg.generate.lora_scale
        return cls(bb, cfg.generate, device, cfg.condition)

    # -- B clips, one per sample: conditioning -> sampling -> decoding ---------------------------

    def _condition(
        self,
        references: torch.Tensor,
        chains: Sequence[torch.Tensor | None],
        anchors: torch.Tensor | None,
    ) -> torch.Tensor:
        """y [B, 20, F_lat, h, w] for each sample's next clip; chains[b] is None for clip 0.

        references [B, 3, H, W]; anchors [B, 16, 1, h, w] (latent chaining). Samples whose condition
        frames have the same count share one VAE encode (all of them, unless clip 0 meets K > 1)."""
        cfg, bb = self.cfg, self.bb
        ys: list[torch.Tensor | None] = [None] * len(chains)
        by_frames: dict[int, list[int]] = {}  # condition frame count K -> samples
        for b, chain in enumerate(chains):
            if chain is None or cfg.chaining == "pixel":
                by_frames.setdefault(1 if chain is None else chain.shape[2], []).append(b)
        for idx in by_frames.values():
            cond = torch.cat([references[b, :, None][None] if chains[b] is None else chains[b] for b in idx])
            y = build_condition(bb, cond, cfg.num_frames, cfg.padding, references[idx], cfg.mask)
            for i, b in enumerate(idx):
                ys[b] = y[i : i + 1]
        # latent chaining after clip 0: [anchor, carried latents, zeros], no VAE
        c, f_lat, h, w = self.latent_shape
        for b, chain in enumerate(chains):
            if ys[b] is None:
                m = chain.shape[2]
                latent = anchors.new_zeros(1, c, f_lat, h, w)
                latent[:, :, :1] = anchors[b : b + 1]
                latent[:, :, 1 : 1 + m] = chain
                mask = frame_mask(1, cfg.num_frames, 1 + bb.temporal_ratio * m, (h, w), bb.temporal_ratio)
                ys[b] = torch.cat([mask.to(latent), latent], dim=1)
        return torch.cat(ys)

    def clip_contexts(
        self, references: torch.Tensor, chains: Sequence[torch.Tensor | None]
    ) -> torch.Tensor | None:
        """The CLIP features [B, N, D] for each sample's next clip, in one encode: the reference image's
        for clip 0 (chain None), for latent chaining and with clip_image=reference; else the first
        motion frame's (official). None without an image encoder."""
        own = self.cfg.chaining == "latent" or self.cfg.clip_image == "reference"
        images = [
            ref[None] if chain is None or own else chain[:, :, 0]  # [1, 3, H, W]
            for ref, chain in zip(references, chains)
        ]
        return self.bb.encode_image(torch.cat(images))

    def clip_noise(self, seed: int, clip: int) -> torch.Tensor:
        """Clip `clip`'s initial noise [1, 16, F_lat, h, w] float32, drawn on the CPU from its own seed
        (`noise_seed` of cfg.noise), so the same on every device and whatever else is in the batch."""
        g = noise_generator(self.cfg.noise, seed, clip)
        return torch.randn((1, *self.latent_shape), generator=g, dtype=torch.float32)

    def generate_clips(
        self,
        clips: Sequence[int],
        prompts: Sequence[str],
        references: torch.Tensor,
        chains: Sequence[torch.Tensor | None],
        anchors: torch.Tensor | None,
        image_context: torch.Tensor | None,
        neg_context: torch.Tensor | None,
        progress: tqdm | None = None,
        streams: Sequence[dict[str, torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One clip for each of B samples, batched: one text-encoder call, conditioning in one VAE
        encode, one transformer forward per step, one decode. streams[b]: sample b's adapter inputs
        for this clip (see `VideoJob.streams`), stacked into the batch.

        clips[b], prompts[b]: sample b's clip index and prompt; references [B, 3, H, W]; chains[b]:
        None (clip 0) or its carried frames / latents; anchors [B, 16, 1, h, w] or None; image_context
        [B, N, D] or None; neg_context [1, L, D] or None. Noise: clip_noise(cfg.seed, clips[b]).
        -> (decoded clips [B, 3, F, H, W] in [-1, 1], their latents [B, 16, F_lat, h, w])."""
        y = self._condition(references, chains, anchors)  # [B, 20, F_lat, h, w]
        context = self.bb.encode_text(list(prompts))  # [B, L, D]
        noise = torch.cat([self.clip_noise(self.cfg.seed, k) for k in clips]).to(self.device)
        stacked = {
            name: torch.stack([inputs[name] for inputs in streams]).to(self.device) for name in self.streams
        }
        no_history = None
        if self.cfg.strategy == "history_guidance" and any(c is not None for c in chains):
            from svi.strategies.history_guidance import no_history_condition

            no_history = no_history_condition(self, references, chains, y)
        latent = sample_latents(
            self.bb.transformer,
            noise,
            y,
            context,
            neg_context,
            image_context,
            self.cfg,
            progress,
            stacked,
            no_history,
        )
        return self.bb.decode_latents(latent), latent

    def generate_clip(
        self,
        clip: int,
        prompt: str,
        reference: torch.Tensor,
        chain: torch.Tensor | None,
        anchor: torch.Tensor | None,
        image_context: torch.Tensor | None,
        neg_context: torch.Tensor | None,
        progress: tqdm | None = None,
        streams: dict[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`generate_clips` for one sample: reference [1, 3, H, W] -> ([1, 3, F, H, W], [1, 16, F_lat, h, w])."""
        return self.generate_clips(
            [clip],
            [prompt],
            reference,
            [chain],
            anchor,
            image_context,
            neg_context,
            progress,
            [streams or {}],
        )

    def _next_chain(self, video: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        if self.cfg.chaining == "pixel":
            return video[:, :, -self.cfg.motion_frames :].clone()  # [1, 3, K, H, W]
        return latent[:, :, -self.cfg.motion_latents :].clone()  # [1, 16, M, h, w]

    # -- videos: resume, segments, state, sidecars -----------------------------------------------

    def generate(
        self,
        image: torch.Tensor,
        prompts: PromptSource,
        out_path: str | Path,
        *,
        num_clips: int | None = None,
        metadata: dict | None = None,
        progress: bool = True,
        streams: dict[str, ClipStream] | None = None,
    ) -> VideoResult:
        """Generate (or resume, or skip if finished) the video at `out_path` (.mp4): a batch of one.

        image: reference [3, H, W] in [-1, 1]. prompts(k) gives clip k's prompt; generation stops at
        `num_clips` or when it returns None. `metadata` (e.g. suite, sample, digest) goes into the
        sidecar JSON and into the configuration hash; `streams`: the adapters' inputs (`VideoJob`).
        """
        job = VideoJob(image, prompts, out_path, num_clips, metadata, streams)
        return self.generate_batch([job], progress=progress)[0]

    def generate_batch(self, jobs: Sequence[VideoJob], *, progress: bool = True) -> list[VideoResult]:
        """Generate (or resume, or skip) the jobs' videos, up to cfg.batch_size at a time -> their results.

        Every round advances each video in the batch in one batched pass, whatever clip each is at (a
        resumed video may be ahead of a fresh one): chain generates the next clip of each; other strategies
        their own unit (svi/strategies/: a clip of rolling shifts, a FramePack section, a FreeNoise step).
        A video leaves the batch when it ends (its num_clips, or its prompt source's None; videos may
        differ in length) and the next job takes its place. Each video's segments, state and sidecar are
        its own and the same as when it is generated alone; a killed batch resumes each video from its
        last saved state.
        """
        cfg = self.cfg
        results: list[VideoResult | None] = [None] * len(jobs)
        pending = deque(enumerate(jobs))
        batch: list[tuple[int, _Video]] = []  # (job index, video)
        lengths = [j.num_clips for j in jobs]
        total = sum(lengths) if None not in lengths else None
        desc = Path(jobs[0].out_path).stem if len(jobs) == 1 else f"{len(jobs)} videos"
        bar_clips = tqdm(total=total, desc=desc, unit="clip", disable=not progress)
        bar_steps = tqdm(total=cfg.steps, desc="steps", unit="step", leave=False, disable=not progress)
        for job in jobs:  # every adapter needs its input in every clip: refuse before any work
            missing = sorted(set(self.streams) - set(job.streams or {}))
            if missing:
                raise ValueError(
                    f"{job.out_path}: the model has {', '.join(missing)} conditioning but the job gives no "
                    f"{' / '.join(missing)} stream (VideoJob.streams)"
                )
        negative = needs_negative(cfg, self.streams)
        neg_context = self.bb.encode_text([cfg.negative_prompt]) if negative else None
        try:
            while True:
                while len(batch) < cfg.batch_size and pending:  # fill the batch
                    i, job = pending.popleft()
                    video = self._open(job)
                    if isinstance(video, VideoResult):  # finished earlier
                        results[i] = video
                        bar_clips.update(video.num_clips)
                        continue
                    bar_clips.update(video.start)
                    if self.strategy.prepare(self, video):
                        batch.append((i, video))
                    else:
                        results[i] = self._finish(video)
                if not batch:
                    break
                bar_steps.reset()
                bar_clips.update(self.strategy.advance(self, [v for _, v in batch], neg_context, bar_steps))
                still = []
                for i, v in batch:
                    if self.strategy.prepare(self, v):
                        still.append((i, v))
                    else:
                        results[i] = self._finish(v)
                batch = still
        finally:
            bar_steps.close()
            bar_clips.close()
        return results

    def chain_round(
        self, videos: Sequence[_Video], neg_context: torch.Tensor | None, progress: tqdm | None
    ) -> int:
        """One round of `chain`: the next clip of every video, in one batched pass, recorded. -> clips made."""
        references = torch.cat([v.reference for v in videos])  # [B, 3, H, W]
        chains = [v.chain for v in videos]
        anchors = torch.cat([v.anchor for v in videos]) if self.cfg.chaining == "latent" else None
        clips, latents = self.generate_clips(
            [v.next_clip for v in videos],
            [v.prompt for v in videos],
            references,
            chains,
            anchors,
            self.clip_contexts(references, chains),
            neg_context,
            progress,
            [v.inputs for v in videos],
        )  # [B, 3, F, H, W], [B, 16, F_lat, h, w]
        for b, v in enumerate(videos):
            self._record(v, clips[b : b + 1], latents[b : b + 1])
        return len(videos)

    def _open(self, job: VideoJob) -> _Video | VideoResult:
        """The job's video ready to continue (fresh, or resumed from parts/state.pt), or its result
        if it is already finished. An unfinished video of another configuration is started over."""
        cfg = self.cfg
        out_path = Path(job.out_path)
        digest = config_hash(cfg, {"metadata": job.metadata or {}, "num_clips": job.num_clips})
        parts = out_path.with_name(out_path.stem + ".parts")
        sidecar = out_path.with_suffix(".json")
        if out_path.is_file() and sidecar.is_file():
            meta = json.loads(sidecar.read_text())
            if meta.get("config_hash") == digest and meta.get("complete"):
                return VideoResult(out_path, sidecar, len(meta["clips"]), meta["num_frames"], 0, True)

        state_file = parts / "state.pt"
        state = torch.load(state_file, weights_only=False) if state_file.is_file() else None
        if state is not None and state["config_hash"] != digest:
            shutil.rmtree(parts)  # an unfinished video of another configuration: start over
            state = None
        parts.mkdir(parents=True, exist_ok=True)
        image = job.image() if callable(job.image) else job.image
        reference = image.to(self.device, torch.float32)[None]  # [1, 3, H, W]
        saved = {} if state is None else state.get("strategy", {})
        return _Video(
            job=job,
            out_path=out_path,
            digest=digest,
            reference=reference,
            anchor=self.bb.encode_video(reference[:, :, None]) if cfg.chaining == "latent" else None,
            clips=[] if state is None else state["clips"],
            chain=None if state is None or state["chain"] is None else state["chain"].to(self.device),
            held=None if state is None else state["held"],
            next_clip=0 if state is None else state["next_clip"],
            written=0 if state is None else state["written"],
            start=0 if state is None else len(state["clips"]),
            state={k: x.to(self.device) if isinstance(x, torch.Tensor) else x for k, x in saved.items()},
        )

    def _next_prompt(self, video: _Video) -> bool:
        """Fetch the prompt and the stream inputs of the video's next clip; False when the video has
        ended (its num_clips, or its prompt source or a stream gave None)."""
        from svi.adapters import clip_frame_range

        n = video.job.num_clips
        video.prompt = None if n is not None and video.next_clip >= n else video.job.prompts(video.next_clip)
        video.inputs = {}
        if video.prompt is not None and self.streams:
            start, stop = clip_frame_range(video.next_clip, self.cfg.num_frames, self.lead)
            for name in self.streams:
                x = video.job.streams[name](video.next_clip, start, stop)
                if x is None:
                    video.prompt = None
                    break
                video.inputs[name] = x
        return video.prompt is not None

    def _record(self, v: _Video, clip: torch.Tensor, latent: torch.Tensor) -> None:
        """Write a finished chained clip [1, 3, F, H, W] (latent [1, 16, F_lat, h, w]) of video v: its
        segment, then the chaining state and the sidecar, so a kill after this resumes at the next clip."""
        cfg, k = self.cfg, v.next_clip
        frames = to_uint8_frames(clip[0])  # [F, H, W, 3]
        # pixel: keep all but the last K now, hold those K until we know whether a clip follows;
        # latent: drop the restated lead of later clips, hold nothing; keep_all: every frame, now.
        keep_all = cfg.assembly == "keep_all"
        first = 0 if (k == 0 or cfg.chaining == "pixel" or keep_all) else self.lead
        last = cfg.num_frames - (cfg.motion_frames if cfg.chaining == "pixel" and not keep_all else 0)
        v.held = frames[last:]
        v.chain = self._next_chain(clip, latent)
        v.next_clip = k + 1
        self._commit(v, k, frames[first:last], v.written)

    def _commit(self, v: _Video, k: int, frames: np.ndarray, start: int) -> None:
        """Write clip k's frames [n, H, W, 3] (uint8), which are frames [start, start + n) of the assembled
        video, as its segment; record the clip; save the video's state and its sidecar. The video's state
        (next_clip, chain, held, the strategy's `state`) must already be the one after clip k."""
        write_segment(v.parts / f"seg_{k:05d}.mp4", frames, self.cfg.fps)
        v.clips.append(
            {
                "index": k,
                "prompt": v.prompt,
                "seed": noise_seed(self.cfg.noise, self.cfg.seed, k),
                "video_frames": [start, start + len(frames)],
                **self._prompt_cut(v.prompt),
            }
        )
        v.clips.sort(key=lambda c: c["index"])  # framepack makes its sections last to first
        v.written += len(frames)
        self.save_state(v)
        self._write_sidecar(v, complete=False)

    def _prompt_cut(self, prompt: str | None) -> dict:
        """The clip record's note of a prompt the text encoder cut: its token count and the limit."""
        n = self.bb.cut_prompts.get(prompt) if prompt else None
        return {} if n is None else {"prompt_tokens": n, "prompt_cut_to_tokens": self.bb.text_limit}

    def save_state(self, v: _Video) -> None:
        """parts/state.pt: what a later call resumes the video from (written in one step)."""
        atomic_torch_save(
            {
                "config_hash": v.digest,
                "next_clip": v.next_clip,
                "chain": None if v.chain is None else v.chain.cpu(),
                "held": v.held,
                "clips": v.clips,
                "written": v.written,
                "strategy": {k: x.cpu() if isinstance(x, torch.Tensor) else x for k, x in v.state.items()},
            },
            v.parts / "state.pt",
        )

    def _finish(self, v: _Video) -> VideoResult:
        """Join the video's segments (and the held tail) into its mp4 and mark the sidecar complete."""
        if not v.clips:
            raise ValueError(
                f"no clip was generated for {v.out_path}: the prompt source gave no prompt for clip 0"
            )
        segments = [v.parts / f"seg_{c['index']:05d}.mp4" for c in v.clips]  # in video order
        if v.held is not None and len(v.held):
            segments.append(write_segment(v.parts / "seg_tail.mp4", v.held, self.cfg.fps))
            v.clips[-1]["video_frames"][1] += len(v.held)
            v.written += len(v.held)
            v.held = None
        concat_segments(segments, v.out_path)
        self._write_sidecar(v, complete=True)
        shutil.rmtree(v.parts)
        return VideoResult(v.out_path, v.sidecar, len(v.clips), v.written, v.start, False)

    def _write_sidecar(self, v: _Video, *, complete: bool) -> None:
        meta = {
            "config_hash": v.digest,
            "complete": complete,
            "num_frames": v.written,
            "fps": self.cfg.fps,
            "seconds": v.written / self.cfg.fps,
            "clip_frames": self.cfg.num_frames,
            "lead_frames": self.lead,
            "preset": self.bb.preset,
            "backbone": self.bb.settings(),
            "generate": self.cfg.model_dump(mode="json"),  # after_last_prompt: the clip-count rule
            "metadata": v.job.metadata or {},
            "clips": v.clips,
        }
        atomic_write_text(v.sidecar, json.dumps(meta, indent=2))


def fixed_prompts(prompts: Sequence[str]) -> PromptSource:
    """A prompt source over a list: clip k gets prompts[k], None after the last."""
    items = list(prompts)
    return lambda k: items[k] if k < len(items) else None


def stdin_prompts(stream=None, out=None) -> PromptSource:
    """Interactive prompts: one line per clip; an empty line repeats the last prompt; end of input ends."""
    import sys

    stream = stream or sys.stdin
    out = out or sys.stderr
    last: list[str] = []

    def next_prompt(k: int) -> str | None:
        print(
            f"prompt for clip {k} (empty: repeat the last, end of input: finish)> ",
            end="",
            file=out,
            flush=True,
        )
        line = stream.readline()
        if not line:
            return None
        text = line.rstrip("\n")
        if not text.strip():
            if not last:
                print("(no previous prompt: using an empty prompt)", file=out)
                return ""
            return last[-1]
        last.append(text)
        return text

    return next_prompt
