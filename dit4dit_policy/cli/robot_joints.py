"""``dit4dit robot joints``: print the validated 16-D joint table (order, G1 motor index, limits)."""

from __future__ import annotations

import argparse
import json

COMMAND = ("robot", "joints")
HELP = "print the 16-D joint contract: names, G1 motor indices, limits and units"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Print the table built from :mod:`dit4dit_policy.schema` (its limits are validated on import)."""
    from dit4dit_policy import schema

    if args.json:
        rows = [
            {
                "dim": i,
                "name": name,
                "motor_index": schema.ARM_MOTOR_INDICES[i] if i < schema.NUM_ARM_JOINTS else None,
                "lower": lim.lower,
                "upper": lim.upper,
                "velocity": lim.velocity,
                "effort": lim.effort,
            }
            for i, (name, lim) in enumerate(zip(schema.JOINT_NAMES, schema.JOINT_LIMITS, strict=True))
        ]
        print(json.dumps({"joints": rows, "arm_sdk_weight_index": schema.ARM_SDK_WEIGHT_INDEX}, indent=2))
    else:
        print(schema.format_joint_table())
    return 0
