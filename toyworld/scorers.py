"""Training of the toy scorers: the toy encoder (the `toy` backend's feature extractor) and the toy sync
network (the toy backend of Sync-C/D), both on data the toy world renders, through one training loop.

The networks and how they score live in scoring/ (`scoring/toy_encoder.py`, `scoring/toy_sync.py`);
what they are trained on is the toy world's, so their training lives here and scoring never imports
the world. `fit` is the loop both use: AdamW (weight decay 1e-4), a linear warm-up over the first
10% of the steps (at most 100), then cosine decay to 5% of the learning rate, the loss shown on a
progress bar.

    python -m toyworld.scorers encoder --out scoring/weights/toy_encoder.safetensors [--steps 1000 --seed 0]
    python -m toyworld.scorers sync --out scoring/weights/toy_sync.safetensors [--steps 1500 --seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scoring.toy_encoder import (
    _SLOT,
    ABSENT,
    DEGRADATIONS,
    EVAL_SEED_OFFSET,
    Sampler,
    ToyEncoder,
    ToyEncoderConfig,
    preprocess,
)
from scoring.toy_encoder import (
    DEFAULT_WEIGHTS as ENCODER_WEIGHTS,
)
from scoring.toy_sync import DEFAULT_WEIGHTS as SYNC_WEIGHTS
from scoring.toy_sync import (
    MAX_OFFSET,
    TRAIN_SECONDS,
    WINDOW_FRAMES,
    ToySyncConfig,
    ToySyncNet,
    preprocess_audio,
)

# -- the loop both scorers train with -----------------------------------------------------------------


def lr_factor(step: int, steps: int) -> float:
    """Linear warm-up over the first 10% of the steps (at most 100), then cosine decay to 5%."""
    warmup = max(1, min(100, steps // 10))
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t))


def fit(
    model: nn.Module,
    batch_loss: Callable[[int], torch.Tensor],
    *,
    steps: int,
    lr: float,
    desc: str,
    progress: bool,
) -> float:
    """Train `model` for `steps` steps on `batch_loss(step)` (a fresh batch each) -> the last loss."""
    from tqdm.auto import tqdm

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, steps))
    model.train()
    loss = torch.tensor(float("nan"))
    bar = tqdm(range(steps), desc=desc, unit="step", disable=not progress)
    for step in bar:
        loss = batch_loss(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    bar.close()
    return float(loss.item())


def training_record(
    steps: int,
    seed: int,
    batch_size: int,
    lr: float,
    threads: int,
    seconds: float,
    cpu_seconds: float,
    **more,
) -> dict:
    """What a scorer's weights file records of its training (its metadata's `training`): the settings,
    wall and CPU seconds (all threads; wall time on a busy machine misleads) and the torch version."""
    return {
        "steps": steps, "seed": seed, "batch_size": batch_size, "lr": lr, **more, "threads": threads,
        "train_seconds": round(seconds, 1), "train_cpu_seconds": round(cpu_seconds, 1), "torch": torch.__version__,
    }  # fmt: skip


# == the toy encoder ===================================================================================

# ----------------------------------------------------------------------------------------------
# Synthetic degradations (numpy, one uint8 frame [H, W, 3] at a time; severity in [0, 1])


def degrade(frame: np.ndarray, kind: str, severity: float, rng: np.random.Generator) -> np.ndarray:
    """One degradation of a uint8 RGB frame [H, W, 3]; severity 0 is mild, 1 is strong."""
    s = float(np.clip(severity, 0.0, 1.0))
    x = frame.astype(np.float32)
    if kind == "blur":
        sigma = 0.4 + 2.1 * s  # pixels of the frame as rendered
        x = cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)
    elif kind == "noise":
        x = x + rng.normal(0.0, 4.0 + 46.0 * s, size=x.shape)
    elif kind == "colour_cast":
        direction = rng.normal(size=3)
        x = x + (10.0 + 80.0 * s) * direction / (np.linalg.norm(direction) + 1e-8)
    elif kind == "jpeg":
        quality = int(round(60 - 55 * s))  # 60 (mild) .. 5 (8x8 blocks, colour bleeding)
        bgr = np.ascontiguousarray(frame[..., ::-1])
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("OpenCV could not JPEG-encode a frame")
        x = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32)
    elif kind == "contrast":
        keep = 1.0 - (0.15 + 0.75 * s)  # fraction of the contrast left
        x = x.mean() + keep * (x - x.mean())
    else:
        raise ValueError(f"unknown degradation {kind!r}; choose one of {', '.join(DEGRADATIONS)}")
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def degrade_batch(
    frames: np.ndarray, rng: np.random.Generator, p_degraded: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Degrade a random subset of uint8 frames [N, H, W, 3].

    Returns (frames, severity [N] float32 with 0 = clean, kind [N] int64: 0 = clean, 1 + DEGRADATIONS index).
    """
    out = frames.copy()
    severity = np.zeros(len(frames), dtype=np.float32)
    kinds = np.zeros(len(frames), dtype=np.int64)
    for i in range(len(frames)):
        if rng.random() < p_degraded:
            kinds[i] = 1 + int(rng.integers(len(DEGRADATIONS)))
            severity[i] = rng.uniform(0.05, 1.0)
            out[i] = degrade(frames[i], DEGRADATIONS[kinds[i] - 1], float(severity[i]), rng)
    return out, severity, kinds


