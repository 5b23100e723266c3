"""ROS 2 standard messages as CycloneDDS IDL types, wire-compatible with rmw_cyclonedds_cpp.

ROS 2 maps ``pkg/msg/Type`` to the DDS type ``pkg::msg::dds_::Type_`` and topic ``/a/b`` to
``rt/a/b`` (DESIGN.md §5); field order and types below are those of the .msg definitions
(builtin_interfaces, std_msgs, sensor_msgs, trajectory_msgs, diagnostic_msgs), serialised as
plain CDR (final extensibility), so ``ros2 topic echo`` on a machine using rmw_cyclonedds_cpp sees
these topics.

``sequence<uint8>`` fields (image data) are serialised in ONE buffer copy instead of element by
element (same wire format): with the library's default, 480×640×3 images reach only ~21-26 Hz at
40-50 ms latency (reference/environment.md, "CycloneDDS"). See :func:`_install_byte_buffer`.
"""

from dataclasses import dataclass, field

import numpy as np
from cyclonedds.idl import IdlStruct
from cyclonedds.idl import types as t
from cyclonedds.idl._machinery import BytesMachine


@dataclass
class Time_(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    """builtin_interfaces/Time: seconds and nanoseconds since the epoch."""

    sec: t.int32 = 0
    nanosec: t.uint32 = 0


@dataclass
class Duration_(IdlStruct, typename="builtin_interfaces::msg::dds_::Duration_"):
    """builtin_interfaces/Duration."""

    sec: t.int32 = 0
    nanosec: t.uint32 = 0


@dataclass
class Header_(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    """std_msgs/Header."""

    stamp: Time_ = field(default_factory=Time_)
    frame_id: str = ""


@dataclass
class String_(IdlStruct, typename="std_msgs::msg::dds_::String_"):
    """std_msgs/String."""

    data: str = ""


@dataclass
class Image_(IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
    """sensor_msgs/Image. ``data`` is given and returned as ``bytes`` (one-copy serialisation)."""

    header: Header_ = field(default_factory=Header_)
    height: t.uint32 = 0
    width: t.uint32 = 0
    encoding: str = ""
    is_bigendian: t.uint8 = 0
    step: t.uint32 = 0
    data: t.sequence[t.uint8] = field(default_factory=bytes)


@dataclass
class RegionOfInterest_(IdlStruct, typename="sensor_msgs::msg::dds_::RegionOfInterest_"):
    """sensor_msgs/RegionOfInterest."""

    x_offset: t.uint32 = 0
    y_offset: t.uint32 = 0
    height: t.uint32 = 0
    width: t.uint32 = 0
    do_rectify: bool = False


@dataclass
class CameraInfo_(IdlStruct, typename="sensor_msgs::msg::dds_::CameraInfo_"):
    """sensor_msgs/CameraInfo."""

    header: Header_ = field(default_factory=Header_)
    height: t.uint32 = 0
    width: t.uint32 = 0
    distortion_model: str = ""
    d: t.sequence[t.float64] = field(default_factory=list)
    k: t.array[t.float64, 9] = field(default_factory=lambda: [0.0] * 9)
    r: t.array[t.float64, 9] = field(default_factory=lambda: [0.0] * 9)
    p: t.array[t.float64, 12] = field(default_factory=lambda: [0.0] * 12)
    binning_x: t.uint32 = 0
    binning_y: t.uint32 = 0
    roi: RegionOfInterest_ = field(default_factory=RegionOfInterest_)


@dataclass
class JointState_(IdlStruct, typename="sensor_msgs::msg::dds_::JointState_"):
    """sensor_msgs/JointState."""

    header: Header_ = field(default_factory=Header_)
    name: t.sequence[str] = field(default_factory=list)
    position: t.sequence[t.float64] = field(default_factory=list)
    velocity: t.sequence[t.float64] = field(default_factory=list)
    effort: t.sequence[t.float64] = field(default_factory=list)


@dataclass
class JointTrajectoryPoint_(IdlStruct, typename="trajectory_msgs::msg::dds_::JointTrajectoryPoint_"):
    """trajectory_msgs/JointTrajectoryPoint."""

    positions: t.sequence[t.float64] = field(default_factory=list)
    velocities: t.sequence[t.float64] = field(default_factory=list)
    accelerations: t.sequence[t.float64] = field(default_factory=list)
    effort: t.sequence[t.float64] = field(default_factory=list)
    time_from_start: Duration_ = field(default_factory=Duration_)


@dataclass
class JointTrajectory_(IdlStruct, typename="trajectory_msgs::msg::dds_::JointTrajectory_"):
    """trajectory_msgs/JointTrajectory."""

    header: Header_ = field(default_factory=Header_)
    joint_names: t.sequence[str] = field(default_factory=list)
    points: t.sequence[JointTrajectoryPoint_] = field(default_factory=list)


@dataclass
class KeyValue_(IdlStruct, typename="diagnostic_msgs::msg::dds_::KeyValue_"):
    """diagnostic_msgs/KeyValue."""

    key: str = ""
    value: str = ""


@dataclass
class DiagnosticStatus_(IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticStatus_"):
    """diagnostic_msgs/DiagnosticStatus (``level`` is the .msg ``byte``, an octet)."""

    level: t.uint8 = 0
    name: str = ""
    message: str = ""
    hardware_id: str = ""
    values: t.sequence[KeyValue_] = field(default_factory=list)


@dataclass
class DiagnosticArray_(IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticArray_"):
    """diagnostic_msgs/DiagnosticArray."""

    header: Header_ = field(default_factory=Header_)
    status: t.sequence[DiagnosticStatus_] = field(default_factory=list)


class _ByteBufferMachine(BytesMachine):
    """CDR ``sequence<octet>`` in one copy: uint32 length, then the raw bytes.

    Accepts bytes, bytearray, memoryview or a C-contiguous numpy array; returns ``bytes``.
    """

    def serialize(self, buffer, value, for_key=False):
        if isinstance(value, np.ndarray):
            value = memoryview(np.ascontiguousarray(value)).cast("B")
        elif isinstance(value, list):  # a plain list of ints still works (slow path)
            value = bytes(value)
        super().serialize(buffer, value, for_key)


def _install_byte_buffer(cls: type, field_name: str) -> None:
    """Replace the element-wise serialiser of ``cls.<field_name>`` (a sequence<uint8>) by one copy.

    The type object (XTypes) still describes ``sequence<uint8>``, so discovery and type matching are
    unchanged; only the Python (de)serialisation of that member is swapped.
    """
    idl = cls.__idl__
    idl.populate()
    for machine in (idl.v0_machine, idl.v2_machine):
        members = getattr(machine, "members_machines", None)
        if members is not None and field_name in members:
            members[field_name] = _ByteBufferMachine()


_PREPARED = False


def prepare_types() -> None:
    """Install the one-copy image serialiser (idempotent; called before the first topic is created)."""
    global _PREPARED
    if not _PREPARED:
        _install_byte_buffer(Image_, "data")
        _PREPARED = True
