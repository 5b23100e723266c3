"""Resumable training checkpoints, written atomically.

``<output_dir>/checkpoints/step-NNNNNNN/`` holds accelerate's state (model, optimiser, registered
objects: the LR schedule and the trainer state with the data position; per-rank RNG states) plus
``policy/``, an inference checkpoint of the same weights. It is assembled as
``.step-NNNNNNN.tmp`` and renamed into place by the main process after every rank has written its
part; ``trainer_state.json`` inside marks it complete. ``<output_dir>/policy`` is a symlink to the
newest ``policy/`` (replaced atomically). Older checkpoints beyond ``keep`` are deleted.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from dit4dit_policy.data.lerobot_format import write_json_atomic

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^step-(\d{7,})$")
MARKER = "trainer_state.json"


def checkpoint_root(output_dir: Path) -> Path:
    """``<output_dir>/checkpoints``."""
    return Path(output_dir) / "checkpoints"


def complete_checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of finished checkpoints, oldest first."""
    root = checkpoint_root(output_dir)
    found = []
    if root.is_dir():
        for path in root.iterdir():
            match = _NAME.match(path.name)
            if match and (path / MARKER).is_file():
                found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest finished checkpoint, or None."""
    found = complete_checkpoints(output_dir)
    return found[-1][1] if found else None


def save(
    accelerator: Any, output_dir: Path, step: int, state: dict[str, Any], export: Any, keep: int
) -> Path:
    """Save a resumable checkpoint of ``step`` (call on every rank).

    Args:
        accelerator: the ``accelerate.Accelerator`` (its registered objects are saved too).
        output_dir: run directory.
        step: optimiser step count.
        state: JSON-ready trainer state (written as the completion marker).
        export: callable(directory) writing the inference checkpoint; called on every rank (sharded
            models gather their weights collectively), the main process writes.
        keep: finished checkpoints to keep.

    Returns:
        The checkpoint directory.
    """
    root = checkpoint_root(output_dir)
    final = root / f"step-{step:07d}"
    tmp = root / f".step-{step:07d}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    export(tmp / "policy")
    if accelerator.is_main_process:
        write_json_atomic(tmp / MARKER, state)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _point_policy_link(Path(output_dir), final / "policy")
        for _, old in complete_checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        logger.info("saved checkpoint %s", final)
    accelerator.wait_for_everyone()
    return final


def _point_policy_link(output_dir: Path, target: Path) -> None:
    link = output_dir / "policy"
    tmp = output_dir / f".policy.link-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, output_dir), tmp)
    if link.exists() and not link.is_symlink():
        shutil.rmtree(link)
    os.replace(tmp, link)


def load(accelerator: Any, path: Path) -> dict[str, Any]:
    """Restore accelerate's state from ``path`` and return the trainer state (call on every rank)."""
    accelerator.load_state(str(path))
    return json.loads((Path(path) / MARKER).read_text(encoding="utf-8"))


def remove_stale_temporaries(output_dir: Path) -> None:
    """Delete ``.step-*.tmp`` directories left by a crash during a save (main process)."""
    root = checkpoint_root(output_dir)
    if root.is_dir():
        for path in root.glob(".step-*.tmp"):
            shutil.rmtree(path, ignore_errors=True)
