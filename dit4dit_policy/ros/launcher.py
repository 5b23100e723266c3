"""Entry point shared by every node executable: pick the backend, load parameters, run the node.

* ``--ros-args …`` present (``ros2 run`` / ``ros2 launch``) or ``--backend rclpy`` → rclpy lifecycle
  node; parameters from the ROS parameter files given in the ROS arguments.
* otherwise the CycloneDDS backend: ``--params-file FILE`` (standard ``<node>: ros__parameters:``
  layout, loaded through the node's config dataclass), ``--param a.b=value`` overrides,
  ``--domain-id N`` and ``--interface IFACE`` (``lo`` keeps everything on loopback).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from dit4dit_policy import config as cfg
from dit4dit_policy.errors import ConfigError
from dit4dit_policy.ros.graph import LifecycleNode


def _parser(node_cls: type[LifecycleNode]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=node_cls.NAME, description=(node_cls.__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--backend", choices=("auto", "dds", "rclpy"), default="auto", help="middleware backend"
    )
    parser.add_argument("--params-file", type=str, help="ROS 2 parameter YAML (<node>: ros__parameters: …)")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="parameter override"
    )
    parser.add_argument(
        "--domain-id",
        type=int,
        default=int(os.environ.get("ROS_DOMAIN_ID", "0")),
        help="DDS domain (0 real robot, 1 simulation; default $ROS_DOMAIN_ID or 0)",
    )
    parser.add_argument("--interface", default=None, help="network interface for DDS ('lo' = loopback only)")
    parser.add_argument("--name", default=node_cls.NAME, help="node name (selects the parameter section)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return parser


def load_node_config(
    node_cls: type[LifecycleNode], params_file: str | None, name: str, overrides: Sequence[str]
):
    """The node's config from an optional parameter file plus ``a.b=value`` overrides.

    Raises:
        ConfigError: unknown key, wrong type, missing section or value.
    """
    overrides = [o if o.startswith("--") else f"--{o}" for o in overrides]
    if params_file:
        return cfg.load_ros_params(node_cls.CONFIG, params_file, name, overrides)
    return cfg.load(node_cls.CONFIG, None, overrides)


def node_main(node_cls: type[LifecycleNode], argv: Sequence[str] | None = None) -> int:
    """Run ``node_cls`` on the chosen backend; returns the exit code (2 on a parameter error)."""
    code = _run(node_cls, argv)
    if argv is None:
        # Running as an executable: every node has finished its lifecycle (safety actions, files
        # closed). Leave without C++ static destructors: after torch ran inference on a worker
        # thread next to CycloneDDS's threads, libtorch's teardown can abort ("terminate called
        # without an active exception"), turning a clean stop into exit code -6.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _run(node_cls: type[LifecycleNode], argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ros_args = "--ros-args" in argv
    own = argv[: argv.index("--ros-args")] if ros_args else argv
    args = _parser(node_cls).parse_args(own)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    backend = args.backend
    if backend == "auto":
        backend = "rclpy" if ros_args else "dds"
    if backend == "rclpy":
        from dit4dit_policy.ros.rclpy_backend.graph import run_node as run_rclpy

        return run_rclpy(node_cls, argv)
    try:
        config = load_node_config(node_cls, args.params_file, args.name, args.param)
    except ConfigError as exc:
        logging.getLogger(node_cls.NAME).error("%s", exc)
        return 2
    from dit4dit_policy.ros.dds_backend.runner import run_node as run_dds

    return run_dds(node_cls, config, domain_id=args.domain_id, interface=args.interface, name=args.name)
