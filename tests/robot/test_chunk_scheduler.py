"""Chunk scheduler: time-indexed interpolation, past-point dropping, merge strategies, validation, latency."""

import numpy as np
import pytest

from dit4dit_policy import schema
from dit4dit_policy.robot.scheduler import ChunkScheduler, SchedulerConfig

MS = 1_000_000
T0 = 1_000_000_000_000  # an arbitrary "system time" [ns]


def chunk(values, stamp_ns, dt_ms=100):
    """A chunk whose point k has every dim = values[k], due at stamp + k·dt."""
    values = np.asarray(values, dtype=np.float64)
    pos = np.repeat(values[:, None], schema.NUM_JOINTS, axis=1)
    return schema.ActionChunk.from_positions(pos, stamp_ns, dt_s=dt_ms / 1000)


def sched(**kwargs):
    kwargs.setdefault("max_chunk_age_s", 10.0)
    return ChunkScheduler(SchedulerConfig(**kwargs))


def test_interpolates_at_tick_time_and_holds_ends():
    s = sched(strategy="replace")
    assert s.sample(T0) == (None, True)
    assert s.submit(chunk([0.0, 1.0, 3.0], T0), T0).accepted
    q, exhausted = s.sample(T0 + 50 * MS)
    assert q[0] == pytest.approx(0.5) and not exhausted and q.shape == (16,)
    q, _ = s.sample(T0 + 175 * MS)
    assert q[5] == pytest.approx(2.5)
    q, exhausted = s.sample(T0 + 500 * MS)
    assert q[0] == pytest.approx(3.0) and exhausted


def test_before_first_point_holds_the_first_point():
    s = sched(strategy="replace", max_future_s=1.0)
    s.submit(chunk([2.0, 4.0], T0 + 300 * MS), T0)
    q, exhausted = s.sample(T0)
    assert q[0] == 2.0 and not exhausted


def test_past_points_are_dropped_keeping_the_anchor():
    s = sched(strategy="replace")
    s.submit(chunk(np.arange(10.0), T0), T0)
    times, _ = s.trajectory()
    assert times.size == 10
    q, _ = s.sample(T0 + 450 * MS)
    assert q[0] == pytest.approx(4.5)
    times, pos = s.trajectory()
    assert times[0] == T0 + 400 * MS and pos[0, 0] == 4.0  # the anchor at or before now
    assert s.points_dropped == 4


def test_submit_drops_points_already_past():
    s = sched(strategy="replace")
    s.submit(chunk(np.arange(10.0), T0), T0 + 350 * MS)
    times, _ = s.trajectory()
    assert times[0] == T0 + 300 * MS and times.size == 7


def test_replace_discards_the_old_trajectory():
    s = sched(strategy="replace")
    s.submit(chunk([0.0] * 10, T0), T0)
    s.submit(chunk([5.0] * 10, T0 + 100 * MS), T0 + 120 * MS)
    q, _ = s.sample(T0 + 150 * MS)
    assert q[0] == 5.0


def test_ensemble_plain_mean_with_zero_decay():
    s = sched(strategy="ensemble", ensemble_decay=0.0)
    s.submit(chunk([0.0] * 10, T0), T0)
    s.submit(chunk([3.0] * 10, T0), T0)
    s.submit(chunk([6.0] * 10, T0), T0)
    q, _ = s.sample(T0 + 250 * MS)
    assert q[0] == pytest.approx(3.0)


@pytest.mark.parametrize("decay", [1.0, -1.0, 0.01])
def test_ensemble_exponential_weights(decay):
    # Old prediction 1 (i = 0, weight 1), new prediction 0 (i = 1, weight exp(-k)):
    # the mean is 1 / (1 + exp(-k)); k > 0 favours the older prediction (ACT).
    s = sched(strategy="ensemble", ensemble_decay=decay)
    s.submit(chunk([1.0] * 10, T0), T0)
    s.submit(chunk([0.0] * 10, T0), T0)
    q, _ = s.sample(T0 + 200 * MS)
    assert q[0] == pytest.approx(1.0 / (1.0 + np.exp(-decay)))
    assert (q[0] > 0.5) == (decay > 0)


