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
