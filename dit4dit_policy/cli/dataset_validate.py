"""``dit4dit dataset validate PATH``: check every episode, column and video; exit 1 on errors."""

from __future__ import annotations

import argparse

COMMAND = ("dataset", "validate")
HELP = "check a LeRobot dataset (columns, values, indices, timestamps, videos); exit 1 on errors"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("path", help="dataset directory")
    parser.add_argument("--no-videos", action="store_true", help="skip decoding the videos (fast)")
    parser.add_argument(
        "--embodiment", help="also check the modality mapping of this embodiment (g1_16dof, …)"
    )
    parser.add_argument(
        "--min-length", type=int, default=1, help="shortest allowed episode (e.g. the horizon, 16)"
    )


def run(args: argparse.Namespace) -> int:
    """Validate and print the problems."""
    from dit4dit_policy.data.validate import validate_dataset
    from dit4dit_policy.errors import DatasetError

    report = validate_dataset(
        args.path, decode_videos=not args.no_videos, embodiment=args.embodiment, min_length=args.min_length
    )
    for warning in report.warnings:
        print(f"warning: {warning}")
    for error in report.errors:
        print(f"error: {error}")
    print(
        f"checked {report.episodes_checked} episodes, {report.frames_checked} frames, "
        f"{report.videos_decoded} videos: {len(report.errors)} errors, {len(report.warnings)} warnings"
    )
    if not report.ok:
        raise DatasetError(f"{args.path} has {len(report.errors)} errors (listed above)")
    return 0
