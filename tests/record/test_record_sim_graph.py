"""``dit4dit record --sim``: the simulated robot graph (bridge, controller, camera, teleop node) as
processes, driven by a pose log through the WSS server, recorded by the recorder.

The teleop commands reach the simulated arms only through the controller node (chunk scheduler,
safety filter, arm_sdk), and the recorded state follows the recorded commands.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
from dit4dit_policy.record.recorder import read_recording_log
from dit4dit_policy.teleop.cert import CertificatePaths, generate_certificate
from dit4dit_policy.teleop.protocol import HandInput, Pose, XrFrame, encode_frame

IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])
NODES = (
    "dit4dit_policy.ros.controller_node",
    "dit4dit_policy.ros.sim_bridge_node",
    "dit4dit_policy.ros.camera_node",
)

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in NODES), reason="needs the controller and simulator nodes"
)


def _pose_log(path, seconds=16.0, rate=60):
    head = Pose(np.array([0.0, 1.6, 0.0]), IDENTITY)
    with open(path, "w") as handle:
        for i in range(int(seconds * rate)):
            t = i / rate
            offset = np.array(
                [0.0, 0.06 * (1 - np.cos(0.8 * t)), -0.08 * np.sin(0.8 * t)]
            )  # up/forward loops
            right = HandInput(pose=Pose(np.array([0.2, 1.1, -0.3]) + offset, IDENTITY), squeeze=1.0)
            record = json.loads(encode_frame(XrFrame(i, 0.0, "controller", head, HandInput(), right)))
            record["received_ns"] = 10**9 + round(i * 1e9 / rate)
            handle.write(json.dumps(record) + "\n")


def _record_sim_argv(domain, tmp_path, seconds):
    """`dit4dit record --sim` streaming tmp_path/poses.jsonl (certificate in tmp_path/cert) into
    tmp_path/demos for ``seconds``, one episode, h264."""
    return [
        sys.executable,
        "-m",
        "dit4dit_policy.cli",
        "record",
        "--sim",
        "--domain",
        str(domain),
        "--dataset",
        str(tmp_path / "demos"),
        "--task",
        "wave over the drawer",
        "--cert-dir",
        str(tmp_path / "cert"),
        "--pose-log",
        str(tmp_path / "poses.jsonl"),
        "--teleop-port",
        "0",
        "--autostart",
        "--duration",
        str(seconds),
        "--codec",
        "h264",
    ]


@pytest.mark.slow
def test_record_sim_teleoperates_through_the_controller(tmp_path, dds_domain):
    cert_dir = tmp_path / "cert"
    generate_certificate(CertificatePaths(cert_dir / "cert.pem", cert_dir / "key.pem"), ["127.0.0.1"])
    _pose_log(tmp_path / "poses.jsonl")
    result = subprocess.run(
        _record_sim_argv(dds_domain, tmp_path, 10),
        capture_output=True,
        text=True,
        timeout=400,
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "simulated graph stopped: {'teleop': 0, 'camera': 0, 'controller': 0, 'sim': 0}" in output, output
    ds = LeRobotDataset(tmp_path / "demos")
    assert ds.num_episodes == 1 and ds.episode_task(0) == "wave over the drawer"
    data = ds.episode_data(0)
    assert ds.episode_lengths[0] > 100
    live = np.flatnonzero(data["record.action_age_ms"][:-10] < 200)  # a teleop chunk was in force
    assert len(live) > 30, data["record.action_age_ms"]
    action, state = data["action"][:, 7:14], data["observation.state"][:, 7:14]
    assert np.ptp(action[live], axis=0).max() > 0.05  # the operator moved the right arm
    # the simulated arm follows the commands (compare with the state 0.2 s later: PD and ramp lag)
    follow = np.median(np.abs(state[live + 6] - action[live]).max(axis=1))
    print(
        f"\nframes {ds.episode_lengths[0]}, live {len(live)}, follow error median {follow:.3f} rad, "
        f"counters {read_recording_log(tmp_path / 'demos')[-1]['counters']}"
    )
    assert follow < 0.1
    assert ds.frames(0).shape[0] == ds.episode_lengths[0]


@pytest.mark.slow
def test_minutes_of_sim_recording_lose_no_published_frame(tmp_path, dds_domain):
    """`dit4dit record --sim` for 150 s: every ego frame the simulated camera published is in the
    dataset exactly once (by capture stamp) at its 30 Hz slot, or counted as a duplicate when an
    earlier frame already took that slot; the dataset validates for the G1 and trains.

    Frames the simulator's renderer could not produce in time (it shares two cores with the
    physics, controller, teleop and recorder processes) are camera-side losses: the recorder fills
    their slots with the previous image and counts them as ``dropped`` (docs/teleop.md §8); this
    test proves the recorder itself loses nothing it was sent.
    """
    from dit4dit_policy.data.validate import validate_dataset
    from dit4dit_policy.ros import interfaces as itf
    from dit4dit_policy.ros.dds_backend.graph import DdsGraph

    seconds = 150
    cert_dir = tmp_path / "cert"
    generate_certificate(CertificatePaths(cert_dir / "cert.pem", cert_dir / "key.pem"), ["127.0.0.1"])
    _pose_log(tmp_path / "poses.jsonl", seconds=seconds + 30)
    probe = DdsGraph("probe", dds_domain, interface="lo")
    published: list[int] = []
    probe.create_subscription(  # best effort like the recorder, with a second of history
        itf.TOPIC_IMAGE,
        itf.MsgKind.IMAGE,
        itf.QosProfile(itf.Reliability.BEST_EFFORT, 30),
        lambda frame: published.append(frame.stamp_ns),
    )
    proc = subprocess.Popen(
        _record_sim_argv(dds_domain, tmp_path, seconds),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        for _ in range(int((seconds + 240) / 0.05)):  # bounded: the command quits after `seconds`
            if proc.poll() is not None:
                break
            probe.spin_once(0.05)
        else:
            proc.kill()
        output = proc.communicate(timeout=60)[0]
    finally:
        probe.close()
    assert proc.returncode == 0, output
    ds = LeRobotDataset(tmp_path / "demos")
    assert ds.num_episodes == 1, output
    data = ds.episode_data(0)
    filled = data["record.frame_filled"].astype(bool)
    captured = data["record.capture_time_ns"].astype(np.int64)[~filled]
    sent = np.unique(np.asarray(published, dtype=np.int64))
    inside = sent[(sent >= captured[0]) & (sent <= captured[-1])]
    missing = np.setdiff1d(inside, captured)
    assert len(np.unique(captured)) == len(captured)  # no frame twice
    assert len(inside) > 30 * seconds * 0.5, (len(inside), output)  # the probe saw the stream
    counters = read_recording_log(tmp_path / "demos")[-1]["counters"]
    # Every published frame is recorded, except one whose 30 Hz slot the previous recorded frame
    # already took (a renderer catching up can deliver two frames < half a period apart): those are
    # counted as duplicates, and each lies within half a period after a recorded frame.
    previous = captured[np.searchsorted(captured, missing) - 1]
    assert len(missing) <= counters["duplicates"], (
        f"{len(missing)} of {len(inside)} published frames not recorded, "
        f"{counters['duplicates']} counted as duplicates"
    )
    assert np.all(missing - previous < 1e9 / 30 / 2), (missing, previous)
    np.testing.assert_allclose(data["timestamp"], np.arange(ds.episode_lengths[0]) / 30.0, atol=1e-4)
    assert counters["frames"] == ds.episode_lengths[0]
    assert counters["dropped"] == int(filled.sum())
    report = validate_dataset(tmp_path / "demos", embodiment="g1_16dof")
    assert not report.errors, report.errors
    # ... and it trains with the data module (tiny preset on the CPU, two steps)
    from dit4dit_policy.train.config import load_train_config
    from dit4dit_policy.train.trainer import Trainer

    overrides = {
        "data.datasets": f"[{tmp_path / 'demos'}]",
        "output_dir": str(tmp_path / "run"),
        "data.val_episodes": 0,
        "data.num_workers": 0,
        "train.batch_size": 2,
        "train.max_steps": 2,
        "train.log_every": 1,
        "train.save_every": 3,
        "train.progress": "false",
        "train.tensorboard": "false",
        "train.cpu": "true",
        "optim.warmup_steps": 1,
        "model.image_size": "[32,32]",
    }
    config = Path(__file__).resolve().parents[2] / "config/train/sim_tiny.yaml"
    summary = Trainer(load_train_config(config, [f"--{k}={v}" for k, v in overrides.items()])).fit()
    assert summary["step"] == 2 and np.isfinite(float(summary["loss"]))
    print(
        f"\n{ds.episode_lengths[0]} frames in {seconds} s: {len(captured)} rendered and recorded "
        f"({len(inside)} seen by the probe, {len(missing)} of them skipped as slot duplicates), "
        f"{int(filled.sum())} slots filled "
        f"(renderer behind), counters {counters}"
    )
