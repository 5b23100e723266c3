"""The ``dit4dit`` command: discovers its subcommands from the modules of this package.

Each subcommand is one thin module in ``dit4dit_policy/cli/`` defining::

    COMMAND = ("bench", "policy")        # path in the command tree (1 or 2 words)
    HELP = "one-line description"
    ACCEPTS_OVERRIDES = False            # optional: True → extra ``--a.b=value`` args go to args.overrides
    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...

Modules must not import heavy libraries (torch, mujoco, cyclonedds) at module level, so that
``dit4dit --help`` stays instant; import them inside ``run``.

Exit codes: 0 success, 1 user error (a clear one-line message on stderr), 2 usage error,
130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from dit4dit_policy import __version__
from dit4dit_policy.errors import ConfigError, Dit4ditError

#: Help text of command groups (a group appears only once a subcommand registers under it).
GROUP_HELP = {
    "bench": "benchmarks that print a speed ratio against a reference measured in the same run",
    "robot": "inspect the G1 and its 16-D joint contract without commanding motion",
    "dataset": "inspect, validate and compute statistics of LeRobot datasets",
    "eval": "evaluation: simulated, real-robot (operator-driven) and offline open-loop",
    "teleop": "VR teleoperation: certificates, the headset server, and driving the simulator",
}

_PRIVATE = {"main"}

#: Top-level module of an optional dependency → the setup.py extras group that installs it.
OPTIONAL_MODULES = {
    "torch": "model",
    "diffusers": "model",
    "transformers": "model",
    "safetensors": "model",
    "accelerate": "train",
    "tensorboard": "train",
    "deepspeed": "deepspeed",
    "cyclonedds": "robot",
    "cv2": "robot",
    "dynamixel_sdk": "robot",
    "mujoco": "sim",
    "mink": "sim",
    "gymnasium": "sim",
    "pyarrow": "data",
    "av": "data",
    "onnx": "export",
    "onnxruntime": "export",
    "websockets": "teleop",
    "cryptography": "teleop",
    "matplotlib": "eval",
}


def discover() -> list[ModuleType]:
    """Import every subcommand module of this package, sorted by command path."""
    import dit4dit_policy.cli as package

    modules = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name in _PRIVATE:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if not hasattr(module, "COMMAND"):
            continue
        modules.append(module)
    return sorted(modules, key=lambda m: tuple(m.COMMAND))


def build_parser(modules: Sequence[ModuleType]) -> argparse.ArgumentParser:
    """The full argparse tree for ``modules``."""
    parser = argparse.ArgumentParser(
        prog="dit4dit",
        description="DiT4DiT policy on the Unitree G1: simulation, training, evaluation, deployment tools.",
    )
    parser.add_argument("--version", action="version", version=f"dit4dit_policy {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    top.required = True
    groups: dict[str, argparse._SubParsersAction] = {}
    for module in modules:
        path = tuple(module.COMMAND)
        if len(path) == 1:
            sub = top.add_parser(path[0], help=module.HELP, description=module.HELP)
        elif len(path) == 2:
            if path[0] not in groups:
                group_help = GROUP_HELP.get(path[0], path[0])
                group_parser = top.add_parser(path[0], help=group_help, description=group_help)
                groups[path[0]] = group_parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
                groups[path[0]].required = True
            sub = groups[path[0]].add_parser(path[1], help=module.HELP, description=module.HELP)
        else:
            raise RuntimeError(f"{module.__name__}.COMMAND must have 1 or 2 words, got {path!r}")
        module.add_arguments(sub)
        sub.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dit4dit`` console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(discover())
    args, extra = parser.parse_known_args(argv)
    module = args._module
    if extra:
        if not getattr(module, "ACCEPTS_OVERRIDES", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        bad = [e for e in extra if not (e.startswith("--") and "=" in e)]
        if bad:
            parser.error(f"config overrides must look like --section.key=value, got: {' '.join(bad)}")
    args.overrides = extra
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _terminate_cleanly()
    try:
        return int(module.run(args) or 0)
    except (Dit4ditError, ConfigError, FileNotFoundError) as exc:
        print(f"dit4dit: error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        message = missing_dependency_message(exc, args)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dit4dit: interrupted", file=sys.stderr)
        return 130


def missing_dependency_message(exc: ModuleNotFoundError, args: argparse.Namespace) -> str | None:
    """The user-facing error for an optional dependency that is not installed, else ``None``.

    A base ``pip install dit4dit_policy`` has only numpy and PyYAML; each command imports the
    libraries it needs inside ``run``. A missing one is a user error (exit 1) naming the module and
    the extras group that installs it (setup.py ``EXTRAS``), not a traceback.
    """
    top = (exc.name or "").split(".")[0]
    group = OPTIONAL_MODULES.get(top)
    if group is None:
        return None
    command = " ".join(args._module.COMMAND)
    hint = " (0.10.x: Unitree's side cannot talk to 11.x)" if top == "cyclonedds" else ""
    return (
        f"dit4dit: error: `dit4dit {command}` needs the Python module '{top}'{hint}, which is not "
        f"installed: pip install 'dit4dit_policy[{group}]' (or '[all]'; `make demo` sets up everything)"
    )


def _terminate_cleanly() -> None:
    """Turn SIGTERM into ``SystemExit(143)`` so that ``finally`` blocks run.

    E.g. the node processes of ``dit4dit sim`` / ``eval sim --graph`` are then stopped and the
    controller ramps out. A handler someone else installed is left alone.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def _on_sigterm(_signum: int, _frame: object) -> None:
        print("dit4dit: terminated (SIGTERM); stopping", file=sys.stderr)
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, _on_sigterm)


if __name__ == "__main__":
    sys.exit(main())
