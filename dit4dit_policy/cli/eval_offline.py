"""``dit4dit eval offline``: open-loop chunk prediction along a recorded dataset, per-joint errors, plots."""

from __future__ import annotations

import argparse
from pathlib import Path

COMMAND = ("eval", "offline")
HELP = "predict chunks along recorded episodes (training transforms) and report per-joint MSE with plots"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoint directory")
    parser.add_argument("--dataset", type=Path, required=True, help="LeRobot dataset directory")
    parser.add_argument("--out", type=Path, required=True, help="output directory of the report")
    parser.add_argument("--episodes", help="comma-separated episode indices (default: all)")
    parser.add_argument("--max-episodes", type=int, help="evaluate at most the first N episodes")
    parser.add_argument("--stride", type=int, help="frames between chunk starts (default: the horizon)")
    parser.add_argument(
        "--batch-size", type=int, default=8, help="observations per prediction call (default 8)"
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed of the sampling noise (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--traces", type=int, default=3, help="episodes to plot (default 3)")


def run(args: argparse.Namespace) -> int:
    """Load, evaluate, write the report."""
    from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
    from dit4dit_policy.errors import ConfigError
    from dit4dit_policy.evaluation.identity import checkpoint_id
    from dit4dit_policy.evaluation.offline import evaluate_offline
    from dit4dit_policy.evaluation.offline_report import write_offline_report
    from dit4dit_policy.model.checkpoint import load_policy

    episodes = None
    if args.episodes:
        try:
            episodes = [int(e) for e in args.episodes.split(",") if e.strip()]
        except ValueError as exc:
            raise ConfigError(f"--episodes must be comma-separated integers, got {args.episodes!r}") from exc
    for name in ("max_episodes", "stride", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    dataset = LeRobotDataset(args.dataset)
    if episodes is None:
        episodes = list(range(dataset.num_episodes))
    if args.max_episodes is not None:
        episodes = episodes[: args.max_episodes]
    policy = load_policy(args.checkpoint, device=args.device)
    result = evaluate_offline(
        policy,
        dataset,
        episodes,
        args.stride,
        args.batch_size,
        args.seed,
        progress=lambda done, total: print(f"episode {done}/{total}", flush=True),
    )
    info = {
        "checkpoint": checkpoint_id(args.checkpoint),
        "dataset": str(args.dataset),
        "device": args.device,
        "seed": args.seed,
    }
    files = write_offline_report(result, args.out, info, traces=args.traces)
    print(
        f"MSE {result.mse:.4g} over {result.chunks} chunks; report: {files['markdown']} and {files['html']}"
    )
    return 0
