"""Success-rate statistics for small rollout counts: Wilson intervals and two-run comparisons.

With the 20 real rollouts per task of the paper's protocol (g1_spec §7.3) a 50 % success rate
has a 95 % Wilson interval of about 30-70 % (peers.md §0 item 9), so every rate this package
reports comes with its interval, and a comparison of two runs comes with a test.

* :func:`wilson_interval`: Wilson score interval without continuity correction (Wilson 1927;
  method 3 of Newcombe 1998a, "Two-sided confidence intervals for the single proportion",
  Stat. Med. 17:857-872). Unlike the normal ("Wald") interval it stays inside [0, 1] and is not
  degenerate at 0/n or n/n.
* :func:`newcombe_difference_interval`: interval for p1 − p2 built from the two Wilson
  intervals (method 10 of Newcombe 1998b, "Interval estimation for the difference between
  independent proportions", Stat. Med. 17:873-890).
* :func:`two_proportion_z_test`: pooled two-proportion z-test (normal approximation), two-sided.
* :func:`fisher_exact_p`: Fisher's exact test, two-sided, summing the tables no more likely than
  the observed one (the usual definition, as in R's ``fisher.test``); exact at any n, so it is
  the one to believe at n = 20 when the z-test's normal approximation is poor.

Pure Python (``math`` and ``statistics``); no numpy or scipy.
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist


def _check_counts(successes: int, n: int, name: str = "") -> None:
    label = f"{name} " if name else ""
    for field, value in (("successes", successes), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{label}{field} must be an int, got {type(value).__name__} {value!r}")
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"{label}counts need 0 <= successes <= n, got successes={successes}, n={n}")


def _z_for(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (no continuity correction).

    Args:
        successes: number of successes k.
        n: number of trials (n = 0 gives the uninformative interval (0, 1)).
        confidence: two-sided coverage, e.g. 0.95 (z = 1.959964).

    Returns:
        (lower, upper) with 0 <= lower <= k/n <= upper <= 1.

    Raises:
        TypeError: non-integer counts.
        ValueError: counts outside 0 <= k <= n, or confidence outside (0, 1).
    """
    _check_counts(successes, n)
    z = _z_for(confidence)
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    # The bounds touch 0 (1) exactly when k = 0 (k = n); clamp away rounding noise there.
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == n else min(1.0, centre + half)
    return lower, upper


@dataclasses.dataclass(frozen=True)
class Proportion:
    """A success count with its rate and Wilson interval.

    Attributes:
        successes: k.
        n: trials.
        rate: k / n (NaN when n = 0).
        lower: Wilson lower bound.
        upper: Wilson upper bound.
        confidence: coverage of the interval.
    """

    successes: int
    n: int
    rate: float
    lower: float
    upper: float
    confidence: float

    @classmethod
    def of(cls, successes: int, n: int, confidence: float = 0.95) -> Proportion:
        """Build from counts (see :func:`wilson_interval` for the raised errors)."""
        lower, upper = wilson_interval(successes, n, confidence)
        rate = successes / n if n else math.nan
        return cls(successes, n, rate, lower, upper, confidence)

    def format(self) -> str:
        """``"11/20 = 55 % [34-74 %]"``."""
        if self.n == 0:
            return "0/0 = n/a"
        return (
            f"{self.successes}/{self.n} = {100 * self.rate:.0f} % "
            f"[{100 * self.lower:.0f}-{100 * self.upper:.0f} %]"
        )


