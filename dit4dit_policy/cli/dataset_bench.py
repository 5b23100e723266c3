"""``dit4dit bench dataset``: LeRobot writer cost (add_frame latency, save time per 10 s, read-back)."""

from __future__ import annotations

import argparse

COMMAND = ("bench", "dataset")
HELP = "dataset writer: add_frame latency, save_episode time per 10 s vs the 1 s budget, decode rate"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("--seconds", type=float, default=10.0, help="episode duration [s] (default 10)")
    parser.add_argument("--episodes", type=int, default=2, help="episodes (default 2)")
    parser.add_argument("--height", type=int, default=480, help="frame height [px] (default 480)")
    parser.add_argument("--width", type=int, default=640, help="frame width [px] (default 640)")
    parser.add_argument("--codec", choices=("av1", "h264"), default="av1", help="video codec (default av1)")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the report."""
    from dit4dit_policy.data.bench_io import run_write_benchmark

    result = run_write_benchmark(args.seconds, args.episodes, (args.height, args.width, 3), args.codec)
    for line in result.lines():
        print(line)
    return 0
