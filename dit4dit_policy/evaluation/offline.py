"""Offline open-loop evaluation: predict action chunks along recorded episodes and score them.

The authors' G1 check (``examples/Real_G1/eval_files/eval_policy.py``, g1_spec §7.2) infers every
16 steps and compares all 16 predicted actions with the recording, but prepares the state with a
min/max normalisation while training used sin/cos, zeroes the gripper state and pads to a
hard-coded 64 (model_spec §7.7). Here every observation goes through
``DiT4DiTPolicy.predict_action_chunk`` — the same ``data/transforms.py`` functions the training
batches use, with the checkpoint's statistics — and the errors are measured in robot units.

Scoring, for chunks starting at t = 0, s, 2s, … (s = ``stride``, default the horizon H):

* ground truth: the recorded actions a[t + k], k < H, only where t + k < L (steps past the episode
  end are masked exactly as in training);
* per-joint MSE [rad² | opening²] and RMSE, the MSE per horizon step k, and per episode;
* a stitched open-loop trajectory (the first s points of each chunk) for the trace plots.

Needs torch (the model); the dataset side is the torch-free LeRobot reader.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.errors import DatasetError, SchemaMismatchError

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class EpisodeTrace:
    """One episode's recorded actions and the stitched open-loop prediction.

    Attributes:
        episode: episode index.
        task: the instruction.
        time_s: (L,) frame times [s].
        state: (L, S) recorded state.
        action: (L, A) recorded actions (ground truth).
        predicted: (L, A) stitched predictions (first ``stride`` points of each chunk).
        chunk_id: (L,) index of the chunk each predicted point comes from.
        mse: (A,) per-joint MSE of this episode over all scored chunk points.
    """

    episode: int
    task: str
    time_s: np.ndarray
    state: np.ndarray
    action: np.ndarray
    predicted: np.ndarray
    chunk_id: np.ndarray
    mse: np.ndarray


@dataclasses.dataclass
class OfflineResult:
    """Errors of a policy along a dataset.

    Attributes:
        joint_names: names of the A action dims.
        per_joint_mse: (A,) MSE per dim over every scored point [unit²].
        per_step_mse: (H,) MSE over dims per horizon step k.
        per_step_count: (H,) scored points per k.
        episodes: per-episode traces (plots) and errors.
        chunks: number of predicted chunks.
        seconds_per_chunk: mean wall time of a prediction call divided by its batch size [s].
        stride: chunk start spacing [frames].
        horizon: chunk length H.
    """

    joint_names: list[str]
    per_joint_mse: np.ndarray
    per_step_mse: np.ndarray
    per_step_count: np.ndarray
    episodes: list[EpisodeTrace]
    chunks: int
    seconds_per_chunk: float
    stride: int
    horizon: int

    @property
    def mse(self) -> float:
        """MSE over every dim and scored point."""
        return float(np.mean(self.per_joint_mse))

    def to_json(self) -> dict[str, Any]:
        """Machine-readable summary."""
        return {
            "mse": self.mse,
            "per_joint": [
                {"joint": n, "mse": float(m), "rmse": math.sqrt(float(m))}
                for n, m in zip(self.joint_names, self.per_joint_mse, strict=True)
            ],
            "per_step_mse": [float(x) for x in self.per_step_mse],
            "per_episode": [
                {
                    "episode": e.episode,
                    "task": e.task,
                    "length": len(e.time_s),
                    "mse": float(np.mean(e.mse)),
                }
                for e in self.episodes
            ],
            "chunks": self.chunks,
            "seconds_per_chunk": self.seconds_per_chunk,
            "stride": self.stride,
            "horizon": self.horizon,
        }


def _episode_inputs(dataset: Any, index: int, video_keys: Sequence[str], state_dim: int, action_dim: int):
    data = dataset.episode_data(index, [schema.FEATURE_STATE, schema.FEATURE_ACTION])
    state = np.asarray(data[schema.FEATURE_STATE], dtype=np.float64)
    action = np.asarray(data[schema.FEATURE_ACTION], dtype=np.float64)
    if state.ndim != 2 or state.shape[1] != state_dim:
        raise SchemaMismatchError(
            f"episode {index}: state has shape {state.shape}, the policy expects (L, {state_dim})"
        )
    if action.ndim != 2 or action.shape[1] != action_dim:
        raise SchemaMismatchError(
            f"episode {index}: action has shape {action.shape}, the policy predicts (L, {action_dim})"
        )
    frames = {key: dataset.frames(index, key) for key in video_keys}
    return state, action, frames


def evaluate_offline(
    policy: Any,
    dataset: Any,
    episodes: Sequence[int] | None = None,
    stride: int | None = None,
    batch_size: int = 8,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> OfflineResult:
    """Open-loop chunk prediction along recorded episodes (see the module docstring).

    Args:
        policy: a loaded ``DiT4DiTPolicy`` with statistics (``predict_action_chunk``, ``embodiment``,
            ``config.horizon``).
        dataset: a :class:`~dit4dit_policy.data.lerobot_dataset.LeRobotDataset` with the policy's
            camera views, state and action features.
        episodes: episode indices (default: all).
        stride: frames between chunk starts (default: the horizon, the authors' scheme).
        batch_size: observations per prediction call.
        seed: base seed of the sampling noise (call i uses ``seed + i``): repeatable numbers.
        progress: called with (episodes done, episodes total).

    Returns:
        The errors and traces.

    Raises:
        DatasetError: the dataset lacks a camera view of the policy, or a bad episode index.
        SchemaMismatchError: state/action widths that do not match the policy's embodiment.
        ValueError: stride or batch size < 1.
    """
    embodiment = policy.embodiment
    horizon = int(policy.config.horizon)
    stride = horizon if stride is None else int(stride)
    if stride < 1 or batch_size < 1:
        raise ValueError(f"stride and batch_size must be >= 1, got stride={stride}, batch_size={batch_size}")
    missing = [k for k in embodiment.video_keys if k not in dataset.video_keys]
    if missing:
        raise DatasetError(
            f"{dataset.root} lacks the camera view(s) {missing} the policy was trained on "
            f"(dataset videos: {list(dataset.video_keys)})"
        )
    indices = list(range(dataset.num_episodes)) if episodes is None else [int(e) for e in episodes]
    bad = [e for e in indices if not 0 <= e < dataset.num_episodes]
    if bad:
        raise DatasetError(f"episodes {bad} do not exist in {dataset.root} (0..{dataset.num_episodes - 1})")
    dims = embodiment.action_dim
    err_sum = np.zeros((horizon, dims))
    count = np.zeros(horizon, dtype=np.int64)
    traces: list[EpisodeTrace] = []
    calls, chunks, seconds = 0, 0, 0.0
    for done, index in enumerate(indices):
        state, action, frames = _episode_inputs(
            dataset, index, embodiment.video_keys, embodiment.state_dim, dims
        )
        length = state.shape[0]
        task = dataset.episode_task(index)
        starts = list(range(0, length, stride))
        predicted = np.zeros_like(action)
        chunk_id = np.zeros(length, dtype=np.int64)
        ep_sum, ep_n = np.zeros(dims), 0
        for b in range(0, len(starts), batch_size):
            batch = starts[b : b + batch_size]
            observation = {
                "images": {key: frames[key][batch] for key in embodiment.video_keys},
                "state": state[batch],
                "task": [task] * len(batch),
            }
            begin = time.perf_counter()
            pred = np.asarray(policy.predict_action_chunk(observation, seed=seed + calls), dtype=np.float64)
            seconds += time.perf_counter() - begin
            calls += 1
            if pred.shape != (len(batch), horizon, dims):
                raise SchemaMismatchError(
                    f"policy returned {pred.shape}, expected ({len(batch)}, {horizon}, {dims})"
                )
            for row, t in enumerate(batch):
                k = min(horizon, length - t)  # valid steps: t + k < L
                diff = pred[row, :k] - action[t : t + k]
                err_sum[:k] += diff**2
                count[:k] += 1
                ep_sum += (diff**2).sum(axis=0)
                ep_n += k
                used = min(stride, k)
                predicted[t : t + used] = pred[row, :used]
                chunk_id[t : t + used] = chunks
                chunks += 1
        times = np.arange(length) / float(dataset.fps)
        traces.append(
            EpisodeTrace(index, task, times, state, action, predicted, chunk_id, ep_sum / max(ep_n, 1))
        )
        if progress is not None:
            progress(done + 1, len(indices))
    total = np.maximum(count.sum(), 1)
    per_joint = err_sum.sum(axis=0) / total
    per_step = err_sum.mean(axis=1) / np.maximum(count, 1)
    names = list(embodiment.joint_names) or [f"dim_{i}" for i in range(dims)]
    return OfflineResult(
        names, per_joint, per_step, count, traces, chunks, seconds / max(chunks, 1), stride, horizon
    )
