"""Our own ``unitree_hg::msg::dds_`` types for CycloneDDS 0.10.x (G1 low-level protocol).

Type names and field layouts follow g1_spec §1.2 exactly (all ``@final``,
``@autoid("sequential")``); the DDS type name on the wire is ``unitree_hg::msg::dds_::<Name>``.
Fields have zero defaults so that ``LowCmd_()`` is a valid all-zero command; the facade
:mod:`dit4dit_policy.robot.unitree_hg` builds messages through explicit constructors so that the same
code also works with ``unitree_sdk2py``'s classes (which have no defaults).
"""

from dataclasses import dataclass, field

import cyclonedds.idl as idl
import cyclonedds.idl.annotations as annotate
import cyclonedds.idl.types as types

#: Motor slots in LowCmd_/LowState_ (g1_spec §1.2).
NUM_MOTORS = 35


@dataclass
@annotate.final
@annotate.autoid("sequential")
class MotorCmd_(idl.IdlStruct, typename="unitree_hg.msg.dds_.MotorCmd_"):
    """One motor command: mode (1 enable / 0 disable), q [rad], dq [rad/s], tau [N·m], kp, kd."""

    mode: types.uint8 = 0
    q: types.float32 = 0.0
    dq: types.float32 = 0.0
    tau: types.float32 = 0.0
    kp: types.float32 = 0.0
    kd: types.float32 = 0.0
    reserve: types.uint32 = 0


def _motor_cmds() -> list[MotorCmd_]:
    return [MotorCmd_() for _ in range(NUM_MOTORS)]


@dataclass
@annotate.final
@annotate.autoid("sequential")
class LowCmd_(idl.IdlStruct, typename="unitree_hg.msg.dds_.LowCmd_"):
    """Whole-body command on ``rt/lowcmd`` / ``rt/arm_sdk``; ``motor_cmd[29].q`` = arm_sdk weight."""

    mode_pr: types.uint8 = 0
    mode_machine: types.uint8 = 0
    motor_cmd: types.array[MotorCmd_, NUM_MOTORS] = field(default_factory=_motor_cmds)
    reserve: types.array[types.uint32, 4] = field(default_factory=lambda: [0, 0, 0, 0])
    crc: types.uint32 = 0


@dataclass
@annotate.final
@annotate.autoid("sequential")
class IMUState_(idl.IdlStruct, typename="unitree_hg.msg.dds_.IMUState_"):
    """Pelvis IMU: quaternion (w, x, y, z), gyroscope [rad/s], accelerometer [m/s²], rpy [rad]."""

    quaternion: types.array[types.float32, 4] = field(default_factory=lambda: [1.0, 0.0, 0.0, 0.0])
    gyroscope: types.array[types.float32, 3] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    accelerometer: types.array[types.float32, 3] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    rpy: types.array[types.float32, 3] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    temperature: types.int16 = 0


@dataclass
@annotate.final
@annotate.autoid("sequential")
class MotorState_(idl.IdlStruct, typename="unitree_hg.msg.dds_.MotorState_"):
    """One motor's state: q [rad], dq [rad/s], ddq [rad/s²], tau_est [N·m], temperatures, voltage."""

    mode: types.uint8 = 0
    q: types.float32 = 0.0
    dq: types.float32 = 0.0
    ddq: types.float32 = 0.0
    tau_est: types.float32 = 0.0
    temperature: types.array[types.int16, 2] = field(default_factory=lambda: [0, 0])
    vol: types.float32 = 0.0
    sensor: types.array[types.uint32, 2] = field(default_factory=lambda: [0, 0])
    motorstate: types.uint32 = 0
    reserve: types.array[types.uint32, 4] = field(default_factory=lambda: [0, 0, 0, 0])


def _motor_states() -> list[MotorState_]:
    return [MotorState_() for _ in range(NUM_MOTORS)]


@dataclass
@annotate.final
@annotate.autoid("sequential")
class LowState_(idl.IdlStruct, typename="unitree_hg.msg.dds_.LowState_"):
    """Robot state on ``rt/lowstate`` (~500 Hz, g1_spec §1.6)."""

    version: types.array[types.uint32, 2] = field(default_factory=lambda: [0, 0])
    mode_pr: types.uint8 = 0
    mode_machine: types.uint8 = 0
    tick: types.uint32 = 0
    imu_state: IMUState_ = field(default_factory=IMUState_)
    motor_state: types.array[MotorState_, NUM_MOTORS] = field(default_factory=_motor_states)
    wireless_remote: types.array[types.uint8, 40] = field(default_factory=lambda: [0] * 40)
    reserve: types.array[types.uint32, 4] = field(default_factory=lambda: [0, 0, 0, 0])
    crc: types.uint32 = 0
