"""--init-from: a GR1 29-DoF checkpoint initialises a G1 16-DoF run through the padded dims."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dit4dit_policy.errors import CheckpointError
from dit4dit_policy.model.build import build_policy
from dit4dit_policy.model.checkpoint import save_checkpoint
from dit4dit_policy.model.config import load_model_config
from dit4dit_policy.train.config import load_train_config
from dit4dit_policy.train.policy_io import init_from_checkpoint
from dit4dit_policy.train.trainer import Trainer

SMALL = {"model.image_size": "[32,32]", "model.video_delta_indices": "[0,1,2,3,4,5,6,7,8]"}


def test_gr1_checkpoint_initialises_g1_training(train_dataset, tmp_path, tiny_overrides):
    gr1_cfg = load_model_config(
        "tiny",
        overrides=[
            "--embodiment=gr1_29dof",
            "--image_size=[32,32]",
            "--video_delta_indices=[0,1,2,3,4,5,6,7,8]",
        ],
    )
    gr1 = build_policy(
        gr1_cfg, None, seed=123
    )  # another seed than the G1 run: weights must come from the file
    checkpoint = save_checkpoint(gr1, tmp_path / "gr1_policy")
    cfg = load_train_config(
        Path(__file__).resolve().parents[2] / "config/train/sim_tiny.yaml",
        tiny_overrides(train_dataset, tmp_path / "g1", **SMALL, **{"train.max_steps": 2}),
    )
    cfg.init_from = checkpoint
    trainer = Trainer(cfg)
    mine, theirs = trainer.policy.state_dict(), gr1.state_dict()
    assert set(mine) == set(theirs)
    for key in theirs:
        torch.testing.assert_close(mine[key], theirs[key], rtol=0, atol=0, msg=key)
    assert trainer.policy.embodiment.name == "g1_16dof" and trainer.stats.action.dim == 16
    assert trainer.fit()["step"] == 2


def test_mismatched_dims_are_named(tmp_path):
    libero = build_policy(
        load_model_config(
            "tiny",
            overrides=["--embodiment=franka_libero", "--state_dim=16", "--action_dim=8", "--horizon=8"],
        ),
        None,
    )
    checkpoint = save_checkpoint(libero, tmp_path / "libero")
    g1 = build_policy(load_model_config("tiny"), None, seed=5)
    with pytest.raises(CheckpointError, match=r"tensors have other shapes than the model \(action_head\."):
        init_from_checkpoint(g1, checkpoint)
    counts = init_from_checkpoint(g1, checkpoint, allow_partial=True)
    assert counts["skipped"] > 0 and counts["loaded"] > counts["skipped"]
    with pytest.raises(CheckpointError, match=r"no model\.safetensors there"):
        init_from_checkpoint(g1, tmp_path)
