"""Safety filter: pure functions that turn any requested 16-D target into a safe command.

Applied to every command, in every supervisor state, after the chunk scheduler (g1_spec §3.2
"recommended sequence" step 4; peers.md §7.3). Order of the clamps, for a requested target ``q*``,
the last command sent ``q_prev`` and the measured position ``q_meas``:

1. ``q*`` malformed (not 16 finite floats) → **hold**: the output is ``q_prev`` (zero motion).
2. Position limits with a margin: ``clip(q*, lower + m, upper - m)`` (schema.JOINT_LIMITS).
3. Distance from the measured position: ``clip(q, q_meas - d, q_meas + d)``, then the position
   limits again (they win if the measured position is itself outside them).
4. Step bound: ``q_prev + clip(q - q_prev, -v·dt, +v·dt)``.

Guarantees (property-tested in tests/robot/test_safety_filter.py): for ANY input the output
differs from ``q_prev`` by at most ``v·dt`` per dim; if ``q_prev`` is within the (margined)
limits, so is the output; otherwise the output is no farther from the limit box than ``q_prev``.
The controller starts from the measured pose, so a command outside the limits can only persist
while the arm itself is outside them, and then it moves back into them at ``v``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from dit4dit_policy import schema

_N = schema.NUM_JOINTS


@dataclasses.dataclass
class SafetyConfig:
    """Bounds of the safety filter (defaults are conservative for a policy at 30 Hz).

    Attributes:
        position_margin_rad: arm limits are shrunk by this much on both sides [rad].
        gripper_margin: gripper range [0, 1] is shrunk by this much (normalised opening).
        max_velocity_rad_s: per-tick arm step bound v [rad/s] (also capped by the motor limit in
            schema.VELOCITY_LIMIT); 3 rad/s is ~8× slower than the xr_teleoperate clip (g1_spec §3.2).
        max_gripper_velocity: gripper step bound [opening/s] (capped by schema.GRIPPER_LIMIT).
        max_distance_from_measured_rad: arm targets are kept within this distance of the measured
            position [rad]; 0.25 rad × kp 80 = 20 N·m < the 25 N·m motor limit (g1_spec §2.1-2.2).
        max_gripper_distance: same for grippers (opening); ``None`` = unbounded, because a gripper
            closing on an object legitimately lags its command.
        kp_max: upper bound of arm kp [N·m/rad].
        kd_max: upper bound of arm kd [N·m·s/rad].
    """

    position_margin_rad: float = 0.05
    gripper_margin: float = 0.0
    max_velocity_rad_s: float = 3.0
    max_gripper_velocity: float = 2.0
    max_distance_from_measured_rad: float = 0.25
    max_gripper_distance: float | None = None
    kp_max: float = 150.0
    kd_max: float = 10.0

    def __post_init__(self) -> None:
        def check(name: str, value: float | None, low: float, high: float = math.inf) -> None:
            if value is None:
                return
            if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
                raise ValueError(f"safety.{name} must be a finite number in [{low}, {high}], got {value!r}")

        check("position_margin_rad", self.position_margin_rad, 0.0, 0.5)
        check("gripper_margin", self.gripper_margin, 0.0, 0.25)
        check("max_velocity_rad_s", self.max_velocity_rad_s, 1e-3, float(schema.VELOCITY_LIMIT[:14].min()))
        check("max_gripper_velocity", self.max_gripper_velocity, 1e-3, schema.GRIPPER_LIMIT.velocity)
        check("max_distance_from_measured_rad", self.max_distance_from_measured_rad, 1e-3, 3.0)
        check("max_gripper_distance", self.max_gripper_distance, 1e-3, 1.0)
        check("kp_max", self.kp_max, 0.0, 500.0)
        check("kd_max", self.kd_max, 0.0, 50.0)


@dataclasses.dataclass(frozen=True)
class SafetyLimits:
    """Per-dim arrays derived from a :class:`SafetyConfig` and a control period.

    Attributes:
        lower: (16,) lowest allowed command [rad | opening].
        upper: (16,) highest allowed command [rad | opening].
        step: (16,) largest allowed change per tick [rad | opening].
        max_distance: (16,) largest allowed distance from the measured position (inf = unbounded).
        kp_max: arm kp upper bound.
        kd_max: arm kd upper bound.
        dt_s: the control period these were built for [s].
    """

    lower: np.ndarray
    upper: np.ndarray
    step: np.ndarray
    max_distance: np.ndarray
    kp_max: float
    kd_max: float
    dt_s: float

    @classmethod
    def build(cls, config: SafetyConfig, dt_s: float) -> SafetyLimits:
        """Limits for ``config`` at a control period ``dt_s`` [s].

        Raises:
            ValueError: dt_s not in (0, 0.1] s.
        """
        if not (isinstance(dt_s, (int, float)) and 0.0 < dt_s <= 0.1):
            raise ValueError(f"control period dt_s must be in (0, 0.1] s, got {dt_s!r}")
        margin = np.array([config.position_margin_rad] * 14 + [config.gripper_margin] * 2)
        velocity = np.minimum(
            np.array([config.max_velocity_rad_s] * 14 + [config.max_gripper_velocity] * 2),
            schema.VELOCITY_LIMIT,
        )
        gripper_distance = math.inf if config.max_gripper_distance is None else config.max_gripper_distance
        distance = np.array([config.max_distance_from_measured_rad] * 14 + [gripper_distance] * 2)
        arrays = [schema.POSITION_LOWER + margin, schema.POSITION_UPPER - margin, velocity * dt_s, distance]
        for arr in arrays:
            arr.setflags(write=False)
        return cls(*arrays, kp_max=config.kp_max, kd_max=config.kd_max, dt_s=float(dt_s))


@dataclasses.dataclass
class SafetyResult:
    """Output of :func:`filter_command`.

    Attributes:
        q: (16,) float64 command to send [rad | opening].
        held: True if the request was rejected and ``q`` is the previous command.
        reason: why it was held (names the field and the expected form), else None.
        limit_clamped: number of dims changed by the position limits.
        distance_clamped: number of dims changed by the distance-from-measured bound.
        step_clamped: number of dims changed by the step bound.
    """

    q: np.ndarray
    held: bool = False
    reason: str | None = None
    limit_clamped: int = 0
    distance_clamped: int = 0
    step_clamped: int = 0

    @property
    def clamped(self) -> bool:
        """Whether any clamp changed the request."""
        return bool(self.limit_clamped or self.distance_clamped or self.step_clamped)


def check_vector(value: object, name: str = "target", length: int = _N) -> str | None:
    """Why ``value`` is not a (length,) finite float vector, or None if it is.

    Returns:
        A message naming ``name`` and the expected form, or None.
    """
    if not isinstance(value, np.ndarray):
        try:
            value = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            kind = type(value).__name__
            return f"{name} must be {length} finite floats in schema.JOINT_NAMES order, got {kind}"
    if value.shape != (length,):
        return f"{name} must have shape ({length},) in schema.JOINT_NAMES order, got shape {value.shape}"
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        return f"{name} must be numeric, got dtype {value.dtype}"
    bad = ~np.isfinite(value)
    if bad.any():
        return f"{name} must be finite; non-finite at dims {np.flatnonzero(bad).tolist()}"
    return None


def clamp_to_limits(q: np.ndarray, limits: SafetyLimits) -> np.ndarray:
    """(16,) ``q`` clipped to ``[limits.lower, limits.upper]``."""
    return np.clip(q, limits.lower, limits.upper)


def limit_distance(q: np.ndarray, q_meas: np.ndarray, max_distance: np.ndarray) -> np.ndarray:
    """(16,) ``q`` clipped to within ``max_distance`` of the measured ``q_meas`` (inf = unbounded)."""
    return np.clip(q, q_meas - max_distance, q_meas + max_distance)


def limit_step(q: np.ndarray, q_prev: np.ndarray, step: np.ndarray) -> np.ndarray:
    """(16,) ``q`` moved at most ``step`` away from ``q_prev``: ``|out - q_prev| <= step`` per dim."""
    return q_prev + np.clip(q - q_prev, -step, step)


def filter_command(
    target: object, q_prev: np.ndarray, q_meas: np.ndarray | None, limits: SafetyLimits
) -> SafetyResult:
    """The safe 16-D command for a requested ``target`` (see the module docstring for the order).

    Args:
        target: requested (16,) targets [rad | opening]; anything else (wrong length, NaN/Inf,
            non-numeric) is rejected and the previous command is held.
        q_prev: (16,) the last command actually sent (finite).
        q_meas: (16,) measured positions, or None when unknown (then the distance bound is skipped).
        limits: from :meth:`SafetyLimits.build`.

    Returns:
        A :class:`SafetyResult`; ``result.q`` is a new array.

    Raises:
        ValueError: ``q_prev`` is not 16 finite floats (a controller bug, not an input error).
    """
    problem = check_vector(q_prev, "q_prev")
    if problem is not None:
        raise ValueError(f"safety filter needs the previous command: {problem}")
    problem = check_vector(target)
    if problem is not None:
        return SafetyResult(q=np.array(q_prev, dtype=np.float64), held=True, reason=problem)
    requested = np.asarray(target, dtype=np.float64)
    q = clamp_to_limits(requested, limits)
    limit_clamped = int(np.count_nonzero(q != requested))
    distance_clamped = 0
    if q_meas is not None and check_vector(q_meas, "q_meas") is None:
        near = clamp_to_limits(limit_distance(q, q_meas, limits.max_distance), limits)
        distance_clamped = int(np.count_nonzero(near != q))
        q = near
    stepped = limit_step(q, np.asarray(q_prev, dtype=np.float64), limits.step)
    step_clamped = int(np.count_nonzero(stepped != q))
    return SafetyResult(
        q=stepped, limit_clamped=limit_clamped, distance_clamped=distance_clamped, step_clamped=step_clamped
    )


def filter_gains(kp: np.ndarray, kd: np.ndarray, limits: SafetyLimits) -> tuple[np.ndarray, np.ndarray, int]:
    """Arm gains clipped to ``[0, kp_max]`` / ``[0, kd_max]``; non-finite or wrong-length → defaults.

    Args:
        kp: (14,) stiffness per arm joint [N·m/rad].
        kd: (14,) damping per arm joint [N·m·s/rad].
        limits: the bounds.

    Returns:
        ``(kp, kd, n_changed)``; defaults are schema.ARM_KP_DEFAULT / ARM_KD_DEFAULT (g1_spec §2.2),
        themselves clipped to the bounds.
    """
    changed = 0
    out = []
    for value, default, high, name in (
        (kp, schema.ARM_KP_DEFAULT, limits.kp_max, "kp"),
        (kd, schema.ARM_KD_DEFAULT, limits.kd_max, "kd"),
    ):
        if check_vector(value, name, schema.NUM_ARM_JOINTS) is not None:
            value = default
            changed += schema.NUM_ARM_JOINTS
        value = np.asarray(value, dtype=np.float64)
        clipped = np.clip(value, 0.0, high)
        changed += int(np.count_nonzero(clipped != value))
        out.append(clipped)
    return out[0], out[1], changed
