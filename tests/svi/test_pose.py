"""svi.conditions.pose: the official SVI-Dance pose encoder as a patch-embedding hook, its checkpoint keys, the
official dropout, pose videos per clip, DWPose drawing, and the DWPose model's error path."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from svi.conditions.pose import (
    BODY_COLOURS,
    DanceDrops,
    PoseEncoder,
    PoseModelError,
    PoseWeightsError,
    dance_drops,
    decode_simcc,
    draw_dance_drops,
    drop_image_rows,
    drop_pose_rows,
    load_pose_encoder,
    pose_clip_frame_ids,
    pose_drop_probability,
    pose_encoder_state_dict,
    read_pose_video,
    render_pose,
    to_openpose_order,
)
from svi.config import LoraConfig
from svi.model.adapters import MissingConditionError, clip_frame_range, conditioning
from svi.model.backbone import build_tiny
from svi.model.lora import add_lora
from toyworld.synthetic import write_video

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

# tiny: 9 frames of 32 x 32 -> latents [16, 3, 4, 4] -> patches [24, 3, 2, 2]
B, FRAMES, SIZE = 2, 9, 32


@pytest.fixture(scope="module")
def tiny_transformer():
    return build_tiny(with_image_encoder=True).transformer.eval()


@pytest.fixture()
def transformer(tiny_transformer):
    return copy.deepcopy(tiny_transformer)


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(B, 36, 3, 4, 4, generator=g),
        torch.tensor([321.0, 640.0]),
        torch.randn(B, 8, 32, generator=g),
        torch.randn(B, 17, 32, generator=g),
    )


def _pose(seed: int = 1, batch: int = B) -> torch.Tensor:
    return torch.rand(batch, 3, FRAMES, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def _run(transformer, pose=None):
    with torch.no_grad():
        if pose is None:
            return transformer(*_inputs(), return_dict=False)[0]
        with conditioning(transformer, pose=pose):
            return transformer(*_inputs(), return_dict=False)[0]


# -- the encoder --------------------------------------------------------------------------------


def test_layer_stack_is_the_official_one():
    enc = PoseEncoder(5120)
    convs = [m for m in enc.dwpose_embedding if isinstance(m, nn.Conv3d)]
    acts = [type(m) for m in enc.dwpose_embedding if not isinstance(m, nn.Conv3d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 16)] + [(16, 16)] * 5 + [(16, 5120)]
    assert [c.kernel_size for c in convs] == [(3, 3, 3)] * 6 + [(1, 2, 2)]
    assert [c.stride for c in convs] == [(1, 1, 1)] * 3 + [(1, 2, 2), (2, 2, 2), (2, 2, 2), (1, 2, 2)]
    assert [c.padding for c in convs] == [(1, 1, 1)] * 6 + [(0, 0, 0)]
    assert acts == [nn.SiLU] * 6 and isinstance(enc.dwpose_embedding[1], nn.SiLU)
    assert sum(p.numel() for p in enc.parameters()) == 368_752
    assert enc.dwpose_embedding[-1].weight.abs().sum() > 0  # default init, not zero-init
    # the official clip: 81 frames (+3 repeated lead frames) of 832 x 480 -> the 14B DiT's patch grid
    with torch.device("meta"):
        out = PoseEncoder(5120).dwpose_embedding(torch.empty(1, 3, 84, 832, 480))
    assert tuple(out.shape) == (1, 5120, 21, 52, 30)


def test_for_transformer_and_lead_frames(transformer):
    enc = PoseEncoder.for_transformer(transformer)
    assert enc.out_channels == 24 and enc.dwpose_embedding[0].weight.dtype == torch.float32
    pose = _pose()
    out = enc(pose)
    assert out.shape == (B, 24, 3, 2, 2)
    # frame 0 repeated 3 extra times in front: 9 -> 12 frames -> 3 latent frames
    manual = enc.dwpose_embedding(torch.cat([pose[:, :, :1]] * 3 + [pose], dim=2))
    torch.testing.assert_close(out, manual, rtol=0, atol=0)
    assert not torch.equal(out, enc.dwpose_embedding(torch.cat([pose[:, :, -1:]] * 3 + [pose], dim=2)))


def test_hook_adds_exactly_the_encoder_output_to_the_patch_embeddings(transformer):
    enc = PoseEncoder.for_transformer(transformer).attach(transformer)
    seen = []
    transformer.patch_embedding.register_forward_hook(lambda m, a, out: seen.append(out.detach().clone()))
    pose = _pose()
    _run(transformer, pose)
    x = _inputs()[0]
    pe = transformer.patch_embedding
    with torch.no_grad():
        expected = F.conv3d(x, pe.weight, pe.bias, stride=pe.stride) + enc(pose)
    torch.testing.assert_close(seen[0], expected, rtol=0, atol=1e-6)
    assert (enc(pose).abs() > 1e-3).any()  # a real addition, not zeros


@pytest.mark.bitwise("a zero pose embedding adds exact zeros, and x + 0.0 is x in floating point")
def test_zero_encoder_output_and_dropped_rows_leave_the_model_bit_identical(transformer):
    bare = _run(transformer)
    zero = PoseEncoder.for_transformer(transformer, zero_init=True).attach(transformer)
    assert torch.equal(_run(transformer, _pose()), bare)

    with torch.no_grad():  # now a non-zero encoder
        nn.init.normal_(zero.dwpose_embedding[-1].weight, std=0.1)
        nn.init.normal_(zero.dwpose_embedding[-1].bias, std=0.1)
    out = _run(transformer, drop_pose_rows(_pose(), [False, True]))
    assert torch.equal(out[1], bare[1])  # the dropped row: no pose at all
    assert not torch.allclose(out[0], bare[0], atol=1e-4)  # the kept row does see its pose
    # a black pose map is not a dropped pose: the conv biases still add a constant
    black = _run(transformer, torch.zeros(B, 3, FRAMES, SIZE, SIZE))
    assert not torch.allclose(black, bare, atol=1e-4)


def test_missing_and_bad_pose_inputs_raise(transformer):
    PoseEncoder.for_transformer(transformer).attach(transformer)
    with pytest.raises(MissingConditionError, match="pose"):
        _run(transformer)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        _run(transformer, _pose() * 255)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        _run(transformer, _pose() * 2 - 1)
    with pytest.raises(ValueError, match="pose row per batch row"):
        _run(transformer, torch.rand(B, 3, 5, SIZE, SIZE))  # 5 frames: 2 latent frames, not 3
    partly = _pose()
    partly[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="partly NaN"):
        _run(transformer, partly)


def test_lora_then_encoder_trains_exactly_lora_and_encoder(transformer):
    add_lora(transformer, LoraConfig(rank=4, alpha=4))
    enc = PoseEncoder.for_transformer(transformer).attach(transformer)
    trainable = {k for k, p in transformer.named_parameters() if p.requires_grad}
    pose_keys = {f"svi_pose.{k}" for k, _ in enc.named_parameters()}
    assert pose_keys and pose_keys <= trainable
    assert trainable - pose_keys == {k for k, _ in transformer.named_parameters() if ".lora_" in k}
    assert not any(".lora_" in k for k in pose_keys)  # peft did not wrap the encoder's convs
    with conditioning(transformer, pose=_pose()):
        transformer(*_inputs(), return_dict=False)[0].square().mean().backward()
    assert enc.dwpose_embedding[-1].weight.grad.abs().sum() > 0


def test_encoder_then_lora_trains_exactly_lora_and_encoder(transformer):
    enc = PoseEncoder.for_transformer(transformer).attach(transformer)
    add_lora(transformer, LoraConfig(rank=4, alpha=4))
    trainable = {k for k, p in transformer.named_parameters() if p.requires_grad}
    pose_keys = {f"svi_pose.{k}" for k, _ in enc.named_parameters()}
    lora_keys = {k for k, _ in transformer.named_parameters() if ".lora_" in k}
    assert trainable == pose_keys | lora_keys


# -- checkpoints --------------------------------------------------------------------------------


def test_export_lora_carries_the_encoder_and_load_lora_restores_it(tmp_path):
    from svi.model.backbone import build_tiny
    from svi.model.lora import export_lora, load_lora

    trained = build_tiny(seed=0).transformer
    enc = PoseEncoder.for_transformer(trained).attach(trained)
    add_lora(trained, LoraConfig(rank=4, alpha=4))
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(0.01)
    path = export_lora(trained, tmp_path / "lora.safetensors")
    fresh = build_tiny(seed=0).transformer
    target = PoseEncoder.for_transformer(fresh).attach(fresh)
    load_lora(fresh, path)
    for k, v in enc.state_dict().items():
        assert torch.equal(target.state_dict()[k], v)
    # a model without a pose adapter refuses the file instead of dropping the encoder silently
    with pytest.raises(ValueError, match="pose-encoder weights"):
        load_lora(build_tiny(seed=0).transformer, path)


def test_load_official_keys_and_errors(tmp_path):
    source = PoseEncoder(24)
    official = {f"dwpose_embedding.{k}": v for k, v in source.dwpose_embedding.state_dict().items()}
    assert official.keys() == pose_encoder_state_dict(source).keys()
    lora = {"pipe.dit.blocks.0.self_attn.q.lora_A.default.weight": torch.zeros(4, 24)}
    path = tmp_path / "svi-dance.safetensors"
    save_file({**official, **lora}, str(path))
    target = load_pose_encoder(PoseEncoder(24), path)
    for k, v in source.state_dict().items():
        assert torch.equal(target.state_dict()[k], v)
    # a Lightning-style .ckpt (torch.save of the flat dict) and a folder of safetensors load too
    torch.save({**official, **lora}, tmp_path / "unianimate.ckpt")
    load_pose_encoder(PoseEncoder(24), tmp_path / "unianimate.ckpt")
    load_pose_encoder(PoseEncoder(24), tmp_path)

    with pytest.raises(PoseWeightsError, match="no pose encoder tensors"):
        load_pose_encoder(PoseEncoder(24), {"pipe.dit.x.lora_A.weight": torch.zeros(1)})
    with pytest.raises(PoseWeightsError, match="5120 channels.*outputs 8"):
        load_pose_encoder(PoseEncoder(8), path)
    with pytest.raises(PoseWeightsError, match="missing"):
        load_pose_encoder(PoseEncoder(24), {k: v for k, v in official.items() if ".12." not in k})
    with pytest.raises(FileNotFoundError, match="svi-dance.safetensors"):
        load_pose_encoder(PoseEncoder(24), tmp_path / "nowhere.safetensors")


# -- the official dropout -----------------------------------------------------------------------


def test_drops_official_semantics_on_chosen_draws():
    assert dance_drops([0.049, 0.5, 0.5]) == DanceDrops(pose=True, image=False)  # first chance (0.05)
    assert dance_drops([0.5, 0.099, 0.5]) == DanceDrops(pose=True, image=False)  # second chance (0.1)
    assert dance_drops([0.05, 0.1, 0.5]) == DanceDrops(pose=False, image=False)  # strict <
    assert dance_drops([0.5, 0.5, 0.099]) == DanceDrops(pose=False, image=True)
    assert dance_drops([0.01, 0.01, 0.01]) == DanceDrops(pose=True, image=True)
    assert dance_drops([0.5, 0.5, 0.1]) == DanceDrops(pose=False, image=False)
    assert pose_drop_probability() == pytest.approx(0.145)


def test_drops_rates_and_rng_stream():
    g = torch.Generator().manual_seed(0)
    drops = [draw_dance_drops(g) for _ in range(40_000)]
    pose = np.array([d.pose for d in drops])
    image = np.array([d.image for d in drops])
    assert abs(pose.mean() - 0.145) < 0.008
    assert abs(image.mean() - 0.1) < 0.007
    assert abs((pose & image).mean() - 0.0145) < 0.004  # independent
    # three float64 uniforms per sample, whatever the probabilities
    u = torch.rand(3, generator=torch.Generator().manual_seed(5), dtype=torch.float64).tolist()
    assert draw_dance_drops(torch.Generator().manual_seed(5), (1.0, 0.0), 0.0) == dance_drops(
        u, (1.0, 0.0), 0.0
    )


def test_drop_row_helpers():
    pose = _pose()
    dropped = drop_pose_rows(pose, [True, False])
    assert torch.isnan(dropped[0]).all() and torch.equal(dropped[1], pose[1])
    y, clip = torch.ones(2, 20, 3, 4, 4), torch.ones(2, 5, 8)
    y2, clip2 = drop_image_rows(y, clip, [False, True])
    assert y2[1].abs().sum() == 0 and clip2[1].abs().sum() == 0  # all 20 channels, mask included
    assert torch.equal(y2[0], y[0]) and torch.equal(clip2[0], clip[0])


# -- pose videos ---------------------------------------------------------------------------------


def test_read_pose_video_values_wrap_and_fit(tmp_path):
    n = 6
    values = 20 + 40 * np.arange(n)  # frame i is uniformly grey 20 + 40 i
    frames = np.broadcast_to(values[:, None, None, None], (n, 16, 32, 3)).astype(np.uint8)
    path = tmp_path / "pose.mp4"
    write_video(path, np.ascontiguousarray(frames))
    out = read_pose_video(path, 3, 9, 16, 32, resize="stretch")  # frames 3, 4, 5, 0, 1, 2
    assert out.shape == (3, 6, 16, 32) and out.dtype == torch.float32
    got = (out.mean(dim=(0, 2, 3)) * 255).numpy()
    np.testing.assert_allclose(got, values[[3, 4, 5, 0, 1, 2]], atol=3)
    # fit (the official inference resize): 16 x 32 into 32 x 32 -> 16 x 32 centred, black rows above and below
    fit = read_pose_video(path, 0, 1, 32, 32)
    assert fit[:, :, :8].abs().max() == 0 and fit[:, :, 24:].abs().max() == 0
    assert abs(float(fit[:, :, 8:24].mean()) * 255 - 20) < 3
    with pytest.raises(FileNotFoundError, match="pose video not found"):
        read_pose_video(tmp_path / "none.mp4", 0, 1, 32, 32)


def test_clip_slices_line_up_with_the_assembled_video():
    f, k, clips = 81, 1, 4

    # The long video keeps frames [:-K] of every clip but the last (docs/method.md §6).
    def assembled(schedule):
        out = []
        for c in range(clips):
            ids = pose_clip_frame_ids(c, f, k, schedule)
            out += ids if c == clips - 1 else ids[:-k]
        return out

    assert assembled("aligned") == list(range(clips * (f - k) + k))
    for c in range(clips):
        assert pose_clip_frame_ids(c, f, k) == list(range(*clip_frame_range(c, f, k)))
    # the official test script: clip 1 = [80, 80, 81, ..., 159], clip 2 = [159, 160, ..., 239]
    assert pose_clip_frame_ids(0, f, k, "official") == list(range(81))
    assert pose_clip_frame_ids(1, f, k, "official") == [80] + list(range(80, 160))
    assert pose_clip_frame_ids(2, f, k, "official") == [159] + list(range(160, 240))
    # so from frame 81 on the official poses run one frame behind the video (a stall at frame 80)
    total = clips * (f - k) + k
    assert assembled("official") == [p if p <= f - k else p - 1 for p in range(total)]


# -- DWPose drawing and model --------------------------------------------------------------------


def _keypoints(visible: dict[int, tuple[float, float]]) -> np.ndarray:
    kp = np.zeros((134, 3))
    kp[:, :2] = -1.0
    for i, (x, y) in visible.items():
        kp[i] = (x, y, 0.9)
    return kp


def test_render_pose_colours_and_visibility():
    assert render_pose(_keypoints({}), 64, 64).max() == 0
    # neck (1) at (16, 32) px and right shoulder (2) at (48, 32) px: limb 0, then both points
    img = render_pose(_keypoints({1: (0.25, 0.5), 2: (0.75, 0.5)}), 64, 64)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    rgb = lambda bgr, k=1.0: tuple(int(c * k) for c in bgr[::-1])  # noqa: E731
    assert tuple(img[32, 32]) == rgb(BODY_COLOURS[0], 0.6)  # limb, dimmed to 60%
    assert tuple(img[32, 16]) == rgb(BODY_COLOURS[1]) and tuple(img[32, 48]) == rgb(BODY_COLOURS[2])
    assert img[10].max() == 0  # nothing far from the limb
    # one limb end below the score threshold: no limb, only the visible point
    lone = _keypoints({1: (0.25, 0.5), 2: (0.75, 0.5)})
    lone[2, 2] = 0.3
    img = render_pose(lone, 64, 64)
    assert img[32, 32].max() == 0 and tuple(img[32, 16]) == rgb(BODY_COLOURS[1])
    # toes: left big (18) and small (19) toe -> one point at their mean, colour 18
    img = render_pose(_keypoints({18: (0.25, 0.75), 19: (0.5, 0.75)}), 64, 64)
    assert tuple(img[48, 24]) == rgb(BODY_COLOURS[18])
    # a hand point: red; face landmarks only with face=True (white)
    img = render_pose(_keypoints({92: (0.5, 0.5), 30: (0.25, 0.25)}), 64, 64)
    assert tuple(img[32, 32]) == (255, 0, 0) and img[16, 16].max() == 0
    assert tuple(render_pose(_keypoints({30: (0.25, 0.25)}), 64, 64, face=True)[16, 16]) == (255, 255, 255)
    with pytest.raises(ValueError, match=r"\[134, 3\]"):
        render_pose(np.zeros((133, 3)), 64, 64)


def test_openpose_order_and_simcc_decoding():
    kp = np.arange(133 * 2, dtype=np.float64).reshape(133, 2)
    scores = np.full(133, 0.9)
    out = to_openpose_order(kp, scores)
    assert out.shape == (134, 3)
    np.testing.assert_array_equal(out[1, :2], (kp[5] + kp[6]) / 2)  # neck = mean of the shoulders
    assert out[1, 2] == 1.0
    np.testing.assert_array_equal(out[2, :2], kp[6])  # OpenPose right shoulder = COCO 6
    np.testing.assert_array_equal(out[5, :2], kp[5])  # left shoulder stays
    np.testing.assert_array_equal(out[14, :2], kp[2])  # right eye = COCO 2
    np.testing.assert_array_equal(out[18, :2], kp[17])  # feet follow, shifted by the neck
    scores[5] = 0.2
    assert to_openpose_order(kp, scores)[1, 2] == 0.0

    sx, sy = np.zeros((2, 10)), np.zeros((2, 12))
    sx[0, 7], sy[0, 3] = 0.8, 0.6  # keypoint 0 at (7, 3) / 2, score min(0.8, 0.6)
    locs, vals = decode_simcc(sx, sy)
    np.testing.assert_allclose(locs[0], [3.5, 1.5])
    assert vals[0] == pytest.approx(0.6)
    assert vals[1] == 0 and (locs[1] == -0.5).all()  # no response: placed at -1 (before the / 2 split)


def test_pose_extractor_names_what_is_missing(tmp_path):
    from svi.conditions.pose import PoseExtractor

    with pytest.raises(PoseModelError) as info:
        PoseExtractor.from_folder(tmp_path)
    message = str(info.value)
    assert "yolox_l.onnx" in message and "dw-ll_ucoco_384.onnx" in message and "onnxruntime" in message
