"""Long-video generation, clip by clip (docs/method.md §6).

Clip 0 is conditioned on the reference image; clip k on the end of clip k-1:
- `pixel` chaining (SVI 1.0): the last K decoded frames are re-encoded by the VAE together with the
  padding (the reference image repeated, or zeros). The output keeps video[:-K] of every clip but
  the last, so a video of N clips has N (F - K) + K frames. The CLIP image feature is recomputed
  from the first motion frame every clip (official; `clip_image: reference` keeps the reference's).
- `latent` chaining (SVI 2.0 Pro): y = [VAE(anchor image), last latent frame(s) of clip k-1, zeros],
  with no decode/re-encode between clips (`svi.model.i2v_condition.pro_condition`: the mask on latent 0
  only and clip 0 [VAE(anchor), zero latents], official; `latent_mask` and `latent_start` are the
  options). A later clip's first 1 + 4 M frames restate the anchor and the carried motion, so they are
  dropped (M = 1: the official 5): N clips have F + (N - 1)(F - 1 - 4 M) frames.
A TI2V model (Wan 2.2 TI2V 5B, `tiny-ti2v`) has no y: clip 0's image latent VAE(reference image) replaces
latent frame 0 at every step (svi/model/ti2v_condition.py, as diffusers' expand_timesteps), and clip k's is
the last decoded frame of clip k-1 re-encoded (SVI 2.0-style chaining on the last frame, reconstructed:
docs/guides/wan22.md); pixel chaining with one motion frame, so N clips have N (F - 1) + 1 frames.
A two-expert model (Wan 2.2 A14B) is sampled with its high-noise expert while t >= generate.boundary x
1000 and its low-noise expert below (`sample_latents`); `generate.lora` / `lora_2` go to each.
Each clip is sampled with classifier-free guidance (`guidance_passes`: text CFG's conditional and
unconditional passes, SVI-Talk's three with audio, all in one batched forward), Euler over the
shifted schedule or diffusers' UniPC, and its own seed. A model with adapters (svi/model/adapters.py:
audio, pose) takes their inputs per clip from each job's streams, sliced to the frames the clip
covers in the long video (`svi.model.adapters.clip_frame_range`).

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
`history_guidance` (chain with one more guidance pass). The others are modules of svi/generation/strategies/
(rolling, framepack, freenoise) driven by the same loop: each round the strategy advances every video
of the batch (`Strategy.advance`), and commits finished clips through `_commit`, which writes the
segment, the state file (the strategy's own state under "strategy") and the sidecar. So every strategy
streams to disk, resumes from its last saved state and batches its videos the same way.

`LongVideoGenerator.from_config(cfg, lora, device)` is the one way an entry point (harness run,
harness generate, sweeps) builds a generator; its sidecar JSON records the backbone's settings
(preset, dtype, attention, LoRA scale).
"""

from __future__ import annotations

import json
import math
import shutil
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from svi.config import (
    ConditionConfig,
    GenerateConfig,
    SVIConfig,
)
from svi.files import atomic_torch_save, atomic_write_text
from svi.generation.sampling import (
    config_hash,
    needs_negative,
    noise_generator,
    noise_seed,
    sample_latents,
)
from svi.generation.video import (
    ClipStream,
    PromptSource,
    VideoJob,
    VideoResult,
    VideoState,
    fixed_prompts,
    stdin_prompts,
)
from svi.model.i2v_condition import build_condition, pro_condition
from svi.model.ti2v_condition import image_latent
from svi.video_io import concat_segments, to_uint8_frames, write_segment


