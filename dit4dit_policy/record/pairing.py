"""Pairing camera frames with the measured state and the commanded action at the frame's time.

The camera is the clock of a recording: every accepted frame becomes one dataset frame at 30 Hz.
For a frame captured at ``t`` (its stamp), once ``pairing_delay_s`` has passed (so that the joint
states around ``t`` and the command in force at ``t`` have arrived):

* **state** = measured 16-D joints at ``t``, linearly interpolated between the two surrounding
  ``/g1/joint_states`` samples; if none is newer than ``t`` the newest is used, and if that one is
  older than ``state_tolerance_s`` the frame counts as ``late_state``. No state at all → the
  frame is skipped (``no_state``).
* **action** = the commanded 16-D target in force at ``t``: the newest action chunk stamped at or
  before ``t``, evaluated at ``t`` (linear between its points, its last point held after the end —
  exactly what the controller executes, DESIGN.md §2). Before the first chunk the measured state
  is the command (the controller holds where the robot is) and the frame counts as ``no_action``.

Frame cadence: a frame is placed ``round((t − t_prev)·fps)`` slots after the previous one.
0 slots → a duplicate (camera faster than fps; skipped, ``duplicates``); n > 1 → n − 1 camera
frames were lost: the slots are filled with the previous image (state and action evaluated at the
slot's own time) and counted as ``dropped``. The relative rule keeps a camera whose clock runs
slightly off 30 Hz from producing phantom drops. Per frame the real capture stamp and the ages of
the state and action used are recorded, so nothing about the timing is hidden (peers.md §3 #11, #13).

Torch-free; numpy only.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import deque

import numpy as np

from dit4dit_policy import schema


@dataclasses.dataclass
class PairingConfig:
    """Pairing tolerances.

    Attributes:
        pairing_delay_s: a frame is paired this long after its capture stamp [s] (time for the
            state samples after it and the command in force to arrive).
        state_tolerance_s: newest state older than this at the frame time → ``late_state`` [s].
        state_buffer_s: history of joint states kept [s].
        max_frame_age_s: frames arriving later than this after capture are dropped as stale [s].
    """

    pairing_delay_s: float = 0.06
    state_tolerance_s: float = 0.02
    state_buffer_s: float = 2.0
    max_frame_age_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.pairing_delay_s <= 1.0:
            raise ValueError(f"pairing_delay_s must be in [0, 1] s, got {self.pairing_delay_s}")
        if not 0.0 < self.state_tolerance_s <= 1.0:
            raise ValueError(f"state_tolerance_s must be in (0, 1] s, got {self.state_tolerance_s}")
        if not self.pairing_delay_s < self.state_buffer_s <= 60.0:
            raise ValueError(f"state_buffer_s must be in (pairing_delay_s, 60] s, got {self.state_buffer_s}")
        if not self.pairing_delay_s < self.max_frame_age_s <= 60.0:
            raise ValueError(
                f"max_frame_age_s must be in (pairing_delay_s, 60] s, got {self.max_frame_age_s}"
            )


class StateBuffer:
    """Time-sorted buffer of (stamp [ns], (16,) state) samples with interpolation.

    Args:
        horizon_s: samples older than the newest minus this are discarded [s].
    """

    def __init__(self, horizon_s: float = 2.0) -> None:
        self.horizon_ns = int(horizon_s * 1e9)
        self._stamps: deque[int] = deque()
        self._values: deque[np.ndarray] = deque()

    def __len__(self) -> int:
        return len(self._stamps)

    @property
    def newest_ns(self) -> int | None:
        """Stamp of the newest sample [ns]."""
        return self._stamps[-1] if self._stamps else None

    def push(self, stamp_ns: int, value: np.ndarray) -> None:
        """Add a sample (an older-than-newest sample is inserted in order)."""
        value = np.asarray(value, dtype=np.float64)
        if self._stamps and stamp_ns <= self._stamps[-1]:
            if stamp_ns == self._stamps[-1]:
                self._values[-1] = value
                return
            index = bisect.bisect_left(self._stamps, stamp_ns)
            self._stamps.insert(index, stamp_ns)
            self._values.insert(index, value)
        else:
            self._stamps.append(stamp_ns)
            self._values.append(value)
        limit = self._stamps[-1] - self.horizon_ns
        while len(self._stamps) > 2 and self._stamps[1] < limit:
            self._stamps.popleft()
            self._values.popleft()

    def at(self, t_ns: int) -> tuple[np.ndarray, int] | None:
        """The value at ``t_ns`` and the stamp it mainly comes from.

        Returns:
            (value, source stamp): interpolated between the samples around ``t_ns`` (source =
            ``t_ns``), or the nearest end sample outside the buffered span (source = its stamp);
            None when empty.
        """
        if not self._stamps:
            return None
        index = bisect.bisect_left(self._stamps, t_ns)
        if index < len(self._stamps) and self._stamps[index] == t_ns:
            return self._values[index].copy(), t_ns
        if index == 0:
            return self._values[0].copy(), self._stamps[0]
        if index == len(self._stamps):
            return self._values[-1].copy(), self._stamps[-1]
        t0, t1 = self._stamps[index - 1], self._stamps[index]
        w = (t_ns - t0) / (t1 - t0)
        return (1.0 - w) * self._values[index - 1] + w * self._values[index], t_ns


@dataclasses.dataclass(frozen=True)
class Chunk:
    """A received action chunk with absolute point times.

    Attributes:
        stamp_ns: header stamp (the command's time origin) [ns].
        times_ns: (H,) absolute point times [ns].
        positions: (H, 16) targets [rad | opening], schema order.
    """

    stamp_ns: int
    times_ns: np.ndarray
    positions: np.ndarray

    def at(self, t_ns: int) -> np.ndarray:
        """(16,) target at ``t_ns``: linear between points, first point before, last point after."""
        times = self.times_ns
        if t_ns <= times[0]:
            return self.positions[0].copy()
        if t_ns >= times[-1]:
            return self.positions[-1].copy()
        index = int(np.searchsorted(times, t_ns, side="right"))
        t0, t1 = times[index - 1], times[index]
        w = (t_ns - t0) / (t1 - t0)
        return (1.0 - w) * self.positions[index - 1] + w * self.positions[index]


class ChunkBuffer:
    """Received chunks by stamp; answers "what was commanded at time t".

    Args:
        horizon_s: chunks whose successor is older than the newest minus this are dropped [s].
    """

    def __init__(self, horizon_s: float = 2.0) -> None:
        self.horizon_ns = int(horizon_s * 1e9)
        self._chunks: list[Chunk] = []

    def __len__(self) -> int:
        return len(self._chunks)

    def push(self, chunk: Chunk) -> None:
        """Add a chunk (kept sorted by stamp; a repeated stamp replaces the earlier chunk)."""
        stamps = [c.stamp_ns for c in self._chunks]
        index = bisect.bisect_left(stamps, chunk.stamp_ns)
        if index < len(stamps) and stamps[index] == chunk.stamp_ns:
            self._chunks[index] = chunk
        else:
            self._chunks.insert(index, chunk)
        limit = self._chunks[-1].stamp_ns - self.horizon_ns
        while len(self._chunks) > 1 and self._chunks[1].stamp_ns < limit:
            self._chunks.pop(0)

    def at(self, t_ns: int) -> tuple[np.ndarray, int] | None:
        """(target (16,), stamp of the chunk in force) at ``t_ns``; None before the first chunk."""
        stamps = [c.stamp_ns for c in self._chunks]
        index = bisect.bisect_right(stamps, t_ns) - 1
        if index < 0:
            return None
        chunk = self._chunks[index]
        return chunk.at(t_ns), chunk.stamp_ns


@dataclasses.dataclass(frozen=True)
class PairedFrame:
    """One dataset frame.

    Attributes:
        index: frame index in the episode.
        image: (H, W, 3) uint8 RGB.
        state: (16,) float32 measured joints at ``time_ns``.
        action: (16,) float32 commanded target at ``time_ns``.
        time_ns: the frame's time [ns]: the capture stamp, or the slot time of a filled frame.
        capture_ns: capture stamp of the image used [ns].
        state_offset_ms: stamp of the state used − time_ns [ms] (0 when interpolated).
        action_age_ms: time_ns − stamp of the chunk in force [ms]; −1 when there was none.
        filled: the image repeats the previous one (a camera frame was lost).
    """

    index: int
    image: np.ndarray
    state: np.ndarray
    action: np.ndarray
    time_ns: int
    capture_ns: int
    state_offset_ms: float
    action_age_ms: float
    filled: bool


@dataclasses.dataclass
class PairingCounters:
    """Per-episode counters (see the module docstring)."""

    frames: int = 0
    dropped: int = 0
    duplicates: int = 0
    late_state: int = 0
    no_state: int = 0
    no_action: int = 0
    stale_frames: int = 0
    out_of_order: int = 0

    def as_dict(self) -> dict[str, int]:
        """Counters as a plain dict."""
        return dataclasses.asdict(self)


class FramePairer:
    """Accumulates frames, states and chunks and emits paired frames of one episode at a time.

    Args:
        config: tolerances.
        fps: dataset rate [Hz].
    """

    def __init__(self, config: PairingConfig | None = None, fps: int = int(schema.CONTROL_RATE_HZ)) -> None:
        self.config = config or PairingConfig()
        self.fps = fps
        self.period_ns = 1e9 / fps
        self.states = StateBuffer(self.config.state_buffer_s)
        self.chunks = ChunkBuffer(self.config.state_buffer_s)
        self._pending: deque[tuple[int, np.ndarray]] = deque()
        self._recording = False
        self._start_ns = 0
        self._stop_ns: int | None = None
        self._last: tuple[int, np.ndarray] | None = None
        self._index = 0
        self.counters = PairingCounters()

    # ------------------------------------------------------------------ inputs

    def push_state(self, stamp_ns: int, state: np.ndarray) -> None:
        """A measured (16,) state [rad | opening] stamped at acquisition."""
        self.states.push(int(stamp_ns), state)

    def push_chunk(self, chunk: Chunk) -> None:
        """A commanded chunk."""
        self.chunks.push(chunk)

    def push_frame(self, stamp_ns: int, image: np.ndarray, now_ns: int) -> None:
        """A camera frame (ignored while not recording or outside the episode's time span)."""
        if not self._recording or stamp_ns < self._start_ns:
            return
        if self._stop_ns is not None and stamp_ns > self._stop_ns:
            return
        if now_ns - stamp_ns > self.config.max_frame_age_s * 1e9:
            self.counters.stale_frames += 1
            return
        if self._pending and stamp_ns <= self._pending[-1][0]:
            self.counters.out_of_order += 1
            return
        self._pending.append((int(stamp_ns), image))

    # ------------------------------------------------------------------ episode control

    @property
    def recording(self) -> bool:
        """An episode is open."""
        return self._recording

    def start(self, now_ns: int) -> None:
        """Open an episode: frames captured from ``now_ns`` on belong to it."""
        self._recording = True
        self._start_ns = int(now_ns)
        self._stop_ns = None
        self._pending.clear()
        self._last = None
        self._index = 0
        self.counters = PairingCounters()

    def request_stop(self, now_ns: int) -> None:
        """Frames captured after ``now_ns`` are excluded; :meth:`finished` tells when all are out."""
        if self._recording and self._stop_ns is None:
            self._stop_ns = int(now_ns)
            while self._pending and self._pending[-1][0] > self._stop_ns:
                self._pending.pop()

    def finished(self, now_ns: int) -> bool:
        """After :meth:`request_stop`: every frame up to the stop time has been emitted."""
        return (
            self._stop_ns is not None
            and not self._pending
            and now_ns >= self._stop_ns + self.config.pairing_delay_s * 1e9
        )

    def close(self) -> None:
        """End the episode (pending frames are dropped)."""
        self._recording = False
        self._pending.clear()
        self._stop_ns = None

    # ------------------------------------------------------------------ pairing

    def _pair(self, time_ns: int, capture_ns: int, image: np.ndarray, filled: bool) -> PairedFrame | None:
        state = self.states.at(time_ns)
        if state is None:
            self.counters.no_state += 1
            return None
        state_value, state_stamp = state
        offset_ms = (state_stamp - time_ns) / 1e6
        if -offset_ms > self.config.state_tolerance_s * 1e3:
            self.counters.late_state += 1
        action = self.chunks.at(time_ns)
        if action is None:
            self.counters.no_action += 1
            action_value, age_ms = state_value.copy(), -1.0
        else:
            action_value, age_ms = action[0], (time_ns - action[1]) / 1e6
        frame = PairedFrame(
            index=self._index,
            image=image,
            state=state_value.astype(np.float32),
            action=np.clip(action_value, schema.POSITION_LOWER, schema.POSITION_UPPER).astype(np.float32),
            time_ns=int(time_ns),
            capture_ns=int(capture_ns),
            state_offset_ms=float(offset_ms),
            action_age_ms=float(age_ms),
            filled=filled,
        )
        self._index += 1
        self.counters.frames += 1
        return frame

    def poll(self, now_ns: int) -> list[PairedFrame]:
        """Pair every pending frame whose pairing delay has passed.

        Returns:
            Paired frames in order (filled frames for lost camera frames included).
        """
        out: list[PairedFrame] = []
        delay_ns = self.config.pairing_delay_s * 1e9
        while self._pending and now_ns - self._pending[0][0] >= delay_ns:
            stamp, image = self._pending.popleft()
            if self._stop_ns is not None and stamp > self._stop_ns:
                continue
            if self._last is None:
                frame = self._pair(stamp, stamp, image, filled=False)
                if frame is not None:
                    out.append(frame)
                    self._last = (stamp, image)
                continue
            last_stamp, last_image = self._last
            slots = round((stamp - last_stamp) / self.period_ns)
            if slots <= 0:
                self.counters.duplicates += 1
                continue
            for missing in range(1, slots):
                slot_ns = last_stamp + round(missing * self.period_ns)
                filled = self._pair(slot_ns, last_stamp, last_image, filled=True)
                if filled is not None:
                    self.counters.dropped += 1
                    out.append(filled)
            frame = self._pair(stamp, stamp, image, filled=False)
            if frame is not None:
                out.append(frame)
                self._last = (stamp, image)
        return out
