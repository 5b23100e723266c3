"""A simulated gripper: moves toward its target at a bounded speed (no device, no thread)."""

from __future__ import annotations

import math
import time

from dit4dit_policy.robot.grippers.base import Gripper, GripperReading, check_opening


class SimGripper(Gripper):
    """First-order gripper model: the opening moves toward the target at ``speed`` [opening/s].

    Args:
        name: for diagnostics.
        speed: travel speed [opening/s] (default: a full stroke in 0.5 s).
        initial: opening at start (1 = open).
        clock: monotonic clock [s] (injectable for tests).
    """

    def __init__(self, name: str, speed: float = 2.0, initial: float = 1.0, clock=time.monotonic) -> None:
        super().__init__(name)
        if not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed > 0):
            raise ValueError(f"{name}: speed must be > 0 opening/s, got {speed!r}")
        self.speed = float(speed)
        self._clock = clock
        self._position = check_opening(initial)
        self._t = clock()

    def _advance(self) -> None:
        now = self._clock()
        if self._target is not None:
            step = self.speed * max(now - self._t, 0.0)
            delta = self._target - self._position
            self._position += max(-step, min(step, delta))
        self._t = now

    def set_target(self, opening: float) -> None:
        """Command an opening in [0, 1] (clipped)."""
        self._advance()
        super().set_target(opening)

    def reading(self) -> GripperReading:
        """The simulated opening now."""
        self._advance()
        return GripperReading(self._position, time.time_ns(), self._t, None)
