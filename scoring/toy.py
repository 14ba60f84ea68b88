"""The `toy` metric backend: VBench's formulas on models that fit the toy world.

Real VBench weights cannot be used for 32-64 px toy-world videos, so this backend keeps every metric's
formula (consistency.py, aesthetic.py, motion.py, fvd.py) and swaps its model:

| metric                                  | model here                                        | backend      |
|-----------------------------------------|---------------------------------------------------|--------------|
| subject_consistency, i2v_subject        | toy encoder, object embedding                     | toy-encoder  |
| background_consistency, i2v_background  | toy encoder, background embedding                 | toy-encoder  |
| imaging_quality                         | 100 * (1 - predicted severity) (MUSIQ's 0-100)    | toy-encoder  |
| aesthetic_quality                       | 10 * P(clean) (the LAION 0-10 scale)              | toy-encoder  |
| fvd                                     | toy encoder on 16-frame clips (mean, std, motion) | toy-encoder  |
| dynamic_degree                          | OpenCV Farneback optical flow                     | toy-opencv   |
| motion_smoothness                       | Farneback flow, both neighbours warped halfway    | toy-opencv   |

The toy encoder (`toy_encoder.py`) is a small CNN trained on toy-world frames; its weights are
committed in `weights/toy_encoder.safetensors`. Toy numbers are comparable between arms scored with
the same weights, never with published VBench numbers (every metric's `backend` says which it is).

Farneback parameters for 32-64 px frames: a 9-px window, 5-px polynomial neighbourhood (sigma 1.1),
3 iterations per level, and our own image pyramid down to 16 px (OpenCV's built-in pyramid stops
at 32 px, which caps the motion it can follow at a few pixels on 32-64 px frames; with the coarse
16 px level the flow follows the 8-16 px displacements of fast toy objects between the frames
motion_smoothness interpolates).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from scoring.base import Metric
from scoring.drift import LUMA
from scoring.extractors import ImageFeatureExtractor
from scoring.specs import GROUPS
from scoring.toy_encoder import ToyEncoder, preprocess

BACKEND_ENCODER = "toy-encoder"
BACKEND_OPENCV = "toy-opencv"
FARNEBACK = {"winsize": 9, "iterations": 3, "poly_n": 5, "poly_sigma": 1.1}
COARSEST_SIDE_PX = 16
NAMES = (*GROUPS["vbench"], *GROUPS["i2v"], "fvd")  # the dimensions this backend computes


# ----------------------------------------------------------------------------------------------
# Weight-free motion models (OpenCV)


def gray_u8(frames: torch.Tensor) -> np.ndarray:
    """[N, 3, H, W] float 0-255 RGB -> uint8 [N, H, W] luma (BT.601, as cv2.COLOR_RGB2GRAY)."""
    luma = torch.tensor(LUMA, dtype=torch.float32).view(1, 3, 1, 1)
    gray = (frames.detach().float().cpu() * luma).sum(dim=1)
    return gray.round().clamp(0, 255).to(torch.uint8).numpy()


def farneback_flow(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """Dense flow from `prev` to `nxt` (uint8 [H, W]) -> float32 [H, W, 2] as (dx, dy) in pixels.

    prev(y, x) ~ nxt(y + dy, x + dx). Coarse to fine over a pyramid down to COARSEST_SIDE_PX.
    """
    levels = [(prev, nxt)]
    while min(levels[-1][0].shape) // 2 >= COARSEST_SIDE_PX:
        a, b = levels[-1]
        levels.append((cv2.pyrDown(a), cv2.pyrDown(b)))
    flow = None
    for a, b in reversed(levels):  # coarse to fine
        if flow is None:
            flow = cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=1, flags=0, **FARNEBACK)
        else:  # upsample the coarser flow (and its pixel units) as the initial guess
            flow = 2.0 * cv2.resize(flow, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_LINEAR)
            flow = cv2.calcOpticalFlowFarneback(
                a, b, flow, pyr_scale=0.5, levels=1, flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **FARNEBACK
            )
    return flow


FLOW_CACHE_BYTES = 64 * 2**20  # flows kept by content: a loop's 17 pairs, a few thousand toy-size pairs


class FlowCache:
    """Flows of the frame pairs seen last, keyed by the two frames' bytes: a video that repeats its
    frames (the degenerate references: a held frame, a looped or ping-ponged clip) computes each
    distinct pair's flow once, however often it recurs. The flow of a pair depends on the two frames
    alone, so a hit returns exactly what computing it again would."""

    def __init__(self, capacity_bytes: int = FLOW_CACHE_BYTES) -> None:
        self.capacity_bytes, self.size_bytes = capacity_bytes, 0
        self.cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.computed = 0  # flows computed (tests count them)

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """farneback_flow(prev, nxt), from the cache when this pair was seen."""
        key = frame_key(prev) + frame_key(nxt)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        flow = farneback_flow(prev, nxt)
        self.computed += 1
        self.cache[key] = flow
        self.size_bytes += flow.nbytes
        while self.size_bytes > self.capacity_bytes and len(self.cache) > 1:
            self.size_bytes -= self.cache.popitem(last=False)[1].nbytes
        return flow


def frame_key(frame: np.ndarray) -> bytes:
    """A frame's content key: its shape and a 16-byte digest of its bytes."""
    data = np.ascontiguousarray(frame)
    return repr(data.shape).encode() + hashlib.blake2b(data.tobytes(), digest_size=16).digest()


