"""Fixed-rate loop with absolute deadlines on the monotonic clock, and its period statistics.

Tick k is due at ``t0 + k·period`` (``time.monotonic``), so errors never accumulate (no drift).
The loop sleeps until ``deadline - spin_s`` and then spins on the clock for the last
``spin_s`` (default 0.5 ms) to absorb the wake-up latency of ``time.sleep`` (g1_spec §1.6: 250 Hz
arm threads, 500 Hz lowcmd writers). 0.5 ms is measured, not guessed: on the 2-core CI machine with
one core kept busy, ``dit4dit bench controller`` gave a p99 period deviation at 250 Hz of 0.41-0.89 ms
with 0.2 ms of spin and 0.001 ms with 0.5 ms (docs/controller.md, "Loop timing"); it costs
~12 % of a core at 250 Hz. A tick that ends after the next deadline is an overrun; if it
ends more than a whole period late, the deadlines it missed are skipped (never executed in a
burst) and counted.

Statistics are kept in a fixed ring buffer (no allocation per tick): wake-up period, lateness
(actual start − deadline) and work time, with p50/p99/max, see :meth:`LoopStats.summary`.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class LoopConfig:
    """Timing of the control loop.

    Attributes:
        rate_hz: tick rate [Hz]; 250 default (xr_teleoperate/IL arm thread, g1_spec §1.6), up to 1000.
        spin_s: final busy-wait before each deadline [s]; 0 disables spinning.
        stats_window: number of ticks kept for the statistics (30 s at 500 Hz by default).
        realtime_priority: SCHED_FIFO priority 1..99 to request for the loop thread, or None.
            Needs CAP_SYS_NICE; if refused, a warning is logged and the loop runs normally.
        gil_switch_interval_s: process-wide ``sys.setswitchinterval`` applied when the loop starts,
            or None to leave it. CPython's default (5 ms) lets another busy Python thread delay the
            loop thread's wake-up by up to 5 ms; 0.5 ms bounds that.
        freeze_gc: call ``gc.freeze()`` when the loop starts, so that later full collections do not
            scan the (many, long-lived) objects created during setup.
    """

    rate_hz: float = 250.0
    spin_s: float = 0.0005
    stats_window: int = 15000
    realtime_priority: int | None = None
    gil_switch_interval_s: float | None = 0.0005
    freeze_gc: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.rate_hz, (int, float)) and 1.0 <= self.rate_hz <= 1000.0):
            raise ValueError(f"loop.rate_hz must be in [1, 1000] Hz, got {self.rate_hz!r}")
        if not (isinstance(self.spin_s, (int, float)) and 0.0 <= self.spin_s <= 0.5 / self.rate_hz):
            raise ValueError(
                f"loop.spin_s must be in [0, half a period = {0.5 / self.rate_hz:g}] s, got {self.spin_s!r}"
            )
        if not (isinstance(self.stats_window, int) and 10 <= self.stats_window <= 10_000_000):
            raise ValueError(f"loop.stats_window must be an int in [10, 1e7], got {self.stats_window!r}")
        interval = self.gil_switch_interval_s
        if interval is not None and not (isinstance(interval, (int, float)) and 1e-5 <= interval <= 0.1):
            raise ValueError(f"loop.gil_switch_interval_s must be in [1e-5, 0.1] s or null, got {interval!r}")
        if self.realtime_priority is not None and not 1 <= self.realtime_priority <= 99:
            raise ValueError(
                f"loop.realtime_priority must be in [1, 99] or null, got {self.realtime_priority!r}"
            )


@dataclasses.dataclass(frozen=True)
class LoopSummary:
    """Period statistics of a loop (all times in milliseconds).

    Attributes:
        target_period_ms: the configured period.
        ticks: ticks executed in total.
        overruns: ticks that ended after the next tick's deadline.
        skipped: deadlines skipped after long overruns (no burst of catch-up ticks).
        period_p50_ms / period_p99_ms / period_max_ms: time between consecutive tick starts.
        deviation_p99_ms: p99 of |period − target|.
        late_p99_ms / late_max_ms: tick start minus its deadline.
        work_p50_ms / work_p99_ms / work_max_ms: time spent in the tick function.
        samples: ticks in the statistics window.
    """

    target_period_ms: float
    ticks: int
    overruns: int
    skipped: int
    period_p50_ms: float
    period_p99_ms: float
    period_max_ms: float
    deviation_p99_ms: float
    late_p99_ms: float
    late_max_ms: float
    work_p50_ms: float
    work_p99_ms: float
    work_max_ms: float
    samples: int

    def as_dict(self) -> dict[str, float | int]:
        """Plain dict for diagnostics."""
        return dataclasses.asdict(self)


class LoopStats:
    """Ring buffer of per-tick timings.

    Args:
        period_s: target period [s].
        window: ring buffer length [ticks].
    """

    def __init__(self, period_s: float, window: int) -> None:
        self.period_s = period_s
        self._period = np.full(window, np.nan)
        self._late = np.full(window, np.nan)
        self._work = np.full(window, np.nan)
        self._i = 0
        self.ticks = 0
        self.overruns = 0
        self.skipped = 0
        self._last_start: float | None = None
        self._lock = threading.Lock()

    def record(self, start: float, deadline: float, work_s: float) -> None:
        """Record one tick: its start and deadline (monotonic [s]) and its work time [s]."""
        with self._lock:
            j = self._i
            self._period[j] = np.nan if self._last_start is None else start - self._last_start
            self._late[j] = start - deadline
            self._work[j] = work_s
            self._last_start = start
            self._i = (j + 1) % self._period.size
            self.ticks += 1

    def note_overrun(self, skipped: int) -> None:
        """Count an overrun that skipped ``skipped`` deadlines (then the next period is not measured)."""
        with self._lock:
            self.overruns += 1
            if skipped:
                self.skipped += skipped
                self._last_start = None

    def summary(self) -> LoopSummary:
        """p50/p99/max of the window (NaN before two ticks)."""
        with self._lock:
            period = self._period[np.isfinite(self._period)] * 1e3
            late = self._late[np.isfinite(self._late)] * 1e3
            work = self._work[np.isfinite(self._work)] * 1e3
            ticks, overruns, skipped = self.ticks, self.overruns, self.skipped

        def pct(a: np.ndarray, q: float) -> float:
            return float(np.percentile(a, q)) if a.size else math.nan

        target = self.period_s * 1e3
        return LoopSummary(
            target_period_ms=target,
            ticks=ticks,
            overruns=overruns,
            skipped=skipped,
            period_p50_ms=pct(period, 50),
            period_p99_ms=pct(period, 99),
            period_max_ms=float(period.max()) if period.size else math.nan,
            deviation_p99_ms=pct(np.abs(period - target), 99),
            late_p99_ms=pct(late, 99),
            late_max_ms=float(late.max()) if late.size else math.nan,
            work_p50_ms=pct(work, 50),
            work_p99_ms=pct(work, 99),
            work_max_ms=float(work.max()) if work.size else math.nan,
            samples=int(period.size),
        )


def request_realtime(priority: int) -> bool:
    """Try to switch the calling thread to SCHED_FIFO at ``priority``; False (with a warning) if refused."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (AttributeError, PermissionError, OSError) as exc:
        logger.warning("SCHED_FIFO priority %d refused (%s); running with normal scheduling", priority, exc)
        return False
    return True


