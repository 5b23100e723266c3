"""``unitree_hg`` DDS message types of the G1 (``LowCmd_``, ``LowState_``, …) and factories.

DESIGN.md §5: use ``unitree_sdk2py``'s classes when it is importable, else the package's own
wire-identical definitions (:mod:`dit4dit_policy.robot.idl.unitree_hg`); both have the exact type
names ``unitree_hg.msg.dds_.<Name>`` and the field layouts of g1_spec §1.2, so they interoperate on
the wire and pack to identical CRC bytes (tests/robot/test_unitree_crc.py: layouts, packing and CRC
against ``unitree_sdk2py``; tests/robot/test_unitree_wire.py: CDR and DDS interoperability).

Set ``DIT4DIT_UNITREE_IDL=own`` to force our definitions (``sdk`` to require the SDK's; default
``auto``). Always build messages with the ``new_*`` factories: the SDK's dataclasses have no
defaults, ours do.

Public names: ``LowCmd_``, ``MotorCmd_``, ``LowState_``, ``MotorState_``, ``IMUState_``,
``TYPES_SOURCE`` (``"unitree_sdk2py"`` or ``"dit4dit_policy"``), ``NUM_MOTORS`` (35), the DDS topic
names and the factories below.
"""

from __future__ import annotations

import os
from typing import Any

from dit4dit_policy.robot.idl import unitree_hg as _own

#: Motor slots in LowCmd_/LowState_ (g1_spec §1.2).
NUM_MOTORS = 35
#: DDS topic names (g1_spec §1.1).
TOPIC_LOWCMD = "rt/lowcmd"
TOPIC_ARM_SDK = "rt/arm_sdk"
TOPIC_LOWSTATE = "rt/lowstate"


def _load_types() -> tuple[str, Any, Any, Any, Any, Any]:
    choice = os.environ.get("DIT4DIT_UNITREE_IDL", "auto")
    if choice not in ("auto", "own", "sdk"):
        raise ValueError(f"DIT4DIT_UNITREE_IDL must be 'auto', 'own' or 'sdk', got {choice!r}")
    if choice != "own":
        try:
            from unitree_sdk2py.idl.unitree_hg.msg import dds_ as sdk
        except ImportError:
            if choice == "sdk":
                raise
        else:
            return (
                "unitree_sdk2py",
                sdk.LowCmd_,
                sdk.MotorCmd_,
                sdk.LowState_,
                sdk.MotorState_,
                sdk.IMUState_,
            )
    return ("dit4dit_policy", _own.LowCmd_, _own.MotorCmd_, _own.LowState_, _own.MotorState_, _own.IMUState_)


TYPES_SOURCE, LowCmd_, MotorCmd_, LowState_, MotorState_, IMUState_ = _load_types()


def new_motor_cmd(
    mode: int = 0, q: float = 0.0, dq: float = 0.0, tau: float = 0.0, kp: float = 0.0, kd: float = 0.0
) -> Any:
    """A ``MotorCmd_``: mode (1 enable, 0 disable), q [rad], dq [rad/s], tau [N·m], kp, kd; reserve 0."""
    return MotorCmd_(mode=mode, q=q, dq=dq, tau=tau, kp=kp, kd=kd, reserve=0)


def new_lowcmd(mode_pr: int = 0, mode_machine: int = 0) -> Any:
    """A ``LowCmd_`` with 35 zeroed ``MotorCmd_`` (weight 0, all disabled), reserve 0 and crc 0."""
    return LowCmd_(
        mode_pr=mode_pr,
        mode_machine=mode_machine,
        motor_cmd=[new_motor_cmd() for _ in range(NUM_MOTORS)],
        reserve=[0, 0, 0, 0],
        crc=0,
    )


def new_imu_state() -> Any:
    """An ``IMUState_`` at rest: identity quaternion (w, x, y, z) = (1, 0, 0, 0), zero rates."""
    return IMUState_(
        quaternion=[1.0, 0.0, 0.0, 0.0],
        gyroscope=[0.0, 0.0, 0.0],
        accelerometer=[0.0, 0.0, 0.0],
        rpy=[0.0, 0.0, 0.0],
        temperature=0,
    )


def new_motor_state(q: float = 0.0, dq: float = 0.0, tau_est: float = 0.0) -> Any:
    """A ``MotorState_`` with position q [rad], velocity dq [rad/s], torque estimate [N·m], rest zero."""
    return MotorState_(
        mode=0,
        q=q,
        dq=dq,
        ddq=0.0,
        tau_est=tau_est,
        temperature=[0, 0],
        vol=0.0,
        sensor=[0, 0],
        motorstate=0,
        reserve=[0, 0, 0, 0],
    )


def new_lowstate(mode_pr: int = 0, mode_machine: int = 0, tick: int = 0) -> Any:
    """A ``LowState_`` with 35 zeroed motor states, an identity IMU and crc 0."""
    return LowState_(
        version=[0, 0],
        mode_pr=mode_pr,
        mode_machine=mode_machine,
        tick=tick,
        imu_state=new_imu_state(),
        motor_state=[new_motor_state() for _ in range(NUM_MOTORS)],
        wireless_remote=[0] * 40,
        reserve=[0, 0, 0, 0],
        crc=0,
    )