def test_ensemble_keeps_old_before_and_new_after_overlap():
    s = sched(strategy="ensemble", ensemble_decay=0.0)
    s.submit(chunk([0.0] * 5, T0), T0)  # covers T0 .. T0+400ms
    s.submit(chunk([2.0] * 5, T0 + 200 * MS), T0 + 10 * MS)  # covers +200 .. +600
    assert s.sample(T0 + 100 * MS)[0][0] == pytest.approx(0.0)
    assert s.sample(T0 + 300 * MS)[0][0] == pytest.approx(1.0)
    assert s.sample(T0 + 550 * MS)[0][0] == pytest.approx(2.0)


def test_rtc_keeps_prefix_then_cross_fades():
    s = sched(strategy="rtc", rtc_prefix_s=0.1, rtc_overlap_s=0.2)
    s.submit(chunk([0.0] * 12, T0), T0)
    now = T0 + 100 * MS
    s.submit(chunk([1.0] * 12, T0 + 50 * MS), now)
    assert s.sample(now + 50 * MS)[0][0] == pytest.approx(0.0)  # inside the kept prefix
    assert s.sample(now + 200 * MS)[0][0] == pytest.approx(0.5)  # middle of the fade
    assert s.sample(now + 250 * MS)[0][0] == pytest.approx(0.75)
    assert s.sample(now + 300 * MS)[0][0] == pytest.approx(1.0)  # fade done
    assert s.sample(now + 900 * MS)[0][0] == pytest.approx(1.0)


def test_rtc_without_overlap_switches_at_the_prefix():
    s = sched(strategy="rtc", rtc_prefix_s=0.1, rtc_overlap_s=0.0)
    s.submit(chunk([0.0] * 12, T0), T0)
    s.submit(chunk([1.0] * 12, T0), T0)
    assert s.sample(T0 + 50 * MS)[0][0] == pytest.approx(0.0)
    assert s.sample(T0 + 150 * MS)[0][0] == pytest.approx(1.0)


def test_rtc_continuity_no_jump_at_merge():
    s = sched(strategy="rtc", rtc_prefix_s=0.05, rtc_overlap_s=0.2)
    s.submit(chunk(np.linspace(0, 1, 16), T0), T0)
    before = s.sample(T0 + 200 * MS)[0][0]
    s.submit(chunk(np.linspace(5, 6, 16), T0 + 150 * MS), T0 + 200 * MS)
    after = s.sample(T0 + 200 * MS)[0][0]
    assert after == pytest.approx(before)


def test_latency_is_measured_from_observation_to_first_execution():
    s = sched(strategy="replace")
    s.submit(chunk([0.0] * 5, T0), T0 + 80 * MS)
    s.sample(T0 + 84 * MS)
    assert s.last_latency_s == pytest.approx(0.084)


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: chunk([0.0] * 5, T0 - 20_000 * MS), "stale"),  # observation too old
        (lambda: chunk([0.0] * 3, T0 - 9_000 * MS), "in the past"),  # every point past
        (lambda: chunk([0.0] * 3, T0 + 5_000 * MS), "future"),  # clock skew
        (lambda: "not a chunk", "schema.ActionChunk"),
    ],
)
def test_invalid_chunks_are_rejected_with_reasons(make, needle):
    s = sched(strategy="rtc")
    result = s.submit(make(), T0)
    assert not result.accepted and needle in result.reason
    assert not s.has_trajectory and s.chunks_rejected == 1


def test_chunks_mutated_after_construction_are_rejected():
    s = sched()
    c = chunk(np.arange(6.0), T0)
    c.positions[2, 3] = np.nan
    assert "finite" in s.submit(c, T0).reason
    c = chunk(np.arange(6.0), T0)
    c.times_ns[3] = c.times_ns[1]  # unsorted
    assert "increasing" in s.submit(c, T0).reason
    c = chunk(np.arange(6.0), T0)
    object.__setattr__(c, "positions", np.zeros((6, 15)))  # wrong width
    assert "shape" in s.submit(c, T0).reason
    assert not s.has_trajectory


def test_config_validation():
    with pytest.raises(ValueError, match="strategy"):
        SchedulerConfig(strategy="average")
    with pytest.raises(ValueError, match="max_chunk_age_s"):
        SchedulerConfig(max_chunk_age_s=0)
