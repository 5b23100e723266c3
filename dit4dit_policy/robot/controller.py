"""G1Controller: the transport-agnostic controller core.

It owns the link, the safety filter, the supervisor, the chunk scheduler, the grippers and the
fixed-rate loop.

The controller node wraps it; tests and ``dit4dit sim`` use it directly. Per tick (250 Hz
default, :mod:`~dit4dit_policy.robot.loop`):

1. take ``rt/lowstate`` samples (:class:`~dit4dit_policy.robot.link.G1Link`), read the grippers;
2. apply queued operator commands; merge queued chunks (:mod:`~dit4dit_policy.robot.scheduler`);
3. the supervisor decides the target and blend weight (:mod:`~dit4dit_policy.robot.supervisor`);
4. the safety filter bounds it (:mod:`~dit4dit_policy.robot.safety`), the weight change is
   bounded to 1/(2 s) per second (the fastest allowed ramp, g1_spec §3.2);
5. the arm command goes out with its CRC, the gripper targets to their drivers.

Thread model: :meth:`G1Controller.submit_chunk`, :meth:`G1Controller.command`,
:meth:`G1Controller.joint_state` and :meth:`G1Controller.diagnostics` may be called from any thread;
everything else happens in the loop thread (:meth:`start`) or the caller's thread
(:meth:`run_blocking`).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import threading
import time
from typing import Any

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.errors import DeviceNotConnectedError
from dit4dit_policy.robot import safety
from dit4dit_policy.robot.grippers.base import Gripper
from dit4dit_policy.robot.grippers.factory import GripperConfig, make_grippers
from dit4dit_policy.robot.link import G1Link, LinkConfig
from dit4dit_policy.robot.loop import FixedRateLoop, LoopConfig
from dit4dit_policy.robot.scheduler import ChunkScheduler, SchedulerConfig
from dit4dit_policy.robot.supervisor import Inputs as SupervisorInputs
from dit4dit_policy.robot.supervisor import State, Supervisor, SupervisorConfig

logger = logging.getLogger(__name__)

#: Fastest allowed weight ramp [s for 0→1] (g1_spec §3.2: ramps of ≥ 2 s).
MIN_WEIGHT_RAMP_S = 2.0


@dataclasses.dataclass
class GainsConfig:
    """Arm PD gains, 14 values each in arm order (defaults g1_spec §2.2, schema.ARM_KP/KD_DEFAULT).

    Attributes:
        arm_kp: stiffness per arm joint [N·m/rad].
        arm_kd: damping per arm joint [N·m·s/rad].
    """

    arm_kp: list[float] = dataclasses.field(default_factory=lambda: schema.ARM_KP_DEFAULT.tolist())
    arm_kd: list[float] = dataclasses.field(default_factory=lambda: schema.ARM_KD_DEFAULT.tolist())

    def __post_init__(self) -> None:
        for name in ("arm_kp", "arm_kd"):
            values = getattr(self, name)
            problem = safety.check_vector(np.asarray(values, dtype=np.float64), f"gains.{name}", 14)
            if problem is not None or min(values) < 0:
                raise ValueError(problem or f"gains.{name} must be >= 0, got {values!r}")


@dataclasses.dataclass
class ControllerConfig:
    """Everything the controller core needs; load with ``dit4dit_policy.config.load`` or ``load_ros_params``.

    Attributes:
        link: DDS domain / interface / topic mode (real robot: domain 0 + NIC; sim: domain 1 + lo).
        loop: rate (250 Hz default, 500 Hz capable) and timing.
        safety: limits, step and distance bounds, gain bounds.
        supervisor: ramps, poses, timeouts.
        scheduler: chunk merge strategy and staleness.
        grippers: gripper driver and its settings.
        gains: arm PD gains.
        auto_start: issue ``start`` when the controller starts (else wait for the operator).
    """

    link: LinkConfig = dataclasses.field(default_factory=LinkConfig)
    loop: LoopConfig = dataclasses.field(default_factory=LoopConfig)
    safety: safety.SafetyConfig = dataclasses.field(default_factory=safety.SafetyConfig)
    supervisor: SupervisorConfig = dataclasses.field(default_factory=SupervisorConfig)
    scheduler: SchedulerConfig = dataclasses.field(default_factory=SchedulerConfig)
    grippers: GripperConfig = dataclasses.field(default_factory=GripperConfig)
    gains: GainsConfig = dataclasses.field(default_factory=GainsConfig)
    auto_start: bool = False

    def __post_init__(self) -> None:
        if self.supervisor.ramp_out_s < MIN_WEIGHT_RAMP_S or self.supervisor.ramp_in_s < MIN_WEIGHT_RAMP_S:
            raise ValueError(f"weight ramps must last >= {MIN_WEIGHT_RAMP_S} s")


@dataclasses.dataclass(frozen=True)
class JointStateSnapshot:
    """Measured 16-D joint state (JointState content).

    Attributes:
        positions: (16,) float64 [rad | opening] in schema.JOINT_NAMES order.
        velocities: (16,) float64 [rad/s | opening/s] (grippers: NaN, not measured).
        efforts: (16,) float64 [N·m] (grippers: NaN).
        stamp_ns: acquisition time of the arm state on this machine [ns, system clock].
        age_s: age of the arm state when the snapshot was taken [s].
    """

    positions: np.ndarray
    velocities: np.ndarray
    efforts: np.ndarray
    stamp_ns: int
    age_s: float


class G1Controller:
    """The controller core. See the module docstring and docs/controller.md.

    Args:
        config: the configuration.
        link: a link to use instead of building one from ``config.link`` (tests).
        grippers: (left, right) grippers to use instead of building them from ``config.grippers``.
    """

    def __init__(
        self,
        config: ControllerConfig | None = None,
        link: G1Link | None = None,
        grippers: tuple[Gripper, Gripper] | None = None,
    ) -> None:
        self.config = config or ControllerConfig()
        c = self.config
        self.link = link or G1Link(c.link)
        self._grippers_override = grippers
        self.grippers: tuple[Gripper, Gripper] | None = None
        self.loop = FixedRateLoop(c.loop)
        self.limits = safety.SafetyLimits.build(c.safety, self.loop.period_s)
        self.kp, self.kd, _ = safety.filter_gains(
            np.array(c.gains.arm_kp), np.array(c.gains.arm_kd), self.limits
        )
        self.scheduler = ChunkScheduler(c.scheduler)
        self.supervisor = Supervisor(c.supervisor, start=c.auto_start)
        self._commands: collections.deque[str] = collections.deque()
        self._chunks: collections.deque[Any] = collections.deque()
        self._thread: threading.Thread | None = None
        self._joint_state: JointStateSnapshot | None = None
        self._started = False
        self.counters = collections.Counter[str]()
        self._wire_prev: np.ndarray | None = None
        self._wire_session = -1
        self.last_chunk_problem: str | None = None
        self.last_safety_reason: str | None = None
        self.last_arrival_latency_s = math.nan
        self.tick_errors = 0
        self._weight_step = self.loop.period_s / MIN_WEIGHT_RAMP_S

    # -- lifecycle -----------------------------------------------------------------------------

    def connect(self) -> None:
        """Connect the DDS link and start the grippers (idempotent)."""
        if self._started:
            return
        if not self.link.connected:
            self.link.connect()
        self.grippers = self._grippers_override or make_grippers(self.config.grippers, self.link.session)
        if self.grippers is not None:
            for g in self.grippers:
                g.start()
        self._started = True

    def start(self) -> None:
        """Connect and run the loop in a background thread (``dit4dit-controller``)."""
        self.connect()
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self.run_blocking, name="dit4dit-controller", daemon=True)
        self._thread.start()

    def run_blocking(self, max_ticks: int | None = None) -> None:
        """Connect and run the loop in the calling thread until :meth:`stop` (or ``max_ticks``)."""
        self.connect()
        self.loop.run(self._tick, max_ticks=max_ticks)

    def stop(self, ramp_out: bool = True, timeout_s: float = 15.0) -> bool:
        """Stop the loop; with ``ramp_out``, first request an operator stop and wait for IDLE.

        With ``supervisor.operator_stop_holds`` that stop only holds, so a second ``stop`` follows
        once the supervisor reports the operator-stop hold: the ramp out never waits for an operator.

        Returns:
            True if the controller reached a state with nothing commanded (IDLE, WAIT_STATE, or
            ESTOP at weight 0) before the loop stopped.
        """
        safe = self._wait_safe(timeout_s) if (ramp_out and self._thread is not None) else self._is_safe()
        self.loop.stop()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        if self.grippers is not None:
            for g in self.grippers:
                g.stop()
        self._started = False
        if not safe:
            logger.error("controller stopped while still commanding (state %s)", self.supervisor.state.value)
        return safe

    def _is_safe(self) -> bool:
        s = self.supervisor
        return s.state in (State.IDLE, State.WAIT_STATE) or s.weight <= 0.0

    def _wait_safe(self, timeout_s: float) -> bool:
        if self._is_safe():
            return True
        self.command("stop")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            sup = self.supervisor
            if sup.state is State.IDLE:
                return True
            if sup.state is State.ESTOP:
                self.command("reset")
            elif sup.in_operator_hold():
                # With operator_stop_holds the stop above only holds (until the operator's verdict):
                # the second stop ramps out. Stops after that are ignored in RAMP_OUT and IDLE.
                self.command("stop")
            time.sleep(0.02)
        return self._is_safe()

    # -- inputs (any thread) -------------------------------------------------------------------

    def command(self, name: str) -> None:
        """Queue an operator command: ``start``, ``stop``, ``estop`` or ``reset``.

        Raises:
            ValueError: unknown command.
        """
        if name not in ("start", "stop", "estop", "reset"):
            raise ValueError(f"operator command must be one of start, stop, estop, reset; got {name!r}")
        self._commands.append(name)

    def estop(self) -> None:
        """Emergency stop (same as ``command("estop")``)."""
        self.command("estop")

    def submit_chunk(self, chunk: schema.ActionChunk) -> str | None:
        """Queue a policy chunk for the next tick (validated there against the tick's time).

        Anything that is not a well-formed ActionChunk is rejected now and counts as an invalid
        chunk (the supervisor holds).

        Returns:
            None, or why the chunk is malformed (it was reported as an invalid chunk).
        """
        problem = None
        if not isinstance(chunk, schema.ActionChunk):
            problem = f"chunk must be a schema.ActionChunk, got {type(chunk).__name__}"
        if problem is not None:
            self.reject_chunk(problem)
            return problem
        self._chunks.append(chunk)
        return None

    def reject_chunk(self, reason: str) -> None:
        """Report a chunk message that could not be converted (the node's parse error): hold + diagnostic."""
        self._chunks.append(("invalid", str(reason)))

    # -- outputs (any thread) ------------------------------------------------------------------

    def joint_state(self) -> JointStateSnapshot | None:
        """The newest measured 16-D joint state, or None before the first valid ``rt/lowstate``."""
        return self._joint_state

    def diagnostics(self) -> dict[str, Any]:
        """A plain-data snapshot: state, transition log, loop stats, state age/rate, latency, counters."""
        link = self.link
        sup = self.supervisor.snapshot()
        now = time.monotonic()
        grippers = {}
        if self.grippers is not None:
            for g in self.grippers:
                r = g.reading()
                grippers[g.name] = {
                    "opening": r.opening,
                    "age_s": r.age_s(now),
                    "target": g.target,
                    "error": r.error,
                }
        return {
            **sup,
            "command_topic": link.command_topic,
            "loop": self.loop.stats.summary().as_dict(),
            "state_age_s": link.state_age_s(now),
            "state_rate_hz": link.rate_hz,
            "mode_machine": link.mode_machine,
            "state_samples": link.samples,
            "state_rejected": link.rejected,
            "state_crc_errors": link.crc_errors,
            "state_mode_machine_errors": link.mode_machine_errors,
            "last_state_reject": link.last_reject_reason,
            "commands_sent": link.commands_sent,
            "latency_obs_to_exec_s": self.scheduler.last_latency_s,
            "latency_obs_to_arrival_s": self.last_arrival_latency_s,
            "chunks_accepted": self.scheduler.chunks_accepted,
            "chunks_rejected": self.counters["chunks_rejected"],
            "last_chunk_problem": self.last_chunk_problem,
            "safety_holds": self.counters["safety_holds"],
            "last_safety_reason": self.last_safety_reason,
            "clamp_limit": self.counters["clamp_limit"],
            "clamp_distance": self.counters["clamp_distance"],
            "clamp_step": self.counters["clamp_step"],
            "clamp_weight": self.counters["clamp_weight"],
            "clamp_wire_step": self.counters["clamp_wire_step"],
            "tick_errors": self.tick_errors,
            "grippers": grippers,
        }

    # -- the tick ------------------------------------------------------------------------------

    def _measured(self, now: float) -> tuple[np.ndarray | None, tuple[str, str] | None]:
        """(16,) measured positions and the state fault, if any."""
        link = self.link
        arm = link.arm_positions()
        max_age = self.config.supervisor.state_max_age_s
        if arm is None:
            extra = f" (last sample rejected: {link.last_reject_reason})" if link.last_reject_reason else ""
            return None, ("state_stale", f"no valid rt/lowstate received yet{extra}")
        q = np.empty(schema.NUM_JOINTS)
        q[:14] = arm
        problem: tuple[str, str] | None = None
        if link.last_reject_s > link.state_received_s:
            problem = ("state_invalid", f"rt/lowstate sample rejected: {link.last_reject_reason}")
        age = link.state_age_s(now)
        if problem is None and age > max_age:
            problem = ("state_stale", f"rt/lowstate is {age * 1e3:.0f} ms old > {max_age * 1e3:.0f} ms")
        if self.grippers is None:
            last = self.supervisor.last_command
            q[14:] = last[14:] if last is not None else np.asarray(self.config.supervisor.rest_pose[14:])
        else:
            for i, g in enumerate(self.grippers):
                r = g.reading()
                if math.isfinite(r.opening):
                    q[14 + i] = r.opening
                else:
                    q[14 + i] = g.target if g.target is not None else self.config.supervisor.rest_pose[14 + i]
                if problem is None and r.age_s(now) > self.config.grippers.state_max_age_s:
                    age_text = (
                        "never measured" if not math.isfinite(r.age_s(now)) else f"{r.age_s(now):.3f} s old"
                    )
                    problem = (
                        "state_stale",
                        f"{g.name} state {age_text} > {self.config.grippers.state_max_age_s} s",
                    )
        return q, problem

    def _drain_chunks(self, now_ns: int) -> tuple[tuple[str, str] | None, bool]:
        problem: tuple[str, str] | None = None
        fresh = False
        while self._chunks:
            item = self._chunks.popleft()
            if isinstance(item, tuple):
                result_ok, reason = False, item[1]
            else:
                result = self.scheduler.submit(item, now_ns)
                result_ok, reason = result.accepted, result.reason
                if result_ok:
                    self.last_arrival_latency_s = result.arrival_latency_s
            if result_ok:
                fresh, problem = True, None
            else:
                self.counters["chunks_rejected"] += 1
                self.last_chunk_problem = reason
                fault = "chunk_stale" if reason and "stale" in reason else "chunk_invalid"
                problem = (fault, f"rejected chunk: {reason}")
                logger.warning("rejected action chunk: %s", reason)
        return problem, fresh

    def tick(self) -> None:
        """Run one control tick now (for an external loop or a benchmark; not while :meth:`start`-ed).

        Raises:
            DeviceNotConnectedError: before :meth:`connect`.
        """
        if not self._started:
            raise DeviceNotConnectedError("G1Controller: call connect() before tick()")
        self._tick_inner()

    def _tick(self, k: int, deadline: float) -> None:
        try:
            self._tick_inner()
            self.tick_errors = 0
        except Exception as exc:
            self.tick_errors += 1
            logger.exception("controller tick failed; e-stop (hold last command)")
            self.supervisor.command("estop")
            if self.tick_errors >= 50:
                self.loop.stop()
                raise RuntimeError(f"controller: 50 consecutive tick failures, last: {exc}") from exc

    def _tick_inner(self) -> None:
        now = time.monotonic()
        now_ns = time.time_ns()
        link = self.link
        link.poll()
        while self._commands:
            self.supervisor.command(self._commands.popleft())
        chunk_problem, fresh = self._drain_chunks(now_ns)
        q_meas, state_problem = self._measured(now)
        policy_target = None
        if self.supervisor.state in (State.RUN, State.HOLD) and self.scheduler.has_trajectory:
            policy_target, exhausted = self.scheduler.sample(now_ns)
            if chunk_problem is None:
                age = self.scheduler.newest_chunk_age_s(now_ns)
                if exhausted:
                    end = self.scheduler.end_ns or now_ns
                    chunk_problem = ("chunk_stale", f"trajectory ended {(now_ns - end) * 1e-9:.3f} s ago")
                elif age > self.config.scheduler.max_chunk_age_s:
                    limit = self.config.scheduler.max_chunk_age_s
                    chunk_problem = ("chunk_stale", f"newest chunk is {age:.3f} s old > {limit} s")
        inputs = SupervisorInputs(now, now_ns, state_problem, q_meas, policy_target, chunk_problem, fresh)
        session = self.supervisor.session
        decision = self.supervisor.step(inputs)
        if self.supervisor.session != session:
            self.scheduler.clear()  # a new session never executes a trajectory from the last one
        if q_meas is not None and state_problem is None:
            self._update_joint_state(q_meas, now, now_ns)
        if not decision.publish:
            if self.supervisor.state is State.IDLE:
                link.release()
            return
        q_prev = self.supervisor.last_command
        if q_prev is None:
            if q_meas is None:
                return  # nothing known to hold; the supervisor only publishes with a measured pose
            q_prev = safety.clamp_to_limits(q_meas, self.limits)
        result = safety.filter_command(decision.target, q_prev, q_meas, self.limits)
        if result.held:
            self.counters["safety_holds"] += 1
            self.last_safety_reason = result.reason
        self.counters["clamp_limit"] += result.limit_clamped
        self.counters["clamp_distance"] += result.distance_clamped
        self.counters["clamp_step"] += result.step_clamped
        w_prev = self.supervisor.weight
        weight = min(max(decision.weight, w_prev - self._weight_step), w_prev + self._weight_step, 1.0)
        weight = max(weight, 0.0)
        if weight != decision.weight:
            self.counters["clamp_weight"] += 1
        q_out = self._guard_wire_step(result.q)
        link.send(q_out[:14], self.kp, self.kd, weight)
        self._wire_prev, self._wire_session = q_out.copy(), self.supervisor.session
        if self.grippers is not None:
            self.grippers[0].set_target(q_out[14])
            self.grippers[1].set_target(q_out[15])
        self.supervisor.commanded(q_out, weight)

    def _guard_wire_step(self, q: np.ndarray) -> np.ndarray:
        """Enforce |Δq| ≤ v·dt against the last command actually sent in this session.

        The safety filter bounds the step against the supervisor's record of the last command;
        this second check against what went out on the wire keeps the guarantee even if the two
        ever disagree (it is counted as ``clamp_wire_step`` and logged, since it should not fire).
        """
        prev = self._wire_prev if self._wire_session == self.supervisor.session else None
        if prev is None:
            return q
        guarded = safety.limit_step(q, prev, self.limits.step)
        if np.any(guarded != q):
            self.counters["clamp_wire_step"] += 1
            if self.counters["clamp_wire_step"] <= 20:
                dim = int(np.argmax(np.abs(q - prev)))
                logger.warning(
                    "wire step guard: dim %d would move %.4f rad in one tick in state %s (last_command "
                    "%.4f, last sent %.4f, new %.4f)",
                    dim,
                    abs(q[dim] - prev[dim]),
                    self.supervisor.state.value,
                    np.nan if self.supervisor.last_command is None else self.supervisor.last_command[dim],
                    prev[dim],
                    q[dim],
                )
        return guarded

    def _update_joint_state(self, q: np.ndarray, now: float, now_ns: int) -> None:
        link = self.link
        vel = np.full(schema.NUM_JOINTS, np.nan)
        eff = np.full(schema.NUM_JOINTS, np.nan)
        vel[:14] = link.arm_velocities()
        eff[:14] = link.arm_efforts()
        self._joint_state = JointStateSnapshot(q.copy(), vel, eff, link.state_stamp_ns, link.state_age_s(now))
