"""Packaging for dit4dit_policy: one ament_python ROS 2 package that also installs with plain pip.

`colcon build` (ROS 2 Humble/Jazzy) installs the node executables into lib/dit4dit_policy and the
launch/config/urdf/calibration trees into share/dit4dit_policy; `pip install -e .[...]` installs the
same Python package and the `dit4dit` command for machines without ROS.
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "dit4dit_policy"
HERE = Path(__file__).resolve().parent

# Directories installed verbatim under share/<package>/ (ament index layout).
SHARE_TREES = ("launch", "config", "urdf", "calibration")


def share_data_files() -> list[tuple[str, list[str]]]:
    """Every regular file under SHARE_TREES, grouped by its directory, as setuptools data_files."""
    groups: dict[str, list[str]] = {}
    for tree in SHARE_TREES:
        for path in sorted((HERE / tree).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                rel = path.relative_to(HERE)
                groups.setdefault(f"share/{PACKAGE}/{rel.parent.as_posix()}", []).append(rel.as_posix())
    return sorted(groups.items())


# Optional dependency groups: each machine installs only what it needs.
EXTRAS = {
    # The policy itself. Install the pinned CPU torch first on machines without CUDA (see Makefile).
    "model": ["torch>=2.4", "diffusers>=0.37", "transformers>=4.57", "safetensors>=0.4"],
    "train": ["accelerate>=1.0", "tensorboard>=2.15", "tqdm>=4.66", "rich>=13"],
    "deepspeed": ["deepspeed>=0.15"],
    # Robot side: torch-free. Unitree's side speaks CycloneDDS 0.10.x; 11.x cannot talk to it.
    "robot": ["cyclonedds>=0.10.2,<0.11", "opencv-python-headless>=4.8", "dynamixel-sdk>=3.7"],
    "sim": ["mujoco>=3.3", "mink>=1.0", "gymnasium>=1.0", "tqdm>=4.66"],
    "data": ["pyarrow>=14", "av>=12"],
    "export": ["onnx>=1.16", "onnxruntime>=1.18"],
    "teleop": ["websockets>=12", "cryptography>=42"],
    "eval": ["matplotlib>=3.8"],
    "dev": ["pytest>=8", "pytest-timeout>=2.3", "ruff>=0.6", "hypothesis>=6.100", "mypy>=1.10"],
}
EXTRAS["all"] = sorted(
    {req for name, reqs in EXTRAS.items() if name not in ("deepspeed", "dev") for req in reqs}
)

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Real-time ROS 2 deployment, training and evaluation of the DiT4DiT video-action policy "
    "on a Unitree G1 (two 7-DoF arms + two grippers).",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    include_package_data=True,
    package_data={PACKAGE: ["assets/**/*", "py.typed", "teleop/web/*.html"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *share_data_files(),
    ],
    install_requires=["numpy>=1.24", "PyYAML>=6"],
    extras_require=EXTRAS,
    zip_safe=False,
    entry_points={
        "console_scripts": [
            "dit4dit = dit4dit_policy.cli.main:main",
            # ROS 2 node executables (`ros2 run dit4dit_policy <name>`; also runnable without ROS).
            "camera_node = dit4dit_policy.ros.camera_node:main",
            "policy_node = dit4dit_policy.ros.policy_node:main",
            "controller_node = dit4dit_policy.ros.controller_node:main",
            "sim_bridge_node = dit4dit_policy.ros.sim_bridge_node:main",
            "teleop_node = dit4dit_policy.ros.teleop_node:main",
            "recorder_node = dit4dit_policy.ros.recorder_node:main",
        ],
    },
)
