"""The one path from raw observations/actions to model tensors and back (training AND inference).

Training (``data``/``train``) and serving (``DiT4DiTPolicy.predict_action_chunk``, the policy node)
import these functions, so the two can never drift apart — the authors' G1 eval script did
(min/max state at eval vs sin/cos in training; model_spec §7.7).

Conventions (model_spec §3-4, §9.9):

* images: each view resized to ``image_size`` with bilinear ``F.interpolate`` (the authors'
  training resize, ``antialias=False``), mapped to [-1, 1], views concatenated along width;
* state: per key ``[sin(x), cos(x)]`` (no min/max), zero-padded to the model's state dim;
* actions: min/max to [-1, 1] per dim (``2(x-min)/(max-min) - 1``; dims with max == min → 0;
  raw dims left as they are), zero-padded to the model's action dim with a boolean mask that is
  False on padded dims **and** on time steps past the episode end (the authors did not mask the
  latter; model_spec §7.12);
* inverse: clip to [-1, 1], ``0.5(x+1)(max-min)+min``, binary dims thresholded at 0.5.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dit4dit_policy.data.embodiment import Embodiment
from dit4dit_policy.errors import CheckpointError, SchemaMismatchError

_STAT_NAMES = ("min", "max", "mean", "std", "q01", "q99")


@dataclasses.dataclass(frozen=True)
class FeatureStats:
    """Per-dim statistics of one vector feature (state or action) in raw units.

    Attributes:
        min, max, mean, std, q01, q99: (D,) float64 arrays.
        count: number of frames the statistics were computed over.
    """

    min: np.ndarray
    max: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    q01: np.ndarray
    q99: np.ndarray
    count: int

    def __post_init__(self) -> None:
        dim = None
        for name in _STAT_NAMES:
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.ndim != 1:
                raise SchemaMismatchError(f"statistic '{name}' must be a 1-D vector, got shape {value.shape}")
            if dim is None:
                dim = value.shape[0]
            elif value.shape[0] != dim:
                raise SchemaMismatchError(f"statistic '{name}' has {value.shape[0]} dims, expected {dim}")
            if not np.all(np.isfinite(value)):
                raise SchemaMismatchError(f"statistic '{name}' contains non-finite values")
            object.__setattr__(self, name, value)
        if np.any(self.min > self.max):
            raise SchemaMismatchError("statistics have min > max")

    @property
    def dim(self) -> int:
        """Dimension D."""
        return int(self.min.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (lists of floats)."""
        return {**{n: getattr(self, n).tolist() for n in _STAT_NAMES}, "count": int(self.count)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "statistics") -> FeatureStats:
        """Inverse of :meth:`to_dict`.

        Raises:
            SchemaMismatchError: a statistic is missing or malformed.
        """
        missing = [n for n in (*_STAT_NAMES, "count") if n not in data]
        if missing:
            raise SchemaMismatchError(
                f"{where} lacks {', '.join(missing)} (expected {', '.join(_STAT_NAMES)}, count)"
            )
        return cls(
            **{n: np.asarray(data[n], dtype=np.float64) for n in _STAT_NAMES}, count=int(data["count"])
        )


