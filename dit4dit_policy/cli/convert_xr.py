"""``dit4dit dataset convert-xr``: Unitree xr_teleoperate episode folders → our LeRobot v3 dataset."""

from __future__ import annotations

import argparse

COMMAND = ("dataset", "convert-xr")
HELP = "convert Unitree xr_teleoperate episodes (data.json + colors/) into a G1 16-DoF LeRobot dataset"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("source", help="task directory of episode_NNNN folders, or one episode folder")
    parser.add_argument("output", help="dataset directory (created, or appended to; reruns resume)")
    parser.add_argument(
        "--task", default="", help="instruction for every episode (default: each data.json text.goal)"
    )
    parser.add_argument("--camera", default="color_0", help="colors key of the ego view (default color_0)")
    parser.add_argument(
        "--gripper",
        choices=("dex1", "normalized"),
        default="dex1",
        help="ee values are Dex1 motor angles 0..5.4 rad (default) or already openings in [0, 1]",
    )
    parser.add_argument("--fps", type=int, default=30, help="output rate; the source rate must be a multiple")
    parser.add_argument("--image-size", default=None, metavar="HxW", help="resize frames, e.g. 480x640")
    parser.add_argument("--codec", choices=("av1", "h264"), default="av1", help="video codec (default av1)")
    parser.add_argument(
        "--skip-bad-episodes", action="store_true", help="skip malformed episodes with a warning"
    )


def run(args: argparse.Namespace) -> int:
    """Convert and print one line per episode."""
    from dit4dit_policy.errors import Dit4ditError
    from dit4dit_policy.record.xr_convert import ConvertConfig, convert

    size = None
    if args.image_size:
        try:
            height, width = (int(v) for v in args.image_size.lower().split("x"))
        except ValueError as exc:
            raise Dit4ditError(f"--image-size must look like 480x640, got {args.image_size!r}") from exc
        size = (height, width)
    try:
        config = ConvertConfig(
            task=args.task,
            camera=args.camera,
            gripper=args.gripper,
            fps=args.fps,
            image_size=size,
            video_codec=args.codec,
            skip_bad_episodes=args.skip_bad_episodes,
        )
    except ValueError as exc:
        raise Dit4ditError(str(exc)) from exc
    report = convert(args.source, args.output, config, progress=print)
    for folder, reason in report.skipped:
        print(f"skipped {folder}: {reason}")
    print(f"converted {len(report.converted)} episodes ({report.frames} frames) into {args.output}")
    return 0
