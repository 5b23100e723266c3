"""``dit4dit bench policy``: our per-step inference path vs the authors' path (same weights and noise).

Prints per-stage milliseconds, the speed-up, the largest difference between the two predicted
chunks and the FLOPs per step at the chosen preset and at the full cosmos25_2b config.
Exit code 1 when the chunks differ by more than 1e-5 (fp32); speed is reported, never asserted.
"""

from __future__ import annotations

import argparse
import json

COMMAND = ("bench", "policy")
HELP = "per-step inference vs the authors' path: stage timings, speed-up, chunk difference, FLOPs"

#: fp32 tolerance on the chunks of the two paths.
TOLERANCE = 1e-5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument(
        "--preset", choices=("tiny", "scaled"), default="scaled", help="model preset (default: scaled)"
    )
    parser.add_argument("--steps", type=int, default=3, help="measured steps (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured first steps (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, inputs and noise")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print its report."""
    from dit4dit_policy.errors import ConfigError

    if args.steps < 1 or args.warmup < 1:
        raise ConfigError(f"--steps and --warmup must be >= 1, got {args.steps} and {args.warmup}")

    import torch

    from dit4dit_policy.model.bench import format_report, run_policy_bench

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = run_policy_bench(args.preset, steps=args.steps, warmup=args.warmup, seed=args.seed)
    result["tolerance"] = TOLERANCE
    print(json.dumps(result, indent=1) if args.json else format_report(result))
    return 0 if result["max_abs_diff"] <= TOLERANCE else 1
