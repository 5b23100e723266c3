"""Cartesian waypoint plans for one gripper: minimum-jerk position, slerped orientation, gripper ramp.

A plan is a start pose plus a list of :class:`Waypoint`; :meth:`WaypointPlan.sample` gives the
reference at any time. Minimum-jerk interpolation (zero velocity and acceleration at every
waypoint) keeps the resulting 30 Hz joint targets smooth.

Torch-free, numpy only.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Waypoint:
    """The pose to reach at the end of a segment.

    Attributes:
        pos: (3,) TCP position [m], world frame.
        rot: (3, 3) TCP rotation, world frame.
        gripper: gripper opening at the end of the segment (0 closed, 1 open), ramped linearly.
        duration: segment duration [s].
        label: phase name (for logs and tests).
    """

    pos: np.ndarray
    rot: np.ndarray
    gripper: float
    duration: float
    label: str = ""

    def __post_init__(self) -> None:
        if not self.duration > 0:
            raise ValueError(f"waypoint duration must be > 0 s, got {self.duration}")
        if np.shape(self.pos) != (3,) or np.shape(self.rot) != (3, 3):
            raise ValueError("waypoint needs pos (3,) and rot (3, 3)")


def min_jerk(s: float) -> float:
    """Minimum-jerk time scaling 10s³ − 15s⁴ + 6s⁵ of a phase s ∈ [0, 1] (clipped)."""
    s = min(max(s, 0.0), 1.0)
    return s * s * s * (10.0 - 15.0 * s + 6.0 * s * s)


def _rot_to_quat(rot: np.ndarray) -> np.ndarray:
    """(w, x, y, z) unit quaternion of a rotation matrix (Shepperd's method)."""
    m = rot
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    return q / np.linalg.norm(q)


def _quat_to_rot(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def slerp(rot_a: np.ndarray, rot_b: np.ndarray, s: float) -> np.ndarray:
    """Spherical interpolation between two rotation matrices at phase s ∈ [0, 1]."""
    qa, qb = _rot_to_quat(rot_a), _rot_to_quat(rot_b)
    dot = float(np.dot(qa, qb))
    if dot < 0.0:
        qb, dot = -qb, -dot
    if dot > 0.9995:
        q = qa + s * (qb - qa)
    else:
        theta = np.arccos(dot)
        q = (np.sin((1 - s) * theta) * qa + np.sin(s * theta) * qb) / np.sin(theta)
    return _quat_to_rot(q / np.linalg.norm(q))


class WaypointPlan:
    """A timed sequence of TCP waypoints starting from a given pose.

    Args:
        start_pos: (3,) TCP position at t = 0 [m].
        start_rot: (3, 3) TCP rotation at t = 0.
        start_gripper: opening at t = 0.
        waypoints: the segments in order.

    Raises:
        ValueError: no waypoints.
    """

    def __init__(
        self, start_pos: np.ndarray, start_rot: np.ndarray, start_gripper: float, waypoints: list[Waypoint]
    ):
        if not waypoints:
            raise ValueError("a plan needs at least one waypoint")
        self.waypoints = waypoints
        self._starts = [
            (np.asarray(start_pos, dtype=np.float64), np.asarray(start_rot, dtype=np.float64), start_gripper)
        ]
        for wp in waypoints[:-1]:
            self._starts.append((wp.pos, wp.rot, wp.gripper))
        self._t0 = np.concatenate([[0.0], np.cumsum([wp.duration for wp in waypoints])])

    @property
    def duration(self) -> float:
        """Total duration [s]."""
        return float(self._t0[-1])

    def phase(self, t: float) -> str:
        """Label of the segment active at time ``t`` [s] (the last one after the end)."""
        index = int(np.searchsorted(self._t0, t, side="right")) - 1
        return self.waypoints[min(max(index, 0), len(self.waypoints) - 1)].label

    def sample(self, t: float) -> tuple[np.ndarray, np.ndarray, float]:
        """Reference at time ``t`` [s]: ((3,) position [m], (3, 3) rotation, gripper opening)."""
        index = min(max(int(np.searchsorted(self._t0, t, side="right")) - 1, 0), len(self.waypoints) - 1)
        wp = self.waypoints[index]
        pos0, rot0, grip0 = self._starts[index]
        s = (t - self._t0[index]) / wp.duration
        smooth = min_jerk(s)
        pos = pos0 + smooth * (wp.pos - pos0)
        rot = slerp(rot0, wp.rot, smooth)
        grip = grip0 + min(max(s, 0.0), 1.0) * (wp.gripper - grip0)
        return pos, rot, float(grip)
