"""What a tabletop task is: objects added to the scene, seeded randomisation, success, instruction.

A task object is used in three phases:

1. :meth:`Task.build` adds its bodies to the scene spec (once per compiled model);
2. :meth:`Task.reset` randomises object poses and colours from a seeded generator and returns the
   episode's :class:`Layout` (instruction, which arm acts, key poses for the scripted expert);
3. :meth:`Task.success` evaluates the success predicate on the current physics state.

Each task has a training variant and a held-out variant (unseen object or colours) for
generalisation tests; both share the code and differ in :attr:`Task.variant`.

Torch-free.
"""

from __future__ import annotations

import abc
import dataclasses
from types import MappingProxyType
from typing import Any, ClassVar, Final

import numpy as np

from dit4dit_policy.sim.scene import Scene, SceneBuilder

#: Named colours (RGBA) used by the tasks. Training and held-out palettes are disjoint where a
#: task's held-out variant is "unseen colour".
COLORS: Final = MappingProxyType(
    {
        "red": (0.85, 0.12, 0.10, 1.0),
        "green": (0.10, 0.65, 0.20, 1.0),
        "blue": (0.12, 0.30, 0.90, 1.0),
        "yellow": (0.95, 0.80, 0.10, 1.0),
        "purple": (0.55, 0.15, 0.75, 1.0),
        "orange": (1.00, 0.50, 0.05, 1.0),
        "cyan": (0.10, 0.80, 0.85, 1.0),
        "pink": (1.00, 0.45, 0.70, 1.0),
        "white": (0.92, 0.92, 0.90, 1.0),
        "gray": (0.50, 0.50, 0.52, 1.0),
        "black": (0.10, 0.10, 0.11, 1.0),
        "brown": (0.45, 0.28, 0.15, 1.0),
    }
)
TRAIN_COLORS: Final = ("red", "green", "blue", "yellow")
HELDOUT_COLORS: Final = ("purple", "orange", "cyan", "pink")

VARIANTS: Final = ("train", "heldout")


@dataclasses.dataclass(frozen=True)
class Layout:
    """The randomised content of one episode.

    Attributes:
        instruction: natural-language instruction, e.g. ``"put the red cube in the bowl"``.
        arm: which arm the task expects to act: 0 = left, 1 = right.
        poses: named world positions (3,) [m] of task features (for the scripted expert).
        colors: named colour choices of this episode.
        extra: other task-specific values (sizes [m], opening [m], ...).
    """

    instruction: str
    arm: int
    poses: dict[str, np.ndarray]
    colors: dict[str, str]
    extra: dict[str, float] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable form (positions as lists rounded to 0.1 mm)."""
        return {
            "instruction": self.instruction,
            "arm": "left" if self.arm == 0 else "right",
            "poses": {k: [round(float(v), 4) for v in p] for k, p in self.poses.items()},
            "colors": dict(self.colors),
            "extra": {k: round(float(v), 4) for k, v in self.extra.items()},
        }


class Task(abc.ABC):
    """A tabletop task.

    Args:
        variant: ``"train"`` or ``"heldout"``.

    Raises:
        ValueError: unknown variant.
    """

    #: Registry name of the training variant (the held-out one is ``<name>_heldout``).
    name: ClassVar[str]
    #: Episode time limit [s].
    time_limit_s: ClassVar[float]
    #: One-line description for docs and ``--help``.
    summary: ClassVar[str]

    def __init__(self, variant: str = "train") -> None:
        if variant not in VARIANTS:
            raise ValueError(f"task variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        self.layout: Layout | None = None
        self._scene: Scene | None = None

    @property
    def full_name(self) -> str:
        """Registry name including the variant suffix."""
        return self.name if self.variant == "train" else f"{self.name}_heldout"

    @property
    def scene(self) -> Scene:
        """The bound scene.

        Raises:
            RuntimeError: :meth:`bind` was not called.
        """
        if self._scene is None:
            raise RuntimeError(f"task {self.full_name} is not bound to a compiled scene")
        return self._scene

    @abc.abstractmethod
    def build(self, builder: SceneBuilder) -> None:
        """Add the task's bodies to ``builder.spec``."""

    def bind(self, scene: Scene) -> None:
        """Resolve the task's ids in the compiled scene (override to cache ids; call super)."""
        self._scene = scene

    @abc.abstractmethod
    def reset(self, rng: np.random.Generator) -> Layout:
        """Randomise the bound scene for a new episode and return (and keep) its layout."""

    @abc.abstractmethod
    def success(self) -> bool:
        """Whether the current physics state satisfies the task's success predicate."""

    def metrics(self) -> dict[str, float]:
        """Task-specific progress numbers for status messages (override; default none)."""
        return {}
