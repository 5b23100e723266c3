"""Fixtures of the model tests: tiny policies built from config (random weights, CPU, fp32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dit4dit_policy.data.transforms import FeatureStats, NormStats
from dit4dit_policy.model.build import build_policy
from dit4dit_policy.model.config import load_model_config

EGO = "observation.images.ego_view"


def _feature(low: np.ndarray, high: np.ndarray) -> FeatureStats:
    mid = (low + high) / 2
    return FeatureStats(low, high, mid, np.ones_like(low), low, high, count=100)


@pytest.fixture(scope="session")
def g1_stats() -> NormStats:
    """G1 statistics: arms in [-1.5, 1.5] rad (per-dim offsets), grippers in [0, 1]."""
    low = np.concatenate([np.full(14, -1.5) + 0.01 * np.arange(14), np.zeros(2)])
    high = np.concatenate([np.full(14, 1.5) - 0.01 * np.arange(14), np.ones(2)])
    return NormStats(state=_feature(low, high), action=_feature(low, high))


@pytest.fixture(scope="session")
def tiny_config():
    """Factory: the ``tiny`` preset at 64×64 plus overrides."""

    def make(*overrides: str):
        return load_model_config("tiny", overrides=["--image_size=[64,64]", *overrides])

    return make


@pytest.fixture(scope="session")
def tiny_policy(tiny_config, g1_stats):
    """One shared tiny policy in eval mode; tests must not train or modify it."""
    return build_policy(tiny_config(), g1_stats, seed=0).eval()


@pytest.fixture
def observation():
    """Factory: a raw G1 observation batch (B, 80, 100, 3) images, (B, 16) state."""

    def make(batch: int = 1, seed: int = 0, tasks=None):
        rng = np.random.default_rng(seed)
        return {
            "images": {EGO: rng.integers(0, 256, (batch, 80, 100, 3), dtype=np.uint8)},
            "state": rng.uniform(-1, 1, (batch, 16)),
            "task": tasks or [f"pick up cup {i}" for i in range(batch)],
        }

    return make


@pytest.fixture
def model_batch():
    """Factory: a model-space training batch for a config."""

    def make(cfg, batch: int = 2, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        height, width = cfg.image_size
        mask = torch.zeros(batch, cfg.horizon, cfg.action_dim, dtype=torch.bool)
        mask[..., :16] = True
        action = torch.zeros(batch, cfg.horizon, cfg.action_dim)
        action[..., :16] = torch.rand(batch, cfg.horizon, 16, generator=gen) * 2 - 1
        state = torch.zeros(batch, cfg.state_dim)
        state[:, :32] = torch.rand(batch, 32, generator=gen) * 2 - 1
        return {
            "video": torch.rand(batch, cfg.num_pixel_frames, 3, height, width, generator=gen) * 2 - 1,
            "state": state,
            "action": action,
            "action_mask": mask,
            "task": [f"task {i % 2}" for i in range(batch)],
        }

    return make
