"""Streaming feature statistics in LeRobot's ``stats.json`` form (torch-free).

One pass, mergeable: min/max exact; mean/std by Chan et al.'s parallel update in float64; the
quantiles q01/q10/q50/q90/q99 from a per-dim histogram whose range grows with the data (the
counts are re-spread by linear interpolation of the CDF when the range grows). The quantile error
is bounded by about two bin widths, ``2·(max-min)/num_bins`` (``DEFAULT_BINS`` = 4096).

Images get per-channel statistics of pixel values in [0, 1] over a strided subsample of every
third frame (``IMAGE_STATS_*``), stored with shape (3, 1, 1) like LeRobot's ``compute_episode_stats``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Quantile levels and their stats.json names (LeRobot v3 writes the same five).
QUANTILES: dict[str, float] = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
STAT_NAMES = ("min", "max", "mean", "std", "count", *QUANTILES)
DEFAULT_BINS = 4096
#: Longest side of the strided pixel subsample used for image statistics (LeRobot downsamples to
#: ~150 px and samples ~100 frames per episode; per-channel moments need far fewer pixels).
IMAGE_STATS_SIDE = 32
#: Every n-th frame of an episode contributes image statistics (10 Hz at 30 Hz recording).
IMAGE_STATS_FRAME_STRIDE = 3


class RunningStats:
    """Streaming statistics of (N, D) samples.

    Args:
        num_bins: histogram bins per dim for the quantile estimate.

    Raises:
        ValueError: num_bins < 16, or inconsistent D between updates, or non-finite samples.
    """

    def __init__(self, num_bins: int = DEFAULT_BINS) -> None:
        if num_bins < 16:
            raise ValueError(f"num_bins must be >= 16, got {num_bins}")
        self.num_bins = int(num_bins)
        self.count = 0
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None
        self._min: np.ndarray | None = None
        self._max: np.ndarray | None = None
        self._lo: np.ndarray | None = None
        self._hi: np.ndarray | None = None
        self._hist: np.ndarray | None = None  # (D, num_bins) float64 counts

    @property
    def dim(self) -> int | None:
        """D, or None before the first update."""
        return None if self._mean is None else int(self._mean.shape[0])

    def update(self, samples: np.ndarray) -> None:
        """Add samples.

        Args:
            samples: (N, D) or (N,) numeric array (bool/int are converted to float64).
        """
        x = np.asarray(samples, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise ValueError(f"samples must be (N, D), got shape {x.shape}")
        if x.shape[0] == 0:
            return
        if not np.all(np.isfinite(x)):
            raise ValueError("samples contain non-finite values")
        if self._mean is not None and x.shape[1] != self._mean.shape[0]:
            raise ValueError(f"samples have {x.shape[1]} dims, expected {self._mean.shape[0]}")
        n_b = x.shape[0]
        mean_b = x.mean(axis=0)
        m2_b = ((x - mean_b) ** 2).sum(axis=0)
        min_b, max_b = x.min(axis=0), x.max(axis=0)
        if self._mean is None:
            self.count, self._mean, self._m2 = n_b, mean_b, m2_b
            self._min, self._max = min_b, max_b
            self._lo, self._hi = min_b.copy(), _widen(min_b, max_b)
            self._hist = np.zeros((x.shape[1], self.num_bins))
        else:
            total = self.count + n_b
            delta = mean_b - self._mean
            self._mean = self._mean + delta * (n_b / total)
            self._m2 = self._m2 + m2_b + delta**2 * (self.count * n_b / total)
            self.count = total
            self._min = np.minimum(self._min, min_b)
            self._max = np.maximum(self._max, max_b)
            self._grow(min_b, max_b)
        self._add_to_hist(x)

    def _grow(self, low: np.ndarray, high: np.ndarray) -> None:
        assert self._lo is not None and self._hi is not None and self._hist is not None
        need = (low < self._lo) | (high > self._hi)
        for d in np.flatnonzero(need):
            new_lo, new_hi = min(self._lo[d], low[d]), max(self._hi[d], high[d])
            pad = 0.1 * (new_hi - new_lo)  # grow with margin so that later growth is rare
            new_lo = new_lo - pad if low[d] < self._lo[d] else new_lo
            new_hi = new_hi + pad if high[d] > self._hi[d] else new_hi
            old_edges = np.linspace(self._lo[d], self._hi[d], self.num_bins + 1)
            cdf = np.concatenate([[0.0], np.cumsum(self._hist[d])])
            new_edges = np.linspace(new_lo, new_hi, self.num_bins + 1)
            self._hist[d] = np.diff(np.interp(new_edges, old_edges, cdf, left=0.0, right=cdf[-1]))
            self._lo[d], self._hi[d] = new_lo, new_hi

    def _add_to_hist(self, x: np.ndarray) -> None:
        assert self._lo is not None and self._hi is not None and self._hist is not None
        width = self._hi - self._lo
        idx = np.floor((x - self._lo) / width * self.num_bins).astype(np.int64)
        np.clip(idx, 0, self.num_bins - 1, out=idx)
        offsets = (np.arange(x.shape[1]) * self.num_bins)[None, :]
        self._hist += np.bincount((idx + offsets).ravel(), minlength=self._hist.size).reshape(
            self._hist.shape
        )

    def merge(self, other: RunningStats) -> None:
        """Add another accumulator's samples (histograms are merged through their CDFs)."""
        if other.count == 0:
            return
        assert other._lo is not None and other._hi is not None and other._hist is not None
        if self._mean is None:
            self.__dict__.update(
                {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in other.__dict__.items()}
            )
            return
        assert self._hist is not None and self._lo is not None and self._hi is not None
        total = self.count + other.count
        delta = other._mean - self._mean
        self._mean = self._mean + delta * (other.count / total)
        self._m2 = self._m2 + other._m2 + delta**2 * (self.count * other.count / total)
        self.count = total
        self._min = np.minimum(self._min, other._min)
        self._max = np.maximum(self._max, other._max)
        self._grow(other._lo, other._hi)
        for d in range(self._hist.shape[0]):
            o_edges = np.linspace(other._lo[d], other._hi[d], other.num_bins + 1)
            o_cdf = np.concatenate([[0.0], np.cumsum(other._hist[d])])
            edges = np.linspace(self._lo[d], self._hi[d], self.num_bins + 1)
            self._hist[d] += np.diff(np.interp(edges, o_edges, o_cdf, left=0.0, right=o_cdf[-1]))

    def quantile(self, q: float) -> np.ndarray:
        """Estimated q-quantile per dim (clipped to the exact [min, max])."""
        if self._hist is None:
            raise ValueError("no samples")
        assert self._lo is not None and self._hi is not None
        out = np.empty(self._hist.shape[0])
        for d in range(self._hist.shape[0]):
            cdf = np.concatenate([[0.0], np.cumsum(self._hist[d])])
            edges = np.linspace(self._lo[d], self._hi[d], self.num_bins + 1)
            out[d] = np.interp(q * cdf[-1], cdf, edges)
        return np.clip(out, self._min, self._max)

    def result(self) -> dict[str, np.ndarray]:
        """Statistics as float64 arrays of shape (D,); ``count`` has shape (1,).

        Raises:
            ValueError: no samples were added.
        """
        if self._mean is None or self.count == 0:
            raise ValueError("no samples")
        std = np.sqrt(np.maximum(self._m2 / self.count, 0.0))
        out = {"min": self._min.copy(), "max": self._max.copy(), "mean": self._mean.copy(), "std": std}
        out["count"] = np.array([self.count], dtype=np.int64)
        for name, q in QUANTILES.items():
            out[name] = self.quantile(q)
        return out


