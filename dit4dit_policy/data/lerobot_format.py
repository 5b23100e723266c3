"""LeRobot dataset on-disk layout (v3.0 written, v3.0 and v2.1 read): paths, features, atomic files.

Torch-free (numpy + pyarrow); imported by the recorder and the simulator's demo generator.

Layout of a v3.0 dataset as LeRobot defines it (``lerobot/datasets/utils.py`` at v3.0;
reference/peers.md [LR-V3]; reference/environment.md "Datasets and video")::

    meta/info.json                 codebase_version "v3.0", fps, features, path templates, totals
    meta/stats.json                per feature: min/max/mean/std/count/q01/q10/q50/q90/q99
    meta/tasks.parquet             task_index ↔ task string (pandas index "task")
    meta/episodes/chunk-CCC/file-FFF.parquet   one row per episode: lengths, file locations, stats
    data/chunk-CCC/file-FFF.parquet            per-frame columns
    videos/<video_key>/chunk-CCC/file-FFF.mp4

Our writer puts each episode into its own data/video/metadata file (file index = episode index
modulo ``chunks_size``), which LeRobot reads like any v3.0 dataset, and which makes finishing an
episode a sequence of atomic renames instead of a rewrite of a shared file.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.errors import DatasetError

CODEBASE_VERSION = "v3.0"
#: Versions the reader understands.
READABLE_VERSIONS = ("v3.0", "v2.1", "v2.0")

#: LeRobot's defaults (``DEFAULT_CHUNK_SIZE``, ``DEFAULT_DATA_FILE_SIZE_IN_MB``,
#: ``DEFAULT_VIDEO_FILE_SIZE_IN_MB``).
DEFAULT_CHUNK_SIZE = 1000
DEFAULT_DATA_FILE_SIZE_IN_MB = 100
DEFAULT_VIDEO_FILE_SIZE_IN_MB = 500

INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
MODALITY_PATH = "meta/modality.json"
EPISODES_DIR = "meta/episodes"
CHUNK_FILE_PATTERN = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE_PATTERN + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE_PATTERN + ".mp4"
EPISODES_PATH = EPISODES_DIR + "/" + CHUNK_FILE_PATTERN + ".parquet"

# v2.x layout (LeRobot ``LEGACY_*`` paths).
V2_EPISODES_PATH = "meta/episodes.jsonl"
V2_EPISODES_STATS_PATH = "meta/episodes_stats.jsonl"
V2_TASKS_PATH = "meta/tasks.jsonl"
V2_DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
V2_VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"

#: Directory (inside the dataset root) holding the episode being recorded; never read as data.
STAGING_DIR = ".recording"

#: Per-frame bookkeeping columns every LeRobot dataset has (``DEFAULT_FEATURES``).
DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    schema.FEATURE_TIMESTAMP: {"dtype": "float32", "shape": (1,), "names": None},
    schema.FEATURE_FRAME_INDEX: {"dtype": "int64", "shape": (1,), "names": None},
    schema.FEATURE_EPISODE_INDEX: {"dtype": "int64", "shape": (1,), "names": None},
    schema.FEATURE_INDEX: {"dtype": "int64", "shape": (1,), "names": None},
    schema.FEATURE_TASK_INDEX: {"dtype": "int64", "shape": (1,), "names": None},
}

#: Numeric dtypes allowed for per-frame features (LeRobot accepts any numpy dtype string).
NUMERIC_DTYPES = ("float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")
#: Video codecs the writer can produce; the LeRobot ``video.codec`` names.
VIDEO_CODECS = ("av1", "h264")


def is_visual(feature: Mapping[str, Any]) -> bool:
    """True for ``video`` and ``image`` features."""
    return feature.get("dtype") in ("video", "image")


def video_feature(height: int, width: int, fps: int, codec: str = "av1") -> dict[str, Any]:
    """A LeRobot ``video`` feature dict for (height, width, 3) RGB frames.

    Raises:
        ValueError: non-positive or odd size (yuv420p needs even sides), or an unknown codec.
    """
    if codec not in VIDEO_CODECS:
        raise ValueError(f"video codec must be one of {VIDEO_CODECS}, got {codec!r}")
    if height <= 0 or width <= 0 or height % 2 or width % 2:
        raise ValueError(f"video frames need positive even height and width (yuv420p), got {height}×{width}")
    return {
        "dtype": "video",
        "shape": (int(height), int(width), 3),
        "names": ["height", "width", "channels"],
        "info": {
            "video.height": int(height),
            "video.width": int(width),
            "video.codec": codec,
            "video.pix_fmt": "yuv420p",
            "video.is_depth_map": False,
            "video.fps": int(fps),
            "video.channels": 3,
            "has_audio": False,
        },
    }


def g1_features(
    image_shape: tuple[int, int, int] = (480, 640, 3),
    video_codec: str = "av1",
    extra: Mapping[str, Mapping[str, Any]] | None = None,
    fps: int = int(schema.CONTROL_RATE_HZ),
) -> dict[str, dict[str, Any]]:
    """LeRobot feature dicts of a G1 16-DoF dataset (g1_spec §6.3/§6.4, schema feature names).

    Args:
        image_shape: (H, W, 3) of ``observation.images.ego_view`` frames as recorded (RGB uint8).
        video_codec: ``"av1"`` (LeRobot's default: libsvtav1, crf 30, g 2) or ``"h264"``.
        extra: additional per-frame features, LeRobot style, e.g.
            ``{"eval.chunk_latency_ms": {"dtype": "float32", "shape": (1,), "names": None}}``; numeric
            dtypes with 1-D shapes, or ``{"dtype": "video", "shape": (h, w, 3)}`` for more cameras.
        fps: frame rate recorded in the video feature info [Hz].

    Returns:
        Feature dict including the default bookkeeping features (timestamp, indices).

    Raises:
        ValueError: bad image shape, codec, or an invalid/clashing extra feature.
    """
    if len(image_shape) != 3 or image_shape[2] != 3:
        raise ValueError(f"image_shape must be (H, W, 3), got {tuple(image_shape)}")
    features: dict[str, dict[str, Any]] = {
        schema.FEATURE_IMAGE_EGO: video_feature(image_shape[0], image_shape[1], fps, video_codec),
        schema.FEATURE_STATE: {
            "dtype": "float32",
            "shape": (schema.NUM_JOINTS,),
            "names": list(schema.JOINT_NAMES),
        },
        schema.FEATURE_ACTION: {
            "dtype": "float32",
            "shape": (schema.NUM_JOINTS,),
            "names": list(schema.JOINT_NAMES),
        },
    }
    for key, feature in (extra or {}).items():
        if key in features or key in DEFAULT_FEATURES:
            raise ValueError(f"extra feature '{key}' clashes with a built-in feature")
        feature = dict(feature)
        if feature.get("dtype") == "video" and "info" not in feature:
            shape = tuple(feature.get("shape", ()))
            if len(shape) != 3 or shape[2] != 3:
                raise ValueError(f"extra video feature '{key}' needs shape (H, W, 3), got {shape}")
            feature = video_feature(shape[0], shape[1], fps, video_codec)
        features[key] = feature
    features.update(copy.deepcopy(DEFAULT_FEATURES))
    return normalize_features(features)


def normalize_features(features: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Validate LeRobot feature dicts and return a deep copy with tuple shapes.

    Raises:
        ValueError: a name containing '/', an unknown dtype, a non-1-D numeric shape, a bad video shape.
    """
    out: dict[str, dict[str, Any]] = {}
    for key, feature in features.items():
        if not isinstance(key, str) or not key or "/" in key:
            raise ValueError(f"feature names must be non-empty and contain no '/', got {key!r}")
        if not isinstance(feature, Mapping) or "dtype" not in feature or "shape" not in feature:
            raise ValueError(f"feature '{key}' must be a mapping with 'dtype' and 'shape', got {feature!r}")
        feature = copy.deepcopy(dict(feature))
        shape = tuple(int(s) for s in feature["shape"])
        dtype = feature["dtype"]
        if dtype in ("video", "image"):
            if len(shape) != 3 or shape[2] != 3 or min(shape) <= 0:
                raise ValueError(f"visual feature '{key}' needs shape (H, W, 3), got {shape}")
        elif dtype in NUMERIC_DTYPES:
            if len(shape) != 1 or shape[0] <= 0:
                raise ValueError(f"numeric feature '{key}' needs a 1-D shape like (16,) or (1,), got {shape}")
        elif dtype != "string":
            raise ValueError(
                f"feature '{key}' has dtype {dtype!r}; expected one of {(*NUMERIC_DTYPES, 'video', 'image')}"
            )
        feature["shape"] = shape
        feature.setdefault("names", None)
        out[key] = feature
    return out


def video_keys(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Names of the ``video`` features, in declaration order."""
    return [k for k, f in features.items() if f.get("dtype") == "video"]


def user_keys(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Features a caller supplies per frame (everything except the bookkeeping columns)."""
    return [k for k in features if k not in DEFAULT_FEATURES]


def chunk_and_file(episode_index: int, chunks_size: int) -> tuple[int, int]:
    """(chunk_index, file_index) of an episode written one file per episode."""
    return episode_index // chunks_size, episode_index % chunks_size


def empty_info(fps: int, features: Mapping[str, Any], robot_type: str | None) -> dict[str, Any]:
    """``meta/info.json`` content of an empty v3.0 dataset."""
    has_video = bool(video_keys(features))
    return {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": 0,
        "total_frames": 0,
        "total_tasks": 0,
        "chunks_size": DEFAULT_CHUNK_SIZE,
        "data_files_size_in_mb": DEFAULT_DATA_FILE_SIZE_IN_MB,
        "video_files_size_in_mb": DEFAULT_VIDEO_FILE_SIZE_IN_MB,
        "fps": int(fps),
        "splits": {},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if has_video else None,
        "features": jsonable(features),
    }


def jsonable(value: Any) -> Any:
    """Tuples → lists, numpy scalars/arrays → Python values (for json.dumps)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---------------------------------------------------------------------------------------------
# Atomic files: write to a hidden temporary name in the same directory, fsync, rename.
# ---------------------------------------------------------------------------------------------


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def commit_file(tmp: Path, path: Path) -> None:
    """Fsync ``tmp`` and atomically rename it to ``path`` (creating parent directories)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        tmp.write_bytes(data)
        commit_file(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: Any) -> None:
    """Atomic JSON write (indent 4, UTF-8, like LeRobot's ``write_json``)."""
    write_bytes_atomic(path, json.dumps(jsonable(data), indent=4, ensure_ascii=False).encode("utf-8"))


def write_parquet_atomic(path: Path, table: Any) -> None:
    """Atomic parquet write of a ``pyarrow.Table``."""
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        pq.write_table(table, tmp)
        commit_file(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: Path, what: str) -> Any:
    """Read JSON, raising :class:`DatasetError` naming ``what`` on a missing or corrupt file."""
    if not path.is_file():
        raise DatasetError(f"{what} {path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{what} {path} is not valid JSON: {exc}") from exc


def read_jsonl(path: Path, what: str) -> list[dict[str, Any]]:
    """Read JSON lines (v2.x metadata), raising :class:`DatasetError` naming the line."""
    if not path.is_file():
        raise DatasetError(f"{what} {path} does not exist")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{what} {path} line {number} is not valid JSON: {exc}") from exc
    return rows


def remove_temporaries(root: Path) -> list[Path]:
    """Delete leftovers of interrupted atomic writes (``.<name>.tmp-<pid>``) under ``root``."""
    removed = []
    for sub in ("meta", "data", "videos"):
        base = root / sub
        if base.is_dir():
            for tmp in base.rglob(".*.tmp-*"):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed
