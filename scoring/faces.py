"""Face detection and the face crops Sync-C / Sync-D score (docs/method.md §8), streamed frame by frame.

Detectors (the `FaceDetector` protocol: `detect(frame uint8 [H, W, 3] RGB) -> [(x1, y1, x2, y2, score)]`
in the frame's pixels, and a `backend` string that scores carry):
- `S3FD`: the detector of the reference pipeline (joonson/syncnet_python, `detectors/s3fd`), the same
  layers so that its `sfd_face.pth` loads strictly. As `run_pipeline.py` calls it: the frame is resized
  by 0.25 (bilinear), the per-channel means (R 123, G 117, B 104) are subtracted, priors of sizes
  16..512 px on strides 4..128 are decoded with variances (0.1, 0.2), boxes scoring above 0.05 go
  through non-maximum suppression at IoU 0.3 (at most 5000 in, 750 out), those above 0.9 are kept and
  suppressed again at IoU 0.1. Greedy suppression never lets a lower score remove a higher one, so we
  drop boxes under 0.9 before suppressing: the same boxes unless more than 5000 score above 0.9.
- `HaarFaceDetector`: OpenCV's bundled frontal-face cascade, the weight-free default (the cascade file
  ships inside opencv-python-headless 4.x; 5.x dropped it). Not the reference's detector: numbers made
  with it say so in their backend ("opencv-haar").
- `FixedBox`: one given box (or the whole frame) on every frame, for synthetic worlds without faces.

The crop (`run_pipeline.py`'s `crop_video`): a box becomes a centre (x, y) and half-size
s = max(w, h) / 2; each of x, y, s is median-filtered over 13 frames along the track (scipy's medfilt,
which pads the track's ends with zeros); the frame, padded by int(s (1 + 2 cs)) pixels of value 110,
is cut to rows [y - s, y + s (1 + 2 cs)) and columns [x - s (1 + cs), x + s (1 + cs)) with crop scale
cs = 0.4 (a square of side 2.8 s, shifted down to the mouth) and resized to 224 x 224 (bilinear).

Tracks (`FaceTracker`, `run_pipeline.py`'s `track_shot` with its arguments, `TrackRules`): detections
are linked frame by frame into tracks. A detection joins a track when its IoU with the track's last
detected box is above 0.5 and it comes at most `num_failed_det` = 25 frames after that box; a track
that misses more frames ends, and a face seen again starts a new track. Older tracks take their
detection first (the reference builds track 1 over the whole shot before track 2), each the first
matching box in the detector's order; a detection no track takes starts a track. Between detections
the box is interpolated linearly (x1, y1, x2, y2). A track is scored only with more than `min_track` =
100 detections and a mean box size (the larger of mean width and mean height) above `min_face_size` =
100 px. The crops of a track, frame by frame as below, are final once the track's box is known 6 frames
ahead or the track has ended, so at most the frames of a detection gap (25) plus the filter's 6 are held.

What the tracking simplifies: the reference cuts the video into shots first (PySceneDetect) and tracks
each shot; here the whole video is one shot (a generated talking head is one continuous shot). A track
takes at most one box of a frame (the reference could take two boxes of one frame overlapping by IoU
> 0.5, which its detector's suppression at IoU 0.1 rules out). The reference writes the crops to an XVID
video and reads them back through JPEG; we use them directly. S3FD needs its weights (`sfd_face.pth`);
without them the weight-free Haar cascade is the default detector, and its backend string says so.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Box = tuple[float, float, float, float, float]  # x1, y1, x2, y2 in pixels, score

CROP_SCALE = 0.4
CROP_SIZE = 224
PAD_VALUE = 110  # the grey the reference pads frames with before cropping
SMOOTH_FRAMES = 13  # median-filter length of the box centre and size along the track


@runtime_checkable
class FaceDetector(Protocol):
    """Faces in one frame. `backend` names the detector (and its weights) in the scores."""

    backend: str

    def detect(self, frame: np.ndarray) -> list[Box]:
        """frame: uint8 [H, W, 3] RGB -> boxes (x1, y1, x2, y2, score) in the frame's pixels."""
        ...


# ---------------------------------------------------------------------------------------------------
# Detectors
# ---------------------------------------------------------------------------------------------------


