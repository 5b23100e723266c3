"""The data contract shared by every part of the stack: joint order, units, G1 motor map, limits.

Imports nothing from the rest of the package (and nothing heavier than numpy), so the model,
the controller, the simulator and the recorder all agree on one table.

Conventions (DESIGN.md §3):

* **16-D vector order** (state and action): left arm 7 (shoulder pitch, roll, yaw, elbow,
  wrist roll, pitch, yaw), right arm 7 (same), left gripper, right gripper.
* **Units**: arm joints in rad (velocity rad/s, effort N·m); grippers as a normalised opening in
  [0, 1] with 1 = open (g1_spec §4, our 1-D mapping).
* **Actions** are absolute joint-position targets; a chunk holds ``horizon`` points spaced
  ``dt = 1/30 s`` from the observation time.
* **Time**: stamps are integer nanoseconds of the system clock (``time.time_ns()``) at
  acquisition; control loops pace themselves with ``time.monotonic()``.

Sources for the numbers: Unitree G1 29-DoF MJCF/URDF limits and the motor index map
(``reference/g1_spec.md`` §2.1), the arm_sdk weight index (§2.1, index 29), gains (§2.2),
the dataset features (§6.3/§6.4, LeRobot names).
"""

from __future__ import annotations

import dataclasses
import math
from types import MappingProxyType
from typing import Final

import numpy as np

# ---------------------------------------------------------------------------------------------
# Joint names and the 16-D vector
# ---------------------------------------------------------------------------------------------

#: The seven joints of one arm, proximal to distal (g1_spec §2.1, indices 15-21 / 22-28).
ARM_JOINT_SUFFIXES: Final = (
    "shoulder_pitch",
    "shoulder_roll",
    "shoulder_yaw",
    "elbow",
    "wrist_roll",
    "wrist_pitch",
    "wrist_yaw",
)

#: The 14 arm joints, left then right, with Unitree's URDF joint names.
ARM_JOINT_NAMES: Final[tuple[str, ...]] = tuple(
    f"{side}_{suffix}_joint" for side in ("left", "right") for suffix in ARM_JOINT_SUFFIXES
)

#: The two 1-D grippers (normalised opening, 1 = open).
GRIPPER_NAMES: Final[tuple[str, ...]] = ("left_gripper", "right_gripper")

#: The 16 names of the state/action vector, in vector order. Also the JointState/JointTrajectory names.
JOINT_NAMES: Final[tuple[str, ...]] = ARM_JOINT_NAMES + GRIPPER_NAMES

#: Unitree SDK motor names of the same 16 dims (``kLeftShoulderPitch`` …), used by unitree_IL_lerobot
#: datasets (g1_spec §6.3); kept for converters.
UNITREE_MOTOR_NAMES: Final[tuple[str, ...]] = (
    *(
        "k" + side + "".join(part.capitalize() for part in suffix.split("_"))
        for side in ("Left", "Right")
        for suffix in ARM_JOINT_SUFFIXES
    ),
    "kLeftGripper",
    "kRightGripper",
)

NUM_ARM_JOINTS: Final = 14
NUM_JOINTS: Final = 16
LEFT_ARM: Final = slice(0, 7)
RIGHT_ARM: Final = slice(7, 14)
ARMS: Final = slice(0, 14)
LEFT_GRIPPER_INDEX: Final = 14
RIGHT_GRIPPER_INDEX: Final = 15
GRIPPERS: Final = slice(14, 16)

#: Gripper opening range (normalised; 0 = closed, 1 = open).
GRIPPER_RANGE: Final = (0.0, 1.0)

# ---------------------------------------------------------------------------------------------
# Unitree G1 motor index map (unitree_hg LowCmd_/LowState_, PR mode) — g1_spec §2.1
# ---------------------------------------------------------------------------------------------

#: Number of MotorCmd_/MotorState_ slots in unitree_hg LowCmd_/LowState_ (g1_spec §1.2).
NUM_MOTOR_SLOTS: Final = 35

