"""The G1 DDS link: ``rt/lowstate`` in (age, rate, mode_machine, validation), ``rt/arm_sdk`` out.

* Joins the configured domain on the configured interface (g1_spec §1.5: real robot domain 0 on
  the robot's NIC, simulation domain 1 on ``lo``) through :class:`~dit4dit_policy.robot.dds.DdsSession`.
* Subscribes ``rt/lowstate`` (``unitree_hg`` ``LowState_``, ~500 Hz). Every sample is validated:
  CRC (g1_spec §1.3; on by default), ``mode_machine`` (must stay what the first valid sample said,
  and be in ``allowed_mode_machines`` when that list is set, g1_spec §1.4), finite arm positions.
  Rejected samples are counted and their reason kept; they never update the measured state.
* Publishes on ``rt/arm_sdk`` by default: arm motors 15-28 enabled (mode 1) with q/kp/kd, and
  ``motor_cmd[29].q`` = blend weight in [0, 1] (g1_spec §2.1, §3.1). The robot keeps balancing.
  Only with ``lowcmd_debug_mode: true`` it publishes ``rt/lowcmd`` instead: legs and waist (0-14)
  enabled and held at the positions measured when commanding began (XR practice, g1_spec §3.1),
  and the "weight" scales the arm gains (there is no blend on ``rt/lowcmd``).
  ``mode_pr`` and ``mode_machine`` are copied from the state; every command carries its CRC.

Samples are taken and written as raw CDR through :mod:`dit4dit_policy.robot.wire` (a few
microseconds instead of ~0.3 ms per message); the topics still use the ordinary IDL types.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Any

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.errors import DeviceNotConnectedError
from dit4dit_policy.robot import unitree_hg, wire
from dit4dit_policy.robot.dds import DdsSession, check_domain_id, interface_config_xml

logger = logging.getLogger(__name__)

_ARM = np.array(schema.ARM_MOTOR_INDICES)
_BODY = np.array(schema.BODY_MOTOR_INDICES)
#: Ankle motors (pitch/roll, both legs) hold with softer gains in lowcmd debug mode (g1_spec §2.2, XR).
_ANKLES = (4, 5, 10, 11)


def _default_body_kp() -> list[float]:
    return [80.0 if i in _ANKLES else 300.0 for i in range(15)]


@dataclasses.dataclass
class LinkConfig:
    """DDS link to the G1 (or the simulator that speaks its protocol).

    Attributes:
        domain_id: DDS domain (0 = real robot, 1 = simulation; DESIGN.md §3).
        interface: network interface (the robot NIC, e.g. ``enp3s0``; ``lo`` for simulation), or
            None to use ``CYCLONEDDS_URI`` from the environment.
        lowcmd_debug_mode: publish ``rt/lowcmd`` (robot hung or on a stand, locomotion service
            released) instead of ``rt/arm_sdk``. Off by default; never enable on a standing robot.
        verify_state_crc: reject ``rt/lowstate`` samples whose CRC does not match.
        allowed_mode_machines: accepted ``mode_machine`` values (g1_spec §1.4), empty = any.
        body_kp: lowcmd debug mode: kp of motors 0-14 holding legs and waist (XR: 300, ankles 80).
        body_kd: lowcmd debug mode: kd of motors 0-14 (XR: 3).
        reader_depth: ``rt/lowstate`` reader history depth (samples buffered between polls).
    """

    domain_id: int = 1
    interface: str | None = "lo"
    lowcmd_debug_mode: bool = False
    verify_state_crc: bool = True
    allowed_mode_machines: list[int] = dataclasses.field(default_factory=list)
    body_kp: list[float] = dataclasses.field(default_factory=_default_body_kp)
    body_kd: list[float] = dataclasses.field(default_factory=lambda: [3.0] * 15)
    reader_depth: int = 32

    def __post_init__(self) -> None:
        check_domain_id(self.domain_id)
        if self.interface is not None:
            interface_config_xml(self.interface)  # raises ValueError naming the expected form
        for name in ("body_kp", "body_kd"):
            values = getattr(self, name)
            if len(values) != 15 or not all(isinstance(v, (int, float)) and 0 <= v <= 500 for v in values):
                raise ValueError(
                    f"link.{name} must be 15 numbers in [0, 500] for motors 0-14, got {values!r}"
                )
        if not all(isinstance(m, int) and 0 <= m <= 255 for m in self.allowed_mode_machines):
            raise ValueError(
                f"link.allowed_mode_machines must be ints in [0, 255], got {self.allowed_mode_machines!r}"
            )
        if not (isinstance(self.reader_depth, int) and 1 <= self.reader_depth <= 1000):
            raise ValueError(f"link.reader_depth must be an int in [1, 1000], got {self.reader_depth!r}")


class G1Link:
    """Reader of ``rt/lowstate`` and writer of ``rt/arm_sdk`` / ``rt/lowcmd``.

    Not thread-safe: :meth:`poll` and :meth:`send` are called from the control loop thread.

    Args:
        config: domain, interface, mode and validation settings.
        session: an existing DDS session to share (its domain wins); else one is created on
            :meth:`connect`.
        clock: monotonic clock [s].
    """

    def __init__(
        self, config: LinkConfig | None = None, session: DdsSession | None = None, clock: Any = None
    ):
        self.config = config or LinkConfig()
        self.session = session
        self._clock = clock or time.monotonic
        self._reader: Any = None
        self._writer: Any = None
        self.command_topic = (
            unitree_hg.TOPIC_LOWCMD if self.config.lowcmd_debug_mode else unitree_hg.TOPIC_ARM_SDK
        )
        self.state: np.ndarray | None = None  # newest valid LowState_ (wire.LOWSTATE_DTYPE)
        self.state_received_s = -math.inf  # monotonic time it was taken
        self.first_received_s = math.nan  # monotonic time the first valid state was taken
        self.state_stamp_ns = 0  # system time it was taken
        self.mode_machine: int | None = None
        self.samples = 0
        self.rejected = 0
        self.crc_errors = 0
        self.mode_machine_errors = 0
        self.last_reject_reason: str | None = None
        self.last_reject_s = -math.inf
        self.commands_sent = 0
        self._rate_t0: float | None = None
        self._rate_n = 0
        self.rate_hz = math.nan
        self._cmd = wire.new_lowcmd_array()
        self._body_hold: np.ndarray | None = None
        self.last_sent: np.ndarray | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether :meth:`connect` succeeded and :meth:`close` was not called."""
        return self._reader is not None

    def connect(self, command: bool = True) -> None:
        """Create the session (if needed), the ``rt/lowstate`` reader and (if ``command``) the writer.

        Args:
            command: create the command writer; ``False`` gives a strictly passive link
                (``dit4dit robot check``) on which :meth:`send` raises.
        """
        from cyclonedds.pub import DataWriter
        from cyclonedds.qos import Policy, Qos
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        if self.session is None:
            self.session = DdsSession(self.config.domain_id, self.config.interface)
        participant = self.session.participant
        state_topic = Topic(participant, unitree_hg.TOPIC_LOWSTATE, unitree_hg.LowState_)
        reader_qos = Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(self.config.reader_depth))
        self._reader = DataReader(participant, state_topic, qos=reader_qos)
        if command:
            cmd_topic = Topic(participant, self.command_topic, unitree_hg.LowCmd_)
            self._writer = DataWriter(participant, cmd_topic)
        logger.info(
            "G1 link on domain %d (%s): reading %s, commanding %s",
            self.session.domain_id,
            self.session.interface or "CYCLONEDDS_URI",
            unitree_hg.TOPIC_LOWSTATE,
            self.command_topic if command else "nothing",
        )

    def close(self) -> None:
        """Drop the reader and writer (the session is left to its owner)."""
        self._reader = self._writer = None

    # -- state ---------------------------------------------------------------------------------

    def _reject(self, reason: str, now: float) -> None:
        self.rejected += 1
        if reason != self.last_reject_reason:
            logger.warning("rejected rt/lowstate sample: %s", reason)
        self.last_reject_reason = reason
        self.last_reject_s = now

    def _validate(self, state: np.ndarray) -> str | None:
        if self.config.verify_state_crc and not wire.array_crc_ok(state):
            self.crc_errors += 1
            return f"CRC mismatch (crc field {int(state['crc'])}, computed {wire.array_crc(state)})"
        mode = int(state["mode_machine"])
        allowed = self.config.allowed_mode_machines
        if allowed and mode not in allowed:
            self.mode_machine_errors += 1
            name = schema.MODE_MACHINE.get(mode, "unknown")
            return f"mode_machine {mode} ({name}) is not in allowed_mode_machines {allowed}"
        if self.mode_machine is not None and mode != self.mode_machine:
            self.mode_machine_errors += 1
            return f"mode_machine changed from {self.mode_machine} to {mode} during the session"
        motors = state["motor_state"]
        if not (np.all(np.isfinite(motors["q"][_ARM])) and np.all(np.isfinite(motors["dq"][_ARM]))):
            return "non-finite arm joint position or velocity"
        return None

    def poll(self) -> int:
        """Take every pending ``rt/lowstate`` sample; keep the newest valid one.

        Returns:
            Number of valid samples taken.

        Raises:
            DeviceNotConnectedError: before :meth:`connect`.
        """
        if self._reader is None:
            raise DeviceNotConnectedError("G1 link: call connect() before poll()")
        samples = wire.take_raw(self._reader, self.config.reader_depth)
        if not samples:
            return 0
        now = self._clock()
        good = 0
        for data, _info in samples:
            try:
                state = wire.lowstate_from_cdr(data)
            except wire.WireFormatError as exc:
                self._reject(str(exc), now)
                continue
            problem = self._validate(state)
            if problem is not None:
                self._reject(problem, now)
                continue
            if self.mode_machine is None:
                self.mode_machine = int(state["mode_machine"])
                name = schema.MODE_MACHINE.get(self.mode_machine, "unknown")
                logger.info("G1 mode_machine %d (%s)", self.mode_machine, name)
            self.state = state
            good += 1
        if good:
            if self.samples == 0:
                self.first_received_s = now
            self.samples += good
            self.state_received_s = now
            self.state_stamp_ns = time.time_ns()
            self._update_rate(now, good)
        return good

    def _update_rate(self, now: float, n: int) -> None:
        if self._rate_t0 is None:
            self._rate_t0, self._rate_n = now, 0
            return
        self._rate_n += n
        elapsed = now - self._rate_t0
        if elapsed >= 0.5:
            self.rate_hz = self._rate_n / elapsed
            self._rate_t0, self._rate_n = now, 0

    def mean_rate_hz(self) -> float:
        """Average valid-sample rate since the first valid sample [Hz] (NaN before two polls with data)."""
        span = self.state_received_s - self.first_received_s
        return (self.samples - 1) / span if span > 0 else math.nan

    def state_age_s(self, now: float | None = None) -> float:
        """Seconds since the newest valid state was taken (inf if none)."""
        return (self._clock() if now is None else now) - self.state_received_s

    def arm_positions(self) -> np.ndarray | None:
        """(14,) float64 measured arm positions [rad] in schema order, or None."""
        return None if self.state is None else self.state["motor_state"]["q"][_ARM].astype(np.float64)

    def arm_velocities(self) -> np.ndarray | None:
        """(14,) float64 measured arm velocities [rad/s], or None."""
        return None if self.state is None else self.state["motor_state"]["dq"][_ARM].astype(np.float64)

    def arm_efforts(self) -> np.ndarray | None:
        """(14,) float64 estimated arm torques [N·m], or None."""
        return None if self.state is None else self.state["motor_state"]["tau_est"][_ARM].astype(np.float64)

    # -- commands ------------------------------------------------------------------------------

    def send(self, q_arm: np.ndarray, kp: np.ndarray, kd: np.ndarray, weight: float) -> np.ndarray:
        """Publish one command for the 14 arm joints.

        Args:
            q_arm: (14,) targets [rad] (already through the safety filter).
            kp: (14,) stiffness [N·m/rad].
            kd: (14,) damping [N·m·s/rad].
            weight: arm_sdk blend weight, clipped to [0, 1] (lowcmd debug mode: arm gain scale).

        Returns:
            The command as sent (a copy, wire.LOWCMD_DTYPE, CRC stamped).

        Raises:
            DeviceNotConnectedError: before :meth:`connect` or before any valid state (the command
                needs ``mode_machine`` and, in debug mode, the body hold pose).
        """
        if self._writer is None:
            raise DeviceNotConnectedError("G1 link: call connect() before send()")
        if self.state is None or self.mode_machine is None:
            raise DeviceNotConnectedError("G1 link: no valid rt/lowstate yet; cannot fill mode_machine")
        weight = min(max(float(weight), 0.0), 1.0)
        cmd = self._cmd
        cmd["mode_pr"] = self.state["mode_pr"]
        cmd["mode_machine"] = self.mode_machine
        motors = cmd["motor_cmd"]
        motors["mode"][_ARM] = 1
        motors["q"][_ARM] = q_arm
        motors["dq"][_ARM] = 0.0
        motors["tau"][_ARM] = 0.0
        if self.config.lowcmd_debug_mode:
            if self._body_hold is None:
                self._body_hold = self.state["motor_state"]["q"][_BODY].copy()
                logger.info("lowcmd debug mode: holding legs and waist at %s", np.round(self._body_hold, 3))
            motors["mode"][_BODY] = 1
            motors["q"][_BODY] = self._body_hold
            motors["kp"][_BODY] = self.config.body_kp
            motors["kd"][_BODY] = self.config.body_kd
            motors["kp"][_ARM] = kp * weight
            motors["kd"][_ARM] = kd * weight
        else:
            motors["kp"][_ARM] = kp
            motors["kd"][_ARM] = kd
            motors["q"][schema.ARM_SDK_WEIGHT_INDEX] = weight
        wire.write_raw(self._writer, wire.lowcmd_to_cdr(cmd))
        self.commands_sent += 1
        self.last_sent = cmd.copy()
        return self.last_sent

    def release(self) -> None:
        """Forget the debug-mode body hold pose (captured again when commanding restarts)."""
        self._body_hold = None
