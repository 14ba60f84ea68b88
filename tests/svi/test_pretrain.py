"""The toy preset: its architecture, its save/load round trip, and the pretraining recipe (shortened)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from svi.config import ModelConfig, build_config
from svi.model.backbone import TOY_WEIGHTS, build_toy, load_backbone, load_wan_i2v, save_backbone
from svi.model.presets import TOY_WORLD
from svi.training import pretrain


def test_lr_schedule_known_values():
    assert pretrain.lr_at(0, 1.0, 10, 100) == pytest.approx(0.1)
    assert pretrain.lr_at(9, 1.0, 10, 100) == pytest.approx(1.0)
    assert pretrain.lr_at(10, 1.0, 10, 100) == pytest.approx(1.0)  # cosine starts at the peak
    assert pretrain.lr_at(100, 1.0, 10, 100) == pytest.approx(0.1)  # and ends at 10%
    assert pretrain.lr_at(55, 1.0, 10, 100) == pytest.approx(0.55)  # halfway: 0.1 + 0.9 / 2


def test_vae_phases():
    vae = pretrain.VAEStage(
        phases=[{"steps": 3, "num_frames": 5, "batch": 8}, {"steps": 2, "num_frames": 17, "batch": 4}]
    )
    assert vae.steps == 5
    assert [vae.phase_at(i).num_frames for i in range(6)] == [5, 5, 5, 17, 17, 17]
    with pytest.raises(ValueError, match="end vae.phases with num_frames >= 17"):
        pretrain.PretrainConfig.model_validate(
            {"data": {"num_frames": 17}, "vae": {"phases": [{"steps": 9, "num_frames": 5, "batch": 8}]}}
        )
    # A phase with no steps trains nothing, so a 5-frame phase may stand last with steps 0.
    pretrain.PretrainConfig.model_validate(
        {
            "vae": {
                "phases": [
                    {"steps": 9, "num_frames": 17, "batch": 1},
                    {"steps": 0, "num_frames": 5, "batch": 1},
                ]
            }
        }
    )


class _ScalingVAE:
    """Encoding keeps the frames (posterior mode = input); decoding scales by `gain`."""

    def __init__(self, gain: float):
        self.gain = gain

    def encode(self, x):
        return SimpleNamespace(latent_dist=SimpleNamespace(mode=lambda: x))

    def decode(self, z):
        return SimpleNamespace(sample=z * self.gain)


def test_latent_cycle_known_answers():
    frames = torch.linspace(-0.5, 0.5, 2 * 3 * 1 * 4 * 4).view(2, 3, 1, 4, 4)
    assert pretrain.latent_cycle(_ScalingVAE(1.0), frames).item() == 0.0  # idempotent round trip
    # E(D(z)) - z = -0.1 z: the error per channel is 0.01 E[z^2] / Var(z)
    z = frames.transpose(0, 1).flatten(1)
    expected = (0.01 * z.pow(2).mean(1) / z.var(1)).mean()
    assert pretrain.latent_cycle(_ScalingVAE(0.9), frames).item() == pytest.approx(expected.item(), rel=1e-5)


def test_cycle_term_needs_single_frames():
    phases = [
        {"steps": 1, "num_frames": 5, "batch": 1},
        {"steps": 1, "num_frames": 17, "batch": 1, "cycle_weight": 1.0},
    ]
    pretrain.VAEStage(phases=phases)  # image_batch 8 by default
    with pytest.raises(ValueError, match="vae.image_batch > 0"):
        pretrain.VAEStage(phases=phases, image_batch=0)


def test_toy_architecture_fits_the_toy_clip():
    bb = build_toy(seed=0)
    cfg = build_config({"model": {"preset": "toy"}})
    g = cfg.generate
    assert (g.num_frames, g.height, g.width, g.fps) == (17, 64, 64, 8)
    assert bb.latent_shape(g.num_frames, g.height, g.width) == (16, 5, 8, 8)
    n = sum(p.numel() for p in bb.transformer.parameters())
    assert 1_000_000 < n < 5_000_000  # "a few MB": the DiT dominates the checkpoint


def test_save_load_round_trip(tmp_path):
    bb = build_toy(seed=3)
    save_backbone(bb, tmp_path / "toy")
    back = load_backbone(
        ModelConfig(preset="toy", weights=str(tmp_path / "toy"), max_text_tokens=bb.max_text_tokens)
    )
    for a, b in zip(bb.transformer.state_dict().values(), back.transformer.state_dict().values()):
        assert torch.equal(a, b)
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    assert torch.equal(bb.encode_text(["a red circle"]), back.encode_text(["a red circle"]))
    assert torch.equal(bb.encode_image(image), back.encode_image(image))


def test_missing_toy_folder_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="pretrain_toy"):
        load_backbone(ModelConfig(preset="toy", weights=str(tmp_path / "nowhere")))


def test_committed_toy_model_loads_and_makes_a_clip():
    if not (TOY_WEIGHTS / "transformer" / "config.json").is_file():
        pytest.fail(f"the committed toy base model is missing from {TOY_WEIGHTS}")
    from svi.generation.generator import LongVideoGenerator

    cfg = build_config({"model": {"preset": "toy"}, "generate": {"steps": 2}})
    bb = load_backbone(cfg.model)
    assert bb.preset == "toy"
    assert len(bb.vae.config.latents_mean) == 16  # measured on toy clips, not Wan's
    gen = LongVideoGenerator(bb, cfg.generate)
    image = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        video, latent = gen.generate_clip(0, "a red circle", image, None, None, bb.encode_image(image), None)
    assert video.shape == (1, 3, 17, 64, 64) and latent.shape == (1, 16, 5, 8, 8)
    assert torch.isfinite(video).all()


def test_pretrain_runs_and_resumes(clip_folder, tmp_path):
    torch.set_num_threads(1)
    overrides = {
        "data": {"root": str(clip_folder)},
        "vae": {
            "phases": [
                {"steps": 1, "num_frames": 5, "batch": 2},
                {"steps": 1, "num_frames": 17, "batch": 1, "cycle_weight": 0.5, "whole_frames": True},
            ],
            "image_batch": 2,
            "stats_clips": 2,
        },
        "dit": {"steps": 3, "batch": 2, "warmup_steps": 1, "text_dropout": 0.5},
        "checkpoint_every": 2,
        "output_dir": str(tmp_path / "run"),
    }
    cfg = pretrain.PretrainConfig.model_validate(overrides)
    folder = pretrain.pretrain(cfg)
    bb = load_backbone(ModelConfig(preset="toy", weights=str(folder)))
    assert len(bb.vae.config.latents_std) == 16 and min(bb.vae.config.latents_std) > 0
    assert bb.settings()["toy_world"] == TOY_WORLD  # the folder says which toy world it was made for
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["stage"] == "dit"] == [1, 2, 3]
    dropped = [r["dit/text_dropped"] for r in records if r["stage"] == "dit"]
    assert 0 < sum(dropped) < 6  # some of the 6 prompts replaced by the empty one, not all
    vae = [r for r in records if r["stage"] == "vae"]
    assert [r["vae/num_frames"] for r in vae] == [5, 17] and all("vae/l1_image" in r for r in vae)
    assert [r["vae/side"] for r in vae] == [32, 64]  # the stage's crops, then a phase on whole frames
    assert "vae/latent_cycle" not in vae[0] and vae[1]["vae/latent_cycle"] > 0  # the second phase's term
    # A longer schedule on the same folder resumes both stages from their state files.
    longer = cfg.model_copy(update={"dit": cfg.dit.model_copy(update={"steps": 5})})
    pretrain.pretrain(longer)
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["stage"] == "vae"] == [1, 2]
    assert [r["step"] for r in records if r["stage"] == "dit"] == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="from init"):  # its VAE is in another state file
        pretrain.export_checkpoint(tmp_path / "run", tmp_path / "exported")
    with pytest.raises(ValueError, match="no config.yaml"):
        pretrain.export_checkpoint(tmp_path, tmp_path / "exported")


def test_a_wider_vae_changes_the_vae_alone_and_the_folder_records_its_world(tmp_path):
    """vae.base_dim widens the VAE (Wan's class, its latent layout kept); the other parts are drawn as
    before, and the exported folder names the toy world the configuration was for."""
    torch.set_num_threads(1)
    plain = pretrain.initial_backbone(pretrain.PretrainConfig())
    wide = pretrain.initial_backbone(pretrain.PretrainConfig(vae={"base_dim": 24}, toy_world=3))
    assert type(wide.vae) is type(plain.vae)
    assert (plain.vae.config.base_dim, wide.vae.config.base_dim) == (16, 24)
    assert wide.vae.config.z_dim == plain.vae.config.z_dim == 16
    assert wide.vae.config.dim_mult == plain.vae.config.dim_mult  # the same 8x spatial compression
    for a, b in zip(plain.transformer.parameters(), wide.transformer.parameters()):
        assert torch.equal(a, b)
    x = torch.zeros(1, 3, 5, 64, 64)
    assert wide.vae.encode(x).latent_dist.mode().shape == (1, 16, 2, 8, 8)
    folder = pretrain.export(wide, tmp_path / "model", pretrain.PretrainConfig(toy_world=3))
    assert json.loads((folder / "toy_world.json").read_text()) == {"toy_world": 3}


def test_a_dit_width_unlike_the_init_folders_draws_the_dit_and_keeps_the_rest(tmp_path):
    """dit.width builds the DiT at that width (heads of the toy's 32); with `init` of another width the
    DiT starts from the seeded random initialisation and the folder's VAE, umT5 and tokenizer are
    kept; at the folder's own width its DiT is the start, as without a width. The exported folder
    loads at its width through the loader generation uses."""
    torch.set_num_threads(1)
    committed = pretrain.initial_backbone(pretrain.PretrainConfig(init="toy"))
    same = pretrain.initial_backbone(pretrain.PretrainConfig(init="toy", dit={"width": 128}))
    wide = pretrain.initial_backbone(pretrain.PretrainConfig(init="toy", dit={"width": 64}))
    assert pretrain.dit_width(committed.transformer) == pretrain.dit_width(same.transformer) == 128
    assert pretrain.dit_width(wide.transformer) == 64 and wide.transformer.config.num_attention_heads == 2
    assert wide.transformer.config.ffn_dim == 256
    for a, b in zip(committed.transformer.parameters(), same.transformer.parameters()):
        assert torch.equal(a, b)
    for part in ("vae", "text_encoder"):
        for a, b in zip(getattr(committed, part).parameters(), getattr(wide, part).parameters()):
            assert torch.equal(a, b)
    folder = pretrain.export(wide, tmp_path / "model", pretrain.PretrainConfig(toy_world=3))
    loaded = load_wan_i2v(folder, torch.float32, preset="toy")
    assert pretrain.dit_width(loaded.transformer) == 64
    with pytest.raises(ValueError, match="multiple of the head size 32"):
        pretrain.PretrainConfig(dit={"width": 80})


def test_umt5_can_train_with_the_dit_and_leaves_the_frozen_recipe_alone(clip_folder, tmp_path):
    """dit.text_encoder_lr trains umT5 with the DiT (from the committed toy model here) and the exported
    folder carries the trained encoder; it resumes from its state file; unset, umT5 is the init's.
    A two-expert preset, whose experts train one after the other, refuses it."""
    torch.set_num_threads(1)
    start = load_wan_i2v(TOY_WEIGHTS, torch.float32, preset="toy")
    base = {"data": {"root": str(clip_folder)}, "init": "toy", "checkpoint_every": 1}
    dit = {"steps": 2, "batch": 2, "warmup_steps": 1, "text_dropout": 0.5, "windows_per_clip": 1}
    cfg = pretrain.PretrainConfig.model_validate(
        {**base, "dit": {**dit, "text_encoder_lr": 1e-3}, "output_dir": str(tmp_path / "text")}
    )
    folder = pretrain.pretrain(cfg)
    trained = load_wan_i2v(folder, torch.float32, preset="toy")
    moved = [
        not torch.equal(a, b)
        for a, b in zip(start.text_encoder.parameters(), trained.text_encoder.parameters())
    ]
    assert any(moved)
    # Its last checkpoint exports to the folder the finished run wrote (the EMA of its last step).
    again = load_wan_i2v(
        pretrain.export_checkpoint(tmp_path / "text", tmp_path / "again"), torch.float32, preset="toy"
    )
    for part in ("transformer", "text_encoder", "vae"):
        for a, b in zip(getattr(trained, part).parameters(), getattr(again, part).parameters()):
            assert torch.equal(a, b)
    longer = cfg.model_copy(update={"dit": cfg.dit.model_copy(update={"steps": 3})})
    pretrain.pretrain(longer)
    records = [json.loads(x) for x in (tmp_path / "text" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["stage"] == "dit"] == [1, 2, 3]
    frozen = pretrain.pretrain(
        pretrain.PretrainConfig.model_validate({**base, "dit": dit, "output_dir": str(tmp_path / "frozen")})
    )
    kept = load_wan_i2v(frozen, torch.float32, preset="toy")
    for a, b in zip(start.text_encoder.parameters(), kept.text_encoder.parameters()):
        assert torch.equal(a.half(), b.half())  # the folder stores fp16
    with pytest.raises(ValueError, match="two experts"):
        pretrain.PretrainConfig(preset="toy-a14b", dit={"text_encoder_lr": 1e-3})
