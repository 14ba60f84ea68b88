"""SVI-Dance's pose conditioning: the UniAnimate-DiT pose encoder on diffusers' Wan transformer.

The official SVI-Dance (train_svi_dance.py, diffsynth/pipelines/svi_video_dance.py) turns a video of
rendered DWPose skeletons into one token per DiT patch and adds it to the patch embeddings, before the
first block, unscaled. Here that is `PoseEncoder`, an `svi.model.adapters.Adapter` (trained with the LoRA):

    encoder = PoseEncoder.for_transformer(transformer).attach(transformer)
    load_pose_encoder(encoder, "weights/Stable-Video-Infinity/version-1.0/svi-dance.safetensors")
    with conditioning(transformer, pose=pose_video):   # [B, 3, F, H, W] in [0, 1]
        v = transformer(x, t, context, image_context, return_dict=False)[0]

Also here: the official per-step dropout (`draw_dance_drops`), reading a pose video (pose.mp4 of the
official test sample) for each clip of a long video (`read_pose_video`, `pose_clip_frame_ids`),
drawing DWPose keypoints as the official pose maps (`render_pose`), and the DWPose ONNX model from a
local folder (`PoseExtractor`). Pose maps are RGB as the official training data decodes them.
"""

from __future__ import annotations

import colorsys
import math
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from svi.model.adapters import Adapter, clip_frame_range

# The fixed prompt of SVI-Dance training and inference (train_svi_dance.py, test_svi_dance.py).
DANCE_PROMPT = "the person is dancing"
# Where the official test script expects the released SVI-Dance weights (LoRA + pose encoder).
OFFICIAL_CHECKPOINT = "weights/Stable-Video-Infinity/version-1.0/svi-dance.safetensors"
# Key infix of the pose encoder's tensors in official checkpoints ("dwpose_embedding.0.weight", ...).
OFFICIAL_KEY = "dwpose_embedding."
# Width of the official stack's hidden convs (UniAnimate-DiT's concat_dim * 4 = 16), at every scale.
POSE_HIDDEN_CHANNELS = 16
# The pose video's first frame is repeated this many extra times so F = 4k + 1 frames become 4k + 4,
# which the two temporal stride-2 convs bring to k + 1 = Wan's latent frame count.
LEAD_REPEATS = 3


# ---------------------------------------------------------------------------------------------
# The encoder


