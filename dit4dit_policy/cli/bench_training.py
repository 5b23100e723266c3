"""``dit4dit bench training``: data-loading frames/s vs training samples/s of the tiny preset."""

from __future__ import annotations

import argparse

COMMAND = ("bench", "training")
HELP = "tiny-preset training samples/s vs data-loading frames/s (and AV1 decoding as the reference)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("--episodes", type=int, default=6, help="synthetic episodes (default 6)")
    parser.add_argument("--episode-length", type=int, default=60, help="frames per episode (default 60)")
    parser.add_argument("--image-size", type=int, default=96, help="recorded frame side [px] (default 96)")
    parser.add_argument("--batch-size", type=int, default=8, help="samples per batch (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (default 2)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps (default 5)")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the report."""
    from dit4dit_policy.train.bench import run_benchmark

    result = run_benchmark(
        episodes=args.episodes,
        episode_length=args.episode_length,
        image_size=args.image_size,
        batch_size=args.batch_size,
        workers=args.workers,
        steps=args.steps,
    )
    for line in result.lines():
        print(line)
    return 0
