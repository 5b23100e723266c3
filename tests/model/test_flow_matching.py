import math

import pytest
import torch

from dit4dit_policy.model import flow_matching as fm


def test_euler_times_and_discretisation():
    assert fm.euler_times(4) == [1.0, 0.75, 0.5, 0.25]
    seen = []
    fm.euler_integrate(
        lambda x, tau, disc: seen.append((tau, disc)) or torch.zeros_like(x), torch.zeros(1), 4
    )
    assert seen == [(1.0, 1000), (0.75, 750), (0.5, 500), (0.25, 250)]
    assert fm.discretize_time(torch.tensor([0.9999, 1.001, 0.25])).tolist() == [999, 1001, 250]
    with pytest.raises(ValueError, match="num_steps"):
        fm.euler_times(0)


def test_euler_on_a_linear_velocity_field():
    # dx/dτ = A x + b integrated from τ = 1 down to 0 with x ← x − Δτ·v: the exact Euler recursion
    # x_{k+1} = (I − Δτ A) x_k − Δτ b, and for the straight path of flow matching (v = ε − x0,
    # constant) a single step already lands on x0 exactly.
    a = torch.tensor([[0.3, -0.1], [0.2, 0.1]])
    b = torch.tensor([0.5, -0.25])
    x = torch.tensor([1.0, 2.0])
    expected = x.clone()
    for _ in range(8):
        expected = expected - (a @ expected + b) / 8
    out = fm.euler_integrate(lambda z, tau, disc: a @ z + b, x, 8)
    torch.testing.assert_close(out, expected)

    x0, noise = torch.tensor([0.3, -0.7]), torch.tensor([1.2, 0.4])
    for steps in (1, 4):
        landed = fm.euler_integrate(lambda z, tau, disc: fm.velocity_target(x0, noise), noise, steps)
        torch.testing.assert_close(landed, x0)


def test_interpolant_endpoints_and_target():
    x0, noise = torch.randn(3, 4), torch.randn(3, 4)
    torch.testing.assert_close(fm.interpolate(x0, noise, torch.zeros(3, 1)), x0)
    torch.testing.assert_close(fm.interpolate(x0, noise, torch.ones(3, 1)), noise)
    # x_τ moves along v* = ε − x0
    tau = torch.full((3, 1), 0.3)
    torch.testing.assert_close(
        fm.interpolate(x0, noise, tau + 0.1) - fm.interpolate(x0, noise, tau), 0.1 * (noise - x0)
    )


def test_time_samplers():
    torch.manual_seed(0)
    tau = fm.sample_action_time(20000)
    assert tau.min() >= 0 and tau.max() <= 1 / 0.999 + 1e-6
    assert tau.mean().item() == pytest.approx(0.6 / 0.999, abs=0.01)  # Beta(1.5, 1) mean 0.6
    assert (tau > 0.5).float().mean().item() == pytest.approx(1 - 0.5**1.5, abs=0.02)
    uniform = fm.sample_video_time(20000, generator=torch.Generator().manual_seed(1))
    assert uniform.min() >= 0 and uniform.max() < 1 and uniform.mean().item() == pytest.approx(0.5, abs=0.01)
    logit = fm.sample_video_time(20000, distribution="logit_normal")
    assert logit.std().item() < uniform.std().item()
    forced = fm.sample_video_time(20000, high_sigma_ratio=1.0, high_sigma_min=0.98)
    assert forced.min() >= 0.98
    with pytest.raises(ValueError, match="uniform' or 'logit_normal'"):
        fm.sample_video_time(2, distribution="beta")


def test_masked_mse():
    pred, target = torch.zeros(2, 3, 4), torch.ones(2, 3, 4)
    mask = torch.zeros(2, 3, 4, dtype=torch.bool)
    mask[..., :2] = True
    pred[..., 2:] = 100.0  # masked dims do not count
    assert fm.masked_mse(pred, target, mask).item() == pytest.approx(1.0)
    assert math.isclose(fm.masked_mse(target, target, mask).item(), 0.0)
    with pytest.raises(ValueError, match="selects no element"):
        fm.masked_mse(pred, target, torch.zeros_like(mask))
