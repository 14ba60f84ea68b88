"""The two-expert toy model (toy-a14b): each expert pretrained on its own timestep range, Pro windows."""

from __future__ import annotations

import json

import pytest
import torch

from svi.config import ModelConfig
from svi.model.backbone import TOY_WEIGHTS, load_backbone
from svi.model.presets import get_preset
from svi.training import pretrain

BOUNDARY_T = 875  # t = 1000 x the default expert_boundary 0.875


def test_pro_windows_known_answer():
    # frame f of video v holds the value v * 100 + f, so the windows' frame ids can be read back
    frames = 40
    videos = (torch.arange(2)[:, None] * 100 + torch.arange(frames)[None]).to(torch.uint8)  # [2, 40]
    videos = videos[:, None, :, None, None].expand(2, 3, frames, 2, 2).contiguous()  # [2, 3, 40, 2, 2]
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        target, motion, anchor = pretrain.pro_windows(videos, torch.tensor([1]), 17, g)

        def ids(x):
            return ((x[0, 0, ..., 0, 0] + 1) * 127.5).round().long() - 100

        t, m, a = ids(target), ids(motion), int(ids(anchor[:, :, None])[0])
        assert t.tolist() == list(range(int(t[0]), int(t[0]) + 17))
        # #75: the motion window's last 5 frames (its last latent and the frame before) are the target's first
        assert m.tolist() == list(range(int(t[0]) + 5 - 17, int(t[0]) + 5))
        assert 0 <= a < int(m[0])  # the anchor lies before the motion window


def test_pro_windows_need_long_enough_clips():
    videos = torch.zeros(1, 3, 29, 8, 8, dtype=torch.uint8)  # 17-frame clips need 13 + 17 = 30
    with pytest.raises(ValueError, match="30 frames"):
        pretrain.pro_windows(videos, torch.tensor([0]), 17, torch.Generator())


def test_layouts_do_not_mix():
    with pytest.raises(ValueError, match="mixes layout"):
        pretrain.PretrainConfig.model_validate(
            {"dit": {"conditions": [{"layout": "pro"}, {"cond_frames": 1}]}}
        )


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory):
    from toyworld.synthetic import write_dataset

    root = tmp_path_factory.mktemp("clips33")
    write_dataset(root, categories=("moving",), videos_per_category=2, num_frames=33, height=64, width=64)
    return root


def expert_config(root, out, **dit) -> pretrain.PretrainConfig:
    return pretrain.PretrainConfig.model_validate(
        {
            "preset": "toy-a14b",
            "init": str(TOY_WEIGHTS),
            "data": {"root": str(root)},
            "dit": {
                "steps": 4, "batch": 2, "warmup_steps": 1, "windows_per_clip": 1,
                "conditions": [{"layout": "pro", "motion_latents": 0}, {"layout": "pro", "motion_latents": 1}],
                **dit,
            },
            "output_dir": str(out),
        }
    )  # fmt: skip


def test_each_expert_trains_on_its_own_range(long_clips, tmp_path):
    torch.set_num_threads(1)
    folder = pretrain.pretrain(expert_config(long_clips, tmp_path / "run"))
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    high = [r for r in records if r["stage"] == "dit_high"]
    low = [r for r in records if r["stage"] == "dit_low"]
    assert [r["step"] for r in high] == [1, 2, 3, 4] and [r["step"] for r in low] == [1, 2, 3, 4]
    assert min(r["dit/t_min"] for r in high) >= BOUNDARY_T  # the high-noise expert: t >= 875 only
    # the low-noise expert: t < 875 only (in float64; the float32 timestep of the id just below the
    # boundary rounds to 875.0)
    assert max(r["dit/t_max"] for r in low) <= BOUNDARY_T
    assert not any(r["stage"] == "vae" for r in records)  # init: the toy's VAE, no VAE stage

    bb = load_backbone(ModelConfig(preset="toy-a14b", weights=str(folder)))
    assert bb.image_encoder is None and bb.transformer_2 is not None
    assert bb.transformer.config.image_dim is None  # no CLIP image branch, as Wan 2.2 A14B
    toy = load_backbone(ModelConfig(preset="toy"))
    for name, p in bb.vae.state_dict().items():  # the toy's VAE, as Wan 2.2 A14B keeps Wan 2.1's
        assert torch.equal(p, toy.vae.state_dict()[name]), name
    high_w, low_w = bb.transformer.state_dict(), bb.transformer_2.state_dict()
    assert any(not torch.equal(high_w[k], low_w[k]) for k in high_w)  # trained apart, they differ
    made = json.loads((folder / pretrain.EXPERTS_FILE).read_text())
    assert made == {"expert_boundary": 0.875, "init": str(TOY_WEIGHTS)}


def test_committed_toy_a14b_has_two_different_experts():
    p = get_preset("toy-a14b")
    assert p.experts == 2 and not p.image_encoder
    bb = load_backbone(ModelConfig(preset="toy-a14b"))
    high, low = bb.transformer.state_dict(), bb.transformer_2.state_dict()
    assert high.keys() == low.keys()
    differ = [k for k in high if not torch.equal(high[k], low[k])]
    assert len(differ) > len(high) // 2, "the committed experts should differ in most tensors"
    made = json.loads((p.committed_weights / pretrain.EXPERTS_FILE).read_text())
    assert made["expert_boundary"] == 0.875


def test_init_from_another_worlds_base_is_refused(tmp_path):
    """A base model is made for one toy world; experts pretrained for another from it would learn a
    world their VAE never saw, so the start is refused before anything loads, saying what to use."""
    from svi.model.presets import TOY_WORLD, toy_world_of

    assert toy_world_of(TOY_WEIGHTS) == TOY_WORLD
    other = 3 if TOY_WORLD == 2 else 2
    raw = {**expert_config(tmp_path, tmp_path / "run").model_dump(), "toy_world": other}
    with pytest.raises(
        ValueError, match=f"made for toy world {TOY_WORLD}, this pretraining is for world {other}"
    ):
        pretrain.PretrainConfig.model_validate(raw)  # refused when the configuration is read


def test_state_files_hold_cpu_tensors_only():
    """States are written from CPU copies (`to_cpu`), so one written on a GPU resumes on a CPU machine;
    the structure (dicts, lists, tuples, plain values) is kept as it was."""
    state = {"model": {"w": torch.ones(2)}, "pick": (3, (1, 2), None), "steps": [torch.zeros(1), 5]}
    moved = pretrain.to_cpu(state)
    assert moved["pick"] == (3, (1, 2), None) and moved["steps"][1] == 5
    assert all(t.device.type == "cpu" for t in (moved["model"]["w"], moved["steps"][0]))
    with pytest.raises(ValueError, match="device"):
        pretrain.PretrainConfig(device="gpu")  # cpu, cuda or cuda:N
