"""Convert Unitree xr_teleoperate episode folders (``data.json`` + ``colors/``) to our dataset format.

Source layout (g1_spec §6.2, ``XR:teleop/utils/episode_writer.py``)::

    <task_dir>/episode_0001/data.json
    <task_dir>/episode_0001/colors/000000_color_0.jpg …      (BGR JPEG written by cv2.imwrite)

``data.json`` has ``info`` (``image.fps`` = the recording loop rate), ``text.goal`` (the task
string — hard-coded in xr_teleoperate, so ``task`` overrides it) and ``data``: one item per loop
with ``colors`` (camera key → relative path), ``states`` and ``actions``, each
``{left_arm: {qpos: [7]}, right_arm: {qpos: [7]}, left_ee: {qpos: [1]}, right_ee: {qpos: [1]}}``.

Mapping to the 16-D vector (the IL converter's ``Unitree_G1_Dex1`` order, g1_spec §6.3, which is
schema order): ``left_arm ‖ right_arm ‖ left_ee[0] ‖ right_ee[0]``. Dex1 gripper values are motor
angles [rad], 0 = closed, 5.4 = open (g1_spec §4); they become openings ``q / 5.4`` in [0, 1]
(``gripper="dex1"``), or are taken as already normalised (``gripper="normalized"``). The image is
``color_0`` (head camera, or the left eye of a binocular head camera; a side-by-side stereo frame,
width/height > 2, is cut to its left half, g1_spec §5), converted BGR → RGB.

xr_teleoperate records at its loop rate (60 Hz default) while its converter assumes 30 Hz
(g1_spec §6.2): here a source rate that is an integer multiple of the target rate is decimated,
any other rate is refused. Episodes are appended one at a time through the dataset writer (each
committed atomically), and ``conversion_log.jsonl`` in the output maps source folders to episode
indices, so an interrupted conversion resumes where it stopped. Torch-free.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.errors import DatasetError

logger = logging.getLogger(__name__)

#: Dex1 motor angle at full opening [rad] (g1_spec §4: np.interp(v, [5.0, 7.0], [0.0, 5.4])).
DEX1_OPEN_Q_RAD = 5.4
LOG_NAME = "conversion_log.jsonl"
_EPISODE_RE = re.compile(r"episode_(\d+)$")


@dataclasses.dataclass
class ConvertConfig:
    """Conversion options.

    Attributes:
        task: instruction for every episode ('' = each episode's ``text.goal``).
        camera: ``colors`` key of the ego view.
        gripper: ``dex1`` (motor angle → opening) or ``normalized`` (already in [0, 1]).
        fps: output rate [Hz].
        image_size: (height, width) of stored frames; None = the first frame's size.
        video_codec: ``av1`` or ``h264``.
        skip_bad_episodes: log and skip a malformed episode instead of stopping.
    """

    task: str = ""
    camera: str = "color_0"
    gripper: Literal["dex1", "normalized"] = "dex1"
    fps: int = int(schema.CONTROL_RATE_HZ)
    image_size: tuple[int, int] | None = None
    video_codec: Literal["av1", "h264"] = "av1"
    skip_bad_episodes: bool = False

    def __post_init__(self) -> None:
        if self.gripper not in ("dex1", "normalized"):
            raise ValueError(f"gripper must be 'dex1' or 'normalized', got {self.gripper!r}")
        if not 1 <= self.fps <= 120:
            raise ValueError(f"fps must be in [1, 120], got {self.fps}")
        if self.image_size is not None and (len(self.image_size) != 2 or min(self.image_size) < 16):
            raise ValueError(f"image_size must be (height, width) >= 16 px, got {self.image_size}")


@dataclasses.dataclass(frozen=True)
class ConvertReport:
    """Result of a conversion.

    Attributes:
        converted: (source folder, dataset episode index) pairs converted in this run.
        skipped: (source folder, reason) pairs not converted (already done, or malformed with
            ``skip_bad_episodes``).
        frames: frames written in this run.
    """

    converted: list[tuple[str, int]]
    skipped: list[tuple[str, str]]
    frames: int


def find_episodes(source: str | Path) -> list[Path]:
    """Episode folders under ``source`` (a task directory, or one episode folder), in numeric order.

    Raises:
        DatasetError: no folder with a ``data.json``.
    """
    source = Path(source).expanduser()
    if (source / "data.json").is_file():
        return [source]
    folders = (
        [p for p in source.iterdir() if p.is_dir() and (p / "data.json").is_file()] if source.is_dir() else []
    )

    def key(path: Path) -> tuple[int, str]:
        match = _EPISODE_RE.search(path.name)
        return (int(match.group(1)) if match else 1 << 30, path.name)

    if not folders:
        raise DatasetError(f"{source}: no xr_teleoperate episode folders (episode_NNNN/data.json) found")
    return sorted(folders, key=key)


def _vector(item: dict[str, Any], section: str, where: str, gripper: str) -> np.ndarray:
    block = item.get(section)
    if not isinstance(block, dict):
        raise DatasetError(f"{where}: '{section}' must be an object with left_arm/right_arm/left_ee/right_ee")
    parts = []
    for key, size in (("left_arm", 7), ("right_arm", 7), ("left_ee", 1), ("right_ee", 1)):
        qpos = block.get(key, {}).get("qpos") if isinstance(block.get(key), dict) else None
        if not isinstance(qpos, list) or len(qpos) < size or (key.endswith("arm") and len(qpos) != size):
            raise DatasetError(
                f"{where}: '{section}.{key}.qpos' must hold {size} number{'s' if size > 1 else ''} "
                f"(a Dex1 gripper for the ee), got {qpos!r}"
            )
        parts.append(np.asarray(qpos[:size], dtype=np.float64))
    vector = np.concatenate(parts)
    if not np.all(np.isfinite(vector)):
        raise DatasetError(f"{where}: '{section}' holds non-finite values")
    if gripper == "dex1":
        vector[schema.GRIPPERS] = vector[schema.GRIPPERS] / DEX1_OPEN_Q_RAD
    vector[schema.GRIPPERS] = np.clip(vector[schema.GRIPPERS], 0.0, 1.0)
    return vector.astype(np.float32)


def _read_image(path: Path, where: str) -> np.ndarray:
    import cv2

    if not path.is_file():
        raise DatasetError(f"{where}: image {path} does not exist")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"{where}: image {path} is not a readable JPEG/PNG")
    height, width = bgr.shape[:2]
    if width / height > 2.0:  # side-by-side stereo in one frame: keep the left eye
        bgr = bgr[:, : width // 2]
    return np.ascontiguousarray(bgr[..., ::-1])


def read_episode(folder: Path, config: ConvertConfig) -> tuple[str, int, list[dict[str, Any]]]:
    """Parse one episode's ``data.json``.

    Returns:
        (task, source fps, items).

    Raises:
        DatasetError: missing/invalid JSON, no items, or a source rate that is not a multiple of
            ``config.fps`` — naming the file and the field.
    """
    path = folder / "data.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not readable JSON: {exc}") from exc
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise DatasetError(f"{path}: 'data' must be a non-empty list of frames")
    fps = data.get("info", {}).get("image", {}).get("fps", config.fps)
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or fps <= 0:
        raise DatasetError(f"{path}: 'info.image.fps' must be a positive number, got {fps!r}")
    ratio = fps / config.fps
    if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
        raise DatasetError(
            f"{path}: recorded at {fps} Hz, which is not an integer multiple of {config.fps} Hz; "
            "record at 30 or 60 Hz (g1_spec §6.2)"
        )
    task = config.task or str(data.get("text", {}).get("goal", "")).strip()
    if not task:
        raise DatasetError(f"{path}: 'text.goal' is empty; pass a task instruction")
    return task, round(fps), items


def _frames(
    folder: Path, items: list[dict[str, Any]], step: int, config: ConvertConfig
) -> Iterator[dict[str, Any]]:
    for position, item in enumerate(items[::step]):
        where = f"{folder / 'data.json'}: item {position * step}"
        if not isinstance(item, dict):
            raise DatasetError(f"{where}: must be an object")
        colors = item.get("colors") or {}
        relative = colors.get(config.camera) if isinstance(colors, dict) else None
        if not isinstance(relative, str):
            raise DatasetError(f"{where}: 'colors.{config.camera}' is missing (have {sorted(colors)})")
        yield {
            "image": _read_image(folder / relative, where),
            "state": _vector(item, "states", where, config.gripper),
            "action": _vector(item, "actions", where, config.gripper),
        }


def _done(output: Path) -> dict[str, int]:
    path = output / LOG_NAME
    if not path.is_file():
        return {}
    done = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            done[entry["source"]] = int(entry["episode_index"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return done


def convert(
    source: str | Path,
    output: str | Path,
    config: ConvertConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> ConvertReport:
    """Convert every episode under ``source`` into the dataset at ``output`` (created or appended to).

    Args:
        source: a task directory of ``episode_NNNN`` folders, or one episode folder.
        output: dataset directory.
        config: options.
        progress: called with a line per episode.

    Returns:
        What was converted and skipped.

    Raises:
        DatasetError: a malformed episode (unless ``skip_bad_episodes``), an output dataset of a
            different rate or image size.
    """
    import cv2

    from dit4dit_policy.data.lerobot_dataset import LeRobotDatasetWriter, g1_features

    config = config or ConvertConfig()
    output = Path(output).expanduser()
    folders = find_episodes(source)
    done = _done(output)
    writer = None
    if (output / "meta" / "info.json").is_file():
        writer = LeRobotDatasetWriter.open(output)
        if writer.fps != config.fps:
            raise DatasetError(f"{output} is a {writer.fps} Hz dataset; convert with fps={writer.fps}")
    converted: list[tuple[str, int]] = []
    skipped: list[tuple[str, str]] = []
    total = 0
    try:
        for folder in folders:
            key = str(folder.resolve())
            if key in done and writer is not None and done[key] < writer.num_episodes:
                skipped.append((str(folder), f"already converted as episode {done[key]}"))
                continue
            try:
                task, fps, items = read_episode(folder, config)
                count = 0
                for frame in _frames(folder, items, fps // config.fps, config):
                    if writer is None:
                        size = config.image_size or frame["image"].shape[:2]
                        size = (size[0] - size[0] % 2, size[1] - size[1] % 2)
                        features = g1_features((*size, 3), config.video_codec, fps=config.fps)
                        writer = LeRobotDatasetWriter.create(
                            output, fps=config.fps, features=features, embodiment="g1_16dof"
                        )
                    height, width = writer.features[schema.FEATURE_IMAGE_EGO]["shape"][:2]
                    image = frame["image"]
                    if image.shape[:2] != (height, width):
                        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
                    writer.add_frame(
                        {
                            schema.FEATURE_IMAGE_EGO: image,
                            schema.FEATURE_STATE: frame["state"],
                            schema.FEATURE_ACTION: frame["action"],
                            schema.FEATURE_TIMESTAMP: count / config.fps,
                        }
                    )
                    count += 1
                assert writer is not None
                index = writer.save_episode(task=task)
            except DatasetError as exc:
                if writer is not None:
                    writer.discard_episode()
                if not config.skip_bad_episodes:
                    raise
                logger.warning("skipping %s: %s", folder, exc)
                skipped.append((str(folder), str(exc)))
                continue
            _log(
                output,
                {"source": key, "episode_index": index, "frames": count, "task": task, "source_fps": fps},
            )
            converted.append((str(folder), index))
            total += count
            if progress is not None:
                progress(f"{folder.name} → episode {index}: {count} frames, task {task!r}")
    finally:
        if writer is not None:
            writer.close()
    return ConvertReport(converted, skipped, total)


def _log(output: Path, entry: dict[str, Any]) -> None:
    with (output / LOG_NAME).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
