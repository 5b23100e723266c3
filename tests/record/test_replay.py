"""Replay of recorded actions as action chunks: chunk contents, lead-in approach, the CLI over DDS."""

import itertools
import subprocess
import sys
import threading

import numpy as np
import pytest

from dit4dit_policy import schema
from dit4dit_policy.data.lerobot_dataset import LeRobotDatasetWriter, g1_features
from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.dds_backend.graph import DdsGraph
from dit4dit_policy.ros.replay import ReplayConfig, approach, chunks, play


def _actions(length):
    base = np.zeros((length, 16))
    base[:, :14] = 0.2 + 0.01 * np.arange(length)[:, None]
    base[:, 14:] = (np.arange(length) % 2)[:, None]
    return base


def test_chunks_are_windows_padded_with_the_last_action():
    actions = _actions(5)
    out = list(chunks(actions, 3))
    assert len(out) == 5
    np.testing.assert_array_equal(out[1], actions[1:4])
    np.testing.assert_array_equal(out[4], actions[[4, 4, 4]])


def test_approach_respects_the_speed_bound():
    config = ReplayConfig(approach_speed=0.5, min_approach_s=1.0)
    start, goal = np.zeros(16), np.full(16, 0.2)
    goal[3] = 1.5  # the farthest joint sets the duration: 1.5 rad at 0.5 rad/s = 3 s
    path = approach(start, goal, 30.0, config)
    assert path.shape == (90, 16)
    steps = np.abs(np.diff(np.vstack([start, path]), axis=0))[:, :14]
    assert steps.max() <= 0.5 / 30 + 1e-9
    np.testing.assert_allclose(path[-1], goal)
    assert approach(goal, goal, 30.0, config).shape == (1, 16)


def test_play_publishes_lead_in_then_every_window():
    sent = []
    actions = _actions(12)
    count = play(actions, 30.0, sent.append, actions[0] - 0.05, ReplayConfig(horizon=4, speed=2.0))
    lead = count - 12
    assert lead == 30 and len(sent) == count  # min_approach_s = 1 s at 30 Hz
    for k in range(12):
        np.testing.assert_allclose(sent[lead + k].positions[0], actions[k])
    assert sent[-1].joint_names == schema.JOINT_NAMES and sent[-1].positions.shape == (4, 16)
    assert list(sent[-1].time_from_start_ns) == [0, 16666667, 33333333, 50000000]  # 1/30 s at 2x speed
    assert all(b.stamp_ns > a.stamp_ns for a, b in itertools.pairwise(sent))
    with pytest.raises(ValueError, match=r"\(L >= 1, 16\)"):
        play(np.zeros((3, 14)), 30.0, sent.append, None)


def test_replay_command_publishes_the_episode_over_dds(tmp_path, dds_domain):
    root = tmp_path / "ds"
    actions = _actions(40).astype(np.float32)
    with LeRobotDatasetWriter.create(root, fps=30, features=g1_features((16, 16, 3), "h264")) as writer:
        for k in range(40):
            writer.add_frame(
                {
                    schema.FEATURE_IMAGE_EGO: np.zeros((16, 16, 3), np.uint8),
                    schema.FEATURE_STATE: actions[k],
                    schema.FEATURE_ACTION: actions[k],
                }
            )
        writer.save_episode(task="replay me")
    probe = DdsGraph("probe", dds_domain, interface="lo")
    state_pub = probe.create_publisher(itf.TOPIC_JOINT_STATES, itf.MsgKind.JOINT_STATE, itf.SENSOR_QOS)
    received = []
    probe.create_subscription(
        itf.TOPIC_ACTION_CHUNK, itf.MsgKind.JOINT_TRAJECTORY, itf.RELIABLE_QOS, received.append
    )
    measured = actions[0].astype(np.float64) + 0.3  # 0.3 rad away: a 1 s lead-in
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dit4dit_policy.cli",
            "replay",
            str(root),
            "--episode",
            "0",
            "--domain",
            str(dds_domain),
            "--interface",
            "lo",
            "--horizon",
            "8",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop = threading.Event()

    def feed():
        while not stop.is_set():
            state_pub.publish(itf.JointStateData(schema.JOINT_NAMES, measured, np.zeros(0), np.zeros(0), 1))
            probe.spin_once(0.01)

    thread = threading.Thread(target=feed)
    thread.start()
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        stop.set()
        thread.join()
    probe.spin(timeout_s=1.0)
    assert proc.returncode == 0, err
    assert "40 steps at 30 Hz" in out and "task 'replay me'" in out
    # (only our 8-point chunks: another test process may share the domain id and publish chunks)
    ours = [c.positions for c in received if c.positions.shape == (8, 16)]
    windows = [actions[np.minimum(np.arange(k, k + 8), 39)] for k in range(40)]
    lead = next(i for i, c in enumerate(ours) if np.allclose(c, windows[0], atol=1e-6))
    assert lead == len(ours) - 40 and lead >= 18, (lead, len(ours), out)  # ≥ 0.6 s lead-in at 0.5 rad/s
    for k in range(40):
        np.testing.assert_allclose(ours[lead + k], windows[k], atol=1e-6)
    # the lead-in moves at <= 0.5 rad/s into the first recorded action
    path = np.array([c[0] for c in ours[: lead + 1]])
    assert np.abs(np.diff(path[:, :14], axis=0)).max() <= 0.5 / 30 + 1e-6
    bad = subprocess.run(
        [sys.executable, "-m", "dit4dit_policy.cli", "replay", str(root), "--episode", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "--episode must be in [0, 1)" in bad.stderr
