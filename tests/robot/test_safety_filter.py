"""Safety filter: property tests (hypothesis) with hostile inputs, plus the individual clamps."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dit4dit_policy import schema
from dit4dit_policy.robot import safety

DT = 1.0 / 250.0
LIMITS = safety.SafetyLimits.build(safety.SafetyConfig(), DT)

any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
wild_vector = hnp.arrays(np.float64, schema.NUM_JOINTS, elements=any_float)
finite_vector = hnp.arrays(np.float64, schema.NUM_JOINTS, elements=st.floats(-1e6, 1e6))
unit = hnp.arrays(np.float64, schema.NUM_JOINTS, elements=st.floats(0.0, 1.0))


def inside(lo, hi, u):
    return lo + u * (hi - lo)


hostile_target = st.one_of(
    wild_vector,
    finite_vector,
    hnp.arrays(np.float64, st.integers(0, 40), elements=any_float),  # wrong length
    hnp.arrays(np.float64, (2, 16), elements=st.floats(-1, 1)),  # wrong shape
    st.lists(st.floats(-3, 3), min_size=16, max_size=16),  # a list, not an array
    st.just("sixteen"),
    st.none(),
    hnp.arrays(np.int64, 16, elements=st.integers(-5, 5)),
)


@settings(max_examples=400, deadline=None)
@given(target=hostile_target, u_prev=unit, meas=st.one_of(st.none(), wild_vector, finite_vector))
def test_output_within_limits_and_step_for_any_input(target, u_prev, meas):
    q_prev = inside(LIMITS.lower, LIMITS.upper, u_prev)
    result = safety.filter_command(target, q_prev, meas, LIMITS)
    q = result.q
    assert q.shape == (16,) and q.dtype == np.float64 and np.all(np.isfinite(q))
    assert np.all(q >= LIMITS.lower - 1e-12) and np.all(q <= LIMITS.upper + 1e-12)
    assert np.all(np.abs(q - q_prev) <= LIMITS.step + 1e-12)
    if result.held:
        np.testing.assert_array_equal(q, q_prev)  # hold = zero motion
        assert result.reason and ("target" in result.reason)


@settings(max_examples=200, deadline=None)
@given(target=finite_vector, u_prev=unit, u_meas=unit)
def test_distance_from_measured_is_respected_when_reachable(target, u_prev, u_meas):
    q_meas = inside(LIMITS.lower, LIMITS.upper, u_meas)
    # The previous command was itself within the distance bound of the measurement.
    q_prev = np.clip(
        inside(LIMITS.lower, LIMITS.upper, u_prev), q_meas - LIMITS.max_distance, q_meas + LIMITS.max_distance
    )
    q = safety.filter_command(target, q_prev, q_meas, LIMITS).q
    assert np.all(np.abs(q - q_meas) <= LIMITS.max_distance + 1e-12)


@settings(max_examples=200, deadline=None)
@given(target=finite_vector, prev=hnp.arrays(np.float64, 16, elements=st.floats(-10, 10)))
def test_outside_previous_command_never_moves_away_from_the_limit_box(target, prev):
    # The only way to be outside the limits: a previous command outside them. Then the output is
    # within one step of it and no farther from the box.
    q = safety.filter_command(target, prev, None, LIMITS).q
    assert np.all(np.abs(q - prev) <= LIMITS.step + 1e-12)

    def dist(x):
        return np.maximum(LIMITS.lower - x, 0) + np.maximum(x - LIMITS.upper, 0)

    assert np.all(dist(q) <= dist(prev) + 1e-12)


def test_repeated_filtering_converges_to_a_clamped_target_at_bounded_speed():
    q = np.zeros(16)
    q[14:] = 0.5
    target = np.full(16, 10.0)
    for _ in range(5000):
        q = safety.filter_command(target, q, None, LIMITS).q
    np.testing.assert_allclose(q, LIMITS.upper)


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (np.zeros(15), "shape (16,)"),
        (np.zeros(17), "shape (16,)"),
        (np.full(16, np.nan), "non-finite at dims"),
        (np.r_[np.zeros(15), np.inf], "[15]"),
        (np.array(["a"] * 16), "numeric"),
        (None, "target must"),
    ],
)
def test_malformed_targets_hold_with_a_reason_naming_the_field(bad, needle):
    q_prev = np.linspace(-0.5, 0.5, 16)
    q_prev[14:] = 0.3
    result = safety.filter_command(bad, q_prev, None, LIMITS)
    assert result.held and needle in result.reason and "target" in result.reason
    np.testing.assert_array_equal(result.q, q_prev)


def test_counters_report_each_clamp():
    q_prev = np.zeros(16)
    q_prev[14:] = 0.5
    meas = q_prev.copy()
    target = q_prev.copy()
    target[0] = 100.0  # limit, then distance, then step
    target[1] = 0.001  # nothing
    result = safety.filter_command(target, q_prev, meas, LIMITS)
    assert result.limit_clamped == 1 and result.distance_clamped == 1 and result.step_clamped == 1
    assert result.q[0] == pytest.approx(LIMITS.step[0]) and result.q[1] == pytest.approx(0.001)
    assert result.clamped and not result.held


def test_margin_velocity_and_gripper_limits():
    cfg = safety.SafetyConfig(position_margin_rad=0.1, max_velocity_rad_s=2.0, max_gripper_velocity=1.0)
    lim = safety.SafetyLimits.build(cfg, 0.002)
    assert lim.lower[0] == pytest.approx(schema.POSITION_LOWER[0] + 0.1)
    assert lim.upper[13] == pytest.approx(schema.POSITION_UPPER[13] - 0.1)
    assert (lim.lower[14], lim.upper[15]) == (0.0, 1.0)
    assert lim.step[0] == pytest.approx(0.004) and lim.step[15] == pytest.approx(0.002)
    assert math.isinf(lim.max_distance[14])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_velocity_rad_s": 0.0},
        {"max_velocity_rad_s": 100.0},  # above the motor limit (schema.VELOCITY_LIMIT)
        {"max_velocity_rad_s": float("nan")},
        {"position_margin_rad": -0.1},
        {"max_distance_from_measured_rad": 0.0},
        {"kp_max": 1e4},
        {"max_gripper_distance": 5.0},
    ],
)
def test_config_rejects_unsafe_values(kwargs):
    with pytest.raises(ValueError, match=r"safety\."):
        safety.SafetyConfig(**kwargs)


def test_period_is_checked():
    with pytest.raises(ValueError, match="dt_s"):
        safety.SafetyLimits.build(safety.SafetyConfig(), 0.0)


def test_previous_command_must_be_valid():
    with pytest.raises(ValueError, match="previous command"):
        safety.filter_command(np.zeros(16), np.full(16, np.nan), None, LIMITS)


@settings(max_examples=100, deadline=None)
@given(
    kp=st.one_of(wild_vector, hnp.arrays(np.float64, st.integers(0, 20), elements=any_float)), kd=wild_vector
)
def test_gains_are_always_bounded(kp, kd):
    out_kp, out_kd, _ = safety.filter_gains(kp, kd, LIMITS)
    assert out_kp.shape == (14,) and out_kd.shape == (14,)
    assert np.all((out_kp >= 0) & (out_kp <= LIMITS.kp_max)) and np.all(
        (out_kd >= 0) & (out_kd <= LIMITS.kd_max)
    )


def test_gains_defaults_for_malformed():
    kp, kd, changed = safety.filter_gains(np.full(14, np.nan), np.ones(3), LIMITS)
    np.testing.assert_array_equal(kp, schema.ARM_KP_DEFAULT)
    np.testing.assert_array_equal(kd, schema.ARM_KD_DEFAULT)
    assert changed == 28
    kp, _, changed = safety.filter_gains(np.full(14, 1000.0), schema.ARM_KD_DEFAULT, LIMITS)
    assert np.all(kp == LIMITS.kp_max) and changed == 14


def test_check_vector_accepts_valid():
    assert safety.check_vector(np.zeros(16)) is None
    assert safety.check_vector([0.0] * 16) is None
