"""Metric sinks of the main process: JSON lines (always), TensorBoard and Weights & Biases (optional)."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from dit4dit_policy.errors import ConfigError

logger = logging.getLogger(__name__)


class MetricsLogger:
    """Append ``{"step", "split", "time", ...}`` records to ``metrics.jsonl`` and mirror them.

    Each record is one line written and flushed at once, so a crash loses at most the line being
    written; a resumed run drops records past its restart step so the file stays one history.

    Args:
        output_dir: run directory.
        tensorboard: also write event files to ``output_dir/tensorboard``.
        wandb_project: also log to this Weights & Biases project.
        config: the resolved config (for W&B).
        resume_step: truncate records with ``step`` > this (a resumed run), None for a new run.

    Raises:
        ConfigError: W&B requested but not installed.
    """

    def __init__(
        self,
        output_dir: Path,
        tensorboard: bool = True,
        wandb_project: str | None = None,
        config: dict[str, Any] | None = None,
        resume_step: int | None = None,
    ) -> None:
        self.path = Path(output_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.is_file():
            kept = [line for line in self.path.read_text().splitlines() if _step_of(line) <= resume_step]
            self.path.write_text("".join(line + "\n" for line in kept))
        self._file = self.path.open("a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(output_dir) / "tensorboard"), purge_step=resume_step)
        self._wandb = None
        if wandb_project:
            try:
                import wandb
            except ImportError as exc:
                raise ConfigError(
                    "train.wandb_project is set but wandb is not installed (pip install wandb)"
                ) from exc
            self._wandb = wandb.init(
                project=wandb_project, config=config, dir=str(output_dir), resume="allow"
            )

    def log(self, step: int, split: str, values: dict[str, float]) -> None:
        """Record scalar ``values`` of ``split`` (``train``/``val``) at optimiser step ``step``."""
        clean = {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}
        self._file.write(json.dumps({"step": step, "split": split, "time": time.time(), **clean}) + "\n")
        self._file.flush()
        if self._tb is not None:
            for key, value in clean.items():
                self._tb.add_scalar(f"{split}/{key}", value, step)
        if self._wandb is not None:
            self._wandb.log({f"{split}/{k}": v for k, v in clean.items()}, step=step)

    def close(self) -> None:
        """Flush and close every sink."""
        self._file.close()
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


def _step_of(line: str) -> int:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return 1 << 62  # unreadable (torn) line: drop it


def read_metrics(path: Path, split: str = "train") -> list[dict[str, Any]]:
    """Records of one split from a ``metrics.jsonl`` (tests, reports)."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("split") == split]


_SUMMARY_KEYS = ("loss", "action_loss", "video_loss")


def summarize_metrics(path: Path, window: int = 250) -> dict[str, Any]:
    """A compact training-log summary of a ``metrics.jsonl`` (written as ``training_summary.json``).

    Args:
        path: the run's ``metrics.jsonl``.
        window: steps per row of the training-loss table.

    Returns:
        ``{"steps", "wall_time_s", "samples_per_s_median", "train": [{"steps": "a-b", loss means…}],
        "val": [{"step", losses…}]}``; ``wall_time_s`` spans the first to the last record (so it
        excludes the first ``log_every`` steps and includes validation and checkpoint time).
    """
    import statistics

    train, val = read_metrics(path, "train"), read_metrics(path, "val")
    rows = []
    for start in range(0, train[-1]["step"] if train else 0, window):
        chunk = [r for r in train if start < r["step"] <= start + window]
        if chunk:
            row: dict[str, Any] = {"steps": f"{start + 1}-{chunk[-1]['step']}"}
            row.update({k: statistics.fmean(r.get(k, 0.0) for r in chunk) for k in _SUMMARY_KEYS})
            rows.append(row)
    return {
        "steps": train[-1]["step"] if train else 0,
        "wall_time_s": (train[-1]["time"] - train[0]["time"]) if len(train) > 1 else 0.0,
        "samples_per_s_median": statistics.median(r["samples_per_s"] for r in train) if train else 0.0,
        "train": rows,
        "val": [{"step": r["step"], **{k: r.get(k) for k in _SUMMARY_KEYS}} for r in val],
    }
