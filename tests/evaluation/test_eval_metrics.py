"""Success statistics against published values (Newcombe 1998a/b) and exact arithmetic."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dit4dit_policy.evaluation.metrics import (
    Comparison,
    Proportion,
    fisher_exact_p,
    newcombe_difference_interval,
    percentile,
    two_proportion_z_test,
    wilson_interval,
)

# Newcombe (1998a), Stat. Med. 17:857-872, Table II, method 3 (Wilson score, no continuity correction).
NEWCOMBE_1998A_WILSON = [
    ((81, 263), (0.2553, 0.3662)),
    ((15, 148), (0.0624, 0.1605)),
    ((0, 20), (0.0000, 0.1611)),
    ((1, 29), (0.0061, 0.1718)),
]

# Newcombe (1998b), Stat. Med. 17:873-890, Table II, method 10 (score interval from Wilson limits).
NEWCOMBE_1998B_METHOD10 = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_1998A_WILSON)
def test_wilson_matches_newcombe_table(counts, expected):
    lower, upper = wilson_interval(*counts)
    assert lower == pytest.approx(expected[0], abs=5e-5)
    assert upper == pytest.approx(expected[1], abs=5e-5)


def test_wilson_twenty_rollouts_half_success_is_thirty_to_seventy_percent():
    # peers.md §0 item 9: 10/20 → ≈ 30-70 %.
    lower, upper = wilson_interval(10, 20)
    assert lower == pytest.approx(0.2993, abs=5e-5) and upper == pytest.approx(0.7007, abs=5e-5)


def test_wilson_closed_forms_at_the_edges():
    z2 = 1.959963984540054**2
    # k = n: lower = n / (n + z²); k = 0: upper = z² / (n + z²).
    assert wilson_interval(20, 20) == (pytest.approx(20 / (20 + z2)), 1.0)
    assert wilson_interval(0, 20) == (0.0, pytest.approx(z2 / (20 + z2)))
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_other_confidence():
    narrow = wilson_interval(10, 20, 0.80)
    wide = wilson_interval(10, 20, 0.99)
    base = wilson_interval(10, 20)
    assert wide[0] < base[0] < narrow[0] < 0.5 < narrow[1] < base[1] < wide[1]


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_estimate_and_stays_in_unit_interval(counts):
    k, n = counts
    lower, upper = wilson_interval(k, n)
    assert 0.0 <= lower <= k / n <= upper <= 1.0
    # Symmetry: the interval of failures mirrors the interval of successes.
    mirror = wilson_interval(n - k, n)
    assert lower == pytest.approx(1 - mirror[1], abs=1e-12)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((3, 2), ValueError),
        ((-1, 5), ValueError),
        ((1.0, 5), TypeError),
        ((True, 5), TypeError),
        ((1, 5, 1.0), ValueError),
    ],
)
def test_wilson_rejects_bad_input(args, error):
    with pytest.raises(error):
        wilson_interval(*args)


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_1998B_METHOD10)
def test_difference_interval_matches_newcombe_table(counts, expected):
    lower, upper = newcombe_difference_interval(*counts)
    assert lower == pytest.approx(expected[0], abs=5e-5)
    assert upper == pytest.approx(expected[1], abs=5e-5)


def test_difference_interval_needs_trials():
    with pytest.raises(ValueError, match="at least one trial"):
        newcombe_difference_interval(0, 0, 1, 2)


def test_two_proportion_z_test_by_hand():
    # 7/20 vs 15/20: pooled p = 0.55, se = sqrt(.55·.45·(2/20)) = 0.157321; z = −0.4/se.
    z, p = two_proportion_z_test(7, 20, 15, 20)
    se = math.sqrt(0.55 * 0.45 * 0.1)
    assert z == pytest.approx(-0.4 / se, rel=1e-12)
    assert p == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-12)
    assert z == pytest.approx(-2.5426, abs=1e-4) and p == pytest.approx(0.0110, abs=1e-4)
    assert two_proportion_z_test(20, 20, 10, 10) == (0.0, 1.0)


def test_z_test_equals_uncorrected_chi_square():
    stats = pytest.importorskip("scipy.stats")
    for counts in [(7, 20, 15, 20), (12, 20, 9, 20), (3, 15, 10, 25)]:
        ka, na, kb, nb = counts
        chi2, p, _, _ = stats.chi2_contingency([[ka, na - ka], [kb, nb - kb]], correction=False)
        z, pz = two_proportion_z_test(*counts)
        assert z * z == pytest.approx(chi2, rel=1e-9) and pz == pytest.approx(p, rel=1e-9)


def test_fisher_lady_tasting_tea():
    # Fisher (1935): 3 of 4 cups right in each group → two-sided p = 34/70.
    assert fisher_exact_p(3, 4, 1, 4) == pytest.approx(34 / 70, rel=1e-12)
    assert fisher_exact_p(0, 0, 0, 0) == 1.0
    assert fisher_exact_p(10, 20, 10, 20) == pytest.approx(1.0)


def test_fisher_matches_scipy_on_a_grid():
    stats = pytest.importorskip("scipy.stats")
    for ka in range(0, 21, 3):
        for kb in range(0, 21, 4):
            expected = stats.fisher_exact([[ka, 20 - ka], [kb, 20 - kb]]).pvalue
            assert fisher_exact_p(ka, 20, kb, 20) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_comparison_and_proportion_objects():
    c = Comparison.of(17, 20, 10, 20)
    assert c.difference == pytest.approx(0.35)
    assert (c.lower, c.upper) == pytest.approx(newcombe_difference_interval(17, 20, 10, 20))
    assert c.fisher_p == pytest.approx(fisher_exact_p(17, 20, 10, 20))
    p = Proportion.of(11, 20)
    assert p.format() == "11/20 = 55 % [34-74 %]"
    assert math.isnan(Proportion.of(0, 0).rate) and Proportion.of(0, 0).format() == "0/0 = n/a"


def test_percentile_matches_numpy():
    values = [5.0, 1.0, 9.0, 3.0, 7.5, 2.25]
    for q in (0, 10, 50, 95, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(values, 101)
