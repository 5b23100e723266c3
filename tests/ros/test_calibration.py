import numpy as np
import pytest

from dit4dit_policy.errors import ConfigError, DeviceNotConnectedError
from dit4dit_policy.robot.calibration import load_camera_intrinsics
from dit4dit_policy.robot.cameras import VideoFileCamera, crop_left_half


def test_default_ego_camera():
    cam = load_camera_intrinsics()
    assert (cam.width, cam.height) == (640, 480)
    assert cam.k[0, 0] == cam.k[1, 1] == 462.0
    small = cam.scaled(160, 120)
    assert small.k[0, 0] == pytest.approx(115.5) and small.k[0, 2] == pytest.approx(80.0)
    assert small.vertical_fov_deg == pytest.approx(cam.vertical_fov_deg)
    assert 50 < cam.vertical_fov_deg < 60


def test_bad_calibration(tmp_path):
    path = tmp_path / "cam.yaml"
    path.write_text("image_width: 640\nimage_height: 480\ncamera_matrix: {rows: 3, cols: 3, data: [1, 2]}\n")
    with pytest.raises(ConfigError, match="'camera_matrix' needs 9 values"):
        load_camera_intrinsics(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_camera_intrinsics(tmp_path / "none.yaml")


def test_stereo_crop_and_missing_video(tmp_path):
    frame = np.zeros((480, 1280, 3), np.uint8)
    frame[:, :640] = 7
    assert crop_left_half(frame).shape == (480, 640, 3) and crop_left_half(frame).max() == 7
    with pytest.raises(DeviceNotConnectedError, match="does not exist"):
        VideoFileCamera(tmp_path / "none.mp4").open()
