"""Camera node: captures the ego camera, stamps each frame at capture, publishes Image + CameraInfo.

Sources: ``v4l2`` (OpenCV, MJPG), ``realsense`` (pyrealsense2), ``video`` (a file, paced in real
time) and ``sim`` (frames the MuJoCo bridge renders, republished unchanged with their render stamp).
Diagnostics on ``/diagnostics``: delivered rate, dropped frames, age at publish. Torch-free.

Topics (DESIGN.md §3): publishes ``/camera/ego/image_raw`` (sensor_msgs/Image, rgb8) and
``/camera/ego/camera_info`` with the same header, REP-2003 sensor QoS.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from pathlib import Path
from typing import Literal

from dit4dit_policy.robot.calibration import CameraIntrinsics, load_camera_intrinsics
from dit4dit_policy.robot.cameras import Camera, Frame, OpenCVCamera, RealSenseCamera, VideoFileCamera
from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.graph import LifecycleNode
from dit4dit_policy.ros.launcher import node_main


@dataclasses.dataclass
class CameraNodeConfig:
    """Parameters of the camera node (``camera_node: ros__parameters:``)."""

    #: frame source
    source: Literal["v4l2", "realsense", "video", "sim"] = "v4l2"
    #: V4L2 device path or index
    device: str = "/dev/video0"
    #: requested capture size [px] and rate [Hz]
    width: int = 640
    height: int = 480
    fps: float = 30.0
    #: V4L2 pixel format
    fourcc: str = "MJPG"
    #: keep the left half of a side-by-side stereo frame (G1 head camera, 1280×480)
    left_half: bool = False
    #: video file for source=video, and whether it loops
    video_path: str = ""
    loop: bool = True
    #: topic the simulator publishes rendered frames on (source=sim)
    sim_topic: str = "/sim/ego/image_raw"
    #: camera calibration YAML (empty: the package's calibration/ego_camera.yaml)
    camera_info_file: str = ""
    frame_id: str = "ego_camera_optical_frame"
    #: diagnostics period [s]
    diagnostics_period_s: float = 1.0

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.fps <= 0:
            raise ValueError(
                f"width, height and fps must be > 0, got {self.width}, {self.height}, {self.fps}"
            )
        if self.source == "video" and not self.video_path:
            raise ValueError("source 'video' needs video_path")
        if self.diagnostics_period_s <= 0:
            raise ValueError(f"diagnostics_period_s must be > 0, got {self.diagnostics_period_s}")


class FrameStats:
    """Rate, drops and age of a frame stream over a sliding window (not thread-safe; guard externally)."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._arrivals: deque[float] = deque()
        self.frames = 0
        self.dropped = 0
        self.last_age_ms = float("nan")
        self._last_index: int | None = None

    def record(self, index: int, stamp_ns: int, now_ns: int) -> None:
        """Count one delivered frame with source counter ``index`` captured at ``stamp_ns``."""
        now = time.monotonic()
        self._arrivals.append(now)
        while self._arrivals and now - self._arrivals[0] > self.window_s:
            self._arrivals.popleft()
        if self._last_index is not None and index > self._last_index + 1:
            self.dropped += index - self._last_index - 1
        self._last_index = index
        self.frames += 1
        self.last_age_ms = (now_ns - stamp_ns) / 1e6

    @property
    def rate_hz(self) -> float:
        """Delivered frames per second over the window."""
        if len(self._arrivals) < 2:
            return 0.0
        span = self._arrivals[-1] - self._arrivals[0]
        return (len(self._arrivals) - 1) / span if span > 0 else 0.0


def _camera_info(intrinsics: CameraIntrinsics, frame_id: str) -> itf.CameraInfoData:
    return itf.CameraInfoData(
        width=intrinsics.width,
        height=intrinsics.height,
        k=tuple(intrinsics.k.ravel()),
        d=tuple(intrinsics.d.ravel()),
        r=tuple(intrinsics.r.ravel()),
        p=tuple(intrinsics.p.ravel()),
        distortion_model=intrinsics.distortion_model,
        frame_id=frame_id,
    )


