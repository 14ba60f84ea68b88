"""Diffusion Forcing and clip-level Self-Forcing (svi/training/forcing.py): known answers of the formulas, the
configuration's rules and hashes, the data they read, and short training runs on the tiny preset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from svi import flow
from svi.config import ConfigError, ERFTConfig, ForcingConfig, MemoryConfig, load_config
from svi.training.clips import draw_window, previous_frame_ids
from svi.training.data import VideoClipDataset, collate
from svi.training.erft import Recycler, weighted_mse
from svi.training.forcing import (
    SelfForcing,
    euler_rollout,
    frame_timesteps_to_tokens,
    frame_weighted_mse,
    interpolate_frames,
    memory_layout,
    rollout_sigmas,
    tokens_per_frame,
)
from svi.training.memory import ReplayMemory
from toyworld.synthetic import write_dataset, write_video

DF = ForcingConfig(kind="diffusion")
FRAME = (16, 1, 4, 4)  # a frame entry [C, 1, h, w] of the memory under Diffusion Forcing + ERFT


# ------------------------------------------------------------------------------- configuration
def test_configs_without_a_forcing_dump_and_hash_as_before():
    from harness.declare.plan import train_hash

    default = load_config(None)
    assert "forcing" not in default.model_dump(mode="json")  # so the stage hashes of older runs hold
    # kind none makes its other settings moot: still left out
    moot = load_config(None, ["forcing.kind=none", "forcing.rollout_steps=9"])
    assert "forcing" not in moot.model_dump(mode="json") and train_hash(moot) == train_hash(default)
    df = load_config(None, ["forcing.kind=diffusion"])
    assert df.model_dump(mode="json")["forcing"] == {"kind": "diffusion"}  # rollout_steps is moot there
    assert train_hash(df) != train_hash(default)
    sf = load_config(None, ["forcing.kind=self", "erft.mode=plain"])
    assert sf.model_dump(mode="json")["forcing"] == {"kind": "self", "rollout_steps": 4}
    more = load_config(None, ["forcing.kind=self", "erft.mode=plain", "forcing.rollout_steps=8"])
    assert train_hash(more) != train_hash(sf)


def test_shipped_arms_without_a_forcing_dump_without_a_forcing_section():
    from tests.harness.mini import shipped_experiments

    for name, exp, path in shipped_experiments():
        for arm in getattr(exp, "arms", {}):
            cfg = exp.arm_config(arm, path)
            if cfg.forcing.kind != "none":  # the mechanisms experiment's forcing arms: theirs is new
                continue
            assert "forcing" not in cfg.model_dump(mode="json"), (name, arm)


def test_save_round_trip_with_a_forcing(tmp_path):
    from svi.config import save_config

    cfg = load_config(None, ["forcing.kind=self", "erft.mode=plain", "forcing.rollout_steps=2"])
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["forcing.kind=self"], "set erft.mode=plain"),  # ERFT is on by default
        (["forcing.kind=self", "erft.mode=plain", "variant=talk"], "only the Shot / Film data layout"),
        (["forcing.kind=rolling"], "forcing.kind: Input should be 'none', 'diffusion' or 'self'"),
        (["forcing.rollout_steps=0"], "forcing.rollout_steps"),
        (["forcing.bogus=1"], "forcing.bogus: unknown key"),
    ],
)
def test_combinations_that_make_no_sense_are_config_errors(overrides, needle):
    with pytest.raises(ConfigError) as e:
        load_config(None, overrides)
    assert needle in str(e.value)


def test_combinations_that_make_sense_validate():
    assert load_config(None, ["forcing.kind=diffusion"]).erft.mode == "erft"  # Diffusion Forcing + ERFT
    assert load_config(None, ["forcing.kind=diffusion", "erft.mode=plain"]).forcing.kind == "diffusion"
    assert load_config(None, ["forcing.kind=self", "erft.mode=plain", "variant=film"]).data.cond_frames == 5


# ----------------------------------------------------------------- Diffusion Forcing: formulas
def test_equal_frame_levels_are_the_one_level_inputs_and_loss():
    g = torch.Generator().manual_seed(0)
    x0, eps, v = (torch.randn(2, 16, 3, 4, 4, generator=g) for _ in range(3))
    sigma = torch.tensor([0.3, 0.9])
    per_frame = sigma[:, None].expand(2, 3)
    assert torch.equal(interpolate_frames(x0, eps, per_frame), flow.interpolate(x0, eps, sigma))
    target = flow.velocity(x0, eps)
    w = torch.tensor([0.5, 2.0])
    torch.testing.assert_close(
        frame_weighted_mse(v, target, w[:, None].expand(2, 3)), weighted_mse(v, target, w), rtol=1e-6, atol=0
    )


def test_frame_levels_known_answers():
    x0, eps = torch.zeros(1, 2, 3, 1, 1), torch.ones(1, 2, 3, 1, 1)
    x_t = interpolate_frames(x0, eps, torch.tensor([[0.0, 0.25, 1.0]]))
    assert x_t[0, :, :, 0, 0].tolist() == [[0.0, 0.25, 1.0]] * 2  # frame f at its own sigma_f
    # per-frame squared errors 1, 4, 9 with weights 1, 0, 2: (1 + 0 + 18) / 3
    v = torch.tensor([1.0, 2.0, 3.0]).view(1, 1, 3, 1, 1).expand(1, 2, 3, 1, 1)
    loss = frame_weighted_mse(v, torch.zeros_like(v), torch.tensor([[1.0, 0.0, 2.0]]))
    assert loss.item() == pytest.approx(19 / 3)


def test_per_token_timesteps_are_frame_major():
    t = torch.tensor([[10.0, 20.0, 30.0]])
    assert frame_timesteps_to_tokens(t, 2).tolist() == [[10, 10, 20, 20, 30, 30]]
    assert tokens_per_frame((1, 2, 2), (60, 104)) == 30 * 52  # Wan at 480x832
    with pytest.raises(ValueError, match="temporal patch size of 1"):
        tokens_per_frame((2, 2, 2), (4, 4))


def test_transformer_takes_equal_per_token_levels_as_one_level():
    """diffusers' Wan transformer with a [B, tokens] timestep of equal values gives the [B] output; with
    one frame's level changed, the output changes (the per-token levels reach the model)."""
    from svi.model.backbone import build_tiny

    model = build_tiny().transformer.eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 36, 3, 4, 4, generator=g)
    context = torch.randn(2, 8, model.config.text_dim, generator=g)
    t = torch.tensor([300.0, 800.0])
    n = tokens_per_frame(model.config.patch_size, (4, 4))
    per_token = frame_timesteps_to_tokens(t[:, None].expand(2, 3), n)  # [2, 12]
    with torch.no_grad():
        one = model(x, t, context, return_dict=False)[0]
        many = model(x, per_token, context, return_dict=False)[0]
        other = model(
            x, frame_timesteps_to_tokens(torch.tensor([[300.0, 300, 50], [800, 800, 800]]), n), context
        )
    torch.testing.assert_close(many, one, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(other.sample[0], one[0], atol=1e-4)
    torch.testing.assert_close(other.sample[1], one[1], rtol=1e-5, atol=1e-6)


def test_recycler_draws_a_level_per_frame():
    g = torch.Generator().manual_seed(2)
    x0, y = torch.randn(2, 16, 3, 4, 4, generator=g), torch.randn(2, 20, 3, 4, 4, generator=g)
    rec = Recycler(ERFTConfig(mode="plain"), None, seed=4, forcing=DF)
    prep = rec.prepare(x0, y)
    replay = torch.Generator().manual_seed(4)  # the recycler's draws, in order
    ids = torch.randint(0, 1000, (2, 3), generator=replay)
    eps = torch.randn(x0.shape, generator=replay)
    sigma = flow.shifted_sigmas(1000)[ids].float()
    assert prep.per_frame and prep.sigma.shape == (2, 3)
    torch.testing.assert_close(prep.sigma, sigma)
    torch.testing.assert_close(prep.x_t, interpolate_frames(x0, eps, sigma))
    torch.testing.assert_close(prep.target, eps - x0)
    torch.testing.assert_close(prep.weight, flow.training_loss_weights()[ids].float())
    assert torch.equal(prep.y, y)  # the condition latent stays clean in y, mask untouched
    t = prep.model_timestep((1, 2, 2))
    assert t.shape == (2, 12) and torch.equal(t[:, ::4], prep.timestep)
    v = torch.randn(x0.shape, generator=g)
    assert rec.loss(v, prep).item() == pytest.approx(frame_weighted_mse(v, prep.target, prep.weight).item())
    # without Diffusion Forcing the same recycler draws one level per clip, as before
    one = Recycler(ERFTConfig(mode="plain"), None, seed=4).prepare(x0, y)
    assert one.sigma.shape == (2,) and torch.equal(one.model_timestep((1, 2, 2)), one.timestep)


# --------------------------------------------------------- Diffusion Forcing + ERFT: frame slots
def _frame_memory(capacity: int = 4) -> ReplayMemory:
    return ReplayMemory(
        FRAME, flow.shifted_sigmas(50), capacity=capacity, budget_bytes=1 << 24, dtype=torch.float32
    )


def test_memory_layout_holds_frames_with_the_same_bytes():
    mem = MemoryConfig(capacity=500)
    assert memory_layout(ForcingConfig(), mem, (16, 21, 60, 104)) == ((16, 21, 60, 104), mem)
    shape, frames = memory_layout(DF, mem, (16, 21, 60, 104))
    assert shape == (16, 1, 60, 104) and frames.capacity == 500 * 21
    clips = ReplayMemory((16, 3, 4, 4), flow.shifted_sigmas(50), budget_bytes=1 << 20)
    with pytest.raises(ValueError, match="memory_layout"):
        Recycler(ERFTConfig(), clips, forcing=DF)


def test_each_frame_gets_errors_of_its_own_level():
    """A frame at sigma_f gets E_noi / E_vid from slot(sigma_f): with entries that name their slot the
    recycled target of frame f is eps - x0 + slot(sigma_f), and its input x0 + 100 + slot(sigma_f)."""
    mem = _frame_memory()
    for slot, s in enumerate(flow.shifted_sigmas(50).tolist()):
        mem.bank(s, torch.full(FRAME, float(slot)), torch.full(FRAME, 100.0 + slot))
    g = torch.Generator().manual_seed(3)
    x0, y = torch.randn(2, 16, 3, 4, 4, generator=g), torch.randn(2, 20, 3, 4, 4, generator=g)
    cfg = ERFTConfig(p_noi=1, p_vid=1, p_img=1, p_clean=0, y_error_num=2)
    prep = Recycler(cfg, mem, seed=7, forcing=DF).prepare(x0, y)
    replay = torch.Generator().manual_seed(7)
    torch.randint(0, 1000, (2, 3), generator=replay)
    eps = torch.randn(x0.shape, generator=replay)
    slots = torch.tensor([[mem.slot(s) for s in row] for row in prep.sigma.tolist()], dtype=torch.float32)
    e = slots[:, None, :, None, None]  # [B, 1, F, 1, 1]
    torch.testing.assert_close(prep.target, eps + e - x0)
    torch.testing.assert_close(prep.x_t, interpolate_frames(x0 + 100 + e, eps + e, prep.sigma))
    # E_img: the first y_error_num frames of y's VAE channels got a frame from some slot
    added = prep.y[:, 4:] - y[:, 4:]
    assert (added[:, :, :2] >= 100).all() and torch.equal(added[:, :, 2], torch.zeros_like(added[:, :, 2]))
    assert torch.equal(prep.y[:, :4], y[:, :4])
    assert all(gt.noi and gt.vid and gt.img for gt in prep.injected)


def test_bank_puts_each_frame_in_the_slot_of_its_level():
    mem = _frame_memory(capacity=64)
    rec = Recycler(ERFTConfig(p_clean=0), mem, seed=5, forcing=DF)
    g = torch.Generator().manual_seed(0)
    x0, y = torch.randn(2, 16, 3, 4, 4, generator=g), torch.randn(2, 20, 3, 4, 4, generator=g)
    prep = rec.prepare(x0, y)
    v = prep.target + 0.5
    assert rec.bank(v, prep) == 6  # 2 samples x 3 frames
    expected = torch.zeros(50, dtype=torch.long)
    for s in prep.sigma.flatten().tolist():
        expected[mem.slot(s)] += 1
    assert torch.equal(mem.noise.counts.long(), expected)
    # a frame alone in its slot: E_noi = (1 - sigma_f)(v^ - V), E_vid = sigma_f (V - v^) of that frame
    alone = [s for s in prep.sigma.flatten().tolist() if expected[mem.slot(s)] == 1]
    assert alone  # (seeded: most of the 6 frames land in slots of their own)
    for s in alone:
        torch.testing.assert_close(mem.sample_noise(s), torch.full(FRAME, (1 - s) * 0.5))
        torch.testing.assert_close(mem.sample_clean(s), torch.full(FRAME, -s * 0.5))


# ---------------------------------------------------------------------------- Self-Forcing: math
def test_euler_rollout_lands_on_the_point_mass_in_any_number_of_steps():
    """For data that is one point x*, the exact velocity is (x - x*) / sigma; Euler integration of it
    from sigma = 1 to 0 ends exactly at x*."""
    target = torch.tensor([[1.5, -2.0]])
    for steps in (1, 3, 10):
        sigmas = rollout_sigmas(steps, 5.0)
        assert sigmas[0] == 1 and sigmas[-1] == 0 and len(sigmas) == steps + 1
        out = euler_rollout(lambda x, s: (x - target) / s, torch.randn(1, 2), sigmas)
        torch.testing.assert_close(out, target)


# ----------------------------------------------------------------------------------------- data
def _brightness_video(path: Path, num_frames: int, step: int = 8) -> None:
    """Frame i is uniformly grey with value 16 + i * step (so a decoded frame says which it is)."""
    values = 16 + step * np.arange(num_frames)
    frames = np.broadcast_to(values[:, None, None, None], (num_frames, 32, 32, 3)).astype(np.uint8)
    write_video(path, np.ascontiguousarray(frames))


def _frame_index(pixels: torch.Tensor, step: int = 8) -> int:
    return round(((pixels.mean().item() + 1) * 127.5 - 16) / step)


def test_previous_frame_ids_known_answers():
    # clip k-1's last K frames are clip k's first K frames
    assert previous_frame_ids(list(range(8, 17)), 9, 1, 1) == [0]
    assert previous_frame_ids(list(range(10, 19)), 9, 2, 1) == [3, 4]
    assert previous_frame_ids(list(range(20, 37, 2)), 9, 2, 2) == [6, 8]
    assert previous_frame_ids(list(range(7, 16)), 9, 1, 1) is None  # would start at frame -1


def test_min_start_draws_clips_with_a_clip_before_them():
    starts = {draw_window(0, 0, i, 30, 9, 1, "window", min_start=8).frame_ids[0] for i in range(200)}
    assert min(starts) == 8 and max(starts) == 21
    # a video too short for it: the ordinary draw over all starts
    short = {draw_window(0, 0, i, 12, 9, 1, "window", min_start=8).frame_ids[0] for i in range(100)}
    assert short == {0, 1, 2, 3}
    assert [draw_window(1, 2, i, 30, 9, 1, "window").frame_ids for i in range(20)] == [
        draw_window(1, 2, i, 30, 9, 1, "window", min_start=0).frame_ids for i in range(20)
    ]


def test_dataset_gives_the_previous_clips_first_frames(tmp_path, caplog):
    folder = tmp_path / "grey"
    folder.mkdir()
    _brightness_video(folder / "long.mp4", 24)
    _brightness_video(folder / "short.mp4", 12)
    pd.DataFrame(
        [("long.mp4", "long"), ("short.mp4", "short")], columns=["Filename", "Video Description"]
    ).to_csv(folder / "grey.csv", index=False)
    with caplog.at_level("WARNING", logger="svi.training.data"):
        ds = VideoClipDataset(tmp_path, num_frames=9, height=32, width=32, previous_frames=2)
    assert "1 of 2 videos" in caplog.text and "shorter than 16 frames" in caplog.text
    before_window = 0
    for epoch in range(8):
        ds.set_epoch(epoch)
        long, short = ds[0], ds[1]
        first = _frame_index(long["video"][:, 0])
        assert first >= 7 and long["has_previous"]  # the clip before starts 7 frames earlier
        assert [_frame_index(long["previous"][:, j]) for j in range(2)] == [first - 7, first - 6]
        # the previous clip's padding frame: a frame of its own window (frames first - 7 .. first + 1)
        ref = _frame_index(long["previous_reference"])
        assert first - 7 <= ref <= first + 1 and first <= _frame_index(long["reference"]) <= first + 8
        before_window += ref < first
        assert not short["has_previous"] and torch.equal(short["previous"], torch.zeros(3, 2, 32, 32))
        assert torch.equal(short["previous_reference"], torch.zeros(3, 32, 32))
    assert before_window  # not confined to the training clip's window
    batch = collate([long, short])
    assert batch["previous"].shape == (2, 3, 2, 32, 32) and batch["has_previous"].tolist() == [True, False]
    assert batch["previous_reference"].shape == (2, 3, 32, 32)
    plain = VideoClipDataset(tmp_path, num_frames=9, height=32, width=32)
    assert "previous" not in plain[0] and "has_previous" not in collate([plain[0]])


# ------------------------------------------------------------------------- training on tiny
@pytest.fixture(scope="module")
def clips_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("forcing_clips")
    # 24 frames: a 9-frame clip has a clip before it from start 8 on
    write_dataset(root, categories=("moving",), videos_per_category=2, num_frames=24, height=32, width=32)
    return root


class TinyRun:
    """The training loop body of svi.training.train on the tiny preset, without DeepSpeed: forward_loss ->
    backward -> AdamW -> bank, with the checkpointed state (LoRA, optimizer, recycler, memory)."""

    def __init__(self, root: Path, overrides: list[str]):
        from svi.model.backbone import load_backbone
        from svi.model.lora import add_lora
        from svi.training.data import training_clips

        self.cfg = load_config(
            None,
            ["model.preset=tiny", f"data.root={root}", "lora.rank=4", "lora.alpha=4", "memory.capacity=2",
             "memory.budget_bytes=16777216", "erft.p_noi=0.5", "erft.p_clean=0", "forcing.rollout_steps=2",
             *overrides],
        )  # fmt: skip
        cfg = self.cfg
        self.backbone = load_backbone(cfg.model, seed=0)
        torch.manual_seed(0)
        add_lora(self.backbone.transformer, cfg.lora)
        self.backbone.transformer.train()
        self.clips = training_clips(cfg)
        self.memory = None
        if cfg.erft.mode == "erft":
            shape, mem_cfg = memory_layout(
                cfg.forcing, cfg.memory, self.backbone.latent_shape(cfg.data.num_frames, 32, 32)
            )
            self.memory = ReplayMemory.from_config(mem_cfg, shape, shift=5.0, seed=1)
        self.recycler = Recycler(cfg.erft, self.memory, seed=2, forcing=cfg.forcing)
        self.self_forcing = SelfForcing(cfg.forcing, cfg.data) if cfg.forcing.kind == "self" else None
        self.params = [p for p in self.backbone.transformer.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=1e-2)
        self.step = 0

    def train(self, steps: int) -> list[tuple[float, int]]:
        from svi.training.train import forward_loss

        out = []
        for _ in range(steps):
            self.clips.set_epoch(self.step)
            batch = collate([self.clips[0], self.clips[1]])
            loss, v, prep, fallbacks = forward_loss(
                self.backbone.transformer,
                self.backbone,
                batch,
                self.cfg,
                self.recycler,
                "cpu",
                self.self_forcing,
            )
            loss.backward()
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            self.recycler.bank(v, prep)
            self.step += 1
            out.append((loss.item(), fallbacks))
        return out

    def lora(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.params]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({"lora": self.lora(), "opt": self.opt.state_dict(), "rng": self.recycler.state_dict(),
                    "step": self.step}, folder / "state.pt")  # fmt: skip
        if self.memory is not None:
            self.memory.save_checkpoint(folder, 0)

    def load(self, folder: Path) -> None:
        state = torch.load(folder / "state.pt", weights_only=False)
        with torch.no_grad():
            for p, saved in zip(self.params, state["lora"]):
                p.copy_(saved)
        self.opt.load_state_dict(state["opt"])
        self.recycler.load_state_dict(state["rng"])
        self.step = state["step"]
        if self.memory is not None:
            self.memory.load_checkpoint(folder, 0)


MECHANISMS = {
    "diffusion": ["forcing.kind=diffusion", "erft.mode=plain"],
    "diffusion+erft": ["forcing.kind=diffusion"],
    "self": ["forcing.kind=self", "erft.mode=plain"],
}


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_short_training_run_of_each_mechanism(clips_root, mechanism):
    run = TinyRun(clips_root, MECHANISMS[mechanism])
    before = run.lora()
    results = run.train(2)
    assert all(np.isfinite(loss) for loss, _ in results)
    assert any(not torch.equal(a, b) for a, b in zip(before, run.lora()))  # the LoRA trained
    if mechanism == "self":
        assert [f for _, f in results] == [0, 0]  # 24-frame videos: every clip has a clip before it
    if mechanism == "diffusion+erft":
        assert len(run.memory.noise) == 2 * 2 * 3  # steps x samples x latent frames, one entry each
        assert run.memory.entry_shape == (16, 1, 4, 4)


def test_self_forcing_conditions_on_the_rollout_and_falls_back_without_a_previous_clip(clips_root):
    run = TinyRun(clips_root, MECHANISMS["self"])
    batch = collate([run.clips[0], run.clips[1]])
    batch["has_previous"] = torch.tensor([True, False])  # as a clip at the start of its video
    model = run.backbone.transformer
    state = run.recycler.generator.get_state()
    cond, fell_back = run.self_forcing.condition_frames(
        model, run.backbone, batch, run.recycler.generator, "cpu", torch.float32
    )
    assert fell_back == [False, True] and cond.shape == (2, 3, 1, 32, 32) and model.training
    assert torch.equal(cond[1], batch["video"][1, :, :1])  # clean condition: the clip's own first frame
    assert not torch.allclose(cond[0], batch["video"][0, :, :1], atol=1e-3)  # the rollout's last frame
    run.recycler.generator.set_state(state)  # the same draws: the same rollout
    again, _ = run.self_forcing.condition_frames(
        model, run.backbone, batch, run.recycler.generator, "cpu", torch.float32
    )
    assert torch.equal(again, cond)
    batch["previous"] = batch["previous"].flip(-1)  # it starts from the previous clip's true frames
    run.recycler.generator.set_state(state)
    other, _ = run.self_forcing.condition_frames(
        model, run.backbone, batch, run.recycler.generator, "cpu", torch.float32
    )
    assert not torch.equal(other[0], cond[0]) and torch.equal(other[1], cond[1])
    with pytest.raises(ValueError, match="previous_frames"):
        run.self_forcing.condition_frames(
            model, run.backbone, {"video": batch["video"]}, run.recycler.generator, "cpu", torch.float32
        )


def test_self_forcing_pads_the_rollout_with_the_previous_clips_frame(clips_root, monkeypatch):
    """The rollout of clip k-1 is padded as training pads clip k-1: with a frame of clip k-1's window
    (batch["previous_reference"]), not of the training clip's window (batch["reference"]), which holds the
    frames the rollout is to reach."""
    import svi.training.forcing

    run = TinyRun(clips_root, MECHANISMS["self"])
    batch = collate([run.clips[0], run.clips[1]])
    batch["has_previous"] = torch.tensor([False, True])
    seen = []
    build = svi.training.forcing.build_condition
    monkeypatch.setattr(
        svi.training.forcing,
        "build_condition",
        lambda bb, cond, n, pad, ref, mask: seen.append(ref) or build(bb, cond, n, pad, ref, mask),
    )
    run.self_forcing.condition_frames(
        run.backbone.transformer, run.backbone, batch, run.recycler.generator, "cpu", torch.float32
    )
    assert len(seen) == 1 and torch.equal(seen[0], batch["previous_reference"][1:])
    assert not torch.equal(seen[0], batch["reference"][1:])


@pytest.mark.parametrize("mechanism", ["diffusion+erft", "self"])
@pytest.mark.bitwise(
    "every draw comes from checkpointed generators and the restored step runs the same operations on the same tensors in one process"
)
def test_resumed_run_equals_uninterrupted(clips_root, tmp_path, mechanism):
    """Every draw of the mechanisms (levels per frame, rollout noise, memory sampling) comes from
    checkpointed generators: stopped after a step and restored, a run ends where it would have."""
    full = TinyRun(clips_root, MECHANISMS[mechanism])
    full.train(2)
    cut = TinyRun(clips_root, MECHANISMS[mechanism])
    cut.train(1)
    cut.save(tmp_path / "ckpt")
    resumed = TinyRun(clips_root, MECHANISMS[mechanism])
    resumed.load(tmp_path / "ckpt")
    resumed.train(1)
    assert all(torch.equal(a, b) for a, b in zip(full.lora(), resumed.lora()))
    if full.memory is not None:
        for bank in ("noise", "clean"):
            a, b = getattr(full.memory, bank).state_dict(), getattr(resumed.memory, bank).state_dict()
            for key in ("data", "rows", "count", "used_rows"):
                same = torch.equal(a[key], b[key]) if isinstance(a[key], torch.Tensor) else a[key] == b[key]
                assert same, f"{bank}.{key}"
