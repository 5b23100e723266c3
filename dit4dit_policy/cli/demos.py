"""``dit4dit demos``: scripted-expert demonstrations of a simulated task as a LeRobot v3 dataset.

Example::

    dit4dit demos --task close_drawer --episodes 20 --out data/sim/close_drawer --seed 0
"""

from __future__ import annotations

import argparse
from pathlib import Path

COMMAND = ("demos",)
HELP = "generate scripted-expert demonstrations of a simulated task as a LeRobot v3 dataset"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument(
        "--task", required=True, help="task name, e.g. close_drawer, pick_place, stack_cups[_heldout]"
    )
    parser.add_argument("--episodes", type=int, required=True, help="number of successful episodes to write")
    parser.add_argument(
        "--out", type=Path, required=True, help="dataset directory (new or empty unless --append)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="first seed; episode attempts use seed, seed+1, ..."
    )
    parser.add_argument("--width", type=int, default=160, help="ego image width [px] (default 160)")
    parser.add_argument(
        "--height", type=int, default=120, help="ego image height [px] (default 120: the camera's 4:3 view)"
    )
    parser.add_argument("--codec", choices=("av1", "h264"), default="av1", help="video codec (default av1)")
    parser.add_argument("--append", action="store_true", help="append to an existing dataset")


def run(args: argparse.Namespace) -> int:
    """Generate the dataset with a progress bar; print a summary."""
    import os

    # Offscreen rendering without a display (reference/environment.md "MuJoCo"); keep a user's choice.
    os.environ.setdefault("MUJOCO_GL", "egl")
    from tqdm import tqdm

    from dit4dit_policy.errors import ConfigError
    from dit4dit_policy.sim.demos import generate_demos
    from dit4dit_policy.sim.tasks import task_names

    if args.task not in task_names():
        raise ConfigError(f"--task must be one of {', '.join(task_names())}, got {args.task!r}")
    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
    for name in ("width", "height"):
        if not 16 <= getattr(args, name) <= 1280:
            raise ConfigError(f"--{name} must be in [16, 1280] px, got {getattr(args, name)}")
    with tqdm(total=args.episodes, unit="episode", desc=f"demos {args.task}") as bar:

        def on_episode(seed: int, success: bool, frames: int) -> None:
            if success:
                bar.update(1)
            bar.set_postfix(seed=seed, last="ok" if success else "failed", frames=frames)

        report = generate_demos(
            args.task,
            args.episodes,
            args.out,
            seed=args.seed,
            image_size=(args.height, args.width),
            video_codec=args.codec,
            append=args.append,
            on_episode=on_episode,
        )
    failed = f", expert failed on seeds {report.failures}" if report.failures else ""
    print(f"wrote {report.episodes} episodes ({report.frames} frames) to {report.root}{failed}")
    return 0