# ----------------------------------------------------------------------------------------------
# Data and targets


def _world():
    try:
        from toyworld import world
    except ImportError as err:
        raise ImportError(
            f"training the toy encoder needs toyworld.world ({err}); is the toy world in this checkout?"
        ) from err
    return world


def world_config(**sizes) -> ToyEncoderConfig:
    """A config sized by the toy world's vocabularies."""
    w = _world()
    return ToyEncoderConfig.for_vocab(w.SHAPES, list(w.COLOURS), w.BACKGROUND_KINDS, w.MAX_OBJECTS, **sizes)


def targets(labels: dict[str, np.ndarray], config: ToyEncoderConfig) -> dict[str, torch.Tensor]:
    """The heads' targets from the toy world's labels.

    Single-label heads take their label as is (int64 [N]); `object_pairs` [N, shapes * colours] and
    `object_colours` [N, colours] are multi-hot sets built from the object slots (absent slots = -1).
    """
    n_colours = len(config.vocab["colours"])
    out = {name: torch.as_tensor(np.asarray(labels[name]), dtype=torch.int64) for name in config.classes}
    n = len(next(iter(labels.values())))
    pairs = torch.zeros(n, config.sets["object_pairs"])
    colours = torch.zeros(n, config.sets["object_colours"])
    slots = sorted({int(m.group(1)) for k in labels if (m := _SLOT.match(k))})
    rows = torch.arange(n)
    for i in slots:
        shape = torch.as_tensor(np.asarray(labels[f"object{i}_shape"]), dtype=torch.int64)
        colour = torch.as_tensor(np.asarray(labels[f"object{i}_colour"]), dtype=torch.int64)
        present = (shape != ABSENT) & (colour != ABSENT)
        pairs[rows[present], shape[present] * n_colours + colour[present]] = 1.0
        colours[rows[present], colour[present]] = 1.0
    out["object_pairs"], out["object_colours"] = pairs, colours
    return out


def make_batch(
    sampler: Sampler, n: int, seed: int, rng: np.random.Generator, small_fraction: float = 0.25
) -> tuple[torch.Tensor, dict[str, np.ndarray], torch.Tensor]:
    """n labelled frames (a `small_fraction` rendered at 32x32, then resized), about half degraded.

    Returns (x [n, 3, 64, 64] preprocessed, labels name -> int64 [n] with the toy world's labels and
    `degradation`, severity [n] float32).
    """
    n_small = int(round(n * small_fraction))
    xs, label_parts, severities = [], [], []
    for j, (count, size) in enumerate(((n - n_small, (64, 64)), (n_small, (32, 32)))):
        if not count:
            continue
        frames, labels = sampler(count, seed=seed * 2 + j, size=size)
        frames, severity, kinds = degrade_batch(np.asarray(frames, dtype=np.uint8), rng)
        xs.append(preprocess(torch.from_numpy(frames).permute(0, 3, 1, 2)))  # [count, 3, 64, 64]
        label_parts.append({k: np.asarray(v) for k, v in labels.items()} | {"degradation": kinds})
        severities.append(torch.from_numpy(severity))
    labels = {k: np.concatenate([p[k] for p in label_parts]) for k in label_parts[0]}
    return torch.cat(xs), labels, torch.cat(severities)


