"""ERFT step: curation formulas, recycled target, injection frequencies and placement (docs/method.md §3)."""

import pytest
import torch

from svi import flow
from svi.config import ERFTConfig
from svi.training.erft import (
    Gates,
    Recycler,
    add_image_error,
    curate_errors,
    draw_gates,
    recycled_target,
    weighted_mse,
)
from svi.training.memory import ReplayMemory

SHAPE = (16, 3, 4, 4)  # [C, F_lat, h, w]


def test_curation_known_answers():
    v_pred = torch.full((2, 3), 3.0)
    target = torch.full((2, 3), 1.0)
    noi, vid = curate_errors(v_pred, target, torch.tensor([0.25, 1.0]))
    # E_noi = (1 - sigma)(v^ - V), E_vid = sigma (V - v^)
    torch.testing.assert_close(noi, torch.tensor([[1.5] * 3, [0.0] * 3]))
    torch.testing.assert_close(vid, torch.tensor([[-0.5] * 3, [-2.0] * 3]))


def test_curated_errors_are_the_one_step_endpoint_misses():
    x0, eps = torch.randn(4, 10), torch.randn(4, 10)
    sigma = torch.rand(4)
    xt = flow.interpolate(x0, eps, sigma)
    target = flow.velocity(x0, eps)
    v_pred = target + 0.1 * torch.randn(4, 10)
    noi, vid = curate_errors(v_pred, target, sigma)
    torch.testing.assert_close(flow.predict_eps(xt, v_pred, sigma) - eps, noi)
    torch.testing.assert_close(flow.predict_x0(xt, v_pred, sigma) - x0, vid)


def test_recycled_target_uses_clean_x0():
    x0, eps, e = torch.randn(3), torch.randn(3), torch.randn(3)
    torch.testing.assert_close(recycled_target(eps + e, x0), eps + e - x0)


def test_weighted_mse():
    v = torch.zeros(2, 4)
    t = torch.stack([torch.full((4,), 1.0), torch.full((4,), 2.0)])
    assert weighted_mse(v, t, torch.tensor([1.0, 0.5])).item() == pytest.approx((1.0 * 1 + 0.5 * 4) / 2)


def test_image_error_touches_only_vae_channels_of_first_frames():
    y = torch.zeros(20, 5, 2, 2)
    err = torch.arange(5.0).view(1, 5, 1, 1).expand(16, 5, 2, 2)
    out = add_image_error(y, err, num_frames=2, start=3)
    assert torch.all(out[:4] == 0)  # mask untouched
    assert torch.all(out[4:, 0] == 3) and torch.all(out[4:, 1] == 4)  # window [3, 5) of the error
    assert torch.all(out[4:, 2:] == 0)
    assert torch.all(y == 0)  # input not modified


def _rates(cfg: ERFTConfig, n: int = 20000, seed: int = 0) -> dict[str, float]:
    g = torch.Generator().manual_seed(seed)
    counts = {"noi": 0, "vid": 0, "img": 0, "clean": 0}
    for _ in range(n):
        gates = draw_gates(cfg, g)
        counts["noi"] += gates.noi
        counts["vid"] += gates.vid
        counts["img"] += gates.img
        counts["clean"] += not gates.any
    return {k: v / n for k, v in counts.items()}


def test_injection_frequencies_match_probabilities():
    cfg = ERFTConfig(p_noi=0.3, p_vid=0.6, p_img=0.9, p_clean=0.2)
    r = _rates(cfg)
    tol = 0.015  # > 4 standard errors at n = 20000
    assert r["noi"] == pytest.approx(0.8 * 0.3, abs=tol)
    assert r["vid"] == pytest.approx(0.8 * 0.6, abs=tol)
    assert r["img"] == pytest.approx(0.8 * 0.9, abs=tol)
    assert r["clean"] == pytest.approx(0.2 + 0.8 * 0.7 * 0.4 * 0.1, abs=tol)
    assert _rates(cfg) == r  # fixed seed, same draws


def test_switched_off_errors_and_plain_mode():
    assert _rates(ERFTConfig(p_img=0.0), n=3000)["img"] == 0
    assert _rates(ERFTConfig(p_clean=1.0), n=3000)["clean"] == 1
    plain = _rates(ERFTConfig(mode="plain", p_noi=1, p_vid=1, p_img=1, p_clean=0), n=500)
    assert plain["clean"] == 1


def _memory_with(value_noise: float, value_clean: float) -> ReplayMemory:
    mem = ReplayMemory(SHAPE, flow.shifted_sigmas(50), capacity=4, budget_bytes=1 << 24, dtype=torch.float32)
    for s in flow.shifted_sigmas(50):
        mem.bank(float(s), torch.full(SHAPE, value_noise), torch.full(SHAPE, value_clean))
    return mem


def _batch(b: int = 2):
    return torch.randn(b, *SHAPE), torch.randn(b, 20, *SHAPE[1:])


