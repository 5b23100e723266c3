"""Ego-camera sources behind one small interface (torch-free).

* :class:`OpenCVCamera` — V4L2/UVC through OpenCV (MJPG, size, fps), optionally keeping the left
  half of the G1 head's side-by-side stereo frame (480×1280 → 480×640; g1_spec §5).
* :class:`RealSenseCamera` — Intel RealSense colour stream, when ``pyrealsense2`` is installed.
* :class:`VideoFileCamera` — frames from a video file (PyAV), paced at the file's or a given rate.

Every frame is stamped at capture (``time.time_ns()`` right after the grab returns, or the
device's own system-time stamp where it has one): the policy measures observation age from it.
"""

from __future__ import annotations

import abc
import dataclasses
import time
from pathlib import Path

import numpy as np

from dit4dit_policy.errors import DeviceNotConnectedError


@dataclasses.dataclass(frozen=True)
class Frame:
    """One captured frame.

    Attributes:
        rgb: (H, W, 3) uint8 RGB.
        stamp_ns: capture time [ns, system clock].
        index: frame counter of the source (gaps reveal drops).
    """

    rgb: np.ndarray
    stamp_ns: int
    index: int


class Camera(abc.ABC):
    """A frame source. ``read`` blocks until the next frame (or raises on timeout/failure)."""

    def __enter__(self) -> Camera:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abc.abstractmethod
    def open(self) -> None:
        """Connect to the device or file.

        Raises:
            DeviceNotConnectedError: the device or file cannot be opened.
        """

    @abc.abstractmethod
    def read(self) -> Frame:
        """Next frame.

        Raises:
            DeviceNotConnectedError: not opened, or the device stopped delivering frames.
            EOFError: a (non-looping) video file ended.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device (idempotent)."""


def frames_elapsed(previous_stamp_ns: int | None, stamp_ns: int, fps: float) -> int:
    """Source frames that passed between two grabs, from their capture stamps (≥ 1).

    A UVC/V4L2 capture through OpenCV exposes no frame sequence number; with a one-frame buffer the
    newest frame is grabbed and older ones are overwritten, so a gap of ``k`` frame periods between
    two grabs means ``k - 1`` frames were never delivered. Rounded to the nearest period, so jitter
    below half a period counts no drop.

    Args:
        previous_stamp_ns: capture stamp of the previous grab [ns] (None: first frame).
        stamp_ns: capture stamp of this grab [ns].
        fps: the stream's nominal rate [Hz].
    """
    if previous_stamp_ns is None or fps <= 0:
        return 1
    return max(1, round((stamp_ns - previous_stamp_ns) * 1e-9 * fps))