class FixedRateLoop:
    """Calls ``tick(k, deadline)`` at a fixed rate until stopped.

    Args:
        config: rate, spin and statistics window.
        clock: monotonic clock [s] (injectable for tests).
        sleep: sleep function [s] (injectable for tests).
    """

    def __init__(
        self,
        config: LoopConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config or LoopConfig()
        self.period_s = 1.0 / self.config.rate_hz
        self.stats = LoopStats(self.period_s, self.config.stats_window)
        self._clock = clock
        self._sleep = sleep
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the loop to return after the current tick (thread-safe)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    def wait_until(self, deadline: float) -> None:
        """Sleep, then spin, until the monotonic clock reaches ``deadline`` [s] (or stop is requested)."""
        clock = self._clock
        spin = self.config.spin_s
        remaining = deadline - clock()
        if remaining > spin:
            self._sleep(remaining - spin)
        while clock() < deadline and not self._stop.is_set():
            pass

    def run(self, tick: Callable[[int, float], None], max_ticks: int | None = None) -> None:
        """Run ``tick(k, deadline_s)`` every period until :meth:`stop` or ``max_ticks`` ticks.

        Exceptions raised by ``tick`` propagate (the caller's ``finally`` must make the robot safe).
        """
        self._stop.clear()
        if self.config.realtime_priority is not None:
            request_realtime(self.config.realtime_priority)
        if self.config.gil_switch_interval_s is not None:
            sys.setswitchinterval(self.config.gil_switch_interval_s)
        if self.config.freeze_gc:
            gc.freeze()
        period = self.period_s
        clock = self._clock
        t0 = clock()
        k = 0
        while not self._stop.is_set() and (max_ticks is None or k < max_ticks):
            deadline = t0 + k * period
            self.wait_until(deadline)
            start = clock()
            tick(k, deadline)
            end = clock()
            self.stats.record(start, deadline, end - start)
            k += 1
            next_deadline = t0 + k * period
            if end > next_deadline:
                skipped = int((end - next_deadline) // period)  # whole periods missed: skip, no burst
                k += skipped
                self.stats.note_overrun(skipped)