class FixedBox:
    """The same box on every frame: `box` (x1, y1, x2, y2) in pixels, or None for the whole frame."""

    backend = "fixed"

    def __init__(self, box: tuple[float, float, float, float] | None = None) -> None:
        self.box = box

    def detect(self, frame: np.ndarray) -> list[Box]:
        h, w = frame.shape[:2]
        x1, y1, x2, y2 = self.box if self.box is not None else (0.0, 0.0, float(w), float(h))
        return [(float(x1), float(y1), float(x2), float(y2), 1.0)]


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade (`haarcascade_frontalface_default.xml`, bundled with OpenCV).

    Runs on the luma of the frame resized by `scale`; score = the number of neighbouring raw
    detections that support the box (OpenCV's detectMultiScale2), so more is surer.
    """

    backend = "opencv-haar"
    CASCADE = "haarcascade_frontalface_default.xml"

    def __init__(
        self,
        scale: float = 0.5,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_face_px: int = 48,
    ) -> None:
        folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
        path = Path(folder or "") / self.CASCADE
        if not folder or not path.is_file():
            raise FileNotFoundError(
                f"OpenCV's bundled {self.CASCADE} was not found (cv2 {cv2.__version__}): install "
                "opencv-python-headless 4.x (`pip install 'opencv-python-headless>=4.8,<5'`; 5.x no longer "
                "ships the Haar cascades), or pick the S3FD detector (face_detector='s3fd')"
            )
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise RuntimeError(f"OpenCV could not read the cascade {path}: reinstall opencv-python-headless")
        self.scale = scale
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face_px = min_face_px

    def detect(self, frame: np.ndarray) -> list[Box]:
        gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        if self.scale != 1.0:
            gray = cv2.resize(gray, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
        side = max(1, round(self.min_face_px * self.scale))
        rects, neighbours = self.cascade.detectMultiScale2(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(side, side)
        )
        return [
            (x / self.scale, y / self.scale, (x + w) / self.scale, (y + h) / self.scale, float(n))
            for (x, y, w, h), n in zip(np.asarray(rects).reshape(-1, 4).tolist(), np.ravel(neighbours))
        ]


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression: indices of the kept boxes, by falling score.

    boxes [K, 4] (x1, y1, x2, y2), scores [K]. A box is dropped when its IoU with a kept, higher-scoring
    box exceeds `iou_threshold` (areas without the +1 pixel convention, as the reference).
    """
    order = torch.argsort(scores, descending=True)
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    keep = []
    while order.numel():
        i, rest = order[0], order[1:]
        keep.append(int(i))
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        order = rest[inter / (areas[i] + areas[rest] - inter) <= iou_threshold]
    return torch.tensor(keep, dtype=torch.long)


class _L2Norm(nn.Module):
    """Channel-wise L2 normalisation with a learned per-channel scale (initialised to `scale`)."""

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10
        return self.weight.view(1, -1, 1, 1) * x / norm


def _vgg16_trunk() -> nn.ModuleList:
    """VGG-16 conv1-conv5 plus fc6 (dilated 3x3) and fc7 (1x1) as convolutions; ReLUs and pools are
    entries of the list too, so parameter indices match the reference file's keys (vgg.0 ... vgg.33)."""
    layers: list[nn.Module] = []
    c_in = 3
    for stage, (width, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]):
        for _ in range(convs):
            layers += [nn.Conv2d(c_in, width, 3, padding=1), nn.ReLU(inplace=True)]
            c_in = width
        layers.append(nn.MaxPool2d(2, 2, ceil_mode=stage == 2))
    layers += [
        nn.Conv2d(512, 1024, 3, padding=6, dilation=6),
        nn.ReLU(inplace=True),
        nn.Conv2d(1024, 1024, 1),
        nn.ReLU(inplace=True),
    ]
    return nn.ModuleList(layers)


# Where the trunk's three normalised sources are taken: after these many vgg entries (conv3_3, conv4_3,
# conv5_3 with their ReLUs); the fourth source is the trunk's output (fc7).
_SOURCE_ENDS = (16, 23, 30)
_SOURCE_CHANNELS = (256, 512, 512, 1024, 512, 256)
_PRIOR_STRIDES = (4, 8, 16, 32, 64, 128)
_PRIOR_SIZES = (16, 32, 64, 128, 256, 512)
_VARIANCES = (0.1, 0.2)
MIN_S3FD_INPUT_PX = 28  # smaller inputs vanish in the last stride-2 layers


