"""Our own ``unitree_go::msg::dds_`` motor types (Dex1 gripper topics ``rt/dex1/{left,right}/*``).

Layouts from g1_spec §1.2 (``unitree_go`` types used for grippers and hands).
"""

from dataclasses import dataclass, field

import cyclonedds.idl as idl
import cyclonedds.idl.annotations as annotate
import cyclonedds.idl.types as types


@dataclass
@annotate.final
@annotate.autoid("sequential")
class MotorCmd_(idl.IdlStruct, typename="unitree_go.msg.dds_.MotorCmd_"):
    """One motor command: mode, q [rad], dq [rad/s], tau [N·m], kp, kd."""

    mode: types.uint8 = 0
    q: types.float32 = 0.0
    dq: types.float32 = 0.0
    tau: types.float32 = 0.0
    kp: types.float32 = 0.0
    kd: types.float32 = 0.0
    reserve: types.array[types.uint32, 3] = field(default_factory=lambda: [0, 0, 0])


@dataclass
@annotate.final
@annotate.autoid("sequential")
class MotorCmds_(idl.IdlStruct, typename="unitree_go.msg.dds_.MotorCmds_"):
    """A sequence of motor commands (Dex1: one element per side topic)."""

    cmds: types.sequence[MotorCmd_] = field(default_factory=list)


@dataclass
@annotate.final
@annotate.autoid("sequential")
class MotorState_(idl.IdlStruct, typename="unitree_go.msg.dds_.MotorState_"):
    """One motor's state: q [rad], dq [rad/s], ddq [rad/s²], tau_est [N·m], raw values, temperature."""

    mode: types.uint8 = 0
    q: types.float32 = 0.0
    dq: types.float32 = 0.0
    ddq: types.float32 = 0.0
    tau_est: types.float32 = 0.0
    q_raw: types.float32 = 0.0
    dq_raw: types.float32 = 0.0
    ddq_raw: types.float32 = 0.0
    temperature: types.uint8 = 0
    lost: types.uint32 = 0
    reserve: types.array[types.uint32, 2] = field(default_factory=lambda: [0, 0])


@dataclass
@annotate.final
@annotate.autoid("sequential")
class MotorStates_(idl.IdlStruct, typename="unitree_go.msg.dds_.MotorStates_"):
    """A sequence of motor states (Dex1: one element per side topic)."""

    states: types.sequence[MotorState_] = field(default_factory=list)
