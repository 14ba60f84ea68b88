"""Long-video generation, clip by clip (METHOD.md §6).

Clip 0 is conditioned on the reference image; clip k on the end of clip k-1:
- `pixel` chaining (SVI 1.0): the last K decoded frames are re-encoded by the VAE together with the
  padding (the reference image repeated, or zeros). The output keeps video[:-K] of every clip but
  the last, so a video of N clips has N (F - K) + K frames.
- `latent` chaining (SVI 2.0 Pro): y = [VAE(anchor image), last latent frame(s) of clip k-1, zeros],
  with no decode/re-encode between clips. A later clip's first 1 + 4 M frames restate the anchor
  and the carried motion, so they are dropped: N clips have F + (N - 1)(F - 1 - 4 M) frames.
Each clip is sampled with text classifier-free guidance (conditional and unconditional passes in
one batched forward), Euler over the shifted schedule or diffusers' UniPC, and its own seed.

Frames reach disk as each clip finishes (one mp4 segment per clip, joined at the end), so memory
stays flat however long the video is. After every clip the chaining state is saved, and a call
with the same configuration resumes from the last finished clip and ends identical to an
uninterrupted run.

`LongVideoGenerator.from_config(cfg, lora, device)` is the one way an entry point (harness run,
harness generate, sweeps) builds a generator; its sidecar JSON records the backbone's settings
(preset, dtype, attention, LoRA scale).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from svi import flow
from svi.conditioning import build_condition, frame_mask
from svi.config import (
    GenerateConfig,
    SVIConfig,
    parse_length,  # noqa: F401 - re-exported (callers hold svi.generate)
)
from svi.files import atomic_torch_save, atomic_write_text
from svi.video_io import concat_segments, to_uint8_frames, write_segment

# A prompt source gives the prompt of clip k, or None when the video should end there.
PromptSource = Callable[[int], "str | None"]


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


def assign_prompts(prompts: Sequence[str], num_clips: int, mode: str = "stream") -> list[str]:
    """One prompt per clip: `stream` takes them in order and repeats the last; `first` uses prompt 0."""
    if not prompts:
        raise ValueError("no prompts given")
    if mode == "first":
        return [prompts[0]] * num_clips
    if mode != "stream":
        raise ValueError(f"unknown prompt mode {mode!r}; use 'stream' or 'first'")
    return [prompts[min(k, len(prompts) - 1)] for k in range(num_clips)]


def clip_seed(seed: int, clip: int) -> int:
    return seed + clip


def config_hash(cfg: GenerateConfig, extra: dict | None = None) -> str:
    """Digest of everything that determines the frames (the config and e.g. the inputs' digest)."""
    blob = json.dumps({"generate": cfg.model_dump(mode="json"), **(extra or {})}, sort_keys=True)
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
) -> torch.Tensor:
    """Integrate from noise [1, 16, F_lat, h, w] to a clean latent, with text CFG in one batched forward."""
    guided = cfg.guidance_scale != 1.0 and neg_context is not None
    dtype = next(transformer.parameters()).dtype
    y_in = torch.cat([y, y]) if guided else y
    ctx = torch.cat([context, neg_context]) if guided else context
    img = None if image_context is None else (torch.cat([image_context] * 2) if guided else image_context)
    y_in, ctx = y_in.to(dtype), ctx.to(dtype)
    img = None if img is None else img.to(dtype)

    def velocity(x: torch.Tensor, sigma: float) -> torch.Tensor:
        xin = torch.cat([x, x]) if guided else x
        t = torch.full((xin.shape[0],), flow.sigma_to_t(sigma), device=x.device)
        v = transformer(torch.cat([xin, y_in], dim=1).to(dtype), t, ctx, img, return_dict=False)[0].float()
        if guided:
            v_cond, v_uncond = v.chunk(2)
            v = v_uncond + cfg.guidance_scale * (v_cond - v_uncond)
        return v

    x = noise.float()
    if cfg.sampler == "euler":
        sigmas = torch.cat([flow.shifted_sigmas(cfg.steps, cfg.shift), torch.zeros(1, dtype=torch.float64)])
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
    resumed_from: int  # clip index generation (re)started at; 0 for a fresh video
    skipped: bool  # the finished video already existed