def test_prepare_injects_each_error_where_it_belongs():
    x0, y = _batch()
    cfg = ERFTConfig(p_noi=1, p_vid=1, p_img=1, p_clean=0, y_error_num=2)
    rec = Recycler(cfg, _memory_with(10.0, 100.0), seed=1)
    prep = rec.prepare(x0, y)
    assert all(g.noi and g.vid and g.img for g in prep.injected)
    # Replay the draws to recover eps: the recycled target is eps + E_noi - x0 (clean x0).
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 1000, (2,), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    sigma = flow.shifted_sigmas(1000)[ids].float()
    torch.testing.assert_close(prep.sigma, sigma)
    torch.testing.assert_close(prep.target, eps + 10.0 - x0)
    torch.testing.assert_close(prep.x_t, flow.interpolate(x0 + 100.0, eps + 10.0, sigma))
    torch.testing.assert_close(prep.y[:, :4], y[:, :4])
    torch.testing.assert_close(prep.y[:, 4:, :2], y[:, 4:, :2] + 100.0)
    torch.testing.assert_close(prep.y[:, 4:, 2:], y[:, 4:, 2:])
    torch.testing.assert_close(prep.weight, flow.training_loss_weights()[ids].float())


def test_empty_memory_and_plain_mode_give_clean_flow_matching():
    x0, y = _batch()
    empty = ReplayMemory(SHAPE, flow.shifted_sigmas(50), capacity=4, budget_bytes=1 << 24)
    for rec in (
        Recycler(ERFTConfig(p_noi=1, p_vid=1, p_img=1, p_clean=0), empty, seed=3),
        Recycler(ERFTConfig(mode="plain"), None, seed=3),
    ):
        prep = rec.prepare(x0, y)
        g = torch.Generator().manual_seed(3)
        torch.randint(0, 1000, (2,), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        torch.testing.assert_close(prep.target, eps - x0)
        torch.testing.assert_close(prep.y, y)
        assert not any(gt.any for gt in prep.injected)


def test_bank_closes_the_loop_and_respects_clean_update_prob():
    x0, y = _batch(1)
    mem = ReplayMemory(SHAPE, flow.shifted_sigmas(50), capacity=8, budget_bytes=1 << 24, dtype=torch.float32)
    rec = Recycler(ERFTConfig(p_clean=1.0, clean_buffer_update_prob=0.0), mem, seed=0)
    for _ in range(20):
        prep = rec.prepare(x0, y)
        rec.bank(prep.target + 0.5, prep)
    assert len(mem.noise) == 0  # clean steps never banked with prob 0

    rec = Recycler(ERFTConfig(p_clean=1.0, clean_buffer_update_prob=1.0), mem, seed=0)
    prep = rec.prepare(x0, y)
    v = prep.target + 0.5
    assert rec.bank(v, prep) == 1
    slot = mem.slot(float(prep.sigma[0]))
    s = float(prep.sigma[0])
    torch.testing.assert_close(mem.sample_noise(s), torch.full(SHAPE, (1 - s) * 0.5))
    torch.testing.assert_close(mem.sample_clean(s), torch.full(SHAPE, -s * 0.5))
    assert mem.noise.counts[slot] == 1

    # The next ERFT step draws from what was just banked (E_img comes from any slot).
    rec2 = Recycler(ERFTConfig(p_noi=0, p_vid=0, p_img=1, p_clean=0, y_error_num=1), mem, seed=5)
    prep2 = rec2.prepare(x0, y)
    assert prep2.injected[0] == Gates(noi=False, vid=False, img=True)


def test_recycler_state_round_trip():
    x0, y = _batch()
    mem = _memory_with(1.0, 2.0)
    rec = Recycler(ERFTConfig(), mem, seed=9)
    rec.prepare(x0, y)
    state = rec.state_dict()
    a = rec.prepare(x0, y)
    rec2 = Recycler(ERFTConfig(), mem, seed=0)
    rec2.load_state_dict(state)
    b = rec2.prepare(x0, y)
    torch.testing.assert_close(a.sigma, b.sigma)
    torch.testing.assert_close(a.target, b.target)


def test_erft_without_memory_is_an_error():
    with pytest.raises(ValueError, match="ReplayMemory"):
        Recycler(ERFTConfig(mode="erft"), None)


def test_banking_follows_the_official_rule():
    """Official train_svi.py: only a step whose clean gate fired banks with clean_buffer_update_prob;
    every other step banks its errors, also when its gates fired on still-empty banks (nothing was
    injected: the first steps of every run) or when no gate fired at all (p_img = 0 and r_vid > p_vid
    in the `no_eimg` arm). Treating those as clean halved the no_eimg arm's banking."""
    x0, y = _batch(1)

    def banked(cfg: ERFTConfig, steps: int = 40) -> int:
        mem = ReplayMemory(SHAPE, flow.shifted_sigmas(50), capacity=64, budget_bytes=1 << 26)
        rec = Recycler(cfg, mem, seed=2)
        total = 0
        for _ in range(steps):
            prep = rec.prepare(x0, y)
            total += rec.bank(prep.target + 0.1, prep)
        return total

    # gates on, banks empty at first: every step banks (nothing injected on step 1)
    assert banked(ERFTConfig(p_noi=1, p_vid=1, p_img=1, p_clean=0, clean_buffer_update_prob=0)) == 40
    # no gate can fire, clean gate off: still every step banks
    assert banked(ERFTConfig(p_noi=0, p_vid=0, p_img=0, p_clean=0, clean_buffer_update_prob=0)) == 40
    # the clean gate always fires: banking only with clean_buffer_update_prob
    assert banked(ERFTConfig(p_clean=1, clean_buffer_update_prob=0)) == 0
    assert banked(ERFTConfig(p_clean=1, clean_buffer_update_prob=1)) == 40
    drawn = Recycler(ERFTConfig(p_clean=1), _memory_with(0.0, 0.0), seed=0).prepare(x0, y).gates
    assert drawn == [Gates(clean=True)]
