"""Frame pairing: state interpolation, action in force, drops/duplicates/late counters."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dit4dit_policy import schema
from dit4dit_policy.record.pairing import Chunk, ChunkBuffer, FramePairer, PairingConfig, StateBuffer

MS = 1_000_000
T0 = 1_700_000_000_000_000_000
PERIOD = round(1e9 / 30)


def _image(value):
    return np.full((4, 6, 3), value % 256, np.uint8)


def _state(value):
    return np.full(16, float(value))


def test_state_buffer_interpolates_and_reports_source():
    buf = StateBuffer()
    buf.push(T0, _state(0.0))
    buf.push(T0 + 10 * MS, _state(1.0))
    value, source = buf.at(T0 + 4 * MS)
    assert value == pytest.approx(_state(0.4)) and source == T0 + 4 * MS
    value, source = buf.at(T0 + 30 * MS)  # after the newest: newest, source = its stamp
    assert value == pytest.approx(_state(1.0)) and source == T0 + 10 * MS
    buf.push(T0 + 5 * MS, _state(7.0))  # late sample inserted in order
    assert buf.at(T0 + 5 * MS)[0] == pytest.approx(_state(7.0))


def test_chunk_in_force_is_the_newest_stamped_before_t():
    buffer = ChunkBuffer()
    assert buffer.at(T0) is None
    times = T0 + np.arange(3) * PERIOD
    buffer.push(Chunk(T0, times, np.stack([_state(0), _state(3), _state(6)])))
    buffer.push(Chunk(T0 + 2 * PERIOD, times + 2 * PERIOD, np.stack([_state(10)] * 3)))
    value, stamp = buffer.at(T0 + PERIOD // 2)
    assert value == pytest.approx(_state(1.5)) and stamp == T0
    value, stamp = buffer.at(T0 + 2 * PERIOD + 1)
    assert value == pytest.approx(_state(10)) and stamp == T0 + 2 * PERIOD
    value, _ = buffer.at(T0 + 100 * PERIOD)  # held after its end
    assert value == pytest.approx(_state(10))


def _feed(pairer, frame_stamps, state_rate_hz=500, chunk_every=2):
    """States at state_rate_hz with value = time [s]; chunks every `chunk_every` frames."""
    end = max(frame_stamps) + 200 * MS
    step = round(1e9 / state_rate_hz)
    for t in range(T0 - 100 * MS, end, step):
        pairer.push_state(t, _state((t - T0) / 1e9))
    for i, stamp in enumerate(frame_stamps):
        if i % chunk_every == 0:
            times = stamp + np.arange(3) * PERIOD
            pairer.push_chunk(Chunk(stamp - 5 * MS, times, np.stack([_state(-(i + 1))] * 3) * 0.001))
    out = []
    for i, stamp in enumerate(frame_stamps):
        pairer.push_frame(stamp, _image(i), now_ns=stamp + 10 * MS)
        out += pairer.poll(stamp + 10 * MS)
    out += pairer.poll(end + 10**9)
    return out


def test_regular_stream_pairs_every_frame_without_drops():
    pairer = FramePairer(PairingConfig(state_buffer_s=30.0), fps=30)
    pairer.start(T0 - 1)
    stamps = [T0 + k * PERIOD + (k % 3) * MS for k in range(60)]  # ±1-2 ms jitter
    frames = _feed(pairer, stamps)
    assert [f.index for f in frames] == list(range(60))
    c = pairer.counters
    assert (c.frames, c.dropped, c.duplicates, c.late_state, c.no_state) == (60, 0, 0, 0, 0)
    for frame, stamp in zip(frames, stamps, strict=True):
        assert frame.capture_ns == stamp and not frame.filled
        # state = the measured value at the capture time (state value encodes its own time)
        assert frame.state[0] == pytest.approx((stamp - T0) / 1e9, abs=1e-6)
        assert frame.state_offset_ms == 0.0
    # the action is the chunk in force: chunks come every 2 frames, stamped 5 ms before
    assert frames[1].action[0] == pytest.approx(-0.001)
    assert frames[2].action[0] == pytest.approx(-0.003)
    assert frames[1].action_age_ms == pytest.approx((stamps[1] - stamps[0] + 5 * MS) / 1e6)


def test_lost_camera_frames_are_filled_and_counted():
    pairer = FramePairer(PairingConfig(state_buffer_s=30.0), fps=30)
    pairer.start(T0 - 1)
    stamps = [T0 + k * PERIOD for k in range(10) if k not in (4, 5)]
    frames = _feed(pairer, stamps)
    assert len(frames) == 10 and pairer.counters.dropped == 2
    filled = [f for f in frames if f.filled]
    assert [f.index for f in filled] == [4, 5]
    assert np.array_equal(filled[0].image, frames[3].image)
    assert filled[0].time_ns == T0 + 3 * PERIOD + round(1e9 / 30)
    assert filled[0].state[0] == pytest.approx(4 * PERIOD / 1e9, abs=1e-6)  # state at the slot time


def test_fast_camera_duplicates_are_skipped():
    pairer = FramePairer(PairingConfig(state_buffer_s=30.0), fps=30)
    pairer.start(T0 - 1)
    stamps = [T0 + k * PERIOD // 2 for k in range(20)]  # 60 Hz camera
    frames = _feed(pairer, stamps)
    assert len(frames) == 10 and pairer.counters.duplicates == 10 and pairer.counters.dropped == 0


def test_late_and_missing_state_and_action_are_counted():
    pairer = FramePairer(PairingConfig(state_tolerance_s=0.02), fps=30)
    pairer.start(T0 - 1)
    pairer.push_frame(T0, _image(0), T0)
    assert pairer.poll(T0 + 10**9) == [] and pairer.counters.no_state == 1
    pairer.push_state(T0, _state(0.0))  # only an old state
    pairer.push_frame(T0 + 3 * PERIOD, _image(1), T0 + 3 * PERIOD)
    (frame,) = pairer.poll(T0 + 10**9)
    assert pairer.counters.late_state == 1 and frame.state_offset_ms == pytest.approx(-100.0, abs=0.01)
    assert pairer.counters.no_action == 1 and frame.action_age_ms == -1.0
    assert np.array_equal(frame.action, frame.state)  # before any command: the robot holds


def test_frames_outside_the_episode_are_ignored_and_stop_flushes():
    pairer = FramePairer(PairingConfig(pairing_delay_s=0.05), fps=30)
    pairer.push_frame(T0, _image(0), T0)  # not recording
    pairer.start(T0 + PERIOD)
    pairer.push_state(T0, _state(0))
    pairer.push_state(T0 + 10**9, _state(1))
    pairer.push_frame(T0, _image(1), T0 + PERIOD)  # before the start
    for k in range(1, 6):
        pairer.push_frame(T0 + k * PERIOD, _image(k), T0 + k * PERIOD)
    pairer.request_stop(T0 + 3 * PERIOD + MS)
    assert not pairer.finished(T0 + 3 * PERIOD + 2 * MS)
    frames = pairer.poll(T0 + 10 * PERIOD)
    assert [f.capture_ns for f in frames] == [T0 + k * PERIOD for k in (1, 2, 3)]
    assert pairer.finished(T0 + 10 * PERIOD)


@settings(max_examples=40, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=1, max_value=4), min_size=2, max_size=40),
    jitter=st.lists(st.integers(min_value=-8, max_value=8), min_size=40, max_size=40),
)
def test_every_slot_is_filled_exactly_once(gaps, jitter):
    """Whatever frames are lost (gaps of 1-4 periods, ±8 ms jitter), the output covers every slot once."""
    slots = np.cumsum([0, *gaps])
    stamps = [T0 + int(s) * PERIOD + jitter[i] * MS for i, s in enumerate(slots)]
    pairer = FramePairer(PairingConfig(state_buffer_s=30.0), fps=30)
    pairer.start(T0 - 10 * MS)
    frames = _feed(pairer, stamps)
    assert len(frames) == int(slots[-1]) + 1
    assert pairer.counters.dropped == int(slots[-1]) + 1 - len(stamps)
    assert [f.index for f in frames] == list(range(len(frames)))
    assert all(schema.POSITION_LOWER[0] <= f.action[0] <= schema.POSITION_UPPER[0] for f in frames)
