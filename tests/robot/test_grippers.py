"""Grippers behind one interface: simulated, Dex1 over loopback DDS, Dynamixel against a fake pty servo."""

import math
import struct
import threading
import time

import pytest
import yaml
from fake_dxl_servo import FakeDynamixelBus, FakeServo

from dit4dit_policy.errors import ConfigError, DeviceNotConnectedError
from dit4dit_policy.robot import unitree_go
from dit4dit_policy.robot.dds import DdsSession
from dit4dit_policy.robot.grippers.dex1 import Dex1Gripper, opening_to_q, q_to_opening
from dit4dit_policy.robot.grippers.dynamixel import DynamixelCalibration
from dit4dit_policy.robot.grippers.factory import GripperConfig, make_grippers
from dit4dit_policy.robot.grippers.sim import SimGripper


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


class ManualClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_sim_gripper_moves_at_bounded_speed():
    clock = ManualClock()
    g = SimGripper("left_gripper", speed=2.0, initial=1.0, clock=clock)
    assert g.reading().opening == 1.0 and g.target is None
    g.set_target(0.0)
    clock.t = 0.25
    assert g.reading().opening == pytest.approx(0.5)
    clock.t = 1.0
    assert g.reading().opening == pytest.approx(0.0)
    g.set_target(7.0)  # clipped to fully open
    assert g.target == 1.0
    with pytest.raises(ValueError, match="finite number in"):
        g.set_target(math.nan)


def test_dex1_mapping():
    assert opening_to_q(1.0) == pytest.approx(5.4) and opening_to_q(0.0) == 0.0
    assert q_to_opening(2.7) == pytest.approx(0.5)


class FakeDex1:
    """Serves rt/dex1/<side>/state from the commands on rt/dex1/<side>/cmd (like the simulator)."""

    def __init__(self, session, side, start_q=5.4):
        from cyclonedds.pub import DataWriter
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        cmd_topic, state_topic = unitree_go.dex1_topics(side)
        part = session.participant
        self.reader = DataReader(part, Topic(part, cmd_topic, unitree_go.MotorCmds_))
        self.writer = DataWriter(part, Topic(part, state_topic, unitree_go.MotorStates_))
        self.q = start_q
        self.last_cmd = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        msg = unitree_go.new_motor_states(1)
        while not self.stop.is_set():
            for sample in self.reader.take(N=10):
                if getattr(sample, "cmds", None):
                    self.last_cmd = sample.cmds[0]
                    self.q += 0.5 * (self.last_cmd.q - self.q)
            msg.states[0].q = self.q
            self.writer.write(msg)
            time.sleep(0.005)


def test_dex1_gripper_over_dds(dds_domain):
    session = DdsSession(dds_domain)
    server = FakeDex1(DdsSession(dds_domain), "right")
    g = Dex1Gripper(session, "right")
    g.start()
    try:
        assert wait_for(lambda: g.reading().opening == pytest.approx(1.0))
        g.set_target(0.25)
        assert wait_for(lambda: abs(g.reading().opening - 0.25) < 1e-3)
        cmd = server.last_cmd
        assert (
            cmd.q == pytest.approx(0.25 * 5.4, rel=1e-6) and cmd.kp == 5.0 and cmd.kd == pytest.approx(0.05)
        )
        assert g.reading().age_s() < 1.0 and g.reading().error is None
    finally:
        g.stop()
        server.stop.set()
        server.thread.join(timeout=2)
    with pytest.raises(ValueError, match="left' or 'right"):
        Dex1Gripper(session, "middle")


def write_cal(path, **values):
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.fixture
def dxl_setup(tmp_path):
    left = FakeServo(1, position=3000)
    right = FakeServo(2, position=1000)
    right.closing_sign = +1
    bus = FakeDynamixelBus([left, right])
    cfg = GripperConfig(
        kind="dynamixel",
        dynamixel_port=bus.port,
        dynamixel_left_calibration=write_cal(
            tmp_path / "l.yaml", servo_id=1, closed_ticks=2000, open_ticks=3000
        ),
        dynamixel_right_calibration=write_cal(
            tmp_path / "r.yaml", servo_id=2, closed_ticks=2500, open_ticks=1000, goal_current=150
        ),
    )
    yield cfg, bus, left, right
    bus.close()


