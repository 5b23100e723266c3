"""Streaming statistics against numpy, including merges and a growing histogram range."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dit4dit_policy.data.stats import QUANTILES, RunningStats, exact_stats, feature_stats_dict, to_lerobot


def _check(stats, values, bins=4096):
    np.testing.assert_array_equal(stats["min"], values.min(0))
    np.testing.assert_array_equal(stats["max"], values.max(0))
    np.testing.assert_allclose(stats["mean"], values.mean(0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(stats["std"], values.std(0), rtol=1e-8, atol=1e-10)
    assert stats["count"].tolist() == [len(values)]
    span = values.max(0) - values.min(0)
    for name, q in QUANTILES.items():
        np.testing.assert_array_less(
            np.abs(stats[name] - np.quantile(values, q, axis=0)), span * 4 / bins + 1e-12
        )


def test_streaming_matches_numpy_with_drifting_range():
    rng = np.random.default_rng(0)
    # Batches that keep extending the range (forces several histogram re-spreads).
    batches = [rng.normal(loc=i * 0.5, scale=1 + i, size=(2000, 3)) for i in range(8)]
    stats = RunningStats()
    for batch in batches:
        stats.update(batch)
    _check(stats.result(), np.concatenate(batches))


def test_merge_equals_single_pass():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(-3, 1, size=(5000, 2)), rng.uniform(0, 5, size=(3000, 2))
    left, right = RunningStats(), RunningStats()
    left.update(a)
    right.update(b)
    left.merge(right)
    _check(left.result(), np.concatenate([a, b]))


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=2), min_size=1, max_size=200
    ),
    st.integers(1, 7),
)
def test_any_data_any_split(rows, splits):
    values = np.asarray(rows, dtype=np.float64)
    stats = RunningStats()
    for part in np.array_split(values, splits):
        stats.update(part)
    result = stats.result()
    np.testing.assert_array_equal(result["min"], values.min(0))
    np.testing.assert_array_equal(result["max"], values.max(0))
    np.testing.assert_allclose(result["mean"], values.mean(0), rtol=1e-9, atol=1e-9)
    for name in QUANTILES:
        assert np.all(result[name] >= values.min(0)) and np.all(result[name] <= values.max(0))


def test_constant_dims_and_errors():
    stats = RunningStats()
    stats.update(np.ones((10, 2)))
    stats.update(np.ones((5, 2)))
    result = stats.result()
    assert result["q01"].tolist() == [1.0, 1.0] and result["std"].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="non-finite"):
        stats.update(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="3 dims, expected 2"):
        stats.update(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="no samples"):
        RunningStats().result()


def test_lerobot_shapes_and_flat_form():
    values = np.random.default_rng(2).uniform(size=(50, 3))
    entry = to_lerobot(exact_stats(values), visual=True)
    assert np.asarray(entry["mean"]).shape == (3, 1, 1) and entry["count"] == [50]
    flat = feature_stats_dict(entry)
    assert len(flat["q01"]) == 3 and flat["count"] == 50
