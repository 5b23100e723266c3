"""Evaluation configuration: the protocol (tasks × rollouts, seeds, order) and the recording.

Loaded with :func:`dit4dit_policy.config.load` (YAML + ``--a.b=value`` overrides; unknown keys are
errors). Example (``docs/evaluation.md``)::

    protocol:
      rollouts_per_task: 20
      seed: 0
      order: interleaved
      tasks:
        - {name: stack_cups, instruction: "stack the cups", time_limit_s: 60}
        - {name: open_drawer, instruction: "open the drawer", time_limit_s: 45}
    recording:
      enabled: true
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from typing import Any, Literal

from dit4dit_policy.config import to_dict

#: Task names become file names and report anchors.
_TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: Default time limit of a real-robot rollout [s]. No source gives one (g1_spec §7.3 recommends "a
#: max-duration timeout"); 60 s covers the paper's tabletop tasks at the 30 Hz action rate.
DEFAULT_TIME_LIMIT_S = 60.0


@dataclasses.dataclass
class TaskSpec:
    """One task of the protocol.

    Attributes:
        name: identifier (letters, digits, ``_ . -``), e.g. ``stack_cups``; in simulation the name of
            a registered simulator task.
        instruction: the language instruction given to the policy; None = the simulator task's own
            (required on the real robot).
        time_limit_s: the policy's time budget per rollout [s]; None = the simulator task's own, or
            ``protocol.default_time_limit_s``.
    """

    name: str
    instruction: str | None = None
    time_limit_s: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _TASK_NAME.match(self.name):
            raise ValueError(
                f"task name must match {_TASK_NAME.pattern} (e.g. 'stack_cups'), got {self.name!r}"
            )
        if self.instruction is not None and not self.instruction.strip():
            raise ValueError(f"task '{self.name}': instruction must be non-empty or omitted")
        if self.time_limit_s is not None and not (math.isfinite(self.time_limit_s) and self.time_limit_s > 0):
            raise ValueError(f"task '{self.name}': time_limit_s must be > 0 s, got {self.time_limit_s!r}")


@dataclasses.dataclass
class ProtocolConfig:
    """Tasks × rollouts with a seed per rollout.

    Attributes:
        tasks: the tasks, at least one, unique names.
        rollouts_per_task: rollouts N per task (the paper: 20, g1_spec §7.3).
        seed: base seed; rollout k of every task uses seed ``seed + k`` (so two checkpoints
            evaluated with the same base seed see the same scenes, rollout by rollout).
        order: ``blocked`` (all rollouts of a task, then the next task), ``interleaved`` (round
            robin over tasks) or ``shuffled`` (a random permutation drawn from ``seed``; guards
            against drift in the scene, lighting or robot over a session).
        default_time_limit_s: time limit of tasks that set none [s].
        poll_period_s: how often the runner polls a real-time environment [s] (0 = as fast as
            ``poll()`` returns, right for simulations that advance inside ``poll``).
    """

    tasks: list[TaskSpec] = dataclasses.field(default_factory=list)
    rollouts_per_task: int = 20
    seed: int = 0
    order: Literal["blocked", "interleaved", "shuffled"] = "blocked"
    default_time_limit_s: float = DEFAULT_TIME_LIMIT_S
    poll_period_s: float = 0.02

    def __post_init__(self) -> None:
        self.tasks = [t if isinstance(t, TaskSpec) else TaskSpec(**t) for t in self.tasks]
        names = [t.name for t in self.tasks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"tasks: names must be unique, got duplicates {duplicates}")
        if isinstance(self.rollouts_per_task, bool) or self.rollouts_per_task < 1:
            raise ValueError(f"rollouts_per_task must be >= 1, got {self.rollouts_per_task!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.order not in ("blocked", "interleaved", "shuffled"):
            raise ValueError(f"order must be 'blocked', 'interleaved' or 'shuffled', got {self.order!r}")
        if not (math.isfinite(self.default_time_limit_s) and self.default_time_limit_s > 0):
            raise ValueError(f"default_time_limit_s must be > 0 s, got {self.default_time_limit_s!r}")
        if not (math.isfinite(self.poll_period_s) and self.poll_period_s >= 0):
            raise ValueError(f"poll_period_s must be >= 0 s, got {self.poll_period_s!r}")

    def task(self, name: str) -> TaskSpec:
        """The task called ``name``.

        Raises:
            KeyError: no such task.
        """
        for spec in self.tasks:
            if spec.name == name:
                return spec
        raise KeyError(f"no task {name!r} in the protocol (tasks: {[t.name for t in self.tasks]})")


@dataclasses.dataclass
class RecordingConfig:
    """Recording of each rollout as a LeRobot episode (``RESULTS_DIR/recordings``).

    Attributes:
        enabled: record ego video, 16-D state, commanded action and chunk timings per rollout.
        video_codec: ``h264`` (fast to encode on the robot workstation's CPU) or ``av1`` (LeRobot's
            default; smaller files, ~several× slower to encode).
    """

    enabled: bool = True
    video_codec: Literal["h264", "av1"] = "h264"


@dataclasses.dataclass
class SimConfig:
    """The in-process simulation environment (``dit4dit eval sim``, ``eval real --environment sim``).

    Attributes:
        image_width: ego image width [px] (160×120 = the simulator's and ``dit4dit demos``' default).
        image_height: ego image height [px].
        execute_steps: chunk points executed before the policy is queried again (16 = the whole
            chunk, as the authors' evaluation does, g1_spec §7.2).
        policy_seed: base seed of a model policy's sampling noise (None: fresh noise per chunk).
    """

    image_width: int = 160
    image_height: int = 120
    execute_steps: int = 16
    policy_seed: int | None = 0

    def __post_init__(self) -> None:
        for name in ("image_width", "image_height"):
            value = getattr(self, name)
            if not 16 <= value <= 1280 or value % 2:
                raise ValueError(f"{name} must be an even number of pixels in [16, 1280], got {value!r}")
        if not 1 <= self.execute_steps <= 256:
            raise ValueError(f"execute_steps must be in [1, 256], got {self.execute_steps!r}")


@dataclasses.dataclass
class EvalConfig:
    """Everything that defines an evaluation run besides the environment and the policy.

    Attributes:
        protocol: tasks, rollouts, seeds, order.
        recording: per-rollout recordings.
        sim: options of the in-process simulation (ignored by other environments).
    """

    protocol: ProtocolConfig = dataclasses.field(default_factory=ProtocolConfig)
    recording: RecordingConfig = dataclasses.field(default_factory=RecordingConfig)
    sim: SimConfig = dataclasses.field(default_factory=SimConfig)


#: Fields that do not change what a rollout measures; a run may resume with different values.
_NON_SEMANTIC = {("protocol", "rollouts_per_task"), ("protocol", "poll_period_s"), ("recording",), ("sim",)}


def config_hash(config: EvalConfig, extra: dict[str, Any] | None = None) -> str:
    """SHA-256 (hex, 16 chars) of what defines the experiment.

    Covers the tasks (names, instructions, time limits), the base seed, the order, the default time
    limit, and ``extra`` (the environment's and the policy's settings, as a JSON-able dict: the
    simulation options enter through it, so they count only where they are used). Leaves out what a
    resumed run may change: the number of rollouts (extend a run from 20 to 30), the poll period
    and the recording options.

    Args:
        config: the evaluation config.
        extra: additional JSON-able settings that define the experiment.

    Returns:
        16 hex digits.

    Raises:
        TypeError: ``extra`` is not JSON-serialisable.
    """
    data = to_dict(config)
    for path in _NON_SEMANTIC:
        node = data
        for part in path[:-1]:
            node = node[part]
        node.pop(path[-1], None)
    payload = json.dumps({"config": data, "extra": extra or {}}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
