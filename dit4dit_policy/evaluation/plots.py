"""Report figures (matplotlib, Agg backend, PNG written atomically).

* success rate per task with its Wilson interval (one bar group per run when comparing);
* histogram of chunk inference latencies;
* joint traces of one recorded rollout: measured state vs commanded action for the 16 dims.

matplotlib is imported inside each function (``pip install dit4dit_policy[eval]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.evaluation.summary import RunStats

#: Colours of run A and run B (colour-blind-safe pair from the Okabe-Ito palette).
RUN_COLORS = ("#0072B2", "#E69F00")
DPI = 100
#: Smallest y span of a joint-trace panel [rad | opening] (0.1 rad ≈ 6°).
MIN_TRACE_SPAN = 0.1


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=DPI, bbox_inches="tight")
    tmp.replace(path)
    return path


def plot_success(runs: Sequence[tuple[str, RunStats]], path: Path) -> Path:
    """Bars of the success rate per task (and pooled) with 95 % Wilson intervals as error bars.

    Args:
        runs: (label, stats) of one or two runs; tasks follow the first run's order.
        path: output PNG.

    Returns:
        ``path``.
    """
    plt = _pyplot()
    names = [t.task for t in runs[0][1].tasks]
    for _, stats in runs[1:]:
        names += [t.task for t in stats.tasks if t.task not in names]
    names.append(runs[0][1].overall.task)
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(names) * len(runs) + 2), 4.2))
    x = np.arange(len(names))
    for i, (label, stats) in enumerate(runs):
        by_name = {t.task: t for t in [*stats.tasks, stats.overall]}
        rates, lows, highs = [], [], []
        for name in names:
            t = by_name.get(name)
            if t is None or t.n == 0:
                rates.append(np.nan)
                lows.append(0.0)
                highs.append(0.0)
                continue
            rates.append(100 * t.success.rate)
            lows.append(100 * (t.success.rate - t.success.lower))
            highs.append(100 * (t.success.upper - t.success.rate))
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(
            pos,
            rates,
            width,
            color=RUN_COLORS[i % 2],
            alpha=0.85,
            label=label,
            yerr=[lows, highs],
            capsize=4,
            error_kw={"elinewidth": 1.2},
        )
        for xp, rate, high, name in zip(pos, rates, highs, names, strict=True):
            t = by_name.get(name)
            if t is not None and t.n:
                ax.text(
                    xp,
                    rate + high + 1.5,
                    f"{t.success.successes}/{t.n}",
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylim(0, 112)
    ax.set_ylabel("success rate [%]")
    ax.set_title(f"Success per task (error bars: {100 * runs[0][1].confidence:.0f} % Wilson interval)")
    ax.grid(axis="y", alpha=0.3)
    if len(runs) > 1:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize=8, frameon=False)
    out = _save(fig, path)
    plt.close(fig)
    return out


def plot_latency(runs: Sequence[tuple[str, RunStats]], path: Path) -> Path:
    """Histogram of chunk inference latencies [ms] (overlaid when comparing).

    Args:
        runs: (label, stats) of one or two runs.
        path: output PNG.

    Returns:
        ``path``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    series = [
        (label, [x for r in stats.results.final for x in r.chunk_latencies_ms]) for label, stats in runs
    ]
    values = [v for _, vs in series for v in vs]
    if values:
        hi = max(values)
        bins = np.linspace(0.0, hi * 1.02 + 1e-9, 40)
        for i, (label, vs) in enumerate(series):
            if vs:
                p50, p95 = np.percentile(vs, [50, 95])
                ax.hist(
                    vs,
                    bins=bins,
                    alpha=0.6,
                    color=RUN_COLORS[i % 2],
                    label=f"{label}: n={len(vs)}, p50 {p50:.1f} ms, p95 {p95:.1f} ms",
                )
                ax.axvline(p95, color=RUN_COLORS[i % 2], linestyle="--", linewidth=1)
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no chunk latencies recorded", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("chunk inference latency [ms]")
    ax.set_ylabel("chunks")
    ax.set_title("Policy inference latency per chunk (dashed: p95)")
    ax.grid(alpha=0.3)
    out = _save(fig, path)
    plt.close(fig)
    return out


def plot_traces(
    time_s: np.ndarray,
    state: np.ndarray,
    action: np.ndarray,
    chunk_id: np.ndarray | None,
    title: str,
    path: Path,
    labels: tuple[str, str] = ("measured state", "commanded action"),
) -> Path:
    """Two 16-D traces of one rollout (default: measured state vs commanded action), 4×4 panels.

    Args:
        time_s: (T,) frame times [s].
        state: (T, 16) first trace (solid), e.g. measured joints [rad | opening].
        action: (T, 16) second trace (dashed), e.g. commanded targets [rad | opening].
        chunk_id: (T,) chunk index per frame (new chunks marked with ticks), or None.
        title: figure title.
        path: output PNG.
        labels: legend entries of the two traces.

    Returns:
        ``path``.

    Raises:
        ValueError: shapes that do not match (T,), (T, 16).
    """
    t = np.asarray(time_s, dtype=np.float64)
    state = np.asarray(state, dtype=np.float64)
    action = np.asarray(action, dtype=np.float64)
    if state.shape != (t.shape[0], schema.NUM_JOINTS) or action.shape != state.shape:
        raise ValueError(
            f"traces need time (T,), state and action (T, 16); got {t.shape}, {state.shape}, {action.shape}"
        )
    plt = _pyplot()
    fig, axes = plt.subplots(4, 4, figsize=(15, 10), sharex=True)
    starts = None
    if chunk_id is not None and len(chunk_id):
        ids = np.asarray(chunk_id).reshape(-1)
        starts = t[np.flatnonzero(np.diff(ids, prepend=ids[0] - 1) != 0)]
    for dim, ax in enumerate(axes.flat):
        unit = "rad" if dim < schema.NUM_ARM_JOINTS else "opening"
        ax.plot(t, state[:, dim], color="#0072B2", linewidth=1.3, label=labels[0])
        ax.plot(t, action[:, dim], color="#D55E00", linewidth=1.0, linestyle="--", label=labels[1])
        lo, hi = ax.get_ylim()
        if hi - lo < MIN_TRACE_SPAN:  # a still joint: show it flat instead of magnifying µrad jitter
            mid = 0.5 * (lo + hi)
            lo, hi = mid - MIN_TRACE_SPAN / 2, mid + MIN_TRACE_SPAN / 2
            ax.set_ylim(lo, hi)
        ax.ticklabel_format(axis="y", useOffset=False)
        if starts is not None:
            ax.vlines(starts, lo, lo + 0.06 * (hi - lo), color="#777", linewidth=0.6)
        name = schema.JOINT_NAMES[dim].removesuffix("_joint")
        ax.set_title(f"{dim}: {name} [{unit}]", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("time [s]", fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.suptitle(title + ("  (ticks: new chunk)" if starts is not None else ""), fontsize=11)
    fig.tight_layout()
    out = _save(fig, path)
    plt.close(fig)
    return out
