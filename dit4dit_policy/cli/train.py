"""``dit4dit train --config FILE [--init-from CKPT] [--a.b=value ...]``: train or fine-tune DiT4DiT.

Multi-GPU / multi-process: ``accelerate launch [--config_file config/train/accelerate/…] -m
dit4dit_policy.cli train --config FILE`` or ``torchrun --nproc-per-node N -m dit4dit_policy.cli
train …`` (docs/training.md).
"""

from __future__ import annotations

import argparse

COMMAND = ("train",)
HELP = "train or fine-tune the policy on LeRobot datasets (resumable; multi-GPU via accelerate launch)"
ACCEPTS_OVERRIDES = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("--config", required=True, help="training config YAML (config/train/*.yaml)")
    parser.add_argument(
        "--init-from", metavar="CKPT", help="policy checkpoint to initialise the weights from"
    )


def run(args: argparse.Namespace) -> int:
    """Load the config (plus overrides), train, print where the policy checkpoint is."""
    from dit4dit_policy.train.config import load_train_config
    from dit4dit_policy.train.trainer import train

    overrides = list(args.overrides)
    if args.init_from:
        overrides.append(f"--init_from={args.init_from}")
    cfg = load_train_config(args.config, overrides)
    summary = train(cfg)
    if summary.get("is_main", True):
        print(
            f"trained to step {summary['step']} (last loss {summary['loss']:.4f}); "
            f"policy: {summary['policy']}"
        )
    return 0
