"""The teleop node as a real process: headset poses over WSS in, action chunks over DDS out.

Checks the contract with the controller: chunks only while the deadman is held (16 schema joints,
short, stamped now), one hold chunk on release and then silence, ``estop`` releases until the
deadman is pressed again; diagnostics and the pose log.
"""

import asyncio
import subprocess
import sys
import threading
import time

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.dds_backend.graph import DdsGraph
from dit4dit_policy.sim import description as desc
from dit4dit_policy.teleop.client import load_pose_log, stream_frames
from dit4dit_policy.teleop.protocol import HandInput, Pose, XrFrame

IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])
SEED = np.concatenate([desc.DEFAULT_ARM_POSE, [1.0, 1.0]])


def _frames(count, squeeze, dz=0.0):
    head = Pose(np.array([0.0, 1.6, 0.0]), IDENTITY)
    return [
        XrFrame(
            0,
            0.0,
            "controller",
            head,
            HandInput(),
            HandInput(
                pose=Pose(np.array([0.25, 1.1, -0.3 - dz * i / count]), IDENTITY),
                squeeze=squeeze,
                trigger=0.5,
            ),
        )
        for i in range(count)
    ]


class Probe:
    def __init__(self, domain):
        self.graph = DdsGraph("probe", domain, interface="lo")
        self.state = self.graph.create_publisher(
            itf.TOPIC_JOINT_STATES, itf.MsgKind.JOINT_STATE, itf.SENSOR_QOS
        )
        self.command = self.graph.create_publisher(itf.TOPIC_COMMAND, itf.MsgKind.STRING, itf.RELIABLE_QOS)
        self.chunks, self.diagnostics = [], []
        self.graph.create_subscription(
            itf.TOPIC_ACTION_CHUNK, itf.MsgKind.JOINT_TRAJECTORY, itf.RELIABLE_QOS, self.chunks.append
        )
        self.graph.create_subscription(
            itf.TOPIC_DIAGNOSTICS, itf.MsgKind.DIAGNOSTICS, itf.RELIABLE_QOS, self._diag
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _diag(self, array):
        self.diagnostics += [dict(s.values) for s in array.status if s.name.startswith("teleop_node")]

    def _run(self):
        while not self._stop.is_set():
            self.state.publish(
                itf.JointStateData(schema.JOINT_NAMES, SEED, np.zeros(0), np.zeros(0), time.time_ns())
            )
            self.graph.spin_once(0.004)

    def settle(self, seconds):
        time.sleep(seconds)
        return len(self.chunks)

    def close(self):
        self._stop.set()
        self._thread.join(5)


def test_teleop_node_publishes_chunks_only_under_the_deadman(tmp_path, dds_domain, teleop_cert):
    url_file, pose_log = tmp_path / "url.txt", tmp_path / "poses.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dit4dit_policy.ros.teleop_node",
            "--backend",
            "dds",
            "--domain-id",
            str(dds_domain),
            "--interface",
            "lo",
            "--param",
            "server.port=0",
            "--param",
            f"server.cert_file={teleop_cert.cert}",
            "--param",
            f"server.key_file={teleop_cert.key}",
            "--param",
            f"url_file={url_file}",
            "--param",
            f"pose_log={pose_log}",
            "--param",
            "diagnostics_period_s=0.3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    probe = Probe(dds_domain)
    try:
        deadline = time.monotonic() + 60
        while not url_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        url = url_file.read_text().strip()
        assert url.startswith("https://127.0.0.1:") and "token=" in url

        def stream(frames):
            return asyncio.run(stream_frames(url, frames, rate_hz=60, cafile=teleop_cert.cert, drain_s=0.2))

        stream(_frames(30, squeeze=0.0))
        assert probe.settle(0.5) == 0  # no deadman, no command
        # engage and move for 1.5 s, then let go for 1 s with the headset still streaming
        engaged = stream(_frames(90, squeeze=1.0, dz=0.1) + _frames(60, squeeze=0.0, dz=0.0))
        assert engaged.acked > 0 and engaged.latency_ms
        total = probe.settle(0.6)  # the last poses went stale
        assert total > 10
        assert probe.settle(0.6) == total  # headset quiet: the node is silent
        last = probe.chunks[-1].positions
        tail = 0
        while tail < total and np.allclose(probe.chunks[total - 1 - tail].positions, last):
            tail += 1
        assert 3 <= tail < total  # released: the last target held (immediately, then at idle_hold_hz)
        for chunk in probe.chunks:
            assert chunk.joint_names == schema.JOINT_NAMES and chunk.positions.shape == (8, 16)
            assert list(chunk.time_from_start_ns) == [round(k * 1e9 / 30) for k in range(8)]
            assert abs(time.time_ns() - chunk.stamp_ns) < 60e9
            assert np.all(chunk.positions >= schema.POSITION_LOWER - 1e-9)
            assert np.all(chunk.positions <= schema.POSITION_UPPER + 1e-9)
        moved = probe.chunks[-1].positions[0] - SEED
        assert np.abs(moved[7:14]).max() > 0.01 and np.abs(moved[:7]).max() == 0.0  # right arm only
        assert probe.chunks[-1].positions[0, schema.RIGHT_GRIPPER_INDEX] < 1.0  # trigger 0.5 closed it a bit
        # e-stop: holding the deadman does not re-engage until it is released and pressed again
        probe.command.publish("estop")
        time.sleep(0.3)
        count = probe.settle(0.0)
        stream(_frames(40, squeeze=1.0))
        assert probe.settle(0.5) == count
        stream(_frames(5, squeeze=0.0) + _frames(40, squeeze=1.0))
        assert probe.settle(0.3) > count
        time.sleep(0.5)
        values = probe.diagnostics[-1]
        assert values["calibrated"] == "True" and int(values["pose_messages"]) >= 225
        assert float(values["loop_latency_ms"]) > 0 and values["rejected_connections"] == "0"
    finally:
        probe.close()
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    assert len(load_pose_log(pose_log)) >= 225


def test_wildcard_host_is_refused():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dit4dit_policy.ros.teleop_node",
            "--backend",
            "dds",
            "--param",
            "server.host=0.0.0.0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "every interface" in result.stderr
