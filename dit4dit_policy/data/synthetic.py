"""Small synthetic LeRobot datasets written with the real writer (tests, benchmarks, demos; torch-free).

Episodes follow smooth joint trajectories inside the embodiment's range (G1: the schema limits);
the action at frame t is the state at frame t+1 (absolute targets, like teleop recordings), and
each camera view shows a gradient with a square whose position follows the first joints, so
images, states and actions are correlated the way a policy needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.data import lerobot_format as fmt
from dit4dit_policy.data.embodiment import Embodiment, get_embodiment
from dit4dit_policy.data.lerobot_writer import LeRobotDatasetWriter

DEFAULT_TASKS = ("pick the red cube and place it in the bowl", "stack the cups")


def embodiment_features(
    embodiment: str | Embodiment,
    image_shape: tuple[int, int, int] = (64, 64, 3),
    video_codec: str = "av1",
    fps: int = int(schema.CONTROL_RATE_HZ),
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """LeRobot features of a dataset for any registry embodiment (G1: exactly ``g1_features``).

    Raises:
        KeyError: unknown embodiment name.
    """
    emb = get_embodiment(embodiment) if isinstance(embodiment, str) else embodiment
    if emb.name == "g1_16dof":
        return fmt.g1_features(image_shape, video_codec, extra, fps)
    names = list(emb.joint_names) or None
    features: dict[str, dict[str, Any]] = {
        key: fmt.video_feature(image_shape[0], image_shape[1], fps, video_codec) for key in emb.video_keys
    }
    features[schema.FEATURE_STATE] = {"dtype": "float32", "shape": (emb.state_dim,), "names": None}
    features[schema.FEATURE_ACTION] = {"dtype": "float32", "shape": (emb.action_dim,), "names": names}
    features.update({k: dict(v) for k, v in (extra or {}).items()})
    features.update({k: dict(v) for k, v in fmt.DEFAULT_FEATURES.items()})
    return fmt.normalize_features(features)


def _range(emb: Embodiment) -> tuple[np.ndarray, np.ndarray]:
    if emb.name == "g1_16dof":
        return schema.POSITION_LOWER * 0.5, schema.POSITION_UPPER * 0.5
    return np.full(emb.state_dim, -1.0), np.full(emb.state_dim, 1.0)


def trajectory(emb: Embodiment, length: int, rng: np.random.Generator) -> np.ndarray:
    """(length + 1, S) smooth state trajectory inside the embodiment's range."""
    low, high = _range(emb)
    t = np.arange(length + 1)[:, None] / 30.0
    freq = rng.uniform(0.1, 0.6, size=emb.state_dim)
    phase = rng.uniform(0, 2 * np.pi, size=emb.state_dim)
    wave = 0.5 + 0.45 * np.sin(2 * np.pi * freq * t + phase)
    return (low + (high - low) * wave).astype(np.float32)


def render(state: np.ndarray, shape: tuple[int, int, int], view: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 frame: a colour gradient with a square placed by state dims ``view``, ``view+1``."""
    height, width, _ = shape
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack(
        [xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1), np.full_like(xx, 64 + 64 * view)],
        axis=-1,
    ).astype(np.uint8)
    u = 0.5 + 0.5 * np.tanh(float(state[view % state.shape[0]]))
    v = 0.5 + 0.5 * np.tanh(float(state[(view + 1) % state.shape[0]]))
    side = max(2, min(height, width) // 5)
    top, left = int(v * (height - side)), int(u * (width - side))
    image[top : top + side, left : left + side] = (255, 32, 32)
    return image


def write_synthetic_dataset(
    root: str | Path,
    num_episodes: int = 4,
    episode_length: int | tuple[int, int] = (40, 60),
    image_shape: tuple[int, int, int] = (64, 64, 3),
    embodiment: str = "g1_16dof",
    fps: int = int(schema.CONTROL_RATE_HZ),
    video_codec: str = "av1",
    tasks: Sequence[str] = DEFAULT_TASKS,
    seed: int = 0,
    threaded_encoding: bool = True,
) -> Path:
    """Write a synthetic dataset with :class:`LeRobotDatasetWriter` (also writes modality.json).

    Args:
        root: new dataset directory.
        num_episodes: episodes to write.
        episode_length: frames per episode, fixed or a [low, high] range (inclusive).
        image_shape: (H, W, 3) of every camera view.
        embodiment: registry name (``g1_16dof``, ``gr1_29dof``, ``franka_libero``).
        fps: frame rate [Hz].
        video_codec: ``"av1"`` or ``"h264"``.
        tasks: task strings, used round-robin.
        seed: RNG seed (trajectories and lengths).
        threaded_encoding: see :meth:`LeRobotDatasetWriter.create`.

    Returns:
        ``root``.
    """
    emb = get_embodiment(embodiment)
    rng = np.random.default_rng(seed)
    features = embodiment_features(emb, image_shape, video_codec, fps)
    with LeRobotDatasetWriter.create(
        root,
        fps=fps,
        features=features,
        robot_type=schema.ROBOT_TYPE if emb.name == "g1_16dof" else emb.name,
        embodiment=emb.name,
        threaded_encoding=threaded_encoding,
    ) as writer:
        for episode in range(num_episodes):
            if isinstance(episode_length, int):
                length = episode_length
            else:
                length = int(rng.integers(episode_length[0], episode_length[1] + 1))
            states = trajectory(emb, length, rng)
            for i in range(length):
                frame: dict[str, Any] = {
                    key: render(states[i], image_shape, view) for view, key in enumerate(emb.video_keys)
                }
                frame[schema.FEATURE_STATE] = states[i]
                frame[schema.FEATURE_ACTION] = states[i + 1, : emb.action_dim]
                frame[schema.FEATURE_TIMESTAMP] = i / fps
                writer.add_frame(frame)
            writer.save_episode(task=tasks[episode % len(tasks)])
    return Path(root)
