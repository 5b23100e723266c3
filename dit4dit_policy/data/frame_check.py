"""Validation of one recorded frame against a dataset's features (torch-free)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.data import lerobot_format as fmt
from dit4dit_policy.errors import DatasetError


class FrameChecker:
    """Checks and converts the values of one ``add_frame`` call.

    Args:
        features: normalised feature dicts of the dataset.
    """

    def __init__(self, features: Mapping[str, Mapping[str, Any]]) -> None:
        self.features = features
        self.video_keys = fmt.video_keys(features)
        self.numeric_keys = [k for k in fmt.user_keys(features) if features[k]["dtype"] in fmt.NUMERIC_DTYPES]
        unsupported = [k for k in fmt.user_keys(features) if k not in self.video_keys + self.numeric_keys]
        if unsupported:
            raise ValueError(f"the writer supports video and numeric features only; got {unsupported}")
        self.expected = set(self.video_keys) | set(self.numeric_keys)

    def check(
        self, frame: Mapping[str, Any], where: str, default_timestamp: float
    ) -> tuple[dict[str, Any], float]:
        """Validate ``frame``.

        Args:
            frame: feature name → value, plus an optional ``timestamp`` [s].
            where: ``"episode E, frame F"`` for messages.
            default_timestamp: timestamp used when the frame has none [s].

        Returns:
            (values converted to the declared dtypes, timestamp [s]).

        Raises:
            DatasetError: missing/unknown keys, bad shape/dtype/range.
        """
        if not isinstance(frame, Mapping):
            raise DatasetError(
                f"{where}: a frame must be a mapping of feature name → value, got {type(frame)}"
            )
        keys = set(frame)
        unknown = keys - self.expected - {schema.FEATURE_TIMESTAMP}
        if unknown:
            reserved = unknown & set(fmt.DEFAULT_FEATURES)
            hint = " (set by the writer)" if reserved else f"; declared features: {sorted(self.expected)}"
            raise DatasetError(f"{where}: unknown feature(s) {sorted(unknown)}{hint}")
        missing = self.expected - keys
        if missing:
            raise DatasetError(f"{where}: missing feature(s) {sorted(missing)}")
        values: dict[str, Any] = {}
        for key in self.video_keys:
            values[key] = self._image(key, frame[key], where)
        for key in self.numeric_keys:
            values[key] = self._numeric(key, frame[key], where)
        timestamp = frame.get(schema.FEATURE_TIMESTAMP, default_timestamp)
        if isinstance(timestamp, (bool, np.bool_)) or not isinstance(timestamp, (int, float, np.number)):
            raise DatasetError(
                f"{where}: 'timestamp' must be seconds since the episode start, got {timestamp!r}"
            )
        timestamp = float(timestamp)
        if not math.isfinite(timestamp) or timestamp < 0:
            raise DatasetError(f"{where}: 'timestamp' must be finite and >= 0 s, got {timestamp}")
        return values, timestamp

    def _image(self, key: str, value: Any, where: str) -> np.ndarray:
        shape = tuple(self.features[key]["shape"])
        if not isinstance(value, np.ndarray):
            raise DatasetError(
                f"{where}: feature '{key}' must be a numpy array {shape} uint8 RGB, got {type(value)}"
            )
        if value.shape != shape or value.dtype != np.uint8:
            raise DatasetError(
                f"{where}: feature '{key}' must be {shape} uint8 RGB (H, W, 3), "
                f"got {value.shape} {value.dtype}"
            )
        return value

    def _numeric(self, key: str, value: Any, where: str) -> np.ndarray:
        feature = self.features[key]
        shape = tuple(feature["shape"])
        dtype = np.dtype(feature["dtype"])
        array = np.asarray(value)
        if array.shape != shape and not (shape == (1,) and array.shape == ()):
            raise DatasetError(f"{where}: feature '{key}' must have shape {shape}, got {array.shape}")
        if array.dtype.kind not in "biuf":
            raise DatasetError(f"{where}: feature '{key}' must be numeric ({dtype}), got dtype {array.dtype}")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            bad = np.flatnonzero(~np.isfinite(array.reshape(-1)))
            raise DatasetError(f"{where}: feature '{key}' has non-finite values at dims {bad.tolist()}")
        if dtype.kind in "iub" and array.dtype.kind == "f" and not np.all(array == np.round(array)):
            raise DatasetError(f"{where}: feature '{key}' is {dtype}; got non-integer values {array}")
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            if np.any(array < info.min) or np.any(array > info.max):
                raise DatasetError(f"{where}: feature '{key}' values {array} do not fit {dtype}")
        return array.astype(dtype, copy=False).reshape(shape)
