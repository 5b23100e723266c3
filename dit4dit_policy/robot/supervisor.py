"""Supervisor: the controller's state machine (pure logic, no I/O, no clock of its own).

States and transitions (g1_spec §3.1-3.2 recommended sequence; issue 4):

```
IDLE --start--> WAIT_STATE --state fresh & valid--> RAMP_IN --weight 1--> MOVE_TO_START --reached--> RUN
WAIT_STATE --stop--> IDLE
RAMP_IN | MOVE_TO_START | RUN --fault or operator stop--> HOLD
    faults: state older than state_max_age_s, invalid state (CRC, mode_machine, NaN);
            in RUN also a stale chunk (newest observation older than max_chunk_age_s, or the
            trajectory ran out) and an invalid chunk
HOLD --recoverable fault cleared--> the interrupted state (RUN needs a valid chunk)
HOLD --hold_timeout_s, or stop_hold_s after an operator stop--> RAMP_OUT
with operator_stop_holds (evaluation: hold until the operator's verdict):
  RAMP_IN | MOVE_TO_START | RUN | fault HOLD --operator stop--> HOLD (indefinite: neither stop_hold_s
      nor hold_timeout_s ends it; chunk faults are ignored)
  that HOLD --second stop, or reset--> RAMP_OUT
  that HOLD --a state fault lasting hold_timeout_s from its onset--> RAMP_OUT
RAMP_OUT: move to the rest pose at <= move_speed, then weight 1->0 over ramp_out_s --> IDLE
any state --estop--> ESTOP (latched: holds the last command, weight frozen)
ESTOP --reset--> RAMP_OUT (or IDLE if nothing was commanded)
```

Every transition is recorded as a :class:`Transition` (sequence number, time, from, to, reason) in a
bounded log, logged at INFO (WARNING for faults and e-stop), and exposed through
:meth:`Supervisor.snapshot`. Sequence numbers count every transition since construction
(:attr:`Supervisor.transition_count`), so a reader can tell new entries from old ones — and how many
it missed — even after older entries fell out of the bounded log.

The supervisor decides *what* to command (``Decision``: target source, target, weight, whether to
publish); the safety filter then bounds *how* it is commanded. It never produces a jump by itself:
every target it emits is the previous command, the measured pose, or an interpolation that starts
at the previous command.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import logging
import math

import numpy as np

from dit4dit_policy import schema

logger = logging.getLogger(__name__)


class State(str, enum.Enum):
    """Supervisor states."""

    IDLE = "idle"
    WAIT_STATE = "wait_state"
    RAMP_IN = "ramp_in"
    MOVE_TO_START = "move_to_start"
    RUN = "run"
    HOLD = "hold"
    RAMP_OUT = "ramp_out"
    ESTOP = "estop"


#: Operator commands (DESIGN.md §3, ``/dit4dit/command``).
COMMANDS = ("start", "stop", "estop", "reset")

#: Faults after which RUN resumes by itself once they clear (others end in RAMP_OUT).
RECOVERABLE_FAULTS = frozenset({"chunk_stale", "chunk_invalid", "state_stale", "state_invalid"})

#: Hold reason of an operator stop with ``SupervisorConfig.operator_stop_holds``.
OPERATOR_HOLD_REASON = "operator stop: holding until stop/reset (operator_stop_holds)"


@dataclasses.dataclass
class SupervisorConfig:
    """Timing and poses of the state machine.

    Attributes:
        ramp_in_s: weight 0→1 duration [s]; ≥ 2 s (g1_spec §3.2 step 2).
        ramp_out_s: weight 1→0 duration [s]; 2-3 s (g1_spec §3.1: XR 2 s, SDK 3 s).
        move_speed_rad_s: peak joint speed of the moves to the start and rest poses [rad/s]
            (≤ 0.5 rad/s, the unitree_ros2 arm_sdk example's clip, g1_spec §3.1).
        gripper_move_speed: peak gripper speed of those moves [opening/s].
        start_pose: 16-D start pose [rad | opening] or None = stay at the pose measured after the ramp in.
        rest_pose: 16-D rest pose before the weight ramp-out; default: arms at Unitree's "home"
            q = 0 (g1_spec §3.1 ``ctrl_dual_arm_go_home``), grippers open. With weight 0 the robot's
            own controller holds its default arm pose, so resting at home makes the hand-over smooth.
        hold_timeout_s: a HOLD lasting this long ends in RAMP_OUT [s].
        stop_hold_s: how long an operator stop holds before ramping out [s] (unused with
            ``operator_stop_holds``).
        operator_stop_holds: an operator ``stop`` holds the last command at the current weight
            until a second ``stop`` or a ``reset`` ramps out (or ``estop``), however long that takes;
            neither ``stop_hold_s`` nor ``hold_timeout_s`` ends it. A state fault during that hold
            (stale or invalid state) still ramps out ``hold_timeout_s`` after its onset, like a fault
            hold; chunk faults are ignored while stopped. For the real-robot evaluation, where the
            scene is judged after the rollout's ``stop`` with the object still held
            (``launch/evaluate.launch.py``); False (default): ``stop`` ramps out after ``stop_hold_s``.
        state_max_age_s: measured state older than this is a fault [s] (50 ms, g1_spec §3.2 step 4).
        zero_weight_ticks: extra weight-0 messages sent after the ramp out reached 0 (so a lost
            sample cannot leave the last non-zero weight in force).
        log_size: transitions kept in the log (older ones drop out; ``Transition.seq`` keeps counting).
    """

    ramp_in_s: float = 2.0
    ramp_out_s: float = 2.5
    move_speed_rad_s: float = 0.5
    gripper_move_speed: float = 0.5
    start_pose: list[float] | None = None
    rest_pose: list[float] = dataclasses.field(default_factory=lambda: [0.0] * 14 + [1.0, 1.0])
    hold_timeout_s: float = 2.0
    stop_hold_s: float = 0.2
    operator_stop_holds: bool = False
    state_max_age_s: float = 0.05
    zero_weight_ticks: int = 25
    log_size: int = 200

    def __post_init__(self) -> None:
        for name, low, high in (
            ("ramp_in_s", 2.0, 30.0),
            ("ramp_out_s", 2.0, 3.0),
            ("move_speed_rad_s", 0.01, 0.5),
            ("gripper_move_speed", 0.01, 2.0),
            ("hold_timeout_s", 0.05, 60.0),
            ("stop_hold_s", 0.0, 5.0),
            ("state_max_age_s", 0.004, 1.0),
        ):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
                raise ValueError(f"supervisor.{name} must be in [{low}, {high}], got {value!r}")
        for name in ("start_pose", "rest_pose"):
            pose = getattr(self, name)
            if pose is None and name == "start_pose":
                continue
            arr = np.asarray(pose, dtype=np.float64)
            if arr.shape != (schema.NUM_JOINTS,) or not np.all(np.isfinite(arr)):
                raise ValueError(
                    f"supervisor.{name} must be {schema.NUM_JOINTS} finite numbers in "
                    f"schema.JOINT_NAMES order, got {pose!r}"
                )
            outside = np.flatnonzero((arr < schema.POSITION_LOWER) | (arr > schema.POSITION_UPPER))
            if outside.size:
                names = [schema.JOINT_NAMES[i] for i in outside]
                raise ValueError(f"supervisor.{name} is outside the joint limits at {names}")
        if not isinstance(self.operator_stop_holds, bool):
            raise ValueError(
                f"supervisor.operator_stop_holds must be true or false, got {self.operator_stop_holds!r}"
            )
        if not (isinstance(self.zero_weight_ticks, int) and 0 <= self.zero_weight_ticks <= 10000):
            raise ValueError(
                f"supervisor.zero_weight_ticks must be an int in [0, 10000], got {self.zero_weight_ticks!r}"
            )
        if not (isinstance(self.log_size, int) and self.log_size >= 10):
            raise ValueError(f"supervisor.log_size must be an int >= 10, got {self.log_size!r}")


@dataclasses.dataclass(frozen=True)
class Transition:
    """One state change.

    Attributes:
        t_s: monotonic time [s].
        stamp_ns: system time [ns].
        source: state before.
        target: state after.
        reason: why (human-readable; names the fault).
        fault: machine-readable fault key (``chunk_stale``, ``state_stale``, …) or None.
        seq: 1-based number of this transition since the supervisor was built (monotonic; keeps
            counting after older entries fell out of the bounded log).
    """

    t_s: float
    stamp_ns: int
    source: State
    target: State
    reason: str
    fault: str | None = None
    seq: int = 0

    def as_dict(self) -> dict[str, object]:
        """Plain dict for diagnostics."""
        return {
            "t_s": self.t_s,
            "stamp_ns": self.stamp_ns,
            "from": self.source.value,
            "to": self.target.value,
            "reason": self.reason,
            "fault": self.fault,
            "seq": self.seq,
        }


@dataclasses.dataclass
class Inputs:
    """What the supervisor sees at one tick.

    Attributes:
        t_s: monotonic time [s].
        stamp_ns: system time [ns].
        state_problem: ``(fault_key, reason)`` if the measured state is not fresh and valid
            (``state_stale`` or ``state_invalid``), else None.
        q_meas: (16,) measured positions, or None if never received.
        policy_target: (16,) scheduler target for this tick, or None.
        chunk_problem: a chunk fault to act on in RUN (``(fault_key, reason)``), or None.
        fresh_chunk: a valid chunk was accepted since the last tick.
    """

    t_s: float
    stamp_ns: int
    state_problem: tuple[str, str] | None
    q_meas: np.ndarray | None
    policy_target: np.ndarray | None = None
    chunk_problem: tuple[str, str] | None = None
    fresh_chunk: bool = False

    @property
    def state_ok(self) -> bool:
        """Whether the measured state is fresh and valid."""
        return self.state_problem is None and self.q_meas is not None


@dataclasses.dataclass
class Decision:
    """What to command at one tick (before the safety filter).

    Attributes:
        publish: whether to send a command at all (False in IDLE/WAIT_STATE and after ramp-out).
        target: (16,) requested target [rad | opening] (only meaningful when ``publish``).
        weight: arm_sdk blend weight in [0, 1].
        source: which rule produced the target (``measured``, ``start_move``, ``policy``, ``hold``,
            ``rest_move``, ``estop``).
    """

    publish: bool
    target: np.ndarray | None
    weight: float
    source: str


class _Move:
    """Cosine-profile interpolation from ``start`` to ``goal`` with a bounded peak speed."""

    def __init__(self, start: np.ndarray, goal: np.ndarray, t0: float, speeds: np.ndarray) -> None:
        self.start = start.copy()
        self.goal = goal.copy()
        self.t0 = t0
        # Peak speed of 0.5·(1 - cos(πs)) is (π/2)·Δ/T, so T = (π/2)·max(|Δ|/v).
        self.duration = float(np.max(np.abs(goal - start) / speeds) * math.pi / 2.0)

    def at(self, t: float) -> tuple[np.ndarray, bool]:
        if self.duration <= 0.0:
            return self.goal.copy(), True
        s = min(max((t - self.t0) / self.duration, 0.0), 1.0)
        blend = 0.5 * (1.0 - math.cos(math.pi * s))
        return self.start + blend * (self.goal - self.start), s >= 1.0


class Supervisor:
    """The state machine. Call :meth:`command` for operator input and :meth:`step` once per tick.

    Args:
        config: timing and poses.
        start: begin in WAIT_STATE instead of IDLE (``auto_start``).
    """

    def __init__(self, config: SupervisorConfig | None = None, start: bool = False) -> None:
        self.config = config or SupervisorConfig()
        self.state = State.IDLE
        self.state_since_s = 0.0
        self.weight = 0.0
        self.last_command: np.ndarray | None = None
        self.log: collections.deque[Transition] = collections.deque(maxlen=self.config.log_size)
        #: Transitions since construction (the ``seq`` of the newest one; the log keeps only the last
        #: ``log_size``).
        self.transition_count = 0
        self.hold_fault: str | None = None
        self.hold_reason: str | None = None
        self._pending: collections.deque[str] = collections.deque(["start"] if start else [])
        self._move: _Move | None = None
        self._ramp_t0 = 0.0
        self._ramp_w0 = 0.0
        self._ramp_out_phase = "move"
        self._hold_from = State.RUN
        #: Onset time [s] and (fault_key, reason) of a state fault during an operator-stop hold
        #: (``operator_stop_holds``); None while the state is fresh and valid.
        self._stop_fault_since: float | None = None
        self._stop_fault: tuple[str, str] | None = None
        self._stop_hold_reason = OPERATOR_HOLD_REASON  # hold_reason of the operator-stop hold
        self._zero_tail = 0
        speeds = [self.config.move_speed_rad_s] * 14 + [self.config.gripper_move_speed] * 2
        self._move_speeds = np.array(speeds)
        self.estop_count = 0
        #: Incremented each time commanding begins (WAIT_STATE → RAMP_IN).
        self.session = 0

    # -- input ---------------------------------------------------------------------------------

    def command(self, name: str) -> None:
        """Queue an operator command (applied at the next :meth:`step`).

        Raises:
            ValueError: ``name`` is not one of ``start``, ``stop``, ``estop``, ``reset``.
        """
        if name not in COMMANDS:
            raise ValueError(f"operator command must be one of {', '.join(COMMANDS)}, got {name!r}")
        self._pending.append(name)

    # -- transitions ---------------------------------------------------------------------------

    def _go(self, inputs: Inputs, target: State, reason: str, fault: str | None = None) -> None:
        self.transition_count += 1
        record = Transition(
            inputs.t_s, inputs.stamp_ns, self.state, target, reason, fault, self.transition_count
        )
        self.log.append(record)
        level = logging.WARNING if (fault or target is State.ESTOP) else logging.INFO
        logger.log(level, "supervisor %s -> %s: %s", self.state.value, target.value, reason)
        self.state = target
        self.state_since_s = inputs.t_s

    def _enter_hold(self, inputs: Inputs, fault: str, reason: str) -> None:
        self.hold_fault, self.hold_reason = fault, reason
        self._go(inputs, State.HOLD, f"{fault}: {reason}", fault)

    def _enter_ramp_out(self, inputs: Inputs, reason: str, fault: str | None = None) -> None:
        self._ramp_out_phase = "move"
        start = self.last_command if self.last_command is not None else inputs.q_meas
        rest = np.asarray(self.config.rest_pose, dtype=np.float64)
        self._move = _Move(start, rest, inputs.t_s, self._move_speeds) if start is not None else None
        self._go(inputs, State.RAMP_OUT, reason, fault)

    def _handle_commands(self, inputs: Inputs) -> None:
        while self._pending:
            name = self._pending.popleft()
            state = self.state
            if name == "estop":
                self.estop_count += 1
                if state is not State.ESTOP:
                    self._go(inputs, State.ESTOP, "operator e-stop", "estop")
            elif name == "reset":
                if state is State.ESTOP:
                    if self.weight > 0.0 and self.last_command is not None:
                        self._enter_ramp_out(inputs, "reset after e-stop: ramping out")
                    else:
                        self._go(inputs, State.IDLE, "reset after e-stop (nothing commanded)")
                elif self.in_operator_hold():
                    self._enter_ramp_out(inputs, "reset during the operator-stop hold: ramping out")
            elif name == "start":
                if state is State.IDLE:
                    self._go(inputs, State.WAIT_STATE, "operator start")
            elif name == "stop":
                if state is State.WAIT_STATE:
                    self._go(inputs, State.IDLE, "operator stop")
                elif self.config.operator_stop_holds and state is not State.HOLD:
                    if state in (State.RAMP_IN, State.MOVE_TO_START, State.RUN):
                        self._stop_fault_since = self._stop_fault = None
                        self._stop_hold_reason = OPERATOR_HOLD_REASON
                        self._enter_hold(inputs, "operator_stop", OPERATOR_HOLD_REASON)
                elif self.config.operator_stop_holds:  # HOLD
                    self._stop_in_hold(inputs)
                elif state in (State.RAMP_IN, State.MOVE_TO_START, State.RUN):
                    self._enter_hold(inputs, "operator_stop", "operator stop")
                elif state is State.HOLD:
                    self.hold_fault, self.hold_reason = "operator_stop", "operator stop"

    def in_operator_hold(self) -> bool:
        """Whether it is in the indefinite hold of an operator stop (``operator_stop_holds``).

        Only a second ``stop``, a ``reset``, an ``estop`` or a lasting state fault end that hold.
        """
        return (
            self.config.operator_stop_holds
            and self.state is State.HOLD
            and self.hold_fault == "operator_stop"
        )

    def _stop_in_hold(self, inputs: Inputs) -> None:
        """``stop`` in HOLD with ``operator_stop_holds``.

        In the operator-stop hold it is the second stop: ramp out. In a fault hold it becomes the
        operator-stop hold (the chunk fault no longer matters; a state fault keeps its onset, so it
        still ramps out ``hold_timeout_s`` after the fault began). No transition (HOLD stays HOLD).
        """
        if self.hold_fault == "operator_stop":
            self._enter_ramp_out(inputs, "second operator stop: ramping out")
            return
        fault, reason = self.hold_fault, self.hold_reason
        state_fault = fault is not None and fault.startswith("state")
        self._stop_fault_since = self.state_since_s if state_fault else None
        self._stop_fault = (fault, reason) if state_fault else None
        self.hold_fault = "operator_stop"
        self._stop_hold_reason = f"{OPERATOR_HOLD_REASON}; stopped during a hold for {fault}: {reason}"
        self.hold_reason = self._stop_hold_reason
        logger.info("supervisor hold: operator stop during the %s hold; %s", fault, OPERATOR_HOLD_REASON)

    # -- per tick ------------------------------------------------------------------------------

    def step(self, inputs: Inputs) -> Decision:
        """Advance one tick and decide what to command.

        Args:
            inputs: this tick's observations.

        Returns:
            The decision; the caller sends it through the safety filter and then calls
            :meth:`commanded` with what was actually sent.
        """
        self._handle_commands(inputs)
        for _ in range(4):  # a tick may pass through a few instantaneous transitions
            decision = self._step_state(inputs)
            if decision is not None:
                return decision
        raise RuntimeError(f"supervisor did not settle in state {self.state}")  # pragma: no cover

    def _step_state(self, inputs: Inputs) -> Decision | None:
        c = self.config
        state = self.state
        t = inputs.t_s

        if state is State.IDLE:
            if self._zero_tail > 0 and self.last_command is not None:
                self._zero_tail -= 1
                return Decision(True, self.last_command.copy(), 0.0, "rest_move")
            return Decision(False, None, 0.0, "none")

        if state is State.WAIT_STATE:
            if inputs.state_ok:
                self._begin_ramp_in(inputs, 0.0)
                self.last_command = None  # the first command is the measured pose, not an old one
                self.session += 1
                self._go(inputs, State.RAMP_IN, "measured state is fresh and valid")
                return None
            return Decision(False, None, 0.0, "none")

        if state is State.ESTOP:
            if self.last_command is None or self.weight <= 0.0:
                return Decision(False, None, 0.0, "estop")
            return Decision(True, self.last_command.copy(), self.weight, "estop")

        if state in (State.RAMP_IN, State.MOVE_TO_START, State.RUN):
            fault = inputs.state_problem if not inputs.state_ok else None
            if fault is None and inputs.q_meas is None:
                fault = ("state_stale", "no measured state")
            if fault is None and state is State.RUN:
                fault = inputs.chunk_problem
            if fault is not None:
                self._hold_from = state
                self._enter_hold(inputs, *fault)
                return None

        if state is State.RAMP_IN:
            weight = min(1.0, self._ramp_w0 + (t - self._ramp_t0) / c.ramp_in_s)
            target = inputs.q_meas.copy()  # state_ok checked above
            # Leave RAMP_IN only once the weight actually sent is 1: the controller also bounds the
            # weight change per tick, so after a stalled tick the command lags the time-based ramp
            # (a later HOLD would otherwise freeze the arms at partial authority).
            if weight >= 1.0 and self.weight >= 1.0:
                self._begin_move_to_start(inputs, target)
                self._go(inputs, State.MOVE_TO_START, "weight reached 1")
            return Decision(True, target, weight, "measured")

        if state is State.MOVE_TO_START:
            target, done = self._move.at(t)
            if done:
                self._go(inputs, State.RUN, "start pose reached")
            return Decision(True, target, 1.0, "start_move")

        if state is State.RUN:
            if inputs.policy_target is None:  # no chunk yet: keep the start pose
                return Decision(True, self._hold_target(inputs), 1.0, "hold")
            return Decision(True, inputs.policy_target, 1.0, "policy")

        if state is State.HOLD and self.in_operator_hold():
            return self._step_operator_hold(inputs)

        if state is State.HOLD:
            waited = t - self.state_since_s
            if self.hold_fault == "operator_stop":
                if waited >= c.stop_hold_s:
                    self._enter_ramp_out(inputs, "operator stop")
                    return None
            elif self._recovered(inputs):
                self._resume(inputs)
                return None
            if waited >= c.hold_timeout_s:
                self._enter_ramp_out(
                    inputs, f"hold timeout ({c.hold_timeout_s:g} s) after: {self.hold_reason}"
                )
                return None
            target = self._hold_target(inputs)
            if target is None:  # nothing commanded and no measured pose: nothing to hold, send nothing
                return Decision(False, None, self.weight, "hold")
            return Decision(True, target, self.weight, "hold")

        if state is State.RAMP_OUT:
            if self._ramp_out_phase == "move":
                if self._move is not None:
                    target, done = self._move.at(t)
                    if done:  # the rest pose is commanded this tick; the weight ramp starts now
                        self._ramp_out_phase = "weight"
                        self._ramp_t0, self._ramp_w0 = t, self.weight
                    return Decision(True, target, self.weight, "rest_move")
                self._ramp_out_phase = "weight"
                self._ramp_t0, self._ramp_w0 = t, self.weight
            weight = max(0.0, self._ramp_w0 - (t - self._ramp_t0) / c.ramp_out_s)
            target = self._hold_target(inputs)
            if target is None:  # nothing was ever commanded
                self._go(inputs, State.IDLE, "nothing to ramp out")
                return None
            if weight <= 0.0 and self.weight > 0.0:
                # The weight actually sent still ramps down (the controller bounds its change per
                # tick, so after a stalled tick it lags this time-based ramp): keep ramping, and only
                # report IDLE — after which a new session may start — once it is really 0.
                return Decision(True, target, 0.0, "rest_move")
            if weight <= 0.0:
                self._go(inputs, State.IDLE, "weight reached 0")
                self._zero_tail = c.zero_weight_ticks
                return Decision(True, target, 0.0, "rest_move")  # the first weight-0 message
            return Decision(True, target, weight, "rest_move")

        raise RuntimeError(f"unhandled supervisor state {state}")  # pragma: no cover

    def _step_operator_hold(self, inputs: Inputs) -> Decision | None:
        """The operator-stop hold (``operator_stop_holds``): hold until stop/reset, unless the state fails.

        A state fault (whatever makes the measured state not fresh and valid) that lasts
        ``hold_timeout_s`` from its onset ramps out, exactly as a fault hold times out; a state
        that comes back in time resets the onset. Chunk faults are not looked at.
        """
        c = self.config
        t = inputs.t_s
        if inputs.state_ok:
            if self._stop_fault_since is not None:
                logger.info(
                    "supervisor hold: measured state fresh and valid again after %s; still holding "
                    "for the operator stop",
                    self._stop_fault[0] if self._stop_fault else "a state fault",
                )
            self._stop_fault_since = self._stop_fault = None
            self.hold_reason = self._stop_hold_reason
        else:
            problem = inputs.state_problem or ("state_stale", "no measured state")
            if self._stop_fault_since is None:
                self._stop_fault_since, self._stop_fault = t, problem
                self.hold_reason = (
                    f"{self._stop_hold_reason}; {problem[0]}: {problem[1]} "
                    f"(ramping out {c.hold_timeout_s:g} s after its onset unless it clears)"
                )
                logger.warning(
                    "supervisor hold: %s: %s during the operator-stop hold; ramping out in %g s unless "
                    "it clears",
                    *problem,
                    c.hold_timeout_s,
                )
            elif t - self._stop_fault_since >= c.hold_timeout_s:
                fault, reason = self._stop_fault or problem
                self._enter_ramp_out(
                    inputs,
                    f"hold timeout ({c.hold_timeout_s:g} s) after: {reason} (during the operator-stop hold)",
                    fault,
                )
                return None
        target = self._hold_target(inputs)
        if target is None:  # nothing commanded and no measured pose: nothing to hold, send nothing
            return Decision(False, None, self.weight, "hold")
        return Decision(True, target, self.weight, "hold")

    def _begin_ramp_in(self, inputs: Inputs, weight: float) -> None:
        self._ramp_t0, self._ramp_w0 = inputs.t_s, weight

    def _begin_move_to_start(self, inputs: Inputs, current: np.ndarray) -> None:
        start = self.last_command if self.last_command is not None else current
        goal = (
            np.asarray(self.config.start_pose, dtype=np.float64)
            if self.config.start_pose is not None
            else start
        )
        self._move = _Move(start, goal, inputs.t_s, self._move_speeds)

    def _recovered(self, inputs: Inputs) -> bool:
        if self.hold_fault not in RECOVERABLE_FAULTS or not inputs.state_ok:
            return False
        if self._hold_from is not State.RUN:
            return True
        if inputs.chunk_problem is not None:
            return False
        if self.hold_fault.startswith("state"):
            return True  # RUN resumes (it holds until a chunk arrives if there is none)
        return inputs.fresh_chunk and inputs.policy_target is not None

    def _resume(self, inputs: Inputs) -> None:
        reason = f"recovered from {self.hold_fault}"
        self.hold_fault = self.hold_reason = None
        if self._hold_from is State.RAMP_IN:
            self._begin_ramp_in(inputs, self.weight)
            self._go(inputs, State.RAMP_IN, reason + ": resuming the ramp in")
        elif self._hold_from is State.MOVE_TO_START:
            self._begin_move_to_start(inputs, inputs.q_meas)
            self._go(inputs, State.MOVE_TO_START, reason + ": re-planning the move to the start pose")
        else:
            self._go(inputs, State.RUN, reason + ": fresh state and a valid chunk")

    def _hold_target(self, inputs: Inputs) -> np.ndarray | None:
        if self.last_command is not None:
            return self.last_command.copy()
        return None if inputs.q_meas is None else inputs.q_meas.copy()

    def commanded(self, q: np.ndarray, weight: float) -> None:
        """Record what was actually sent after the safety filter (the next holds start from it)."""
        self.last_command = np.array(q, dtype=np.float64)
        self.weight = float(weight)

    # -- diagnostics ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        """State, weight, hold reason, transition count and (bounded) log as plain data.

        ``operator_hold``: in the indefinite hold of an operator stop (``operator_stop_holds``).
        """
        return {
            "state": self.state.value,
            "since_s": self.state_since_s,
            "weight": self.weight,
            "hold_fault": self.hold_fault,
            "hold_reason": self.hold_reason,
            "operator_hold": self.in_operator_hold(),
            "transition_count": self.transition_count,
            # list() copies the deque atomically (the loop thread may append while another reads).
            "transitions": [tr.as_dict() for tr in list(self.log)],
        }