def crop_left_half(rgb: np.ndarray) -> np.ndarray:
    """Left eye of a side-by-side stereo frame: (H, 2W, 3) → (H, W, 3) (g1_spec §5, binocular head camera)."""
    return rgb[:, : rgb.shape[1] // 2]


class OpenCVCamera(Camera):
    """V4L2/UVC camera through OpenCV.

    Args:
        device: ``/dev/videoN`` path or index.
        width, height: requested capture size [px] (the G1 head stereo camera delivers 1280×480).
        fps: requested rate [Hz].
        fourcc: pixel format, ``MJPG`` for UVC cameras at 30 Hz.
        left_half: keep only the left half (binocular head camera).
        read_timeout_s: consecutive failed reads for this long raise DeviceNotConnectedError.
    """

    def __init__(
        self,
        device: str | int = "/dev/video0",
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        fourcc: str = "MJPG",
        left_half: bool = False,
        read_timeout_s: float = 1.0,
    ) -> None:
        if len(fourcc) != 4:
            raise ValueError(f"fourcc must have 4 characters like 'MJPG', got {fourcc!r}")
        self.device, self.width, self.height, self.fps = device, width, height, fps
        self.fourcc, self.left_half, self.read_timeout_s = fourcc, left_half, read_timeout_s
        self._cap = None
        self._index = 0
        self._last_stamp_ns: int | None = None

    def open(self) -> None:
        """See :meth:`Camera.open`."""
        import cv2

        device = int(self.device) if isinstance(self.device, str) and self.device.isdigit() else self.device
        cap = (
            cv2.VideoCapture(device, cv2.CAP_V4L2)
            if not isinstance(device, int)
            else cv2.VideoCapture(device)
        )
        if not cap.isOpened():
            raise DeviceNotConnectedError(f"camera {self.device!r} could not be opened (V4L2)")
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*self.fourcc))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a queue of stale ones
        self._cap = cap

    def read(self) -> Frame:
        """See :meth:`Camera.read`."""
        import cv2

        if self._cap is None:
            raise DeviceNotConnectedError(f"camera {self.device!r} is not open")
        deadline = time.monotonic() + self.read_timeout_s
        while True:
            ok = self._cap.grab()
            stamp = time.time_ns()
            if ok:
                ok, bgr = self._cap.retrieve()
            if ok:
                break
            if time.monotonic() > deadline:
                raise DeviceNotConnectedError(
                    f"camera {self.device!r} delivered no frame for {self.read_timeout_s} s"
                )
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if self.left_half:
            rgb = np.ascontiguousarray(crop_left_half(rgb))
        # No sequence number from OpenCV: advance the index by the frame periods since the last grab,
        # so the camera node's gap counting reports frames that were overwritten before a grab.
        self._index += frames_elapsed(self._last_stamp_ns, stamp, self.fps)
        self._last_stamp_ns = stamp
        return Frame(rgb=rgb, stamp_ns=stamp, index=self._index)

    def close(self) -> None:
        """See :meth:`Camera.close`."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class RealSenseCamera(Camera):
    """Intel RealSense colour stream (``pyrealsense2``), stamped in the system time domain.

    Args:
        width, height: colour stream size [px].
        fps: colour stream rate [Hz].
        serial: device serial number (None = first device).
    """

    def __init__(self, width: int = 640, height: int = 480, fps: int = 30, serial: str | None = None) -> None:
        self.width, self.height, self.fps, self.serial = width, height, fps, serial
        self._pipeline = None

    def open(self) -> None:
        """See :meth:`Camera.open`."""
        try:
            import pyrealsense2 as rs
        except ImportError as exc:
            raise DeviceNotConnectedError(
                "RealSense source needs pyrealsense2 (pip install pyrealsense2)"
            ) from exc
        pipeline = rs.pipeline()
        config = rs.config()
        if self.serial:
            config.enable_device(self.serial)
        config.enable_stream(rs.stream.color, self.width, self.height, rs.format.rgb8, self.fps)
        try:
            pipeline.start(config)
        except RuntimeError as exc:
            raise DeviceNotConnectedError(f"RealSense could not start: {exc}") from exc
        self._pipeline = pipeline

    def read(self) -> Frame:
        """See :meth:`Camera.read`."""
        if self._pipeline is None:
            raise DeviceNotConnectedError("RealSense is not open")
        frames = self._pipeline.wait_for_frames(timeout_ms=1000)
        color = frames.get_color_frame()
        stamp = time.time_ns()
        rgb = np.asanyarray(color.get_data()).copy()
        return Frame(rgb=rgb, stamp_ns=stamp, index=int(color.get_frame_number()))

    def close(self) -> None:
        """See :meth:`Camera.close`."""
        if self._pipeline is not None:
            self._pipeline.stop()
            self._pipeline = None


class VideoFileCamera(Camera):
    """Frames of a video file, paced in real time like a live camera.

    Args:
        path: any container/codec PyAV decodes (mp4 with AV1/h264, …).
        rate_hz: emission rate; None uses the stream's average rate (30 Hz if unknown).
        loop: restart at the end instead of raising EOFError.
    """

    def __init__(self, path: str | Path, rate_hz: float | None = None, loop: bool = True) -> None:
        self.path, self.rate_hz, self.loop = Path(path), rate_hz, loop
        self._container = None
        self._frames = None
        self._next_due = 0.0
        self._index = 0

    def open(self) -> None:
        """See :meth:`Camera.open`."""
        import av

        if not self.path.is_file():
            raise DeviceNotConnectedError(f"video file {self.path} does not exist")
        self._container = av.open(str(self.path))
        stream = self._container.streams.video[0]
        if self.rate_hz is None:
            self.rate_hz = float(stream.average_rate) if stream.average_rate else 30.0
        self._frames = self._container.decode(stream)
        self._next_due = time.monotonic()

    def read(self) -> Frame:
        """See :meth:`Camera.read`."""
        if self._container is None:
            raise DeviceNotConnectedError(f"video file {self.path} is not open")
        try:
            frame = next(self._frames)
        except StopIteration:
            if not self.loop:
                raise EOFError(f"end of {self.path}") from None
            self.close()
            self.open()
            frame = next(self._frames)
        delay = self._next_due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next_due = max(self._next_due + 1.0 / self.rate_hz, time.monotonic() - 1.0 / self.rate_hz)
        self._index += 1
        return Frame(rgb=frame.to_ndarray(format="rgb24"), stamp_ns=time.time_ns(), index=self._index)

    def close(self) -> None:
        """See :meth:`Camera.close`."""
        if self._container is not None:
            self._container.close()
            self._container = None
            self._frames = None
