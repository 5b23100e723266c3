"""Tiny-preset CPU training: the loss falls, resuming reproduces the uninterrupted run exactly, and
validation neither consumes training batches nor perturbs the training RNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dit4dit_policy.model.build import build_policy
from dit4dit_policy.model.checkpoint import load_policy
from dit4dit_policy.train import checkpointing
from dit4dit_policy.train.config import load_train_config
from dit4dit_policy.train.metrics import read_metrics
from dit4dit_policy.train.trainer import Trainer

CONFIG = Path(__file__).resolve().parents[2] / "config/train/sim_tiny.yaml"
# Smaller clips than the preset's 96×96 × 9 frames keep the CPU steps cheap; same architecture.
SMALL = {"model.image_size": "[32,32]", "model.video_delta_indices": "[0,1,2,3,4,5,6,7,8]"}


def _config(overrides, dataset, out, **extra):
    return load_train_config(CONFIG, overrides(dataset, out, **{**SMALL, **extra}))


def _losses(out):
    return {r["step"]: r["loss_last"] for r in read_metrics(out / "metrics.jsonl")}


def _fixed_loss(policy, batch):
    policy.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return float(policy.compute_loss(batch)["loss"])


@pytest.mark.slow
def test_loss_falls_resume_is_exact_and_validation_is_isolated(train_dataset, tmp_path, tiny_overrides):
    # Reference: 20 uninterrupted steps, validating every 5 steps on the held-out episode.
    full = tmp_path / "full"
    every = {"train.max_steps": 20, "train.save_every": 10}
    trainer = Trainer(_config(tiny_overrides, train_dataset, full, **every, **{"train.val_every": 5}))
    batch = trainer.train_loader.collate_fn([trainer.train_set[i] for i in range(0, 48, 8)])
    initial = build_policy(trainer.model_cfg, trainer.stats, "g1_16dof", seed=trainer.cfg.train.seed)
    summary = trainer.fit()
    assert summary["step"] == 20 and summary["world_size"] == 1
    before, after = _fixed_loss(initial, batch), _fixed_loss(load_policy(full / "policy"), batch)
    assert after < 0.9 * before, (before, after)  # 20 CPU steps reduce the loss
    reference = _losses(full)
    assert sorted(reference) == list(range(1, 21))
    assert [r["step"] for r in read_metrics(full / "metrics.jsonl", "val")] == [5, 10, 15, 20]
    assert [s for s, _ in checkpointing.complete_checkpoints(full)] == [10, 20]
    log = json.loads((full / "training_summary.json").read_text())  # the training-log summary
    assert log["steps"] == 20 and [r["steps"] for r in log["train"]] == ["1-10", "11-20"]
    assert log["train"][0]["loss"] == pytest.approx(sum(reference[s] for s in range(1, 11)) / 10)
    assert [r["step"] for r in log["val"]] == [5, 10, 15, 20]
    state = json.loads((full / "checkpoints/step-0000010/trainer_state.json").read_text())
    assert state["step"] == 10 and state["world_size"] == 1
    held_out = set(trainer.val_episodes)
    assert held_out and not held_out & set(trainer.train_episodes)
    for val_batch in trainer.val_loader:
        assert set(val_batch["episode"].tolist()) <= held_out  # validation sees held-out episodes only

    # Same run without validation, stopped after step 10 and resumed by a new Trainer: all 20
    # losses are identical — resuming restores batch order, weights, optimiser, schedule and RNG,
    # and validation neither consumed training batches nor perturbed the training RNG.
    part = tmp_path / "part"
    no_val = {"train.val_every": 0}
    first = Trainer(
        _config(tiny_overrides, train_dataset, part, **every, **no_val, **{"train.stop_at_step": 10})
    )
    assert first.fit()["step"] == 10
    assert checkpointing.latest_checkpoint(part).name == "step-0000010"
    second = Trainer(_config(tiny_overrides, train_dataset, part, **every, **no_val))
    assert second.fit()["step"] == 20
    resumed = _losses(part)
    assert sorted(resumed) == list(range(1, 21))  # one record per step, no duplicates
    assert [resumed[s] for s in range(1, 21)] == [reference[s] for s in range(1, 21)]
    assert not read_metrics(part / "metrics.jsonl", "val")
    first_record = read_metrics(full / "metrics.jsonl")[0]
    assert first_record["lr_backbone"] == pytest.approx(5e-4)  # warm-up 2 steps to 1e-3