class LongVideoGenerator:
    """Generates long videos with a Wan I2V backbone (optionally with an SVI LoRA).

    `from_config` is how entry points build one; the constructor takes a backbone already built (the
    trainer's probes use the live one being trained).
    """

    def __init__(self, backbone, cfg: GenerateConfig, device: torch.device | str = "cpu"):
        self.bb, self.cfg, self.device = backbone, cfg, torch.device(device)
        self.lead = cfg.lead_frames(backbone.temporal_ratio)
        self.latent_shape = backbone.latent_shape(cfg.num_frames, cfg.height, cfg.width)

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

        bb = load_backbone(cfg.model, device=device, seed=cfg.train.seed)
        bb.transformer.eval()
        if lora is not None:
            load_lora(bb.transformer, lora, scale=cfg.generate.lora_scale)
            bb.lora_scale = cfg.generate.lora_scale
        return cls(bb, cfg.generate, device)

    # One clip: conditioning -> sampling -> decoding.
    def _condition(
        self, reference: torch.Tensor, chain: torch.Tensor | None, anchor: torch.Tensor
    ) -> torch.Tensor:
        """y [1, 20, F_lat, h, w] for the next clip; chain is None for clip 0."""
        cfg, bb = self.cfg, self.bb
        if chain is None or cfg.chaining == "pixel":
            cond = reference[:, :, None] if chain is None else chain  # [1, 3, K, H, W]
            return build_condition(bb, cond, cfg.num_frames, cfg.padding, reference)
        c, f_lat, h, w = self.latent_shape
        m = chain.shape[2]
        latent = torch.zeros(1, c, f_lat, h, w, device=anchor.device, dtype=anchor.dtype)
        latent[:, :, :1] = anchor
        latent[:, :, 1 : 1 + m] = chain
        mask = frame_mask(1, cfg.num_frames, 1 + bb.temporal_ratio * m, (h, w), bb.temporal_ratio)
        return torch.cat([mask.to(latent), latent], dim=1)

    def generate_clip(
        self,
        clip: int,
        prompt: str,
        reference: torch.Tensor,
        chain: torch.Tensor | None,
        anchor: torch.Tensor,
        image_context: torch.Tensor | None,
        neg_context: torch.Tensor | None,
        progress: tqdm | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (decoded clip [1, 3, F, H, W] in [-1, 1], its latent [1, 16, F_lat, h, w])."""
        y = self._condition(reference, chain, anchor)
        context = self.bb.encode_text([prompt])
        g = torch.Generator().manual_seed(clip_seed(self.cfg.seed, clip))
        noise = torch.randn((1, *self.latent_shape), generator=g).to(self.device)
        latent = sample_latents(
            self.bb.transformer, noise, y, context, neg_context, image_context, self.cfg, progress
        )
        return self.bb.decode_latents(latent), latent

    def _next_chain(self, video: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        if self.cfg.chaining == "pixel":
            return video[:, :, -self.cfg.motion_frames :].clone()  # [1, 3, K, H, W]
        return latent[:, :, -self.cfg.motion_latents :].clone()  # [1, 16, M, h, w]

    def generate(
        self,
        image: torch.Tensor,
        prompts: PromptSource,
        out_path: str | Path,
        *,
        num_clips: int | None = None,
        metadata: dict | None = None,
        progress: bool = True,
    ) -> VideoResult:
        """Generate (or resume, or skip if finished) the video at `out_path` (.mp4).

        image: reference [3, H, W] in [-1, 1]. prompts(k) gives clip k's prompt; generation stops at
        `num_clips` or when it returns None. `metadata` (e.g. suite, sample, digest) goes into the
        sidecar JSON and into the configuration hash.
        """
        cfg = self.cfg
        out_path = Path(out_path)
        parts = out_path.with_name(out_path.stem + ".parts")
        sidecar = out_path.with_suffix(".json")
        digest = config_hash(cfg, {"metadata": metadata or {}, "num_clips": num_clips})

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
        clips_meta: list[dict] = [] if state is None else state["clips"]
        chain = None if state is None else state["chain"].to(self.device)
        held = None if state is None else state["held"]
        start = 0 if state is None else state["next_clip"]
        written = 0 if state is None else state["written"]

        bb = self.bb
        reference = image.to(self.device, torch.float32)[None]  # [1, 3, H, W]
        image_context = bb.encode_image(reference)  # CLIP of the reference image, for every clip
        neg_context = bb.encode_text([cfg.negative_prompt]) if cfg.guidance_scale != 1.0 else None
        anchor = bb.encode_video(reference[:, :, None]) if cfg.chaining == "latent" else None

        bar_clips = tqdm(
            total=num_clips, initial=start, desc=out_path.stem, unit="clip", disable=not progress
        )
        bar_steps = tqdm(total=cfg.steps, desc="steps", unit="step", leave=False, disable=not progress)
        clip = start
        while num_clips is None or clip < num_clips:
            prompt = prompts(clip)
            if prompt is None:
                break
            bar_steps.reset()
            video, latent = self.generate_clip(
                clip, prompt, reference, chain, anchor, image_context, neg_context, bar_steps
            )
            frames = to_uint8_frames(video[0])  # [F, H, W, 3]
            # pixel: keep all but the last K now, hold those K until we know whether a clip follows;
            # latent: drop the restated lead of later clips, hold nothing.
            first = 0 if (clip == 0 or cfg.chaining == "pixel") else self.lead
            last = cfg.num_frames - (cfg.motion_frames if cfg.chaining == "pixel" else 0)
            write_segment(parts / f"seg_{clip:05d}.mp4", frames[first:last], cfg.fps)
            held = frames[last:]
            clips_meta.append(
                {
                    "index": clip,
                    "prompt": prompt,
                    "seed": clip_seed(cfg.seed, clip),
                    "video_frames": [written, written + last - first],
                }
            )
            written += last - first
            chain = self._next_chain(video, latent)
            clip += 1
            atomic_torch_save(
                {
                    "config_hash": digest,
                    "next_clip": clip,
                    "chain": chain.cpu(),
                    "held": held,
                    "clips": clips_meta,
                    "written": written,
                },
                state_file,
            )
            self._write_sidecar(sidecar, digest, clips_meta, written, complete=False, metadata=metadata)
            bar_clips.update(1)
        bar_steps.close()
        bar_clips.close()
        if not clips_meta:
            raise ValueError("no clip was generated: the prompt source gave no prompt for clip 0")

        segments = [parts / f"seg_{k:05d}.mp4" for k in range(clip)]
        if held is not None and len(held):
            segments.append(write_segment(parts / "seg_tail.mp4", held, cfg.fps))
            clips_meta[-1]["video_frames"][1] += len(held)
            written += len(held)
        concat_segments(segments, out_path)
        self._write_sidecar(sidecar, digest, clips_meta, written, complete=True, metadata=metadata)
        shutil.rmtree(parts)
        return VideoResult(out_path, sidecar, len(clips_meta), written, start, False)

    def _write_sidecar(
        self,
        path: Path,
        digest: str,
        clips: list[dict],
        frames: int,
        *,
        complete: bool,
        metadata: dict | None,
    ) -> None:
        meta = {
            "config_hash": digest,
            "complete": complete,
            "num_frames": frames,
            "fps": self.cfg.fps,
            "seconds": frames / self.cfg.fps,
            "clip_frames": self.cfg.num_frames,
            "lead_frames": self.lead,
            "preset": self.bb.preset,
            "backbone": self.bb.settings(),
            "generate": self.cfg.model_dump(mode="json"),
            "metadata": metadata or {},
            "clips": clips,
        }
        atomic_write_text(path, json.dumps(meta, indent=2))


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
