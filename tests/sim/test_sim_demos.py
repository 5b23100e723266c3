"""``dit4dit demos``: a LeRobot v3 dataset the data module's reader opens; append; clear errors."""

import json

import numpy as np
import pytest

from dit4dit_policy import schema
from dit4dit_policy.cli.main import main
from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
from dit4dit_policy.sim.env import READY_STATE


@pytest.mark.slow
def test_demos_cli_writes_a_readable_dataset_and_appends(tmp_path, capsys):
    out = tmp_path / "drawer"
    args = [
        "demos",
        "--task",
        "close_drawer",
        "--episodes",
        "2",
        "--out",
        str(out),
        "--seed",
        "5",
        "--width",
        "64",
        "--height",
        "48",
    ]
    assert main(args) == 0
    assert "wrote 2 episodes" in capsys.readouterr().out
    ds = LeRobotDataset(out)
    assert ds.num_episodes == 2 and ds.fps == 30
    assert ds.robot_type == schema.ROBOT_TYPE
    assert ds.tasks == ["push the drawer closed"]
    assert ds.features[schema.FEATURE_IMAGE_EGO]["shape"] == (48, 64, 3)
    episode = ds.episode(1)
    length = episode.length
    assert episode.data[schema.FEATURE_STATE].shape == (length, 16)
    assert episode.data[schema.FEATURE_ACTION].shape == (length, 16)
    assert episode.data[schema.FEATURE_TIMESTAMP] == pytest.approx(np.arange(length) / 30.0, abs=1e-4)
    frames = episode.frames()
    assert frames.shape == (length, 48, 64, 3) and frames.dtype == np.uint8
    # The recorded state starts at the ready pose and the gripper action closes the right gripper.
    assert episode.data[schema.FEATURE_STATE][0] == pytest.approx(READY_STATE, abs=0.02)
    assert episode.data[schema.FEATURE_ACTION][:, 15].min() == pytest.approx(0.0, abs=1e-6)
    meta = json.loads((out / "meta" / "sim_demos.json").read_text())
    assert [e["seed"] for e in meta["episodes"]] == [5, 6]
    assert (out / "meta" / "modality.json").is_file()

    # Append continues after the stored seeds; a plain re-run refuses to overwrite.
    assert main([*args[:4], "1", *args[5:], "--append"]) == 0
    assert LeRobotDataset(out).num_episodes == 3
    assert [e["seed"] for e in json.loads((out / "meta" / "sim_demos.json").read_text())["episodes"]] == [
        5,
        6,
        7,
    ]
    assert main(args) == 1
    assert "not empty" in capsys.readouterr().err


def test_demos_cli_rejects_bad_input(tmp_path, capsys):
    assert main(["demos", "--task", "cook", "--episodes", "1", "--out", str(tmp_path / "x")]) == 1
    assert "--task must be one of" in capsys.readouterr().err
    assert main(["demos", "--task", "close_drawer", "--episodes", "0", "--out", str(tmp_path / "y")]) == 1
    assert not (tmp_path / "y").exists()
    bad = ["demos", "--task", "close_drawer", "--episodes", "1", "--out", str(tmp_path / "z"), "--width", "8"]
    assert main(bad) == 1
    assert "--width must be in [16, 1280]" in capsys.readouterr().err
