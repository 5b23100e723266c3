"""Smoothing of tracked poses: the 1€ filter on positions and on orientations.

Hand and controller tracking jitters by millimetres at rest and must not lag when the operator
moves fast. The 1€ filter (Casiez, Roussel & Vogel, "1€ Filter: A Simple Speed-based Low-pass
Filter for Noisy Input in Interactive Systems", CHI 2012) is a first-order low-pass whose cutoff
rises with the signal's speed: ``f_c = min_cutoff + beta·|ẋ|``, with ``ẋ`` itself low-passed at
``d_cutoff``. Orientations are filtered as unit quaternions (sign-aligned to the previous output,
renormalised), with the speed taken as the angular rate.

Torch-free; numpy only.
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff_hz: float, dt_s: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """1€ filter of a vector signal.

    Args:
        min_cutoff_hz: cutoff at rest [Hz] (lower = smoother, more lag at rest).
        beta: cutoff increase per unit of speed [Hz per (unit/s)] (higher = less lag when moving).
        d_cutoff_hz: cutoff of the speed estimate [Hz].

    Raises:
        ValueError: non-positive cutoffs or negative beta.
    """

    def __init__(self, min_cutoff_hz: float = 1.0, beta: float = 5.0, d_cutoff_hz: float = 1.0) -> None:
        if not (min_cutoff_hz > 0 and d_cutoff_hz > 0 and beta >= 0):
            raise ValueError(
                f"1€ filter needs cutoffs > 0 and beta >= 0, got {min_cutoff_hz}, {d_cutoff_hz}, {beta}"
            )
        self.min_cutoff_hz = min_cutoff_hz
        self.beta = beta
        self.d_cutoff_hz = d_cutoff_hz
        self.reset()

    def reset(self) -> None:
        """Forget the history (the next sample passes unfiltered)."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def __call__(self, x: np.ndarray, dt_s: float) -> np.ndarray:
        """Filter one sample.

        Args:
            x: (N,) sample.
            dt_s: time since the previous sample [s]; ≤ 0 returns the previous output.

        Returns:
            (N,) filtered value.
        """
        x = np.asarray(x, dtype=np.float64)
        if self._x is None:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return x.copy()
        if dt_s <= 0:
            return self._x.copy()
        dx = (x - self._x) / dt_s
        self._dx = self._dx + _alpha(self.d_cutoff_hz, dt_s) * (dx - self._dx)
        cutoff = self.min_cutoff_hz + self.beta * float(np.linalg.norm(self._dx))
        self._x = self._x + _alpha(cutoff, dt_s) * (x - self._x)
        return self._x.copy()


class QuaternionOneEuroFilter:
    """1€ filter of a unit quaternion (x, y, z, w); the speed is the angular rate [rad/s].

    Args:
        min_cutoff_hz: cutoff at rest [Hz].
        beta: cutoff increase per rad/s [Hz·s/rad].
        d_cutoff_hz: cutoff of the rate estimate [Hz].
    """

    def __init__(self, min_cutoff_hz: float = 1.0, beta: float = 0.5, d_cutoff_hz: float = 1.0) -> None:
        if not (min_cutoff_hz > 0 and d_cutoff_hz > 0 and beta >= 0):
            raise ValueError(
                f"1€ filter needs cutoffs > 0 and beta >= 0, got {min_cutoff_hz}, {d_cutoff_hz}, {beta}"
            )
        self.min_cutoff_hz = min_cutoff_hz
        self.beta = beta
        self.d_cutoff_hz = d_cutoff_hz
        self.reset()

    def reset(self) -> None:
        """Forget the history."""
        self._q: np.ndarray | None = None
        self._rate = 0.0

    def __call__(self, q: np.ndarray, dt_s: float) -> np.ndarray:
        """Filter one quaternion sample; returns a (4,) unit quaternion."""
        q = np.asarray(q, dtype=np.float64)
        q = q / np.linalg.norm(q)
        if self._q is None:
            self._q = q.copy()
            return q.copy()
        if dt_s <= 0:
            return self._q.copy()
        if float(np.dot(q, self._q)) < 0:
            q = -q
        angle = 2.0 * math.acos(min(1.0, abs(float(np.dot(q, self._q)))))
        self._rate += _alpha(self.d_cutoff_hz, dt_s) * (angle / dt_s - self._rate)
        cutoff = self.min_cutoff_hz + self.beta * self._rate
        out = self._q + _alpha(cutoff, dt_s) * (q - self._q)
        self._q = out / np.linalg.norm(out)
        return self._q.copy()
