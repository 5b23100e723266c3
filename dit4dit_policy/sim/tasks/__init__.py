"""Tabletop tasks of the simulator and their registry.

``make_task("pick_place")`` → the training variant; ``make_task("pick_place_heldout")`` → the
held-out variant (unseen object or colours). :func:`task_names` lists every registered name.
"""

from __future__ import annotations

from dit4dit_policy.sim.tasks.base import Layout, Task
from dit4dit_policy.sim.tasks.close_drawer import CloseDrawer
from dit4dit_policy.sim.tasks.pick_place import PickPlace
from dit4dit_policy.sim.tasks.stack_cups import StackCups

#: Task classes by base name, easiest first.
TASK_CLASSES: dict[str, type[Task]] = {cls.name: cls for cls in (CloseDrawer, PickPlace, StackCups)}

HELDOUT_SUFFIX = "_heldout"


def task_names(include_heldout: bool = True) -> tuple[str, ...]:
    """Registered task names (training variants first)."""
    names = tuple(TASK_CLASSES)
    if include_heldout:
        names += tuple(n + HELDOUT_SUFFIX for n in TASK_CLASSES)
    return names


def make_task(name: str) -> Task:
    """A new, unbound task by registry name.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    base, variant = (
        (name[: -len(HELDOUT_SUFFIX)], "heldout") if name.endswith(HELDOUT_SUFFIX) else (name, "train")
    )
    cls = TASK_CLASSES.get(base)
    if cls is None:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(task_names())}")
    return cls(variant)


__all__ = ["TASK_CLASSES", "Layout", "Task", "make_task", "task_names"]
