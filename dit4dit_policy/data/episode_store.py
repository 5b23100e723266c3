"""In-memory state/action arrays of one or more datasets, mapped to an embodiment (torch-free).

Loads every episode's numeric columns once (a G1 frame is 128 bytes of state + action), maps them
to the embodiment's key order through :class:`~dit4dit_policy.data.modality.ModalityMap`, and
checks them: finite values, episodes at least one action horizon long. Video frames are served
separately (``frame_cache``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dit4dit_policy.data.embodiment import Embodiment, get_embodiment
from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
from dit4dit_policy.data.modality import ModalityMap
from dit4dit_policy.data.stats import RunningStats
from dit4dit_policy.errors import DatasetError

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class EpisodeRef:
    """Where one episode of the store comes from.

    Attributes:
        dataset: index into ``EpisodeStore.datasets``.
        episode: episode index inside that dataset.
        task: instruction string.
        length: frames L.
        offset: index of its first frame in the store's concatenated arrays.
    """

    dataset: int
    episode: int
    task: str
    length: int
    offset: int


class EpisodeStore:
    """State and action arrays of all usable episodes, in embodiment order.

    Args:
        roots: dataset directories (same embodiment; LeRobot v3.0/v2.x).
        embodiment: registry name or object.
        min_length: shortest usable episode (the action horizon).
        skip_short: drop shorter episodes with a warning instead of raising.

    Raises:
        DatasetError: unreadable data, non-finite state/action (naming episode, frame and dims), an
            episode shorter than ``min_length`` (unless ``skip_short``), or no usable episode.
        SchemaMismatchError: a dataset does not fit the embodiment.
    """

    def __init__(
        self,
        roots: Sequence[str | Path],
        embodiment: str | Embodiment,
        min_length: int = 1,
        skip_short: bool = False,
    ) -> None:
        self.embodiment = get_embodiment(embodiment) if isinstance(embodiment, str) else embodiment
        self.datasets = [LeRobotDataset(root) for root in roots]
        if not self.datasets:
            raise DatasetError("no dataset given")
        fps = {ds.fps for ds in self.datasets}
        if len(fps) != 1:
            raise DatasetError(f"datasets have different frame rates {sorted(fps)}; use one rate")
        self.fps = fps.pop()
        self.episodes: list[EpisodeRef] = []
        states, actions = [], []
        offset = 0
        for d, ds in enumerate(self.datasets):
            mapping = ModalityMap.for_dataset(ds, self.embodiment)
            for e in range(ds.num_episodes):
                data = ds.episode_data(e, mapping.columns)
                state, action = mapping.state_of(data), mapping.action_of(data)
                length = state.shape[0]
                where = f"dataset {ds.root}, episode {e}"
                _check_finite(state, "observation.state", where)
                _check_finite(action, "action", where)
                if length < min_length:
                    message = (
                        f"{where} has {length} frames, shorter than the action horizon {min_length}; "
                        "drop the episode or set data.skip_short_episodes=true"
                    )
                    if not skip_short:
                        raise DatasetError(message)
                    logger.warning("skipping: %s", message)
                    continue
                self.episodes.append(EpisodeRef(d, e, ds.episode_task(e), length, offset))
                states.append(state.astype(np.float32, copy=False))
                actions.append(action.astype(np.float32, copy=False))
                offset += length
        if not self.episodes:
            raise DatasetError(f"no usable episode in {[str(r) for r in roots]}")
        self.state = np.concatenate(states)
        self.action = np.concatenate(actions)
        self.lengths = np.array([ep.length for ep in self.episodes], dtype=np.int64)
        self.offsets = np.array([ep.offset for ep in self.episodes], dtype=np.int64)

    @property
    def num_episodes(self) -> int:
        """Usable episodes."""
        return len(self.episodes)

    @property
    def num_frames(self) -> int:
        """Frames over all usable episodes."""
        return int(self.lengths.sum())

    def statistics(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(state, action) statistics in embodiment order, one streaming pass (``stats.RunningStats``)."""
        out = []
        for values in (self.state, self.action):
            running = RunningStats()
            for start in range(0, len(values), 65536):
                running.update(values[start : start + 65536])
            out.append(running.result())
        return out[0], out[1]

    def split(self, num_val: int, seed: int) -> tuple[list[int], list[int]]:
        """Deterministic (train, val) split of store episode ids; ``num_val`` held out at random.

        Raises:
            DatasetError: ``num_val`` leaves no training episode.
        """
        if num_val < 0 or num_val >= self.num_episodes:
            raise DatasetError(
                f"cannot hold out {num_val} of {self.num_episodes} episodes for validation; "
                "at least one must remain for training"
            )
        order = np.random.default_rng(seed).permutation(self.num_episodes)
        val = sorted(int(i) for i in order[:num_val])
        train = sorted(int(i) for i in order[num_val:])
        return train, val


def _check_finite(values: np.ndarray, name: str, where: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        frame, _ = np.argwhere(bad)[0]
        dims = np.flatnonzero(bad[frame]).tolist()
        raise DatasetError(f"{where}, frame {int(frame)}: '{name}' has non-finite values at dims {dims}")
