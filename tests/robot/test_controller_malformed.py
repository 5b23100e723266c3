"""Malformed input (wrong length, NaN, unsorted times, stale stamps, CRC mismatch, wrong mode_machine)
gives hold plus a diagnostic, never motion — against the fake G1 process over loopback DDS."""

import threading
import time

import numpy as np
import pytest
from g1_controller_harness import ChunkSource, FakeRobotProcess, make_controller, policy_chunk, wait_state

from dit4dit_policy.robot.supervisor import State


class Recorder:
    """Wraps link.send to record (monotonic t, q (14,), weight) of every command."""

    def __init__(self, controller):
        self.rows = []
        self._send = controller.link.send
        controller.link.send = self.send
        self.lock = threading.Lock()

    def send(self, q, kp, kd, weight):
        with self.lock:
            self.rows.append((time.monotonic(), np.array(q), weight))
        return self._send(q, kp, kd, weight)

    def between(self, t0, t1):
        with self.lock:
            return [(q, w) for t, q, w in self.rows if t0 <= t <= t1]


def assert_motionless(rows):
    assert len(rows) > 10
    q0, w0 = rows[0]
    for q, w in rows:
        np.testing.assert_array_equal(q, q0)
        assert w == w0


def transition(controller, to):
    return next(tr for tr in reversed(controller.diagnostics()["transitions"]) if tr["to"] == to)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("option", "fault", "needle", "counter"),
    [
        ("bad_crc_from", "state_invalid", "CRC mismatch", "state_crc_errors"),
        (
            "mode_machine_from",
            "state_invalid",
            "mode_machine changed from 5 to 6",
            "state_mode_machine_errors",
        ),
        ("nan_from", "state_invalid", "non-finite arm joint position", "state_rejected"),
        ("silence_from", "state_stale", "ms old > 50 ms", None),
    ],
)
def test_state_faults_in_run_hold_without_motion(dds_domain, tmp_path, option, fault, needle, counter):
    robot = FakeRobotProcess(dds_domain, tmp_path / "r.json", **{option: 4.0})
    controller = make_controller(dds_domain)
    rec = Recorder(controller)
    try:
        controller.start()
        controller.command("start")
        wait_state(controller, State.RUN)
        source = ChunkSource(controller)
        wait_state(controller, State.HOLD, timeout=10)
        source.kill()
        hold = transition(controller, "hold")
        wait_state(controller, State.RAMP_OUT, timeout=5)
        ramp = transition(controller, "ramp_out")
        wait_state(controller, State.IDLE, timeout=15)
        diag = controller.diagnostics()
    finally:
        controller.stop(ramp_out=False)
        report = robot.stop()
    assert hold["fault"] == fault and needle in hold["reason"]
    assert ramp["t_s"] - hold["t_s"] == pytest.approx(1.0, abs=0.1)  # hold_timeout_s
    assert_motionless(rec.between(hold["t_s"] + 0.005, ramp["t_s"] - 0.005))
    if counter:
        assert diag[counter] > 0 and diag["last_state_reject"]
    assert report["violations"] == []


@pytest.mark.slow
@pytest.mark.parametrize(("option", "value"), [("mode_machine", 3), ("bad_crc_from", 0.0)])
def test_bad_state_from_the_start_never_commands(dds_domain, tmp_path, option, value):
    robot = FakeRobotProcess(dds_domain, tmp_path / "r.json", **{option: value})
    controller = make_controller(dds_domain, link={"allowed_mode_machines": [4, 5]})
    try:
        controller.start()
        controller.command("start")
        deadline = time.monotonic() + 10
        while controller.link.rejected < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        diag = controller.diagnostics()
    finally:
        controller.stop(ramp_out=False)
        report = robot.stop()
    assert diag["state"] == "wait_state" and diag["commands_sent"] == 0 and report["received"] == 0
    expected = "not in allowed_mode_machines [4, 5]" if option == "mode_machine" else "CRC mismatch"
    assert expected in diag["last_state_reject"] and diag["state_rejected"] >= 200
    assert controller.joint_state() is None


def mutated(make):
    chunk = policy_chunk(time.time_ns())
    make(chunk)
    return chunk


BAD_CHUNKS = [
    (
        "wrong length",
        lambda: mutated(lambda c: object.__setattr__(c, "positions", c.positions[:, :15])),
        "shape",
    ),
    ("NaN", lambda: mutated(lambda c: c.positions.__setitem__((3, 2), np.nan)), "finite"),
    ("unsorted times", lambda: mutated(lambda c: c.times_ns.__setitem__(5, c.times_ns[1])), "increasing"),
    ("stale stamp", lambda: policy_chunk(time.time_ns(), latency_s=5.0), "stale"),
    ("not a chunk", lambda: np.zeros((16, 16)), "schema.ActionChunk"),
]


@pytest.mark.slow
def test_malformed_chunks_hold_then_recover(dds_domain, tmp_path):
    robot = FakeRobotProcess(dds_domain, tmp_path / "r.json")
    controller = make_controller(dds_domain, supervisor={"hold_timeout_s": 5.0})
    rec = Recorder(controller)
    try:
        controller.start()
        controller.command("start")
        wait_state(controller, State.RUN)
        for name, make, needle in [*BAD_CHUNKS, ("parse error", None, "joint names")]:
            source = ChunkSource(controller, period_s=0.1)
            time.sleep(0.4)
            assert controller.supervisor.state is State.RUN, name
            source.kill()
            if make is None:
                controller.reject_chunk("JointTrajectory joint names must be schema.JOINT_NAMES")
            else:
                controller.submit_chunk(make())
            wait_state(controller, State.HOLD, timeout=2)
            hold = transition(controller, "hold")
            assert hold["fault"] in ("chunk_invalid", "chunk_stale") and needle in hold["reason"], (
                name,
                hold,
            )
            time.sleep(0.3)
            assert_motionless(rec.between(hold["t_s"] + 0.005, time.monotonic()))
            controller.submit_chunk(policy_chunk(time.time_ns()))
            wait_state(controller, State.RUN, timeout=2)
        diag = controller.diagnostics()
    finally:
        controller.stop(ramp_out=False)
        report = robot.stop()
    assert diag["chunks_rejected"] == len(BAD_CHUNKS) + 1 and diag["last_chunk_problem"]
    assert report["violations"] == []
