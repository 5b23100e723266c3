"""Payload ↔ ROS 2 message conversion for the rclpy backend (the only module that knows both)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from dit4dit_policy.ros import interfaces as itf


def to_time(stamp_ns: int) -> Time:
    """Integer ns → builtin_interfaces/Time."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def from_time(stamp: Time) -> int:
    """builtin_interfaces/Time → integer ns."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _header(stamp_ns: int, frame_id: str = "") -> Header:
    return Header(stamp=to_time(stamp_ns), frame_id=frame_id)


def image_to_msg(frame: itf.ImageFrame) -> Image:
    """ImageFrame → sensor_msgs/Image (rgb8)."""
    height, width, _ = frame.rgb.shape
    msg = Image(header=_header(frame.stamp_ns, frame.frame_id), height=height, width=width, encoding="rgb8")
    msg.is_bigendian = 0
    msg.step = 3 * width
    msg.data = np.ascontiguousarray(frame.rgb).tobytes()
    return msg


def image_from_msg(msg: Image) -> itf.ImageFrame:
    """sensor_msgs/Image (rgb8 or bgr8) → ImageFrame.

    Raises:
        ValueError: unsupported encoding or inconsistent size.
    """
    if msg.encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"image encoding must be rgb8 or bgr8, got {msg.encoding!r}")
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if msg.step < 3 * msg.width or data.size != msg.step * msg.height:
        raise ValueError(f"image of {msg.width}x{msg.height} step {msg.step} has {data.size} bytes")
    rgb = data.reshape(msg.height, msg.step)[:, : 3 * msg.width].reshape(msg.height, msg.width, 3)
    if msg.encoding == "bgr8":
        rgb = rgb[..., ::-1]
    return itf.ImageFrame(rgb=rgb, stamp_ns=from_time(msg.header.stamp), frame_id=msg.header.frame_id)


def camera_info_to_msg(info: itf.CameraInfoData) -> CameraInfo:
    """CameraInfoData → sensor_msgs/CameraInfo."""
    msg = CameraInfo(header=_header(info.stamp_ns, info.frame_id), height=info.height, width=info.width)
    msg.distortion_model = info.distortion_model
    msg.d = [float(x) for x in info.d]
    msg.k = [float(x) for x in info.k]
    msg.r = [float(x) for x in info.r]
    msg.p = [float(x) for x in info.p]
    return msg


def camera_info_from_msg(msg: CameraInfo) -> itf.CameraInfoData:
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


def joint_state_to_msg(state: itf.JointStateData) -> JointState:
    """JointStateData → sensor_msgs/JointState."""
    return JointState(
        header=_header(state.stamp_ns),
        name=list(state.names),
        position=state.position.tolist(),
        velocity=state.velocity.tolist(),
        effort=state.effort.tolist(),
    )


def joint_state_from_msg(msg: JointState) -> itf.JointStateData:
    """sensor_msgs/JointState → JointStateData."""
    return itf.JointStateData(
        names=tuple(msg.name),
        position=np.asarray(msg.position, dtype=np.float64),
        velocity=np.asarray(msg.velocity, dtype=np.float64),
        effort=np.asarray(msg.effort, dtype=np.float64),
        stamp_ns=from_time(msg.header.stamp),
    )


def trajectory_to_msg(traj: itf.TrajectoryData) -> JointTrajectory:
    """TrajectoryData → trajectory_msgs/JointTrajectory."""
    points = []
    for row, offset in zip(traj.positions, traj.time_from_start_ns, strict=True):
        sec, nanosec = divmod(int(offset), 1_000_000_000)
        points.append(
            JointTrajectoryPoint(positions=row.tolist(), time_from_start=Duration(sec=sec, nanosec=nanosec))
        )
    return JointTrajectory(header=_header(traj.stamp_ns), joint_names=list(traj.joint_names), points=points)


def trajectory_from_msg(msg: JointTrajectory) -> itf.TrajectoryData:
    """trajectory_msgs/JointTrajectory → TrajectoryData.

    Raises:
        ValueError: a point's length differs from the number of joint names.
    """
    n = len(msg.joint_names)
    rows = []
    for i, point in enumerate(msg.points):
        if len(point.positions) != n:
            raise ValueError(f"trajectory point {i} has {len(point.positions)} positions for {n} joints")
        rows.append(list(point.positions))
    offsets = [p.time_from_start.sec * 1_000_000_000 + p.time_from_start.nanosec for p in msg.points]
    return itf.TrajectoryData(
        joint_names=tuple(msg.joint_names),
        positions=np.asarray(rows, dtype=np.float64).reshape(len(rows), n),
        time_from_start_ns=np.asarray(offsets, dtype=np.int64),
        stamp_ns=from_time(msg.header.stamp),
    )


def diagnostics_to_msg(array: itf.DiagnosticArrayData) -> DiagnosticArray:
    """DiagnosticArrayData → diagnostic_msgs/DiagnosticArray."""
    status = []
    for s in array.status:
        msg = DiagnosticStatus(name=s.name, message=s.message, hardware_id=s.hardware_id)
        msg.level = bytes([int(s.level)])
        msg.values = [KeyValue(key=k, value=v) for k, v in s.values.items()]
        status.append(msg)
    return DiagnosticArray(header=_header(array.stamp_ns), status=status)


def diagnostics_from_msg(msg: DiagnosticArray) -> itf.DiagnosticArrayData:
    """diagnostic_msgs/DiagnosticArray → DiagnosticArrayData."""
    return itf.DiagnosticArrayData(
        status=tuple(
            itf.DiagnosticStatusData(
                name=s.name,
                level=itf.DiagnosticLevel(s.level[0] if isinstance(s.level, bytes) else int(s.level)),
                message=s.message,
                values={kv.key: kv.value for kv in s.values},
                hardware_id=s.hardware_id,
            )
            for s in msg.status
        ),
        stamp_ns=from_time(msg.header.stamp),
    )


#: Per message kind: (ROS message class, payload → message, message → payload).
CODECS: dict[itf.MsgKind, tuple[type, Callable[[Any], Any], Callable[[Any], Any]]] = {
    itf.MsgKind.IMAGE: (Image, image_to_msg, image_from_msg),
    itf.MsgKind.CAMERA_INFO: (CameraInfo, camera_info_to_msg, camera_info_from_msg),
    itf.MsgKind.JOINT_STATE: (JointState, joint_state_to_msg, joint_state_from_msg),
    itf.MsgKind.JOINT_TRAJECTORY: (JointTrajectory, trajectory_to_msg, trajectory_from_msg),
    itf.MsgKind.STRING: (String, lambda s: String(data=s), lambda msg: msg.data),
    itf.MsgKind.DIAGNOSTICS: (DiagnosticArray, diagnostics_to_msg, diagnostics_from_msg),
}
