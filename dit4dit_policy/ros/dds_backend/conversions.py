"""Payload ↔ DDS message conversion for the CycloneDDS backend (the only module that knows both).

Stamps: ``builtin_interfaces/Time`` (sec, nanosec) ↔ integer ns of the system clock.
Images: rgb8, row-major, ``step = 3·width``; received data is wrapped without copying.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.dds_backend import messages as m


def to_time(stamp_ns: int) -> m.Time_:
    """Integer ns → builtin_interfaces/Time.

    Raises:
        ValueError: negative stamp.
    """
    if stamp_ns < 0:
        raise ValueError(f"stamp must be >= 0 ns, got {stamp_ns}")
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return m.Time_(sec=sec, nanosec=nanosec)


def from_time(stamp: m.Time_) -> int:
    """builtin_interfaces/Time → integer ns."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _header(stamp_ns: int, frame_id: str = "") -> m.Header_:
    return m.Header_(stamp=to_time(stamp_ns), frame_id=frame_id)


def image_to_msg(frame: itf.ImageFrame) -> m.Image_:
    """ImageFrame → sensor_msgs/Image (rgb8)."""
    height, width, _ = frame.rgb.shape
    return m.Image_(
        header=_header(frame.stamp_ns, frame.frame_id),
        height=height,
        width=width,
        encoding="rgb8",
        is_bigendian=0,
        step=3 * width,
        data=np.ascontiguousarray(frame.rgb),
    )


def image_from_msg(msg: m.Image_) -> itf.ImageFrame:
    """sensor_msgs/Image (rgb8 or bgr8) → ImageFrame.

    Raises:
        ValueError: unsupported encoding or inconsistent size.
    """
    if msg.encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"image encoding must be rgb8 or bgr8, got {msg.encoding!r}")
    data = msg.data if isinstance(msg.data, (bytes, bytearray)) else bytes(msg.data)
    if msg.step < 3 * msg.width or len(data) != msg.step * msg.height:
        raise ValueError(f"image of {msg.width}x{msg.height} step {msg.step} has {len(data)} bytes")
    rows = np.frombuffer(data, dtype=np.uint8).reshape(msg.height, msg.step)
    rgb = rows[:, : 3 * msg.width].reshape(msg.height, msg.width, 3)
    if msg.encoding == "bgr8":
        rgb = rgb[..., ::-1]
    return itf.ImageFrame(rgb=rgb, stamp_ns=from_time(msg.header.stamp), frame_id=msg.header.frame_id)


def camera_info_to_msg(info: itf.CameraInfoData) -> m.CameraInfo_:
    """CameraInfoData → sensor_msgs/CameraInfo."""
    return m.CameraInfo_(
        header=_header(info.stamp_ns, info.frame_id),
        height=info.height,
        width=info.width,
        distortion_model=info.distortion_model,
        d=[float(x) for x in info.d],
        k=[float(x) for x in info.k],
        r=[float(x) for x in info.r],
        p=[float(x) for x in info.p],
    )


def camera_info_from_msg(msg: m.CameraInfo_) -> itf.CameraInfoData:
    """sensor_msgs/CameraInfo → CameraInfoData."""
    return itf.CameraInfoData(
        width=int(msg.width),
        height=int(msg.height),
        k=tuple(msg.k),
        d=tuple(msg.d),
        r=tuple(msg.r),
        p=tuple(msg.p),
        distortion_model=msg.distortion_model,
        stamp_ns=from_time(msg.header.stamp),
        frame_id=msg.header.frame_id,
    )


def joint_state_to_msg(state: itf.JointStateData) -> m.JointState_:
    """JointStateData → sensor_msgs/JointState."""
    return m.JointState_(
        header=_header(state.stamp_ns),
        name=list(state.names),
        position=state.position.tolist(),
        velocity=state.velocity.tolist(),
        effort=state.effort.tolist(),
    )


