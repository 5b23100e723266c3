"""Dataset-level and per-episode statistics of a LeRobot dataset (torch-free).

:class:`StatsAccumulator` keeps one :class:`~dit4dit_policy.data.stats.RunningStats` per feature,
is fed one finished episode at a time (the writer) or one pass over a dataset (:func:`recompute`),
and produces LeRobot's ``meta/stats.json`` content. Its state is persisted beside stats.json
(``meta/.stats_state.npz``) so that resuming a dataset continues the same single pass.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dit4dit_policy.data import lerobot_format as fmt
from dit4dit_policy.data.stats import (
    IMAGE_STATS_FRAME_STRIDE,
    RunningStats,
    exact_stats,
    image_samples,
    to_lerobot,
)

if TYPE_CHECKING:
    from dit4dit_policy.data.lerobot_dataset import LeRobotDataset

logger = logging.getLogger(__name__)

STATE_PATH = "meta/.stats_state.npz"


def stats_features(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Features that get statistics: numeric and visual ones (not strings)."""
    return [k for k, f in features.items() if f["dtype"] != "string"]


def episode_stats(
    columns: Mapping[str, np.ndarray], samples: Mapping[str, np.ndarray], features: Mapping[str, Any]
) -> dict[str, dict[str, np.ndarray]]:
    """Exact statistics of one episode.

    Args:
        columns: numeric per-frame columns, (L,) or (L, D).
        samples: per visual feature, (N, 3) pixel samples in [0, 1] (see ``stats.image_samples``).
        features: the dataset's feature dicts.

    Returns:
        ``{feature: {stat: array}}`` with LeRobot's shapes (visual: (3,) here, (3, 1, 1) on disk).
    """
    out = {}
    for key in stats_features(features):
        data = samples.get(key) if fmt.is_visual(features[key]) else columns.get(key)
        if data is not None and len(data):
            out[key] = exact_stats(data)
    return out


def episode_stats_columns(
    stats: Mapping[str, Mapping[str, np.ndarray]], features: Mapping[str, Any]
) -> dict[str, Any]:
    """Per-episode stats as ``stats/<feature>/<stat>`` values of an episodes-parquet row."""
    row: dict[str, Any] = {}
    for key, entry in stats.items():
        for name, value in to_lerobot(entry, fmt.is_visual(features[key])).items():
            row[f"stats/{key}/{name}"] = value
    return row


class StatsAccumulator:
    """Streaming dataset statistics, one feature at a time.

    Args:
        features: the dataset's feature dicts.
    """

    def __init__(self, features: Mapping[str, Mapping[str, Any]]) -> None:
        self.features = dict(features)
        self.episodes = 0
        self.running = {key: RunningStats() for key in stats_features(features)}

    def add_episode(self, columns: Mapping[str, np.ndarray], samples: Mapping[str, np.ndarray]) -> None:
        """Add a finished episode's numeric columns and visual pixel samples."""
        for key, running in self.running.items():
            data = samples.get(key) if fmt.is_visual(self.features[key]) else columns.get(key)
            if data is not None and len(data):
                running.update(np.asarray(data).reshape(len(data), -1))
        self.episodes += 1

    def to_json(self) -> dict[str, Any]:
        """``meta/stats.json`` content (features without samples are left out)."""
        return {
            key: to_lerobot(running.result(), fmt.is_visual(self.features[key]))
            for key, running in self.running.items()
            if running.count
        }

    def save_state(self, root: Path) -> None:
        """Persist the accumulator (atomically) so that a resumed writer continues it."""
        arrays: dict[str, np.ndarray] = {"episodes": np.array(self.episodes)}
        for key, running in self.running.items():
            if running.count:
                for name, value in running.__dict__.items():
                    if isinstance(value, np.ndarray):
                        arrays[f"{key}|{name}"] = value
                arrays[f"{key}|count"] = np.array(running.count)
                arrays[f"{key}|num_bins"] = np.array(running.num_bins)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        fmt.write_bytes_atomic(root / STATE_PATH, buffer.getvalue())

    @classmethod
    def load_state(cls, root: Path, features: Mapping[str, Any], episodes: int) -> StatsAccumulator | None:
        """The persisted accumulator if it covers exactly ``episodes`` episodes, else None."""
        path = root / STATE_PATH
        if not path.is_file():
            return None
        try:
            with np.load(path) as data:
                if int(data["episodes"]) != episodes:
                    return None
                acc = cls(features)
                acc.episodes = episodes
                for key, running in acc.running.items():
                    if f"{key}|count" not in data:
                        continue
                    running.count = int(data[f"{key}|count"])
                    running.num_bins = int(data[f"{key}|num_bins"])
                    for name in ("_mean", "_m2", "_min", "_max", "_lo", "_hi", "_hist"):
                        setattr(running, name, np.array(data[f"{key}|{name}"]))
                return acc
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("ignoring unreadable statistics state %s: %s", path, exc)
            return None


def recompute(dataset: LeRobotDataset, visual: bool = True, progress: bool = False) -> StatsAccumulator:
    """One streaming pass over a dataset (numeric columns; visual features by decoding).

    Args:
        dataset: an open dataset.
        visual: also decode every video for per-channel image statistics.
        progress: show a tqdm progress bar.

    Returns:
        The filled accumulator (``to_json()`` gives stats.json content).

    Raises:
        DatasetError: unreadable data or video.
    """
    from tqdm import tqdm

    acc = StatsAccumulator(dataset.features)
    for index in tqdm(range(dataset.num_episodes), desc="statistics", disable=not progress, unit="ep"):
        episode = dataset.episode(index)
        samples = {}
        if visual:
            for key in dataset.video_keys:
                frames = episode.frames(key)[::IMAGE_STATS_FRAME_STRIDE]
                samples[key] = np.concatenate([image_samples(f) for f in frames])
        acc.add_episode(episode.data, samples)
    return acc
