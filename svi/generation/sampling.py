"""Clip arithmetic, noise, guidance and the denoising loop of long-video generation (pure where it can be).

How many frames a video has (`lead_frames`, `total_frames`; its clips: `GenerateConfig.clips_for`), which prompt
each clip gets (`assign_prompts`), the noise of clip k (`clip_seed`, `noise_seed`, `noise_generator`:
independent streams per (seed, clip), or the official 42 k rule), what determines the frames
(`config_hash`), the guidance passes (`guidance_passes`, `GuidedVelocity`) and the sampler over the
shifted schedule (`sample_latents`: Euler or UniPC; with a second transformer, the two-expert switch of
Wan 2.2 A14B, `expert_for`; with a TI2V transformer, the image latent in place of latent frame 0 at
timestep 0, svi/model/ti2v_condition.py). The generator (generator.py) and every strategy
(strategies/) use these; none of them imports the generator.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from svi import flow
from svi.config import GenerateConfig
from svi.model.ti2v_condition import replace_first_latent, replaces_first_latent, token_timesteps
from svi.training.forcing import frame_timesteps_to_tokens, tokens_per_frame

# -- clip and frame arithmetic (pure) -----------------------------------------------------------


def lead_frames(cfg: GenerateConfig, temporal_ratio: int = 4) -> int:
    """Alias of `GenerateConfig.lead_frames` (the one definition), for callers holding a config."""
    return cfg.lead_frames(temporal_ratio)


def total_frames(num_clips: int, clip_frames: int, lead: int) -> int:
    """Frames of an assembled video of num_clips clips: F + (N - 1)(F - lead)."""
    return clip_frames + (num_clips - 1) * (clip_frames - lead) if num_clips > 0 else 0


def assembled_windows(num_clips: int, cfg, lead: int) -> list[tuple[int, int]]:
    """The [start, end) frame range of each clip in the assembled video of `num_clips` chained clips
    (strategy chain), as the generator records them in its sidecar: pixel chaining keeps a clip's
    first F - K frames and the last clip's held K; latent chaining drops a later clip's `lead` restated
    frames; keep_all keeps every frame. `cfg`: the GenerateConfig; `lead`: the generator's lead frames.
    What the degenerate references need to lay a first clip out over a whole video's windows without
    generating the rest."""
    f = cfg.num_frames
    if cfg.assembly == "keep_all":
        sizes = [f] * num_clips
    elif cfg.chaining == "pixel":
        sizes = [f - cfg.motion_frames] * num_clips
        sizes[-1] += cfg.motion_frames  # the held frames of the last clip
    else:
        sizes = [f] + [f - lead] * (num_clips - 1)
    ends = list(itertools.accumulate(sizes))
    return [(end - size, end) for size, end in zip(sizes, ends)]


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


# The random stream of a sample's further draws, beside the run's seed: draw k >= 1 of a video generated
# with `seed` is generated with draw_seed(seed, k) in its place.
DRAW_STREAM = 1


def draw_seed(seed: int, draw: int) -> int:
    """The seed of draw `draw` of a sample generated with `seed`: `seed` itself for draw 0 (the video a
    run with one draw makes), and for draw k >= 1 a separate stream (numpy's SeedSequence of (seed,
    DRAW_STREAM, k)), so the draws of one sample differ in every clip's noise and no draw repeats
    another seed's."""
    if draw < 0:
        raise ValueError(f"a draw's index is 0 or more, not {draw}")
    if draw == 0:
        return seed
    return int(np.random.SeedSequence([seed, DRAW_STREAM, draw]).generate_state(1, dtype=np.uint64)[0] >> 1)


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
    # carried from the previous clip (svi/generation/strategies/history_guidance.py)
    history: bool = True


