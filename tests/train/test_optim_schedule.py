"""AdamW recipe, parameter groups (frozen parts excluded) and the warm-up + cosine-to-floor schedule."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from dit4dit_policy.model.build import build_policy
from dit4dit_policy.model.config import preset_config
from dit4dit_policy.train.config import OptimConfig
from dit4dit_policy.train.optim import build_optimizer, lr_factor


def test_schedule_shape():
    assert lr_factor(0, 5000, 100_000, 0.05) == 0.0
    assert lr_factor(2500, 5000, 100_000, 0.05) == pytest.approx(0.5)
    assert lr_factor(5000, 5000, 100_000, 0.05) == pytest.approx(1.0)
    middle = 5000 + (100_000 - 5000) // 2
    assert lr_factor(middle, 5000, 100_000, 0.05) == pytest.approx(0.05 + 0.95 * 0.5, rel=1e-4)
    assert lr_factor(100_000, 5000, 100_000, 0.05) == pytest.approx(0.05)
    assert lr_factor(150_000, 5000, 100_000, 0.05) == pytest.approx(0.05)  # stays at the floor
    values = [lr_factor(s, 10, 100, 0.1) for s in range(10, 101)]
    assert all(a >= b for a, b in itertools.pairwise(values))  # monotone decay
    assert lr_factor(0, 0, 10, 0.0) == 1.0 and math.isclose(lr_factor(10, 0, 10, 0.0), 0.0, abs_tol=1e-12)


def test_optimizer_groups_and_frozen_parts():
    cfg = preset_config("tiny")
    policy = build_policy(cfg, None, "g1_16dof")
    optimizer, scheduler = build_optimizer(
        policy, OptimConfig(lr_backbone=2e-5, lr_action_head=3e-4, warmup_steps=4), total_steps=20
    )
    assert isinstance(optimizer, torch.optim.AdamW)
    names = [g["name"] for g in optimizer.param_groups]
    assert names == ["backbone", "action_head"]
    for group in optimizer.param_groups:
        assert group["betas"] == (0.9, 0.95) and group["eps"] == 1e-8 and group["weight_decay"] == 1e-8
    assert [g["initial_lr"] for g in optimizer.param_groups] == [2e-5, 3e-4]
    in_groups = {id(p) for g in optimizer.param_groups for p in g["params"]}
    vae = list(policy.backbone.vae.parameters())
    assert vae and not any(id(p) in in_groups or p.requires_grad for p in vae)  # VAE frozen, excluded
    text = list(policy.text_encoder.model.parameters())
    assert text and not any(id(p) in in_groups for p in text)  # text encoder never optimised
    assert all(p.requires_grad for g in optimizer.param_groups for p in g["params"])
    lrs = []
    for _ in range(6):
        lrs.append(optimizer.param_groups[1]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[:5] == pytest.approx([0.0, 0.75e-4, 1.5e-4, 2.25e-4, 3e-4])
