"""LeRobot datasets: read v3.0 and v2.1/v2.0, write v3.0 (torch-free: pyarrow + PyAV + numpy).

Public API (docs/datasets.md)::

    features = g1_features(image_shape=(H, W, 3), video_codec="av1" | "h264", extra=None)
    writer = LeRobotDatasetWriter.create(root, fps=30, features=features, robot_type=schema.ROBOT_TYPE)
    writer = LeRobotDatasetWriter.open(root)           # append (resume)
    writer.add_frame({...}); index = writer.save_episode(task=...); writer.discard_episode(); writer.close()

    ds = LeRobotDataset(root)
    ds.num_episodes, ds.num_frames, ds.fps, ds.features, ds.tasks, ds.video_keys, ds.stats
    ep = ds.episode(i)       # ep.data[column] numpy arrays, ep.task, ep.length, ep.frames(key)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dit4dit_policy import schema
from dit4dit_policy.data import lerobot_format as fmt
from dit4dit_policy.data import lerobot_tables as tables
from dit4dit_policy.data.lerobot_format import g1_features
from dit4dit_policy.data.lerobot_writer import LeRobotDatasetWriter
from dit4dit_policy.data.video_io import decode_frames
from dit4dit_policy.errors import DatasetError

logger = logging.getLogger(__name__)


@dataclass
class Episode:
    """One episode's per-frame columns and lazy access to its video frames.

    Attributes:
        index: episode index.
        task: the episode's (first) task string.
        length: number of frames L.
        data: column name → (L,) or (L, D) numpy array (state/action float32 as stored).
    """

    index: int
    task: str
    length: int
    data: dict[str, np.ndarray]
    _dataset: LeRobotDataset = field(repr=False)

    def frames(self, key: str = schema.FEATURE_IMAGE_EGO, size: tuple[int, int] | None = None) -> np.ndarray:
        """Decoded (L, H, W, 3) uint8 RGB frames of video feature ``key`` (see ``LeRobotDataset.frames``)."""
        return self._dataset.frames(self.index, key, size)


class LeRobotDataset:
    """Read-only view of a LeRobot dataset directory (v3.0, v2.1 or v2.0).

    Args:
        root: dataset directory (with ``meta/info.json``).
        repair_info: accept an ``info.json`` whose totals lag the committed episodes (a writer crash
            between the commit and the summary update) without a warning.

    Raises:
        DatasetError: missing/corrupt metadata, an unsupported version, or inconsistent episodes.
    """

    def __init__(self, root: str | Path, repair_info: bool = False) -> None:
        self.root = Path(root)
        self.info: dict[str, Any] = fmt.read_json(self.root / fmt.INFO_PATH, "dataset info")
        self.version = str(self.info.get("codebase_version", ""))
        if self.version not in fmt.READABLE_VERSIONS:
            raise DatasetError(
                f"{self.root}: codebase_version {self.version!r} is not supported "
                f"(readable: {fmt.READABLE_VERSIONS})"
            )
        for key in ("fps", "features", "data_path"):
            if key not in self.info:
                raise DatasetError(f"{self.root / fmt.INFO_PATH} lacks the key '{key}'")
        try:
            self.features = fmt.normalize_features(self.info["features"])
        except ValueError as exc:
            raise DatasetError(f"{self.root / fmt.INFO_PATH}: invalid features: {exc}") from exc
        self.fps = int(self.info["fps"])
        self.robot_type: str | None = self.info.get("robot_type")
        self.video_keys = fmt.video_keys(self.features)
        self._chunks_size = int(self.info.get("chunks_size", fmt.DEFAULT_CHUNK_SIZE))
        if self.version == "v3.0":
            self._rows = tables.read_episodes_rows(self.root)
            self.tasks = tables.read_tasks(self.root / fmt.TASKS_PATH)
        else:
            self._rows = fmt.read_jsonl(self.root / fmt.V2_EPISODES_PATH, "episodes metadata")
            self._rows.sort(key=lambda r: int(r["episode_index"]))
            task_rows = fmt.read_jsonl(self.root / fmt.V2_TASKS_PATH, "tasks metadata")
            self.tasks = [r["task"] for r in sorted(task_rows, key=lambda r: int(r["task_index"]))]
        indices = [int(r["episode_index"]) for r in self._rows]
        if indices != list(range(len(indices))):
            raise DatasetError(
                f"{self.root}: episode indices must be 0..{len(indices) - 1}, got {indices[:20]}"
            )
        stated = self.info.get("total_episodes")
        if stated is not None and int(stated) != len(self._rows) and not repair_info:
            logger.warning(
                "%s: info.json lists %s episodes but %d are committed; "
                "open it with LeRobotDatasetWriter.open() to repair",
                self.root,
                stated,
                len(self._rows),
            )
        self.episode_lengths = np.array([int(r["length"]) for r in self._rows], dtype=np.int64)
        self.episode_starts = np.concatenate([[0], np.cumsum(self.episode_lengths)[:-1]]).astype(np.int64)
        self._table_cache: tuple[Path, pa.Table] | None = None

    # ------------------------------------------------------------------ summary

    @property
    def num_episodes(self) -> int:
        """Number of episodes."""
        return len(self._rows)

    @property
    def num_frames(self) -> int:
        """Total frames over all episodes."""
        return int(self.episode_lengths.sum())

    @property
    def stats(self) -> dict[str, Any] | None:
        """Content of ``meta/stats.json`` (None when absent)."""
        path = self.root / fmt.STATS_PATH
        return fmt.read_json(path, "dataset statistics") if path.is_file() else None

    @property
    def modality(self) -> dict[str, Any] | None:
        """Content of GR00T-style ``meta/modality.json`` (None when absent)."""
        path = self.root / fmt.MODALITY_PATH
        return fmt.read_json(path, "modality mapping") if path.is_file() else None

    def episode_row(self, index: int) -> dict[str, Any]:
        """The episode's metadata row (v3.0 columns, or the v2.x jsonl entry)."""
        self._check_index(index)
        return dict(self._rows[index])

    def episode_task(self, index: int) -> str:
        """The task string of an episode."""
        row = self.episode_row(index)
        tasks = row.get("tasks") or []
        if isinstance(tasks, str):
            tasks = [tasks]
        if not tasks:
            raise DatasetError(f"episode {index}: metadata lists no task")
        return str(tasks[0])

    def _check_index(self, index: int) -> None:
        if not 0 <= index < len(self._rows):
            raise IndexError(f"episode index {index} out of range [0, {len(self._rows)})")

    # ------------------------------------------------------------------ per-frame data

    def data_path(self, index: int) -> Path:
        """Parquet file holding the episode's frames."""
        row = self.episode_row(index)
        if self.version == "v3.0":
            rel = self.info["data_path"].format(
                chunk_index=int(row["data/chunk_index"]), file_index=int(row["data/file_index"])
            )
        else:
            rel = self.info["data_path"].format(episode_chunk=index // self._chunks_size, episode_index=index)
        return self.root / rel

    def _read_table(self, path: Path, index: int) -> pa.Table:
        if self._table_cache is not None and self._table_cache[0] == path:
            return self._table_cache[1]
        if not path.is_file():
            raise DatasetError(f"episode {index}: data file {path} does not exist")
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise DatasetError(f"episode {index}: data file {path} is unreadable: {exc}") from exc
        self._table_cache = (path, table)
        return table

    def episode_data(self, index: int, columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Per-frame columns of one episode.

        Args:
            index: episode index.
            columns: names to read (default: every non-visual feature present in the file).

        Returns:
            name → (L,) or (L, D) numpy array, in frame order.

        Raises:
            DatasetError: missing file or column, wrong vector width, or a frame count that differs
                from the metadata — naming the episode.
        """
        path = self.data_path(index)
        table = self._read_table(path, index)
        if schema.FEATURE_EPISODE_INDEX in table.column_names and self.version == "v3.0":
            ep_col = table.column(schema.FEATURE_EPISODE_INDEX)
            if pc.min(ep_col).as_py() != pc.max(ep_col).as_py():
                table = table.filter(pc.equal(ep_col, index))
        length = int(self.episode_lengths[index])
        if table.num_rows != length:
            raise DatasetError(
                f"episode {index}: data file {path} has {table.num_rows} frames, the metadata says {length}"
            )
        wanted = (
            list(columns)
            if columns is not None
            else [k for k, f in self.features.items() if not fmt.is_visual(f) and k in table.column_names]
        )
        out = {}
        for key in wanted:
            if key not in self.features:
                raise DatasetError(f"episode {index}: '{key}' is not a feature of {self.root}")
            if key not in table.column_names:
                raise DatasetError(
                    f"episode {index}: data file {path} lacks the column '{key}' (has {table.column_names})"
                )
            out[key] = tables.column_to_numpy(
                table.column(key), self.features[key], f"episode {index}: column '{key}'"
            )
        return out

    def episode(self, index: int, columns: Sequence[str] | None = None) -> Episode:
        """One episode: its per-frame columns (see :meth:`episode_data`) and its task."""
        return Episode(
            index,
            self.episode_task(index),
            int(self.episode_lengths[index]),
            self.episode_data(index, columns),
            self,
        )

    def __iter__(self) -> Iterator[Episode]:
        for index in range(self.num_episodes):
            yield self.episode(index)

    def __len__(self) -> int:
        return self.num_episodes

    # ------------------------------------------------------------------ video

    def video_segment(self, index: int, key: str) -> tuple[Path, float, float | None]:
        """(file, from_timestamp [s], to_timestamp [s] or None) of an episode's video."""
        if key not in self.video_keys:
            raise DatasetError(f"'{key}' is not a video feature of {self.root} (videos: {self.video_keys})")
        row = self.episode_row(index)
        template = self.info.get("video_path")
        if not template:
            raise DatasetError(f"{self.root / fmt.INFO_PATH} has no 'video_path'")
        if self.version == "v3.0":
            try:
                rel = template.format(
                    video_key=key,
                    chunk_index=int(row[f"videos/{key}/chunk_index"]),
                    file_index=int(row[f"videos/{key}/file_index"]),
                )
                start, end = (
                    float(row[f"videos/{key}/from_timestamp"]),
                    float(row[f"videos/{key}/to_timestamp"]),
                )
            except (KeyError, TypeError) as exc:
                raise DatasetError(
                    f"episode {index}: metadata lacks the video location of '{key}': {exc}"
                ) from exc
            return self.root / rel, start, end
        rel = template.format(video_key=key, episode_chunk=index // self._chunks_size, episode_index=index)
        return self.root / rel, 0.0, None

    def frames(
        self, index: int, key: str = schema.FEATURE_IMAGE_EGO, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """Decode all frames of one episode's video.

        Args:
            index: episode index.
            key: video feature.
            size: optional (height, width) to rescale to while decoding.

        Returns:
            (L, H, W, 3) uint8 RGB.

        Raises:
            DatasetError: missing/undecodable file, or a frame count that differs from the episode length.
        """
        path, start, end = self.video_segment(index, key)
        try:
            frames, _ = decode_frames(path, start, end, size=size)
        except DatasetError as exc:
            raise DatasetError(f"episode {index}, video '{key}': {exc}") from exc
        length = int(self.episode_lengths[index])
        if frames.shape[0] != length:
            raise DatasetError(
                f"episode {index}, video '{key}' ({path}): decoded {frames.shape[0]} frames, "
                f"expected {length}; "
                f"frame {min(frames.shape[0], length)} is missing or unreadable"
            )
        return frames


__all__ = ["Episode", "LeRobotDataset", "LeRobotDatasetWriter", "g1_features"]
