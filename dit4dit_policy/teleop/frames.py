"""Operator (WebXR) frame → robot frame: axis convention and the press-to-align heading calibration.

WebXR reference spaces are right-handed with x right, y up and z pointing back towards the
operator (WebXR Device API, "reference space" coordinate conventions); the robot world frame is
x forward, y left, z up (REP-103, DESIGN.md §7). Forward in XR is −z, left is −x, up is +y, so a
vector maps by :data:`R_ROBOT_FROM_XR`.

The XR ``local-floor`` space has an arbitrary yaw (wherever the headset faced when the session
started). Calibration ("align") takes the operator's head heading at the press, so that "forward
for the operator" becomes the robot's +x: ``A = Rz(−ψ_head)·R_ROBOT_FROM_XR``. Hand motions are
then used relative to the pose at engagement (clutching), so the operator's absolute position in
the room does not matter.

Torch-free; numpy only.
"""

from __future__ import annotations

import math

import numpy as np

from dit4dit_policy.teleop.protocol import Pose

#: Rotation taking XR reference-space vectors to robot-frame vectors (x fwd, y left, z up).
R_ROBOT_FROM_XR = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
R_ROBOT_FROM_XR.setflags(write=False)


def rot_z(angle_rad: float) -> np.ndarray:
    """(3, 3) rotation about +z by ``angle_rad`` [rad]."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def head_heading(head: Pose) -> float:
    """Yaw [rad] of the head's viewing direction in the robot axes (0 = robot +x, CCW positive).

    The viewer looks along its body −z (WebXR); the heading is that direction's azimuth after
    :data:`R_ROBOT_FROM_XR`.

    Raises:
        ValueError: the operator looks straight up or down (no defined heading).
    """
    forward = R_ROBOT_FROM_XR @ head.rotation() @ np.array([0.0, 0.0, -1.0])
    if math.hypot(forward[0], forward[1]) < 0.2:
        raise ValueError("cannot align while looking straight up or down; look ahead and press again")
    return math.atan2(forward[1], forward[0])


def alignment_from_head(head: Pose) -> np.ndarray:
    """Calibration rotation ``A`` (3, 3): XR vectors → robot-frame vectors with the head's heading as +x.

    Raises:
        ValueError: see :func:`head_heading`.
    """
    return rot_z(-head_heading(head)) @ R_ROBOT_FROM_XR


def rotation_angle(r: np.ndarray) -> float:
    """Angle [rad] of a (3, 3) rotation matrix."""
    return math.acos(max(-1.0, min(1.0, (float(np.trace(r)) - 1.0) / 2.0)))
