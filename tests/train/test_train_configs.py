"""Every config/train/*.yaml loads into the typed schema; bad keys name the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dit4dit_policy.errors import ConfigError
from dit4dit_policy.train.config import load_train_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "config/train").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_config_loads(path):
    cfg = load_train_config(path)
    model = cfg.model_config()
    assert cfg.data.datasets and model.horizon >= 1
    expected = {
        "libero": "franka_libero",
        "robocasa_gr1": "gr1_29dof",
        "g1_finetune": "g1_16dof",
        "sim_tiny": "g1_16dof",
        "demo_policy": "g1_16dof",
    }
    assert model.embodiment == expected[path.stem]


VAE_CONFIGS = sorted((Path(__file__).resolve().parents[2] / "config/train/vae").glob("*.yaml"))


@pytest.mark.parametrize("path", VAE_CONFIGS, ids=[p.stem for p in VAE_CONFIGS])
def test_every_vae_config_loads(path):
    from dit4dit_policy.train.vae import load_vae_train_config

    cfg = load_vae_train_config(path)
    assert cfg.datasets and cfg.model_config().preset == "tiny"


def test_demo_policy_uses_the_trained_vae():
    """The bundled policy's recipe reads the VAE its VAE config writes, from the same frame cache."""
    from dit4dit_policy.train.vae import load_vae_train_config

    root = Path(__file__).resolve().parents[2] / "config/train"
    policy = load_train_config(root / "demo_policy.yaml")
    vae = load_vae_train_config(root / "vae/demo_policy.yaml")
    assert policy.model_config().vae.pretrained == vae.output_dir / "vae"
    assert policy.data.frame_cache_dir == vae.frame_cache_dir
    assert policy.data.datasets == vae.datasets


def test_configs_present():
    assert {p.stem for p in CONFIGS} >= {"libero", "robocasa_gr1", "g1_finetune", "sim_tiny"}


def test_paper_recipe_values():
    g1 = load_train_config(next(p for p in CONFIGS if p.stem == "g1_finetune"))
    assert (g1.optim.lr_backbone, g1.optim.lr_action_head, g1.optim.warmup_steps) == (1e-4, 1e-4, 5000)
    assert (g1.optim.betas, g1.optim.weight_decay, g1.optim.grad_clip, g1.optim.min_lr_ratio) == (
        (0.9, 0.95),
        1e-8,
        1.0,
        0.05,
    )
    libero = load_train_config(next(p for p in CONFIGS if p.stem == "libero")).model_config()
    assert (libero.horizon, libero.action_dim, libero.state_dim, libero.num_pixel_frames) == (8, 8, 16, 5)


def test_bad_keys_are_named(tmp_path):
    path = next(p for p in CONFIGS if p.stem == "sim_tiny")
    with pytest.raises(ConfigError, match=r"unknown key 'train\.max_step'.*did you mean 'max_steps'"):
        load_train_config(path, ["--train.max_step=5"])
    with pytest.raises(ConfigError, match=r"preset 'tiny' \+ model overrides.*unknown key 'horizn'"):
        load_train_config(path, ["--model.horizn=5"])
    with pytest.raises(ConfigError, match="learning rates must be >= 0"):
        load_train_config(path, ["--optim.lr_backbone=-1"])
    empty = tmp_path / "empty.yaml"
    empty.write_text("preset: tiny\n")
    with pytest.raises(ConfigError, match=r"'data\.datasets' must list at least one"):
        load_train_config(empty)
