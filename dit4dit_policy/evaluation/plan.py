"""The rollout plan: which task and seed come when.

A rollout is identified by its key ``(task, rollout)`` — stable whatever the order — and gets the
seed ``protocol.seed + rollout``. The order is a pure function of the protocol config, so a resumed
run walks the same sequence and continues at the first key without a result.
"""

from __future__ import annotations

import dataclasses
import random

from dit4dit_policy.evaluation.config import ProtocolConfig, TaskSpec


@dataclasses.dataclass(frozen=True)
class Slot:
    """One planned rollout.

    Attributes:
        position: 0-based position in the run's order.
        task: the task.
        rollout: 0-based rollout index within the task.
        seed: the rollout's seed (``protocol.seed + rollout``).
        instruction: the configured instruction; None = the environment's own for the episode
            (simulator tasks randomise it with the seed).
        time_limit_s: the policy's time budget [s].
    """

    position: int
    task: TaskSpec
    rollout: int
    seed: int
    instruction: str | None
    time_limit_s: float

    @property
    def key(self) -> tuple[str, int]:
        """``(task name, rollout index)``."""
        return (self.task.name, self.rollout)

    def label(self, rollouts_per_task: int) -> str:
        """``"stack_cups 3/20 (seed 2)"`` for status lines."""
        return f"{self.task.name} {self.rollout + 1}/{rollouts_per_task} (seed {self.seed})"


def build_plan(protocol: ProtocolConfig) -> list[Slot]:
    """All rollouts of the protocol, in the configured order.

    Args:
        protocol: the protocol.

    Returns:
        ``len(tasks) * rollouts_per_task`` slots.

    Raises:
        ValueError: no tasks.
    """
    if not protocol.tasks:
        raise ValueError("protocol.tasks is empty; give at least one task (name + instruction)")
    n = protocol.rollouts_per_task
    if protocol.order == "blocked":
        keys = [(t, k) for t in range(len(protocol.tasks)) for k in range(n)]
    else:
        keys = [(t, k) for k in range(n) for t in range(len(protocol.tasks))]
        if protocol.order == "shuffled":
            random.Random(f"dit4dit-eval-order:{protocol.seed}").shuffle(keys)
    slots = []
    for position, (t, k) in enumerate(keys):
        task = protocol.tasks[t]
        limit = task.time_limit_s if task.time_limit_s is not None else protocol.default_time_limit_s
        slots.append(Slot(position, task, k, protocol.seed + k, task.instruction, float(limit)))
    return slots