def test_dynamixel_grippers_in_current_based_position_mode(dxl_setup):
    cfg, bus, left, right = dxl_setup
    grippers = make_grippers(cfg, None)
    for g in grippers:
        g.start()
    try:
        for servo, current in ((left, 300), (right, 150)):
            assert servo.table[11] == 5  # current-based position
            assert struct.unpack_from("<H", servo.table, 102)[0] == current
            assert servo.table[64] == 1
            # Torque was off while the mode changed, and the goal was set to the present position first.
            addrs = [a for a, _ in servo.writes]
            assert addrs.index(11) < addrs.index(64, addrs.index(11))
        assert wait_for(lambda: grippers[0].reading().opening == pytest.approx(1.0))
        assert wait_for(lambda: grippers[1].reading().opening == pytest.approx(1.0))
        grippers[0].set_target(0.5)
        grippers[1].set_target(0.0)
        assert wait_for(lambda: abs(grippers[0].reading().opening - 0.5) < 1e-3)
        assert struct.unpack_from("<i", left.table, 116)[0] == 2500
        assert wait_for(lambda: abs(grippers[1].reading().opening) < 1e-3)
        assert struct.unpack_from("<i", right.table, 116)[0] == 2500
        # Closing on an object: the measured opening stays above the command.
        left.object_at = 2300
        grippers[0].set_target(0.0)
        time.sleep(0.3)
        assert grippers[0].reading().opening == pytest.approx(0.3, abs=1e-3)
        assert grippers[0].reading().error is None and bus.bad_crc == 0
    finally:
        for g in grippers:
            g.stop()
    assert left.table[64] == 0 and right.table[64] == 0  # torque off on stop


def test_dynamixel_missing_servo_and_device(dxl_setup, tmp_path):
    cfg, _bus, _left, _right = dxl_setup
    cfg.dynamixel_left_calibration = write_cal(
        tmp_path / "x.yaml", servo_id=7, closed_ticks=0, open_ticks=500
    )
    left, _ = make_grippers(cfg, None)
    with pytest.raises(OSError, match="servo 7"):
        left.start()
    cfg.dynamixel_port = str(tmp_path / "no-such-tty")
    left, _ = make_grippers(cfg, None)
    with pytest.raises(DeviceNotConnectedError, match="no-such-tty"):
        left.start()


def test_dynamixel_calibration_validation(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'closed'"):
        make_grippers(
            GripperConfig(
                kind="dynamixel",
                dynamixel_left_calibration=write_cal(tmp_path / "a.yaml", servo_id=1, closed=1, open_ticks=2),
                dynamixel_right_calibration=write_cal(
                    tmp_path / "b.yaml", servo_id=2, closed_ticks=0, open_ticks=900
                ),
            ),
            None,
        )
    same = write_cal(tmp_path / "c.yaml", servo_id=1, closed_ticks=0, open_ticks=900)
    with pytest.raises(ValueError, match="share Dynamixel ID 1"):
        make_grippers(
            GripperConfig(
                kind="dynamixel", dynamixel_left_calibration=same, dynamixel_right_calibration=same
            ),
            None,
        )
    with pytest.raises(ValueError, match="differ"):
        DynamixelCalibration(servo_id=1, closed_ticks=100, open_ticks=105)
    with pytest.raises(ValueError, match="needs dynamixel_left_calibration"):
        GripperConfig(kind="dynamixel")
    cal = DynamixelCalibration(servo_id=3, closed_ticks=2500, open_ticks=1000)
    assert cal.to_ticks(1.0) == 1000 and cal.to_opening(1750) == pytest.approx(0.5)


def test_factory_kinds(dds_domain):
    assert make_grippers(GripperConfig(kind="none"), None) is None
    left, right = make_grippers(GripperConfig(kind="sim"), None)
    assert (left.name, right.name) == ("left_gripper", "right_gripper")
    with pytest.raises(ValueError, match="DDS session"):
        make_grippers(GripperConfig(kind="dex1"), None)
    left, right = make_grippers(GripperConfig(kind="dex1"), DdsSession(dds_domain))
    assert left.cmd_topic == "rt/dex1/left/cmd" and right.state_topic == "rt/dex1/right/state"


def test_example_calibration_file_loads():
    from dit4dit_policy.resources import share_path
    from dit4dit_policy.robot.grippers.dynamixel import load_calibration

    cal = load_calibration(share_path("calibration", "gripper_dynamixel.example.yaml"))
    assert cal.to_ticks(0.0) == cal.closed_ticks and cal.to_ticks(1.0) == cal.open_ticks
