"""``dit4dit replay DATASET --episode i``: play recorded actions back through the controller.

Publishes the episode's actions as action chunks on ``/dit4dit/action_chunk`` at the recorded rate
(after a slow approach from the measured ``/g1/joint_states`` to the first action), so the
controller node executes them under its scheduler and safety filter — on the simulator
(``--sim``: domain 1, loopback) or the robot (domain 0 / ``$ROS_DOMAIN_ID``).
"""

from __future__ import annotations

import argparse
import os

COMMAND = ("replay",)
HELP = "play a recorded episode's actions back through the controller node (sim or robot)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("dataset", help="LeRobot dataset directory")
    parser.add_argument("--episode", type=int, required=True, help="episode index")
    parser.add_argument("--sim", action="store_true", help="the simulator graph: domain 1 on loopback")
    parser.add_argument(
        "--domain", type=int, default=None, help="DDS domain (default $ROS_DOMAIN_ID or 0; 1 with --sim)"
    )
    parser.add_argument("--interface", default=None, help="DDS network interface ('lo' = loopback)")
    parser.add_argument("--speed", type=float, default=1.0, help="playback speed factor (0.1-2)")
    parser.add_argument("--horizon", type=int, default=16, help="points per chunk")
    parser.add_argument(
        "--approach-speed", type=float, default=0.5, help="joint speed of the lead-in [rad/s]"
    )
    parser.add_argument(
        "--state-timeout", type=float, default=10.0, help="wait this long for /g1/joint_states [s]"
    )
    parser.add_argument("--start", action="store_true", help="publish 'start' on /dit4dit/command first")
    parser.add_argument("--dry-run", action="store_true", help="print what would be sent, send nothing")


def run(args: argparse.Namespace) -> int:
    """Load the episode, wait for the measured state, publish the chunks in real time."""
    import time

    import numpy as np

    from dit4dit_policy import schema
    from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
    from dit4dit_policy.errors import Dit4ditError
    from dit4dit_policy.ros import interfaces as itf
    from dit4dit_policy.ros.replay import ReplayConfig, play

    dataset = LeRobotDataset(args.dataset)
    if not 0 <= args.episode < dataset.num_episodes:
        raise Dit4ditError(
            f"--episode must be in [0, {dataset.num_episodes}) for {args.dataset}, got {args.episode}"
        )
    names = dataset.features.get(schema.FEATURE_ACTION, {}).get("names")
    if names is not None and list(names) != list(schema.JOINT_NAMES):
        raise Dit4ditError(
            f"{args.dataset}: 'action' names {names} are not the 16-D G1 order of schema.JOINT_NAMES"
        )
    actions = dataset.episode_data(args.episode, [schema.FEATURE_ACTION])[schema.FEATURE_ACTION]
    try:
        config = ReplayConfig(horizon=args.horizon, speed=args.speed, approach_speed=args.approach_speed)
    except ValueError as exc:
        raise Dit4ditError(str(exc)) from exc
    task = dataset.episode_task(args.episode)
    print(
        f"episode {args.episode}: {actions.shape[0]} steps at {dataset.fps} Hz "
        f"({actions.shape[0] / dataset.fps:.1f} s), task {task!r}"
    )
    if args.dry_run:
        print(f"first action: {np.array2string(actions[0], precision=3)}")
        return 0

    from dit4dit_policy.ros.dds_backend.graph import DdsGraph

    domain = (
        args.domain
        if args.domain is not None
        else (1 if args.sim else int(os.environ.get("ROS_DOMAIN_ID", "0")))
    )
    interface = args.interface or ("lo" if args.sim else None)
    graph = DdsGraph("replay", domain, interface=interface)
    measured: list = [None]

    def on_state(state: itf.JointStateData) -> None:
        index = {n: i for i, n in enumerate(state.names)}
        if all(n in index for n in schema.JOINT_NAMES) and len(state.position) == len(state.names):
            measured[0] = state.position[[index[n] for n in schema.JOINT_NAMES]]

    graph.create_subscription(itf.TOPIC_JOINT_STATES, itf.MsgKind.JOINT_STATE, itf.SENSOR_QOS, on_state)
    publisher = graph.create_publisher(itf.TOPIC_ACTION_CHUNK, itf.MsgKind.JOINT_TRAJECTORY, itf.RELIABLE_QOS)
    commands = graph.create_publisher(itf.TOPIC_COMMAND, itf.MsgKind.STRING, itf.RELIABLE_QOS)
    graph.spin(until=lambda: measured[0] is not None, timeout_s=args.state_timeout)
    if measured[0] is None:
        raise Dit4ditError(
            f"no /g1/joint_states on domain {domain} within {args.state_timeout} s: "
            "is the controller node running?"
        )
    if args.start:
        commands.publish("start")
        graph.spin(timeout_s=0.5)

    def spin(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            graph.spin_once(max(0.0, deadline - time.monotonic()))

    count = play(actions, dataset.fps, publisher.publish, measured[0], config, spin=spin)
    spin(0.5)  # let the reliable writer deliver the last chunk
    graph.close()
    print(f"published {count} chunks")
    return 0