def newcombe_difference_interval(
    successes_a: int, n_a: int, successes_b: int, n_b: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Interval for the difference of two independent proportions p_a − p_b (Newcombe method 10).

    Args:
        successes_a: successes of run A.
        n_a: trials of run A (> 0).
        successes_b: successes of run B.
        n_b: trials of run B (> 0).
        confidence: two-sided coverage.

    Returns:
        (lower, upper) bounds of p_a − p_b, within [−1, 1].

    Raises:
        TypeError / ValueError: invalid counts, an empty run, or confidence outside (0, 1).
    """
    _check_counts(successes_a, n_a, "run A")
    _check_counts(successes_b, n_b, "run B")
    if n_a == 0 or n_b == 0:
        raise ValueError(f"both runs need at least one trial, got n_a={n_a}, n_b={n_b}")
    p_a, p_b = successes_a / n_a, successes_b / n_b
    l_a, u_a = wilson_interval(successes_a, n_a, confidence)
    l_b, u_b = wilson_interval(successes_b, n_b, confidence)
    diff = p_a - p_b
    delta = math.sqrt((p_a - l_a) ** 2 + (u_b - p_b) ** 2)
    epsilon = math.sqrt((u_a - p_a) ** 2 + (p_b - l_b) ** 2)
    return max(-1.0, diff - delta), min(1.0, diff + epsilon)


def two_proportion_z_test(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    """Pooled two-proportion z-test of H0: p_a = p_b, two-sided.

    z = (p_a − p_b) / sqrt(p̂(1 − p̂)(1/n_a + 1/n_b)) with the pooled p̂ = (k_a + k_b)/(n_a + n_b).
    When both runs are all-success or all-failure the statistic is undefined; it is reported as
    z = 0, p = 1 (no evidence of a difference).

    Args:
        successes_a: successes of run A.
        n_a: trials of run A (> 0).
        successes_b: successes of run B.
        n_b: trials of run B (> 0).

    Returns:
        (z, p_value).

    Raises:
        TypeError / ValueError: invalid counts or an empty run.
    """
    _check_counts(successes_a, n_a, "run A")
    _check_counts(successes_b, n_b, "run B")
    if n_a == 0 or n_b == 0:
        raise ValueError(f"both runs need at least one trial, got n_a={n_a}, n_b={n_b}")
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
    if se == 0.0:
        return 0.0, 1.0
    z = (successes_a / n_a - successes_b / n_b) / se
    return z, math.erfc(abs(z) / math.sqrt(2.0))


def fisher_exact_p(successes_a: int, n_a: int, successes_b: int, n_b: int) -> float:
    """Two-sided p-value of Fisher's exact test on the 2×2 table [[k_a, n_a−k_a], [k_b, n_b−k_b]].

    Conditions on the margins (hypergeometric distribution of k_a) and sums the probabilities of
    all tables whose probability does not exceed the observed one (relative tolerance 1e-7, as in
    R's ``fisher.test``).

    Args:
        successes_a: successes of run A.
        n_a: trials of run A.
        successes_b: successes of run B.
        n_b: trials of run B.

    Returns:
        p-value in (0, 1].

    Raises:
        TypeError / ValueError: invalid counts.
    """
    _check_counts(successes_a, n_a, "run A")
    _check_counts(successes_b, n_b, "run B")
    total_success = successes_a + successes_b
    total = n_a + n_b
    if total == 0:
        return 1.0
    denom = math.comb(total, total_success)

    def prob(k: int) -> float:
        return math.comb(n_a, k) * math.comb(n_b, total_success - k) / denom

    observed = prob(successes_a)
    lo, hi = max(0, total_success - n_b), min(n_a, total_success)
    p = sum(q for q in (prob(k) for k in range(lo, hi + 1)) if q <= observed * (1.0 + 1e-7))
    return min(1.0, p)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Run A against run B on one success proportion.

    Attributes:
        a: run A's proportion.
        b: run B's proportion.
        difference: p_a − p_b.
        lower: Newcombe lower bound of the difference.
        upper: Newcombe upper bound of the difference.
        z: pooled two-proportion z statistic.
        p_value: its two-sided p-value.
        fisher_p: Fisher's exact two-sided p-value.
    """

    a: Proportion
    b: Proportion
    difference: float
    lower: float
    upper: float
    z: float
    p_value: float
    fisher_p: float

    @classmethod
    def of(
        cls, successes_a: int, n_a: int, successes_b: int, n_b: int, confidence: float = 0.95
    ) -> Comparison:
        """Compare two runs (errors as :func:`two_proportion_z_test`)."""
        lower, upper = newcombe_difference_interval(successes_a, n_a, successes_b, n_b, confidence)
        z, p = two_proportion_z_test(successes_a, n_a, successes_b, n_b)
        return cls(
            a=Proportion.of(successes_a, n_a, confidence),
            b=Proportion.of(successes_b, n_b, confidence),
            difference=successes_a / n_a - successes_b / n_b,
            lower=lower,
            upper=upper,
            z=z,
            p_value=p,
            fisher_p=fisher_exact_p(successes_a, n_a, successes_b, n_b),
        )


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default method) of a non-empty list.

    Args:
        values: samples.
        q: percentile in [0, 100].

    Returns:
        The q-th percentile (NaN for an empty list).

    Raises:
        ValueError: q outside [0, 100].
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be in [0, 100], got {q!r}")
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
