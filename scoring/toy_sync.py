"""The toy sync network: SyncNet's job at toy scale, so Sync-C/D can score toy talking heads.

SyncNet v2 cannot be used on toy faces, so the toy backend of Sync-C/D uses this network, trained on
the toy world's talking heads (`toyworld.talking_heads`) and scored through the same pipeline
(`scoring.sync`: face crops, 5-frame windows against 20 MFCC steps, the offset search over
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

Training (toyworld/scorers.py, `python -m toyworld.scorers sync --out scoring/weights/toy_sync.safetensors`):
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

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from scoring.faces import TrackRules
from scoring.saved_network import SavedNetwork

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


class ToySyncNet(nn.Module, SavedNetwork):
    """Two small conv towers: 5-frame face windows and MFCC windows -> unit embeddings [N, embed_dim]."""

    config_class = ToySyncConfig
    default_weights = DEFAULT_WEIGHTS
    train_command = "python -m toyworld.scorers sync"

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
