"""``dit4dit report``: Markdown + HTML report of an evaluation results directory."""

from __future__ import annotations

import argparse
from pathlib import Path

COMMAND = ("report",)
HELP = "write the Markdown + HTML report (Wilson intervals, plots) of a results directory; --compare two runs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("results_dir", type=Path, help="evaluation results directory (with results.jsonl)")
    parser.add_argument(
        "--compare", type=Path, metavar="OTHER", help="results directory of run B to compare with"
    )
    parser.add_argument("--out", type=Path, help="output directory (default RESULTS_DIR/report)")
    parser.add_argument(
        "--traces", type=int, default=6, help="joint-trace figures of recorded rollouts (default 6)"
    )
    parser.add_argument("--confidence", type=float, default=0.95, help="interval coverage (default 0.95)")


def run(args: argparse.Namespace) -> int:
    """Write the report and print where it is."""
    from dit4dit_policy.errors import ConfigError
    from dit4dit_policy.evaluation.report import build_report

    if not 0.0 < args.confidence < 1.0:
        raise ConfigError(f"--confidence must be in (0, 1), got {args.confidence}")
    if args.traces < 0:
        raise ConfigError(f"--traces must be >= 0, got {args.traces}")
    files = build_report(
        args.results_dir, args.out, args.compare, traces=args.traces, confidence=args.confidence
    )
    print(f"report: {files.markdown}\n        {files.html}\nsummary: {files.summary}")
    return 0