@dataclasses.dataclass(frozen=True)
class NormStats:
    """Normalisation statistics stored with every checkpoint (``stats.json``).

    Attributes:
        state: statistics of ``observation.state`` (raw units).
        action: statistics of ``action`` (raw units); the min/max are used for normalisation.
    """

    state: FeatureStats
    action: FeatureStats

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form keyed by LeRobot feature name."""
        return {"observation.state": self.state.to_dict(), "action": self.action.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NormStats:
        """Inverse of :meth:`to_dict`.

        Raises:
            SchemaMismatchError: a feature is missing or malformed.
        """
        for key in ("observation.state", "action"):
            if key not in data:
                raise SchemaMismatchError(f"normalisation statistics lack feature '{key}'")
        return cls(
            state=FeatureStats.from_dict(data["observation.state"], "statistics of 'observation.state'"),
            action=FeatureStats.from_dict(data["action"], "statistics of 'action'"),
        )

    def save(self, path: str | Path) -> None:
        """Write JSON atomically."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> NormStats:
        """Read JSON written by :meth:`save`.

        Raises:
            CheckpointError: missing or unreadable file, or malformed content.
        """
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"normalisation statistics {path} do not exist")
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, SchemaMismatchError) as exc:
            raise CheckpointError(f"normalisation statistics {path} are invalid: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------


def check_image_size(image_size: tuple[int, int]) -> tuple[int, int]:
    """Validate a model image size (H, W).

    Raises:
        ValueError: a side is not a positive multiple of 16 (VAE 8× and patch 2×; model_spec §8).
    """
    height, width = image_size
    if height <= 0 or width <= 0 or height % 16 or width % 16:
        raise ValueError(f"image size must be positive multiples of 16 (H, W), got {tuple(image_size)}")
    return int(height), int(width)


def images_to_model(views: list[torch.Tensor | np.ndarray], image_size: tuple[int, int]) -> torch.Tensor:
    """Resize and normalise camera views and concatenate them side by side.

    Args:
        views: one array per video key, each (..., H_i, W_i, 3) uint8 RGB (any leading dims, e.g.
            (B, T)); all views must share the leading dims.
        image_size: (h, w) per view, multiples of 16 (224×224 for the cosmos25 presets).

    Returns:
        (..., 3, h, w·n_views) float32 in [-1, 1].

    Raises:
        ValueError: bad image size, dtype or shape.
    """
    height, width = check_image_size(image_size)
    out = []
    lead = None
    for i, view in enumerate(views):
        tensor = torch.as_tensor(view)
        if tensor.dtype != torch.uint8 or tensor.ndim < 3 or tensor.shape[-1] != 3:
            raise ValueError(
                f"view {i} must be (..., H, W, 3) uint8 RGB, got {tuple(tensor.shape)} {tensor.dtype}"
            )
        if lead is None:
            lead = tensor.shape[:-3]
        elif tensor.shape[:-3] != lead:
            raise ValueError(f"view {i} has leading dims {tuple(tensor.shape[:-3])}, expected {tuple(lead)}")
        flat = tensor.reshape(-1, *tensor.shape[-3:]).permute(0, 3, 1, 2).float()  # (N, 3, H, W)
        if flat.shape[-2:] != (height, width):
            flat = F.interpolate(
                flat, size=(height, width), mode="bilinear", align_corners=False, antialias=False
            )
        flat = (flat / 127.5 - 1.0).clamp_(-1.0, 1.0)
        out.append(flat.reshape(*lead, 3, height, width))
    if not out:
        raise ValueError("at least one camera view is required")
    return torch.cat(out, dim=-1)


# ---------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------


def state_to_model(
    state: torch.Tensor | np.ndarray, embodiment: Embodiment, model_state_dim: int
) -> torch.Tensor:
    """Per-key sin/cos of the raw state, zero-padded to the model's state dim.

    Args:
        state: (..., S) raw state in embodiment order [rad | opening].
        embodiment: key layout.
        model_state_dim: padded dimension (64 for cosmos25 G1/GR1, 16 for LIBERO).

    Returns:
        (..., model_state_dim) float32: for each key k, ``[sin(x_k), cos(x_k)]``, then zeros.

    Raises:
        SchemaMismatchError: wrong raw dimension, or 2·S > model_state_dim.
    """
    x = torch.as_tensor(state, dtype=torch.float32)
    if x.shape[-1] != embodiment.state_dim:
        raise SchemaMismatchError(
            f"state has {x.shape[-1]} dims, embodiment '{embodiment.name}' expects {embodiment.state_dim}"
        )
    if embodiment.sincos_state_dim > model_state_dim:
        raise SchemaMismatchError(
            f"sin/cos state needs {embodiment.sincos_state_dim} dims but the model has {model_state_dim}"
        )
    parts = []
    for key in embodiment.state_keys:
        value = x[..., key.start : key.stop]
        parts.extend((torch.sin(value), torch.cos(value)))
    out = torch.cat(parts, dim=-1)
    return F.pad(out, (0, model_state_dim - out.shape[-1]))


# ---------------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------------


def _minmax(stats: FeatureStats, embodiment: Embodiment, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
    if stats.dim != embodiment.action_dim:
        raise SchemaMismatchError(
            f"action statistics have {stats.dim} dims, "
            f"embodiment '{embodiment.name}' has {embodiment.action_dim}"
        )
    low = torch.as_tensor(stats.min, dtype=like.dtype, device=like.device)
    high = torch.as_tensor(stats.max, dtype=like.dtype, device=like.device)
    scaled = torch.ones(embodiment.action_dim, dtype=torch.bool, device=like.device)
    if embodiment.raw_action_dims:
        scaled[list(embodiment.raw_action_dims)] = False
    return low, high, scaled


def normalize_action(
    action: torch.Tensor | np.ndarray, stats: FeatureStats, embodiment: Embodiment
) -> torch.Tensor:
    """Min/max-normalise raw actions to [-1, 1] (model_spec §4 "Output un-normalisation").

    Args:
        action: (..., A) raw actions [rad | opening].
        stats: action statistics (A dims).
        embodiment: which dims stay raw.

    Returns:
        (..., A) float32; dims with max == min map to 0; raw dims are unchanged.

    Raises:
        SchemaMismatchError: dimension mismatch.
    """
    x = torch.as_tensor(action, dtype=torch.float32)
    if x.shape[-1] != embodiment.action_dim:
        raise SchemaMismatchError(f"action has {x.shape[-1]} dims, expected {embodiment.action_dim}")
    low, high, scaled = _minmax(stats, embodiment, x)
    span = high - low
    safe = torch.where(span > 0, span, torch.ones_like(span))
    norm = torch.where(span > 0, 2.0 * (x - low) / safe - 1.0, torch.zeros_like(x))
    return torch.where(scaled, norm, x)


def unnormalize_action(action: torch.Tensor, stats: FeatureStats, embodiment: Embodiment) -> torch.Tensor:
    """Inverse of :func:`normalize_action`, with the authors' clip and gripper threshold.

    Args:
        action: (..., A) model-space actions (already sliced to the embodiment's A dims).
        stats: action statistics (A dims).
        embodiment: which dims stay raw or are binary.

    Returns:
        (..., A) raw actions: clip to [-1, 1] then ``0.5(x+1)(max-min)+min`` on scaled dims;
        binary dims become 0.0/1.0 (threshold 0.5).

    Raises:
        SchemaMismatchError: dimension mismatch.
    """
    x = torch.as_tensor(action)
    if x.shape[-1] != embodiment.action_dim:
        raise SchemaMismatchError(f"action has {x.shape[-1]} dims, expected {embodiment.action_dim}")
    low, high, scaled = _minmax(stats, embodiment, x)
    raw = 0.5 * (x.clamp(-1.0, 1.0) + 1.0) * (high - low) + low
    out = torch.where(scaled, raw, x)
    if embodiment.binary_action_dims:
        dims = list(embodiment.binary_action_dims)
        out[..., dims] = (out[..., dims] > 0.5).to(out.dtype)
    return out


def pad_action(
    action: torch.Tensor, model_action_dim: int, valid_steps: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad normalised actions to the model's action dim and build the loss mask.

    Args:
        action: (..., H, A) normalised actions.
        model_action_dim: padded dimension (32 for cosmos25 G1/GR1, 8 for LIBERO).
        valid_steps: (..., H) bool, False for steps past the episode end; None = all valid.

    Returns:
        padded (..., H, model_action_dim) float32 and mask (..., H, model_action_dim) bool, True
        on real dims of valid steps.

    Raises:
        SchemaMismatchError: A > model_action_dim or valid_steps of the wrong shape.
    """
    raw_dim = action.shape[-1]
    if raw_dim > model_action_dim:
        raise SchemaMismatchError(f"action has {raw_dim} dims but the model has only {model_action_dim}")
    padded = F.pad(action.float(), (0, model_action_dim - raw_dim))
    mask = torch.zeros(padded.shape, dtype=torch.bool, device=action.device)
    mask[..., :raw_dim] = True
    if valid_steps is not None:
        if valid_steps.shape != action.shape[:-1]:
            raise SchemaMismatchError(
                f"valid_steps must have shape {tuple(action.shape[:-1])}, got {tuple(valid_steps.shape)}"
            )
        mask &= valid_steps.to(torch.bool).unsqueeze(-1)
    return padded, mask


def video_frame_indices(
    video_delta_indices: tuple[int, ...], action_video_freq_ratio: int
) -> tuple[int, ...]:
    """Frame offsets actually used for the video clip: every ratio-th entry of the delta indices.

    ``range(0, 17)`` with ratio 2 → (0, 2, …, 16): 9 pixel frames → 3 latent frames (model_spec §3).

    Raises:
        ValueError: empty indices, a non-positive ratio, or a first index other than 0.
    """
    if action_video_freq_ratio < 1:
        raise ValueError(f"action_video_freq_ratio must be >= 1, got {action_video_freq_ratio}")
    if not video_delta_indices or video_delta_indices[0] != 0:
        raise ValueError(
            f"video_delta_indices must start at 0 (the current frame), got {video_delta_indices}"
        )
    return tuple(video_delta_indices[::action_video_freq_ratio])


def latent_frames(num_pixel_frames: int, temporal_compression: int = 4) -> int:
    """Causal VAE latent frame count ``(T-1)//4 + 1`` (Wan2.1; model_spec §1.4)."""
    if num_pixel_frames < 1:
        raise ValueError(f"need at least one pixel frame, got {num_pixel_frames}")
    return (num_pixel_frames - 1) // temporal_compression + 1


__all__ = [
    "FeatureStats",
    "NormStats",
    "check_image_size",
    "images_to_model",
    "latent_frames",
    "normalize_action",
    "pad_action",
    "state_to_model",
    "unnormalize_action",
    "video_frame_indices",
]