#: ``motor_cmd[29].q`` carries the arm_sdk blend weight in [0, 1] (g1_spec §2.1, kNotUsedJoint0).
ARM_SDK_WEIGHT_INDEX: Final = 29

#: Body joint name for each motor index of the 29-DoF G1 (PR mode).
G1_29DOF_MOTOR_NAMES: Final[tuple[str, ...]] = (
    "left_hip_pitch_joint",
    "left_hip_roll_joint",
    "left_hip_yaw_joint",
    "left_knee_joint",
    "left_ankle_pitch_joint",
    "left_ankle_roll_joint",
    "right_hip_pitch_joint",
    "right_hip_roll_joint",
    "right_hip_yaw_joint",
    "right_knee_joint",
    "right_ankle_pitch_joint",
    "right_ankle_roll_joint",
    "waist_yaw_joint",
    "waist_roll_joint",
    "waist_pitch_joint",
    *ARM_JOINT_NAMES,
)

#: 23-DoF G1: same index layout with the waist roll/pitch and both wrist pitch/yaw slots invalid
#: (5-DoF arms at 15-19 and 22-26; g1_spec §2.1 "23-DoF").
G1_23DOF_INVALID_INDICES: Final = frozenset({13, 14, 20, 21, 27, 28})
G1_23DOF_MOTOR_NAMES: Final[tuple[str | None, ...]] = tuple(
    None if i in G1_23DOF_INVALID_INDICES else name for i, name in enumerate(G1_29DOF_MOTOR_NAMES)
)

#: Motor index of each of the 14 arm dims of the 16-D vector (left 15-21, right 22-28).
ARM_MOTOR_INDICES: Final[tuple[int, ...]] = tuple(range(15, 29))

#: Motor indices of legs and waist (held at their measured positions in lowcmd debug mode).
BODY_MOTOR_INDICES: Final[tuple[int, ...]] = tuple(range(0, 15))

#: ``mode_machine`` values reported by the G1 (g1_spec §1.4).
MODE_MACHINE: Final = MappingProxyType(
    {
        1: "g1_23dof",
        2: "g1_29dof",
        3: "g1_29dof_lock_waist",
        4: "g1_23dof_rev_1_0",
        5: "g1_29dof_rev_1_0",
        6: "g1_29dof_lock_waist_rev_1_0",
        9: "g1_dual_arm",
    }
)


def motor_names_for(variant: str) -> tuple[str | None, ...]:
    """Joint name per motor index (0..28) of a G1 variant.

    Args:
        variant: ``"29dof"`` or ``"23dof"``.

    Returns:
        29 entries; ``None`` marks a slot that does not exist on that variant.

    Raises:
        ValueError: unknown variant.
    """
    if variant == "29dof":
        return G1_29DOF_MOTOR_NAMES
    if variant == "23dof":
        return G1_23DOF_MOTOR_NAMES
    raise ValueError(f"G1 variant must be '29dof' or '23dof', got {variant!r}")


# ---------------------------------------------------------------------------------------------
# Limits (g1_spec §2.1: range from unitree_mujoco g1_29dof.xml; effort/velocity from the
# xr_teleoperate URDF; motor types 5020 = 25 N·m / 37 rad/s, 4010 = 5 N·m / 22 rad/s)
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class JointLimit:
    """Position, velocity and effort limits of one joint.

    Attributes:
        lower: lowest position [rad] (grippers: normalised opening).
        upper: highest position [rad] (grippers: normalised opening).
        velocity: maximum speed [rad/s] (grippers: opening per second).
        effort: maximum torque [N·m] (grippers: 0, driven by their own controller).
    """

    lower: float
    upper: float
    velocity: float
    effort: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lower) and math.isfinite(self.upper) and self.lower < self.upper):
            raise ValueError(f"JointLimit needs finite lower < upper, got [{self.lower}, {self.upper}]")
        if not (self.velocity > 0 and self.effort >= 0):
            raise ValueError(
                f"JointLimit needs velocity > 0 and effort >= 0, got {self.velocity}, {self.effort}"
            )


