"""Chunk scheduler: time-indexed execution of :class:`~dit4dit_policy.schema.ActionChunk` points.

Every chunk point k has an absolute time ``times_ns[k]`` (observation stamp + k·dt, DESIGN.md §2,
system clock). Each control tick samples the executing trajectory at the tick's system time:
linear interpolation between the two surrounding points, the first point before the trajectory
starts and the last point after it ends (``exhausted``). Points entirely in the past are dropped
(diffusion_policy's rule "discard actions whose timestamps have passed", peers.md §7.2).

An incoming chunk is merged into the executing trajectory on the union of both time grids from
"now" on, with one of three strategies (peers.md §3 items 3-7, §7.2):

* ``replace``: the new chunk alone (its last point at or before now anchors the interpolation).
* ``ensemble``: temporal ensembling (ACT): at each time the running weighted mean of every
  prediction made for it; the i-th prediction of a time gets weight ``exp(-k·i)``, so ``k > 0``
  favours older predictions (ACT's choice, k = 0.01) and ``k < 0`` newer ones.
* ``rtc``: real-time-chunking style: keep the executing trajectory for ``rtc_prefix_s`` after now
  (what executes before the new chunk can take effect), then cross-fade linearly to the new chunk
  over ``rtc_overlap_s``, then the new chunk alone.

The scheduler measures the observation-to-execution latency of every chunk: the system time of the
first tick that samples the trajectory after the chunk was merged, minus its observation stamp
(for ``rtc`` the chunk's own points take over ``rtc_prefix_s`` later).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np

from dit4dit_policy import schema

MergeStrategy = Literal["replace", "ensemble", "rtc"]


@dataclasses.dataclass
class SchedulerConfig:
    """Chunk scheduling and merging.

    Attributes:
        strategy: ``replace``, ``ensemble`` or ``rtc`` (module docstring).
        ensemble_decay: k of the exponential ensembling weights exp(-k·i) (ACT default 0.01).
        rtc_prefix_s: how long the executing trajectory is kept unchanged after a new chunk [s].
        rtc_overlap_s: cross-fade duration from the old to the new chunk [s].
        max_chunk_age_s: a chunk whose observation is older than this at arrival is rejected as
            stale; also the supervisor holds when the newest accepted chunk gets older than this [s].
            Default 1.0 s ≈ 2 inference periods at the paper's ~6 Hz (g1_spec §1.6) + the 533 ms
            horizon (16 points at 30 Hz).
        max_future_s: a chunk whose first point lies further than this in the future (clock skew)
            is rejected [s].
    """

    strategy: MergeStrategy = "rtc"
    ensemble_decay: float = 0.01
    rtc_prefix_s: float = 0.05
    rtc_overlap_s: float = 0.2
    max_chunk_age_s: float = 1.0
    max_future_s: float = 0.5

    def __post_init__(self) -> None:
        if self.strategy not in ("replace", "ensemble", "rtc"):
            raise ValueError(
                f"scheduler.strategy must be 'replace', 'ensemble' or 'rtc', got {self.strategy!r}"
            )
        for name, low, high in (
            ("ensemble_decay", -10.0, 10.0),
            ("rtc_prefix_s", 0.0, 2.0),
            ("rtc_overlap_s", 0.0, 2.0),
            ("max_chunk_age_s", 0.01, 60.0),
            ("max_future_s", 0.0, 10.0),
        ):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
                raise ValueError(f"scheduler.{name} must be a number in [{low}, {high}], got {value!r}")


@dataclasses.dataclass
class SubmitResult:
    """Outcome of :meth:`ChunkScheduler.submit`.

    Attributes:
        accepted: whether the chunk was merged.
        reason: why it was rejected (names the field and the expected form), else None.
        arrival_latency_s: now − observation stamp at submission [s].
    """

    accepted: bool
    reason: str | None = None
    arrival_latency_s: float = math.nan


class ChunkScheduler:
    """Holds the executing trajectory; ``submit`` merges chunks, ``sample`` gives per-tick targets.

    Not thread-safe: the controller calls both from its loop thread.

    Args:
        config: merge strategy and staleness bounds.
    """

    def __init__(self, config: SchedulerConfig | None = None) -> None:
        self.config = config or SchedulerConfig()
        self.clear()

    def clear(self) -> None:
        """Forget the trajectory and the latency bookkeeping."""
        self._times = np.zeros(0, dtype=np.int64)
        self._pos = np.zeros((0, schema.NUM_JOINTS), dtype=np.float64)
        self._count = np.zeros(0, dtype=np.float64)  # ensembling: predictions per point
        self._wsum = np.zeros(0, dtype=np.float64)  # ensembling: sum of weights per point
        self._latest_stamp_ns: int | None = None
        self._pending_latency_stamp_ns: int | None = None
        self.last_latency_s = math.nan
        self.chunks_accepted = 0
        self.chunks_rejected = 0
        self.points_dropped = 0

    # -- state ---------------------------------------------------------------------------------

    @property
    def has_trajectory(self) -> bool:
        """Whether any chunk has been accepted since the last :meth:`clear`."""
        return self._times.size > 0

    @property
    def end_ns(self) -> int | None:
        """Time of the last trajectory point [ns], or None."""
        return int(self._times[-1]) if self._times.size else None

    def newest_chunk_age_s(self, now_ns: int) -> float:
        """Age of the newest accepted chunk's observation [s] (inf if none)."""
        if self._latest_stamp_ns is None:
            return math.inf
        return (now_ns - self._latest_stamp_ns) * 1e-9

    def trajectory(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the remaining ``(times_ns (N,), positions (N, 16))``."""
        return self._times.copy(), self._pos.copy()

    # -- input ---------------------------------------------------------------------------------

    def validate(self, chunk: object, now_ns: int) -> str | None:
        """Why ``chunk`` cannot be executed at ``now_ns``, or None.

        Checks the type, (H, 16) finite positions, strictly increasing integer times, the stamp,
        staleness (observation older than ``max_chunk_age_s``, or every point already past), and
        clock skew (first point more than ``max_future_s`` ahead).
        """
        if not isinstance(chunk, schema.ActionChunk):
            return f"chunk must be a schema.ActionChunk, got {type(chunk).__name__}"
        pos, times = chunk.positions, chunk.times_ns
        # ActionChunk validates in __post_init__, but fields of a frozen dataclass can still be
        # replaced via object.__setattr__ or mutated in place: re-check what execution relies on.
        if not isinstance(pos, np.ndarray) or pos.ndim != 2 or pos.shape[1:] != (schema.NUM_JOINTS,):
            return (
                f"chunk.positions must have shape (H, {schema.NUM_JOINTS}), got {getattr(pos, 'shape', None)}"
            )
        if pos.shape[0] < 1 or not np.all(np.isfinite(pos)):
            return "chunk.positions must be non-empty and finite"
        if not isinstance(times, np.ndarray) or times.shape != (pos.shape[0],):
            return f"chunk.times_ns must have shape ({pos.shape[0]},), got {getattr(times, 'shape', None)}"
        if not np.issubdtype(times.dtype, np.integer) or np.any(np.diff(times) <= 0):
            return "chunk.times_ns must be strictly increasing integer nanoseconds"
        age_s = (now_ns - int(chunk.stamp_ns)) * 1e-9
        if age_s > self.config.max_chunk_age_s:
            limit = self.config.max_chunk_age_s
            return f"chunk is stale: observation {age_s:.3f} s old > max_chunk_age_s {limit}"
        if int(times[-1]) < now_ns:
            return f"chunk is stale: its last point is {(now_ns - int(times[-1])) * 1e-9:.3f} s in the past"
        if (int(times[0]) - now_ns) * 1e-9 > self.config.max_future_s:
            return (
                f"chunk starts {(int(times[0]) - now_ns) * 1e-9:.3f} s in the future > max_future_s "
                f"{self.config.max_future_s} (clock skew?)"
            )
        return None

    def submit(self, chunk: schema.ActionChunk, now_ns: int) -> SubmitResult:
        """Validate ``chunk`` and merge it into the trajectory with the configured strategy.

        Args:
            chunk: the policy's chunk (absolute targets, times on the system clock).
            now_ns: current system time [ns].

        Returns:
            Whether it was accepted, and why not.
        """
        problem = self.validate(chunk, now_ns)
        if problem is not None:
            self.chunks_rejected += 1
            return SubmitResult(False, problem)
        times = np.asarray(chunk.times_ns, dtype=np.int64)
        pos = np.asarray(chunk.positions, dtype=np.float64)
        # Keep the last point at or before now as the interpolation anchor; drop earlier ones.
        first = max(int(np.searchsorted(times, now_ns, side="right")) - 1, 0)
        times, pos = times[first:], pos[first:]
        if not self.has_trajectory or self.config.strategy == "replace":
            self._set(times, pos, np.ones(times.size), np.ones(times.size))
        elif self.config.strategy == "ensemble":
            self._merge_ensemble(times, pos, now_ns)
        else:
            self._merge_rtc(times, pos, now_ns)
        self._latest_stamp_ns = max(int(chunk.stamp_ns), self._latest_stamp_ns or 0)
        self._pending_latency_stamp_ns = int(chunk.stamp_ns)
        self.chunks_accepted += 1
        return SubmitResult(True, None, (now_ns - int(chunk.stamp_ns)) * 1e-9)

    def _set(self, times: np.ndarray, pos: np.ndarray, count: np.ndarray, wsum: np.ndarray) -> None:
        self._times, self._pos, self._count, self._wsum = times, pos, count, wsum

    def _grid(self, new_times: np.ndarray, now_ns: int) -> np.ndarray:
        old = self._times
        keep_from = max(int(np.searchsorted(old, now_ns, side="right")) - 1, 0)
        return np.union1d(old[keep_from:], new_times)

    def _interp(self, times: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
        """Linear interpolation of (N,) or (N, D) ``values`` onto ``grid``, clamped at the ends."""
        if values.ndim == 1:
            return np.interp(grid, times, values)
        return np.stack([np.interp(grid, times, values[:, d]) for d in range(values.shape[1])], axis=1)

    def _merge_ensemble(self, times: np.ndarray, pos: np.ndarray, now_ns: int) -> None:
        grid = self._grid(times, now_ns)
        old_t, new_t = self._times, times
        g = grid.astype(np.float64)
        old_in = (grid >= old_t[0]) & (grid <= old_t[-1])
        new_in = (grid >= new_t[0]) & (grid <= new_t[-1])
        old_pos = self._interp(old_t.astype(np.float64), self._pos, g)
        new_pos = self._interp(new_t.astype(np.float64), pos, g)
        old_count = np.where(old_in, self._interp(old_t.astype(np.float64), self._count, g), 0.0)
        old_wsum = np.where(old_in, self._interp(old_t.astype(np.float64), self._wsum, g), 0.0)
        w_new = np.where(new_in, np.exp(-self.config.ensemble_decay * old_count), 0.0)
        total = old_wsum + w_new
        safe_total = np.where(total > 0, total, 1.0)
        merged = (old_wsum[:, None] * old_pos + w_new[:, None] * new_pos) / safe_total[:, None]
        # Beyond both chunks' coverage nothing is defined; the union grid never goes there.
        self._set(grid, merged, old_count + new_in, total)

    def _merge_rtc(self, times: np.ndarray, pos: np.ndarray, now_ns: int) -> None:
        fade_start = now_ns + self.config.rtc_prefix_s * 1e9
        overlap_ns = self.config.rtc_overlap_s * 1e9
        grid = self._grid(times, now_ns)
        # The fade's corner times join the grid so that its shape survives linear interpolation.
        corners = np.round(np.array([fade_start, fade_start + overlap_ns])).astype(np.int64)
        if overlap_ns <= 0:  # a hard switch needs a point just before it too
            corners = np.array([corners[0] - 1, corners[0]], dtype=np.int64)
        grid = np.union1d(grid, corners[(corners > grid[0]) & (corners < grid[-1])])
        g = grid.astype(np.float64)
        old_pos = self._interp(self._times.astype(np.float64), self._pos, g)
        new_pos = self._interp(times.astype(np.float64), pos, g)
        if overlap_ns > 0:
            alpha = np.clip((g - fade_start) / overlap_ns, 0.0, 1.0)
        else:
            alpha = (g >= fade_start).astype(np.float64)
        alpha[grid > self._times[-1]] = 1.0  # no old trajectory there
        alpha[grid < times[0]] = 0.0  # no new chunk there yet
        merged = (1.0 - alpha)[:, None] * old_pos + alpha[:, None] * new_pos
        ones = np.ones(grid.size)
        self._set(grid, merged, ones, ones)

    # -- output --------------------------------------------------------------------------------

    def sample(self, t_ns: int) -> tuple[np.ndarray | None, bool]:
        """The target at system time ``t_ns`` and whether the trajectory is exhausted.

        Drops points entirely in the past (keeps the last one at or before ``t_ns`` as the
        interpolation anchor) and records the observation-to-execution latency of the first tick
        after a chunk was accepted.

        Returns:
            ``(q (16,) float64 or None if no trajectory, exhausted)``.
        """
        times = self._times
        if times.size == 0:
            return None, True
        i = int(np.searchsorted(times, t_ns, side="right"))
        if i >= 2:  # points 0..i-2 are past and not needed for interpolation
            drop = i - 1
            self.points_dropped += drop
            self._set(times[drop:], self._pos[drop:], self._count[drop:], self._wsum[drop:])
            times = self._times
            i = 1
        if self._pending_latency_stamp_ns is not None:
            self.last_latency_s = (t_ns - self._pending_latency_stamp_ns) * 1e-9
            self._pending_latency_stamp_ns = None
        if i == 0:
            return self._pos[0].copy(), False
        if i >= times.size:
            return self._pos[-1].copy(), True
        t0, t1 = times[i - 1], times[i]
        a = (t_ns - t0) / (t1 - t0)
        return self._pos[i - 1] + a * (self._pos[i] - self._pos[i - 1]), False
