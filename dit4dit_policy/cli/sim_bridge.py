"""``dit4dit sim-bridge``: the MuJoCo G1 behind the robot's DDS topics (domain 1, loopback).

Example::

    dit4dit sim-bridge --task pick_place --seed 3            # real time, until Ctrl-C
    dit4dit sim-bridge --fast --duration 10                  # as fast as possible

Topics: rt/lowstate (500 Hz), rt/arm_sdk and rt/lowcmd (CRC checked), rt/dex1/{left,right}/cmd|state,
rt/dit4dit/sim/command (``reset [<task>] [<seed>]``, ``status``) and rt/dit4dit/sim/status (JSON).
This command renders no camera (it has no frame sink); the bridge node
(``dit4dit_policy.ros.sim_bridge_node``) renders ego frames and publishes them as an image topic
(docs/simulation.md). Other options: ``--config FILE`` (BridgeConfig YAML) and ``--key=value``
overrides, e.g. ``--scene.image_width=224 --scene.image_height=224 --gravity_feedforward=false``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

COMMAND = ("sim-bridge",)
HELP = "run the MuJoCo G1 simulator behind the robot's DDS protocol (rt/lowstate, rt/arm_sdk, grippers)"
ACCEPTS_OVERRIDES = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("--config", type=Path, default=None, help="BridgeConfig YAML file")
    parser.add_argument("--task", default=None, help="task at start (default close_drawer)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the first episode (default 0)")
    parser.add_argument("--domain", type=int, default=None, help="DDS domain id (default 1)")
    parser.add_argument("--fast", action="store_true", help="run as fast as possible instead of real time")
    parser.add_argument(
        "--duration", type=float, default=None, help="stop after this many seconds of wall time"
    )


def run(args: argparse.Namespace) -> int:
    """Load the config, open the bridge and run it until Ctrl-C or --duration."""
    import os

    os.environ.setdefault("MUJOCO_GL", "egl")
    from dit4dit_policy import config as cfg
    from dit4dit_policy.sim.bridge import BridgeConfig, SimBridge

    overrides = list(args.overrides)
    if args.task is not None:
        overrides.append(f"--task={args.task}")
    if args.seed is not None:
        overrides.append(f"--seed={args.seed}")
    if args.domain is not None:
        overrides.append(f"--domain_id={args.domain}")
    if args.fast:
        overrides.append("--realtime=false")
    config = cfg.load(BridgeConfig, args.config, overrides)
    bridge = SimBridge(config)
    bridge.open()
    pacing = "real time" if config.realtime else "as fast as possible"
    where = config.interface or "CYCLONEDDS_URI"
    print(
        f"sim bridge: domain {config.domain_id} ({where}), task {config.task}, seed {config.seed}, {pacing}"
    )
    try:
        bridge.run(duration_s=args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        counters = bridge.counters
        bridge.close()
    print(
        f"sim bridge: {counters.steps} steps, {counters.lowstate_published} lowstate, "
        f"{counters.arm_sdk_received} arm_sdk, {counters.lowcmd_received} lowcmd, "
        f"{counters.crc_errors} bad CRC, {counters.overruns} overruns"
    )
    return 0
