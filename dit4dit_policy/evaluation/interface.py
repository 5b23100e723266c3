"""The contracts of the rollout protocol: environments, their status, recorded frames, outcomes.

The protocol runner (:mod:`dit4dit_policy.evaluation.runner`) drives any object that satisfies
:class:`RolloutEnvironment`:

* :class:`~dit4dit_policy.evaluation.sim_env.SimRolloutEnvironment`: the MuJoCo simulator and a
  policy in this process (automatic success predicate, simulated time).
* :class:`~dit4dit_policy.ros.eval_environment.GraphRolloutEnvironment`: the node graph through
  ``/dit4dit/command`` (``start|stop|estop|reset``) and ``/dit4dit/task`` — the real robot
  (``dit4dit eval real``) or the simulator bridge behind the same topics (``dit4dit eval sim --graph``).
* anything else a user writes (another simulator, a remote robot).

Call sequence of one rollout (docs/evaluation.md)::

    reset(task, seed)        # scene reset, arms to the start pose; blocks until ready; returns the
                             # episode's instruction when the environment defines one (simulation)
    start(instruction)       # the policy starts acting; the environment clock starts at 0
    poll() ... poll()        # RolloutStatus: phase, elapsed time, new frames and chunk latencies
    stop()                   # the policy stops; the arms should hold still (final scene judged)
    home()                   # the arms return home (blocking); after an e-stop the operator has
                             # confirmed recovery and home() also clears the e-stop

``estop()`` may be called from any thread at any time (the terminal UI's key thread calls it);
it must return quickly and leave the robot safe. ``close()`` releases everything.

Optional members: ``describe() -> dict`` (settings hashed into the results fingerprint);
``self_paced = True`` for environments whose ``poll()`` advances time itself (simulations), so
the runner does not sleep ``protocol.poll_period_s`` between polls; ``estop_latched() -> bool``
for environments whose e-stop can also be engaged elsewhere or outlive a session (the robot
controller's latched ESTOP): while it is True the runner neither starts a rollout nor homes
without the operator's confirmation, and ``home()`` after that confirmation clears it (``reset``
may return at once, without resetting the scene, while it is True).

Torch-free.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np

from dit4dit_policy import schema


class Phase(enum.Enum):
    """State of a rollout as the environment sees it."""

    RUNNING = "running"
    #: The task's success predicate holds (simulation).
    SUCCESS = "success"
    #: The task's failure predicate holds (e.g. the object fell off the table).
    FAILURE = "failure"
    #: The environment's own time limit passed.
    TIMEOUT = "timeout"
    #: Something outside the task went wrong (safety layer tripped, stale chunks, lost link).
    FAULT = "fault"

    @property
    def terminal(self) -> bool:
        """True for every phase but RUNNING."""
        return self is not Phase.RUNNING


class Outcome(enum.Enum):
    """The verdict recorded for a rollout."""

    SUCCESS = "success"
    FAILURE = "failure"
    #: Part of the task done (operator's judgement; counts as not successful in the rate).
    PARTIAL = "partial"
    #: The attempt does not count (scene set up wrongly, robot fault unrelated to the policy); the
    #: rollout is run again. Kept in the results and listed in every report.
    VOID = "void"


class EndReason(enum.Enum):
    """Why the policy stopped acting."""

    PREDICATE_SUCCESS = "predicate_success"
    PREDICATE_FAILURE = "predicate_failure"
    TIME_LIMIT = "time_limit"
    OPERATOR_STOP = "operator_stop"
    ESTOP = "estop"
    FAULT = "fault"


@dataclasses.dataclass(frozen=True)
class RecordedFrame:
    """One 30 Hz sample of a rollout, as it goes into the rollout's LeRobot episode.

    Attributes:
        image: (H, W, 3) uint8 RGB ego-camera frame.
        state: (16,) measured joint vector in ``schema.JOINT_NAMES`` order [rad | opening].
        action: (16,) commanded absolute joint targets [rad | opening].
        time_s: time since ``start()`` on the environment's clock [s] (simulated time in
            simulation, wall time on the robot).
        chunk_id: index of the action chunk the commanded action came from (−1: none yet).
        chunk_latency_ms: inference latency of that chunk [ms] (0 when chunk_id is −1).

    Raises:
        ValueError / TypeError: wrong shapes, dtypes or non-finite values.
    """

    image: np.ndarray
    state: np.ndarray
    action: np.ndarray
    time_s: float
    chunk_id: int = -1
    chunk_latency_ms: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.image, np.ndarray) or self.image.ndim != 3 or self.image.shape[2] != 3:
            raise ValueError(
                f"image must be an (H, W, 3) array, got {getattr(self.image, 'shape', self.image)!r}"
            )
        if self.image.dtype != np.uint8:
            raise ValueError(f"image must be uint8 RGB, got dtype {self.image.dtype}")
        for name in ("state", "action"):
            value = getattr(self, name)
            if not isinstance(value, np.ndarray) or value.shape != (schema.NUM_JOINTS,):
                raise ValueError(
                    f"{name} must be a ({schema.NUM_JOINTS},) array in schema.JOINT_NAMES order, "
                    f"got {getattr(value, 'shape', type(value).__name__)}"
                )
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{name} must be finite, got {value!r}")
        if not (math.isfinite(self.time_s) and self.time_s >= 0.0):
            raise ValueError(f"time_s must be a finite time >= 0 s, got {self.time_s!r}")
        if not (math.isfinite(self.chunk_latency_ms) and self.chunk_latency_ms >= 0.0):
            raise ValueError(f"chunk_latency_ms must be finite and >= 0, got {self.chunk_latency_ms!r}")


@dataclasses.dataclass
class RolloutStatus:
    """What :meth:`RolloutEnvironment.poll` reports.

    Attributes:
        phase: RUNNING, or the terminal phase the environment reached.
        elapsed_s: time since ``start()`` on the environment's clock [s].
        frames: frames recorded since the previous poll, in time order (empty when the
            environment does not record).
        chunk_latencies_ms: inference latencies [ms] of the chunks produced since the previous poll.
        reason: free text on why a terminal phase was reached (e.g. the predicate's name).
        metrics: task-specific numbers to keep with the result (e.g. final object distance [m]).
    """

    phase: Phase
    elapsed_s: float
    frames: list[RecordedFrame] = dataclasses.field(default_factory=list)
    chunk_latencies_ms: list[float] = dataclasses.field(default_factory=list)
    reason: str = ""
    metrics: Mapping[str, float] = dataclasses.field(default_factory=dict)


@runtime_checkable
class RolloutEnvironment(Protocol):
    """Anything the protocol runner can evaluate a policy in (see the module docstring).

    Implementations raise an exception from ``reset``/``start``/``home`` when they cannot do it;
    the runner then stops the session cleanly (results written so far stay).
    """

    def reset(self, task: str, seed: int) -> str | None:
        """Reset the scene for ``task`` with ``seed`` and bring the arms to the start pose (blocking).

        Returns:
            The episode's instruction when the environment defines it (simulator tasks randomise
            it with the seed), else None (the task config's instruction is used).
        """

    def start(self, instruction: str) -> None:
        """Make the policy start acting on ``instruction``; the rollout clock starts at 0."""

    def poll(self) -> RolloutStatus:
        """The rollout's status; simulations advance here (no wall-clock pacing required)."""

    def stop(self) -> None:
        """Make the policy stop acting; the arms should hold still until :meth:`home` (final scene judged).

        The robot graph holds until :meth:`home` when the controller runs with
        ``supervisor.operator_stop_holds`` (``evaluate.launch.py``), else only for the supervisor's
        ``stop_hold_s`` (docs/evaluation.md, "Judging the final scene").
        """

    def home(self) -> None:
        """Bring the arms back home (blocking); after an e-stop, clear it (the operator confirmed)."""

    def estop(self) -> None:
        """Emergency stop: thread-safe, fast, callable at any time from any thread."""

    def close(self) -> None:
        """Release processes, connections and renderers."""


@dataclasses.dataclass(frozen=True)
class Mark:
    """An operator's verdict on one rollout.

    Attributes:
        outcome: the verdict.
        note: optional free text (one line).
    """

    outcome: Outcome
    note: str = ""


class OperatorEvent(enum.Enum):
    """Requests an operator can make while a rollout runs or between rollouts."""

    START = "start"
    STOP = "stop"
    QUIT = "quit"


@runtime_checkable
class Operator(Protocol):
    """The person (or automaton) who starts rollouts, may stop them, and judges them.

    :class:`AutomaticOperator` judges by the environment's predicate; the terminal UI
    (:class:`~dit4dit_policy.evaluation.terminal.TerminalOperator`) asks a person.
    """

    #: True when outcomes come from a person (recorded as ``judged_by: operator``).
    interactive: bool

    def attach(self, environment: RolloutEnvironment) -> None:
        """Bind the e-stop to ``environment`` (before the first rollout)."""

    def announce(self, text: str) -> None:
        """Show a status line."""

    def wait_for_start(self, label: str) -> OperatorEvent:
        """Block until the operator starts the rollout (START) or ends the session (QUIT)."""

    def poll_event(self) -> OperatorEvent | None:
        """A pending STOP/QUIT request, without blocking."""

    def estopped(self) -> bool:
        """Whether an e-stop happened since the last :meth:`clear_estop`."""

    def clear_estop(self) -> None:
        """Acknowledge an e-stop."""

    def judge(self, label: str, status: RolloutStatus, end_reason: EndReason) -> Mark:
        """The verdict on a rollout that has just ended."""

    def confirm_recovery(self) -> bool:
        """After an e-stop: True once it is safe to home the arms and go on, False to end the session."""

    def detach(self) -> None:
        """Release the terminal or other resources."""


class AutomaticOperator:
    """Operator for unattended (simulation) evaluation: starts at once, judges by the predicate.

    SUCCESS → success; FAILURE, TIMEOUT, a time limit and FAULT → failure (the fault's reason is
    kept in the note).
    """

    interactive = False

    def __init__(self) -> None:
        self._environment: RolloutEnvironment | None = None

    def attach(self, environment: RolloutEnvironment) -> None:
        """Nothing to bind: no e-stop key in unattended mode."""
        self._environment = environment

    def announce(self, text: str) -> None:
        """Unattended: status lines go to the runner's log only."""

    def wait_for_start(self, label: str) -> OperatorEvent:
        """Start at once."""
        return OperatorEvent.START

    def poll_event(self) -> OperatorEvent | None:
        """Never requests anything."""
        return None

    def estopped(self) -> bool:
        """Never e-stops."""
        return False

    def clear_estop(self) -> None:
        """Nothing to clear."""

    def judge(self, label: str, status: RolloutStatus, end_reason: EndReason) -> Mark:
        """Success exactly when the environment reported SUCCESS."""
        if status.phase is Phase.SUCCESS:
            return Mark(Outcome.SUCCESS)
        note = status.reason if status.phase is Phase.FAULT else ""
        return Mark(Outcome.FAILURE, note)

    def confirm_recovery(self) -> bool:
        """Unattended runs have no e-stop to recover from; end the session."""
        return False

    def detach(self) -> None:
        """Nothing to release."""