def joint_state_from_msg(msg: m.JointState_) -> itf.JointStateData:
    """sensor_msgs/JointState → JointStateData."""
    return itf.JointStateData(
        names=tuple(msg.name),
        position=np.asarray(msg.position, dtype=np.float64),
        velocity=np.asarray(msg.velocity, dtype=np.float64),
        effort=np.asarray(msg.effort, dtype=np.float64),
        stamp_ns=from_time(msg.header.stamp),
    )


def trajectory_to_msg(traj: itf.TrajectoryData) -> m.JointTrajectory_:
    """TrajectoryData → trajectory_msgs/JointTrajectory (header stamp = observation time)."""
    points = []
    for row, offset in zip(traj.positions, traj.time_from_start_ns, strict=True):
        sec, nanosec = divmod(int(offset), 1_000_000_000)
        points.append(
            m.JointTrajectoryPoint_(
                positions=row.tolist(), time_from_start=m.Duration_(sec=sec, nanosec=nanosec)
            )
        )
    return m.JointTrajectory_(
        header=_header(traj.stamp_ns), joint_names=list(traj.joint_names), points=points
    )


def trajectory_from_msg(msg: m.JointTrajectory_) -> itf.TrajectoryData:
    """trajectory_msgs/JointTrajectory → TrajectoryData.

    Raises:
        ValueError: a point's length differs from the number of joint names.
    """
    n = len(msg.joint_names)
    rows = []
    for i, point in enumerate(msg.points):
        if len(point.positions) != n:
            raise ValueError(f"trajectory point {i} has {len(point.positions)} positions for {n} joints")
        rows.append(point.positions)
    offsets = [p.time_from_start.sec * 1_000_000_000 + p.time_from_start.nanosec for p in msg.points]
    return itf.TrajectoryData(
        joint_names=tuple(msg.joint_names),
        positions=np.asarray(rows, dtype=np.float64).reshape(len(rows), n),
        time_from_start_ns=np.asarray(offsets, dtype=np.int64),
        stamp_ns=from_time(msg.header.stamp),
    )


def diagnostics_to_msg(array: itf.DiagnosticArrayData) -> m.DiagnosticArray_:
    """DiagnosticArrayData → diagnostic_msgs/DiagnosticArray."""
    return m.DiagnosticArray_(
        header=_header(array.stamp_ns),
        status=[
            m.DiagnosticStatus_(
                level=int(s.level),
                name=s.name,
                message=s.message,
                hardware_id=s.hardware_id,
                values=[m.KeyValue_(key=k, value=v) for k, v in s.values.items()],
            )
            for s in array.status
        ],
    )


def diagnostics_from_msg(msg: m.DiagnosticArray_) -> itf.DiagnosticArrayData:
    """diagnostic_msgs/DiagnosticArray → DiagnosticArrayData."""
    return itf.DiagnosticArrayData(
        status=tuple(
            itf.DiagnosticStatusData(
                name=s.name,
                level=itf.DiagnosticLevel(int(s.level)),
                message=s.message,
                values={kv.key: kv.value for kv in s.values},
                hardware_id=s.hardware_id,
            )
            for s in msg.status
        ),
        stamp_ns=from_time(msg.header.stamp),
    )


#: Per message kind: (DDS type, payload → message, message → payload).
CODECS: dict[itf.MsgKind, tuple[type, Callable[[Any], Any], Callable[[Any], Any]]] = {
    itf.MsgKind.IMAGE: (m.Image_, image_to_msg, image_from_msg),
    itf.MsgKind.CAMERA_INFO: (m.CameraInfo_, camera_info_to_msg, camera_info_from_msg),
    itf.MsgKind.JOINT_STATE: (m.JointState_, joint_state_to_msg, joint_state_from_msg),
    itf.MsgKind.JOINT_TRAJECTORY: (m.JointTrajectory_, trajectory_to_msg, trajectory_from_msg),
    itf.MsgKind.STRING: (m.String_, lambda s: m.String_(data=s), lambda msg: msg.data),
    itf.MsgKind.DIAGNOSTICS: (m.DiagnosticArray_, diagnostics_to_msg, diagnostics_from_msg),
}
