"""A teleop session: the pose server, the retargeter and the bookkeeping between them.

Used by the teleop node (which publishes each target as a short action chunk for the controller)
and by in-process simulator loops (which step the environment with it). One :meth:`tick` per
control period; after the caller has *applied* the target (published the chunk, stepped the sim)
it calls :meth:`applied`, which echoes the pose's client timestamp to the page — so the page's
measured loop latency spans pose sampling → command out → echo back.

Optionally every received pose message is appended to a JSON-lines pose log (one
:func:`~dit4dit_policy.teleop.protocol.encode_frame` object plus ``received_ns`` per line) that
:mod:`dit4dit_policy.teleop.client` can stream again — a headset session replayed without the
headset. Torch-free.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO

import numpy as np

from dit4dit_policy.teleop.protocol import XrFrame, encode_frame
from dit4dit_policy.teleop.retarget import Retargeter, RetargetResult
from dit4dit_policy.teleop.server import TeleopServer

logger = logging.getLogger(__name__)

#: How often the page gets a status message while no arm is engaged [s].
IDLE_STATUS_PERIOD_S = 0.5


class PoseLog:
    """Appends received pose messages to a JSON-lines file (thread-safe, line-buffered).

    Args:
        path: output file (appended to; parent directories are created).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = self.path.open("a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()
        self.count = 0

    def __call__(self, frame: XrFrame) -> None:
        """Write one frame (ignored after :meth:`close`)."""
        record = json.loads(encode_frame(frame))
        record["received_ns"] = frame.received_ns
        line = json.dumps(record, separators=(",", ":"))
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")
                self.count += 1

    def close(self) -> None:
        """Flush and close the file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


@dataclasses.dataclass(frozen=True)
class SessionStats:
    """Rolling numbers of a session for diagnostics.

    Attributes:
        ticks: control ticks run.
        engaged_ticks: ticks with at least one arm engaged.
        server_ms_p50: median time a pose spent in this process, receive → applied [ms].
        server_ms_max: maximum of the same over the window [ms].
        ik_error_mm_max: largest IK residual over the window [mm] (nan if never engaged).
    """

    ticks: int
    engaged_ticks: int
    server_ms_p50: float
    server_ms_max: float
    ik_error_mm_max: float


class TeleopSession:
    """Server + retargeter.

    Args:
        server: a started (or to-be-started) pose server.
        retargeter: the XR → 16-D mapping.
        window: number of recent ticks kept for the statistics.
    """

    def __init__(self, server: TeleopServer, retargeter: Retargeter, window: int = 300) -> None:
        self.server = server
        self.retargeter = retargeter
        self._acked_seq: int | None = None
        self._last_status = 0.0
        self._server_ms: deque[float] = deque(maxlen=window)
        self._ik_error_mm: deque[float] = deque(maxlen=window)
        self.ticks = 0
        self.engaged_ticks = 0

    def tick(
        self, dt_s: float, q_measured: np.ndarray | None = None, now_ns: int | None = None
    ) -> RetargetResult:
        """Newest pose → 16-D target.

        Args:
            dt_s: control period [s].
            q_measured: newest measured (16,) state (seeds the command; re-seeds while idle).
            now_ns: current system time [ns] (default ``time.time_ns()``).

        Returns:
            The retargeting result (see :class:`~dit4dit_policy.teleop.retarget.RetargetResult`).

        Raises:
            RuntimeError: no measured state has been given yet.
        """
        if q_measured is not None:
            self.retargeter.observe_measured(q_measured)
        result = self.retargeter.update(
            self.server.latest(), time.time_ns() if now_ns is None else now_ns, dt_s
        )
        self.ticks += 1
        if result.any_engaged:
            self.engaged_ticks += 1
            errors = [e for e in result.tcp_error_m if not math.isnan(e)]
            if errors:
                self._ik_error_mm.append(1e3 * max(errors))
        return result

    def applied(self, result: RetargetResult) -> None:
        """The target of ``result`` is out: acknowledge its pose to the page (once per pose message)."""
        frame = result.frame
        if frame is not None and frame.seq != self._acked_seq and result.any_engaged:
            self._acked_seq = frame.seq
            if frame.received_ns:
                self._server_ms.append((time.time_ns() - frame.received_ns) / 1e6)
            self.server.acknowledge(frame, result.status())
            return
        now = time.monotonic()
        if now - self._last_status >= IDLE_STATUS_PERIOD_S:
            self._last_status = now
            self.server.send_json(json.dumps({"type": "status", "state": result.status()}))

    def stats(self) -> SessionStats:
        """Rolling statistics (see :class:`SessionStats`)."""
        server_ms = np.array(self._server_ms) if self._server_ms else np.array([math.nan])
        return SessionStats(
            ticks=self.ticks,
            engaged_ticks=self.engaged_ticks,
            server_ms_p50=float(np.median(server_ms)),
            server_ms_max=float(np.max(server_ms)),
            ik_error_mm_max=float(max(self._ik_error_mm)) if self._ik_error_mm else math.nan,
        )
