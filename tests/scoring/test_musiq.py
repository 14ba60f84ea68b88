"""MUSIQ for imaging_quality: pyiqa's checkpoint layout, multi-scale patches, weight files, the metric.

pyiqa does not import here (torchvision), so agreement with its MUSIQ was measured once by hand: pyiqa
0.1.16's musiq_arch imported under stub packages, the same random state dict loaded (strict) into both,
images of 224x224, 300x500, 512x384, 100x60, 37x300 and 720x1280: max |score difference| 4.2e-5 in
float32 on scores ~20, 2.2e-13 in float64.
"""

import dataclasses

import pytest
import torch

from scoring import registry
from scoring.base import VideoInfo
from scoring.motion import ImagingQuality
from scoring.musiq import (
    MUSIQ,
    MUSIQ_SPAQ_FILE,
    MaskedSelfAttention,
    MUSIQConfig,
    StdConv2d,
    hashed_positions,
    multiscale_tokens,
    patchify,
)

# small and fast, still three scales: longer side 64, longer side 96, and the input resolution
TINY = MUSIQConfig(hidden_size=32, mlp_dim=64, num_heads=2, num_layers=2, longer_side_lengths=(64, 96))


@pytest.fixture(scope="module")
def full():
    return MUSIQ.random(seed=0)


@pytest.fixture(scope="module")
def tiny():
    return MUSIQ.random(seed=0, config=TINY)


def _images(n, h, w, seed=0):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_state_dict_has_pyiqa_layout(full):
    # names and shapes of pyiqa 0.1.16 MUSIQ(num_class=1), the SPAQ checkpoint's architecture
    state = full.state_dict()
    assert len(state) == 248 and sum(v.numel() for v in state.values()) == 27_125_825
    shapes = {
        "conv_root.weight": (64, 3, 7, 7),
        "gn_root.bias": (64,),
        "block1.conv2.weight": (64, 64, 3, 3),
        "block1.conv_proj.weight": (256, 64, 1, 1),
        "block1.gn_proj.weight": (256,),
        "embedding.weight": (384, 16384),
        "transformer_encoder.posembed_input.position_emb": (1, 100, 384),
        "transformer_encoder.scaleembed_input.scale_emb": (3, 384),
        "transformer_encoder.cls": (1, 1, 384),
        "transformer_encoder.transformer.encoderblock_13.attention.query.bias": (384,),
        "transformer_encoder.transformer.encoderblock_13.mlp.fc1.weight": (1152, 384),
        "transformer_encoder.encoder_norm.weight": (384,),
        "head.weight": (1, 384),
    }
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    assert "head.0.weight" in MUSIQ(MUSIQConfig(num_classes=10)).state_dict()  # AVA: Linear + Softmax


def test_weight_file_round_trip_in_a_vbench_cache(full, tmp_path):
    f = tmp_path / MUSIQ_SPAQ_FILE
    f.parent.mkdir(parents=True)
    torch.save(full.state_dict(), f)  # pyiqa's checkpoints are plain state dicts
    loaded = MUSIQ.from_cache(tmp_path)
    assert not loaded.training
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in full.state_dict().items())


@pytest.mark.parametrize("wrap", ["module", "params", "state_dict"])
def test_checkpoint_wrappers_pyiqa_accepts(tiny, tmp_path, wrap):
    state = tiny.state_dict()
    payload = {f"module.{k}": v for k, v in state.items()} if wrap == "module" else {wrap: state}
    torch.save(payload, tmp_path / "ckpt.pth")
    loaded = MUSIQ.from_file(tmp_path / "ckpt.pth", config=TINY)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in state.items())


def test_missing_weights_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="musiq_spaq_ckpt-358bb6af.pth") as e:
        MUSIQ.from_cache(tmp_path)
    assert str(tmp_path) in str(e.value) and "VBENCH_CACHE_DIR" in str(e.value)
    with pytest.raises(FileNotFoundError, match="pyiqa_model/musiq_spaq_ckpt-358bb6af.pth"):
        registry.build("imaging_quality", backend="vbench", cache_dir=tmp_path)


def test_random_init_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(7)
    expected = torch.rand(1)
    torch.manual_seed(7)
    a, b = MUSIQ.random(seed=3, config=TINY), MUSIQ.random(seed=3, config=TINY)
    assert torch.rand(1) == expected
    c = MUSIQ.random(seed=4, config=TINY)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert not torch.equal(a.embedding.weight, c.embedding.weight)


