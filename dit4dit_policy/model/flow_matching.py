"""Flow-matching maths shared by the action and video heads: pure functions, no modules.

Notation (paper §3, model_spec §3-4): a clean sample x₀, Gaussian noise ε (z for video), a time τ
with **τ = 1 meaning pure noise**, the interpolant ``x_τ = (1 − τ)·x₀ + τ·ε`` and the velocity
target ``v* = ε − x₀``. Sampling integrates dx/dτ = v from τ = 1 down to 0 with explicit Euler
steps ``x ← x − Δτ·v``.

Paper ↔ code (model_spec §7.3): the paper writes τ_a = 1 − σ with σ ~ Beta; the authors' code
(followed here) samples ``τ_a = Beta(1.5, 1) / 0.999`` directly with τ = 1 = noise, so τ_a can
reach 1.001 and its mass sits near the noisy end (mean 0.60).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def sample_action_time(
    batch_size: int,
    *,
    alpha: float = 1.5,
    beta: float = 1.0,
    noise_s: float = 0.999,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """τ_a ~ Beta(α, β) / s for action flow matching (``ActionDiT.py:260-263``; model_spec §4).

    Uses the global torch RNG (``torch.distributions.Beta`` takes no generator).

    Returns:
        (batch_size,) float32 in [0, 1/s]; τ = 1 is noise.
    """
    dist = torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(beta)))
    return (dist.sample((batch_size,)) / noise_s).to(device=device, dtype=torch.float32)


def sample_video_time(
    batch_size: int,
    *,
    distribution: str = "uniform",
    high_sigma_ratio: float | None = None,
    high_sigma_min: float | None = None,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """τ_v per sample for the video loss (``Cosmos25.py:742-760``; model_spec §3 step 3).

    Args:
        batch_size: B.
        distribution: ``"uniform"`` (U(0,1), what every run script uses) or ``"logit_normal"``
            (sigmoid of N(0,1), the yaml default).
        high_sigma_ratio: probability of replacing τ by U(high_sigma_min, 1) (None: never).
        high_sigma_min: lower bound of that replacement.
        device: output device.
        generator: optional RNG.

    Returns:
        (B,) float32 in [0, 1).

    Raises:
        ValueError: unknown distribution.
    """
    kwargs = dict(device=device, dtype=torch.float32, generator=generator)
    if distribution == "uniform":
        tau = torch.rand((batch_size,), **kwargs)
    elif distribution == "logit_normal":
        tau = torch.sigmoid(torch.randn((batch_size,), **kwargs))
    else:
        raise ValueError(f"time distribution must be 'uniform' or 'logit_normal', got {distribution!r}")
    if high_sigma_ratio is not None and high_sigma_ratio > 0:
        low = 0.0 if high_sigma_min is None else float(high_sigma_min)
        forced = torch.rand((batch_size,), device=device, generator=generator) < high_sigma_ratio
        high = torch.rand((batch_size,), **kwargs) * (1.0 - low) + low
        tau = torch.where(forced, high, tau)
    return tau


def discretize_time(tau: torch.Tensor, num_buckets: int = 1000) -> torch.Tensor:
    """``t_disc = int(τ·buckets)`` as the action encoder and timestep encoder consume it (§4).

    Returns:
        int64 tensor of the same shape (truncation toward zero, like ``.long()``).
    """
    return (tau * num_buckets).long()


def interpolate(x0: torch.Tensor, noise: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """``x_τ = (1 − τ)·x₀ + τ·ε``; τ broadcasts against x₀ (e.g. (B, 1, 1))."""
    return (1 - tau) * x0 + tau * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``v* = ε − x₀`` (the velocity of the straight path from x₀ to ε)."""
    return noise - x0


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``Σ (pred − target)²·mask / Σ mask`` (``ActionDiT.py:316-317``).

    Raises:
        ValueError: the mask selects nothing (the loss would be 0/0).
    """
    mask = mask.to(pred.dtype)
    total = mask.sum()
    if not bool(total > 0):
        raise ValueError("action_mask selects no element; expected at least one True entry")
    return (((pred - target) ** 2) * mask).sum() / total


def euler_times(num_steps: int) -> list[float]:
    """Continuous times of the Euler steps: ``1 − i/N`` for i = 0..N−1 (4 steps: 1, .75, .5, .25).

    Raises:
        ValueError: num_steps < 1.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    return [1.0 - i / float(num_steps) for i in range(num_steps)]


def euler_integrate(
    velocity: Callable[[torch.Tensor, float, int], torch.Tensor],
    x_init: torch.Tensor,
    num_steps: int,
    num_buckets: int = 1000,
) -> torch.Tensor:
    """Integrate from τ = 1 (noise) to τ = 0 with N explicit Euler steps (``ActionDiT.py:321-369``).

    Args:
        velocity: ``v(x, τ, τ_disc)`` with τ the continuous time and ``τ_disc = int(τ·buckets)``.
        x_init: noise sample at τ = 1.
        num_steps: N (4).
        num_buckets: discretisation of τ passed to ``velocity`` (1000).

    Returns:
        x after N steps of ``x ← x − (1/N)·v``.
    """
    dt = 1.0 / num_steps
    x = x_init
    for tau in euler_times(num_steps):
        x = x - dt * velocity(x, tau, int(tau * num_buckets))
    return x


__all__ = [
    "discretize_time",
    "euler_integrate",
    "euler_times",
    "interpolate",
    "masked_mse",
    "sample_action_time",
    "sample_video_time",
    "velocity_target",
]
