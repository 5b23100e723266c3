"""The rclpy backend with real rclpy (unofficial ROS 2 wheels, Fast DDS) in the separate .venv-rclpy.

The same camera node code that the DDS-backend tests run is started as a ROS 2 lifecycle node with
``--ros-args``; a plain rclpy probe checks its topics, its lifecycle state and parameter errors.
Skipped with the reason when .venv-rclpy is absent (scripts/setup_env.sh creates it on Python 3.11).
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RCLPY_PYTHON = ROOT / ".venv-rclpy" / "bin" / "python"


@pytest.fixture(scope="module", autouse=True)
def _rclpy_available():
    """Skip, with the reason, unless .venv-rclpy exists and its rclpy and messages import."""
    if not RCLPY_PYTHON.exists():
        pytest.skip("no .venv-rclpy with the ROS 2 wheels (scripts/setup_env.sh makes it on Python 3.11)")
    probe = subprocess.run(
        [str(RCLPY_PYTHON), "-c", "import rclpy, rclpy.lifecycle, sensor_msgs.msg, diagnostic_msgs.msg"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if probe.returncode != 0:
        tail = (probe.stderr or probe.stdout).strip().splitlines()[-1:] or ["no output"]
        pytest.skip(f".venv-rclpy exists but rclpy does not import there: {tail[0]}")


def _env(domain):
    env = dict(os.environ)
    env.update(
        ROS_DOMAIN_ID=str(domain),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        RMW_IMPLEMENTATION="rmw_fastrtps_cpp",
    )
    env.pop("CYCLONEDDS_URI", None)
    return env


def _video(tmp_path):
    # Written with this (main) venv's PyAV.
    import av
    import numpy as np

    path = tmp_path / "clip.mp4"
    container = av.open(str(path), "w")
    stream = container.add_stream("mpeg4", rate=30)
    stream.height, stream.width, stream.pix_fmt = 32, 48, "yuv420p"
    for i in range(30):
        frame = av.VideoFrame.from_ndarray(np.full((32, 48, 3), i * 8, np.uint8), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


@pytest.mark.slow
def test_camera_node_as_ros2_lifecycle_node(tmp_path, dds_domain):
    video = _video(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text(
        "camera_node:\n  ros__parameters:\n    source: video\n"
        f"    video_path: '{video}'\n    fps: 30.0\n    diagnostics_period_s: 0.3\n"
    )
    node = subprocess.Popen(
        [
            str(RCLPY_PYTHON),
            "-m",
            "dit4dit_policy.ros.camera_node",
            "--ros-args",
            "--params-file",
            str(params),
        ],
        env=_env(dds_domain),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        probe = subprocess.run(
            [str(RCLPY_PYTHON), str(Path(__file__).with_name("rclpy_probe.py")), "40"],
            env=_env(dds_domain),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        node.terminate()
        out = node.communicate(timeout=20)[0]
    assert probe.returncode == 0, probe.stderr
    got = json.loads(probe.stdout.strip().splitlines()[-1])
    assert got["images"] >= 10, (got, out)
    assert got["shape"] == [32, 48, "rgb8", 144]
    assert got["info"][:2] == [48, 32]
    assert got["diag"][0] == "camera_node: ego camera"
    assert got["state"] == "active"
    assert node.returncode == 0, out


@pytest.mark.slow
def test_unknown_parameter_fails_configure(tmp_path, dds_domain):
    params = tmp_path / "params.yaml"
    params.write_text("camera_node:\n  ros__parameters:\n    source: sim\n    frame_rate: 30\n")
    result = subprocess.run(
        [
            str(RCLPY_PYTHON),
            "-m",
            "dit4dit_policy.ros.camera_node",
            "--ros-args",
            "--params-file",
            str(params),
        ],
        env=_env(dds_domain),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "unknown key 'frame_rate'" in result.stdout + result.stderr
