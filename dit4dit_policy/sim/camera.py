"""The simulated head camera: intrinsics from ``calibration/`` and an offscreen RGB renderer.

The camera sits on ``d435_link`` (torso_link, g1_spec §5). Its intrinsics come from a ROS
CameraInfo YAML (default ``calibration/ego_camera.yaml``: 640×480, fx = fy = 462, a
RealSense-D435-like colour stream). Smaller output sizes are made the way a camera driver would:
centre-crop the sensor to the output aspect ratio, then scale, so a square 128×128 image keeps the
calibrated focal length per pixel of the crop (≈55° field of view for the default calibration).

Rendering is independent of DDS: the in-process environment and the bridge both use
:class:`EgoCameraRenderer`. MuJoCo renders offscreen (``MUJOCO_GL=egl`` on machines without a
display; ~45 ms per 224² frame on 2 CPU cores, reference/environment.md "MuJoCo").
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

if TYPE_CHECKING:
    import mujoco

#: Name of the camera in the compiled scene.
EGO_CAMERA = "ego"
CALIBRATION_FILENAME = "ego_camera.yaml"


@dataclasses.dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of an undistorted image.

    Attributes:
        width: image width [px].
        height: image height [px].
        fx: focal length along x [px].
        fy: focal length along y [px].
        cx: principal point x [px] (from the left edge).
        cy: principal point y [px] (from the top edge).

    Raises:
        ValueError: non-positive size or focal length, or a principal point outside the image.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"camera focal lengths must be > 0 px, got fx={self.fx}, fy={self.fy}")
        if not (0 <= self.cx <= self.width and 0 <= self.cy <= self.height):
            raise ValueError(
                f"principal point ({self.cx}, {self.cy}) lies outside the {self.width}x{self.height} image"
            )

    @property
    def fovy_deg(self) -> float:
        """Vertical field of view [deg] (symmetric approximation about the principal point)."""
        return float(np.degrees(2.0 * np.arctan2(self.height / 2.0, self.fy)))

    @property
    def matrix(self) -> np.ndarray:
        """(3, 3) float64 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def resized(self, width: int, height: int) -> CameraIntrinsics:
        """Intrinsics of a centre crop to the target aspect ratio, scaled to ``width × height``.

        Raises:
            ValueError: non-positive target size.
        """
        if width < 1 or height < 1:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        target_aspect = width / height
        crop_w, crop_h = float(self.width), float(self.height)
        if crop_w / crop_h > target_aspect:
            crop_w = crop_h * target_aspect
        else:
            crop_h = crop_w / target_aspect
        x0, y0 = (self.width - crop_w) / 2.0, (self.height - crop_h) / 2.0
        scale = width / crop_w
        return CameraIntrinsics(
            width=width,
            height=height,
            fx=self.fx * scale,
            fy=self.fy * scale,
            cx=(self.cx - x0) * scale,
            cy=(self.cy - y0) * scale,
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> CameraIntrinsics:
        """Read a ROS ``camera_calibration`` / CameraInfo YAML (image_width, image_height, camera_matrix).

        Raises:
            FileNotFoundError: no such file.
            ValueError: a missing or malformed field (named in the message).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"camera calibration {path} does not exist")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        try:
            k = data["camera_matrix"]["data"]
            width, height = int(data["image_width"]), int(data["image_height"])
        except (KeyError, TypeError) as exc:
            raise ValueError(
                f"{path}: expected image_width, image_height and camera_matrix.data (9 numbers), "
                f"missing {exc}"
            ) from exc
        if not isinstance(k, list) or len(k) != 9:
            raise ValueError(f"{path}: camera_matrix.data must hold 9 numbers, got {k!r}")
        return cls(width=width, height=height, fx=float(k[0]), fy=float(k[4]), cx=float(k[2]), cy=float(k[5]))


def find_calibration(path: str | Path | None = None) -> Path:
    """The ego-camera calibration file: ``path``, else ``<repo>/calibration`` or the installed share dir.

    Raises:
        FileNotFoundError: nothing found.
    """
    if path is not None:
        return Path(path).expanduser()
    candidates = [
        Path(__file__).resolve().parents[2] / "calibration" / CALIBRATION_FILENAME,
        Path(sys.prefix) / "share" / "dit4dit_policy" / "calibration" / CALIBRATION_FILENAME,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{CALIBRATION_FILENAME} not found (searched {', '.join(map(str, candidates))})")


def add_ego_camera(spec: mujoco.MjSpec, intrinsics: CameraIntrinsics, link: str) -> None:
    """Add the ego camera to ``link`` of ``spec`` (camera frame = d435_link: x forward, y left, z up).

    MuJoCo cameras look along their −z axis with +y up, so the image's right is the link's −y and
    its up is the link's +z. The intrinsics go in as a sensor model (focal length and principal
    point in pixels), which MuJoCo uses instead of ``fovy``.

    Raises:
        ValueError: ``link`` is not a body of ``spec``.
    """
    body = spec.body(link)
    if body is None:
        raise ValueError(f"camera link {link!r} is not a body of the robot description")
    cam = body.add_camera(name=EGO_CAMERA)
    # Rotation link → camera; camera axes in link coordinates: x = -y_link, y = z_link, z = -x_link.
    cam.quat = [0.5, 0.5, -0.5, -0.5]
    cam.resolution = [intrinsics.width, intrinsics.height]
    cam.sensor_size = [float(intrinsics.width), float(intrinsics.height)]
    cam.focal_pixel = [intrinsics.fx, intrinsics.fy]
    # MuJoCo shifts the image content by -principal: u = w/2 + fx·x/z - p_x, v = h/2 + fy·y/z - p_y
    # (checked by tests/sim/test_sim_camera.py), so the principal offset is (w/2 - cx, h/2 - cy).
    cam.principal_pixel = [intrinsics.width / 2.0 - intrinsics.cx, intrinsics.height / 2.0 - intrinsics.cy]
    spec.visual.global_.offwidth = max(spec.visual.global_.offwidth, intrinsics.width)
    spec.visual.global_.offheight = max(spec.visual.global_.offheight, intrinsics.height)


class EgoCameraRenderer:
    """Offscreen renderer of the ego camera.

    Create it in the thread that will call :meth:`render` (EGL/OSMesa contexts are per thread).

    Args:
        model: compiled scene containing the camera :data:`EGO_CAMERA`.
        width: image width [px] (the camera's configured resolution).
        height: image height [px].
        hidden_groups: geom groups not drawn (hidden collision primitives when meshes are loaded).

    Raises:
        ValueError: the model has no ego camera.
    """

    def __init__(self, model: mujoco.MjModel, width: int, height: int, hidden_groups: tuple[int, ...] = ()):
        import mujoco

        if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, EGO_CAMERA) < 0:
            raise ValueError(f"the model has no camera named {EGO_CAMERA!r}")
        self._renderer = mujoco.Renderer(model, height=height, width=width)
        self._option = mujoco.MjvOption()
        for group in hidden_groups:
            self._option.geomgroup[group] = 0
        self.width, self.height = width, height

    def render(self, data: Any) -> np.ndarray:
        """Render the ego view of ``data``.

        Returns:
            (height, width, 3) uint8 RGB image (a new array).
        """
        self._renderer.update_scene(data, camera=EGO_CAMERA, scene_option=self._option)
        return self._renderer.render().copy()

    def close(self) -> None:
        """Release the GL context."""
        self._renderer.close()
