"""Append episodes to a LeRobot v3.0 dataset, streaming video while an episode records (torch-free).

Crash safety: the episode being recorded lives in ``<root>/.recording/`` (videos encode there as
frames arrive; numeric columns stay in RAM, 64 bytes a frame for the G1). ``save_episode`` then
renames the finished videos into ``videos/``, writes the data parquet and the updated tasks table
atomically, and finally commits the episode by atomically writing its row to
``meta/episodes/…`` — an episode exists exactly when that row exists. ``info.json`` and
``stats.json`` are rewritten last; :meth:`LeRobotDatasetWriter.open` repairs them, drops an
unfinished episode and removes files of an uncommitted one, so a crash or ``kill -9`` at any
point leaves every finished episode readable.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.data import lerobot_format as fmt
from dit4dit_policy.data import lerobot_tables as tables
from dit4dit_policy.data.dataset_stats import StatsAccumulator, episode_stats, episode_stats_columns
from dit4dit_policy.data.frame_check import FrameChecker
from dit4dit_policy.data.stats import IMAGE_STATS_FRAME_STRIDE, image_samples
from dit4dit_policy.data.video_io import VideoStreamWriter
from dit4dit_policy.errors import DatasetError

logger = logging.getLogger(__name__)


class LeRobotDatasetWriter:
    """Writer of a LeRobot v3.0 dataset; build it with :meth:`create` or :meth:`open`.

    Typical use::

        features = g1_features(image_shape=(480, 640, 3))
        with LeRobotDatasetWriter.create(root, fps=30, features=features) as writer:
            for obs, act, t in stream:
                writer.add_frame({"observation.images.ego_view": rgb, "observation.state": q,
                                  "action": act, "timestamp": t})
            writer.save_episode(task="pick the red cube and place it in the bowl")

    Leaving the ``with`` block by an exception discards the unfinished episode; finished ones stay.
    """

    def __init__(
        self,
        root: Path,
        info: dict[str, Any],
        tasks: list[str],
        stats: StatsAccumulator,
        next_slot: int,
        video_options: Mapping[str, str] | None,
        threaded: bool,
    ) -> None:
        self.root = root
        self._info = info
        self._features = fmt.normalize_features(info["features"])
        self._tasks = tasks
        self._stats = stats
        self._next_slot = next_slot
        self._video_options = dict(video_options or {})
        self._threaded = threaded
        self._checker = FrameChecker(self._features)
        self._closed = False
        self._reset_episode()

    # ------------------------------------------------------------------ construction

    @classmethod
    def create(
        cls,
        root: str | Path,
        fps: int = int(schema.CONTROL_RATE_HZ),
        features: Mapping[str, Mapping[str, Any]] | None = None,
        robot_type: str | None = schema.ROBOT_TYPE,
        *,
        embodiment: str | None = None,
        video_options: Mapping[str, str] | None = None,
        threaded_encoding: bool = True,
    ) -> LeRobotDatasetWriter:
        """Create a new, empty dataset at ``root``.

        Args:
            root: dataset directory; must not exist or be empty.
            fps: frame rate [Hz] (integer, like LeRobot).
            features: LeRobot feature dicts; default ``g1_features()`` (480×640 ego view, AV1).
            robot_type: ``info.json`` robot type.
            embodiment: if given (``g1_16dof`` …), also write GR00T-style ``meta/modality.json``.
            video_options: FFmpeg encoder option overrides, e.g. ``{"crf": "28", "preset": "10"}``.
            threaded_encoding: encode videos in background threads (recorders); False encodes in
                ``add_frame`` (deterministic CPU use, e.g. benchmarks).

        Raises:
            DatasetError: ``root`` exists and is not empty.
            ValueError: bad fps or features.
        """
        root = Path(root)
        if root.exists() and any(root.iterdir()):
            raise DatasetError(
                f"dataset directory {root} already exists and is not empty; use open() to append"
            )
        if isinstance(fps, bool) or not isinstance(fps, (int, np.integer)) or fps <= 0:
            raise ValueError(f"fps must be a positive integer, got {fps!r}")
        features = fmt.normalize_features(features if features is not None else fmt.g1_features(fps=fps))
        for key in fmt.DEFAULT_FEATURES:
            features.setdefault(key, dict(fmt.DEFAULT_FEATURES[key]))
        if not fmt.user_keys(features):
            raise ValueError(
                "features must declare at least one per-frame feature besides the bookkeeping ones"
            )
        info = fmt.empty_info(int(fps), features, robot_type)
        root.mkdir(parents=True, exist_ok=True)
        if embodiment is not None:
            from dit4dit_policy.data.modality import write_modality

            write_modality(root, embodiment, features)
        fmt.write_parquet_atomic(root / fmt.TASKS_PATH, tables.tasks_table([]))
        fmt.write_json_atomic(root / fmt.INFO_PATH, info)
        return cls(root, info, [], StatsAccumulator(features), 0, video_options, threaded_encoding)

    @classmethod
    def open(
        cls,
        root: str | Path,
        *,
        video_options: Mapping[str, str] | None = None,
        threaded_encoding: bool = True,
    ) -> LeRobotDatasetWriter:
        """Open an existing v3.0 dataset to append episodes, repairing an interrupted session.

        Repairs: deletes an unfinished episode (``.recording/``) and temporaries, deletes files of an
        episode whose metadata row was never committed, and rewrites ``info.json``/``stats.json``
        from the committed episodes.

        Raises:
            DatasetError: not a v3.0 dataset, or inconsistent committed metadata.
        """
        root = Path(root)
        info = fmt.read_json(root / fmt.INFO_PATH, "dataset info")
        if info.get("codebase_version") != fmt.CODEBASE_VERSION:
            raise DatasetError(
                f"can only append to {fmt.CODEBASE_VERSION} datasets; {root} is "
                f"{info.get('codebase_version')!r} (convert it first)"
            )
        features = fmt.normalize_features(info["features"])
        staging = root / fmt.STAGING_DIR
        if staging.exists():
            logger.warning("dropping the unfinished episode left in %s", staging)
            shutil.rmtree(staging)
        fmt.remove_temporaries(root)
        rows = tables.read_episodes_rows(root)
        indices = [int(r["episode_index"]) for r in rows]
        if indices != list(range(len(rows))):
            raise DatasetError(f"dataset {root}: episode indices must be 0..{len(rows) - 1}, got {indices}")
        tasks = tables.read_tasks(root / fmt.TASKS_PATH)
        chunks_size = int(info.get("chunks_size", fmt.DEFAULT_CHUNK_SIZE))
        used = [int(r["data/chunk_index"]) * chunks_size + int(r["data/file_index"]) for r in rows]
        for key in fmt.video_keys(features):
            used += [
                int(r[f"videos/{key}/chunk_index"]) * chunks_size + int(r[f"videos/{key}/file_index"])
                for r in rows
            ]
        next_slot = max(used, default=-1) + 1
        _remove_uncommitted(root, features, next_slot, chunks_size)
        stats = StatsAccumulator.load_state(root, features, len(rows))
        if stats is None:
            from dit4dit_policy.data import dataset_stats
            from dit4dit_policy.data.lerobot_dataset import LeRobotDataset

            logger.warning("statistics of %s are stale; recomputing them in one pass", root)
            stats = dataset_stats.recompute(LeRobotDataset(root, repair_info=True))
        writer = cls(root, info, tasks, stats, next_slot, video_options, threaded_encoding)
        writer._info["total_episodes"] = len(rows)
        writer._info["total_frames"] = int(sum(int(r["length"]) for r in rows))
        writer._write_summary()
        return writer

    # ------------------------------------------------------------------ properties

    @property
    def fps(self) -> int:
        """Frame rate [Hz]."""
        return int(self._info["fps"])

    @property
    def features(self) -> dict[str, dict[str, Any]]:
        """The dataset's feature dicts (a copy)."""
        return fmt.normalize_features(self._features)

    @property
    def num_episodes(self) -> int:
        """Finished episodes."""
        return int(self._info["total_episodes"])

    @property
    def num_frames(self) -> int:
        """Frames in finished episodes."""
        return int(self._info["total_frames"])

    @property
    def tasks(self) -> list[str]:
        """Task strings by task index."""
        return list(self._tasks)

    @property
    def episode_num_frames(self) -> int:
        """Frames added to the episode being recorded."""
        return len(self._timestamps)

    # ------------------------------------------------------------------ recording

    def _reset_episode(self) -> None:
        self._columns: dict[str, list[Any]] = {k: [] for k in self._checker.numeric_keys}
        self._timestamps: list[float] = []
        self._encoders: dict[str, VideoStreamWriter] = {}
        self._samples: dict[str, list[np.ndarray]] = {k: [] for k in self._checker.video_keys}

    def _staging(self) -> Path:
        return self.root / fmt.STAGING_DIR / f"episode_{self.num_episodes:06d}"

    def add_frame(self, frame: Mapping[str, Any]) -> None:
        """Append one frame to the current episode.

        Args:
            frame: every declared feature except the bookkeeping ones: video features as
                (H, W, 3) uint8 RGB; numeric features as arrays of the declared shape (scalars for
                shape (1,)); optional ``"timestamp"`` [s since episode start], strictly increasing,
                default ``frame_index / fps``.

        Raises:
            DatasetError: a missing/unknown feature, wrong shape or dtype, non-finite value or a
                non-increasing timestamp — the message names the feature, episode and frame.
        """
        if self._closed:
            raise DatasetError(f"dataset writer for {self.root} is closed")
        index = len(self._timestamps)
        where = f"episode {self.num_episodes}, frame {index}"
        values, timestamp = self._checker.check(frame, where, index / self.fps)
        if self._timestamps and timestamp <= self._timestamps[-1]:
            raise DatasetError(
                f"{where}: 'timestamp' must increase; got {timestamp} s after {self._timestamps[-1]} s"
            )
        for key in self._checker.video_keys:
            encoder = self._encoders.get(key)
            if encoder is None:
                height, width, _ = self._features[key]["shape"]
                codec = self._features[key].get("info", {}).get("video.codec", "av1")
                path = self._staging() / f"{key}.mp4"
                path.parent.mkdir(parents=True, exist_ok=True)
                encoder = VideoStreamWriter(
                    path, height, width, self.fps, codec, self._video_options, threaded=self._threaded
                )
                self._encoders[key] = encoder
            encoder.write(values[key], timestamp)
            if len(self._timestamps) % IMAGE_STATS_FRAME_STRIDE == 0:
                self._samples[key].append(image_samples(values[key]))
        for key in self._checker.numeric_keys:
            self._columns[key].append(values[key])
        self._timestamps.append(timestamp)

    def discard_episode(self) -> None:
        """Drop the frames of the current episode (nothing already saved is touched)."""
        for encoder in self._encoders.values():
            encoder.abort()
        shutil.rmtree(self.root / fmt.STAGING_DIR, ignore_errors=True)
        self._reset_episode()

    def save_episode(self, task: str) -> int:
        """Finish the current episode and commit it to the dataset.

        Args:
            task: the natural-language instruction of the episode.

        Returns:
            The new episode's index.

        Raises:
            DatasetError: no frames, an empty task, or a failed video encode.
            OSError: a failed write (disk full, …).
            In both failure cases the episode is discarded and earlier episodes are untouched.
        """
        if self._closed:
            raise DatasetError(f"dataset writer for {self.root} is closed")
        episode = self.num_episodes
        length = len(self._timestamps)
        if not isinstance(task, str) or not task.strip():
            raise DatasetError(f"episode {episode}: task must be a non-empty instruction, got {task!r}")
        if length == 0:
            raise DatasetError(f"episode {episode}: add frames with add_frame() before save_episode()")
        started = time.perf_counter()
        try:
            for key, encoder in self._encoders.items():
                written = encoder.close()
                if written != length:
                    raise DatasetError(
                        f"episode {episode}: video '{key}' has {written} frames, expected {length}"
                    )
            columns, samples = self._write_episode(episode, length, task)
        except BaseException:
            # Nothing was committed: files already renamed into this slot are overwritten by the
            # next episode (or removed by open()); the frames of this episode are dropped.
            self.discard_episode()
            raise
        self._next_slot += 1
        self._info["total_episodes"] = episode + 1
        self._info["total_frames"] = self.num_frames + length
        self._stats.add_episode(columns, samples)
        self._write_summary()
        shutil.rmtree(self.root / fmt.STAGING_DIR, ignore_errors=True)
        self._reset_episode()
        logger.debug("saved episode %d (%d frames) in %.3f s", episode, length, time.perf_counter() - started)
        return episode

    def _write_episode(
        self, episode: int, length: int, task: str
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Write the finished episode's files and commit its metadata row (see the module docstring)."""
        chunks_size = int(self._info["chunks_size"])
        chunk, file = fmt.chunk_and_file(self._next_slot, chunks_size)
        location = {"chunk_index": chunk, "file_index": file}
        if task not in self._tasks:
            self._tasks.append(task)
            fmt.write_parquet_atomic(self.root / fmt.TASKS_PATH, tables.tasks_table(self._tasks))
        columns = self._episode_columns(episode, length, self._tasks.index(task))
        samples = {k: np.concatenate(v) for k, v in self._samples.items() if v}
        stats = episode_stats(columns, samples, self._features)
        row: dict[str, Any] = {
            "episode_index": episode,
            "tasks": [task],
            "length": length,
            "data/chunk_index": chunk,
            "data/file_index": file,
            "dataset_from_index": self.num_frames,
            "dataset_to_index": self.num_frames + length,
        }
        duration = self._timestamps[-1] + 1.0 / self.fps
        for key, encoder in self._encoders.items():
            final = self.root / self._info["video_path"].format(video_key=key, **location)
            final.parent.mkdir(parents=True, exist_ok=True)
            fmt.commit_file(encoder.path, final)
            row.update(
                {
                    f"videos/{key}/chunk_index": chunk,
                    f"videos/{key}/file_index": file,
                    f"videos/{key}/from_timestamp": 0.0,
                    f"videos/{key}/to_timestamp": duration,
                }
            )
        data_path = self.root / self._info["data_path"].format(**location)
        fmt.write_parquet_atomic(data_path, tables.frames_table(columns, self._features))
        row.update(episode_stats_columns(stats, self._features))
        row.update({"meta/episodes/chunk_index": chunk, "meta/episodes/file_index": file})
        # Commit point: the episode exists once its metadata row is in place.
        fmt.write_parquet_atomic(
            self.root / fmt.EPISODES_PATH.format(**location), tables.episodes_table([row])
        )
        return columns, samples

    def _episode_columns(self, episode: int, length: int, task_index: int) -> dict[str, np.ndarray]:
        columns: dict[str, np.ndarray] = {}
        for key in self._checker.numeric_keys:
            dtype = np.dtype(self._features[key]["dtype"])
            columns[key] = np.asarray(self._columns[key], dtype=dtype).reshape(length, -1)
            if self._features[key]["shape"] == (1,):
                columns[key] = columns[key][:, 0]
        columns[schema.FEATURE_TIMESTAMP] = np.asarray(self._timestamps, dtype=np.float32)
        columns[schema.FEATURE_FRAME_INDEX] = np.arange(length, dtype=np.int64)
        columns[schema.FEATURE_EPISODE_INDEX] = np.full(length, episode, dtype=np.int64)
        columns[schema.FEATURE_INDEX] = self.num_frames + np.arange(length, dtype=np.int64)
        columns[schema.FEATURE_TASK_INDEX] = np.full(length, task_index, dtype=np.int64)
        return columns

    def _write_summary(self) -> None:
        self._info["total_tasks"] = len(self._tasks)
        self._info["splits"] = {"train": f"0:{self.num_episodes}"} if self.num_episodes else {}
        if self._stats.episodes:
            fmt.write_json_atomic(self.root / fmt.STATS_PATH, self._stats.to_json())
            self._stats.save_state(self.root)
        fmt.write_json_atomic(self.root / fmt.INFO_PATH, self._info)

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Discard an unsaved episode (with a warning) and release the writer."""
        if self._closed:
            return
        if self._timestamps:
            logger.warning(
                "closing %s with %d unsaved frames; discarding them", self.root, len(self._timestamps)
            )
        self.discard_episode()
        self._closed = True

    def __enter__(self) -> LeRobotDatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _remove_uncommitted(root: Path, features: Mapping[str, Any], next_slot: int, chunks_size: int) -> None:
    """Delete data/video files at slots ≥ next_slot (renamed in before a crash, never committed)."""
    candidates = [root / "data"] + [root / "videos" / key for key in fmt.video_keys(features)]
    for base in candidates:
        for path in base.glob("chunk-*/file-*.*"):
            try:
                chunk = int(path.parent.name.split("-")[1])
                file = int(path.stem.split("-")[1])
            except (IndexError, ValueError):
                continue
            if chunk * chunks_size + file >= next_slot:
                logger.warning("removing %s of an episode that was never committed", path)
                path.unlink()
