"""Full consistency check of a LeRobot dataset (``dit4dit dataset validate``; torch-free).

Checks, per episode: the data file reads, every declared column is present with its width, the
frame count matches the metadata, float columns are finite, ``frame_index`` is 0..L-1,
``episode_index``/``index``/``task_index`` are consistent, timestamps increase (and, as a warning,
stay within LeRobot's 1e-4 s of ``frame_index / fps``), every video decodes to exactly L frames;
plus the metadata totals, the modality mapping of an embodiment and the minimum episode length.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.data import lerobot_format as fmt
from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
from dit4dit_policy.errors import DatasetError, SchemaMismatchError

#: LeRobot's timestamp tolerance [s] (``tolerance_s`` default of its dataset loader).
TIMESTAMP_TOLERANCE_S = 1e-4


@dataclasses.dataclass
class Report:
    """Problems found: ``errors`` make the dataset unusable, ``warnings`` are worth a look."""

    errors: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    episodes_checked: int = 0
    frames_checked: int = 0
    videos_decoded: int = 0

    @property
    def ok(self) -> bool:
        """No errors."""
        return not self.errors


def validate_dataset(
    root: str | Path,
    *,
    decode_videos: bool = True,
    embodiment: str | None = None,
    min_length: int = 1,
    max_problems: int = 200,
) -> Report:
    """Check a dataset and return every problem found (never raises for data problems).

    Args:
        root: dataset directory.
        decode_videos: decode every video (slow for big datasets) to check its frame count.
        embodiment: also check the modality mapping of this registry embodiment.
        min_length: episodes shorter than this (e.g. the action horizon) are errors.
        max_problems: stop collecting after this many errors.

    Returns:
        A :class:`Report`.
    """
    report = Report()
    root = Path(root)
    try:
        ds = LeRobotDataset(root, repair_info=True)
    except DatasetError as exc:
        report.errors.append(str(exc))
        return report
    _check_metadata(ds, report)
    if embodiment is not None:
        from dit4dit_policy.data.modality import ModalityMap

        try:
            ModalityMap.for_dataset(ds, embodiment)
        except (SchemaMismatchError, KeyError) as exc:
            report.errors.append(f"embodiment '{embodiment}': {exc}")
    next_index = 0
    for e in range(ds.num_episodes):
        if len(report.errors) >= max_problems:
            report.warnings.append(f"stopped after {max_problems} errors")
            break
        length = int(ds.episode_lengths[e])
        if length < min_length:
            report.errors.append(f"episode {e} has {length} frames, shorter than the required {min_length}")
        try:
            data = ds.episode_data(e, [k for k, f in ds.features.items() if not fmt.is_visual(f)])
        except DatasetError as exc:
            report.errors.append(str(exc))
            next_index += length
            continue
        _check_columns(ds, e, data, next_index, report)
        next_index += length
        report.episodes_checked += 1
        report.frames_checked += length
        if decode_videos:
            for key in ds.video_keys:
                try:
                    ds.frames(e, key)
                    report.videos_decoded += 1
                except DatasetError as exc:
                    report.errors.append(str(exc))
    return report


def _check_metadata(ds: LeRobotDataset, report: Report) -> None:
    info = ds.info
    if info.get("total_episodes") is not None and int(info["total_episodes"]) != ds.num_episodes:
        report.warnings.append(
            f"info.json lists {info['total_episodes']} episodes, {ds.num_episodes} are committed "
            "(LeRobotDatasetWriter.open() repairs this)"
        )
    if info.get("total_frames") is not None and int(info["total_frames"]) != ds.num_frames:
        report.warnings.append(
            f"info.json lists {info['total_frames']} frames, the episodes hold {ds.num_frames}"
        )
    if (ds.root / fmt.STAGING_DIR).exists():
        report.warnings.append(
            f"an unfinished episode is in {ds.root / fmt.STAGING_DIR} (discarded on open())"
        )
    if ds.version == "v3.0" and ds.stats is None:
        report.warnings.append("meta/stats.json is missing (dit4dit dataset stats --write recomputes it)")
    for e in range(ds.num_episodes):
        row = ds.episode_row(e)
        if ds.version == "v3.0":
            start, stop = int(row.get("dataset_from_index", -1)), int(row.get("dataset_to_index", -1))
            if (start, stop) != (
                int(ds.episode_starts[e]),
                int(ds.episode_starts[e] + ds.episode_lengths[e]),
            ):
                report.errors.append(
                    f"episode {e}: dataset_from/to_index ({start}, {stop}) disagree with the episode lengths "
                    f"({int(ds.episode_starts[e])}, {int(ds.episode_starts[e] + ds.episode_lengths[e])})"
                )
        tasks = row.get("tasks") or []
        for task in [tasks] if isinstance(tasks, str) else tasks:
            if task not in ds.tasks:
                report.errors.append(f"episode {e}: task {task!r} is not in the tasks table")


def _check_columns(
    ds: LeRobotDataset, e: int, data: dict[str, np.ndarray], start: int, report: Report
) -> None:
    length = int(ds.episode_lengths[e])
    for key, values in data.items():
        if values.dtype.kind == "f":
            bad = ~np.isfinite(values.reshape(length, -1))
            if bad.any():
                frame = int(np.argwhere(bad)[0][0])
                dims = np.flatnonzero(bad[frame]).tolist()
                report.errors.append(
                    f"episode {e}, frame {frame}: '{key}' has non-finite values at dims {dims}"
                )
    if schema.FEATURE_FRAME_INDEX in data and not np.array_equal(
        data[schema.FEATURE_FRAME_INDEX], np.arange(length)
    ):
        frame = int(np.flatnonzero(data[schema.FEATURE_FRAME_INDEX] != np.arange(length))[0])
        report.errors.append(f"episode {e}, frame {frame}: frame_index is not 0..{length - 1}")
    if schema.FEATURE_EPISODE_INDEX in data and np.any(data[schema.FEATURE_EPISODE_INDEX] != e):
        frame = int(np.flatnonzero(data[schema.FEATURE_EPISODE_INDEX] != e)[0])
        report.errors.append(
            f"episode {e}, frame {frame}: episode_index is {data[schema.FEATURE_EPISODE_INDEX][frame]}"
        )
    if schema.FEATURE_INDEX in data and not np.array_equal(
        data[schema.FEATURE_INDEX], start + np.arange(length)
    ):
        report.errors.append(
            f"episode {e}: 'index' is not the global frame index {start}..{start + length - 1}"
        )
    if schema.FEATURE_TASK_INDEX in data:
        task_index = data[schema.FEATURE_TASK_INDEX]
        bad = (task_index < 0) | (task_index >= len(ds.tasks))
        if bad.any():
            frame = int(np.flatnonzero(bad)[0])
            report.errors.append(f"episode {e}, frame {frame}: task_index {task_index[frame]} has no task")
    if schema.FEATURE_TIMESTAMP in data:
        stamps = data[schema.FEATURE_TIMESTAMP].astype(np.float64)
        steps = np.diff(stamps)
        if np.any(steps <= 0):
            frame = int(np.flatnonzero(steps <= 0)[0]) + 1
            report.errors.append(f"episode {e}, frame {frame}: timestamp {stamps[frame]} does not increase")
        drift = np.abs(stamps - np.arange(length) / ds.fps)
        if np.any(drift > TIMESTAMP_TOLERANCE_S + 1e-6):
            frame = int(np.argmax(drift))
            report.warnings.append(
                f"episode {e}, frame {frame}: timestamp {stamps[frame]:.6f} s is {drift[frame] * 1e3:.2f} ms "
                "from "
                f"frame_index/fps (LeRobot's loaders tolerate {TIMESTAMP_TOLERANCE_S * 1e3:.1f} ms)"
            )