class PoseEncoder(Adapter):
    """The official pose encoder (`dwpose_embedding`): 7 Conv3d, SiLU between them.

    Widths 3 -> 16 -> 16 -> 16 -> 16 -> 16 -> 16 -> D (D = the DiT's inner dim, 5120 at 14B); strides
    (1,1,1) x3, (1,2,2), (2,2,2), (2,2,2) with 3x3x3 kernels and padding 1, then a (1,2,2) kernel at
    stride (1,2,2): time / 4 (after the 3 repeated lead frames) and space / 16, Wan's VAE (4, 8) times
    its patch size (1, 2, 2). Default PyTorch initialisation as officially (no zero-init; SVI-Dance
    starts from the UniAnimate-DiT checkpoint); `zero_init=True` zeroes the last conv so an untrained
    encoder leaves the model unchanged.

    Input: [B, 3, F, H, W] pose maps in [0, 1] (the official uint8 / 255). A row that is all NaN
    (`null_input`) is a dropped pose: its output is zero, as the official dropout zeroes the encoder's
    output (a black pose map is not "no pose": the conv biases still add a constant)."""

    name = "pose"
    trainable = True

    def __init__(
        self, out_channels: int, hidden_channels: int = POSE_HIDDEN_CHANNELS, zero_init: bool = False
    ):
        super().__init__()
        c = hidden_channels
        self.out_channels = out_channels
        # Named as officially, so the state dict keys are the official ones after "dwpose_embedding.".
        self.dwpose_embedding = nn.Sequential(
            nn.Conv3d(3, c, 3, stride=1, padding=1),
            nn.SiLU(),
            nn.Conv3d(c, c, 3, stride=1, padding=1),
            nn.SiLU(),
            nn.Conv3d(c, c, 3, stride=1, padding=1),
            nn.SiLU(),
            nn.Conv3d(c, c, 3, stride=(1, 2, 2), padding=1),
            nn.SiLU(),
            nn.Conv3d(c, c, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv3d(c, c, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv3d(c, out_channels, (1, 2, 2), stride=(1, 2, 2)),
        )
        if zero_init:
            nn.init.zeros_(self.dwpose_embedding[-1].weight)
            nn.init.zeros_(self.dwpose_embedding[-1].bias)

    @classmethod
    def for_transformer(
        cls,
        transformer: nn.Module,
        *,
        hidden_channels: int = POSE_HIDDEN_CHANNELS,
        zero_init: bool = False,
        dtype: torch.dtype | None = None,
    ) -> PoseEncoder:
        """An encoder sized for `transformer` (output width = its inner dim), on its device and in its
        dtype (or `dtype`). Not attached: call `.attach(transformer)`."""
        cfg = transformer.config
        if tuple(cfg.patch_size) != (1, 2, 2):
            raise ValueError(
                f"the pose encoder's strides fit Wan's patch size (1, 2, 2), the transformer has {cfg.patch_size}"
            )
        encoder = cls(cfg.num_attention_heads * cfg.attention_head_dim, hidden_channels, zero_init)
        weight = transformer.patch_embedding.weight
        return encoder.to(device=weight.device, dtype=dtype or weight.dtype)

    def null_input(self, like: torch.Tensor) -> torch.Tensor:
        return torch.full_like(like, float("nan"))

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        """[B, 3, F, H, W] in [0, 1] (NaN rows: dropped) -> [B, D, (F - 1) / 4 + 1, H / 16, W / 16]."""
        if pose.ndim != 5 or pose.shape[1] != 3:
            raise ValueError(f"pose video must be [B, 3, F, H, W], got {tuple(pose.shape)}")
        if not pose.is_floating_point():
            raise ValueError("pose video must be float in [0, 1]: divide uint8 pose maps by 255")
        nan = torch.isnan(pose).flatten(1)
        dropped = nan.all(dim=1)  # [B]
        if bool((nan.any(dim=1) & ~dropped).any()):
            raise ValueError(
                "a pose row is partly NaN: NaN marks a whole dropped row (PoseEncoder.null_input)"
            )
        x = torch.nan_to_num(pose, nan=0.0)
        if not bool(dropped.all()):
            lo, hi = torch.aminmax(x[~dropped])
            if lo < -0.01 or hi > 1.01:
                raise ValueError(
                    f"pose values span [{float(lo):.3g}, {float(hi):.3g}]; the encoder takes [0, 1] "
                    "(uint8 pose maps / 255, not [-1, 1])"
                )
        x = torch.cat([x[:, :, :1].expand(-1, -1, LEAD_REPEATS, -1, -1), x], dim=2)  # [B, 3, F + 3, H, W]
        p = self.dwpose_embedding[0].weight
        out = self.dwpose_embedding(x.to(device=p.device, dtype=p.dtype))
        return out.masked_fill(dropped.to(out.device).view(-1, 1, 1, 1, 1), 0.0)

    def export_state_dict(self) -> dict[str, torch.Tensor]:
        """Trained with the LoRA: saved in the same file under the official names, as SVI-Dance's is."""
        return pose_encoder_state_dict(self)

    def take_exported(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not any(OFFICIAL_KEY in k for k in state_dict):
            return state_dict
        load_pose_encoder(self, state_dict)
        return {k: v for k, v in state_dict.items() if OFFICIAL_KEY not in k}

    def _install(self, transformer: nn.Module) -> Iterator:
        patch = getattr(transformer, "patch_embedding", None)
        if not isinstance(patch, nn.Conv3d):
            raise TypeError(
                "PoseEncoder attaches to diffusers' WanTransformer3DModel (a Conv3d patch_embedding)"
            )
        if patch.out_channels != self.out_channels:
            raise ValueError(
                f"this encoder outputs {self.out_channels} channels, the transformer's patches have "
                f"{patch.out_channels}: build it with PoseEncoder.for_transformer(transformer)"
            )
        yield patch.register_forward_hook(self._add_to_patches)

    def _add_to_patches(self, module: nn.Module, args, output: torch.Tensor) -> torch.Tensor:
        # output: the patch embeddings [B, D, F_lat, h/2, w/2] before diffusers flattens them to tokens;
        # the official adds its (flattened) encoder output to the tokens, the same sum.
        emb = self.encoded(self)  # once per clip when sampling: the pose does not change between steps
        if emb.shape != output.shape:
            raise ValueError(
                f"the pose video gives embeddings {tuple(emb.shape)} but the patches are {tuple(output.shape)}: "
                "give one pose row per batch row, with the clip's pixel frames F and size H x W"
            )
        return output + emb.to(output.dtype)


# ---------------------------------------------------------------------------------------------
# Official checkpoints


class PoseWeightsError(ValueError):
    """A checkpoint has no usable pose encoder; the message says what was found."""


def _read_tensors(source: str | Path | dict) -> dict[str, torch.Tensor]:
    if isinstance(source, dict):
        return dict(source)
    path = Path(source)
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"no .safetensors file in {path} (the official extra_module_root layout)")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(
            f"pose encoder checkpoint not found: {path}. The released SVI-Dance weights are one file, "
            f"{OFFICIAL_CHECKPOINT} (LoRA and pose encoder together); UniAnimate-DiT's "
            "UniAnimate-Wan2.1-14B-Lora-12000.ckpt (the official training start) also holds one."
        )
    tensors: dict[str, torch.Tensor] = {}
    for f in files:
        if f.suffix == ".safetensors":
            from safetensors.torch import load_file

            tensors.update(load_file(str(f)))
        else:  # Lightning .ckpt / torch .pt: a flat dict of tensors (or one under "state_dict")
            try:
                obj = torch.load(f, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError as error:
                raise PoseWeightsError(f"{f} is not a plain tensor checkpoint: {error}") from None
            tensors.update(obj.get("state_dict", obj) if isinstance(obj, dict) else {})
    return tensors


def load_pose_encoder(encoder: PoseEncoder, source: str | Path | dict[str, torch.Tensor]) -> PoseEncoder:
    """Load the pose encoder's weights from an official checkpoint (or ours): the tensors whose key
    contains `dwpose_embedding.` ("dwpose_embedding.0.weight" ... "dwpose_embedding.12.bias", any prefix),
    as the official loaders pick them. `source`: a .safetensors / .ckpt file, a folder of .safetensors,
    or a state dict. Returns the encoder."""
    found = _read_tensors(source)
    picked = {k.split(OFFICIAL_KEY, 1)[1]: v for k, v in found.items() if OFFICIAL_KEY in k}
    if not picked:
        shown = ", ".join(sorted(found)[:3]) or "none"
        raise PoseWeightsError(
            f"{source} has no pose encoder tensors (keys containing {OFFICIAL_KEY!r}; found {len(found)} "
            f"keys such as {shown}). Only the SVI-Dance checkpoint ({OFFICIAL_CHECKPOINT}) and "
            "UniAnimate-DiT's have one; the Shot / Film / Talk LoRAs do not."
        )
    own = encoder.dwpose_embedding.state_dict()
    missing, unexpected = sorted(set(own) - set(picked)), sorted(set(picked) - set(own))
    if missing or unexpected:
        raise PoseWeightsError(
            f"{source}: pose encoder keys do not match the official layer stack: missing {missing}, "
            f"unexpected {unexpected}"
        )
    wrong = [
        f"{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in picked.items()
        if v.shape != own[k].shape
    ]
    if wrong:
        raise PoseWeightsError(
            f"{source}: pose encoder shapes differ from this encoder's (checkpoint vs here): {'; '.join(wrong)}. "
            f"The official encoder outputs 5120 channels (Wan 14B); this one outputs {encoder.out_channels}."
        )
    encoder.dwpose_embedding.load_state_dict(picked, strict=True)
    return encoder


def pose_encoder_state_dict(encoder: PoseEncoder) -> dict[str, torch.Tensor]:
    """The encoder's weights under the official names ("dwpose_embedding.0.weight", ...), on CPU."""
    return {
        OFFICIAL_KEY + k: v.detach().cpu().contiguous()
        for k, v in encoder.dwpose_embedding.state_dict().items()
    }


# ---------------------------------------------------------------------------------------------
# The official per-step dropout

# train_svi_dance.py draws p1, p2, p: the pose embedding is zeroed if p1 < 0.05 and (again) if p2 < 0.1;
# the CLIP feature and y are zeroed if p < 0.1, which also skips E_img on that step.
POSE_DROP_PROBS = (0.05, 0.1)
IMAGE_DROP_PROB = 0.1


@dataclass(frozen=True)
class DanceDrops:
    """One sample's official SVI-Dance condition dropout."""

    pose: bool  # the pose embedding is zeroed (`PoseEncoder.null_input` for this row)
    image: bool  # the CLIP feature and all of y (mask included) are zeroed, and E_img is not injected


def pose_drop_probability(pose_probs: Sequence[float] = POSE_DROP_PROBS) -> float:
    """P(pose dropped) = 1 - prod(1 - p): officially 1 - 0.95 * 0.9 = 0.145."""
    return 1.0 - math.prod(1.0 - p for p in pose_probs)


def dance_drops(
    draws: Sequence[float], pose_probs: Sequence[float] = POSE_DROP_PROBS, image_prob: float = IMAGE_DROP_PROB
) -> DanceDrops:
    """The drops given uniform draws (u_pose_1, ..., u_pose_n, u_image): pose dropped if any
    u_pose_i < pose_probs[i] (two independent chances officially, 0.05 and 0.1, so 14.5% of steps);
    image dropped if u_image < image_prob (10%), independently of the pose."""
    if len(draws) != len(pose_probs) + 1:
        raise ValueError(f"need {len(pose_probs) + 1} draws, got {len(draws)}")
    pose = any(u < p for u, p in zip(draws, pose_probs))
    return DanceDrops(pose=pose, image=draws[-1] < image_prob)


def draw_dance_drops(
    generator: torch.Generator,
    pose_probs: Sequence[float] = POSE_DROP_PROBS,
    image_prob: float = IMAGE_DROP_PROB,
) -> DanceDrops:
    """One sample's drops from `generator`: always len(pose_probs) + 1 float64 uniforms, so the RNG
    stream does not depend on the probabilities."""
    draws = torch.rand(len(pose_probs) + 1, generator=generator, dtype=torch.float64).tolist()
    return dance_drops(draws, pose_probs, image_prob)


def drop_pose_rows(pose: torch.Tensor, dropped: Sequence[bool]) -> torch.Tensor:
    """pose [B, 3, F, H, W] with the dropped rows replaced by the encoder's null input (NaN)."""
    mask = torch.as_tensor(list(dropped), dtype=torch.bool, device=pose.device).view(-1, 1, 1, 1, 1)
    return torch.where(mask, torch.full_like(pose, float("nan")), pose)


def drop_image_rows(
    y: torch.Tensor, image_context: torch.Tensor | None, dropped: Sequence[bool]
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """y [B, 20, F_lat, h, w] and the CLIP feature [B, N, D] with the dropped rows zeroed (all 20 y
    channels, the mask too, as officially). The caller must also skip E_img on those rows."""
    keep = (~torch.as_tensor(list(dropped), dtype=torch.bool)).to(y.device)
    y = y * keep.view(-1, 1, 1, 1, 1).to(y.dtype)
    if image_context is not None:
        image_context = image_context * keep.to(image_context.device).view(-1, 1, 1).to(image_context.dtype)
    return y, image_context


# ---------------------------------------------------------------------------------------------
# Pose videos

POSE_RESIZES = ("fit", "stretch", "cover")
POSE_SCHEDULES = ("aligned", "official")


def resize_pose_frames(frames: torch.Tensor, height: int, width: int, resize: str = "fit") -> torch.Tensor:
    """uint8 pose maps [F, h, w, 3] -> float32 [3, F, height, width] in [0, 1].

    fit: the official inference (test_svi_dance.py, resize_and_pad_to_target): scale by
    min(H/h, W/w), nearest neighbour, centred on black. stretch: the official training loader (a plain
    bilinear resize to H x W). cover: scale to cover and crop the centre (svi.training.data.resize_cover_crop)."""
    from svi.training.clips import resize_cover_crop

    if resize not in POSE_RESIZES:
        raise ValueError(f"unknown resize {resize!r}; choose one of {POSE_RESIZES}")
    x = frames.permute(0, 3, 1, 2)  # uint8 [F, 3, h, w]
    src_h, src_w = x.shape[-2:]
    if resize == "cover":
        return ((resize_cover_crop(frames, height, width) + 1.0) * 127.5).round_() / 255.0
    if resize == "stretch":
        if (src_h, src_w) != (height, width):
            x = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
        return x.permute(1, 0, 2, 3).float() / 255.0
    scale = min(height / src_h, width / src_w)
    new_h, new_w = int(src_h * scale), int(src_w * scale)
    x = F.interpolate(x, size=(new_h, new_w), mode="nearest")
    top, left = (height - new_h) // 2, (width - new_w) // 2
    out = torch.zeros(3, x.shape[0], height, width)
    out[:, :, top : top + new_h, left : left + new_w] = x.permute(1, 0, 2, 3).float() / 255.0
    return out


def read_pose_frames(
    path: str | Path, frame_ids: Sequence[int], height: int, width: int, resize: str = "fit"
) -> torch.Tensor:
    """Frames `frame_ids` of a pose video -> float32 [3, len(frame_ids), height, width] in [0, 1].

    Indices past the end wrap around (i mod N): the official test loops a pose video that is shorter
    than the long video it drives."""
    from svi.training.clips import DECODE_THREADS, open_video

    if not Path(path).is_file():
        raise FileNotFoundError(
            f"pose video not found: {path} (a video of rendered DWPose maps, e.g. pose.mp4)"
        )
    reader = open_video(str(path), DECODE_THREADS)
    n = len(reader)
    if n == 0:
        raise ValueError(f"pose video {path} has no frames")
    wrapped = [int(i) % n for i in frame_ids]
    unique = sorted(set(wrapped))  # each frame decoded once, in file order
    batch = reader.get_batch(unique)
    frames = torch.as_tensor(batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch))
    row = {frame: r for r, frame in enumerate(unique)}
    frames = frames[[row[i] for i in wrapped]].to(torch.uint8)  # [F, h, w, 3]
    return resize_pose_frames(frames, height, width, resize)


def read_pose_video(
    path: str | Path, start: int, stop: int, height: int, width: int, resize: str = "fit"
) -> torch.Tensor:
    """Frames [start, stop) of a pose video (pose.mp4) -> float32 [3, stop - start, height, width] in
    [0, 1], wrapping past the end. For clip k of a long video: start, stop = clip_frame_range(k, F, K)."""
    if stop <= start or start < 0:
        raise ValueError(f"bad frame range [{start}, {stop})")
    return read_pose_frames(path, range(start, stop), height, width, resize)


def pose_clip_frame_ids(
    clip: int, clip_frames: int, lead_frames: int, schedule: str = "aligned"
) -> list[int]:
    """The pose-video frames that drive clip `clip` of a long video (before wrapping).

    aligned: clip_frame_range(clip, F, K), so each generated frame gets the pose of its own position in
    the assembled video. official: test_svi_dance.py's schedule: clip 0 takes [0, F); clip k > 0
    takes the previous clip's last K pose frames and then the next F - K frames from F - 1 on
    (K = 1, F = 81: clip 1 = [80, 80, 81, ..., 159], clip 2 = [159, 160, ..., 239]), so pose frame
    F - 1 is shown twice and from frame F on the poses run one frame behind the video."""
    if schedule == "aligned":
        return list(range(*clip_frame_range(clip, clip_frames, lead_frames)))
    if schedule != "official":
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {POSE_SCHEDULES}")
    clip_frame_range(clip, clip_frames, lead_frames)  # validates the arguments
    ids, next_id = list(range(clip_frames)), clip_frames - 1
    for _ in range(clip):
        ids = ids[-lead_frames:] + list(range(next_id, next_id + clip_frames - lead_frames))
        next_id += clip_frames - lead_frames
    return ids


# ---------------------------------------------------------------------------------------------
# Drawing DWPose keypoints (dwpose/util.py of UniAnimate / UniAnimate-DiT, as SVI's
# prepare_video_pose.py uses it for dw_pose_with_foot_wo_face.pkl)

NUM_KEYPOINTS = 134  # COCO-WholeBody's 133 in OpenPose body order, plus the neck at index 1
BODY = slice(0, 18)
FEET = slice(18, 24)  # left big toe, small toe, heel, right big toe, small toe, heel
FACE = slice(24, 92)
HANDS = (slice(92, 113), slice(113, 134))  # left, right (21 points each)
VISIBLE_SCORE = 0.3
# 20 body points: 18 OpenPose points, then each foot's toes averaged (left, right). 0-based.
BODY_LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
    (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (13, 18), (10, 19),
)  # fmt: skip
# Written in the canvas' channel order, which the official JPEG encoding (cv2) treats as BGR.
BODY_COLOURS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85), (170, 255, 255), (255, 255, 0),
)  # fmt: skip
HAND_EDGES = (
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
    (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20),
)  # fmt: skip
STICK_WIDTH_PX = 4
POINT_RADIUS_PX = 4
LIMB_DIMMING = 0.6  # limbs are dimmed before the points are drawn over them
HAND_LINE_PX = 2
HAND_POINT_COLOUR = (0, 0, 255)
FACE_RADIUS_PX = 3


def _body_points(kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 20 drawn body points [20, 2] (normalised x, y) and their visibility [20]."""
    xy, score = kp[:, :2], kp[:, 2]
    feet = FEET.start
    left_toes, right_toes = [feet, feet + 1], [feet + 3, feet + 4]
    points = np.concatenate(
        [xy[BODY], xy[left_toes].mean(0, keepdims=True), xy[right_toes].mean(0, keepdims=True)]
    )
    visible = np.concatenate(
        [
            score[BODY] > VISIBLE_SCORE,
            [(score[left_toes] > VISIBLE_SCORE).all()],
            [(score[right_toes] > VISIBLE_SCORE).all()],
        ]
    )
    return points, visible


def render_pose(keypoints: np.ndarray, height: int, width: int, *, face: bool = False) -> np.ndarray:
    """One person's DWPose keypoints -> uint8 [height, width, 3] RGB pose map, drawn as the official
    `dw_pose_with_foot_wo_face` maps (with `face`: the `with_face` ones).

    keypoints: [134, 3] rows (x / W, y / H, score) in the order `PoseExtractor` gives (COCO-WholeBody
    in OpenPose body order with the neck inserted). Body and the two toe points: limbs as filled
    ellipses 4 px wide, dimmed to 60%, then 4 px points; a point shows if its score > 0.3 (a toe point
    if both toes do). Hands: 2 px lines coloured around the hue circle and red points, for scores >= 0.3.
    Colours come out as the official pickles decode (the canvas is drawn as cv2's BGR, then read as RGB).
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints must be [{NUM_KEYPOINTS}, 3] (x / W, y / H, score), got {kp.shape}")
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    points, visible = _body_points(kp)
    px = points * np.array([width, height], dtype=np.float64)  # [20, 2] in pixels
    for (a, b), colour in zip(BODY_LIMBS, BODY_COLOURS):
        if not (visible[a] and visible[b]):
            continue
        (x0, y0), (x1, y1) = px[a], px[b]
        length = math.hypot(x0 - x1, y0 - y1)
        angle = math.degrees(math.atan2(y0 - y1, x0 - x1))
        centre = (int((x0 + x1) / 2), int((y0 + y1) / 2))
        polygon = cv2.ellipse2Poly(centre, (int(length / 2), STICK_WIDTH_PX), int(angle), 0, 360, 1)
        cv2.fillConvexPoly(canvas, polygon, colour)
    canvas = (canvas * LIMB_DIMMING).astype(np.uint8)
    for i in np.flatnonzero(visible):
        cv2.circle(canvas, (int(px[i, 0]), int(px[i, 1])), POINT_RADIUS_PX, BODY_COLOURS[i], thickness=-1)

    # Hands: a point below the score threshold sits at -1 (off the canvas), as officially.
    for part in HANDS:
        hand = np.where((kp[part, 2] >= VISIBLE_SCORE)[:, None], kp[part, :2], -1.0)
        pix = [(int(x * width), int(y * height)) for x, y in hand]
        for i, (a, b) in enumerate(HAND_EDGES):
            if min(*pix[a], *pix[b]) > 0:
                colour = tuple(255.0 * c for c in colorsys.hsv_to_rgb(i / len(HAND_EDGES), 1.0, 1.0))
                cv2.line(canvas, pix[a], pix[b], colour, thickness=HAND_LINE_PX)
        for x, y in pix:
            if x > 0 and y > 0:
                cv2.circle(canvas, (x, y), POINT_RADIUS_PX, HAND_POINT_COLOUR, thickness=-1)
    if face:
        marks = np.where((kp[FACE, 2] >= VISIBLE_SCORE)[:, None], kp[FACE, :2], -1.0)
        for x, y in marks:
            x, y = int(x * width), int(y * height)
            if x > 0 and y > 0:
                cv2.circle(canvas, (x, y), FACE_RADIUS_PX, (255, 255, 255), thickness=-1)
    return np.ascontiguousarray(canvas[..., ::-1])  # BGR -> RGB


# ---------------------------------------------------------------------------------------------
# The DWPose model (ONNX) from a local folder

DWPOSE_FILES = (
    "yolox_l.onnx",
    "dw-ll_ucoco_384.onnx",
)  # person detector, whole-body pose (dwpose/wholebody.py)
DWPOSE_HELP = (
    "Put the two DWPose ONNX files (the official code keeps them in ./weights/UniAnimate-DiT/, from the "
    "DWPose release yzd-v/DWPose) in one folder, and install onnxruntime (pip install onnxruntime: the CPU "
    "wheel, it does not pull torch; onnxruntime-gpu for CUDA)."
)
DETECTOR_SIZE = 640
DETECTOR_PAD = 114
DETECTOR_STRIDES = (8, 16, 32)
NMS_IOU = 0.45
BOX_SCORE_MIN = 0.1  # before NMS
PERSON_SCORE_MIN = 0.3  # after NMS
BOX_PADDING = 1.25
POSE_MEAN = np.array([123.675, 116.28, 103.53])
POSE_STD = np.array([58.395, 57.12, 57.375])
SIMCC_SPLIT = 2.0
# COCO-WholeBody (with the neck inserted at 17) -> OpenPose body order.
MMPOSE_IDS = (17, 6, 8, 10, 7, 9, 12, 14, 16, 13, 15, 2, 1, 4, 3)
OPENPOSE_IDS = (1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17)


class PoseModelError(RuntimeError):
    """The DWPose files or onnxruntime are missing; the message says what to put where."""


def to_openpose_order(keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """COCO-WholeBody keypoints [133, 2] (pixels) and scores [133] -> [134, 3] (x, y, score) in the order
    `render_pose` reads: the neck (the shoulders' mean; score 1 if both shoulders score > 0.3, else 0)
    inserted at 17, then the 18 body points moved to OpenPose's order."""
    info = np.concatenate(
        [np.asarray(keypoints, np.float64), np.asarray(scores, np.float64)[:, None]], axis=1
    )
    neck = info[[5, 6]].mean(axis=0)
    neck[2] = float((info[[5, 6], 2] > VISIBLE_SCORE).all())
    out = np.insert(info, 17, neck, axis=0)
    out[list(OPENPOSE_IDS)] = out[list(MMPOSE_IDS)]
    return out


def decode_simcc(
    simcc_x: np.ndarray, simcc_y: np.ndarray, split: float = SIMCC_SPLIT
) -> tuple[np.ndarray, np.ndarray]:
    """SimCC outputs [K, Wx], [K, Wy] -> keypoints [K, 2] in model-input pixels and scores [K]
    (the smaller of the two maxima; a keypoint whose score is <= 0 is placed at -1 before the split,
    as DWPose's decoder does)."""
    locs = np.stack([simcc_x.argmax(1), simcc_y.argmax(1)], axis=-1).astype(np.float64)
    scores = np.minimum(simcc_x.max(1), simcc_y.max(1)).astype(np.float64)
    locs[scores <= 0] = -1
    return locs / split, scores


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy NMS, best first (pixel-inclusive areas, as DWPose's)."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order, keep = scores.argsort()[::-1], []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        overlap = w * h / (areas[i] + areas[rest] - w * h)
        order = rest[overlap <= iou]
    return keep


class PoseExtractor:
    """DWPose whole-body keypoints through onnxruntime: YOLOX-L finds people, DWPose-L (384 x 288) the
    133 keypoints of the best-scoring person (the whole frame when nobody is found), as SVI's
    prepare_video_pose.py does. Frames are RGB uint8 [H, W, 3] here (the models take cv2's BGR)."""

    def __init__(self, detector, pose_model):
        self.detector, self.pose_model = detector, pose_model

    @classmethod
    def from_folder(cls, folder: str | Path, providers: Sequence[str] | None = None) -> PoseExtractor:
        folder = Path(folder)
        problems = [f"{folder / name} is missing" for name in DWPOSE_FILES if not (folder / name).is_file()]
        try:
            import onnxruntime as ort
        except ImportError:
            ort = None
            problems.append("the onnxruntime package is not installed")
        if problems:
            raise PoseModelError("cannot load the DWPose model: " + "; ".join(problems) + ". " + DWPOSE_HELP)
        available = ort.get_available_providers()
        chosen = (
            list(providers)
            if providers
            else [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        )
        sessions = [ort.InferenceSession(str(folder / name), providers=chosen) for name in DWPOSE_FILES]
        return cls(*sessions)

    def _person_box(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        ratio = min(DETECTOR_SIZE / h, DETECTOR_SIZE / w)
        canvas = np.full((DETECTOR_SIZE, DETECTOR_SIZE, 3), DETECTOR_PAD, dtype=np.uint8)
        rh, rw = int(h * ratio), int(w * ratio)
        canvas[:rh, :rw] = cv2.resize(bgr, (rw, rh), interpolation=cv2.INTER_LINEAR)
        x = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)
        raw = self.detector.run(None, {self.detector.get_inputs()[0].name: x})[0][0]  # [8400, 85]
        grids, strides = [], []
        for s in DETECTOR_STRIDES:
            n = DETECTOR_SIZE // s
            gx, gy = np.meshgrid(np.arange(n), np.arange(n))
            grids.append(np.stack([gx, gy], -1).reshape(-1, 2))
            strides.append(np.full((n * n, 1), s))
        grid, stride = np.concatenate(grids), np.concatenate(strides)
        centre, size = (raw[:, :2] + grid) * stride, np.exp(raw[:, 2:4]) * stride
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1) / ratio
        person = raw[:, 4] * raw[:, 5]  # objectness x class 0 (person): NMS is per class officially
        valid = person > BOX_SCORE_MIN
        boxes, person = boxes[valid], person[valid]
        keep = (
            [i for i in _nms(boxes, person, NMS_IOU) if person[i] > PERSON_SCORE_MIN] if len(person) else []
        )
        return boxes[keep[0]] if keep else np.array([0.0, 0.0, w, h])

    def keypoints(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 [H, W, 3] -> [134, 3] rows (x / W, y / H, score) for `render_pose`."""
        bgr = np.ascontiguousarray(np.asarray(image)[..., ::-1])
        h, w = bgr.shape[:2]
        x1, y1, x2, y2 = self._person_box(bgr)
        in_h, in_w = self.pose_model.get_inputs()[0].shape[2:]
        centre = np.array([x1 + x2, y1 + y2]) / 2
        box_w, box_h = (x2 - x1) * BOX_PADDING, (y2 - y1) * BOX_PADDING
        aspect = in_w / in_h
        box_w, box_h = (box_w, box_w / aspect) if box_w > box_h * aspect else (box_h * aspect, box_h)
        s = in_w / box_w  # the crop's similarity transform (no rotation)
        warp = np.array([[s, 0.0, in_w / 2 - s * centre[0]], [0.0, s, in_h / 2 - s * centre[1]]])
        crop = cv2.warpAffine(bgr, warp, (int(in_w), int(in_h)), flags=cv2.INTER_LINEAR)
        x = ((crop - POSE_MEAN) / POSE_STD).transpose(2, 0, 1)[None].astype(np.float32)
        simcc_x, simcc_y = self.pose_model.run(None, {self.pose_model.get_inputs()[0].name: x})
        locs, scores = decode_simcc(simcc_x[0], simcc_y[0])
        pixels = (
            locs / np.array([in_w, in_h]) * np.array([box_w, box_h]) + centre - np.array([box_w, box_h]) / 2
        )
        out = to_openpose_order(pixels, scores)
        out[:, :2] /= np.array([w, h])
        return out

    def pose_map(self, image: np.ndarray, *, face: bool = False) -> np.ndarray:
        """RGB uint8 [H, W, 3] -> its pose map, RGB uint8 [H, W, 3], as the official training data."""
        return render_pose(self.keypoints(image), image.shape[0], image.shape[1], face=face)
