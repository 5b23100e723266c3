"""DESIGN.md §4: robot/sim/teleop/record/ros never import torch; model never imports robot/sim/ros."""

import subprocess
import sys
import textwrap

TORCH_FREE = ["robot", "sim", "teleop", "record", "ros"]
#: Modules allowed to need torch inside torch-free packages (in-process inference).
TORCH_ALLOWED = {"dit4dit_policy.ros.policy_node"}


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )


def test_torch_free_packages_import_without_torch():
    result = _run(
        f"""
        import importlib, pkgutil, sys
        sys.modules["torch"] = None  # any `import torch` now raises ImportError
        import dit4dit_policy
        OPTIONAL = {{"rclpy", "builtin_interfaces", "sensor_msgs", "std_msgs", "trajectory_msgs",
                    "diagnostic_msgs", "pyrealsense2", "unitree_sdk2py"}}
        imported = []
        for pkg_name in {TORCH_FREE!r} + ["cli"]:
            pkg = importlib.import_module("dit4dit_policy." + pkg_name)
            for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
                if info.name in {sorted(TORCH_ALLOWED)!r}:
                    continue
                try:
                    importlib.import_module(info.name)
                except ModuleNotFoundError as exc:
                    # Optional middleware/hardware SDKs (rclpy, ROS messages, pyrealsense2) may be
                    # absent; torch must never be the reason.
                    if exc.name in OPTIONAL:
                        continue
                    raise
                imported.append(info.name)
        for name in ("schema", "config", "errors"):
            importlib.import_module("dit4dit_policy." + name)
        print(len(imported))
        """
    )
    assert result.returncode == 0, result.stderr


def test_model_does_not_import_robot_side():
    result = _run(
        """
        import importlib, pkgutil, sys
        import dit4dit_policy.model as model
        for info in pkgutil.walk_packages(model.__path__, model.__name__ + "."):
            importlib.import_module(info.name)
        bad = [m for m in sys.modules if m.split(".")[:2] in
               (["dit4dit_policy", "robot"], ["dit4dit_policy", "sim"], ["dit4dit_policy", "ros"])]
        bad += [m for m in ("rclpy", "mujoco", "cyclonedds") if m in sys.modules]
        assert not bad, bad
        """
    )
    assert result.returncode == 0, result.stderr


def test_cli_help_does_not_import_heavy_libraries():
    result = _run(
        """
        import sys
        from dit4dit_policy.cli.main import build_parser, discover
        build_parser(discover())
        heavy = [m for m in ("torch", "mujoco", "cyclonedds", "diffusers", "transformers", "cv2", "av")
                 if m in sys.modules]
        assert not heavy, heavy
        """
    )
    assert result.returncode == 0, result.stderr


def test_only_cli_and_ros_import_ros():
    """Nothing imports the ROS layer except the CLI (DESIGN.md §4: nodes sit on top)."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "dit4dit_policy"
    offenders = []
    for path in package.rglob("*.py"):
        rel = path.relative_to(package).parts
        if rel[0] in ("ros", "cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n == "dit4dit_policy.ros" or n.startswith("dit4dit_policy.ros.") for n in names):
                offenders.append(str(path.relative_to(package)))
    assert not offenders, offenders
