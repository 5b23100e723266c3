"""AdamW over the policy's parameter groups and the warm-up + cosine-to-floor schedule (model_spec §5)."""

from __future__ import annotations

import math
from typing import Any

import torch

from dit4dit_policy.train.config import OptimConfig


def lr_factor(step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """Multiplier of each group's base lr at ``step`` (0-based count of completed optimiser steps).

    Linear warm-up from 0 over ``warmup_steps``, then a half cosine from 1 to ``min_lr_ratio`` at
    ``total_steps`` (transformers' ``cosine_with_min_lr``, which the authors use with
    ``min_lr = 5e-7`` → ratio 0.05 of the base 1e-5).
    """
    if warmup_steps > 0 and step < warmup_steps:
        return step / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(
    policy: Any, cfg: OptimConfig, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over ``policy.parameter_groups(lr_backbone, lr_action_head)`` plus its schedule.

    Parameters that belong to no group (text encoder, VAE, anything frozen) get
    ``requires_grad=False``, so that no optimiser, DDP bucket or gradient ever touches them.

    Raises:
        ValueError: a parameter appears in two groups, or the groups are empty.
    """
    groups = policy.parameter_groups(cfg.lr_backbone, cfg.lr_action_head)
    seen: set[int] = set()
    for group in groups:
        group["params"] = [p for p in group["params"] if p.requires_grad]
        for param in group["params"]:
            if id(param) in seen:
                raise ValueError(f"a parameter appears in more than one group ({group.get('name', '?')})")
            seen.add(id(param))
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError("the policy returned no trainable parameters")
    for param in policy.parameters():
        if id(param) not in seen:
            param.requires_grad_(False)
    optimizer = torch.optim.AdamW(groups, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, cfg.warmup_steps, total_steps, cfg.min_lr_ratio)
    )
    return optimizer, scheduler
