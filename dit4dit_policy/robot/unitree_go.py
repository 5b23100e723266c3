"""``unitree_go`` motor types for the Dex1-1 gripper topics, and factories.

Dex1 (g1_spec §1.1, §4): ``rt/dex1/{left,right}/cmd`` carries ``MotorCmds_`` and
``rt/dex1/{left,right}/state`` carries ``MotorStates_``, one element each. As for
:mod:`dit4dit_policy.robot.unitree_hg`, ``unitree_sdk2py``'s classes are used when importable
(``DIT4DIT_UNITREE_IDL=own`` forces ours); ``TYPES_SOURCE`` says which.
"""

from __future__ import annotations

import os
from typing import Any

from dit4dit_policy.robot.idl import unitree_go as _own

#: Dex1 topics per side (g1_spec §1.1, IL per-side API).
DEX1_CMD_TOPIC = "rt/dex1/{side}/cmd"
DEX1_STATE_TOPIC = "rt/dex1/{side}/state"


def _load_types() -> tuple[str, Any, Any, Any, Any]:
    choice = os.environ.get("DIT4DIT_UNITREE_IDL", "auto")
    if choice not in ("auto", "own", "sdk"):
        raise ValueError(f"DIT4DIT_UNITREE_IDL must be 'auto', 'own' or 'sdk', got {choice!r}")
    if choice != "own":
        try:
            from unitree_sdk2py.idl.unitree_go.msg import dds_ as sdk
        except ImportError:
            if choice == "sdk":
                raise
        else:
            return ("unitree_sdk2py", sdk.MotorCmd_, sdk.MotorCmds_, sdk.MotorState_, sdk.MotorStates_)
    return ("dit4dit_policy", _own.MotorCmd_, _own.MotorCmds_, _own.MotorState_, _own.MotorStates_)


TYPES_SOURCE, MotorCmd_, MotorCmds_, MotorState_, MotorStates_ = _load_types()


def dex1_topics(side: str) -> tuple[str, str]:
    """``(cmd_topic, state_topic)`` of one Dex1 gripper.

    Raises:
        ValueError: side is not ``"left"`` or ``"right"``.
    """
    if side not in ("left", "right"):
        raise ValueError(f"Dex1 side must be 'left' or 'right', got {side!r}")
    return DEX1_CMD_TOPIC.format(side=side), DEX1_STATE_TOPIC.format(side=side)


def new_motor_cmd(
    mode: int = 0, q: float = 0.0, dq: float = 0.0, tau: float = 0.0, kp: float = 0.0, kd: float = 0.0
) -> Any:
    """A ``unitree_go`` ``MotorCmd_``: q [rad], dq [rad/s], tau [N·m], kp, kd; reserve zeroed."""
    return MotorCmd_(mode=mode, q=q, dq=dq, tau=tau, kp=kp, kd=kd, reserve=[0, 0, 0])


def new_motor_cmds(count: int = 1) -> Any:
    """``MotorCmds_`` with ``count`` zeroed commands (Dex1: 1)."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    return MotorCmds_(cmds=[new_motor_cmd() for _ in range(count)])


def new_motor_state(q: float = 0.0, dq: float = 0.0, tau_est: float = 0.0) -> Any:
    """A ``unitree_go`` ``MotorState_`` with q [rad], dq [rad/s], tau_est [N·m]; other fields 0."""
    return MotorState_(
        mode=0,
        q=q,
        dq=dq,
        ddq=0.0,
        tau_est=tau_est,
        q_raw=q,
        dq_raw=dq,
        ddq_raw=0.0,
        temperature=0,
        lost=0,
        reserve=[0, 0],
    )


def new_motor_states(count: int = 1) -> Any:
    """``MotorStates_`` with ``count`` zeroed states (Dex1: 1)."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    return MotorStates_(states=[new_motor_state() for _ in range(count)])
