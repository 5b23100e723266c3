"""Converter from Unitree xr_teleoperate episode folders, on synthetic folders written like episode_writer."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from dit4dit_policy import schema
from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
from dit4dit_policy.errors import DatasetError
from dit4dit_policy.record.xr_convert import ConvertConfig, convert, find_episodes


def _arm(i, side, kind):
    base = 0.01 * i + (0.0 if side == "left" else 0.5) + (0.0 if kind == "states" else 0.002)
    return [round(base + 0.1 * j, 6) for j in range(7)]


def write_episode(
    task_dir,
    number,
    frames,
    fps=30,
    goal="Pick up the red cup on the table.",
    size=(48, 64),
    stereo=False,
    break_item=None,
):
    """An episode folder as xr_teleoperate's EpisodeWriter lays it out (g1_spec §6.2)."""
    folder = task_dir / f"episode_{number:04d}"
    (folder / "colors").mkdir(parents=True)
    items = []
    for i in range(frames):
        height, width = size
        bgr = np.zeros((height, width * (2 if stereo else 1), 3), np.uint8)
        bgr[..., 0] = 200  # blue
        bgr[..., 2] = (4 * i) % 256  # red encodes the frame
        if stereo:
            bgr[:, width:, 1] = 255  # right eye is green
        name = f"colors/{i:06d}_color_0.jpg"
        cv2.imwrite(str(folder / name), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
        item = {"idx": i, "colors": {"color_0": name}, "depths": {}, "tactiles": None, "audios": None}
        for kind in ("states", "actions"):
            grip = 5.4 * (i % 5) / 4 if kind == "actions" else 2.7
            item[kind] = {
                "left_arm": {"qpos": _arm(i, "left", kind), "qvel": [], "torque": []},
                "right_arm": {"qpos": _arm(i, "right", kind), "qvel": [], "torque": []},
                "left_ee": {"qpos": [grip]},
                "right_ee": {"qpos": [5.4 - grip]},
                "body": {"qpos": []},
            }
        if break_item == i:
            del item["colors"]["color_0"]
        items.append(item)
    data = {
        "info": {
            "version": "1.0.0",
            "author": "unitree",
            "image": {"width": size[1], "height": size[0], "fps": fps},
            "joint_names": {
                "left_arm": ["a"] * 7,
                "left_ee": [],
                "right_arm": [],
                "right_ee": [],
                "body": [],
            },
        },
        "text": {"goal": goal, "desc": "", "steps": ""},
        "data": items,
    }
    (folder / "data.json").write_text(json.dumps(data))
    return folder


def test_converts_30_and_60_hz_episodes(tmp_path):
    source = tmp_path / "xr" / "pick_cup"
    write_episode(source, 1, 20)
    write_episode(source, 2, 40, fps=60, goal="stack the cups")
    write_episode(source, 10, 12, stereo=True)
    out = tmp_path / "dataset"
    report = convert(source, out, ConvertConfig(video_codec="h264"))
    assert [index for _, index in report.converted] == [0, 1, 2] and report.frames == 20 + 20 + 12
    ds = LeRobotDataset(out)
    assert ds.num_episodes == 3 and ds.fps == 30 and ds.robot_type == schema.ROBOT_TYPE
    assert list(ds.episode_lengths) == [20, 20, 12]
    assert (
        ds.episode_task(0) == "Pick up the red cup on the table." and ds.episode_task(1) == "stack the cups"
    )
    ep = ds.episode(0)
    state, action = ep.data["observation.state"], ep.data["action"]
    np.testing.assert_allclose(state[3, :7], _arm(3, "left", "states"), atol=1e-6)
    np.testing.assert_allclose(state[3, 7:14], _arm(3, "right", "states"), atol=1e-6)
    np.testing.assert_allclose(action[3, :7], _arm(3, "left", "actions"), atol=1e-6)
    np.testing.assert_allclose(state[:, 14:], 0.5)  # 2.7 rad of 5.4 = half open
    np.testing.assert_allclose(action[:5, 14], [0.0, 0.25, 0.5, 0.75, 1.0], atol=1e-6)
    np.testing.assert_allclose(action[:5, 15], [1.0, 0.75, 0.5, 0.25, 0.0], atol=1e-6)
    np.testing.assert_allclose(ep.data["timestamp"], np.arange(20) / 30, atol=1e-6)
    frames = ds.frames(0)
    assert frames.shape == (20, 48, 64, 3)
    assert abs(int(frames[0, 10, 10, 2]) - 200) < 12 and int(frames[0, 10, 10, 0]) < 20  # BGR → RGB
    assert abs(int(frames[10, 10, 10, 0]) - 40) < 12  # the right frame in the right place
    # 60 Hz: every second source frame (items 0, 2, 4, …)
    ep1 = ds.episode(1)
    np.testing.assert_allclose(
        ep1.data["observation.state"][:, 0], [0.01 * i for i in range(0, 40, 2)], atol=1e-6
    )
    # side-by-side stereo: the left eye only (no green)
    stereo = ds.frames(2)
    assert stereo.shape == (12, 48, 64, 3) and int(stereo[:, :, :, 1].max()) < 40


def test_rerun_resumes_and_task_override(tmp_path):
    source = tmp_path / "xr"
    write_episode(source, 1, 10)
    out = tmp_path / "dataset"
    convert(source, out, ConvertConfig(video_codec="h264", task="pick the cup"))
    write_episode(source, 2, 10)
    report = convert(source, out, ConvertConfig(video_codec="h264", task="pick the cup"))
    assert [index for _, index in report.converted] == [1]
    assert "already converted" in report.skipped[0][1]
    ds = LeRobotDataset(out)
    assert ds.num_episodes == 2 and ds.tasks == ["pick the cup"]


def test_bad_episodes_are_named_or_skipped(tmp_path):
    source = tmp_path / "xr"
    write_episode(source, 1, 8)
    write_episode(source, 2, 8, break_item=5)
    write_episode(source, 3, 8, fps=45)
    with pytest.raises(DatasetError, match=r"episode_0002.*item 5.*colors\.color_0"):
        convert(source, tmp_path / "a", ConvertConfig(video_codec="h264"))
    assert LeRobotDataset(tmp_path / "a").num_episodes == 1  # the good episode before it is kept
    report = convert(source, tmp_path / "b", ConvertConfig(video_codec="h264", skip_bad_episodes=True))
    assert len(report.converted) == 1 and len(report.skipped) == 2
    assert "45 Hz" in report.skipped[1][1]
    with pytest.raises(DatasetError, match="no xr_teleoperate episode"):
        find_episodes(tmp_path / "empty_dir_that_does_not_exist")


def test_bad_state_field_is_named(tmp_path):
    folder = write_episode(tmp_path / "xr", 1, 3)
    data = json.loads((folder / "data.json").read_text())
    data["data"][1]["states"]["right_arm"]["qpos"] = [0.0] * 6
    (folder / "data.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"item 1.*states\.right_arm\.qpos.*7 numbers"):
        convert(folder, tmp_path / "out", ConvertConfig(video_codec="h264"))


def test_cli(tmp_path):
    write_episode(tmp_path / "xr", 1, 6)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dit4dit_policy.cli",
            "dataset",
            "convert-xr",
            str(tmp_path / "xr"),
            str(tmp_path / "out"),
            "--task",
            "wave",
            "--codec",
            "h264",
            "--image-size",
            "32x48",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "converted 1 episodes (6 frames)" in result.stdout
    ds = LeRobotDataset(tmp_path / "out")
    assert ds.frames(0).shape == (6, 32, 48, 3) and ds.episode_task(0) == "wave"
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "dit4dit_policy.cli",
            "dataset",
            "convert-xr",
            str(tmp_path / "nothing"),
            str(tmp_path / "out2"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "no xr_teleoperate episode" in bad.stderr
