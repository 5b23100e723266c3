"""Streaming MP4 encoding and decoding of RGB frames with PyAV (torch-free).

Encoding follows LeRobot's defaults (``encode_video_frames``: libsvtav1, yuv420p, crf 30, g 2;
reference/environment.md "Datasets and video"); h264 (libx264, crf 23, g 2) is the option for
players that lack AV1. Frames go to a background thread with a bounded queue, so a recorder's
``add_frame`` costs one copy while the encoder works beside it, and no episode is ever held in
RAM as raw frames.

Each frame's presentation time is its recorded timestamp on a 1/90000 s clock (MP4's usual
video clock), so the video and the parquet ``timestamp`` column agree to ≤ 6 µs — LeRobot's
decoders look frames up by timestamp with a 1e-4 s tolerance.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np

from dit4dit_policy.errors import DatasetError

logger = logging.getLogger(__name__)

#: Time base of written streams [s per tick].
TIME_BASE = Fraction(1, 90000)

#: codec name in info.json → (FFmpeg encoder, default options). LeRobot: g 2, crf 30 for AV1.
ENCODERS = {
    "av1": ("libsvtav1", {"crf": "30", "g": "2"}),
    "h264": ("libx264", {"crf": "23", "g": "2", "preset": "veryfast"}),
}

_SENTINEL = object()


class VideoStreamWriter:
    """Encode (H, W, 3) uint8 RGB frames into an MP4 file as they arrive.

    Args:
        path: output file (written in place; callers encode into a staging path and rename).
        height: frame height [px], even.
        width: frame width [px], even.
        fps: nominal frame rate [Hz] (rate control; frame times come from the timestamps).
        codec: ``"av1"`` or ``"h264"``.
        options: extra/overriding FFmpeg encoder options, e.g. ``{"crf": "28"}``.
        threaded: encode in a background thread (default) instead of inside :meth:`write`.
        queue_frames: frames buffered for the background thread before :meth:`write` blocks.

    Raises:
        ValueError: unknown codec or bad size.
        DatasetError: the encoder cannot be opened.
    """

    def __init__(
        self,
        path: str | Path,
        height: int,
        width: int,
        fps: float,
        codec: str = "av1",
        options: dict[str, str] | None = None,
        threaded: bool = True,
        queue_frames: int = 32,
    ) -> None:
        import av

        if codec not in ENCODERS:
            raise ValueError(f"codec must be one of {sorted(ENCODERS)}, got {codec!r}")
        if height <= 0 or width <= 0 or height % 2 or width % 2:
            raise ValueError(f"frame size must be positive and even (yuv420p), got {height}×{width}")
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner on stderr otherwise
        self.path = Path(path)
        self.height, self.width = int(height), int(width)
        self.frames_written = 0
        self._last_pts = -1
        self._error: BaseException | None = None
        encoder, defaults = ENCODERS[codec]
        try:
            self._container = av.open(str(self.path), mode="w")
            self._stream = self._container.add_stream(
                encoder, rate=Fraction(fps).limit_denominator(1001), options={**defaults, **(options or {})}
            )
            self._stream.width, self._stream.height = self.width, self.height
            self._stream.pix_fmt = "yuv420p"
            self._stream.codec_context.time_base = TIME_BASE
            self._stream.time_base = TIME_BASE
        except (av.FFmpegError, ValueError) as exc:
            raise DatasetError(f"cannot open a {codec} ({encoder}) encoder for {self.path}: {exc}") from exc
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue(maxsize=max(1, queue_frames))
            self._thread = threading.Thread(target=self._worker, name=f"encode-{self.path.name}", daemon=True)
            self._thread.start()

    def _encode(self, frame: np.ndarray, pts: int) -> None:
        import av

        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        video_frame.pts = pts
        video_frame.time_base = TIME_BASE
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)

    def _worker(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is _SENTINEL:
                return
            if self._error is not None:
                continue  # drain after a failure; the error is raised to the caller
            try:
                self._encode(*item)
            except BaseException as exc:  # re-raised in the caller's thread by _check
                self._error = exc

    def _check(self) -> None:
        if self._error is not None:
            raise DatasetError(f"video encoding of {self.path} failed: {self._error}") from self._error

    def write(self, frame: np.ndarray, timestamp_s: float) -> None:
        """Queue one frame.

        Args:
            frame: (H, W, 3) uint8 RGB, the size given at construction.
            timestamp_s: presentation time from the start of the file [s], increasing.

        Raises:
            ValueError: wrong shape/dtype or a timestamp that does not increase by ≥ 1 tick.
            DatasetError: the encoder failed on an earlier frame.
        """
        self._check()
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"frame must be ({self.height}, {self.width}, 3) uint8 RGB, got {frame.shape} {frame.dtype}"
            )
        pts = round(float(timestamp_s) / TIME_BASE)
        if pts <= self._last_pts:
            raise ValueError(
                f"frame timestamps must increase, got {timestamp_s} s after pts {self._last_pts}"
            )
        self._last_pts = pts
        if self._queue is not None:
            self._queue.put((np.ascontiguousarray(frame).copy(), pts))
        else:
            self._encode(np.ascontiguousarray(frame), pts)
        self.frames_written += 1

    def close(self) -> int:
        """Flush the encoder and finish the file.

        Returns:
            The number of frames written.

        Raises:
            DatasetError: encoding failed.
        """
        if self._thread is not None and self._queue is not None:
            self._queue.put(_SENTINEL)
            self._thread.join()
            self._thread = None
        try:
            self._check()
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()
        return self.frames_written

    def abort(self) -> None:
        """Stop encoding and delete the partial file (errors are logged, not raised)."""
        if self._thread is not None and self._queue is not None:
            self._error = self._error or RuntimeError("aborted")
            self._queue.put(_SENTINEL)
            self._thread.join()
            self._thread = None
        try:
            self._container.close()
        except Exception as exc:  # a half-initialised container may fail to close; the file goes anyway
            logger.debug("closing aborted video %s: %s", self.path, exc)
        self.path.unlink(missing_ok=True)


def decode_frames(
    path: str | Path,
    start_s: float = 0.0,
    end_s: float | None = None,
    size: tuple[int, int] | None = None,
    tolerance_s: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode the frames of ``path`` whose time lies in ``[start_s, end_s)``.

    Args:
        path: MP4 (or any container FFmpeg reads) with one video stream.
        start_s: first frame time to keep [s] (episode's ``from_timestamp`` in a v3.0 file).
        end_s: end of the segment [s] (exclusive), None = to the end of the file.
        size: optional (height, width) to rescale to while decoding (swscale bilinear).
        tolerance_s: slack on both bounds [s] (LeRobot's default tolerance).

    Returns:
        frames (N, H, W, 3) uint8 RGB and their times (N,) float64 [s].

    Raises:
        DatasetError: the file is missing or cannot be decoded.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"video file {path} does not exist")
    frames, times = [], []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DatasetError(f"video file {path} has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if start_s > tolerance_s and stream.time_base is not None:
                container.seek(int((start_s - tolerance_s) / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                time_s = float(frame.pts * frame.time_base) if frame.pts is not None else float(len(times))
                if time_s < start_s - tolerance_s:
                    continue
                if end_s is not None and time_s >= end_s - tolerance_s:
                    break
                if size is not None:
                    frame = frame.reformat(width=size[1], height=size[0], interpolation="BILINEAR")
                frames.append(frame.to_ndarray(format="rgb24"))
                times.append(time_s)
    except av.FFmpegError as exc:
        raise DatasetError(f"video file {path} cannot be decoded: {exc}") from exc
    if not frames:
        return np.zeros((0, 0, 0, 3), dtype=np.uint8), np.zeros(0)
    return np.stack(frames), np.asarray(times)
