"""Pretraining the `toy` base model: the VAE on toy clips, then the I2V DiT with clean flow matching.

This is Wan's recipe at CPU scale, so that the harness has a base model whose long videos drift for
the reasons real ones do (imperfect VAE round trips, exposure to its own outputs) rather than because
the weights are random. Two stages (three with the text stage), each resumable, in one process (the
toy model needs no sharding):

1. `vae`: AutoencoderKLWan trained as a KL autoencoder (L1 reconstruction + a small KL term; Wan adds
   perceptual and adversarial losses, which a world of flat shapes does not need) on windows of the
   training clips, short ones first and then as long as the clips the model generates, plus a batch
   of single frames each step (Wan trains its VAE on images and videos together). Both matter: the
   causal VAE encodes frame 0 alone and later 4-frame groups from a cache of the groups before, so
   frames past the trained window length come out wrong (trained on 5-frame windows only, frames 5 to
   16 of a clip lost 8 dB), and frame 0, one frame in seventeen, trains slowest of all. Afterwards the per-channel latent mean and std are measured on the clips and
   written into the VAE config (`latents_mean` / `latents_std`, as Wan's VAE carries them), so the
   normalised latents the DiT sees have unit scale, matching sigma = 1 noise.
   Optionally, then `text` (`pretrain.text.steps`, svi/training/text_stage.py): umT5 taught which words
   each training prompt contains, in place of the text pretraining Wan's umT5 has had; the committed
   bases have none (their umT5 is the seeded random one).
2. `dit`: every clip is encoded once (latents, conditions, umT5 and CLIP features; the encoders are
   frozen) and WanTransformer3DModel is trained from scratch with clean flow matching
   (`erft.Recycler` in `plain` mode: the same timestep draw, loss weight and target as fine-tuning).
   Each step conditions on a randomly chosen condition layout from `dit.conditions`, by default both
   SVI variants' (1 frame + reference padding, 5 frames + zero padding), so the untuned base model is
   not disadvantaged by a layout it never saw. (Wan I2V itself is trained with 1 frame + zeros only.)
   The exported weights are an exponential moving average of the trained ones.

The two-expert toy model (`preset: toy-a14b`, Wan 2.2 A14B at toy scale) trains two DiTs without the
image branch, one after the other: the high-noise expert on t >= `expert_boundary` x 1000 only, the
low-noise expert below it (each its own stage, `dit_high` / `dit_low`, with its own state file), as
Wan 2.2 A14B's experts are specialised and as SVI's per-expert LoRAs are trained (#79). With `init` (a
pretrained toy folder) the VAE, umT5 and tokenizer are that folder's (Wan 2.2 A14B keeps Wan 2.1's VAE
and umT5) and the VAE stage is skipped; each expert starts from the folder's DiT (its CLIP image
branch left out). Its condition layouts are SVI 2.0 Pro's (`layout: pro`): [VAE(anchor), zero latents]
as clip 1 has it, and [VAE(anchor), the motion window's last latent, zero latents] as later clips do,
with the windows of #75 (svi.training.clips.pro_window_ids).

Output (`output_dir`): `vae_state.pt` / `dit_state.pt` (resume points), `cache.pt` (encoded clips),
`metrics.jsonl`, and `model/`: a diffusers-format Wan I2V folder that `model.weights` takes and that is
committed at `svi/weights/toy` (fp16; loaded as fp32).

    python -m svi.training.pretrain --config pretrain.yaml        # what `harness run pretrain_toy` launches
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field, model_validator
from tqdm import tqdm

from svi.config import DataConfig, ERFTConfig, Section, load_config, save_config
from svi.files import append_jsonl, atomic_torch_save, to_cpu, truncate_jsonl
from svi.model.backbone import Backbone, build_small, lay_out_vae, load_wan_i2v, save_backbone, small_vae
from svi.model.i2v_condition import build_condition, pro_condition
from svi.model.presets import TOY_WORLD, TOY_WORLD_FILE, get_preset, preset_weights, toy_world_of, widened
from svi.training.batch import encode_batch
from svi.training.clips import pro_min_start, pro_window_ids, reference_frame_index
from svi.training.data import VideoClipDataset
from svi.training.erft import Recycler
from svi.training.schedule import lr_at
from svi.training.text_stage import STATE_FILE as TEXT_STATE_FILE
from svi.training.text_stage import TextStage, load_text_state, train_text

log = logging.getLogger(__name__)


class PretrainData(Section):
    root: str | None = None  # official layout, <root>/<cat>/<cat>.csv (the toy world writes one)
    num_frames: int = Field(17, ge=5)  # DiT clip length, 4k+1
    height: int = Field(64, ge=16)
    width: int = Field(64, ge=16)


class VAEPhase(Section):
    steps: int = Field(ge=0)
    num_frames: int = Field(ge=1)  # window length, 4k+1
    batch: int = Field(ge=1)
    # Idempotent round trips: a chained long video takes its condition frame through one more encode /
    # decode every clip, so a VAE whose round trip moves its own latents (E(D(z)) != z) drifts with no
    # help from the model. This weight adds the latent cycle error of the single frames and the
    # windows: MSE(E(D(z)), z) with z = E(x) held fixed, per channel over z's batch variance. Measured
    # on the first toy world's VAE (500-800 fine-tuning steps): weight 10 cut the latent drift after 5
    # round trips from 0.33 to 0.08 RMS (normalised latents); an L1 through the round trips or training
    # it to restore its own reconstructions cut nothing. A phase of its own, after the reconstruction
    # phases: the term fixes a decoder that already reconstructs. 0: no cycle term.
    cycle_weight: float = Field(0.0, ge=0)
    # Train this phase on whole frames instead of the stage's crops. The middle block of Wan's VAE attends
    # over every latent position, so a VAE trained on crops alone can fail on whole frames: world 3's first
    # VAE (32 px crops throughout) reconstructed its crops at 14.7 dB and whole frames at 9.9 dB
    # (docs/guides/toyworld_record.md, "The first world-3 base"). False: the stage's `crop`.
    whole_frames: bool = False


class VAEStage(Section):
    # Windows grow during training. From scratch on 17-frame windows the VAE stayed on its initial
    # plateau (L1 0.49 for 700 steps, measured), on 5-frame windows it leaves it within 200; the last
    # phase must cover data.num_frames, since later 4-frame groups are encoded and decoded from the
    # cache of earlier ones and that cache is only right as far as training went.
    phases: list[VAEPhase] = Field(
        [VAEPhase(steps=2000, num_frames=5, batch=8), VAEPhase(steps=1500, num_frames=17, batch=4)],
        min_length=1,
    )
    image_batch: int = Field(8, ge=0)  # single frames per step besides the windows (the frame-0 path)
    # Train on random crops of this side (a multiple of 8; None: whole frames). The VAE is convolutional,
    # so crops teach it the same local statistics at a fraction of the cost; it then runs on whole frames.
    crop: int | None = Field(32, ge=8)
    lr: float = Field(1e-3, gt=0)
    kl_weight: float = Field(1e-6, ge=0)
    stats_clips: int = Field(128, ge=1)  # clips measured for latents_mean / latents_std
    # The VAE's base width (AutoencoderKLWan base_dim; None: the preset's, 16 for toy). Its latent and
    # compression stay Wan 2.1's (16 channels, 8x spatial, 4x temporal), so the DiT is unchanged; a
    # loaded folder carries its own width in vae/config.json. Toy world 3 widens it (its landscape has
    # more detail than world 2's flat shapes: docs/guides/toyworld_record.md).
    base_dim: int | None = Field(None, ge=4)

    @model_validator(mode="after")
    def _cycle_needs_frames(self):
        if any(p.cycle_weight for p in self.phases) and not self.image_batch:
            raise ValueError("a phase's cycle_weight trains on the single frames: set vae.image_batch > 0")
        return self

    @property
    def steps(self) -> int:
        return sum(p.steps for p in self.phases)

    def phase_at(self, step: int) -> VAEPhase:
        """The phase that trains step `step` (0-based) of the whole schedule."""
        for phase in self.phases:
            if step < phase.steps:
                return phase
            step -= phase.steps
        return self.phases[-1]


class Condition(Section):
    cond_frames: int = Field(1, ge=1)
    padding: Literal["reference", "zeros"] = "reference"
    # frames: VAE of [K frames, padding] (SVI 1.0, Wan 2.1 I2V); pro: SVI 2.0 Pro's latents
    # (svi.model.i2v_condition.pro_condition), cond_frames and padding unused: [VAE(anchor), zeros] with
    # the window's frame 0 as the anchor (clip 1) at motion_latents 0, [VAE(anchor), the motion window's
    # last latent, zeros] at 1 (a later clip; the anchor a frame before the motion window, #75).
    layout: Literal["frames", "pro"] = "frames"
    motion_latents: int = Field(0, ge=0, le=1)


class DiTStage(Section):
    steps: int = Field(6000, ge=0)
    batch: int = Field(8, ge=1)
    lr: float = Field(3e-4, gt=0)
    warmup_steps: int = Field(200, ge=0)
    weight_decay: float = Field(0.01, ge=0)
    grad_clip: float = Field(1.0, ge=0)
    ema_decay: float = Field(0.999, ge=0, lt=1)
    timestep_shift: float = Field(3.0, gt=0)
    windows_per_clip: int = Field(2, ge=1)  # random windows encoded per training video (more examples)
    conditions: list[Condition] = [Condition(), Condition(cond_frames=5, padding="zeros")]
    # Text dropout: each sample's prompt is replaced by the empty prompt with this probability, so the
    # model learns a text-unconditional mode and can sample with text classifier-free guidance (the
    # small presets' negative prompt is the empty one). 0: the first toy world's recipe (no CFG).
    text_dropout: float = Field(0.0, ge=0, le=1)
    # The padding image of reference padding, as fine-tuning's data.reference_frame (svi/training/data.py).
    # `window` pads with a frame of the training window, which shows where the camera went: a base
    # pretrained so may read the heading from the padding rather than from the prompt
    # (docs/guides/toyworld_record.md).
    reference_frame: Literal["window", "outside", "first"] = "window"
    # The DiT's width (channels; heads of the preset's size, the FFN 4x: `presets.widened`). None: the
    # preset's, or with `init` the init folder's DiT. A width unlike the init folder's DiT starts the DiT
    # from the seeded random initialisation (the folder's VAE, umT5 and tokenizer are still kept).
    width: int | None = Field(None, ge=16)
    # The umT5 text encoder trained with the DiT at this learning rate (with the DiT's warm-up and decay,
    # and its EMA), each window's prompt encoded every step, as a pretrained text encoder's features name
    # what the words mean; exported with the model. None: umT5 keeps its seeded random initialisation and
    # its features are computed once (the committed bases'). On those features toy world 3's base does not
    # read the camera's heading (benchmarks/toyworld/camera_following.py, docs/guides/toyworld_record.md).
    text_encoder_lr: float | None = Field(None, gt=0)


class PretrainConfig(Section):
    data: PretrainData = PretrainData()
    # umT5 taught the words of the training prompts before the DiT caches its contexts
    # (svi/training/text_stage.py); steps 0 (the default) leaves umT5 as built or as `init` has it.
    text: TextStage = TextStage()
    vae: VAEStage = VAEStage()
    dit: DiTStage = DiTStage()
    # The model pretrained: toy (one DiT with the CLIP image branch) or toy-a14b (two experts, no image
    # encoder, each DiT trained on its own timestep range split at expert_boundary).
    preset: Literal["toy", "toy-a14b"] = "toy"
    expert_boundary: float = Field(0.875, gt=0, lt=1)
    # A pretrained toy model to start from, a folder or `toy` (the committed svi/weights/toy): its VAE,
    # umT5 and tokenizer are kept (no VAE stage) and every DiT starts from its DiT. None: everything from
    # the seeded random initialisation.
    init: str | None = None
    # The toy world the model is made for (toyworld.world.WORLDS), recorded in its folder's
    # TOY_WORLD_FILE; `harness run` sets it from the declaration's world.version.
    toy_world: Literal[2, 3] = TOY_WORLD
    seed: int = 0
    checkpoint_every: int = Field(250, ge=1)
    output_dir: str = "runs/pretrain_toy"
    threads: int | None = Field(None, ge=1)  # torch CPU threads (None: torch's default)
    # Where the models train: cpu, or cuda (a GPU: the toy world's pretraining takes minutes there and
    # hours on two cores). Batches are drawn on the CPU from the same generators either way, so a run
    # draws the same windows, timesteps and noise on both; the arithmetic (float32 sums, cuDNN's
    # convolutions) differs, so the weights agree only to training noise. State files are written
    # from CPU copies, so a run started on one device resumes on the other.
    device: str = Field("cpu", pattern=r"^(cpu|cuda(:\d+)?)$")

    @model_validator(mode="after")
    def _vae_covers_clip(self):
        last = [p for p in self.vae.phases if p.steps]
        if last and last[-1].num_frames < self.data.num_frames:
            raise ValueError(
                f"the last VAE phase trains on {last[-1].num_frames}-frame windows, shorter than "
                f"data.num_frames={self.data.num_frames}: the causal VAE would meet cache states it "
                f"never trained on in every clip; end vae.phases with num_frames >= {self.data.num_frames}"
            )
        return self

    @model_validator(mode="after")
    def _one_kind_of_layout(self):
        kinds = {c.layout for c in self.dit.conditions}
        if len(kinds) > 1:
            raise ValueError(
                "dit.conditions mixes layout frames and layout pro, which read different windows: use one"
            )
        return self

    @model_validator(mode="after")
    def _init_of_this_world(self):
        if "toy_world" in self.model_fields_set and (error := init_world_error(self)):
            raise ValueError(error)
        return self

    @model_validator(mode="after")
    def _text_with_one_dit(self):
        if self.dit.text_encoder_lr is not None and get_preset(self.preset).experts != 1:
            raise ValueError(
                f"dit.text_encoder_lr trains umT5 with a DiT; {self.preset} trains two experts one after the "
                "other, which would each see another encoder: leave it unset for a two-expert preset"
            )
        return self

    @model_validator(mode="after")
    def _width_fits_heads(self):
        if self.dit.width is not None:
            widened(get_preset(self.preset).arch, self.dit.width)  # ValueError: not a multiple of heads
        return self

    @model_validator(mode="after")
    def _device_here(self):
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {self.device}: this machine has no CUDA device; use device=cpu")
        return self

    def experts(self) -> list[str | None]:
        """The DiT stages' experts: [None] (one transformer) or ["high", "low"]."""
        return ["high", "low"] if get_preset(self.preset).experts == 2 else [None]


