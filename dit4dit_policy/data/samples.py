"""Training samples and the model-space batch (torch): clip frames, current state, action chunk, masks.

A sample starts at frame t of an episode of length L (model_spec §3, "Frame sampling"):

* video: frames ``t + o`` for ``o`` in ``video_frame_indices(video_delta_indices, ratio)``
  (0, 2, …, 16 for G1/GR1), clamped to L-1;
* state: the raw state at t;
* action: raw actions at t, t+1, …, t+horizon-1, the index clamped to L-1, and ``valid[k] = t+k < L``
  (steps past the episode end are masked — the authors left them unmasked, model_spec §7.12).

:class:`ModelBatchCollator` turns samples into what ``DiT4DiTPolicy.compute_loss`` takes, using
only ``data/transforms.py`` (the policy's inference path uses the same functions)::

    video        (B, T_pix, 3, H, W·n_views) float32 in [-1, 1]     images_to_model
    state        (B, model_state_dim) float32                        state_to_model (sin/cos, padded)
    action       (B, horizon, model_action_dim) float32              normalize_action + pad_action
    action_mask  (B, horizon, model_action_dim) bool                 False on padded dims and steps
    task         list[str]

Values stay float32 from disk to batch (no float16 casts; model_spec §7.8).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from dit4dit_policy.data import transforms
from dit4dit_policy.data.embodiment import Embodiment, get_embodiment
from dit4dit_policy.data.episode_store import EpisodeStore
from dit4dit_policy.data.frame_cache import FrameCache


@dataclasses.dataclass(frozen=True)
class SampleSpec:
    """What a sample contains, from the model config.

    Attributes:
        embodiment: key layout and camera views.
        image_size: per-view (h, w) of the model [px].
        frame_offsets: clip frame offsets from t (every ratio-th delta index).
        horizon: action chunk length.
        state_dim: model (padded) state dim.
        action_dim: model (padded) action dim.
    """

    embodiment: Embodiment
    image_size: tuple[int, int]
    frame_offsets: tuple[int, ...]
    horizon: int
    state_dim: int
    action_dim: int

    @classmethod
    def from_model_config(cls, cfg: Any) -> SampleSpec:
        """From a ``model.config.ModelConfig`` (fields embodiment, image_size, video_delta_indices, …)."""
        return cls(
            embodiment=get_embodiment(cfg.embodiment),
            image_size=tuple(cfg.image_size),
            frame_offsets=transforms.video_frame_indices(
                tuple(cfg.video_delta_indices), int(cfg.action_video_freq_ratio)
            ),
            horizon=int(cfg.horizon),
            state_dim=int(cfg.state_dim),
            action_dim=int(cfg.action_dim),
        )


def norm_stats(store: EpisodeStore) -> transforms.NormStats:
    """Normalisation statistics of a store's state and action (embodiment order, one pass)."""
    state, action = store.statistics()

    def feature(entry: dict[str, np.ndarray]) -> transforms.FeatureStats:
        return transforms.FeatureStats(
            min=entry["min"],
            max=entry["max"],
            mean=entry["mean"],
            std=entry["std"],
            q01=entry["q01"],
            q99=entry["q99"],
            count=int(entry["count"][0]),
        )

    return transforms.NormStats(state=feature(state), action=feature(action))


class ClipDataset(torch.utils.data.Dataset):
    """One sample per frame of the selected episodes.

    Args:
        store: state/action arrays.
        frames: decoded frame cache of the same store.
        episodes: store episode ids to draw from (a train or validation split).
        spec: sample layout.
    """

    def __init__(
        self, store: EpisodeStore, frames: FrameCache, episodes: Sequence[int], spec: SampleSpec
    ) -> None:
        self.store = store
        self.frames = frames
        self.spec = spec
        self.episodes = np.asarray(list(episodes), dtype=np.int64)
        lengths = store.lengths[self.episodes]
        self._ends = np.cumsum(lengths)
        self._offsets = np.asarray(spec.frame_offsets, dtype=np.int64)
        self._steps = np.arange(spec.horizon, dtype=np.int64)

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def locate(self, index: int) -> tuple[int, int]:
        """(store episode, frame t) of sample ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range [0, {len(self)})")
        slot = int(np.searchsorted(self._ends, index, side="right"))
        start = int(self._ends[slot - 1]) if slot else 0
        return int(self.episodes[slot]), index - start

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Raw sample: video (V, T, h, w, 3) uint8, state (S,), action (H, A), valid (H,), task."""
        episode, t = self.locate(index)
        length = int(self.store.lengths[episode])
        base = int(self.store.offsets[episode])
        frame_ids = np.minimum(t + self._offsets, length - 1)
        steps = t + self._steps
        video = np.stack(
            [self.frames.clip(v, episode, frame_ids) for v in range(len(self.spec.embodiment.video_keys))]
        )
        return {
            "video": torch.from_numpy(video),
            "state": torch.from_numpy(self.store.state[base + t].copy()),
            "action": torch.from_numpy(self.store.action[base + np.minimum(steps, length - 1)]),
            "valid": torch.from_numpy(steps < length),
            "task": self.store.episodes[episode].task,
            "episode": episode,
            "frame": t,
        }


class ModelBatchCollator:
    """Collate raw samples into the model-space batch (see the module docstring).

    Args:
        spec: sample layout.
        stats: normalisation statistics (action min/max; stored with the checkpoint).
    """

    def __init__(self, spec: SampleSpec, stats: transforms.NormStats) -> None:
        self.spec = spec
        self.stats = stats

    def __call__(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Stack and transform; also returns ``episode``/``frame`` (B,) int64 for bookkeeping."""
        spec = self.spec
        video = torch.stack([s["video"] for s in samples])  # (B, V, T, h, w, 3) uint8
        views = [video[:, v] for v in range(video.shape[1])]
        state = torch.stack([s["state"] for s in samples])
        action = torch.stack([s["action"] for s in samples])
        valid = torch.stack([s["valid"] for s in samples])
        norm = transforms.normalize_action(action, self.stats.action, spec.embodiment)
        padded, mask = transforms.pad_action(norm, spec.action_dim, valid)
        return {
            "video": transforms.images_to_model(views, spec.image_size),
            "state": transforms.state_to_model(state, spec.embodiment, spec.state_dim),
            "action": padded,
            "action_mask": mask,
            "task": [s["task"] for s in samples],
            "episode": torch.tensor([s["episode"] for s in samples], dtype=torch.int64),
            "frame": torch.tensor([s["frame"] for s in samples], dtype=torch.int64),
        }
