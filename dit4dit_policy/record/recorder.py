"""Episode recorder: paired frames → a LeRobot v3 dataset, written by a background thread.

The dataset writer (:class:`~dit4dit_policy.data.lerobot_writer.LeRobotDatasetWriter`) streams
each episode to disk as frames arrive (video encoding in its own threads) and commits an episode
atomically on save; :meth:`LeRobotDatasetWriter.open` repairs a dataset after a crash, so killing
the recorder loses at most the episode in progress (DESIGN.md §8). This module adds:

* a writer thread with a bounded queue, so the ROS executor never blocks on encoding or saving —
  the next episode can start while the previous one is being saved;
* per-frame timing columns (:data:`EXTRA_FEATURES`): capture stamp, state offset, action age and
  a flag for frames repeated over a lost camera frame;
* ``recording_log.jsonl`` beside the dataset: one line per saved or discarded episode with its
  task, success mark, pairing counters (dropped / duplicate / late), duration and save time.

The task string is given per episode (never hard-coded; peers.md §3 #11). Torch-free.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.errors import DatasetError
from dit4dit_policy.record.pairing import PairedFrame, PairingCounters

logger = logging.getLogger(__name__)

FEATURE_CAPTURE_NS = "record.capture_time_ns"
FEATURE_STATE_OFFSET = "record.state_offset_ms"
FEATURE_ACTION_AGE = "record.action_age_ms"
FEATURE_FILLED = "record.frame_filled"

#: Per-frame timing features written besides the G1 features.
EXTRA_FEATURES: dict[str, dict[str, Any]] = {
    FEATURE_CAPTURE_NS: {"dtype": "int64", "shape": (1,), "names": None},
    FEATURE_STATE_OFFSET: {"dtype": "float32", "shape": (1,), "names": None},
    FEATURE_ACTION_AGE: {"dtype": "float32", "shape": (1,), "names": None},
    FEATURE_FILLED: {"dtype": "bool", "shape": (1,), "names": None},
}

LOG_NAME = "recording_log.jsonl"


@dataclasses.dataclass(frozen=True)
class EpisodeSummary:
    """What happened to one episode.

    Attributes:
        outcome: ``"saved"``, ``"discarded"`` or ``"failed"`` (save raised).
        episode_index: dataset index of a saved episode (else None).
        task: the instruction.
        success: the operator's success mark (None if not marked).
        frames: frames in the episode.
        counters: pairing counters (dropped, duplicates, late, …).
        duration_s: episode length [s] (frames / fps).
        save_s: time save_episode took [s].
        error: the error message of a failed save.
    """

    outcome: str
    episode_index: int | None
    task: str
    success: bool | None
    frames: int
    counters: dict[str, int]
    duration_s: float
    save_s: float
    error: str = ""


def _append_line(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_recording_log(root: str | Path) -> list[dict[str, Any]]:
    """Entries of ``<root>/recording_log.jsonl`` (a torn last line after a crash is ignored)."""
    path = Path(root) / LOG_NAME
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries


class EpisodeRecorder:
    """Records episodes of paired frames into a dataset (created on first use, else appended to).

    Args:
        root: dataset directory.
        fps: dataset rate [Hz].
        image_size: (height, width) of stored frames; None → the first frame's size (or the existing
            dataset's). Frames of another size are resized (OpenCV, area interpolation).
        video_codec: ``"av1"`` (LeRobot default) or ``"h264"``.
        video_options: encoder option overrides (e.g. ``{"preset": "12"}``).
        queue_frames: frames buffered for the writer thread; beyond it frames are counted as
            ``writer_overflow`` and dropped (reported, never silent).

    Raises:
        DatasetError: ``root`` holds a dataset with different features or rate.
    """

    def __init__(
        self,
        root: str | Path,
        fps: int = int(schema.CONTROL_RATE_HZ),
        image_size: tuple[int, int] | None = None,
        video_codec: str = "av1",
        video_options: dict[str, str] | None = None,
        queue_frames: int = 600,
    ) -> None:
        self.root = Path(root).expanduser()
        self.fps = int(fps)
        self.image_size = image_size
        self.video_codec = video_codec
        self.video_options = video_options
        self._writer: Any = None
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=queue_frames)
        self._thread = threading.Thread(target=self._run, name="episode-writer", daemon=True)
        self._lock = threading.Lock()
        self._summaries: list[EpisodeSummary] = []
        self._saving = 0
        self.writer_overflow = 0
        self.last_error = ""
        self._episode_frames = 0
        self._open_existing()
        self._thread.start()

    # ------------------------------------------------------------------ dataset

    def _open_existing(self) -> None:
        from dit4dit_policy.data.lerobot_dataset import LeRobotDatasetWriter

        if not (self.root / "meta" / "info.json").is_file():
            return
        writer = LeRobotDatasetWriter.open(self.root, video_options=self.video_options)
        features = writer.features
        if writer.fps != self.fps:
            writer.close()
            raise DatasetError(
                f"dataset {self.root} records at {writer.fps} Hz, the recorder at {self.fps} Hz"
            )
        missing = [
            k
            for k in (schema.FEATURE_IMAGE_EGO, schema.FEATURE_STATE, schema.FEATURE_ACTION, *EXTRA_FEATURES)
            if k not in features
        ]
        if missing:
            writer.close()
            raise DatasetError(
                f"dataset {self.root} lacks the recorder's features {missing}; record into a new directory"
            )
        height, width, _ = features[schema.FEATURE_IMAGE_EGO]["shape"]
        if self.image_size is not None and tuple(self.image_size) != (height, width):
            writer.close()
            raise DatasetError(
                f"dataset {self.root} stores {height}×{width} frames, the recorder was asked for "
                f"{self.image_size[0]}×{self.image_size[1]}"
            )
        self.image_size = (height, width)
        self._writer = writer

    def _ensure_writer(self, image: np.ndarray) -> None:
        if self._writer is not None:
            return
        from dit4dit_policy.data.lerobot_dataset import LeRobotDatasetWriter, g1_features

        height, width = self.image_size or image.shape[:2]
        height, width = height - height % 2, width - width % 2
        self.image_size = (height, width)
        features = g1_features(
            image_shape=(height, width, 3), video_codec=self.video_codec, extra=EXTRA_FEATURES, fps=self.fps
        )
        self._writer = LeRobotDatasetWriter.create(
            self.root,
            fps=self.fps,
            features=features,
            robot_type=schema.ROBOT_TYPE,
            embodiment="g1_16dof",
            video_options=self.video_options,
        )

    def _image(self, image: np.ndarray) -> np.ndarray:
        assert self.image_size is not None
        if image.shape[:2] == tuple(self.image_size):
            return image
        import cv2

        return cv2.resize(image, (self.image_size[1], self.image_size[0]), interpolation=cv2.INTER_AREA)

    @property
    def num_episodes(self) -> int:
        """Episodes saved in the dataset so far (including earlier sessions)."""
        return 0 if self._writer is None else self._writer.num_episodes

    # ------------------------------------------------------------------ producer side (any thread)

    def add(self, frame: PairedFrame) -> bool:
        """Queue one frame of the current episode; False (counted) if the writer is too far behind."""
        try:
            self._queue.put_nowait(("frame", frame))
        except queue.Full:
            self.writer_overflow += 1
            return False
        self._episode_frames += 1
        return True

    def save(self, task: str, counters: PairingCounters, success: bool | None = None) -> None:
        """Finish the current episode and save it with ``task`` (asynchronously; see :meth:`summaries`).

        Raises:
            ValueError: empty task.
        """
        if not task.strip():
            raise ValueError("an episode needs a non-empty task instruction to be saved")
        with self._lock:
            self._saving += 1
        self._queue.put(("save", (task, counters.as_dict(), success, self._episode_frames)))
        self._episode_frames = 0

    def discard(self, task: str, counters: PairingCounters, reason: str = "") -> None:
        """Drop the current episode (asynchronously)."""
        self._queue.put(("discard", (task, counters.as_dict(), reason, self._episode_frames)))
        self._episode_frames = 0

    def mark_last(self, success: bool) -> int | None:
        """Mark the most recently saved episode (a log line); returns its index or None if none.

        Marks given while an episode records belong to that episode instead (see :meth:`save`).
        """
        self._queue.put(("mark", success))
        with self._lock:
            saved = [s for s in self._summaries if s.outcome == "saved"]
        return saved[-1].episode_index if saved else None

    def summaries(self) -> list[EpisodeSummary]:
        """Summaries of finished episodes, oldest first."""
        with self._lock:
            return list(self._summaries)

    @property
    def busy(self) -> bool:
        """Frames or saves are still queued."""
        with self._lock:
            return self._saving > 0 or not self._queue.empty()

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Block until every queued frame and save is done; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.busy:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout_s: float = 60.0) -> None:
        """Finish queued work, discard an unsaved episode, stop the thread."""
        self._queue.put(("close", None))
        self._thread.join(timeout_s)

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        while True:
            kind, payload = self._queue.get()
            try:
                if kind == "frame":
                    self._write_frame(payload)
                elif kind == "save":
                    self._save(*payload)
                elif kind == "discard":
                    self._discard(*payload)
                elif kind == "mark":
                    self._mark(payload)
                elif kind == "close":
                    if self._writer is not None:
                        self._writer.close()
                    return
            except Exception as exc:  # keep the thread alive; report the failure
                self.last_error = str(exc)
                logger.exception("episode writer: %s failed", kind)
            finally:
                if kind == "save":
                    with self._lock:
                        self._saving -= 1

    def _write_frame(self, frame: PairedFrame) -> None:
        self._ensure_writer(frame.image)
        self._writer.add_frame(
            {
                schema.FEATURE_IMAGE_EGO: self._image(frame.image),
                schema.FEATURE_STATE: frame.state,
                schema.FEATURE_ACTION: frame.action,
                schema.FEATURE_TIMESTAMP: frame.index / self.fps,
                FEATURE_CAPTURE_NS: np.array([frame.capture_ns], dtype=np.int64),
                FEATURE_STATE_OFFSET: np.array([frame.state_offset_ms], dtype=np.float32),
                FEATURE_ACTION_AGE: np.array([frame.action_age_ms], dtype=np.float32),
                FEATURE_FILLED: np.array([frame.filled]),
            }
        )

    def _record(self, summary: EpisodeSummary) -> None:
        with self._lock:
            self._summaries.append(summary)
        entry = dataclasses.asdict(summary)
        entry["time"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            _append_line(self.root / LOG_NAME, entry)
        except OSError as exc:
            logger.error("cannot append to %s: %s", self.root / LOG_NAME, exc)

    def _save(self, task: str, counters: dict[str, int], success: bool | None, queued: int) -> None:
        frames = 0 if self._writer is None else self._writer.episode_num_frames
        if frames == 0:
            self._record(EpisodeSummary("discarded", None, task, success, 0, counters, 0.0, 0.0, "no frames"))
            logger.warning("episode had no frames; nothing saved")
            return
        started = time.perf_counter()
        try:
            index = self._writer.save_episode(task=task)
        except (DatasetError, OSError) as exc:
            self._record(
                EpisodeSummary(
                    "failed", None, task, success, frames, counters, frames / self.fps, 0.0, str(exc)
                )
            )
            raise
        save_s = time.perf_counter() - started
        summary = EpisodeSummary("saved", index, task, success, frames, counters, frames / self.fps, save_s)
        self._record(summary)
        logger.info(
            "saved episode %d: %d frames (%.1f s), %d dropped, save %.2f s",
            index,
            frames,
            frames / self.fps,
            counters.get("dropped", 0),
            save_s,
        )

    def _mark(self, success: bool) -> None:
        with self._lock:
            saved = [i for i, s in enumerate(self._summaries) if s.outcome == "saved"]
            if not saved:
                return
            last = self._summaries[saved[-1]]
            self._summaries[saved[-1]] = dataclasses.replace(last, success=success)
        entry = {"outcome": "marked", "episode_index": last.episode_index, "success": success}
        entry["time"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        _append_line(self.root / LOG_NAME, entry)

    def _discard(self, task: str, counters: dict[str, int], reason: str, queued: int) -> None:
        frames = 0 if self._writer is None else self._writer.episode_num_frames
        if self._writer is not None:
            self._writer.discard_episode()
        self._record(
            EpisodeSummary("discarded", None, task, None, frames, counters, frames / self.fps, 0.0, reason)
        )
        logger.info("discarded the episode (%d frames)%s", frames, f": {reason}" if reason else "")