_LEFT_ARM_LIMITS = (
    JointLimit(-3.0892, 2.6704, 37.0, 25.0),  # shoulder_pitch (5020)
    JointLimit(-1.5882, 2.2515, 37.0, 25.0),  # shoulder_roll (5020)
    JointLimit(-2.618, 2.618, 37.0, 25.0),  # shoulder_yaw (5020)
    JointLimit(-1.0472, 2.0944, 37.0, 25.0),  # elbow (5020)
    JointLimit(-1.97222, 1.97222, 37.0, 25.0),  # wrist_roll (5020)
    JointLimit(-1.61443, 1.61443, 22.0, 5.0),  # wrist_pitch (4010)
    JointLimit(-1.61443, 1.61443, 22.0, 5.0),  # wrist_yaw (4010)
)
# The right arm mirrors the left; only shoulder roll has an asymmetric range.
_RIGHT_ARM_LIMITS = (
    _LEFT_ARM_LIMITS[0],
    JointLimit(-2.2515, 1.5882, 37.0, 25.0),
    *_LEFT_ARM_LIMITS[2:],
)
#: Normalised opening; the speed bound (a full stroke in 0.25 s) is our choice, not a hardware figure.
GRIPPER_LIMIT: Final = JointLimit(GRIPPER_RANGE[0], GRIPPER_RANGE[1], 4.0, 0.0)

#: Limits of the 16 dims, in vector order.
JOINT_LIMITS: Final[tuple[JointLimit, ...]] = (
    *_LEFT_ARM_LIMITS,
    *_RIGHT_ARM_LIMITS,
    GRIPPER_LIMIT,
    GRIPPER_LIMIT,
)

#: (16,) float64 arrays of the same limits, for vectorised clamps.
POSITION_LOWER: Final = np.array([lim.lower for lim in JOINT_LIMITS], dtype=np.float64)
POSITION_UPPER: Final = np.array([lim.upper for lim in JOINT_LIMITS], dtype=np.float64)
VELOCITY_LIMIT: Final = np.array([lim.velocity for lim in JOINT_LIMITS], dtype=np.float64)
EFFORT_LIMIT: Final = np.array([lim.effort for lim in JOINT_LIMITS], dtype=np.float64)
for _arr in (POSITION_LOWER, POSITION_UPPER, VELOCITY_LIMIT, EFFORT_LIMIT):
    _arr.setflags(write=False)

# ---------------------------------------------------------------------------------------------
# Default PD gains on the arm motors (g1_spec §2.2, xr_teleoperate / unitree_IL_lerobot practice:
# shoulder+elbow 80/3, wrist 40/1.5), in the order of the 14 arm dims.
# ---------------------------------------------------------------------------------------------

ARM_KP_DEFAULT: Final = np.array(([80.0] * 4 + [40.0] * 3) * 2, dtype=np.float64)
ARM_KD_DEFAULT: Final = np.array(([3.0] * 4 + [1.5] * 3) * 2, dtype=np.float64)
ARM_KP_DEFAULT.setflags(write=False)
ARM_KD_DEFAULT.setflags(write=False)

# ---------------------------------------------------------------------------------------------
# Rates, horizon and dataset features (DESIGN.md §2-3; g1_spec §6.4; LeRobot feature names)
# ---------------------------------------------------------------------------------------------

#: Dataset / action rate [Hz] and the spacing of chunk points [s].
CONTROL_RATE_HZ: Final = 30.0
ACTION_DT_S: Final = 1.0 / CONTROL_RATE_HZ
#: Action chunk length (DiT4DiT G1 config ``action_horizon 16``, model_spec §5).
ACTION_HORIZON: Final = 16

