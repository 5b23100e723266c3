"""Camera intrinsics in the ROS ``camera_calibration`` YAML layout (torch-free).

The default ego camera is ``calibration/ego_camera.yaml`` (installed to share/dit4dit_policy);
the simulator renders with the same intrinsics and the camera node publishes them as CameraInfo.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import yaml

from dit4dit_policy.errors import ConfigError
from dit4dit_policy.resources import share_path


def default_ego_camera_file() -> Path:
    """``calibration/ego_camera.yaml`` of the installed package."""
    return share_path("calibration", "ego_camera.yaml")


@dataclasses.dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of one camera.

    Attributes:
        width, height: image size [px].
        k: (3, 3) camera matrix [px].
        d: distortion coefficients (plumb_bob: k1, k2, t1, t2, k3).
        r: (3, 3) rectification matrix.
        p: (3, 4) projection matrix [px].
        distortion_model: ``plumb_bob`` or ``equidistant``.
        name: camera name.
    """

    width: int
    height: int
    k: np.ndarray
    d: np.ndarray
    r: np.ndarray
    p: np.ndarray
    distortion_model: str = "plumb_bob"
    name: str = "ego"

    def scaled(self, width: int, height: int) -> CameraIntrinsics:
        """Intrinsics of the same camera resized to (width, height).

        fx and cx scale with the width ratio, fy and cy with the height ratio.
        """
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        sx, sy = width / self.width, height / self.height
        scale = np.diag([sx, sy, 1.0])
        return dataclasses.replace(self, width=width, height=height, k=scale @ self.k, p=scale @ self.p)

    @property
    def vertical_fov_deg(self) -> float:
        """Vertical field of view [deg] = 2·atan(H / (2·fy))."""
        return float(np.degrees(2 * np.arctan(self.height / (2 * self.k[1, 1]))))


def _matrix(data: dict, key: str, rows: int, cols: int, path: Path) -> np.ndarray:
    entry = data.get(key)
    if not isinstance(entry, dict) or "data" not in entry:
        raise ConfigError(f"camera calibration {path}: '{key}' must be a mapping with rows, cols and data")
    values = np.asarray(entry["data"], dtype=np.float64)
    if values.size != rows * cols:
        raise ConfigError(f"camera calibration {path}: '{key}' needs {rows * cols} values, got {values.size}")
    return values.reshape(rows, cols)


def load_camera_intrinsics(path: str | Path | None = None) -> CameraIntrinsics:
    """Read a ROS camera_calibration YAML file (default: the package's ego camera).

    Raises:
        ConfigError: missing file, missing key or wrong matrix size (naming the key and file).
    """
    path = Path(path) if path is not None else default_ego_camera_file()
    if not path.is_file():
        raise ConfigError(f"camera calibration {path} does not exist")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for key in ("image_width", "image_height"):
        if not isinstance(data.get(key), int) or data[key] <= 0:
            raise ConfigError(f"camera calibration {path}: '{key}' must be a positive integer")
    d = np.asarray((data.get("distortion_coefficients") or {}).get("data", []), dtype=np.float64)
    return CameraIntrinsics(
        width=data["image_width"],
        height=data["image_height"],
        k=_matrix(data, "camera_matrix", 3, 3, path),
        d=d,
        r=_matrix(data, "rectification_matrix", 3, 3, path),
        p=_matrix(data, "projection_matrix", 3, 4, path),
        distortion_model=str(data.get("distortion_model", "plumb_bob")),
        name=str(data.get("camera_name", "ego")),
    )