# ----------------------------------------------------------------------------------------------
# Training and evaluation


def losses(out: dict[str, torch.Tensor], target: dict[str, torch.Tensor], severity: torch.Tensor) -> dict:
    terms = {}
    for name, t in target.items():
        logits = out[f"logits/{name}"]
        if t.ndim == 1:  # single-label
            terms[name] = F.cross_entropy(logits, t)
        else:  # multi-label: summed over classes so a 48-way set weighs like one cross-entropy
            terms[name] = F.binary_cross_entropy_with_logits(logits, t, reduction="sum") / len(t)
    clean = (severity == 0).float()
    terms["clean"] = F.binary_cross_entropy_with_logits(out["clean_logit"], clean)
    # Severity as a soft binary target: BCE on the logit keeps its gradient (sigmoid - s) where an L1
    # on the sigmoid would vanish once the head saturates on the wrong side.
    terms["severity"] = 4.0 * F.binary_cross_entropy_with_logits(out["severity_logit"], severity)
    return terms


def _set_recall(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per frame: the share of the true set found among the top-k scores, k = the set's size. [N]."""
    k = target.sum(-1).long()  # [N]
    order = logits.argsort(dim=-1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(logits.shape[1]).expand_as(order))
    hit = (ranks < k[:, None]) & (target > 0)
    return hit.sum(-1) / k.clamp_min(1)


@torch.no_grad()
def evaluate(
    model: ToyEncoder, x: torch.Tensor, labels: dict, severity: torch.Tensor, batch: int = 256
) -> dict:
    """Held-out attribute accuracy, set recall of the objects, severity MAE, clean/degraded accuracy."""
    model.eval()
    outs = [model(x[i : i + batch]) for i in range(0, len(x), batch)]
    out = {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
    n = len(x)
    target = targets(labels, model.config)
    accuracy = {
        name: float((out[f"logits/{name}"].argmax(-1) == target[name]).float().mean())
        for name in model.config.classes
    }
    # Objects: recall@k of the (shape, colour) pairs and of the colours; shapes from the top-k pairs.
    pairs_recall = _set_recall(out["logits/object_pairs"], target["object_pairs"])
    n_colours = len(model.config.vocab["colours"])
    n_shapes = out["logits/object_pairs"].shape[1] // n_colours
    k = target["object_pairs"].sum(-1).long()
    top = out["logits/object_pairs"].argsort(-1, descending=True)
    shape_hits = []
    for i in range(n):  # multiset overlap of predicted and true shapes
        pred = torch.bincount(top[i, : k[i]] // n_colours, minlength=n_shapes)
        true = target["object_pairs"][i].view(-1, n_colours).sum(-1)
        shape_hits.append(float(torch.minimum(pred, true).sum() / max(1, int(k[i]))))
    accuracy["object_pair_recall"] = float(pairs_recall.mean())
    accuracy["object_colour_recall"] = float(
        _set_recall(out["logits/object_colours"], target["object_colours"]).mean()
    )
    accuracy["object_shape_recall"] = float(np.mean(shape_hits))
    accuracy["object_set_exact"] = float((pairs_recall == 1).float().mean())
    err = (out["severity"] - severity).abs()
    degraded = severity > 0
    return {
        "accuracy": accuracy,
        "severity_mae": float(err.mean()),
        "severity_mae_degraded": float(err[degraded].mean()) if degraded.any() else None,
        "severity_mae_clean": float(err[~degraded].mean()) if (~degraded).any() else None,
        "clean_accuracy": float(((out["clean_logit"] > 0) == ~degraded).float().mean()),
        "frames": n,
    }


def train_encoder(
    *,
    steps: int = 1000,
    seed: int = 0,
    batch_size: int = 64,
    lr: float = 3e-3,
    eval_frames: int = 1024,
    sampler: Sampler | None = None,
    config: ToyEncoderConfig | None = None,
    threads: int = 2,
    progress: bool = True,
) -> tuple[ToyEncoder, dict]:
    """Train from scratch; returns the model (eval mode) and a summary with held-out metrics."""

    torch.set_num_threads(threads)
    sampler = sampler or _world().sample_labeled_frames
    config = config or world_config()
    started, cpu_started = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    model = ToyEncoder(config)
    rng = np.random.default_rng(seed)

    def batch_loss(step: int) -> torch.Tensor:
        x, labels, severity = make_batch(sampler, batch_size, seed * 100_000 + step, rng)
        return sum(losses(model(x), targets(labels, config), severity).values())

    fit(model, batch_loss, steps=steps, lr=lr, desc="toy encoder", progress=progress)
    train_seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    eval_rng = np.random.default_rng(EVAL_SEED_OFFSET + seed)
    summary = {
        "eval": evaluate(model, *make_batch(sampler, eval_frames, EVAL_SEED_OFFSET + seed, eval_rng)),
        "training": training_record(steps, seed, batch_size, lr, threads, train_seconds, cpu_seconds),
    }
    return model.eval(), summary


# == the toy sync network ====================================================================

# ----------------------------------------------------------------------------------------------
# Training data: toy talk clips cut into windows the way Sync-C / Sync-D cut them


@dataclass
class TalkClip:
    """One toy talk clip as the sync metric hands it to the network."""

    crops: np.ndarray  # uint8 [F, crop, crop, 3] RGB face crops (faces.crop_face)
    mfcc: np.ndarray  # float32 [T, 13] (sync.mfcc_features)
    openings: np.ndarray  # float32 [F], the mouth opening per frame
    audio: np.ndarray  # float32 [S] at 16 kHz

    @property
    def starts(self) -> range:
        """The metric's window starts: m = min(frames, samples // 640) frames give m - 5 windows."""
        from scoring.sync import SAMPLES_PER_FRAME, window_starts

        return window_starts(0, len(self.crops), len(self.audio) // SAMPLES_PER_FRAME)

    def video_windows(self, starts) -> torch.Tensor:
        """[N, 3, 5, crop, crop] BGR float 0-255 windows starting at the frames `starts`."""
        from scoring.sync import video_windows

        starts = np.asarray(list(starts), dtype=np.int64)
        low, high = int(starts.min()), int(starts.max())
        windows = video_windows(self.crops[low : high + WINDOW_FRAMES])  # [high - low + 1, 3, 5, S, S]
        return windows[torch.from_numpy(starts - low)]

    def audio_windows(self, starts) -> torch.Tensor:
        """[N, 1, 13, 20] MFCC windows of the frames `starts`."""
        from scoring.sync import audio_windows

        return audio_windows(self.mfcc, list(starts))


def face_crops(
    frames: np.ndarray, box: tuple[float, float, float, float] | None, crop_size: int
) -> np.ndarray:
    """uint8 [F, H, W, 3] -> [F, crop, crop, 3]: the metric's crop (faces.crop_face) of a fixed `box`
    (x1, y1, x2, y2) in pixels, or of the whole frame (None), as `faces.FixedBox` gives it."""
    from scoring.faces import box_centre_size, crop_face

    height, width = frames.shape[1:3]
    x1, y1, x2, y2 = box if box is not None else (0.0, 0.0, float(width), float(height))
    cx, cy, half = box_centre_size((x1, y1, x2, y2, 1.0))
    return np.stack([crop_face(frame, cx, cy, half, size=crop_size) for frame in frames])


def make_clip(
    seed: int, seconds: float, render_size: int, crop_size: int, box_jitter: bool, vae: bool = False
) -> TalkClip:
    """A toy talk clip cropped as the metric crops it: the whole frame, or (box_jitter) the head's box
    moved and scaled at random, so either way of finding the toy face works; with `vae`, the frames
    first pass through the toy VAE (`talk.vae_round_trip`), as every generated toy video does."""
    from scoring.sync import mfcc_features
    from toyworld import talking_heads as talk

    frames, audio = talk.talk_sample(seconds, seed, render_size, render_size)
    if vae:
        frames = talk.vae_round_trip(frames)
    box = None
    if box_jitter:
        rng = np.random.default_rng([seed, 21])
        x1, y1, x2, y2 = talk.face_box(render_size, render_size)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        cx, cy = cx + rng.uniform(-0.05, 0.05) * render_size, cy + rng.uniform(-0.05, 0.05) * render_size
        half = max(x2 - x1, y2 - y1) / 2 * rng.uniform(0.85, 1.25)
        box = (cx - half, cy - half, cx + half, cy + half)
    openings = talk.mouth_opening(audio, num_frames=len(frames))
    return TalkClip(face_crops(frames, box, crop_size), mfcc_features(audio), openings, audio)


def clip_seed(split: str, seed: int, index: int) -> int:
    """Seeds of training / held-out clips: from the toy world's non-benchmark half."""
    from toyworld.world import scene_seed

    return scene_seed(f"toy-sync-{split}", seed, index)


def make_clips(
    num: int,
    seed: int,
    split: str,
    crop_size: int,
    seconds: float = TRAIN_SECONDS,
    box_jitter: bool = True,
    vae_every: int = 0,
) -> list[TalkClip]:
    """`num` clips: every fourth rendered at 32x32 (toy models also generate at 32 px), every other
    one (with box_jitter) cropped around a jittered head box instead of the whole frame, and every
    `vae_every`-th (0: none) passed through the toy VAE's round trip."""
    return [
        make_clip(
            clip_seed(split, seed, i),
            seconds,
            32 if i % 4 == 2 else 64,
            crop_size,
            box_jitter and i % 2 == 1,
            vae=vae_every > 0 and i % vae_every == vae_every - 1,
        )
        for i in range(num)
    ]


def sample_pairs(
    clips: list[TalkClip], n: int, rng: np.random.Generator, min_opening_gap: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """n (video clip, video start, audio clip, audio start, in-sync label) draws, half in sync.

    Off-sync audio is 1-3 frames off (half of those draws), 4-15 frames off, or from another clip
    (a quarter of them). Off-sync draws whose 5 mouth openings differ from the in-sync ones by less
    than `min_opening_gap` on average are redrawn: nothing could tell them apart.
    """
    out = np.zeros((n, 5), dtype=np.int64)
    sizes = [len(c.starts) for c in clips]
    row = 0
    while row < n:
        c = int(rng.integers(len(clips)))
        i = int(rng.integers(sizes[c]))
        if row % 2 == 0:
            out[row] = (c, i, c, i, 1)
            row += 1
            continue
        kind = rng.random()
        if kind < 0.25 and len(clips) > 1:
            c2 = int((c + 1 + rng.integers(len(clips) - 1)) % len(clips))
            j = int(rng.integers(sizes[c2]))
        else:
            k = int(rng.integers(1, 4)) if kind < 0.625 else int(rng.integers(4, MAX_OFFSET + 1))
            c2, j = c, i + k * (1 if rng.random() < 0.5 else -1)
            if not 0 <= j < sizes[c]:
                continue
        seen = clips[c].openings[i : i + WINDOW_FRAMES]
        heard = clips[c2].openings[j : j + WINDOW_FRAMES]
        if np.abs(seen - heard).mean() < min_opening_gap:
            continue
        out[row] = (c, i, c2, j, 0)
        row += 1
    return tuple(out.T)


def make_sync_batch(
    clips: list[TalkClip], n: int, rng: np.random.Generator, augment: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(video [n, 3, 5, crop, crop] BGR float 0-255, mfcc [n, 1, 13, 20], labels [n] float 1 = in sync)."""
    vc, vi, ac, ai, label = sample_pairs(clips, n, rng)
    video = torch.cat([clips[c].video_windows([i]) for c, i in zip(vc, vi)])
    audio = torch.cat([clips[c].audio_windows([i]) for c, i in zip(ac, ai)])
    if augment:  # brightness / contrast jitter and pixel noise: generated videos are not clean renders
        gain = torch.from_numpy(rng.uniform(0.8, 1.2, (n, 1, 1, 1, 1))).float()
        shift = torch.from_numpy(rng.uniform(-20, 20, (n, 1, 1, 1, 1))).float()
        sigma = torch.from_numpy(rng.uniform(0, 8, (n, 1, 1, 1, 1))).float()
        noise = torch.from_numpy(rng.standard_normal(video.shape).astype(np.float32))
        video = (video * gain + shift + sigma * noise).clamp(0, 255)
    return video, audio, torch.from_numpy(label).float()


def contrastive_loss(
    v: torch.Tensor, a: torch.Tensor, label: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """SyncNet's loss: in sync -> d^2, off sync -> max(margin - d, 0)^2; d = |v - a| per row."""
    d = (v - a).norm(dim=-1)
    return (label * d**2 + (1 - label) * (margin - d).clamp_min(0) ** 2).mean()


# ----------------------------------------------------------------------------------------------
# Training and evaluation


def delay_audio(audio: np.ndarray, frames: int, fps: float = 25.0, sample_rate: int = 16000) -> np.ndarray:
    """The audio `frames` video frames later (> 0: delayed, silence first; < 0: earlier), same length."""
    shift = int(round(abs(frames) * sample_rate / fps))
    out = np.zeros_like(audio)
    if shift >= len(audio):
        return out
    if frames >= 0:
        out[shift:] = audio[: len(audio) - shift]
    else:
        out[: len(audio) - shift] = audio[shift:]
    return out


@torch.no_grad()
def clip_scores(model: ToySyncNet, clip: TalkClip, audio: np.ndarray | None = None):
    """`sync.SyncScores` of a clip's face crops against its own audio, or against `audio` [S] at 16 kHz.

    The reference's clip scoring: m = min(frames, samples // 640) frames, m - 5 windows, the offset
    search over -15..+15 frames with zero padding (`sync.offset_distances`, `sync.sync_scores`).
    """
    from scoring.sync import mfcc_features, offset_distances, sync_scores

    if audio is not None:
        clip = TalkClip(clip.crops, mfcc_features(audio), clip.openings, np.asarray(audio, dtype=np.float32))
    starts = clip.starts
    v = model.embed_video(clip.video_windows(starts))
    a = model.embed_audio(clip.audio_windows(starts))
    return sync_scores(offset_distances(v, a, vshift=MAX_OFFSET))


def evaluate_sync(model: ToySyncNet, clips: list[TalkClip], shift_frames: int = 4) -> dict:
    """Mean Sync-C / Sync-D and the offsets on held-out clips, three ways: in sync, with the next
    clip's audio (mismatched), with the clip's audio delayed by +-shift_frames frames (alternating).

    A delay of s frames should give the offset -s (`sync.SyncScores`: positive = the audio leads).
    """
    model.eval()
    rows: dict[str, list] = {"in_sync": [], "mismatched": [], "shifted": []}
    delays = [shift_frames if k % 2 == 0 else -shift_frames for k in range(len(clips))]
    for k, clip in enumerate(clips):
        rows["in_sync"].append(clip_scores(model, clip))
        other = clips[(k + 1) % len(clips)].audio
        rows["mismatched"].append(clip_scores(model, clip, other[: len(clip.audio)]))
        rows["shifted"].append(clip_scores(model, clip, delay_audio(clip.audio, delays[k])))
    summary: dict = {}
    for name, items in rows.items():
        summary[name] = {
            "sync_c": round(float(np.mean([r.sync_c for r in items])), 4),
            "sync_d": round(float(np.mean([r.sync_d for r in items])), 4),
            "offsets": [int(r.offset) for r in items],
        }
    summary["shifted"]["expected_offsets"] = [-d for d in delays]
    expected = {"in_sync": [0] * len(clips), "shifted": [-d for d in delays]}
    for name, want in expected.items():
        got = summary[name]["offsets"]
        summary[name]["offset_within_1"] = round(
            float(np.mean([abs(g - w) <= 1 for g, w in zip(got, want)])), 4
        )
    summary["clips"] = len(clips)
    return summary


def train_sync(
    *,
    steps: int = 1500,
    seed: int = 0,
    batch_size: int = 128,
    lr: float = 2e-3,
    num_clips: int = 120,
    eval_clips: int = 16,
    threads: int = 1,
    config: ToySyncConfig | None = None,
    progress: bool = True,
    vae_every: int = 2,
) -> tuple[ToySyncNet, dict]:
    """Train from scratch on fresh toy talk clips (every `vae_every`-th through the toy VAE's round
    trip, as generated toy videos are); returns the model (eval mode) and a summary that evaluates
    held-out clips both as rendered and through the VAE."""

    torch.set_num_threads(threads)
    config = config or ToySyncConfig()
    started, cpu_started = time.perf_counter(), time.process_time()
    clips = make_clips(num_clips, seed, "train", config.crop_size, vae_every=vae_every)
    data_seconds = time.perf_counter() - started
    torch.manual_seed(seed)  # after the clips: loading the toy VAE (once per process) draws from torch's RNG
    model = ToySyncNet(config)
    rng = np.random.default_rng(seed)

    def batch_loss(step: int) -> torch.Tensor:
        video, audio, label = make_sync_batch(clips, batch_size, rng)
        v = model._embed_video(model.preprocess_video(video))
        a = model._embed_audio(preprocess_audio(audio))
        return contrastive_loss(v, a, label)

    loss = fit(model, batch_loss, steps=steps, lr=lr, desc="toy sync", progress=progress)
    train_seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    held_out = make_clips(
        eval_clips, seed, "eval", config.crop_size, box_jitter=False
    )  # as the toy backend crops
    held_out_vae = make_clips(eval_clips, seed, "eval", config.crop_size, box_jitter=False, vae_every=1)
    summary = {
        "eval": evaluate_sync(model, held_out),
        "eval_vae_round_trip": evaluate_sync(model, held_out_vae),
        "training": training_record(
            steps,
            seed,
            batch_size,
            lr,
            threads,
            train_seconds,
            cpu_seconds,  # train: data + steps
            clips=num_clips,
            clip_seconds=TRAIN_SECONDS,
            vae_every=vae_every,
            data_seconds=round(data_seconds, 1),
            final_loss=round(loss, 4),
        ),  # fmt: skip
    }
    return model.eval(), summary


# == command line =====================================================================================


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m toyworld.scorers", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="scorer", required=True)
    e = sub.add_parser("encoder", help="the toy encoder behind the `toy` metric backend")
    e.add_argument("--out", type=Path, default=ENCODER_WEIGHTS, help="safetensors file to write")
    e.add_argument("--steps", type=int, default=1000)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--lr", type=float, default=3e-3)
    e.add_argument("--eval-frames", type=int, default=1024, help="held-out frames for the report")
    e.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("sync", help="the toy sync network behind the toy Sync-C/D backend")
    s.add_argument("--out", type=Path, default=SYNC_WEIGHTS, help="safetensors file to write")
    s.add_argument("--steps", type=int, default=1500)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--batch-size", type=int, default=128)
    s.add_argument("--lr", type=float, default=2e-3)
    s.add_argument("--clips", type=int, default=120, help="training clips (8 s each)")
    s.add_argument("--eval-clips", type=int, default=16, help="held-out clips for the report")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument(
        "--vae-every", type=int, default=2, help="every N-th training clip through the toy VAE (0: none)"
    )
    args = p.parse_args(argv)
    if args.scorer == "encoder":
        model, summary = train_encoder(
            steps=args.steps, seed=args.seed, batch_size=args.batch_size, lr=args.lr,
            eval_frames=args.eval_frames, threads=args.threads,
        )  # fmt: skip
    else:
        model, summary = train_sync(
            vae_every=args.vae_every, steps=args.steps, seed=args.seed, batch_size=args.batch_size, lr=args.lr,
            num_clips=args.clips, eval_clips=args.eval_clips, threads=args.threads,
        )  # fmt: skip
    model.save(args.out, metadata={k: json.dumps(v) for k, v in summary.items()})
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