#: LeRobot feature keys written by the recorder, the demo generator and the evaluation harness.
FEATURE_IMAGE_EGO: Final = "observation.images.ego_view"
FEATURE_STATE: Final = "observation.state"
FEATURE_ACTION: Final = "action"
FEATURE_TIMESTAMP: Final = "timestamp"
FEATURE_FRAME_INDEX: Final = "frame_index"
FEATURE_EPISODE_INDEX: Final = "episode_index"
FEATURE_INDEX: Final = "index"
FEATURE_TASK_INDEX: Final = "task_index"

#: ``robot_type`` written into LeRobot ``meta/info.json``.
ROBOT_TYPE: Final = "unitree_g1_16dof"


# ---------------------------------------------------------------------------------------------
# Observation / ActionChunk
# ---------------------------------------------------------------------------------------------


def _check_vector(name: str, value: np.ndarray, length: int) -> None:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape ({length},), got {type(value).__name__}")
    if value.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},) in schema.JOINT_NAMES order, got {value.shape}")
    if not np.issubdtype(value.dtype, np.floating):
        raise ValueError(f"{name} must be a floating-point array, got dtype {value.dtype}")
    if not np.all(np.isfinite(value)):
        raise ValueError(
            f"{name} must be finite, got non-finite values at dims {np.flatnonzero(~np.isfinite(value))}"
        )


def _check_stamp(name: str, stamp_ns: int) -> None:
    if isinstance(stamp_ns, bool) or not isinstance(stamp_ns, (int, np.integer)):
        raise TypeError(f"{name} must be an integer number of nanoseconds, got {type(stamp_ns).__name__}")
    if stamp_ns < 0:
        raise ValueError(f"{name} must be >= 0 ns, got {stamp_ns}")


@dataclasses.dataclass(frozen=True)
class Observation:
    """One synchronised observation of the robot, as the policy consumes it.

    Attributes:
        image: (H, W, 3) uint8 RGB ego-camera frame (any size; the model's transforms resize it).
        image_stamp_ns: acquisition (exposure) time of the frame [ns, system clock].
        state: (16,) float32/float64 measured joint vector in JOINT_NAMES order [rad | opening].
        state_stamp_ns: acquisition time of the joint state [ns, system clock].
        task: natural-language instruction, e.g. ``"stack the cups"``.

    Raises:
        TypeError / ValueError: on a wrong shape, dtype, non-finite value, negative stamp or empty task.
    """

    image: np.ndarray
    image_stamp_ns: int
    state: np.ndarray
    state_stamp_ns: int
    task: str

    def __post_init__(self) -> None:
        if not isinstance(self.image, np.ndarray):
            raise TypeError(f"image must be a numpy array (H, W, 3) uint8, got {type(self.image).__name__}")
        if self.image.ndim != 3 or self.image.shape[2] != 3 or min(self.image.shape[:2]) < 1:
            raise ValueError(f"image must have shape (H, W, 3) RGB, got {self.image.shape}")
        if self.image.dtype != np.uint8:
            raise ValueError(f"image must be uint8 RGB, got dtype {self.image.dtype}")
        _check_stamp("image_stamp_ns", self.image_stamp_ns)
        _check_vector("state", self.state, NUM_JOINTS)
        _check_stamp("state_stamp_ns", self.state_stamp_ns)
        if not isinstance(self.task, str) or not self.task.strip():
            raise ValueError(f"task must be a non-empty instruction string, got {self.task!r}")

    @property
    def stamp_ns(self) -> int:
        """Observation time [ns]: the frame's acquisition time (the chunk's time origin)."""
        return int(self.image_stamp_ns)


