"""Each rollout as an episode of a LeRobot dataset (``RESULTS_DIR/recordings``).

Per frame (30 Hz): the ego video, the measured 16-D state, the commanded 16-D action, and two
chunk-timing features — ``eval.chunk_id`` (which chunk the action came from, −1 before the first)
and ``eval.chunk_latency_ms`` (that chunk's inference latency). The episode's task is the
rollout's instruction. The outcome lives in ``results.jsonl`` (``episode_index`` joins the two), as
the verdict is only known after the frames are written.

Crash safety is the data module's writer's: an unfinished episode is dropped when the dataset is
opened again; finished ones stay (dit4dit_policy/data/lerobot_writer.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.errors import DatasetError, ResultsError
from dit4dit_policy.evaluation.interface import RecordedFrame

logger = logging.getLogger(__name__)

RECORDINGS_DIRNAME = "recordings"
FEATURE_CHUNK_ID = "eval.chunk_id"
FEATURE_CHUNK_LATENCY = "eval.chunk_latency_ms"

EXTRA_FEATURES = {
    FEATURE_CHUNK_ID: {"dtype": "int64", "shape": (1,), "names": None},
    FEATURE_CHUNK_LATENCY: {"dtype": "float32", "shape": (1,), "names": None},
}


class RolloutRecorder:
    """Streams rollout frames into a LeRobot v3.0 dataset, one episode per rollout.

    The dataset is created with the first frame's image size (or opened, when it exists: resumed
    runs append). ``pyarrow`` and ``av`` are imported on first use.

    Args:
        root: dataset directory.
        video_codec: ``h264`` or ``av1``.
        fps: frame rate [Hz] written to the dataset.

    Raises:
        ResultsError: ``root`` exists, is not empty and is not a dataset.
        DatasetError: ``root`` is a dataset that cannot be opened for appending.
    """

    def __init__(
        self, root: str | Path, video_codec: str = "h264", fps: int = int(schema.CONTROL_RATE_HZ)
    ) -> None:
        self.root = Path(root)
        self.video_codec = video_codec
        self.fps = fps
        self._writer = None
        self._first_time_s: float | None = None
        self._last_timestamp = -1.0
        self._dropped = 0
        if (self.root / "meta" / "info.json").is_file():
            self._open_writer()
        elif self.root.is_dir() and any(self.root.iterdir()):
            # info.json is the first thing a new dataset gets; without it nothing was ever committed.
            raise ResultsError(
                f"{self.root} exists but is not a LeRobot dataset (no meta/info.json; an interrupted "
                "creation?); move it away and run again"
            )

    def _open_writer(self):
        from dit4dit_policy.data.lerobot_dataset import LeRobotDatasetWriter

        self._writer = LeRobotDatasetWriter.open(self.root)
        missing = [k for k in (schema.FEATURE_IMAGE_EGO, *EXTRA_FEATURES) if k not in self._writer.features]
        if missing:
            raise ValueError(f"{self.root} is not an evaluation recording (features {missing} are missing)")
        return self._writer

    def _create_writer(self, image_shape: tuple[int, int, int]):
        from dit4dit_policy.data.lerobot_dataset import LeRobotDatasetWriter, g1_features

        features = g1_features(
            image_shape=image_shape, video_codec=self.video_codec, extra=EXTRA_FEATURES, fps=self.fps
        )
        self._writer = LeRobotDatasetWriter.create(self.root, fps=self.fps, features=features)
        return self._writer

    @property
    def num_episodes(self) -> int:
        """Episodes committed so far (0 before the dataset exists)."""
        return 0 if self._writer is None else self._writer.num_episodes

    @property
    def episode_frames(self) -> int:
        """Frames added to the episode being recorded."""
        return 0 if self._writer is None else self._writer.episode_num_frames

    def add(self, frame: RecordedFrame) -> None:
        """Append one frame to the current episode.

        Frames whose time does not advance past the previous frame's are dropped (counted, and
        logged when the episode is saved); the episode's timestamps start at 0.

        Raises:
            DatasetError: the frame does not fit the dataset (e.g. another image size).
        """
        writer = self._writer or self._create_writer(tuple(frame.image.shape))
        if self._first_time_s is None:
            self._first_time_s = frame.time_s
        timestamp = frame.time_s - self._first_time_s
        if timestamp <= self._last_timestamp:
            self._dropped += 1
            return
        values = {
            schema.FEATURE_IMAGE_EGO: frame.image,
            schema.FEATURE_STATE: frame.state.astype(np.float32),
            schema.FEATURE_ACTION: frame.action.astype(np.float32),
            FEATURE_CHUNK_ID: np.int64(frame.chunk_id),
            FEATURE_CHUNK_LATENCY: np.float32(frame.chunk_latency_ms),
            schema.FEATURE_TIMESTAMP: timestamp,
        }
        try:
            writer.add_frame(values)
        except ValueError as exc:  # the video encoder's own checks (e.g. timestamps closer than 1/90000 s)
            if isinstance(exc, DatasetError):
                raise
            raise DatasetError(f"{self.root}: frame at {timestamp:.4f} s rejected: {exc}") from exc
        self._last_timestamp = timestamp

    def save(self, instruction: str) -> int | None:
        """Commit the current episode with ``instruction`` as its task.

        Returns:
            The episode index, or None when the rollout produced no frames.

        Raises:
            DatasetError: the writer failed (the episode is discarded, earlier ones stay).
        """
        try:
            if self._writer is None or self._writer.episode_num_frames == 0:
                return None
            if self._dropped:
                logger.warning("dropped %d frames whose time did not advance", self._dropped)
            return self._writer.save_episode(task=instruction)
        finally:
            self._reset()

    def discard(self) -> None:
        """Drop the frames of the current episode."""
        if self._writer is not None:
            self._writer.discard_episode()
        self._reset()

    def _reset(self) -> None:
        self._first_time_s = None
        self._last_timestamp = -1.0
        self._dropped = 0

    def close(self) -> None:
        """Discard an unfinished episode and release the writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
