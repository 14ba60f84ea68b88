"""The toy sync network: SyncNet's job at toy scale, so Sync-C/D can score toy talking heads.

SyncNet v2 cannot be used on toy faces, so the toy backend of Sync-C/D uses this network, trained on
the toy world's talking heads (`benchmarks.toyworld.talk`) and scored through the same pipeline
(`benchmarks.metrics.sync`: face crops, 5-frame windows against 20 MFCC steps, the offset search over
-15..+15 frames). It implements `sync.SyncModel`. Toy numbers compare arms scored with the same
weights file, never published Sync-C/D numbers (the backend says "toy-sync").

Architecture (sizes in `ToySyncConfig`, stored in the weights file's metadata), about 210k weights:

    video  face crops [N, 3, 5, 48, 48] float 0-255 (the metric passes BGR) -> the channel mean (grey,
           so RGB and BGR embed alike; other sizes are resized first), scaled to [-1, 1], the 5 frames
           as 5 channels (SyncNet v1's early fusion) -> 4 conv3x3-BN-ReLU, stride 2 (widths 16, 32,
           64, 64): [N, 64, 3, 3] -> linear
    audio  MFCC [N, 1, 13, 20] (`sync.mfcc_features`) -> c0 (log energy) relative to the window's
           loudest step, floored at -12, / 4; c1..c12 / 10: the gain of the audio does not matter ->
           4 conv3x3-BN-ReLU (strides 1, (1, 2), 2, 2; widths 16, 32, 64, 64): [N, 64, 4, 3] -> linear
    both   -> embeddings [N, 64], L2-normalised: distances in [0, 2], and the zero padding of the
           offset search sits at distance 1

What the network sees: the metric's face crop (`faces.crop_face`: a square of 2.8 half-box-sides,
shifted down to the mouth, padded grey) of the toy head, which sways and blinks independently of the
audio; only the mouth carries sync. Toy faces have no detector of their own: use `faces.FixedBox()`
(the whole frame) or `FixedBox(talk.face_box(H, W))`; training saw both, with the box moved and
scaled at random.

Training (`python -m benchmarks.metrics.toy_sync --out benchmarks/metrics/weights/toy_sync.safetensors`):
120 toy talk clips of 8 s from seeds no benchmark uses (a quarter rendered at 32x32, the rest 64x64;
half cropped from the whole frame, half from a jittered head box; every second one passed through the
toy VAE's round trip, `talk.vae_round_trip`, because every generated toy video is: a network trained
on crisp renders alone scored VAE round trips of true talking heads at chance), cut into the metric's
windows. Each batch: half in-sync pairs (label 1), half off-sync (label 0): the audio 1-3 frames off,
4-15 frames off, or another clip's. Off-sync pairs whose five mouth openings match the in-sync ones
anyway (silence against silence) are redrawn: nothing could tell them apart. Brightness, contrast and
pixel noise jitter on the video. SyncNet's contrastive loss y d^2 + (1 - y) max(1 - d, 0)^2; AdamW,
lr 2e-3, warm-up then cosine, batch 128, 1500 steps; seeded, one thread (torch.set_num_threads(1)).

Committed weights (`weights/toy_sync.safetensors`, 0.84 MB; the run's summary is in its metadata):
seed 0, torch 2.13.0+cpu, one thread on a loaded 2-core machine: 18.3 min wall (13.5 min making the
clips, most of it the VAE round trips), 952 s CPU. (That run seeded the network before loading the
VAE, which draws from torch's RNG; the code now seeds after it, so a rerun gives other weights of the
same kind.) Held out (16 clips of 8 s from other seeds, a quarter at 32 px, whole-frame crops as the
toy backend takes them; means):

    audio                              as rendered                 through the toy VAE
                                       Sync-C  Sync-D  offset      Sync-C  Sync-D  offset
    its own (in sync)                  0.71    0.157   0 on 16     0.23    0.527   0 on 12, +-1 on 16
    the next clip's (mismatched)       0.15    0.705   scattered   0.08    0.686   scattered
    its own delayed by +-4 frames      0.68    0.174   the shift   0.23    0.537   the shift +-1 on 16

The VAE column is the ceiling of any toy model's talking heads: about 3x the mismatched level.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.metrics.faces import TrackRules

BACKEND = "toy-sync"
# The toy backend's face-track rules (faces.TrackRules; the reference's: a track ends after 25 missed
# frames and is scored with more than 100 detections and faces above 100 px). The toy backend's face is
# FixedBox's whole frame on every frame: one track as long as the video, never missing a frame, so the
# rules only have to let it through. min_face_size: the reference's 100 px as a share of the 480 px
# rows of SVI-Talk's videos, on the toy's 64: 13.3 px. min_track: 5 detections, the shortest track
# SyncNet scores at all (6 frames, one window), so every window of the toy's 16-frame clips has a value;
# the reference's 100 frames (4 s) drop fleeting faces (background people, false detections), which a
# fixed box never gives, and would leave the first 4 s of every toy drift curve empty. num_failed_det:
# the reference's 25 frames (the toy talks at 25 fps too).
TOY_TRACK_RULES = TrackRules(num_failed_det=25, min_track=5, min_face_size=100.0 * 64 / 480)
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "toy_sync.safetensors"
WINDOW_FRAMES = 5  # video frames per window
MFCC_STEPS = 20  # MFCC steps per window
NUM_MFCC = 13
C0_FLOOR = -12.0  # nats below the window's loudest step: silence and near-silence look alike
MAX_OFFSET = 15  # frames, as SyncNet's search
TRAIN_SECONDS = 8.0


@dataclass
class ToySyncConfig:
    crop_size: int = 48
    embed_dim: int = 64
    video_widths: tuple[int, ...] = (16, 32, 64, 64)
    audio_widths: tuple[int, ...] = (16, 32, 64, 64)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ToySyncConfig:
        raw = json.loads(text)
        return cls(
            **{**raw, "video_widths": tuple(raw["video_widths"]), "audio_widths": tuple(raw["audio_widths"])}
        )


def _block(c_in: int, c_out: int, stride) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


def preprocess_audio(mfcc: torch.Tensor) -> torch.Tensor:
    """[N, 1, 13, 20] MFCC windows -> the same shape, gain-invariant and scaled to about unit range."""
    x = mfcc.float()
    c0 = x[:, :, :1]  # [N, 1, 1, 20] log energy
    c0 = (c0 - c0.amax(dim=-1, keepdim=True)).clamp_min(C0_FLOOR) / 4.0
    return torch.cat([c0, x[:, :, 1:] / 10.0], dim=2)


class ToySyncNet(nn.Module):
    """Two small conv towers: 5-frame face windows and MFCC windows -> unit embeddings [N, embed_dim]."""

    backend = BACKEND

    def __init__(self, config: ToySyncConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ToySyncConfig()
        v, a = config.video_widths, config.audio_widths
        self.video_net = nn.Sequential(
            *[_block(c_in, c_out, 2) for c_in, c_out in zip((WINDOW_FRAMES, *v), v)], nn.Flatten()
        )
        strides = (1, (1, 2), 2, 2)
        self.audio_net = nn.Sequential(
            *[_block(c_in, c_out, s) for c_in, c_out, s in zip((1, *a), a, strides)], nn.Flatten()
        )
        side = config.crop_size
        for _ in v:
            side = (side + 1) // 2
        self.video_proj = nn.Linear(v[-1] * side * side, config.embed_dim)
        self.audio_proj = nn.Linear(a[-1] * 4 * 3, config.embed_dim)  # 13 x 20 -> 13 x 10 -> 7 x 5 -> 4 x 3
        self.metadata: dict[str, str] = {}

    @property
    def crop_size(self) -> int:
        return self.config.crop_size

    def preprocess_video(self, frames: torch.Tensor) -> torch.Tensor:
        """[N, 3, 5, H, W] 0-255 -> [N, 5, crop, crop] grey in [-1, 1] (the channel mean: RGB or BGR alike)."""
        if frames.ndim != 5 or frames.shape[1] != 3 or frames.shape[2] != WINDOW_FRAMES:
            raise ValueError(
                f"video windows must be [N, 3, {WINDOW_FRAMES}, H, W], got {tuple(frames.shape)}"
            )
        grey = frames.float().mean(dim=1)  # [N, 5, H, W]
        if grey.shape[-2:] != (self.crop_size, self.crop_size):
            size = (self.crop_size, self.crop_size)
            grey = F.interpolate(grey, size=size, mode="bilinear", align_corners=False, antialias=True)
        return grey / 127.5 - 1.0

    def embed_video(self, frames: torch.Tensor) -> torch.Tensor:
        """[N, 3, 5, crop, crop] float 0-255 face windows (the metric passes BGR) -> [N, embed_dim] unit vectors."""
        device = self.video_proj.weight.device
        return self._embed_video(self.preprocess_video(frames.to(device)))

    def embed_audio(self, mfcc: torch.Tensor) -> torch.Tensor:
        """[N, 1, 13, 20] MFCC windows -> [N, embed_dim] unit vectors."""
        if mfcc.ndim != 4 or tuple(mfcc.shape[1:]) != (1, NUM_MFCC, MFCC_STEPS):
            raise ValueError(
                f"audio windows must be [N, 1, {NUM_MFCC}, {MFCC_STEPS}], got {tuple(mfcc.shape)}"
            )
        return self._embed_audio(preprocess_audio(mfcc.to(self.audio_proj.weight.device)))

    def _embed_video(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.video_proj(self.video_net(x)), dim=-1)

    def _embed_audio(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.audio_proj(self.audio_net(x)), dim=-1)

    # -- weights file ----------------------------------------------------------------------------

    def save(self, path: str | Path, metadata: dict[str, str] | None = None) -> None:
        """Weights (float32) with the config and any extra string metadata in the safetensors header."""
        from safetensors.torch import save_file

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        meta = {"format": "pt", "model": "ToySyncNet", "config": self.config.to_json(), **(metadata or {})}
        save_file(state, str(path), metadata=meta)

    @classmethod
    def from_file(cls, path: str | Path, device: str | torch.device = "cpu") -> ToySyncNet:
        """A network written by `save`, in eval mode."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"toy sync weights not found at {path}; train them with "
                f"`python -m benchmarks.metrics.toy_sync --out {path}`"
            )
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("model") != "ToySyncNet" or "config" not in meta:
            raise ValueError(
                f"{path} is not a file written by ToySyncNet.save (no ToySyncNet config metadata)"
            )
        model = cls(ToySyncConfig.from_json(meta["config"]))
        model.load_state_dict(load_file(str(path)))
        model.metadata = meta
        return model.to(device).eval()

    @classmethod
    def from_committed(cls, device: str | torch.device = "cpu") -> ToySyncNet:
        """The committed weights (`weights/toy_sync.safetensors`)."""
        return cls.from_file(DEFAULT_WEIGHTS, device)


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
        from benchmarks.metrics.sync import SAMPLES_PER_FRAME, window_starts

        return window_starts(0, len(self.crops), len(self.audio) // SAMPLES_PER_FRAME)

    def video_windows(self, starts) -> torch.Tensor:
        """[N, 3, 5, crop, crop] BGR float 0-255 windows starting at the frames `starts`."""
        from benchmarks.metrics.sync import video_windows

        starts = np.asarray(list(starts), dtype=np.int64)
        low, high = int(starts.min()), int(starts.max())
        windows = video_windows(self.crops[low : high + WINDOW_FRAMES])  # [high - low + 1, 3, 5, S, S]
        return windows[torch.from_numpy(starts - low)]

    def audio_windows(self, starts) -> torch.Tensor:
        """[N, 1, 13, 20] MFCC windows of the frames `starts`."""
        from benchmarks.metrics.sync import audio_windows

        return audio_windows(self.mfcc, list(starts))


def face_crops(
    frames: np.ndarray, box: tuple[float, float, float, float] | None, crop_size: int
) -> np.ndarray:
    """uint8 [F, H, W, 3] -> [F, crop, crop, 3]: the metric's crop (faces.crop_face) of a fixed `box`
    (x1, y1, x2, y2) in pixels, or of the whole frame (None), as `faces.FixedBox` gives it."""
    from benchmarks.metrics.faces import box_centre_size, crop_face

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
    from benchmarks.metrics.sync import mfcc_features
    from benchmarks.toyworld import talk

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
    from benchmarks.toyworld.world import scene_seed

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


def make_batch(
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
    from benchmarks.metrics.sync import mfcc_features, offset_distances, sync_scores

    if audio is not None:
        clip = TalkClip(clip.crops, mfcc_features(audio), clip.openings, np.asarray(audio, dtype=np.float32))
    starts = clip.starts
    v = model.embed_video(clip.video_windows(starts))
    a = model.embed_audio(clip.audio_windows(starts))
    return sync_scores(offset_distances(v, a, vshift=MAX_OFFSET))


def evaluate(model: ToySyncNet, clips: list[TalkClip], shift_frames: int = 4) -> dict:
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


def train(
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
    from tqdm.auto import tqdm

    torch.set_num_threads(threads)
    config = config or ToySyncConfig()
    started, cpu_started = time.perf_counter(), time.process_time()
    clips = make_clips(num_clips, seed, "train", config.crop_size, vae_every=vae_every)
    data_seconds = time.perf_counter() - started
    torch.manual_seed(seed)  # after the clips: loading the toy VAE (once per process) draws from torch's RNG
    model = ToySyncNet(config)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    warmup = max(1, min(100, steps // 10))

    def lr_factor(step: int) -> float:  # linear warm-up, then cosine decay to 5%
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, steps - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    rng = np.random.default_rng(seed)
    model.train()
    bar = tqdm(range(steps), desc="toy sync", unit="step", disable=not progress)
    for step in bar:
        video, audio, label = make_batch(clips, batch_size, rng)
        v = model._embed_video(model.preprocess_video(video))
        a = model._embed_audio(preprocess_audio(audio))
        loss = contrastive_loss(v, a, label)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    bar.close()
    train_seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    held_out = make_clips(
        eval_clips, seed, "eval", config.crop_size, box_jitter=False
    )  # as the toy backend crops
    held_out_vae = make_clips(eval_clips, seed, "eval", config.crop_size, box_jitter=False, vae_every=1)
    summary = {
        "eval": evaluate(model, held_out),
        "eval_vae_round_trip": evaluate(model, held_out_vae),
        "training": {
            "steps": steps,
            "seed": seed,
            "batch_size": batch_size,
            "lr": lr,
            "clips": num_clips,
            "clip_seconds": TRAIN_SECONDS,
            "vae_every": vae_every,
            "threads": threads,
            "data_seconds": round(data_seconds, 1),
            "train_seconds": round(train_seconds, 1),  # data + steps, wall clock
            "train_cpu_seconds": round(cpu_seconds, 1),
            "final_loss": round(float(loss.item()), 4),
            "torch": torch.__version__,
        },
    }
    return model.eval(), summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Train the toy sync network behind the toy Sync-C/D backend."
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS, help="safetensors file to write")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--clips", type=int, default=120, help="training clips (8 s each)")
    parser.add_argument("--eval-clips", type=int, default=16, help="held-out clips for the report")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--vae-every", type=int, default=2, help="every N-th training clip through the toy VAE (0: none)"
    )
    args = parser.parse_args(argv)
    model, summary = train(
        vae_every=args.vae_every,
        steps=args.steps,
        seed=args.seed,
        batch_size=args.batch_size,
        lr=args.lr,
        num_clips=args.clips,
        eval_clips=args.eval_clips,
        threads=args.threads,
    )
    model.save(
        args.out,
        metadata={
            "training": json.dumps(summary["training"]),
            "eval": json.dumps(summary["eval"]),
            "eval_vae_round_trip": json.dumps(summary["eval_vae_round_trip"]),
        },
    )
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
