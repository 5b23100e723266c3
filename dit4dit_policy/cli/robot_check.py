"""``dit4dit robot check``: connect to the G1 (or the simulator), print its state; command nothing.

Reads ``rt/lowstate`` (and the Dex1 gripper states) for ``--duration`` seconds and prints the
state age, rate, ``mode_machine``, CRC errors and the measured 16-D joint vector. It creates no
command writer on ``rt/arm_sdk`` / ``rt/lowcmd`` and never writes a gripper command.
"""

from __future__ import annotations

import argparse
import json
import math
import time

COMMAND = ("robot", "check")
HELP = "read rt/lowstate (and Dex1 gripper states): age, rate, mode_machine, 16-D joints; commands nothing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument(
        "--iface", required=True, help="network interface to the robot (e.g. enp3s0; lo = simulator)"
    )
    parser.add_argument("--domain", type=int, default=0, help="DDS domain id (0 = real robot, 1 = simulator)")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds to listen [s]")
    parser.add_argument(
        "--grippers", choices=("dex1", "none"), default="dex1", help="also read rt/dex1/{left,right}/state"
    )
    parser.add_argument("--no-crc", action="store_true", help="accept samples whose CRC does not match")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Listen, then print; exit 1 if no valid state arrived."""
    import numpy as np

    from dit4dit_policy import schema
    from dit4dit_policy.errors import ConfigError, DeviceNotConnectedError
    from dit4dit_policy.robot.dds import DdsSession
    from dit4dit_policy.robot.grippers.dex1 import Dex1Gripper
    from dit4dit_policy.robot.link import G1Link, LinkConfig

    if not 0.2 <= args.duration <= 600:
        raise ConfigError(f"--duration must be in [0.2, 600] s, got {args.duration}")
    try:
        session = DdsSession(args.domain, args.iface)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    link = G1Link(
        LinkConfig(domain_id=args.domain, interface=args.iface, verify_state_crc=not args.no_crc), session
    )
    link.connect(command=False)
    grippers = [Dex1Gripper(session, side) for side in ("left", "right")] if args.grippers == "dex1" else []
    for g in grippers:
        g.start()  # reads only: no target is ever set, so nothing is written
    try:
        end = time.monotonic() + args.duration
        while time.monotonic() < end:
            link.poll()
            time.sleep(0.002)
    finally:
        for g in grippers:
            g.stop()
    now = time.monotonic()
    if link.state is None:
        reason = f"; last rejected sample: {link.last_reject_reason}" if link.last_reject_reason else ""
        raise DeviceNotConnectedError(
            f"no valid rt/lowstate on domain {args.domain} via {args.iface} within {args.duration:g} s"
            f"{reason} (check the cable, the host IP on 192.168.123.0/24, the domain and the interface name)"
        )
    q = np.full(schema.NUM_JOINTS, np.nan)
    dq = np.full(schema.NUM_JOINTS, np.nan)
    q[:14], dq[:14] = link.arm_positions(), link.arm_velocities()
    for i, g in enumerate(grippers):
        r = g.reading()
        if r.age_s(now) < 1.0:
            q[14 + i] = r.opening
    summary = {
        "domain": args.domain,
        "interface": args.iface,
        "state_age_s": link.state_age_s(now),
        "rate_hz": link.mean_rate_hz(),
        "mode_machine": link.mode_machine,
        "mode_machine_name": schema.MODE_MACHINE.get(link.mode_machine or -1, "unknown"),
        "samples": link.samples,
        "rejected": link.rejected,
        "crc_errors": link.crc_errors,
        "last_reject": link.last_reject_reason,
        "joints": {
            name: (None if math.isnan(v) else float(v)) for name, v in zip(schema.JOINT_NAMES, q, strict=True)
        },
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"rt/lowstate on domain {args.domain} via {args.iface}: {summary['rate_hz']:.1f} Hz, "
        f"age {summary['state_age_s'] * 1e3:.1f} ms, "
        f"mode_machine {link.mode_machine} ({summary['mode_machine_name']}), "
        f"{link.samples} valid / {link.rejected} rejected ({link.crc_errors} CRC errors)"
    )
    if link.last_reject_reason:
        print(f"last rejected sample: {link.last_reject_reason}")
    print(f"{'dim':>3}  {'name':<28} {'q':>10} {'dq':>10}")
    for i, name in enumerate(schema.JOINT_NAMES):
        unit = "rad" if i < schema.NUM_ARM_JOINTS else "opening"
        qs = "n/a" if math.isnan(q[i]) else f"{q[i]:.4f}"
        dqs = "" if math.isnan(dq[i]) else f"{dq[i]:.4f}"
        print(f"{i:>3}  {name:<28} {qs:>10} {dqs:>10}  {unit}")
    return 0
