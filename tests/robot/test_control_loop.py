"""Fixed-rate loop: absolute deadlines (no drift), overrun skipping, statistics (simulated clock)."""

import itertools
import math
import random

import pytest

from dit4dit_policy.robot.loop import FixedRateLoop, LoopConfig, LoopStats


class FakeClock:
    """Monotonic clock that advances 1 µs per read and by the requested time on sleep (+ oversleep)."""

    def __init__(self, oversleep=0.0):
        self.t = 1000.0
        self.oversleep = oversleep

    def __call__(self):
        self.t += 1e-6
        return self.t

    def sleep(self, s):
        self.t += s + self.oversleep


def make(rate=250.0, oversleep=0.0, spin=0.0002):
    clock = FakeClock(oversleep)
    loop = FixedRateLoop(LoopConfig(rate_hz=rate, spin_s=spin), clock=clock, sleep=clock.sleep)
    return loop, clock


def test_ticks_start_at_absolute_deadlines_without_drift():
    loop, clock = make(rate=500.0)
    starts = []
    rng = random.Random(0)

    def tick(k, deadline):
        starts.append((k, clock.t, deadline))
        clock.t += rng.uniform(0.0, 0.0015)  # variable work, always < the 2 ms period

    loop.run(tick, max_ticks=2000)
    t0 = starts[0][2]
    for k, start, deadline in starts:
        assert deadline == pytest.approx(t0 + k * 0.002, abs=1e-9)
        assert deadline <= start <= deadline + 5e-6
    s = loop.stats.summary()
    assert s.ticks == 2000 and s.overruns == 0 and s.skipped == 0
    assert s.period_p50_ms == pytest.approx(2.0, abs=0.01) and s.deviation_p99_ms < 0.01


def test_oversleep_is_absorbed_by_the_spin():
    loop, _clock = make(oversleep=0.00015, spin=0.0002)
    loop.run(lambda k, d: None, max_ticks=100)
    assert loop.stats.summary().late_max_ms < 0.01


def test_oversleep_beyond_the_spin_shows_as_lateness_but_no_drift():
    loop, clock = make(oversleep=0.0005, spin=0.0002)
    starts = []
    loop.run(lambda k, d: starts.append((clock.t, d)), max_ticks=100)
    s = loop.stats.summary()
    assert s.late_p99_ms == pytest.approx(0.3, abs=0.01)
    assert s.period_p50_ms == pytest.approx(4.0, abs=0.01)  # lateness does not accumulate
    assert starts[-1][1] - starts[0][1] == pytest.approx(99 * 0.004)


def test_overrun_skips_missed_deadlines_without_a_burst():
    loop, clock = make(rate=250.0)
    starts = []

    def tick(k, deadline):
        starts.append((k, clock.t))
        if k == 10:
            clock.t += 0.0141  # 3.5 periods of work

    loop.run(tick, max_ticks=30)
    ks = [k for k, _ in starts]
    assert 11 not in ks and 12 not in ks and 13 in ks  # deadlines 11-12 skipped, 13 runs at once
    s = loop.stats.summary()
    assert s.overruns == 1 and s.skipped == 2
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(starts)]
    assert min(gaps) > 0.0008  # no burst of back-to-back ticks


def test_stop_from_inside_a_tick():
    loop, _ = make()
    seen = []

    def tick(k, deadline):
        seen.append(k)
        if k == 4:
            loop.stop()

    loop.run(tick)
    assert seen == [0, 1, 2, 3, 4] and loop.stopping


def test_stats_window_and_nan_before_data():
    stats = LoopStats(0.004, 10)
    s = stats.summary()
    assert s.ticks == 0 and math.isnan(s.period_p50_ms)
    for i in range(25):
        stats.record(i * 0.004, i * 0.004, 0.0001)
    s = stats.summary()
    assert s.ticks == 25 and s.samples == 10 and s.period_max_ms == pytest.approx(4.0)


def test_real_clock_runs_the_requested_ticks():
    loop = FixedRateLoop(LoopConfig(rate_hz=500.0))
    count = []
    loop.run(lambda k, d: count.append(k), max_ticks=50)
    assert count == list(range(len(count))) and loop.stats.ticks == len(count) and len(count) <= 50
    assert loop.stats.summary().samples >= 1


@pytest.mark.parametrize(
    "kwargs",
    [{"rate_hz": 0.5}, {"rate_hz": 5000.0}, {"spin_s": 0.003}, {"stats_window": 1}, {"realtime_priority": 0}],
)
def test_config_validation(kwargs):
    with pytest.raises(ValueError, match="loop"):
        LoopConfig(**kwargs)
