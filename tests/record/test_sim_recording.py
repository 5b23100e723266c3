"""Teleoperating the simulator and recording it: streamed poses → server → retargeting → MuJoCo G1 →
pairer → recorder → LeRobot v3 dataset, which then trains with the data module (tiny preset, CPU)."""

import asyncio
import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dit4dit_policy import schema
from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
from dit4dit_policy.record.recorder import EpisodeRecorder, read_recording_log
from dit4dit_policy.record.sim_session import SimRecordingSession
from dit4dit_policy.sim.env import EnvConfig, G1TabletopEnv
from dit4dit_policy.sim.scene import SceneConfig
from dit4dit_policy.teleop.cert import CertificatePaths, generate_certificate
from dit4dit_policy.teleop.client import stream_frames
from dit4dit_policy.teleop.protocol import HandInput, Pose, XrFrame
from dit4dit_policy.teleop.retarget import Retargeter
from dit4dit_policy.teleop.server import ServerConfig, TeleopServer
from dit4dit_policy.teleop.session import TeleopSession

SIM_TINY = Path(__file__).resolve().parents[2] / "config/train/sim_tiny.yaml"
IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])


def _poses(seconds, rate=60):
    """Both hands draw slow loops (±6 cm) with the grip held; the right trigger pulses."""
    head = Pose(np.array([0.0, 1.6, 0.0]), IDENTITY)
    frames = []
    for i in range(int(seconds * rate)):
        t = i / rate
        offset = 0.06 * np.array([math.sin(1.3 * t), 0.5 * (1 - math.cos(1.3 * t)), -math.sin(0.9 * t)])
        hands = [
            HandInput(
                pose=Pose(np.array([x, 1.1, -0.35]) + offset, IDENTITY),
                squeeze=1.0,
                trigger=0.5 * (1 + math.sin(2 * t)) if x > 0 else 0.0,
            )
            for x in (-0.2, 0.2)
        ]
        frames.append(XrFrame(i, 0.0, "controller", head, hands[0], hands[1]))
    return frames


@pytest.mark.slow
def test_recorded_sim_episodes_train_with_the_data_module(tmp_path):
    cert = generate_certificate(CertificatePaths(tmp_path / "c.pem", tmp_path / "k.pem"), ["127.0.0.1"])
    server = TeleopServer(ServerConfig(port=0, cert_file=str(cert.cert), key_file=str(cert.key)))
    server.start()
    env = G1TabletopEnv("close_drawer", EnvConfig(scene=SceneConfig(image_width=64, image_height=64)))
    recorder = EpisodeRecorder(tmp_path / "demos", video_codec="h264")
    sim = SimRecordingSession(env, TeleopSession(server, Retargeter()), recorder, "close the drawer")
    sim.reset(seed=1)
    streamer = threading.Thread(
        target=lambda: asyncio.run(stream_frames(server.url, _poses(6.0), rate_hz=60, cafile=cert.cert)),
        daemon=True,
    )
    streamer.start()
    try:
        engaged = []
        for episode, steps in enumerate((60, 45)):
            sim.start_episode()
            for _ in range(steps):
                started = time.monotonic()
                engaged.append(sim.step().any_engaged)
                time.sleep(max(0.0, 1 / 30 - (time.monotonic() - started)))
            if episode == 1:
                sim.mark(True)
            sim.stop_episode(save=True)
            sim.reset(seed=2)
        assert recorder.wait_idle(120)
    finally:
        streamer.join(30)
        recorder.close()
        server.stop()
        env.close()
    assert sum(engaged) > 50  # the arms followed the stream for most of the run
    ds = LeRobotDataset(tmp_path / "demos")
    assert ds.num_episodes == 2 and list(ds.episode_lengths) == [60, 45]
    assert [e["success"] for e in read_recording_log(tmp_path / "demos")] == [None, True]
    ep = ds.episode(0)
    action, state = ep.data["action"], ep.data["observation.state"]
    assert np.ptp(action[:, :14], axis=0).max() > 0.05  # commanded arm motion
    assert np.ptp(state[:, :14], axis=0).max() > 0.05  # and the simulated arms moved
    assert action[:, schema.RIGHT_GRIPPER_INDEX].min() < 0.9  # the trigger closed the gripper
    # the robot follows the command: the state one step later is close to the action
    assert np.median(np.abs(state[1:, :14] - action[:-1, :14])) < 0.05
    assert ds.frames(0).shape == (60, 64, 64, 3) and not ep.data["record.frame_filled"].any()

    # ... and the dataset trains with the data module (tiny preset on the CPU, a few steps)
    pytest.importorskip("torch")
    from dit4dit_policy.train.config import load_train_config
    from dit4dit_policy.train.trainer import Trainer

    overrides = {
        "data.datasets": f"[{tmp_path / 'demos'}]",
        "output_dir": str(tmp_path / "run"),
        "data.val_episodes": 1,
        "data.num_workers": 0,
        "train.batch_size": 2,
        "train.max_steps": 2,
        "train.log_every": 1,
        "train.val_every": 3,
        "train.save_every": 3,
        "train.progress": "false",
        "train.tensorboard": "false",
        "train.cpu": "true",
        "optim.warmup_steps": 1,
        "model.image_size": "[32,32]",
        "model.video_delta_indices": "[0,1,2,3,4,5,6,7,8]",
    }
    cfg = load_train_config(SIM_TINY, [f"--{k}={v}" for k, v in overrides.items()])
    summary = Trainer(cfg).fit()
    assert summary["step"] == 2 and math.isfinite(float(summary["loss"]))
    assert (tmp_path / "run" / "policy").is_dir()