@dataclasses.dataclass(frozen=True)
class ActionChunk:
    """A chunk of absolute joint targets predicted from one observation.

    Point k is to be reached at ``times_ns[k]``; the policy sets
    ``times_ns[k] = stamp_ns + k·ACTION_DT_S`` (DESIGN.md §2), so point 0 is the target at the
    observation time itself and is normally already in the past when the chunk arrives.

    Attributes:
        positions: (H, 16) float array of targets in JOINT_NAMES order [rad | opening].
        times_ns: (H,) int64 strictly increasing target times [ns, system clock].
        stamp_ns: observation time the chunk was predicted from [ns].

    Raises:
        TypeError / ValueError: wrong shapes or dtypes, non-finite targets, times not strictly
        increasing, a point before the observation time, or H < 1.
    """

    positions: np.ndarray
    times_ns: np.ndarray
    stamp_ns: int

    def __post_init__(self) -> None:
        pos, times = self.positions, self.times_ns
        if not isinstance(pos, np.ndarray) or pos.ndim != 2 or pos.shape[1] != NUM_JOINTS or pos.shape[0] < 1:
            shape = getattr(pos, "shape", type(pos).__name__)
            raise ValueError(f"positions must have shape (H >= 1, {NUM_JOINTS}), got {shape}")
        if not np.issubdtype(pos.dtype, np.floating):
            raise ValueError(f"positions must be floating-point, got dtype {pos.dtype}")
        if not np.all(np.isfinite(pos)):
            bad = np.argwhere(~np.isfinite(pos))[0]
            raise ValueError(f"positions must be finite; first non-finite at point {bad[0]}, dim {bad[1]}")
        if not isinstance(times, np.ndarray) or times.shape != (pos.shape[0],):
            shape = getattr(times, "shape", type(times).__name__)
            raise ValueError(f"times_ns must have shape ({pos.shape[0]},) to match positions, got {shape}")
        if not np.issubdtype(times.dtype, np.integer):
            raise ValueError(f"times_ns must be integer nanoseconds, got dtype {times.dtype}")
        if np.any(np.diff(times) <= 0):
            raise ValueError("times_ns must be strictly increasing")
        _check_stamp("stamp_ns", self.stamp_ns)
        if int(times[0]) < int(self.stamp_ns):
            raise ValueError(
                f"times_ns[0]={int(times[0])} precedes the observation stamp {int(self.stamp_ns)}"
            )

    @property
    def horizon(self) -> int:
        """Number of points H."""
        return int(self.positions.shape[0])

    @classmethod
    def from_positions(cls, positions: np.ndarray, stamp_ns: int, dt_s: float = ACTION_DT_S) -> ActionChunk:
        """Build a chunk whose point k is due at ``stamp_ns + k·dt_s``.

        Args:
            positions: (H, 16) targets [rad | opening].
            stamp_ns: observation time [ns].
            dt_s: spacing of the points [s]; default 1/30 s.

        Raises:
            ValueError: dt_s not positive, or any check of the class.
        """
        if not dt_s > 0:
            raise ValueError(f"dt_s must be > 0 s, got {dt_s}")
        positions = np.asarray(positions)
        times = int(stamp_ns) + np.round(np.arange(positions.shape[0]) * dt_s * 1e9).astype(np.int64)
        return cls(positions=positions, times_ns=times, stamp_ns=int(stamp_ns))


def format_joint_table() -> str:
    """Human-readable table of the 16 dims: index, name, G1 motor index, limits and units."""
    lines = [
        f"{'dim':>3}  {'name':<28} {'motor':>5}  {'lower':>9} {'upper':>9}  {'vel':>6} {'effort':>6}  unit",
    ]
    motors = [*ARM_MOTOR_INDICES, None, None]
    for i, (name, lim, motor) in enumerate(zip(JOINT_NAMES, JOINT_LIMITS, motors, strict=True)):
        unit = "rad" if i < NUM_ARM_JOINTS else "opening (1=open)"
        motor_s = "-" if motor is None else str(motor)
        lines.append(
            f"{i:>3}  {name:<28} {motor_s:>5}  {lim.lower:>9.5f} {lim.upper:>9.5f}  {lim.velocity:>6.1f} "
            f"{lim.effort:>6.1f}  {unit}"
        )
    lines.append(
        f"arm_sdk weight: motor_cmd[{ARM_SDK_WEIGHT_INDEX}].q in [0, 1]; {NUM_MOTOR_SLOTS} motor slots"
    )
    return "\n".join(lines)