class S3FD(nn.Module):
    """S3FD (Zhang et al. 2017), the reference pipeline's face detector, with its weights `sfd_face.pth`.

    Attribute names (vgg, L2Norm3_3, L2Norm4_3, L2Norm5_3, extras, loc, conf) are the file's key prefixes.
    """

    def __init__(
        self,
        scale: float = 0.25,
        conf_threshold: float = 0.9,
        backend: str = "s3fd",
    ) -> None:
        super().__init__()
        self.vgg = _vgg16_trunk()
        self.L2Norm3_3 = _L2Norm(256, 10.0)
        self.L2Norm4_3 = _L2Norm(512, 8.0)
        self.L2Norm5_3 = _L2Norm(512, 5.0)
        self.extras = nn.ModuleList(
            [
                nn.Conv2d(1024, 256, 1),
                nn.Conv2d(256, 512, 3, stride=2, padding=1),
                nn.Conv2d(512, 128, 1),
                nn.Conv2d(128, 256, 3, stride=2, padding=1),
            ]
        )
        self.loc = nn.ModuleList([nn.Conv2d(c, 4, 3, padding=1) for c in _SOURCE_CHANNELS])
        # the first source predicts 3 background logits and 1 face logit ("max-out" background)
        self.conf = nn.ModuleList(
            [nn.Conv2d(c, 4 if k == 0 else 2, 3, padding=1) for k, c in enumerate(_SOURCE_CHANNELS)]
        )
        self.scale = scale
        self.conf_threshold = conf_threshold
        self.backend = backend
        self.eval()

    @classmethod
    def from_file(cls, path: str | os.PathLike, **kwargs) -> S3FD:
        """The reference's weights (`sfd_face.pth`, a state dict saved with torch.save), loaded strictly."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"S3FD face-detector weights not found at {path}. On a machine with internet, download "
                "sfd_face.pth from https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/sfd_face.pth (the "
                "file joonson/syncnet_python's download_model.sh fetches) and copy it to that path "
                "(<VBENCH_CACHE_DIR>/syncnet/sfd_face.pth), or use the weight-free Haar detector "
                "(face_detector='haar')."
            )
        model = cls(**kwargs)
        state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ValueError(
                f"{path} is not the S3FD state dict of joonson/syncnet_python (sfd_face.pth): {e}"
            ) from None
        return model.eval()

    @classmethod
    def random(cls, seed: int = 0, **kwargs) -> S3FD:
        """Random initialisation (tests, speed); its boxes mean nothing."""
        with torch.random.fork_rng(devices=[]):  # leave the caller's random stream alone
            torch.manual_seed(seed)
            return cls(backend="s3fd-random-init", **kwargs)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
        """x [B, 3, h, w] (RGB minus the means) -> (loc [B, P, 4], face probability [B, P], the sources'
        feature-map sizes [(h_k, w_k)]), priors in the order of the sources, rows, columns."""
        sources = []
        for k, layer in enumerate(self.vgg):
            x = layer(x)
            if k + 1 in _SOURCE_ENDS:
                norm = (self.L2Norm3_3, self.L2Norm4_3, self.L2Norm5_3)[_SOURCE_ENDS.index(k + 1)]
                sources.append(norm(x))
        sources.append(x)
        for k, layer in enumerate(self.extras):
            x = F.relu(layer(x))
            if k % 2 == 1:
                sources.append(x)
        locs, confs = [], []
        for k, source in enumerate(sources):
            conf = self.conf[k](source)
            if k == 0:
                conf = torch.cat([conf[:, :3].amax(dim=1, keepdim=True), conf[:, 3:]], dim=1)
            locs.append(self.loc[k](source).permute(0, 2, 3, 1).flatten(1, 2))  # [B, h w, 4]
            confs.append(conf.permute(0, 2, 3, 1).flatten(1, 2))  # [B, h w, 2]
        face = torch.cat(confs, dim=1).softmax(dim=-1)[..., 1]
        return torch.cat(locs, dim=1), face, [tuple(s.shape[-2:]) for s in sources]

    @staticmethod
    def priors(image_hw: tuple[int, int], feature_sizes: list[tuple[int, int]]) -> torch.Tensor:
        """Prior boxes [P, 4] (cx, cy, w, h), normalised by the network input's size."""
        ih, iw = image_hw
        out = []
        for (fh, fw), stride, size in zip(feature_sizes, _PRIOR_STRIDES, _PRIOR_SIZES):
            cy, cx = torch.meshgrid(
                (torch.arange(fh) + 0.5) * stride / ih, (torch.arange(fw) + 0.5) * stride / iw, indexing="ij"
            )
            wh = torch.tensor([size / iw, size / ih]).expand(fh * fw, 2)
            out.append(torch.cat([cx.reshape(-1, 1), cy.reshape(-1, 1), wh], dim=1))
        return torch.cat(out)

    @staticmethod
    def decode(loc: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
        """Offsets [P, 4] against priors [P, 4] (cx, cy, w, h) -> boxes [P, 4] (x1, y1, x2, y2), normalised."""
        centre = priors[:, :2] + loc[:, :2] * _VARIANCES[0] * priors[:, 2:]
        size = priors[:, 2:] * torch.exp(loc[:, 2:] * _VARIANCES[1])
        return torch.cat([centre - size / 2, centre + size / 2], dim=1)

    @torch.inference_mode()
    def detect(self, frame: np.ndarray) -> list[Box]:
        h, w = frame.shape[:2]
        small = cv2.resize(frame, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_LINEAR)
        if min(small.shape[:2]) < MIN_S3FD_INPUT_PX:
            raise ValueError(
                f"S3FD needs at least {MIN_S3FD_INPUT_PX} px per side after its {self.scale:g} scale; a {w}x{h} "
                f"frame gives {small.shape[1]}x{small.shape[0]}: use a larger scale (S3FD(scale=...)) or the "
                "Haar detector for such small videos"
            )
        x = torch.from_numpy(small.astype(np.float32) - np.float32([123.0, 117.0, 104.0]))
        device = self.vgg[0].weight.device
        x = x.permute(2, 0, 1).unsqueeze(0).to(device)  # [1, 3, h', w']
        loc, face, sizes = self(x)
        loc, face = loc[0].float().cpu(), face[0].float().cpu()
        keep = face > self.conf_threshold
        if not keep.any():
            return []
        boxes = self.decode(loc[keep], self.priors(tuple(x.shape[-2:]), sizes)[keep])
        boxes = boxes * torch.tensor([w, h, w, h], dtype=boxes.dtype)
        scores = face[keep]
        top = torch.argsort(scores, descending=True)[:5000]
        boxes, scores = boxes[top], scores[top]
        first = nms(boxes, scores, 0.3)[:750]
        boxes, scores = boxes[first], scores[first]
        second = nms(boxes, scores, 0.1)
        return [(*map(float, boxes[i]), float(scores[i])) for i in second.tolist()]


# ---------------------------------------------------------------------------------------------------
# The crop
# ---------------------------------------------------------------------------------------------------


def iou(a: Box | np.ndarray, b: Box | np.ndarray) -> float:
    """Intersection over union of two boxes (x1, y1, x2, y2, ...), areas without the +1 pixel convention,
    as the reference's `bb_intersection_over_union`."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def box_centre_size(box: Box | np.ndarray) -> tuple[float, float, float]:
    """(x1, y1, x2, y2, score) -> (centre x, centre y, half-size s = max(w, h) / 2), the reference's."""
    x1, y1, x2, y2 = box[:4]
    return (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) / 2


def crop_face(
    frame: np.ndarray,
    centre_x: float,
    centre_y: float,
    half_size: float,
    crop_scale: float = CROP_SCALE,
    size: int = CROP_SIZE,
) -> np.ndarray:
    """The reference's face crop of uint8 [H, W, 3] -> uint8 [size, size, 3] (see the module doc).

    Pixels outside the frame are PAD_VALUE; the integer bounds are those of the reference's padded
    frame (truncation after adding the integer padding), computed without building the padded frame.
    """
    h, w = frame.shape[:2]
    s = max(float(half_size), 1.0)
    pad = int(s * (1 + 2 * crop_scale))
    # bounds in padded coordinates, as the reference slices them, then shifted back by the padding
    top = int(centre_y + pad - s) - pad
    bottom = int(centre_y + pad + s * (1 + 2 * crop_scale)) - pad
    left = int(centre_x + pad - s * (1 + crop_scale)) - pad
    right = int(centre_x + pad + s * (1 + crop_scale)) - pad
    # numpy slicing of the padded frame clips the bounds to it
    top, bottom = (min(max(v, -pad), h + pad) for v in (top, bottom))
    left, right = (min(max(v, -pad), w + pad) for v in (left, right))
    out = np.full((max(bottom - top, 1), max(right - left, 1), 3), PAD_VALUE, dtype=np.uint8)
    y0, y1, x0, x1 = max(top, 0), min(bottom, h), max(left, 0), min(right, w)
    if y1 > y0 and x1 > x0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = frame[y0:y1, x0:x1]
    return cv2.resize(out, (size, size), interpolation=cv2.INTER_LINEAR)


def median_filter_track(values: np.ndarray, kernel: int = SMOOTH_FRAMES) -> np.ndarray:
    """scipy.signal.medfilt of each column of values [N, C] (zero-padded ends), for whole tracks."""
    half = kernel // 2
    padded = np.pad(np.asarray(values, dtype=np.float64), ((half, half), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=0)  # [N, C, kernel]
    return np.median(windows, axis=-1)


@dataclass(frozen=True)
class TrackRules:
    """Which detections make a face track and which tracks are scored: `run_pipeline.py`'s `track_shot`
    and its arguments. The defaults are the reference's; the toy backend scales them
    (scoring.toy_sync.TOY_TRACK_RULES)."""

    iou: float = 0.5  # iouThres: a detection joins a track when its IoU with the track's last box is above
    num_failed_det: int = 25  # frames after its last detection a track may still take one; then it ends
    min_track: int = 100  # a track is scored only with more detections than this
    min_face_size: float = 100.0  # ... and the larger of its boxes' mean width and mean height above (px)

    def as_dict(self) -> dict:
        return asdict(self)


REFERENCE_TRACK_RULES = TrackRules()


class FaceTrack:
    """One face track: its detected boxes, the boxes between them interpolated linearly, and its crops.

    Frames first_frame .. last_frame (the last detection); `raw` holds (x, y, s) per frame (the
    reference's crop centre and half-size of each box), `crops_done` the frames already cropped final.
    """

    def __init__(self, frame: int, box: Box, kernel: int = SMOOTH_FRAMES):
        self.first_frame = frame
        self.last_box = np.asarray(box[:4], dtype=np.float64)  # [4] the last detected box
        self.detections = 1
        self.raw: list[tuple[float, float, float]] = [box_centre_size(self.last_box)]
        self.size_sums = np.array([box[2] - box[0], box[3] - box[1]], dtype=np.float64)  # width, height
        self.half = kernel // 2
        self.crops_done = frame  # frames before this one are cropped final
        self.ended = False

    @property
    def last_frame(self) -> int:
        return self.first_frame + len(self.raw) - 1

    def add(self, frame: int, box: Box) -> None:
        """Take a detection at `frame` (> last_frame); the frames between get interpolated boxes, as
        scipy's interp1d over the detections computes them (lo + slope (t - t_lo))."""
        lo, hi, gap = self.last_box, np.asarray(box[:4], dtype=np.float64), frame - self.last_frame
        slope = (hi - lo) / gap
        for t in range(1, gap + 1):
            b = hi if t == gap else slope * t + lo
            self.raw.append(box_centre_size(b))
            self.size_sums += (b[2] - b[0], b[3] - b[1])
        self.last_box = hi
        self.detections += 1

    def face_size(self) -> float:
        """The larger of the mean box width and mean box height over the track's frames, in pixels."""
        return float(max(self.size_sums) / len(self.raw))

    def kept(self, rules: TrackRules) -> bool:
        """Whether the reference scores this track (were it to end at its last detection now)."""
        return self.detections > rules.min_track and self.face_size() > rules.min_face_size

    def smoothed(self, index: int, end: int) -> tuple[float, float, float]:
        """Median of (x, y, s) over frames index-6 .. index+6, zero outside [first_frame, end)."""
        first = self.first_frame
        rows = [
            self.raw[u - first] if first <= u < end else (0.0, 0.0, 0.0)
            for u in range(index - self.half, index + self.half + 1)
        ]
        x, y, s = np.median(np.asarray(rows), axis=0)
        return float(x), float(y), float(s)

    def ready(self) -> range:
        """The frames not yet cropped whose crops are final now: their boxes are known 6 frames ahead,
        or the track has ended (the filter's zero padding past its last frame)."""
        stop = self.last_frame + 1 if self.ended else self.last_frame - self.half + 1
        return range(self.crops_done, max(self.crops_done, stop))


class FaceTracker:
    """The reference's face tracks of a video (see the module doc), built and cropped a frame at a time.

    `push(frame, boxes)` takes each frame (uint8 [H, W, 3]) with its detections and returns the crops
    that are now final, as (track id, frame index, uint8 [size, size, 3]); track ids count up from 0
    in the order tracks start. `flush()` ends every track (the end of the video) and returns the rest;
    `peek(track)` returns an open track's remaining crops as if it ended now, without ending it (a
    window's value while the video goes on). `tracks[i]` is track i; the rules decide which are scored
    (`FaceTrack.kept`). Frames are held only while an open track may still crop them.
    """

    def __init__(
        self,
        rules: TrackRules = REFERENCE_TRACK_RULES,
        size: int = CROP_SIZE,
        crop_scale: float = CROP_SCALE,
        kernel: int = SMOOTH_FRAMES,
    ):
        if kernel % 2 != 1:
            raise ValueError(f"the median filter needs an odd length, got {kernel}")
        self.rules = rules
        self.size = size
        self.crop_scale = crop_scale
        self.kernel = kernel
        self.frames_seen = 0
        self.tracks: list[FaceTrack] = []
        self.open: list[int] = []  # ids of the tracks that may still take a detection, oldest first
        self.held: dict[int, np.ndarray] = {}  # frame index -> frame, while an open track may crop it

    def push(self, frame: np.ndarray, boxes: list[Box]) -> list[tuple[int, int, np.ndarray]]:
        index = self.frames_seen
        self.frames_seen += 1
        self.held[index] = frame
        faces = list(boxes)
        out = []
        for tid in list(self.open):
            track = self.tracks[tid]
            if index - track.last_frame > self.rules.num_failed_det:  # missed too many frames: it ends
                out += self._end(tid)
                continue
            match = next((f for f in faces if iou(f, track.last_box) > self.rules.iou), None)
            if match is not None:
                faces.remove(match)
                track.add(index, match)
            out += self._crops(tid, track.ready())
        for face in faces:  # a detection no track took starts one
            self.tracks.append(FaceTrack(index, face, self.kernel))
            self.open.append(len(self.tracks) - 1)
            out += self._crops(len(self.tracks) - 1, self.tracks[-1].ready())
        self._release()
        return out

    def flush(self) -> list[tuple[int, int, np.ndarray]]:
        out = [c for tid in list(self.open) for c in self._end(tid)]
        self._release()
        return out

    def peek(self, tid: int) -> list[tuple[int, np.ndarray]]:
        """Track `tid`'s crops not yet final, as (frame index, crop), cropped as if it ended now (at its
        last detection; the frames of a detection gap after it are not the track's yet)."""
        track = self.tracks[tid]
        return [(i, self._crop(track, i)) for i in range(track.crops_done, track.last_frame + 1)]

    def _end(self, tid: int) -> list[tuple[int, int, np.ndarray]]:
        self.open.remove(tid)
        self.tracks[tid].ended = True
        return self._crops(tid, self.tracks[tid].ready())

    def _crops(self, tid: int, frames: range) -> list[tuple[int, int, np.ndarray]]:
        track = self.tracks[tid]
        out = [(tid, i, self._crop(track, i)) for i in frames]
        track.crops_done = max(track.crops_done, frames.stop)
        return out

    def _crop(self, track: FaceTrack, index: int) -> np.ndarray:
        """Frame `index` of `track` cropped with the box filter cut at the track's last frame: final for
        the frames `ready` gives, provisional for the others."""
        x, y, s = track.smoothed(index, track.last_frame + 1)
        return crop_face(self.held[index], x, y, s, self.crop_scale, self.size)

    def _release(self) -> None:
        """Drop the frames no open track can crop any more."""
        keep_from = min((self.tracks[t].crops_done for t in self.open), default=self.frames_seen)
        for i in [i for i in self.held if i < keep_from]:
            del self.held[i]


def frames_to_uint8(frames: torch.Tensor) -> np.ndarray:
    """[T, 3, H, W] float 0-255 RGB -> uint8 [T, H, W, 3] (rounded, clipped)."""
    return frames.detach().round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
