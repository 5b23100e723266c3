"""``dit4dit sim``: the project's main job — the node graph as processes against the MuJoCo G1.

Example::

    dit4dit sim --task pick_place --policy scripted --rollouts 3 --out outputs/sim
    dit4dit sim --task pick_place --checkpoint path/to/checkpoint --rollouts 20

Prints each rollout's success, duration and latency figures; writes results.json, one mp4 per
rollout under videos/ and each process's log under logs/. Ctrl-C stops everything cleanly (the
controller ramps out). A node process that dies stops the others the same way; the command then
exits 1 naming the process and the end of its log (rollouts finished before it are in results.json).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

COMMAND = ("sim",)
HELP = "run the camera, policy and controller nodes as processes against the MuJoCo G1 (no robot, no ROS)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument(
        "--task",
        default="close_drawer",
        help="simulator task (listed by `dit4dit demos --help`); default close_drawer, the bundled "
        "policy's task",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", type=Path, default=None, help="DiT4DiT checkpoint directory")
    source.add_argument(
        "--policy",
        choices=("scripted", "bundled"),
        default=None,
        help="'scripted': the task's scripted expert through the same graph; "
        "'bundled': the packaged demo policy (default when installed)",
    )
    parser.add_argument("--rollouts", type=int, default=1, help="number of rollouts (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first rollout")
    parser.add_argument("--out", type=Path, default=Path("outputs/sim"), help="output directory")
    parser.add_argument("--headless", action="store_true", help="accepted for compatibility: always headless")
    parser.add_argument("--no-video", action="store_true", help="do not write rollout videos")
    parser.add_argument("--device", default="cpu", help="torch device of the policy (cpu, cuda)")
    parser.add_argument(
        "--domain-id",
        type=int,
        default=None,
        help="DDS domain (default: a random private one in 100-199, loopback)",
    )


def _checkpoint_and_policy(args: argparse.Namespace) -> tuple[str, str]:
    from dit4dit_policy.errors import CheckpointError

    if args.checkpoint is not None:
        if not args.checkpoint.is_dir():
            raise CheckpointError(f"--checkpoint: {args.checkpoint} is not a checkpoint directory")
        return "checkpoint", str(args.checkpoint)
    if args.policy == "scripted":
        return "scripted", ""
    from dit4dit_policy.resources import bundled_checkpoint

    path = bundled_checkpoint()
    if path is None:
        if args.policy == "bundled":
            raise CheckpointError("no bundled checkpoint is installed with this package")
        return "scripted", ""
    return "checkpoint", str(path)


def run(args: argparse.Namespace) -> int:
    """Bring the graph up, run the rollouts, print and write the results."""
    from dit4dit_policy.errors import ConfigError
    from dit4dit_policy.ros.sim_session import SimSession, SimSessionConfig

    policy, checkpoint = _checkpoint_and_policy(args)
    try:
        config = SimSessionConfig(
            task=args.task,
            policy=policy,
            checkpoint=checkpoint,
            rollouts=args.rollouts,
            seed=args.seed,
            out_dir=args.out,
            domain_id=args.domain_id if args.domain_id is not None else random.randint(100, 199),
            device=args.device,
            record_video=not args.no_video,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    from dit4dit_policy.sim.tasks import task_names

    if args.task not in task_names():
        raise ConfigError(f"--task must be one of {', '.join(task_names())}, got {args.task!r}")
    print(
        f"dit4dit sim: task {config.task}, policy {policy}{' ' + checkpoint if checkpoint else ''}, "
        f"{config.rollouts} rollout(s), domain {config.domain_id} (loopback), output {config.out_dir}"
    )

    def report(r) -> None:
        lat = f"{r.latency_obs_to_exec_ms:.0f} ms" if r.latency_obs_to_exec_ms is not None else "n/a"
        inf = f"{r.inference_ms:.0f} ms" if r.inference_ms is not None else "n/a"
        print(
            f"  rollout {r.index + 1}/{config.rollouts} seed {r.seed}: "
            f"{'SUCCESS' if r.success else 'failure'}"
            f" in {r.duration_s:.1f} s — {r.chunks} chunks, inference {inf}, obs→exec {lat}, "
            f"{r.safety_violations} safety violations ({r.commands} commands checked)"
        )

    with SimSession(config) as session:
        results = session.run(on_result=report)
    codes = session.group.processes and {p.name: p.returncode for p in session.group.processes}
    successes = sum(r.success for r in results)
    # The independent monitor saw every command on the wire, in and between rollouts.
    violations = len(session.monitor.violations)
    print(f"success {successes}/{len(results)}; safety violations {violations}; process exit codes {codes}")
    print(f"results: {config.out_dir / 'results.json'}")
    return 0 if violations == 0 and all(c == 0 for c in (codes or {}).values()) else 1
