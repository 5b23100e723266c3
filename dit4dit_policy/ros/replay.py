"""Replay a recorded episode's actions through the controller, as action chunks.

At every dataset step k (1/fps apart, paced with ``time.monotonic()``) the replayer publishes the
chunk ``actions[k : k + horizon]`` (the last action repeated past the end), stamped *now*, points at
``j·dt`` — the same message the policy node publishes, so the controller's scheduler and safety
filter execute it exactly as they would a policy (DESIGN.md §2). After the last step the final
action stays commanded (the controller holds the last point).

The robot rarely stands at the episode's first action: before replaying, the command moves from the
measured state to ``actions[0]`` along a straight line in joint space at no more than
``approach_speed`` [rad/s] (at least ``min_approach_s``), published the same way.

Torch-free.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.ros import interfaces as itf


@dataclasses.dataclass
class ReplayConfig:
    """Replay options.

    Attributes:
        horizon: points per chunk (the policy's 16).
        speed: playback speed factor (1 = recorded speed).
        approach_speed: joint speed bound of the approach to the first action [rad/s].
        min_approach_s: shortest approach [s].
    """

    horizon: int = schema.ACTION_HORIZON
    speed: float = 1.0
    approach_speed: float = 0.5
    min_approach_s: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.horizon <= 64:
            raise ValueError(f"horizon must be in [1, 64], got {self.horizon}")
        if not 0.1 <= self.speed <= 2.0:
            raise ValueError(f"speed must be in [0.1, 2], got {self.speed}")
        if not 0.05 <= self.approach_speed <= 3.0:
            raise ValueError(f"approach_speed must be in [0.05, 3] rad/s, got {self.approach_speed}")
        if self.min_approach_s < 0:
            raise ValueError(f"min_approach_s must be >= 0, got {self.min_approach_s}")


def approach(start: np.ndarray, goal: np.ndarray, fps: float, config: ReplayConfig) -> np.ndarray:
    """(N, 16) straight-line targets from ``start`` to ``goal`` within the approach speed (N ≥ 1)."""
    distance = float(np.max(np.abs(goal[schema.ARMS] - start[schema.ARMS]))) if start is not None else 0.0
    duration = max(config.min_approach_s, distance / config.approach_speed) if distance > 1e-3 else 0.0
    steps = max(1, math.ceil(duration * fps))
    alpha = np.arange(1, steps + 1)[:, None] / steps
    return start[None, :] + alpha * (goal - start)[None, :]


def chunks(actions: np.ndarray, horizon: int) -> Iterator[np.ndarray]:
    """``actions[k : k + horizon]`` for every k, padded with the last action: (horizon, 16) each."""
    length = actions.shape[0]
    for k in range(length):
        index = np.minimum(np.arange(k, k + horizon), length - 1)
        yield actions[index]


def trajectory(positions: np.ndarray, stamp_ns: int, dt_s: float) -> itf.TrajectoryData:
    """A chunk as a JointTrajectory payload (16 schema joint names, points at k·dt_s from ``stamp_ns``)."""
    offsets = np.round(np.arange(positions.shape[0]) * dt_s * 1e9).astype(np.int64)
    return itf.TrajectoryData(
        schema.JOINT_NAMES, np.asarray(positions, dtype=np.float64), offsets, int(stamp_ns)
    )


def play(
    actions: np.ndarray,
    fps: float,
    publish: Callable[[itf.TrajectoryData], None],
    measured: np.ndarray | None,
    config: ReplayConfig | None = None,
    spin: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Publish the approach and the episode's chunks in real time.

    Args:
        actions: (L, 16) recorded actions [rad | opening], schema order.
        fps: recorded rate [Hz].
        publish: sends one chunk.
        measured: (16,) measured state to approach from (None: no approach).
        config: options.
        spin: ``spin(seconds)`` waits while serving the middleware (default ``time.sleep``).
        should_stop: polled every step; True stops the replay (the last chunk stays commanded).

    Returns:
        Number of chunks published.

    Raises:
        ValueError: ``actions`` is not (L ≥ 1, 16) finite.
    """
    config = config or ReplayConfig()
    actions = np.asarray(actions, dtype=np.float64)
    if actions.ndim != 2 or actions.shape[1] != schema.NUM_JOINTS or actions.shape[0] < 1:
        raise ValueError(f"actions must have shape (L >= 1, 16), got {actions.shape}")
    if not np.all(np.isfinite(actions)):
        raise ValueError("actions hold non-finite values")
    actions = np.clip(actions, schema.POSITION_LOWER, schema.POSITION_UPPER)
    dt_s = 1.0 / fps
    period_s = dt_s / config.speed
    wait = spin or time.sleep
    sequence = actions
    if measured is not None:
        lead_in = approach(np.asarray(measured, dtype=np.float64), actions[0], fps, config)
        sequence = np.concatenate([lead_in, actions])
    published = 0
    next_due = time.monotonic()
    for positions in chunks(sequence, config.horizon):
        if should_stop is not None and should_stop():
            break
        delay = next_due - time.monotonic()
        if delay > 0:
            wait(delay)
        next_due += period_s
        publish(trajectory(positions, time.time_ns(), dt_s / config.speed))
        published += 1
    return published