def planted(clip: torch.Tensor, index: int, drift: float, origin: torch.Tensor) -> torch.Tensor:
    """The positive control's drift (`generate.planted_drift`, not a method): clip `index` of a video
    moved away from the video's first clip's mean colour, along the way its own mean colour already
    differs from it, by index x drift in colour-shift units (`scoring.drift.colour_shift`: on [0, 1],
    RMS over R, G, B), clamped to [-1, 1]. So every later clip's colour shift grows by index x drift
    by construction (less what clamping takes), a video that drifts faster in colour than the model
    alone. Applied as a clip is recorded, it reaches both the written frames and, with pixel chaining,
    the frames the next clip is conditioned on.
    clip [B, 3, F, H, W] in [-1, 1], origin [B, 3] (clip 0's mean colour) -> the same shape (the input
    itself when drift or index is 0; a clip whose mean colour is the origin's has no way to move)."""
    if not drift or not index:
        return clip
    away = clip.mean(dim=(2, 3, 4)) - origin  # [B, 3]
    norm = away.norm(dim=1, keepdim=True)  # [B, 1]
    # below a thousandth of one 8-bit level the way is rounding, not drift
    unit = torch.where(norm > 1e-5, away / norm.clamp_min(1e-5), torch.zeros_like(away))
    # colour shift = |mean difference on [0, 1]| / sqrt(3), and [-1, 1] pixels are twice [0, 1]'s
    step = 2 * math.sqrt(3) * index * drift
    return (clip + step * unit[:, :, None, None, None]).clamp(-1, 1)


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
        from svi.model.adapters import adapters_of

        self.bb, self.cfg, self.device = backbone, cfg, torch.device(device)
        # How the jobs' streams are cut per clip (svi.conditions.attach.clip_streams); none: no adapter.
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
        if backbone.transformer_2 is not None and cfg.strategy not in ("chain", "history_guidance"):
            raise ValueError(
                f"strategy {cfg.strategy} is not built for a two-expert model ({backbone.preset}): its "
                "steps are not one noise level per clip, so no expert boundary applies; use strategy chain"
            )
        if backbone.first_latent and (
            cfg.strategy != "chain" or cfg.chaining != "pixel" or cfg.motion_frames != 1
        ):
            raise ValueError(
                f"{backbone.preset} is conditioned by its first latent (one image): generate it with "
                f"strategy chain, chaining pixel and motion_frames 1 (got {cfg.strategy}, {cfg.chaining}, "
                f"{cfg.motion_frames}); each later clip starts from the last frame of the clip before"
            )
        from svi.generation.strategies import build_strategy

        self.strategy = build_strategy(cfg.strategy)

    @classmethod
    def from_config(
        cls,
        cfg: SVIConfig,
        lora: str | Path | None = None,
        device: torch.device | str = "cpu",
        lora_2: str | Path | None = None,
    ) -> LongVideoGenerator:
        """The generator of a run: `load_backbone(cfg.model)` on `device` (seeded by train.seed for the
        random-init preset), the transformer in eval mode, the `lora` file (None: the bare base model)
        merged into its weights at `cfg.generate.lora_scale` (as the official inference does: a step
        costs what the base model's does), generating with `cfg.generate`. The caller picks the LoRA
        (a trained arm's, or cfg.generate.lora): this does not read cfg.generate.lora. A two-expert model
        takes `lora` into its high-noise expert and `lora_2` into its low-noise one (`load_expert_loras`,
        which names a missing or mismatched file and its expert)."""
        from svi.model.backbone import load_backbone
        from svi.model.lora import load_expert_loras

        bb = load_backbone(cfg.model, device=device, seed=cfg.train.seed, condition=cfg.condition)
        for tf in bb.experts():
            tf.eval()
        if lora is not None or lora_2 is not None:
            load_expert_loras(bb, [lora, lora_2], scale=cfg.generate.lora_scale, fuse=True)
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
        frames have the same count share one VAE encode (all of them, unless clip 0 meets K > 1).
        A TI2V model: the image latent [B, C, 1, h, w] of the reference (clip 0) or of the last frame
        of the clip before, in one encode."""
        cfg, bb = self.cfg, self.bb
        if bb.first_latent:
            images = [ref[None] if c is None else c[:, :, -1] for ref, c in zip(references, chains)]
            return image_latent(bb, torch.cat(images))  # [B, C, 1, h, w]
        ys: list[torch.Tensor | None] = [None] * len(chains)
        by_frames: dict[int, list[int]] = {}  # condition frame count K -> samples
        latent_start = cfg.chaining == "latent" and cfg.latent_start == "zeros"
        for b, chain in enumerate(chains):
            if cfg.chaining == "pixel" or (chain is None and not latent_start):
                by_frames.setdefault(1 if chain is None else chain.shape[2], []).append(b)
        for idx in by_frames.values():
            cond = torch.cat([references[b, :, None][None] if chains[b] is None else chains[b] for b in idx])
            y = build_condition(bb, cond, cfg.num_frames, cfg.padding, references[idx], cfg.mask)
            for i, b in enumerate(idx):
                ys[b] = y[i : i + 1]
        # latent chaining (after clip 0, or from clip 0 with latent_start zeros): [anchor, carried, zeros], no VAE
        for b, chain in enumerate(chains):
            if ys[b] is None:
                ys[b] = pro_condition(anchors[b : b + 1], chain, self.latent_shape[1], cfg.latent_mask)
        return torch.cat(ys)

    def negative_context(self) -> torch.Tensor | None:
        """The negative prompt's text context [1, L, D] where the configuration guides (CFG) against it,
        else None (`sampling.needs_negative`): what `generate_clip` takes as `neg_context`."""
        if not needs_negative(self.cfg, self.streams):
            return None
        return self.bb.encode_text([self.cfg.negative_prompt])

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
        seeds: Sequence[int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One clip for each of B samples, batched: one text-encoder call, conditioning in one VAE
        encode, one transformer forward per step, one decode. streams[b]: sample b's adapter inputs
        for this clip (see `VideoJob.streams`), stacked into the batch.

        clips[b], prompts[b]: sample b's clip index and prompt; references [B, 3, H, W]; chains[b]:
        None (clip 0) or its carried frames / latents; anchors [B, 16, 1, h, w] or None; image_context
        [B, N, D] or None; neg_context [1, L, D] or None. Noise: clip_noise(seeds[b], clips[b]), seeds[b]
        cfg.seed where `seeds` is None.
        -> (decoded clips [B, 3, F, H, W] in [-1, 1], their latents [B, 16, F_lat, h, w])."""
        y = self._condition(references, chains, anchors)  # [B, 20, F_lat, h, w]
        context = self.bb.encode_text(list(prompts))  # [B, L, D]
        seeds = [self.cfg.seed] * len(clips) if seeds is None else seeds
        noise = torch.cat([self.clip_noise(s, k) for s, k in zip(seeds, clips)]).to(self.device)
        stacked = {
            name: torch.stack([inputs[name] for inputs in streams]).to(self.device) for name in self.streams
        }
        no_history = None
        if self.cfg.strategy == "history_guidance" and any(c is not None for c in chains):
            from svi.generation.strategies.history_guidance import no_history_condition

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
            self.bb.transformer_2,
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

    def generate_batch(
        self,
        jobs: Sequence[VideoJob],
        *,
        progress: bool = True,
        on_round: Callable[[list[VideoState]], None] | None = None,
    ) -> list[VideoResult]:
        """Generate (or resume, or skip) the jobs' videos, up to cfg.batch_size at a time -> their results.

        Every round advances each video in the batch in one batched pass, whatever clip each is at (a
        resumed video may be ahead of a fresh one): chain generates the next clip of each; other strategies
        their own unit (svi/generation/strategies/: a clip of rolling shifts, a FramePack section, a FreeNoise step).
        A video leaves the batch when it ends (its num_clips, or its prompt source's None; videos may
        differ in length) and the next job takes its place. Each video's segments, state and sidecar are
        its own and the same as when it is generated alone; a killed batch resumes each video from its
        last saved state. `on_round(videos)`: called after every round with the videos it advanced, their
        segments and clip records written (a sweep scores the clips so far and may stop the trial).
        """
        cfg = self.cfg
        results: list[VideoResult | None] = [None] * len(jobs)
        pending = deque(enumerate(jobs))
        batch: list[tuple[int, VideoState]] = []  # (job index, video)
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
        neg_context = self.negative_context()
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
                if on_round is not None:
                    on_round([v for _, v in batch])
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
        self, videos: Sequence[VideoState], neg_context: torch.Tensor | None, progress: tqdm | None
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
            [v.seed for v in videos],
        )  # [B, 3, F, H, W], [B, 16, F_lat, h, w]
        for b, v in enumerate(videos):
            self._record(v, clips[b : b + 1], latents[b : b + 1])
        return len(videos)

    def _open(self, job: VideoJob) -> VideoState | VideoResult:
        """The job's video ready to continue (fresh, or resumed from parts/state.pt), or its result
        if it is already finished. An unfinished video of another configuration is started over."""
        cfg = self.cfg
        out_path = Path(job.out_path)
        own = {} if job.seed is None or job.seed == cfg.seed else {"seed": job.seed}  # a further draw
        digest = config_hash(cfg, {"metadata": job.metadata or {}, "num_clips": job.num_clips, **own})
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
        return VideoState(
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
            seed=cfg.seed if job.seed is None else job.seed,
        )

    def _next_prompt(self, video: VideoState) -> bool:
        """Fetch the prompt and the stream inputs of the video's next clip; False when the video has
        ended (its num_clips, or its prompt source or a stream gave None)."""
        from svi.model.adapters import clip_frame_range

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

    def _record(self, v: VideoState, clip: torch.Tensor, latent: torch.Tensor) -> None:
        """Write a finished chained clip [1, 3, F, H, W] (latent [1, 16, F_lat, h, w]) of video v: its
        segment, then the chaining state and the sidecar, so a kill after this resumes at the next clip."""
        cfg, k = self.cfg, v.next_clip
        if cfg.planted_drift:  # the positive control; clip 0's mean colour is where its drift starts
            if k == 0:
                v.state["planted_origin"] = clip.mean(dim=(2, 3, 4))  # [1, 3]
            clip = planted(clip, k, cfg.planted_drift, v.state["planted_origin"])
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

    def _commit(self, v: VideoState, k: int, frames: np.ndarray, start: int) -> None:
        """Write clip k's frames [n, H, W, 3] (uint8), which are frames [start, start + n) of the assembled
        video, as its segment; record the clip; save the video's state and its sidecar. The video's state
        (next_clip, chain, held, the strategy's `state`) must already be the one after clip k."""
        write_segment(v.parts / f"seg_{k:05d}.mp4", frames, self.cfg.fps)
        v.clips.append(
            {
                "index": k,
                "prompt": v.prompt,
                "seed": noise_seed(self.cfg.noise, v.seed, k),
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

    def save_state(self, v: VideoState) -> None:
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

    def _finish(self, v: VideoState) -> VideoResult:
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

    def _write_sidecar(self, v: VideoState, *, complete: bool) -> None:
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


__all__ = [
    "LongVideoGenerator",
    "VideoJob",
    "VideoResult",
    "VideoState",
    "PromptSource",
    "fixed_prompts",
    "stdin_prompts",
]
