"""``dit4dit record``: the recorder in the foreground, optionally with a teleop node driven by a pose log.

End to end without a headset: pose log → scripted WSS client → teleop node (child process) →
action chunks over DDS → recorder pairs them with the camera frames and joint states → dataset.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
from dit4dit_policy.record.recorder import read_recording_log
from dit4dit_policy.teleop.cert import CertificatePaths, generate_certificate
from dit4dit_policy.teleop.protocol import HandInput, Pose, XrFrame, encode_frame

HERE = Path(__file__).resolve().parent
IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])


def _write_pose_log(path, seconds=8.0, rate=60):
    head = Pose(np.array([0.0, 1.6, 0.0]), IDENTITY)
    with open(path, "w") as handle:
        for i in range(int(seconds * rate)):
            dz = 0.08 * np.sin(i / rate)
            right = HandInput(pose=Pose(np.array([0.2, 1.1, -0.3 - dz]), IDENTITY), squeeze=1.0)
            record = json.loads(encode_frame(XrFrame(i, 0.0, "controller", head, HandInput(), right)))
            record["received_ns"] = 10**9 + round(i * 1e9 / rate)
            handle.write(json.dumps(record) + "\n")


def test_record_command_with_teleop_and_a_pose_log(tmp_path, dds_domain):
    cert_dir = tmp_path / "cert"
    generate_certificate(CertificatePaths(cert_dir / "cert.pem", cert_dir / "key.pem"), ["127.0.0.1"])
    _write_pose_log(tmp_path / "poses.jsonl")
    feeder = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "record_feeder.py"),
            str(dds_domain),
            "--duration",
            "60",
            "--stamps",
            str(tmp_path / "stamps.jsonl"),
            "--no-chunks",
            "--hold-pose",
        ],
    )
    try:
        time.sleep(1.0)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "dit4dit_policy.cli",
                "record",
                "--dataset",
                str(tmp_path / "demos"),
                "--task",
                "wave the right hand",
                "--domain",
                str(dds_domain),
                "--interface",
                "lo",
                "--codec",
                "h264",
                "--teleop-port",
                "0",
                "--cert-dir",
                str(cert_dir),
                "--pose-log",
                str(tmp_path / "poses.jsonl"),
                "--autostart",
                "--duration",
                "7",
            ],
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )
    finally:
        feeder.kill()
        feeder.wait()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "teleop page (open on the headset): https://127.0.0.1:" in result.stdout
    ds = LeRobotDataset(tmp_path / "demos")
    assert ds.num_episodes == 1 and ds.episode_task(0) == "wave the right hand"
    data = ds.episode_data(0)
    assert ds.episode_lengths[0] > 60
    age = data["record.action_age_ms"]
    engaged = age >= 0  # frames with a teleop command in force
    assert engaged.sum() > 30
    right_arm = data["action"][engaged][:, 7:14]
    assert np.ptp(right_arm, axis=0).max() > 0.02  # the operator's motion reached the commands
    assert np.ptp(data["action"][engaged][:, :7], axis=0).max() < 1e-6  # the left arm held
    log = read_recording_log(tmp_path / "demos")
    assert log[-1]["outcome"] == "saved" and log[-1]["counters"]["dropped"] == 0