def test_output_shape_determinism_and_batch_invariance(tiny):
    x = _images(3, 48, 80)
    scores = tiny(x)
    assert scores.shape == (3,) and scores.dtype == torch.float32 and torch.isfinite(scores).all()
    assert torch.equal(tiny(x), scores)
    one_by_one = torch.cat([tiny(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(one_by_one, scores, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        tiny(x[0])


def test_hashed_positions_resize_rows_and_columns_onto_the_grid():
    assert hashed_positions(1, 5, 10).tolist() == [0, 2, 4, 6, 8]
    assert hashed_positions(1, 7, 10).tolist() == [0, 1, 2, 4, 5, 7, 8]
    assert hashed_positions(1, 20, 10).tolist() == [i // 2 for i in range(20)]
    assert hashed_positions(2, 1, 10).tolist() == [0, 50]  # row index * grid size + column index
    assert hashed_positions(10, 10, 10).tolist() == list(range(100))


def test_patches_sit_on_a_centred_same_padded_grid():
    x = torch.arange(40 * 70, dtype=torch.float32).view(1, 1, 40, 70) + 1
    t = patchify(x, patch_size=32, grid_size=10, scale_id=1, max_len=8)
    assert t.patches.shape == (1, 8, 1, 32, 32)  # 2 x 3 patches, padded to 8
    assert t.mask.tolist() == [True] * 6 + [False] * 2
    assert t.scale.tolist() == [1] * 6 + [0] * 2 and t.spatial.tolist() == [0, 3, 6, 50, 53, 56, 0, 0]
    # 64 - 40 = 24 rows of padding, 12 on top; 96 - 70 = 26 columns, 13 on the left
    assert t.patches[0, 0, 0, 12, 13] == x[0, 0, 0, 0] and t.patches[0, 0, 0, :12].abs().sum() == 0
    assert t.patches[0, 4, 0, 0, 0] == x[0, 0, 20, 19]  # patch (1, 1) starts at padded (32, 32)
    assert t.patches[0, 6:].abs().sum() == 0
    assert patchify(x, 32, 10, 0, max_len=4).patches.shape[1] == 4  # cut when too long


@pytest.mark.parametrize(
    "h, w, valid",
    [
        (224, 224, (49, 144, 49)),
        (300, 500, (35, 96, 160)),  # 224: 134x224 -> 5x7; 384: 230x384 -> 8x12; original 10x16
        (512, 384, (42, 108, 192)),  # 224: 224x168 -> 7x6; 384: 384x288 -> 12x9; original 16x12
        (40, 300, (7, 24, 20)),  # 224: 30x224 -> 1x7; 384: 51x384 -> 2x12; original 2x10
    ],
)
def test_multiscale_sequence_for_several_aspect_ratios(tiny, h, w, valid):
    t = multiscale_tokens(_images(2, h, w) * 2 - 1, MUSIQConfig())
    assert t.patches.shape == (2, 49 + 144 + valid[2], 3, 32, 32)
    masks = t.mask.split([49, 144, valid[2]])
    assert [int(m.sum()) for m in masks] == list(valid)
    assert all(m[: int(m.sum())].all() for m in masks)  # real patches first, padding after
    for scale_id, (m, s) in enumerate(zip(masks, t.scale.split([49, 144, valid[2]]))):
        assert (s[m] == scale_id).all()
    scores = tiny(_images(2, h, w))
    assert scores.shape == (2,) and torch.isfinite(scores).all()


def test_attention_ignores_padding_tokens():
    torch.manual_seed(0)
    attn = MaskedSelfAttention(16, 2)
    x = torch.randn(1, 6, 16)
    mask = torch.tensor([True, True, True, True, False, False])
    y = x.clone()
    y[:, 4:] = torch.randn(1, 2, 16) * 10
    torch.testing.assert_close(attn(x, mask)[:, :4], attn(y, mask)[:, :4])


def test_weight_standardisation_ignores_the_scale_of_the_kernel():
    torch.manual_seed(0)
    conv = StdConv2d(4, 8, 3, bias=False)
    x = torch.randn(2, 4, 9, 9)
    y = conv(x)
    assert y.shape == (2, 8, 9, 9)  # 'SAME' padding
    with torch.no_grad():
        conv.weight.mul_(7.0)
    torch.testing.assert_close(conv(x), y, atol=1e-4, rtol=1e-4)


def test_ava_head_scores_are_expected_ratings():
    model = MUSIQ.random(config=dataclasses.replace(TINY, num_classes=10))
    scores = model(_images(2, 40, 40))
    assert ((scores > 1) & (scores < 10)).all()


def test_imaging_quality_metric_runs_with_random_musiq():
    metric = registry.build("imaging_quality", backend="random", batch_size=2)
    assert isinstance(metric, ImagingQuality) and metric.backend == "random-init"
    model = metric.quality_fn
    assert isinstance(model, MUSIQ) and model.config == MUSIQConfig()  # the full SPAQ architecture
    video = (_images(2, 32, 40, seed=1) * 255).round()  # float 0-255, as the readers give frames
    acc = metric.new_video(VideoInfo("v", 16.0, 2, 32, 40))
    acc.update(video)
    window = acc.end_window()
    result = acc.finish()
    expected = model(video / 255.0).mean().item()
    assert result.extra["frames"] == 2
    assert result.extra["musiq_mean"] == pytest.approx(expected, abs=1e-4)
    assert result.value == pytest.approx(expected / 100, abs=1e-6) and window == pytest.approx(result.value)
