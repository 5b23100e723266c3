"""``dit4dit train-vae`` and ``model.vae.pretrained``: a from-scratch VAE trained on dataset frames.

A policy built on the trained VAE copies its latent statistics into its own config, so the saved
checkpoint loads and predicts identically after the VAE directory is gone.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from dit4dit_policy import schema
from dit4dit_policy.errors import ConfigError
from dit4dit_policy.model.build import build_policy
from dit4dit_policy.model.checkpoint import load_policy, save_checkpoint
from dit4dit_policy.model.config import load_model_config
from dit4dit_policy.train.vae import load_vae_train_config, train_vae


@pytest.fixture(scope="module")
def train_stats():
    """G1 statistics: arms in [-1.5, 1.5] rad, grippers in [0, 1]."""
    from dit4dit_policy.data.transforms import FeatureStats, NormStats

    low = np.concatenate([np.full(14, -1.5), np.zeros(2)])
    high = np.concatenate([np.full(14, 1.5), np.ones(2)])
    feature = FeatureStats(low, high, (low + high) / 2, np.ones(16), low, high, count=10)
    return NormStats(state=feature, action=feature)


@pytest.fixture(scope="module")
def trained_vae(tmp_path_factory):
    """A tiny VAE (32×32 input) trained for 30 steps on the synthetic training dataset."""
    from dit4dit_policy.data.synthetic import write_synthetic_dataset

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("vae")
    data = write_synthetic_dataset(
        root / "ds", num_episodes=3, episode_length=(24, 30), image_shape=(64, 64, 3), seed=5
    )
    cfg = load_vae_train_config(
        None,
        [
            f"--output_dir={root / 'run'}",
            f"--datasets=[{data}]",
            "--model.image_size=[32,32]",
            "--val_episodes=1",
            "--steps=30",
            "--batch_size=4",
            "--clip_batch_size=1",
            "--warmup_steps=2",
            "--lr=3e-3",
            "--num_workers=0",
            "--log_every=5",
            "--stats_frames=16",
        ],
    )
    summary = train_vae(cfg)
    return root / "run", summary


def test_train_vae_writes_a_diffusers_vae_with_data_statistics(trained_vae):
    run, summary = trained_vae
    vae_config = json.loads((run / "vae" / "config.json").read_text())
    assert vae_config["_class_name"] == "AutoencoderKLWan"
    assert len(vae_config["latents_mean"]) == len(vae_config["latents_std"]) == 16
    assert vae_config["latents_mean"] == pytest.approx(summary["trained"]["latents_mean"])
    assert all(s > 0 for s in vae_config["latents_std"])
    assert (run / "vae" / "diffusion_pytorch_model.safetensors").is_file()
    assert not (run / ".vae.tmp").exists()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [5, 10, 15, 20, 25, 30]
    # Training reconstructs: lower error than at the start and than the random initialisation.
    assert records[-1]["mse"] < records[0]["mse"]
    assert summary["trained"]["psnr_db"] > summary["random_init"]["psnr_db"]
    assert (run / "summary.json").is_file()


def test_policy_on_the_trained_vae_is_self_contained(trained_vae, tmp_path, train_stats):
    run, _ = trained_vae
    vae_dir = tmp_path / "vae"
    shutil.copytree(run / "vae", vae_dir)
    cfg = load_model_config("tiny", overrides=[f"--vae.pretrained={vae_dir}", "--image_size=[32,32]"])
    assert cfg.vae.latents_mean is None
    policy = build_policy(cfg, train_stats)
    stored = json.loads((vae_dir / "config.json").read_text())
    # The config now carries the VAE's statistics, and the backbone normalises with them.
    assert list(cfg.vae.latents_mean) == pytest.approx(stored["latents_mean"])
    assert policy.backbone.latents_std.flatten().tolist() == pytest.approx(stored["latents_std"])
    save_checkpoint(policy, tmp_path / "ckpt")
    shutil.rmtree(vae_dir)  # the checkpoint must not need it
    loaded = load_policy(tmp_path / "ckpt")
    assert loaded.backbone.latents_mean.flatten().tolist() == pytest.approx(stored["latents_mean"])
    rng = np.random.default_rng(0)
    observation = schema.Observation(
        image=rng.integers(0, 255, (32, 32, 3), dtype=np.uint8),
        image_stamp_ns=1,
        state=np.zeros(16, np.float32),
        state_stamp_ns=1,
        task="stack the cups",
    )
    policy.eval()
    a = policy.predict_chunk(observation, seed=3).positions
    b = loaded.predict_chunk(observation, seed=3).positions
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_pretrained_vae_errors(trained_vae, tmp_path, train_stats):
    run, _ = trained_vae
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = load_model_config("tiny", overrides=[f"--vae.pretrained={empty}"])
    with pytest.raises(ConfigError, match=r"lacks config\.json"):
        build_policy(cfg, train_stats)
    wrong = load_model_config("tiny", overrides=[f"--vae.pretrained={run / 'vae'}", "--vae.base_dim=16"])
    with pytest.raises(ConfigError, match="base_dim"):
        build_policy(wrong, train_stats)


def test_vae_config_validation():
    with pytest.raises(ConfigError, match="latents_mean"):
        load_model_config("tiny", overrides=["--vae.latents_mean=[0.0, 1.0]", "--vae.latents_std=[1.0, 1.0]"])
    with pytest.raises(ConfigError, match="together"):
        load_model_config("tiny", overrides=["--vae.latents_mean=[" + ", ".join(["0.0"] * 16) + "]"])
    with pytest.raises(ConfigError, match="clip_frames"):
        load_vae_train_config(None, ["--datasets=[x]", "--clip_frames=4"])
    with pytest.raises(ConfigError, match="unknown"):
        load_vae_train_config(None, ["--datasets=[x]", "--stepz=3"])
    with pytest.raises(ConfigError, match="datasets"):
        load_vae_train_config(None, [])
