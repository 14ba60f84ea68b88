"""Known answers for the flow-matching math (docs/method.md §2)."""

import math

import pytest
import torch

from svi import flow


def test_shift_fixes_ends_and_known_midpoint():
    assert flow.shift_sigma(0.0, 5.0) == 0.0
    assert flow.shift_sigma(1.0, 5.0) == 1.0
    assert flow.shift_sigma(0.5, 5.0) == pytest.approx(2.5 / 3.0)  # 5*0.5 / (1 + 4*0.5)
    assert flow.shift_sigma(0.3, 1.0) == pytest.approx(0.3)


def test_shifted_schedule():
    s = flow.shifted_sigmas(50, 5.0)
    assert s.shape == (50,)
    assert s[0] == 1.0
    assert torch.all(s[1:] < s[:-1])
    # last step: unshifted 1/50 -> 5*0.02 / (1 + 4*0.02)
    assert s[-1].item() == pytest.approx(0.1 / 1.08)
    assert flow.shifted_sigmas(1000, 1.0)[500].item() == pytest.approx(0.5)


def test_sigma_t_mapping():
    assert flow.sigma_to_t(0.25) == 250
    assert flow.t_to_sigma(750) == 0.75
    s = torch.rand(10, dtype=torch.float64)
    torch.testing.assert_close(flow.t_to_sigma(flow.sigma_to_t(s)), s)


def test_interpolation_ends_and_velocity():
    x0, eps = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    torch.testing.assert_close(flow.interpolate(x0, eps, 0.0), x0)
    torch.testing.assert_close(flow.interpolate(x0, eps, 1.0), eps)
    torch.testing.assert_close(flow.interpolate(x0, eps, 0.25), 0.75 * x0 + 0.25 * eps)
    torch.testing.assert_close(flow.velocity(x0, eps), eps - x0)
    # per-sample sigma broadcasts over the sample
    sig = torch.tensor([0.0, 1.0])
    xt = flow.interpolate(x0, eps, sig)
    torch.testing.assert_close(xt[0], x0[0])
    torch.testing.assert_close(xt[1], eps[1])


def test_one_step_integration_recovers_ends_with_true_velocity():
    x0, eps = torch.randn(5, 7), torch.randn(5, 7)
    sigma = torch.rand(5)
    xt = flow.interpolate(x0, eps, sigma)
    v = flow.velocity(x0, eps)
    torch.testing.assert_close(flow.predict_x0(xt, v, sigma), x0)
    torch.testing.assert_close(flow.predict_eps(xt, v, sigma), eps)


def test_euler_with_exact_velocity_is_exact():
    x0, eps = torch.randn(3, 8), torch.randn(3, 8)
    sig = torch.cat([flow.shifted_sigmas(50, 5.0), torch.zeros(1, dtype=torch.float64)]).float()
    x = eps.clone()
    for s, s_next in zip(sig[:-1], sig[1:]):
        x = flow.euler_step(x, flow.velocity(x0, eps), s, s_next)
    torch.testing.assert_close(x, x0, atol=1e-5, rtol=0)
    # one step by hand: x + (s_next - s) v
    torch.testing.assert_close(
        flow.euler_step(torch.ones(2), torch.full((2,), 2.0), 0.5, 0.25), torch.full((2,), 0.5)
    )


def test_wan_loss_weights():
    w = flow.training_loss_weights(1000, 5.0)
    assert w.shape == (1000,)
    assert w.min().item() == pytest.approx(0.0, abs=1e-12)
    assert w.mean().item() == pytest.approx(1.0)
    # the unshifted-min / mean-1 form of exp(-2((t-500)/1000)^2): peak at the t closest to 500
    t = flow.shifted_sigmas(1000, 5.0) * 1000
    peak = int(w.argmax())
    assert abs(t[peak].item() - 500) == pytest.approx((t - 500).abs().min().item())
    raw = torch.exp(-2 * ((t - 500) / 1000) ** 2)
    expected = (raw - raw.min()) / (raw - raw.min()).mean()
    torch.testing.assert_close(w, expected)
    assert w.max().item() == pytest.approx((1 - math.exp(-0.5)) / (raw - raw.min()).mean().item(), rel=1e-3)


def test_nearest_index():
    grid = flow.shifted_sigmas(50, 5.0)
    assert flow.nearest_index(1.0, grid).item() == 0
    assert flow.nearest_index(grid[17].item(), grid).item() == 17
    assert flow.nearest_index(0.0, grid).item() == 49
    idx = flow.nearest_index(torch.tensor([1.0, 0.0]), grid)
    assert idx.tolist() == [0, 49]