FLOWS = FlowCache()  # the process's one cache (flows are pure functions of their frames)


def _flows(prev: list[np.ndarray], nxt: list[np.ndarray]) -> list[np.ndarray]:
    """farneback_flow of each pair, each distinct pair computed once (FLOWS). A thread pool gained
    nothing here: OpenCV spreads one flow over the cores itself."""
    return [FLOWS(x, y) for x, y in zip(prev, nxt)]


def farneback_flows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """FlowFn: frames a, b [N, 3, H, W] float 0-255 -> flow a -> b [N, 2, H, W] (dx, dy) in pixels."""
    ga, gb = gray_u8(a), gray_u8(b)
    flows = np.stack(_flows(list(ga), list(gb)))  # [N, H, W, 2]
    return torch.from_numpy(flows).permute(0, 3, 1, 2).to(a.device)


def warp(image: np.ndarray, flow: np.ndarray, t: float) -> np.ndarray:
    """Backward warp: out(p) = image(p + t * flow(p)), bilinear, edges replicated. image [H, W, C] float32."""
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x, map_y = xs + t * flow[..., 0], ys + t * flow[..., 1]
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def farneback_midframes(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """InterpFn: the frame halfway between a and b ([N, 3, H, W] float 0-255) -> [N, 3, H, W].

    Each neighbour is pulled halfway towards the middle along its own flow (the middle frame at p
    shows what a had at p - F_ab(p) / 2 and b at p - F_ba(p) / 2, taking the flow at p for the flow
    through p) and the two are averaged, which hides either warp's holes where the other is right.
    """
    ga, gb = gray_u8(a), gray_u8(b)
    ia = a.detach().float().cpu().permute(0, 2, 3, 1).contiguous().numpy()  # [N, H, W, 3]
    ib = b.detach().float().cpu().permute(0, 2, 3, 1).contiguous().numpy()
    forward = _flows(list(ga), list(gb))
    backward = _flows(list(gb), list(ga))
    out = []
    for i in range(len(ia)):
        from_a = warp(ia[i], forward[i], -0.5)
        from_b = warp(ib[i], backward[i], -0.5)
        out.append((from_a + from_b) / 2)
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(a.device)


# ----------------------------------------------------------------------------------------------
# The toy encoder behind the metrics' interfaces

SHARED_OUTPUTS = ("object", "background", "quality", "severity")  # what the metrics read
CACHE_FRAMES = 256  # frames whose outputs are kept: a chunk, FVD's clip across two chunks, and room


class SharedOutputs:
    """The toy encoder's per-frame outputs, shared by every toy metric that reads them (subject and
    background consistency, aesthetic and imaging quality, FVD): a frame goes through the network once,
    however many metrics ask, keyed by its preprocessed pixels' bytes (a chunk's frames reach every
    metric; FVD's 16-frame clips straddle chunks, so the key is per frame). Eval-mode BatchNorm makes
    each frame's outputs independent of the batch it came in."""

    def __init__(self, encoder: ToyEncoder, capacity: int = CACHE_FRAMES) -> None:
        self.encoder, self.capacity = encoder.eval(), capacity
        self.cache: OrderedDict[bytes, dict[str, torch.Tensor]] = OrderedDict()
        self.computed = 0  # frames run through the network (tests count them)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x [N, 3, S, S] preprocessed -> {output: [N, ...]} for SHARED_OUTPUTS."""
        flat = x.detach().float().cpu().contiguous()
        keys = [frame_key(f.numpy()) for f in flat]
        missing, seen = [], set()  # the first index of each frame not kept (a frame may repeat)
        for i, k in enumerate(keys):
            if k not in self.cache and k not in seen:
                seen.add(k)
                missing.append(i)
        if missing:
            out = self.encoder(x[missing])
            self.computed += len(missing)
            for j, i in enumerate(missing):
                self.cache[keys[i]] = {name: out[name][j].cpu() for name in SHARED_OUTPUTS}
        for k in keys:
            self.cache.move_to_end(k)
        rows = [self.cache[k] for k in keys]
        while len(self.cache) > self.capacity:
            self.cache.popitem(last=False)
        return {name: torch.stack([r[name] for r in rows]).to(x.device) for name in SHARED_OUTPUTS}


@functools.cache
def shared_outputs(encoder: ToyEncoder) -> SharedOutputs:
    """The one SharedOutputs of an encoder (load_encoder gives each weights file one encoder)."""
    return SharedOutputs(encoder)


class ToyImageFeatures(ImageFeatureExtractor):
    """One of the toy encoder's L2-normalised embeddings per frame (object, background or quality)."""

    def __init__(self, encoder: ToyEncoder, branch: str, batch_size: int = 64) -> None:
        super().__init__(BACKEND_ENCODER, batch_size)
        if branch not in ("object", "background", "quality"):
            raise ValueError(f"unknown branch {branch!r}; choose object, background or quality")
        self.encoder, self.branch = encoder.eval(), branch
        c = encoder.config
        self.feature_dim = {"object": c.object_dim, "background": c.background_dim, "quality": c.quality_dim}[
            branch
        ]

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        return preprocess(frames, self.encoder.config.image_size)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """[N, 3, 64, 64] preprocessed -> [N, D]."""
        return shared_outputs(self.encoder)(pixels)[self.branch]


class ToyQuality(nn.Module):
    """QualityFn for imaging_quality: frames [N, 3, H, W] in [0, 1] -> 100 * (1 - severity) [N]."""

    def __init__(self, encoder: ToyEncoder) -> None:
        super().__init__()
        self.encoder = encoder.eval()

    @torch.no_grad()
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        device = next(self.encoder.parameters()).device
        x = preprocess(frames.to(device) * 255.0, self.encoder.config.image_size)  # x / 255 * 255 == x
        return (100.0 * (1.0 - shared_outputs(self.encoder)(x)["severity"])).cpu()


class ToyAestheticHead(nn.Module):
    """Stands in for the LAION head in AestheticQuality: quality embedding -> 10 * P(clean), in [0, 10].

    AestheticQuality L2-normalises the embeddings first (the toy quality embedding already is) and
    divides by 10, so a frame's aesthetic_quality is P(clean) in [0, 1].
    """

    def __init__(self, encoder: ToyEncoder) -> None:
        super().__init__()
        self.clean_head = encoder.clean_head
        self.in_features = encoder.config.quality_dim
        self.backend = BACKEND_ENCODER

    @property
    def weight(self) -> torch.Tensor:  # AestheticQuality reads the head's device from here
        return self.clean_head.weight

    def forward(self, quality: torch.Tensor) -> torch.Tensor:
        """[N, quality_dim] normalised -> [N, 1]."""
        return 10.0 * torch.sigmoid(self.clean_head(quality))


def video_features(frame_features: torch.Tensor) -> torch.Tensor:
    """[B, T, D] per-frame features -> [B, 3 D]: mean over time, std over time, mean |temporal difference|.

    The mean says what is shown, the std how much it changes, the mean difference how abruptly;
    a frozen video and a flickering one with the same frames get different features.
    """
    mean = frame_features.mean(dim=1)
    std = frame_features.std(dim=1, unbiased=False)
    motion = (frame_features[:, 1:] - frame_features[:, :-1]).abs().mean(dim=1)
    return torch.cat([mean, std, motion], dim=-1)


class ToyVideoFeatures(nn.Module):
    """FVD's extractor for the toy world, called like the TorchScript I3D.

    clips [B, 3, T, H, W] in [-1, 1] -> [B, 3 D] = video_features of the per-frame [object, background,
    quality] embeddings (D = 64 + 64 + 32: 480 video features, I3D has 400). What, where and how clean
    the frames are all count, each embedding unit-length so none dominates by scale. FVD gives it
    frames at its `frame_size`, the encoder's own (not I3D's 224), in FVD's float16 buffer; rounded back
    to 0-255 they are the frames the other toy metrics saw, whose outputs are shared.
    """

    def __init__(self, encoder: ToyEncoder) -> None:
        super().__init__()
        self.encoder = encoder.eval()
        c = encoder.config
        self.feature_dim = 3 * (c.object_dim + c.background_dim + c.quality_dim)
        self.frame_size = c.image_size

    @torch.no_grad()
    def forward(
        self, clips: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = True
    ) -> torch.Tensor:
        b, c, t, h, w = clips.shape
        frames = clips.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)  # [B T, 3, H, W]
        # float16 keeps [-1, 1] to 2^-11, well inside half a grey level: rounding restores the frame
        x = preprocess(((frames.float() + 1.0) * 127.5).round(), self.encoder.config.image_size)
        e = shared_outputs(self.encoder)(x)
        per_frame = torch.cat([e["object"], e["background"], e["quality"]], dim=-1)  # [B T, D]
        return video_features(per_frame.reshape(b, t, -1))