def init_world_error(cfg: PretrainConfig) -> str | None:
    """Why `cfg.init` cannot start a pretraining for `cfg.toy_world` (a base model of another toy world),
    or None. A folder that does not exist is left to the loader's own error."""
    if cfg.init is None:
        return None
    folder = preset_weights("toy", None if cfg.init == "toy" else cfg.init)
    if not Path(folder).is_dir() or toy_world_of(folder) == cfg.toy_world:
        return None
    return (
        f"init {cfg.init} ({folder}) was made for toy world {toy_world_of(folder)}, this pretraining "
        f"is for world {cfg.toy_world}: start from a base model of world {cfg.toy_world} (init: a "
        "folder that `harness run` of that world's pretraining wrote)"
    )


# -- small pieces ------------------------------------------------------------------------------------


def load_clips(cfg: PretrainConfig) -> tuple[torch.Tensor, list[str]]:
    """Every training video, decoded once (decord, via VideoClipDataset) into memory.

    -> (uint8 [N, 3, F, H, W] with F the longest 4k+1 all videos have, prompts). The stages then cut
    random windows and crops from memory: decoding a few frames of an mp4 per sample would cost more
    than the toy model's step.
    """
    if not cfg.data.root:
        raise ValueError("data.root is not set: point it at a toy-world training set (official layout)")
    probe = VideoClipDataset(cfg.data.root, num_frames=1, height=cfg.data.height, width=cfg.data.width)
    shortest = min(s.num_source_frames for s in probe.samples)
    frames = (shortest - 1) // 4 * 4 + 1
    if frames < cfg.data.num_frames:
        raise ValueError(
            f"training videos have {shortest} frames; data.num_frames={cfg.data.num_frames} needs more"
        )
    clips = VideoClipDataset(cfg.data.root, num_frames=frames, height=cfg.data.height, width=cfg.data.width)
    videos = torch.empty(len(clips), 3, frames, cfg.data.height, cfg.data.width, dtype=torch.uint8)
    prompts = []
    for i in tqdm(range(len(clips)), desc="load clips", unit="clip"):
        item = clips[i]
        videos[i] = ((item["video"] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        prompts.append(item["prompt"])
    return videos, prompts


def windows(
    videos: torch.Tensor,
    index: torch.Tensor,
    num_frames: int,
    crop: int | None,
    g: torch.Generator,
    reference: str | None = None,
):
    """Random windows of num_frames (and random crop x crop squares) of videos[index] -> [B, 3, F, h, w]
    float in [-1, 1]; with `reference` (a data.reference_frame mode) also each window's reference
    frame, [B, 3, h, w] (svi.training.data.reference_frame_index, the same rule as fine-tuning)."""
    _, _, total, h, w = videos.shape
    side_h, side_w = (h, w) if crop is None else (min(crop, h), min(crop, w))
    out, refs = [], []
    for i in index.tolist():
        t = int(torch.randint(0, total - num_frames + 1, (1,), generator=g))
        y = int(torch.randint(0, h - side_h + 1, (1,), generator=g))
        x = int(torch.randint(0, w - side_w + 1, (1,), generator=g))
        out.append(videos[i, :, t : t + num_frames, y : y + side_h, x : x + side_w])
        if reference is not None:
            r = reference_frame_index(list(range(t, t + num_frames)), total, reference, g)
            refs.append(videos[i, :, r, y : y + side_h, x : x + side_w])
    clips = torch.stack(out).float() / 127.5 - 1
    return clips if reference is None else (clips, torch.stack(refs).float() / 127.5 - 1)


def pro_windows(videos: torch.Tensor, index: torch.Tensor, num_frames: int, g: torch.Generator):
    """SVI 2.0 Pro's training windows (#75) of videos[index]: the target clip, its motion window (the F
    frames whose last latent the target's latent 1 restates, `pro_window_ids`) and the anchor, a random
    frame before the motion window -> ([B, 3, F, H, W], [B, 3, F, H, W], [B, 3, H, W]) in [-1, 1]."""
    total = videos.shape[2]
    lo = pro_min_start(num_frames, 1)
    if total - num_frames < lo:
        raise ValueError(
            f"the Pro layout needs videos of {lo + num_frames} frames for {num_frames}-frame clips; "
            f"these have {total}: write longer training clips (world.clip_frames)"
        )
    target, motion, anchor = [], [], []
    for i in index.tolist():
        t = int(torch.randint(lo, total - num_frames + 1, (1,), generator=g))
        ids = pro_window_ids(list(range(t, t + num_frames)), num_frames, 1)
        a = int(torch.randint(0, ids[0], (1,), generator=g))
        target.append(videos[i, :, t : t + num_frames])
        motion.append(videos[i, :, ids])
        anchor.append(videos[i, :, a])

    def scale(x: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(x).float() / 127.5 - 1

    return scale(target), scale(motion), scale(anchor)


# -- stage 1: the VAE --------------------------------------------------------------------------------


def latent_cycle(vae, frames: torch.Tensor) -> torch.Tensor:
    """How far one round trip moves the VAE's own latent: frames [B, 3, F, H, W] in [-1, 1] -> mean over
    channels of MSE(E(D(z)), z) / Var(z) per channel, z = E(frames) posterior mode held fixed (the
    gradient trains the encoder to invert the decoder on what it decodes)."""
    with torch.no_grad():
        z = vae.encode(frames).latent_dist.mode()  # [B, C, f, h, w]
        again = vae.decode(z).sample.clamp(-1, 1)
        var = z.transpose(0, 1).flatten(1).var(dim=1).clamp_min(1e-6).view(1, -1, 1, 1, 1)
    return ((vae.encode(again).latent_dist.mode() - z).pow(2) / var).mean()


def vae_loss(vae, video: torch.Tensor, kl_weight: float) -> tuple[torch.Tensor, float]:
    """L1 reconstruction of video [B, 3, F, H, W] in [-1, 1] through a sampled latent, plus KL."""
    posterior = vae.encode(video).latent_dist
    recon = vae.decode(posterior.sample()).sample
    l1 = (recon - video).abs().mean()
    kl = posterior.kl().mean() / video[0].numel()
    return l1 + kl_weight * kl, float(l1.detach())


@torch.no_grad()
def measure_latent_stats(vae, clips: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the posterior mode of clips [N, 3, F, H, W] in [-1, 1]."""
    total = sq = None
    n = 0
    for clip in clips:
        mu = vae.encode(clip[None].to(vae.device)).latent_dist.mode().double()  # [1, C, f, h, w]
        s, s2 = mu.sum(dim=(0, 2, 3, 4)), mu.pow(2).sum(dim=(0, 2, 3, 4))
        total, sq = (s, s2) if total is None else (total + s, sq + s2)
        n += mu[0, 0].numel()
    mean = total / n
    std = (sq / n - mean.pow(2)).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()


def train_vae(bb: Backbone, cfg: PretrainConfig, out: Path, videos: torch.Tensor) -> None:
    vae = bb.vae
    state_path = out / "vae_state.pt"
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.vae.lr, weight_decay=0.0)
    step = 0
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False, map_location=cfg.device)
        vae.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step = state["step"]
        truncate_jsonl(out / "metrics.jsonl", lambda r: r["stage"] == "vae" and r["step"] > step)
        log.info("VAE: resumed at step %d", step)
    if step < cfg.vae.steps:
        g = torch.Generator().manual_seed(cfg.seed * 7919 + step)
        vae.train().requires_grad_(True)
        bar = tqdm(total=cfg.vae.steps, initial=step, desc="pretrain vae", unit="step")
        while step < cfg.vae.steps:
            t0 = time.perf_counter()
            for group in opt.param_groups:
                group["lr"] = lr_at(step, cfg.vae.lr, min(100, cfg.vae.steps // 10), cfg.vae.steps)
            phase = cfg.vae.phase_at(step)
            index = torch.randint(0, len(videos), (phase.batch,), generator=g)
            crop = None if phase.whole_frames else cfg.vae.crop
            video = windows(videos, index, phase.num_frames, crop, g).to(cfg.device)
            loss, l1 = vae_loss(vae, video, cfg.vae.kl_weight)
            if cfg.vae.image_batch:
                index = torch.randint(0, len(videos), (cfg.vae.image_batch,), generator=g)
                images = windows(videos, index, 1, crop, g).to(cfg.device)  # [B, 3, 1, h, w]
                image_loss, l1_image = vae_loss(vae, images, cfg.vae.kl_weight)
                loss = loss + image_loss
                if phase.cycle_weight:
                    cycle = latent_cycle(vae, images) + latent_cycle(vae, video)
                    loss = loss + phase.cycle_weight * cycle
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
            opt.step()
            step += 1
            bar.update(1)
            bar.set_postfix(l1=f"{l1:.4f}")
            record = {"stage": "vae", "step": step, "vae/l1": l1, "vae/num_frames": phase.num_frames,
                      "vae/side": video.shape[-1]}  # fmt: skip
            if cfg.vae.image_batch:
                record["vae/l1_image"] = l1_image
                if phase.cycle_weight:
                    record["vae/latent_cycle"] = float(cycle.detach())
            append_jsonl(out / "metrics.jsonl", {**record, "vae/seconds_per_step": time.perf_counter() - t0})
            if step % cfg.checkpoint_every == 0 or step == cfg.vae.steps:
                atomic_torch_save(
                    to_cpu({"model": vae.state_dict(), "optimizer": opt.state_dict(), "step": step}),
                    state_path,
                )
        bar.close()
    vae.eval().requires_grad_(False)
    g = torch.Generator().manual_seed(cfg.seed + 1)
    index = torch.randperm(len(videos), generator=g)[: cfg.vae.stats_clips]
    mean, std = measure_latent_stats(vae, windows(videos, index, cfg.data.num_frames, None, g))
    vae.register_to_config(latents_mean=mean, latents_std=std)


# -- stage 2: the DiT --------------------------------------------------------------------------------


def window_videos(videos: int, windows_per_clip: int) -> torch.Tensor:
    """The video of each cached window: every video once, then again, windows_per_clip times -> [N * w]."""
    return torch.arange(videos).repeat(windows_per_clip)


@torch.no_grad()
def encode_clips(
    bb: Backbone, cfg: PretrainConfig, videos: torch.Tensor, prompts: list[str], batch: int = 8
) -> dict[str, torch.Tensor]:
    """`dit.windows_per_clip` random windows of every video through the frozen encoders, once:
    x0, one y per condition layout, the umT5 context and the CLIP feature of the first frame (None
    without an image encoder)."""
    if cfg.dit.conditions[0].layout == "pro":
        return encode_pro_clips(bb, cfg, videos, prompts, batch)
    layouts = [
        DataConfig(
            num_frames=cfg.data.num_frames, height=cfg.data.height, width=cfg.data.width,
            cond_frames=c.cond_frames, padding=c.padding,
        )
        for c in cfg.dit.conditions
    ]  # fmt: skip
    g = torch.Generator().manual_seed(cfg.seed + 2)
    order = window_videos(len(videos), cfg.dit.windows_per_clip)
    x0, ys, ctx, img = [], [[] for _ in layouts], [], []
    for first in tqdm(range(0, len(order), batch), desc="encode clips", unit="batch"):
        index = order[first : first + batch]
        # [B, 3, F, H, W], [B, 3, H, W]
        video, reference = windows(videos, index, cfg.data.num_frames, None, g, cfg.dit.reference_frame)
        video, reference = video.to(bb.vae.device), reference.to(bb.vae.device)
        enc = encode_batch(bb, video, [prompts[i] for i in index.tolist()], layouts[0], reference)
        x0.append(enc.x0)
        ctx.append(enc.context)
        img.append(enc.image_context)
        ys[0].append(enc.y)
        for j, data in enumerate(layouts[1:], start=1):  # the other layouts need only their y
            cond = video[:, :, : data.cond_frames]
            ys[j].append(build_condition(bb, cond, data.num_frames, data.padding, reference, data.mask))
    return {
        "x0": torch.cat(x0),  # [N, 16, f, h, w]
        "y": torch.stack([torch.cat(y) for y in ys]),  # [layouts, N, 20, f, h, w]
        "context": torch.cat(ctx).half(),  # [N, L, D] (fp16: the cache is the largest thing here)
        "image_context": None if img[0] is None else torch.cat(img),  # [N, T, D]
    }


def encode_pro_clips(
    bb: Backbone, cfg: PretrainConfig, videos: torch.Tensor, prompts: list[str], batch: int = 8
) -> dict[str, torch.Tensor]:
    """`encode_clips` for the Pro layouts (`pro_windows`): y per layout as `Condition` describes it."""
    data = DataConfig(
        num_frames=cfg.data.num_frames, height=cfg.data.height, width=cfg.data.width, window="pro"
    )
    g = torch.Generator().manual_seed(cfg.seed + 2)
    order = window_videos(len(videos), cfg.dit.windows_per_clip)
    x0, ys, ctx, img = [], [[] for _ in cfg.dit.conditions], [], []
    for first in tqdm(range(0, len(order), batch), desc="encode clips", unit="batch"):
        index = order[first : first + batch]
        video, motion, anchor = (
            x.to(bb.vae.device) for x in pro_windows(videos, index, cfg.data.num_frames, g)
        )
        enc = encode_batch(
            bb, video, [prompts[i] for i in index.tolist()], data, motion=motion, anchor=anchor
        )
        x0.append(enc.x0)
        ctx.append(enc.context)
        img.append(enc.image_context)
        for j, c in enumerate(cfg.dit.conditions):
            if c.motion_latents:  # [VAE(anchor), the motion window's last latent, zeros]
                ys[j].append(enc.y)
            else:  # clip 1: [VAE(frame 0), zeros]
                with torch.no_grad():
                    ys[j].append(pro_condition(bb.encode_video(video[:, :, :1]), None, enc.x0.shape[2]))
    return {
        "x0": torch.cat(x0),  # [N, 16, f, h, w]
        "y": torch.stack([torch.cat(y) for y in ys]),  # [layouts, N, 20, f, h, w]
        "context": torch.cat(ctx).half(),  # [N, L, D]
        "image_context": None if img[0] is None else torch.cat(img),  # [N, T, D]
    }


def train_dit(bb: Backbone, cfg: PretrainConfig, out: Path, videos: torch.Tensor, prompts: list[str]) -> None:
    """Encode the clips once (`cache.pt`), then train each DiT: the transformer, or the two experts one
    after the other, each on its own timestep range."""
    cache_path = out / "cache.pt"
    if cache_path.is_file():
        cache = torch.load(cache_path, map_location=cfg.device)
    else:
        cache = encode_clips(bb, cfg, videos, prompts)
        atomic_torch_save(to_cpu(cache), cache_path)
    text = None
    if cfg.dit.text_encoder_lr is not None:  # the prompts of the cached windows, encoded every step
        text = TrainedText(
            bb, [prompts[i] for i in window_videos(len(prompts), cfg.dit.windows_per_clip).tolist()]
        )
    empty = bb.encode_text([""])[0] if cfg.dit.text_dropout else None  # [L, D]: the unconditional prompt
    for i, (expert, model) in enumerate(zip(cfg.experts(), bb.experts())):
        train_one_dit(model, cfg, out, cache, empty, expert, seed=cfg.seed + i, text=text)


@dataclasses.dataclass
class TrainedText:
    """umT5 trained with the DiT (`dit.text_encoder_lr`): each cached window's prompt, encoded each step."""

    bb: Backbone
    prompts: list[str]  # per cached window (`window_videos`)

    def context(self, idx: torch.Tensor, dropped: torch.Tensor) -> torch.Tensor:
        """[B, L, D]: the windows' prompts through umT5, the empty prompt where `dropped`."""
        chosen = ["" if d else self.prompts[i] for i, d in zip(idx.tolist(), dropped.tolist())]
        return self.bb.text_features(chosen).float()


def trained_modules(model: torch.nn.Module, text_encoder: torch.nn.Module | None) -> torch.nn.Module:
    """What a DiT stage trains, as its state file holds it: the DiT, or the DiT and umT5."""
    return model if text_encoder is None else torch.nn.ModuleDict({"dit": model, "text": text_encoder})


def export_checkpoint(run: Path, folder: Path) -> Path:
    """The model folder of a pretraining's last DiT checkpoint (its EMA weights), for measuring a run cut
    short as its finished folder would be measured. A run that starts from `init` only (a run with its own
    VAE stage has its VAE in another state file) and one DiT."""
    if not (run / "config.yaml").is_file():
        raise ValueError(
            f"{run}: no config.yaml, so not a pretraining's folder (<workspace>/runs/NAME/pretrain)"
        )
    cfg = load_config(run / "config.yaml", [], schema=PretrainConfig)
    if cfg.init is None or len(cfg.experts()) != 1:
        raise ValueError(f"{run}: only a one-DiT run from init exports its checkpoint; let this one finish")
    state_path = run / f"{dit_stage(None)}_state.pt"
    if not state_path.is_file():
        raise ValueError(
            f"{run} has no DiT checkpoint yet ({state_path.name}); it writes one every checkpoint_every steps"
        )
    bb = initial_backbone(cfg)
    load_text_state(bb.text_encoder, run)  # the text stage's umT5, where the run has one
    state = torch.load(state_path, weights_only=False, map_location="cpu")
    text = bb.text_encoder if cfg.dit.text_encoder_lr is not None else None
    trained_modules(bb.transformer, text).load_state_dict(state["ema"])
    log.info("%s: the EMA of step %d", state_path, state["step"])
    return export(bb, folder, cfg)


def dit_stage(expert: str | None) -> str:
    """The stage name of a DiT's metrics and state file: dit, or dit_high / dit_low."""
    return "dit" if expert is None else f"dit_{expert}"


def train_one_dit(
    model: torch.nn.Module,
    cfg: PretrainConfig,
    out: Path,
    cache: dict[str, torch.Tensor],
    empty: torch.Tensor | None,
    expert: str | None,
    seed: int,
    text: TrainedText | None = None,
) -> None:
    """Clean flow matching of one DiT on the cached clips (resumable); `expert` high / low draws only
    that expert's timesteps (`erft.expert_ids` at cfg.expert_boundary). With `text`, umT5 trains with it
    (the cached context unused). Leaves the EMA weights in them."""
    stage = dit_stage(expert)
    model.train().requires_grad_(True)
    groups = [{"params": list(model.parameters()), "scale": 1.0}]  # scale: of the DiT's learning rate
    trained = trained_modules(model, None if text is None else text.bb.text_encoder)
    if text is not None:  # umT5 stays in eval mode (no dropout), as it encodes at inference
        encoder = text.bb.text_encoder.requires_grad_(True)
        groups.append({"params": list(encoder.parameters()), "scale": cfg.dit.text_encoder_lr / cfg.dit.lr})
    ema = copy.deepcopy(trained).eval().requires_grad_(False)
    opt = torch.optim.AdamW(groups, lr=cfg.dit.lr, weight_decay=cfg.dit.weight_decay)
    recycler = Recycler(
        ERFTConfig(mode="plain"), shift=cfg.dit.timestep_shift, seed=seed, expert=expert,
        boundary=cfg.expert_boundary,
    )  # fmt: skip
    pick = random.Random(seed)
    state_path = out / f"{stage}_state.pt"
    step = 0
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False, map_location=cfg.device)
        trained.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        recycler.load_state_dict(state["recycler"])
        pick.setstate(state["pick"])
        step = state["step"]
        truncate_jsonl(out / "metrics.jsonl", lambda r: r["stage"] == stage and r["step"] > step)
        log.info("%s: resumed at step %d", stage, step)
    n = cache["x0"].shape[0]
    bar = tqdm(total=cfg.dit.steps, initial=step, desc=f"pretrain {stage}", unit="step")
    while step < cfg.dit.steps:
        t0 = time.perf_counter()
        lr = lr_at(step, cfg.dit.lr, cfg.dit.warmup_steps, cfg.dit.steps)
        for g in opt.param_groups:
            g["lr"] = lr * g.get("scale", 1.0)  # state files from before the text groups have no scale
        idx = torch.tensor([pick.randrange(n) for _ in range(cfg.dit.batch)], device=cfg.device)
        layout = pick.randrange(len(cfg.dit.conditions))
        dropped = torch.zeros(cfg.dit.batch, dtype=torch.bool)
        if empty is not None:
            dropped = torch.tensor(
                [pick.random() < cfg.dit.text_dropout for _ in range(cfg.dit.batch)], device=cfg.device
            )
        if text is not None:
            context = text.context(idx, dropped)  # [B, L, D], with gradients into umT5
        else:
            context = cache["context"][idx].float()  # [B, L, D]
            if empty is not None:
                context[dropped] = empty
        prep = recycler.prepare(cache["x0"][idx], cache["y"][layout][idx])
        image = None if cache["image_context"] is None else cache["image_context"][idx]
        v = model(prep.model_input(), prep.timestep.to(cfg.device), context, image, return_dict=False)[0]
        loss = recycler.loss(v, prep)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"DiT loss became {loss.item()} at step {step + 1}; lower dit.lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(trained.parameters(), cfg.dit.grad_clip or math.inf))
        opt.step()
        with torch.no_grad():
            decay = min(cfg.dit.ema_decay, (1 + step) / (10 + step))  # short memory while weights move fast
            for e, p in zip(ema.parameters(), trained.parameters()):
                e.lerp_(p, 1 - decay)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        append_jsonl(out / "metrics.jsonl", {"stage": stage, "step": step, "dit/loss": loss.item(), "dit/lr": lr,
                                        "dit/grad_norm": grad_norm, "dit/text_dropped": int(dropped.sum()),
                                        # the timesteps drawn (an expert's stay in its range)
                                        "dit/t_min": float(prep.timestep.min()),
                                        "dit/t_max": float(prep.timestep.max()),
                                        "dit/seconds_per_step": time.perf_counter() - t0})  # fmt: skip
        if step % cfg.checkpoint_every == 0 or step == cfg.dit.steps:
            atomic_torch_save(
                to_cpu({"model": trained.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                        "recycler": recycler.state_dict(), "pick": pick.getstate(), "step": step}),
                state_path,
            )  # fmt: skip
    bar.close()
    trained.load_state_dict(ema.state_dict())
    trained.eval().requires_grad_(False)


EXPERTS_FILE = "toy_experts.json"


def export(bb: Backbone, folder: Path, cfg: PretrainConfig) -> Path:
    """The base model folder, DiT(s) and VAE in fp16 (half the size; loading upcasts to fp32), with the
    toy world it was made for (TOY_WORLD_FILE) and, for two experts, their boundary (EXPERTS_FILE)."""
    for part in (*bb.experts(), bb.vae):
        part.half()
    try:
        save_backbone(bb, folder)
    finally:
        for part in (*bb.experts(), bb.vae):
            part.float()
    (Path(folder) / TOY_WORLD_FILE).write_text(json.dumps({"toy_world": cfg.toy_world}) + "\n")
    if len(bb.experts()) == 2:  # how the experts were made: their boundary, the folder they started from
        made = {"expert_boundary": cfg.expert_boundary, "init": cfg.init}
        (Path(folder) / EXPERTS_FILE).write_text(json.dumps(made) + "\n")
    return folder


# The parameters of the CLIP image branch (Wan 2.1 I2V's), which a DiT without an image encoder lacks.
IMAGE_BRANCH = (
    "condition_embedder.image_embedder.",
    ".attn2.add_k_proj.",
    ".attn2.add_v_proj.",
    ".attn2.norm_added_k.",
)


def dit_width(transformer: torch.nn.Module) -> int:
    """A Wan DiT's width: heads x head size, from its config."""
    return transformer.config.num_attention_heads * transformer.config.attention_head_dim


def initial_backbone(cfg: PretrainConfig) -> Backbone:
    """The preset's seeded random initialisation, or with `init` that folder's VAE, umT5 and tokenizer
    and its DiT's weights in every DiT (less the image branch where the preset has no image encoder)."""
    p = get_preset(cfg.preset)
    arch = p.arch if cfg.dit.width is None else widened(p.arch, cfg.dit.width)
    bb = build_small(arch, p.name, cfg.seed, p.image_encoder, p.experts)
    if cfg.vae.base_dim is not None and cfg.init is None:  # drawn last: the other parts are as before
        bb.vae = small_vae(dataclasses.replace(p.arch, vae_base=cfg.vae.base_dim), p.vae)
    if cfg.init is None:
        return bb
    base = load_wan_i2v(
        preset_weights("toy", None if cfg.init == "toy" else cfg.init), torch.float32, preset="toy"
    )
    bb.vae, bb.text_encoder, bb.tokenizer = base.vae, base.text_encoder, base.tokenizer
    if cfg.dit.width is not None and cfg.dit.width != dit_width(base.transformer):
        log.info("DiT of width %d from the seeded random initialisation (%s's is %d)",
                 cfg.dit.width, cfg.init, dit_width(base.transformer))  # fmt: skip
        return bb
    state = base.transformer.state_dict()
    for tf in bb.experts():
        kept = {k: v for k, v in state.items() if p.image_encoder or not any(s in k for s in IMAGE_BRANCH)}
        tf.load_state_dict(kept)  # strict: every parameter of the expert comes from the folder
    return bb


def pretrain(cfg: PretrainConfig) -> Path:
    """Both stages (each resumes from its state file) -> the `model/` folder."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    if not any((out / f).is_file() for f in ("vae_state.pt", TEXT_STATE_FILE, "dit_state.pt")):
        (out / "metrics.jsonl").unlink(missing_ok=True)
    bb = initial_backbone(cfg)
    if cfg.device != "cpu":  # the CPU's models stay as built (to("cpu") would set the encoders' modes)
        bb.to(cfg.device)
        lay_out_vae(bb.vae)
    videos, prompts = load_clips(cfg)
    if cfg.init is None:
        train_vae(bb, cfg, out, videos)
    if cfg.text.steps:
        train_text(bb, cfg.text, out, prompts, cfg.seed, cfg.checkpoint_every)
    train_dit(bb, cfg, out, videos, prompts)
    folder = export(bb, out / "model", cfg)
    log.info("toy base model written to %s", folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m svi.training.pretrain",
        description="Pretrain the toy base model (VAE, then the I2V DiT) on a toy-world clip folder.",
    )
    p.add_argument("--config", help="YAML with sections data, vae, dit (see svi/training/pretrain.py)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. dit.steps=100")
    p.add_argument("--export-checkpoint", nargs=2, metavar=("RUN", "FOLDER"),
                   help="write the model folder of RUN's last DiT checkpoint (a run from init, cut short) to FOLDER")  # fmt: skip
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.export_checkpoint:
        try:
            print(export_checkpoint(*map(Path, args.export_checkpoint)))
        except ValueError as e:
            p.error(str(e))
        return 0
    cfg = load_config(args.config, args.overrides, schema=PretrainConfig)
    pretrain(cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
