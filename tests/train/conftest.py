"""Fixtures of the training tests: a small synthetic G1 dataset and tiny-preset config overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dit4dit_policy.data.synthetic import write_synthetic_dataset

#: The CPU training config the tests start from.
SIM_TINY = Path(__file__).resolve().parents[2] / "config/train/sim_tiny.yaml"


@pytest.fixture(scope="session")
def train_dataset(tmp_path_factory):
    """3 G1 episodes of 24-30 frames at 64×64 (AV1), written with the real writer."""
    root = tmp_path_factory.mktemp("train_data") / "ds"
    return write_synthetic_dataset(
        root, num_episodes=3, episode_length=(24, 30), image_shape=(64, 64, 3), seed=3
    )


def _tiny_overrides(dataset, output_dir, **extra):
    """``--a.b=value`` overrides of config/train/sim_tiny.yaml for fast CPU runs."""
    values = {
        "data.datasets": f"[{dataset}]",
        "output_dir": str(output_dir),
        "data.val_episodes": 1,
        "data.num_workers": 0,
        "train.batch_size": 2,
        "train.log_every": 1,
        "train.progress": "false",
        "train.tensorboard": "false",
        "train.cpu": "true",
        "optim.warmup_steps": 2,
        "optim.lr_backbone": 1e-3,
        "optim.lr_action_head": 1e-3,
    }
    values.update(extra)
    return [f"--{k}={v}" for k, v in values.items()]


@pytest.fixture
def sim_tiny_config():
    """Path of config/train/sim_tiny.yaml."""
    return SIM_TINY


@pytest.fixture
def tiny_overrides():
    """``tiny_overrides(dataset, output_dir, **extra)`` → list of ``--a.b=value`` overrides."""
    return _tiny_overrides


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: the 2 CPU cores are shared with other test processes, and two torch
    threads per process then oversubscribe them (measured 15× slower under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