# ----------------------------------------------------------------------------------------------
# Builders


@functools.lru_cache(maxsize=4)
def load_encoder(weights: str | None = None, device: str = "cpu") -> ToyEncoder:
    """The toy encoder, loaded once per (file, device) and shared by the metrics that use it."""
    return ToyEncoder.from_file(weights, device=device)


def build(
    name: str,
    *,
    weights: str | os.PathLike | None = None,
    device: str = "cpu",
    batch_size: int = 64,
) -> Metric:
    """The toy-backend metric `name` (see NAMES); weights default to the committed file."""
    if name in ("dynamic_degree", "motion_smoothness"):
        from scoring.motion import DynamicDegree, MotionSmoothness

        if name == "dynamic_degree":
            return DynamicDegree(farneback_flows, backend=BACKEND_OPENCV)
        return MotionSmoothness(farneback_midframes, backend=BACKEND_OPENCV)
    if name not in NAMES:
        raise ValueError(f"the toy backend has no metric {name!r}; it has {', '.join(NAMES)}")
    encoder = load_encoder(str(Path(weights)) if weights is not None else None, str(device))
    if name in ("subject_consistency", "background_consistency", "i2v_subject", "i2v_background"):
        from scoring import consistency as c

        cls = c.BY_NAME[name]
        branch = "object" if name in ("subject_consistency", "i2v_subject") else "background"
        metric = cls(ToyImageFeatures(encoder, branch, batch_size))
        metric.backend = BACKEND_ENCODER  # I2VBackground's own label names DreamSim
        return metric
    if name == "aesthetic_quality":
        from scoring.aesthetic import AestheticQuality

        return AestheticQuality(ToyImageFeatures(encoder, "quality", batch_size), ToyAestheticHead(encoder))
    if name == "imaging_quality":
        from scoring.motion import ImagingQuality

        return ImagingQuality(ToyQuality(encoder), backend=BACKEND_ENCODER, batch=batch_size)
    from scoring.fvd import FVD  # name == "fvd"

    return FVD(ToyVideoFeatures(encoder), backend=BACKEND_ENCODER)