def _widen(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Upper histogram edge: ``high`` or, for a zero span, a tiny positive width."""
    span = high - low
    return np.where(span > 0, high, low + np.maximum(np.abs(low) * 1e-6, 1e-9))


def exact_stats(samples: np.ndarray) -> dict[str, np.ndarray]:
    """Exact statistics of (N, D) samples (per-episode stats; numpy's linear quantiles)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    out = {
        "min": x.min(axis=0),
        "max": x.max(axis=0),
        "mean": x.mean(axis=0),
        "std": x.std(axis=0),
        "count": np.array([x.shape[0]], dtype=np.int64),
    }
    for name, q in QUANTILES.items():
        out[name] = np.quantile(x, q, axis=0)
    return out


def image_samples(frame: np.ndarray, side: int = IMAGE_STATS_SIDE) -> np.ndarray:
    """Strided pixel subsample of one (H, W, 3) uint8 frame as (N, 3) float64 in [0, 1]."""
    stride = max(1, int(np.ceil(max(frame.shape[0], frame.shape[1]) / side)))
    return frame[::stride, ::stride].reshape(-1, 3).astype(np.float64) / 255.0


def to_lerobot(stats: Mapping[str, np.ndarray], visual: bool) -> dict[str, Any]:
    """JSON-ready stats of one feature; visual features get LeRobot's (3, 1, 1) shapes."""
    out: dict[str, Any] = {}
    for name in STAT_NAMES:
        value = np.asarray(stats[name])
        if visual and name != "count":
            value = value.reshape(3, 1, 1)
        out[name] = value.tolist()
    return out


def feature_stats_dict(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A stats.json entry as the flat per-dim form of :class:`transforms.FeatureStats` (count: int).

    Raises:
        KeyError: a required statistic (min/max/mean/std/q01/q99) is missing.
    """
    out: dict[str, Any] = {}
    for name in ("min", "max", "mean", "std", "q01", "q99"):
        out[name] = np.asarray(entry[name], dtype=np.float64).reshape(-1).tolist()
    count = np.asarray(entry.get("count", [0])).reshape(-1)
    out["count"] = int(count[0]) if count.size else 0
    return out
