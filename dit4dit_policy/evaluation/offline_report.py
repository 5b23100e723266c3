"""Report of an offline open-loop evaluation: per-joint errors, error vs horizon step, traces.

Writes ``offline_report.md``, ``offline_report.html``, ``offline_metrics.json`` and
``plots/offline_*.png`` into the output directory (atomically).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from dit4dit_policy.evaluation import document as doc
from dit4dit_policy.evaluation import plots
from dit4dit_policy.evaluation.offline import OfflineResult
from dit4dit_policy.evaluation.report import _atomic_write


def _plot_joint_errors(result: OfflineResult, path: Path) -> Path:
    plt = plots._pyplot()
    fig, ax = plt.subplots(figsize=(10, 4))
    rmse = np.sqrt(result.per_joint_mse)
    names = [n.removesuffix("_joint") for n in result.joint_names]
    ax.bar(np.arange(len(names)), rmse, color=plots.RUN_COLORS[0])
    ax.set_xticks(np.arange(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("RMSE [rad | opening]")
    ax.set_title(f"Open-loop RMSE per joint ({result.chunks} chunks, horizon {result.horizon})")
    ax.grid(axis="y", alpha=0.3)
    out = plots._save(fig, path)
    plt.close(fig)
    return out


def _plot_step_errors(result: OfflineResult, path: Path) -> Path:
    plt = plots._pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    steps = np.arange(1, result.horizon + 1)
    valid = result.per_step_count > 0
    ax.plot(steps[valid], np.sqrt(result.per_step_mse[valid]), marker="o", color=plots.RUN_COLORS[0])
    ax.set_xlabel("chunk step k (1 = first point)")
    ax.set_ylabel("RMSE over joints [rad | opening]")
    ax.set_title("Open-loop error along the chunk")
    ax.grid(alpha=0.3)
    out = plots._save(fig, path)
    plt.close(fig)
    return out


def write_offline_report(
    result: OfflineResult, out_dir: str | Path, info: dict[str, Any], traces: int = 3
) -> dict[str, Path]:
    """Write the offline report.

    Args:
        result: the evaluation result.
        out_dir: output directory.
        info: JSON-able identity of the run (checkpoint id, dataset path, device, seed).
        traces: episodes to plot (first ones).

    Returns:
        ``{"markdown", "html", "metrics"}`` paths plus ``"plots"`` (a list in the JSON sense).
    """
    out = Path(out_dir)
    plot_dir = out / "plots"
    paths = [
        _plot_joint_errors(result, plot_dir / "offline_joint_rmse.png"),
        _plot_step_errors(result, plot_dir / "offline_step_rmse.png"),
    ]
    title = f"Offline open-loop evaluation: {info.get('checkpoint', '?')}"
    blocks: list[doc.Block] = [
        doc.Heading(1, title),
        doc.Bullets(
            [f"{k}: {v}" for k, v in info.items()]
            + [
                f"episodes: {len(result.episodes)}; chunks: {result.chunks}; stride {result.stride} frames; "
                f"horizon {result.horizon}",
                f"mean prediction time: {1e3 * result.seconds_per_chunk:.1f} ms per chunk (batched)",
            ]
        ),
        doc.Paragraph(
            "Observations go through DiT4DiTPolicy.predict_action_chunk, i.e. the training transforms "
            "(data/transforms.py) with the checkpoint's statistics; errors are in robot units against "
            "the recorded actions, steps past an episode's end excluded."
        ),
        doc.Heading(2, "Error per joint"),
        doc.Table(
            ["dim", "joint", "MSE", "RMSE"],
            [
                [str(i), n, f"{m:.3g}", f"{math.sqrt(m):.3g}"]
                for i, (n, m) in enumerate(zip(result.joint_names, result.per_joint_mse, strict=True))
            ]
            + [["", "all", f"{result.mse:.3g}", f"{math.sqrt(result.mse):.3g}"]],
            numeric=frozenset({0, 2, 3}),
        ),
        doc.Image("plots/offline_joint_rmse.png", "RMSE per joint"),
        doc.Heading(2, "Error along the chunk"),
        doc.Image("plots/offline_step_rmse.png", "RMSE per chunk step"),
        doc.Heading(2, "Episodes"),
        doc.Table(
            ["episode", "task", "frames", "MSE"],
            [
                [str(e.episode), e.task, str(len(e.time_s)), f"{float(np.mean(e.mse)):.3g}"]
                for e in result.episodes
            ],
            numeric=frozenset({0, 2, 3}),
        ),
    ]
    for trace in result.episodes[: max(traces, 0)]:
        name = f"offline_traces_{trace.episode:06d}.png"
        if trace.action.shape[1] == 16:
            paths.append(
                plots.plot_traces(
                    trace.time_s,
                    trace.action,
                    trace.predicted,
                    trace.chunk_id,
                    f"episode {trace.episode}: recorded vs predicted (open loop)",
                    plot_dir / name,
                    labels=("recorded action", "predicted action"),
                )
            )
            blocks.append(doc.Image(f"plots/{name}", f"Episode {trace.episode} ({trace.task})"))
    metrics = {"info": info, **result.to_json()}
    files = {
        "markdown": out / "offline_report.md",
        "html": out / "offline_report.html",
        "metrics": out / "offline_metrics.json",
    }
    _atomic_write(files["metrics"], json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    _atomic_write(files["markdown"], doc.to_markdown(blocks))
    _atomic_write(files["html"], doc.to_html(blocks, title))
    return {**files, "plots": paths}
