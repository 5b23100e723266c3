"""Ego camera: calibration YAML, crop-and-scale intrinsics, and a rendered point lands where K says."""

import mujoco
import numpy as np
import pytest

from dit4dit_policy.sim.camera import EGO_CAMERA, CameraIntrinsics, EgoCameraRenderer, find_calibration
from dit4dit_policy.sim.scene import TABLE_HEIGHT_M, SceneBuilder, SceneConfig


def test_default_calibration_is_the_d435_like_one():
    k = CameraIntrinsics.from_yaml(find_calibration())
    assert (k.width, k.height, k.fx, k.fy, k.cx, k.cy) == (640, 480, 462.0, 462.0, 320.0, 240.0)
    assert 2 * np.degrees(np.arctan(320 / 462)) == pytest.approx(69.4, abs=0.1)


def test_resize_crops_to_aspect_then_scales():
    k = CameraIntrinsics(640, 480, 462.0, 462.0, 320.0, 240.0)
    square = k.resized(128, 128)
    # Centre 480x480 crop, scaled by 128/480.
    assert (square.fx, square.cx, square.cy) == pytest.approx((462 * 128 / 480, 64.0, 64.0))
    same_aspect = k.resized(320, 240)
    assert (same_aspect.fx, same_aspect.cx) == pytest.approx((231.0, 160.0))
    with pytest.raises(ValueError, match="positive"):
        k.resized(0, 10)


def test_bad_calibration_names_the_field(tmp_path):
    path = tmp_path / "cam.yaml"
    path.write_text("image_width: 640\nimage_height: 480\n")
    with pytest.raises(ValueError, match="camera_matrix"):
        CameraIntrinsics.from_yaml(path)
    with pytest.raises(FileNotFoundError):
        CameraIntrinsics.from_yaml(tmp_path / "none.yaml")


@pytest.mark.parametrize(
    ("width", "height", "cx_shift", "cy_shift"),
    [(128, 128, 0.0, 0.0), (160, 96, 0.0, 0.0), (128, 128, 40.0, 0.0), (128, 128, 0.0, -30.0)],
)
def test_rendered_marker_projects_through_the_intrinsics(tmp_path, width, height, cx_shift, cy_shift):
    calib = tmp_path / "ego.yaml"
    k_data = [462.0, 0, 320.0 + cx_shift, 0, 462.0, 240.0 + cy_shift, 0, 0, 1]
    calib.write_text(
        f"image_width: 640\nimage_height: 480\ncamera_matrix: {{rows: 3, cols: 3, data: {k_data}}}"
    )
    builder = SceneBuilder(SceneConfig(image_width=width, image_height=height, calibration=calib))
    marker = np.array([0.45, -0.08, TABLE_HEIGHT_M + 0.05])
    builder.spec.worldbody.add_geom(
        type=mujoco.mjtGeom.mjGEOM_SPHERE,
        size=[0.012, 0, 0],
        pos=marker.tolist(),
        rgba=[0, 1, 0, 1],
        contype=0,
        conaffinity=0,
    )
    scene = builder.compile()
    mujoco.mj_forward(scene.model, scene.data)
    image = EgoCameraRenderer(scene.model, width, height).render(scene.data)
    green = (image[..., 1] > 150) & (image[..., 0] < 80) & (image[..., 2] < 80)
    assert green.sum() > 3
    v, u = np.argwhere(green).mean(axis=0)
    # Expected pixel: world → camera (MuJoCo camera looks along -z, y up) → pinhole with K.
    cam = scene.data.cam(EGO_CAMERA)
    rot = cam.xmat.reshape(3, 3)
    p = rot.T @ (marker - cam.xpos)
    k = builder.intrinsics
    u_exp = k.cx + k.fx * p[0] / -p[2]
    v_exp = k.cy - k.fy * p[1] / -p[2]
    assert (u + 0.5, v + 0.5) == pytest.approx((u_exp, v_exp), abs=1.0)