def guidance_passes(
    cfg: GenerateConfig, streams: Collection[str] = (), history: bool = True
) -> list[GuidancePass]:
    """The passes of one step; the guided velocity is sum_i weight_i v_i (the weights sum to 1).

    Text CFG (docs/method.md §6): v = v_u + s (v_c - v_u); the streams (a pose video) are in both passes.
    With an audio stream and audio_guidance_scale (SVI-Talk, MultiTalk's two scales):
    v = v_u + s_t (v_c - v_t) + s_a (v_t - v_u), where v_c has text and audio, v_t the negative
    prompt and audio, v_u neither. With strategy history_guidance and clips that have a history
    (`history`; clip 0 has none): v = v_c + (s - 1)(v_c - v_t) + (w - 1)(v_c - v_h), v_h without the
    history (svi.generation.strategies.history_guidance). Passes of weight 0 are left out: a scale of 1 drops its pass."""
    every = frozenset(streams)
    s_t = cfg.guidance_scale
    if cfg.strategy == "history_guidance" and history:
        from svi.generation.strategies.history_guidance import history_weights

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

    y [B, 20, F_lat, h, w], or for a TI2V transformer (`replaces_first_latent`) the image latent z0
    [B, C, 1, h, w] that replaces latent frame 0 of every input (its tokens at timestep 0); context [B, L, D]; neg_context [1, L, D] (shared) or None (no pass with the
    negative prompt: text and audio unguided); image_context [B, N, D] or None; streams: the attached
    adapters' inputs for these B clips (svi/model/adapters.py), e.g. {"audio": [B, F, 5, L, D]}, bound to the
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
        from svi.model.adapters import adapters_of

        streams = streams or {}
        if neg_context is None:  # no negative prompt: no text (nor audio) guidance
            cfg = cfg.model_copy(update={"guidance_scale": 1.0, "audio_guidance_scale": None})
        passes = guidance_passes(cfg, streams, history=no_history is not None)
        self.transformer = transformer
        self.first_latent = replaces_first_latent(transformer)
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

    @property
    def patch(self) -> tuple[int, int, int]:
        return tuple(self.transformer.config.patch_size)

    def conditioning(self):
        """The adapters' inputs, bound for the forwards inside the block (they hold for a whole loop: the
        adapters encode them once, `Adapter.encoded`)."""
        from svi.model.adapters import conditioning

        return conditioning(self.transformer, **self.stream_rows)

    def timesteps(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        """The transformer's timestep for the P B rows: [P B] for one level, [P B, seq_len] per frame."""
        rows = len(self.weights) * x.shape[0]
        if self.first_latent:  # TI2V: 0 on latent frame 0's tokens, t on the others, [P B, seq_len]
            if isinstance(sigma, torch.Tensor):
                raise ValueError(
                    "a TI2V transformer takes one level per step (latent 0 is at 0), not per frame"
                )
            per_frame = tokens_per_frame(self.patch, x.shape[-2:])
            return token_timesteps(flow.sigma_to_t(sigma), rows, x.shape[2], per_frame, device=x.device)
        if not isinstance(sigma, torch.Tensor):
            return torch.full((rows,), flow.sigma_to_t(sigma), device=x.device)
        p_t, p_h, p_w = self.patch  # Wan: (1, 2, 2)
        if p_t != 1 or sigma.shape != (x.shape[0], x.shape[2]):
            raise ValueError(
                f"per-frame sigma must be [B, F_lat] = {(x.shape[0], x.shape[2])} with patch_t 1"
            )
        per_frame = flow.sigma_to_t(sigma).to(device=x.device, dtype=torch.float32)  # [B, F_lat]
        tokens = (x.shape[-2] // p_h) * (x.shape[-1] // p_w)  # tokens per latent frame
        return frame_timesteps_to_tokens(torch.cat([per_frame] * len(self.weights)), tokens)

    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        """x [B, C, F_lat, h, w] at level sigma -> the guided velocity [B, C, F_lat, h, w] (float32)."""
        n = len(self.weights)
        xin = torch.cat([x] * n)  # [P B, C, F_lat, h, w]
        t = self.timesteps(x, sigma)
        # TI2V: the image latent in place of latent 0; I2V: y beside the latent, [P B, C + 20, F_lat, h, w]
        model_in = replace_first_latent(xin, self.y) if self.first_latent else torch.cat([xin, self.y], dim=1)
        v = self.transformer(model_in.to(self.dtype), t, self.ctx, self.image, return_dict=False)[0]
        if n == 1:
            return v.float()
        parts = v.float().chunk(n)
        if n == 2:  # text CFG in its usual form: v_u + s (v_c - v_u)
            return parts[1] + self.weights[0] * (parts[0] - parts[1])
        return sum(w * part for w, part in zip(self.weights, parts))


def expert_for(sigma: float, boundary: float) -> int:
    """Which expert of a two-expert model denoises at level sigma: 0 (high noise) while the timestep
    t = 1000 sigma is at or above boundary x 1000, else 1 (low noise). diffusers' WanImageToVideoPipeline
    and SVI 2.0 Pro's pipeline both switch so (SVI: boundary 0.875, the low-noise expert below t = 875)."""
    return 0 if flow.sigma_to_t(sigma) >= boundary * flow.NUM_TRAIN_TIMESTEPS else 1


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
    transformer_2=None,
) -> torch.Tensor:
    """Integrate B clips from noise [B, 16, F_lat, h, w] to clean latents, every step one transformer
    forward over the guidance passes together (`GuidedVelocity`, which documents the inputs). The samples
    share the step schedule; the timestep goes per batch element. With `transformer_2` (Wan 2.2 A14B's
    low-noise expert; `transformer` is then the high-noise one) each step runs the expert `expert_for`
    picks at cfg.boundary, the low-noise one at cfg.guidance_scale_2 (None: guidance_scale). A TI2V
    transformer gets y = the image latent [B, C, 1, h, w] in place of latent 0 at every step, and the
    clip it returns keeps latent 0 = y (diffusers' expand_timesteps)."""
    velocities = [
        GuidedVelocity(transformer, y, context, neg_context, image_context, cfg, streams, no_history)
    ]
    if transformer_2 is not None:
        scale_2 = cfg.guidance_scale if cfg.guidance_scale_2 is None else cfg.guidance_scale_2
        cfg_2 = cfg.model_copy(update={"guidance_scale": scale_2})
        velocities.append(
            GuidedVelocity(transformer_2, y, context, neg_context, image_context, cfg_2, streams, no_history)
        )

    def velocity(x: torch.Tensor, sigma: float) -> torch.Tensor:
        return velocities[expert_for(sigma, cfg.boundary) if transformer_2 is not None else 0](x, sigma)

    x = noise.float()
    with contextlib.ExitStack() as bound:
        for v in velocities:
            bound.enter_context(v.conditioning())
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
    return replace_first_latent(x, y) if velocities[0].first_latent else x
