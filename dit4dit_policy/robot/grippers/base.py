"""The gripper interface: a 1-D normalised opening in [0, 1] (1 = open) as command and state.

Drivers never block the control loop: :meth:`Gripper.set_target` only stores the target and
:meth:`Gripper.reading` returns the newest measurement; device I/O runs in the driver's own
thread (:class:`ThreadedGripper`) at its own rate.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import math
import threading
import time

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class GripperReading:
    """One gripper measurement.

    Attributes:
        opening: normalised opening in [0, 1] (1 = open); NaN if never measured.
        stamp_ns: system time of the measurement [ns] (0 if never measured).
        received_s: monotonic time of the measurement [s] (-inf if never measured).
        error: the driver's last error, or None.
    """

    opening: float = math.nan
    stamp_ns: int = 0
    received_s: float = -math.inf
    error: str | None = None

    def age_s(self, now_s: float | None = None) -> float:
        """Seconds since the measurement (inf if never measured)."""
        return (time.monotonic() if now_s is None else now_s) - self.received_s


def check_opening(opening: float) -> float:
    """``opening`` as a float clipped to [0, 1].

    Raises:
        ValueError: not a finite number.
    """
    value = float(opening)
    if not math.isfinite(value):
        raise ValueError(f"gripper opening must be a finite number in [0, 1] (1 = open), got {opening!r}")
    return min(max(value, 0.0), 1.0)


class Gripper(abc.ABC):
    """A 1-D gripper.

    Args:
        name: for logs and diagnostics (e.g. ``left_gripper``).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._target: float | None = None

    @property
    def target(self) -> float | None:
        """The last commanded opening (None before the first command)."""
        return self._target

    def set_target(self, opening: float) -> None:
        """Command an opening in [0, 1] (clipped); non-blocking.

        Raises:
            ValueError: not a finite number.
        """
        self._target = check_opening(opening)

    @abc.abstractmethod
    def reading(self) -> GripperReading:
        """The newest measurement (non-blocking)."""

    def start(self) -> None:  # noqa: B027 (optional hook)
        """Connect and start I/O (default: nothing to do)."""

    def stop(self) -> None:  # noqa: B027 (optional hook)
        """Stop I/O and release the device (default: nothing to do)."""


class ThreadedGripper(Gripper):
    """A gripper whose device I/O runs in a background thread at ``rate_hz``.

    Subclasses implement :meth:`_open`, :meth:`_io` (send the target if any, return the measured
    opening) and :meth:`_close`. I/O errors are logged once per distinct message, kept in the
    reading, and retried at the next period.
    """

    def __init__(self, name: str, rate_hz: float) -> None:
        super().__init__(name)
        if not (isinstance(rate_hz, (int, float)) and 1.0 <= rate_hz <= 1000.0):
            raise ValueError(f"{name}: rate_hz must be in [1, 1000], got {rate_hz!r}")
        self.rate_hz = float(rate_hz)
        self._reading = GripperReading()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.io_errors = 0

    def reading(self) -> GripperReading:
        """The newest measurement (non-blocking)."""
        return self._reading

    @abc.abstractmethod
    def _open(self) -> None:
        """Open the device (called in :meth:`start`, in the caller's thread, so errors propagate)."""

    @abc.abstractmethod
    def _io(self, target: float | None) -> float | None:
        """Send ``target`` (if not None) and return the measured opening (None if unavailable)."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Release the device."""

    def start(self) -> None:
        """Open the device and start the I/O thread."""
        if self._thread is not None:
            return
        self._open()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"gripper-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the I/O thread and close the device."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self._close()

    def _run(self) -> None:
        period = 1.0 / self.rate_hz
        next_t = time.monotonic()
        last_error: str | None = None
        while not self._stop.is_set():
            try:
                opening = self._io(self._target)
            except Exception as exc:  # the I/O thread must survive device errors; they are reported
                self.io_errors += 1
                message = f"{type(exc).__name__}: {exc}"
                if message != last_error:
                    logger.warning("%s: I/O error: %s", self.name, message)
                last_error = message
                self._reading = dataclasses.replace(self._reading, error=message)
            else:
                last_error = None
                if opening is not None:
                    value = min(max(float(opening), 0.0), 1.0) if math.isfinite(opening) else math.nan
                    self._reading = GripperReading(value, time.time_ns(), time.monotonic(), None)
            next_t += period
            delay = next_t - time.monotonic()
            if delay < 0:
                next_t = time.monotonic()
            else:
                self._stop.wait(delay)