class CameraNode(LifecycleNode):
    """Ego camera driver node (configure opens the source, activate starts publishing)."""

    NAME = "camera_node"
    CONFIG = CameraNodeConfig

    def on_configure(self) -> bool:
        """Lifecycle ``on_configure`` (see :class:`~dit4dit_policy.ros.graph.LifecycleNode`)."""
        cfg: CameraNodeConfig = self.config
        self._intrinsics = load_camera_intrinsics(cfg.camera_info_file or None)
        self._info_cache: dict[tuple[int, int], itf.CameraInfoData] = {}
        self._stats = FrameStats()
        self._lock = threading.Lock()
        self._active = threading.Event()
        self._stop = threading.Event()
        self._pub_image = self.graph.create_publisher(itf.TOPIC_IMAGE, itf.MsgKind.IMAGE, itf.SENSOR_QOS)
        self._pub_info = self.graph.create_publisher(
            itf.TOPIC_CAMERA_INFO, itf.MsgKind.CAMERA_INFO, itf.SENSOR_QOS
        )
        self._pub_diag = self.graph.create_publisher(
            itf.TOPIC_DIAGNOSTICS, itf.MsgKind.DIAGNOSTICS, itf.RELIABLE_QOS
        )
        self._camera: Camera | None = None
        self._thread: threading.Thread | None = None
        self._sim_sub = None
        self._sim_index = 0
        if cfg.source == "sim":
            self._sim_sub = self.graph.create_subscription(
                cfg.sim_topic, itf.MsgKind.IMAGE, itf.SENSOR_QOS, self._on_sim_frame
            )
        else:
            self._camera = self._make_camera(cfg)
            self._camera.open()
            self._thread = threading.Thread(target=self._capture_loop, name="camera-capture", daemon=True)
            self._thread.start()
        self._diag_timer = self.graph.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics)
        return True

    @staticmethod
    def _make_camera(cfg: CameraNodeConfig) -> Camera:
        if cfg.source == "v4l2":
            return OpenCVCamera(cfg.device, cfg.width, cfg.height, cfg.fps, cfg.fourcc, cfg.left_half)
        if cfg.source == "realsense":
            return RealSenseCamera(cfg.width, cfg.height, int(cfg.fps))
        return VideoFileCamera(Path(cfg.video_path), rate_hz=cfg.fps, loop=cfg.loop)

    def on_activate(self) -> bool:
        """Lifecycle ``on_activate`` (see :class:`~dit4dit_policy.ros.graph.LifecycleNode`)."""
        self._active.set()
        return True

    def on_deactivate(self) -> bool:
        """Lifecycle ``on_deactivate`` (see :class:`~dit4dit_policy.ros.graph.LifecycleNode`)."""
        self._active.clear()
        return True

    def on_cleanup(self) -> bool:
        """Lifecycle ``on_cleanup`` (see :class:`~dit4dit_policy.ros.graph.LifecycleNode`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._camera is not None:
            self._camera.close()
        if self._sim_sub is not None:
            self._sim_sub.destroy()
        self._diag_timer.destroy()
        return True

    def on_shutdown(self) -> None:
        """Lifecycle ``on_shutdown`` (see :class:`~dit4dit_policy.ros.graph.LifecycleNode`)."""
        if getattr(self, "_camera", None) is not None:
            self._stop.set()
            self._camera.close()

    # Frames -------------------------------------------------------------------------------------

    def _capture_loop(self) -> None:
        assert self._camera is not None
        while not self._stop.is_set():
            try:
                frame = self._camera.read()
            except EOFError:
                self.logger.info("video source ended")
                self.graph.request_shutdown("video ended")
                return
            except Exception as exc:
                self.logger.error("camera read failed: %s", exc)
                self.exit_code = 1
                self.graph.request_shutdown(f"camera failure: {exc}")
                return
            if self._active.is_set():
                self._publish(frame)

    def _on_sim_frame(self, image: itf.ImageFrame) -> None:
        if self._active.is_set():
            self._sim_index += 1
            self._publish(Frame(rgb=image.rgb, stamp_ns=image.stamp_ns, index=self._sim_index))

    def _publish(self, frame: Frame) -> None:
        height, width = frame.rgb.shape[:2]
        info = self._info_cache.get((width, height))
        if info is None:
            info = _camera_info(self._intrinsics.scaled(width, height), self.config.frame_id)
            self._info_cache[(width, height)] = info
        self._pub_image.publish(
            itf.ImageFrame(rgb=frame.rgb, stamp_ns=frame.stamp_ns, frame_id=self.config.frame_id)
        )
        self._pub_info.publish(info.with_stamp(frame.stamp_ns))
        with self._lock:
            self._stats.record(frame.index, frame.stamp_ns, time.time_ns())

    def _publish_diagnostics(self) -> None:
        with self._lock:
            rate, dropped, age, frames = (
                self._stats.rate_hz,
                self._stats.dropped,
                self._stats.last_age_ms,
                self._stats.frames,
            )
        expected = self.config.fps
        if frames == 0 or rate < 0.5 * expected:
            level, message = itf.DiagnosticLevel.WARN, "no frames" if frames == 0 else "low frame rate"
        else:
            level, message = itf.DiagnosticLevel.OK, "streaming"
        status = itf.DiagnosticStatusData(
            name=f"{self.graph.node_name}: ego camera",
            level=level,
            message=message,
            values=itf.diagnostic_values(
                {
                    "source": self.config.source,
                    "rate_hz": rate,
                    "frames": frames,
                    "dropped": dropped,
                    "age_ms": age,
                }
            ),
        )
        self._pub_diag.publish(itf.DiagnosticArrayData(status=(status,), stamp_ns=self.graph.now_ns()))


def main(argv: list[str] | None = None) -> int:
    """``camera_node`` executable."""
    return node_main(CameraNode, argv)


if __name__ == "__main__":
    raise SystemExit(main())
