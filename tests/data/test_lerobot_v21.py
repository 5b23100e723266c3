"""Reading a LeRobot v2.1 dataset (per-episode files, jsonl metadata), generated here as a fixture."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dit4dit_policy import schema
from dit4dit_policy.data.lerobot_dataset import LeRobotDataset, LeRobotDatasetWriter
from dit4dit_policy.data.synthetic import render
from dit4dit_policy.data.video_io import VideoStreamWriter
from dit4dit_policy.errors import DatasetError

H, W = 32, 48
CAM = "observation.images.cam_left_high"  # unitree_IL_lerobot's head camera name (g1_spec §6.3)


def write_v21(root, lengths=(9, 14), chunks_size=1):
    """A v2.1 dataset exactly as LeRobot 0.2/0.3 lays it out, with variable-size list columns."""
    rng = np.random.default_rng(0)
    tasks = ["Pick up the red cup on the table.", "stack the cups"]
    info = {
        "codebase_version": "v2.1",
        "robot_type": "Unitree_G1_Dex1",
        "total_episodes": len(lengths),
        "total_frames": int(sum(lengths)),
        "total_tasks": 2,
        "total_videos": len(lengths),
        "total_chunks": len(lengths),
        "chunks_size": chunks_size,
        "fps": 30,
        "splits": {"train": "0:2"},
        "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
        "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
        "features": {
            CAM: {
                "dtype": "video",
                "shape": [H, W, 3],
                "names": ["height", "width", "channel"],
                "info": {"video.fps": 30.0, "video.codec": "h264"},
            },
            "observation.state": {
                "dtype": "float32",
                "shape": [16],
                "names": list(schema.UNITREE_MOTOR_NAMES),
            },
            "action": {"dtype": "float32", "shape": [16], "names": list(schema.UNITREE_MOTOR_NAMES)},
            "timestamp": {"dtype": "float32", "shape": [1], "names": None},
            "frame_index": {"dtype": "int64", "shape": [1], "names": None},
            "episode_index": {"dtype": "int64", "shape": [1], "names": None},
            "index": {"dtype": "int64", "shape": [1], "names": None},
            "task_index": {"dtype": "int64", "shape": [1], "names": None},
        },
    }
    (root / "meta").mkdir(parents=True)
    (root / "meta/info.json").write_text(json.dumps(info))
    (root / "meta/tasks.jsonl").write_text(
        "\n".join(json.dumps({"task_index": i, "task": t}) for i, t in enumerate(tasks))
    )
    episodes, written, start = [], [], 0
    for episode, length in enumerate(lengths):
        chunk = episode // chunks_size
        state = rng.standard_normal((length, 16)).astype(np.float32)
        action = rng.standard_normal((length, 16)).astype(np.float32)
        table = pa.table(
            {
                "observation.state": pa.array(list(state), type=pa.list_(pa.float32())),
                "action": pa.array(list(action), type=pa.list_(pa.float32())),
                "timestamp": pa.array(np.arange(length, dtype=np.float32) / 30),
                "frame_index": pa.array(np.arange(length, dtype=np.int64)),
                "episode_index": pa.array(np.full(length, episode, dtype=np.int64)),
                "index": pa.array(start + np.arange(length, dtype=np.int64)),
                "task_index": pa.array(np.full(length, episode % 2, dtype=np.int64)),
            }
        )
        path = root / f"data/chunk-{chunk:03d}/episode_{episode:06d}.parquet"
        path.parent.mkdir(parents=True)
        pq.write_table(table, path)
        video = root / f"videos/chunk-{chunk:03d}/{CAM}/episode_{episode:06d}.mp4"
        video.parent.mkdir(parents=True)
        encoder = VideoStreamWriter(video, H, W, 30, codec="h264", threaded=False)
        for i in range(length):
            encoder.write(render(state[i], (H, W, 3)), i / 30)
        encoder.close()
        episodes.append({"episode_index": episode, "tasks": [tasks[episode % 2]], "length": length})
        written.append((state, action))
        start += length
    (root / "meta/episodes.jsonl").write_text("\n".join(json.dumps(e) for e in episodes) + "\n")
    return written


def test_v21_reads(tmp_path):
    root = tmp_path / "v21"
    written = write_v21(root)
    ds = LeRobotDataset(root)
    assert ds.version == "v2.1" and ds.num_episodes == 2 and ds.num_frames == 23
    assert ds.tasks[0] == "Pick up the red cup on the table." and ds.video_keys == [CAM]
    assert ds.stats is None
    for episode, (state, action) in enumerate(written):
        ep = ds.episode(episode)
        assert ep.task == ds.tasks[episode % 2]
        np.testing.assert_array_equal(ep.data["observation.state"], state)
        np.testing.assert_array_equal(ep.data["action"], action)
        frames = ep.frames(CAM)
        assert frames.shape == (len(state), H, W, 3)
        expected = np.stack([render(s, (H, W, 3)) for s in state]).astype(float)
        assert np.abs(frames - expected).mean() < 8


def test_v21_cannot_be_appended_and_bad_metadata(tmp_path):
    root = tmp_path / "v21"
    write_v21(root)
    with pytest.raises(DatasetError, match=r"can only append to v3\.0"):
        LeRobotDatasetWriter.open(root)
    (root / "meta/episodes.jsonl").write_text('{"episode_index": 0, "tasks": ["x"], "length": 9}\n{oops\n')
    with pytest.raises(DatasetError, match="line 2 is not valid JSON"):
        LeRobotDataset(root)
    info = json.loads((root / "meta/info.json").read_text())
    info["codebase_version"] = "v1.6"
    (root / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=r"v1\.6"):
        LeRobotDataset(root)
