"""Topic names, QoS profiles and the backend-neutral payloads that nodes publish and receive.

Node code never touches ROS message classes: it publishes and receives these plain payloads, and
each backend converts them to its wire messages in one module (``dds_backend/conversions.py``,
``rclpy_backend/conversions.py``). Torch-free.

Names and types follow DESIGN.md §3; QoS follows REP-2003 (sensor data best-effort keep-last,
commands reliable; peers.md §5.4).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping

import numpy as np

# ---------------------------------------------------------------------------------------------
# Topic names (ROS names; the DDS backend prefixes "rt/" like rmw_cyclonedds does)
# ---------------------------------------------------------------------------------------------

TOPIC_IMAGE = "/camera/ego/image_raw"
TOPIC_CAMERA_INFO = "/camera/ego/camera_info"
TOPIC_JOINT_STATES = "/g1/joint_states"
TOPIC_ACTION_CHUNK = "/dit4dit/action_chunk"
TOPIC_TASK = "/dit4dit/task"
TOPIC_COMMAND = "/dit4dit/command"
TOPIC_DIAGNOSTICS = "/diagnostics"

#: Operator commands accepted on TOPIC_COMMAND (std_msgs/String).
OPERATOR_COMMANDS = ("start", "stop", "estop", "reset")


class MsgKind(enum.Enum):
    """The standard ROS 2 message type carried by a topic."""

    IMAGE = "sensor_msgs/msg/Image"
    CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
    JOINT_STATE = "sensor_msgs/msg/JointState"
    JOINT_TRAJECTORY = "trajectory_msgs/msg/JointTrajectory"
    STRING = "std_msgs/msg/String"
    DIAGNOSTICS = "diagnostic_msgs/msg/DiagnosticArray"


class Reliability(enum.Enum):
    """DDS reliability kind."""

    BEST_EFFORT = "best_effort"
    RELIABLE = "reliable"


@dataclasses.dataclass(frozen=True)
class QosProfile:
    """The subset of DDS QoS the stack uses (history is always keep-last, durability volatile).

    Attributes:
        reliability: best effort for sensor streams, reliable for commands.
        depth: keep-last history depth.
    """

    reliability: Reliability
    depth: int

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"QoS depth must be >= 1, got {self.depth}")


#: REP-2003 sensor data: best effort, keep last 5 (rclpy ``qos_profile_sensor_data``).
SENSOR_QOS = QosProfile(Reliability.BEST_EFFORT, 5)
#: Commands, chunks, tasks, diagnostics: reliable, keep last 10 (ROS 2 default profile).
RELIABLE_QOS = QosProfile(Reliability.RELIABLE, 10)


# ---------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ImageFrame:
    """One camera frame (sensor_msgs/Image, encoding rgb8).

    Attributes:
        rgb: (H, W, 3) uint8 RGB pixels (C-contiguous).
        stamp_ns: acquisition (exposure) time [ns, system clock].
        frame_id: optical frame name.
    """

    rgb: np.ndarray
    stamp_ns: int
    frame_id: str = "ego_camera_optical_frame"

    def __post_init__(self) -> None:
        if not isinstance(self.rgb, np.ndarray) or self.rgb.dtype != np.uint8 or self.rgb.ndim != 3:
            raise ValueError(
                f"rgb must be an (H, W, 3) uint8 array, got {getattr(self.rgb, 'shape', self.rgb)!r}"
            )
        if self.rgb.shape[2] != 3:
            raise ValueError(f"rgb must have 3 channels, got shape {self.rgb.shape}")


@dataclasses.dataclass(frozen=True)
class CameraInfoData:
    """Intrinsics of the ego camera (sensor_msgs/CameraInfo).

    Attributes:
        width, height: image size [px].
        k: (9,) row-major 3×3 camera matrix.
        d: distortion coefficients (plumb_bob: 5).
        r: (9,) rectification matrix.
        p: (12,) 3×4 projection matrix.
        distortion_model: e.g. ``plumb_bob``.
        stamp_ns: stamp of the matching image [ns].
        frame_id: optical frame name.
    """

    width: int
    height: int
    k: tuple[float, ...]
    d: tuple[float, ...]
    r: tuple[float, ...]
    p: tuple[float, ...]
    distortion_model: str = "plumb_bob"
    stamp_ns: int = 0
    frame_id: str = "ego_camera_optical_frame"

    def __post_init__(self) -> None:
        for name, size in (("k", 9), ("r", 9), ("p", 12)):
            if len(getattr(self, name)) != size:
                raise ValueError(f"camera info '{name}' needs {size} values, got {len(getattr(self, name))}")

    def with_stamp(self, stamp_ns: int) -> CameraInfoData:
        """Copy with a new stamp (published alongside each image)."""
        return dataclasses.replace(self, stamp_ns=int(stamp_ns))


@dataclasses.dataclass(frozen=True)
class JointStateData:
    """Measured joint state (sensor_msgs/JointState).

    Attributes:
        names: joint names (16, schema.JOINT_NAMES for the G1 controller).
        position: (N,) [rad | opening].
        velocity: (N,) [rad/s] (may be empty).
        effort: (N,) [N·m] (may be empty).
        stamp_ns: acquisition time [ns].
    """

    names: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray
    stamp_ns: int

    def __post_init__(self) -> None:
        n = len(self.names)
        for field in ("position", "velocity", "effort"):
            value = np.asarray(getattr(self, field), dtype=np.float64)
            if value.ndim != 1 or value.shape[0] not in (0, n):
                raise ValueError(f"joint state '{field}' must have 0 or {n} entries, got shape {value.shape}")
            object.__setattr__(self, field, value)


@dataclasses.dataclass(frozen=True)
class TrajectoryData:
    """An action chunk as trajectory_msgs/JointTrajectory.

    Attributes:
        joint_names: names of the columns of ``positions``.
        positions: (H, N) absolute targets [rad | opening].
        time_from_start_ns: (H,) offsets of each point from ``stamp_ns`` [ns].
        stamp_ns: header stamp = observation time [ns] (DESIGN.md §2).
    """

    joint_names: tuple[str, ...]
    positions: np.ndarray
    time_from_start_ns: np.ndarray
    stamp_ns: int

    def __post_init__(self) -> None:
        positions = np.asarray(self.positions, dtype=np.float64)
        offsets = np.asarray(self.time_from_start_ns, dtype=np.int64)
        if positions.ndim != 2 or positions.shape[1] != len(self.joint_names):
            raise ValueError(
                f"trajectory positions must be (H, {len(self.joint_names)}), got shape {positions.shape}"
            )
        if offsets.shape != (positions.shape[0],):
            raise ValueError(
                f"time_from_start_ns must have shape ({positions.shape[0]},), got {offsets.shape}"
            )
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "time_from_start_ns", offsets)


class DiagnosticLevel(enum.IntEnum):
    """diagnostic_msgs/DiagnosticStatus levels."""

    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3


@dataclasses.dataclass(frozen=True)
class DiagnosticStatusData:
    """One diagnostic_msgs/DiagnosticStatus.

    Attributes:
        name: ``<node>: <component>``.
        level: OK / WARN / ERROR / STALE.
        message: one-line summary.
        values: key → value strings (numbers are formatted by :func:`diagnostic_values`).
        hardware_id: device identifier, if any.
    """

    name: str
    level: DiagnosticLevel
    message: str
    values: Mapping[str, str] = dataclasses.field(default_factory=dict)
    hardware_id: str = ""


@dataclasses.dataclass(frozen=True)
class DiagnosticArrayData:
    """diagnostic_msgs/DiagnosticArray: a stamp and a list of statuses."""

    status: tuple[DiagnosticStatusData, ...]
    stamp_ns: int


def diagnostic_values(values: Mapping[str, object]) -> dict[str, str]:
    """Format a mapping of numbers/strings for DiagnosticStatus.values (floats with 4 significant digits)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, float):
            out[key] = "nan" if math.isnan(value) else f"{value:.4g}"
        else:
            out[key] = str(value)
    return out


#: Payload type per message kind (checked when publishing).
PAYLOAD_TYPES: Mapping[MsgKind, type] = {
    MsgKind.IMAGE: ImageFrame,
    MsgKind.CAMERA_INFO: CameraInfoData,
    MsgKind.JOINT_STATE: JointStateData,
    MsgKind.JOINT_TRAJECTORY: TrajectoryData,
    MsgKind.STRING: str,
    MsgKind.DIAGNOSTICS: DiagnosticArrayData,
}
