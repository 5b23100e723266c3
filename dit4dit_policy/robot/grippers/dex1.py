"""Unitree Dex1-1 gripper over DDS: ``rt/dex1/{side}/cmd`` / ``…/state``, one motor each.

g1_spec §1.1 and §4: ``unitree_go`` ``MotorCmds_`` / ``MotorStates_`` with one element per side
topic (the IL per-side API); motor q in [0, 5.4] rad with 0 = closed (XR's mapping
``np.interp(v, [5, 7], [0, 5.4])``); kp 5, kd 0.05 at 200 Hz (IL/XR). Our 1-D opening maps
linearly: ``q = g · max_q_rad``, ``g = q / max_q_rad``. ``mode`` is left at 0 as in the IL code.
The simulator serves the same topics, so this driver also drives the simulated grippers.
"""

from __future__ import annotations

from typing import Any

from dit4dit_policy.robot import unitree_go
from dit4dit_policy.robot.dds import DdsSession
from dit4dit_policy.robot.grippers.base import ThreadedGripper

#: Dex1 motor q at full opening [rad] (g1_spec §4).
DEX1_MAX_Q_RAD = 5.4
#: Dex1 gains and thread rate (g1_spec §4, IL/XR).
DEX1_KP = 5.0
DEX1_KD = 0.05
DEX1_RATE_HZ = 200.0


def opening_to_q(opening: float, max_q_rad: float = DEX1_MAX_Q_RAD) -> float:
    """Normalised opening [0, 1] → Dex1 motor q [rad] (0 = closed)."""
    return float(opening) * max_q_rad


def q_to_opening(q: float, max_q_rad: float = DEX1_MAX_Q_RAD) -> float:
    """Dex1 motor q [rad] → normalised opening (not clipped)."""
    return float(q) / max_q_rad


class Dex1Gripper(ThreadedGripper):
    """One Dex1 gripper (``side`` = ``left`` or ``right``).

    Args:
        session: the DDS session to use (shared with the G1 link).
        side: ``"left"`` or ``"right"``.
        max_q_rad: motor q at full opening [rad].
        kp: motor stiffness.
        kd: motor damping.
        rate_hz: command/state thread rate [Hz].

    Raises:
        ValueError: bad side or parameters.
    """

    def __init__(
        self,
        session: DdsSession,
        side: str,
        max_q_rad: float = DEX1_MAX_Q_RAD,
        kp: float = DEX1_KP,
        kd: float = DEX1_KD,
        rate_hz: float = DEX1_RATE_HZ,
    ) -> None:
        self.cmd_topic, self.state_topic = unitree_go.dex1_topics(side)
        super().__init__(f"{side}_gripper", rate_hz)
        if not 0.1 <= max_q_rad <= 20.0:
            raise ValueError(f"Dex1 max_q_rad must be in [0.1, 20] rad, got {max_q_rad!r}")
        self.session = session
        self.side = side
        self.max_q_rad = float(max_q_rad)
        self.kp = float(kp)
        self.kd = float(kd)
        self._writer: Any = None
        self._reader: Any = None
        self._msg: Any = None

    def _open(self) -> None:
        from cyclonedds.pub import DataWriter
        from cyclonedds.qos import Policy, Qos
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        participant = self.session.participant
        self._writer = DataWriter(participant, Topic(participant, self.cmd_topic, unitree_go.MotorCmds_))
        qos = Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(4))
        self._reader = DataReader(
            participant, Topic(participant, self.state_topic, unitree_go.MotorStates_), qos=qos
        )
        self._msg = unitree_go.new_motor_cmds(1)

    def _io(self, target: float | None) -> float | None:
        if target is not None:
            cmd = self._msg.cmds[0]
            cmd.q = opening_to_q(target, self.max_q_rad)
            cmd.dq = 0.0
            cmd.tau = 0.0
            cmd.kp = self.kp
            cmd.kd = self.kd
            self._writer.write(self._msg)
        opening = None
        for sample in self._reader.take(N=8):
            states = getattr(sample, "states", None)
            if states:
                opening = q_to_opening(states[0].q, self.max_q_rad)
        return opening

    def _close(self) -> None:
        self._writer = self._reader = None
