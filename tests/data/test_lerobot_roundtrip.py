"""LeRobot v3.0 writer → reader round trip, resume, crash safety and LeRobot-compatible layout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow.parquet as pq
import pytest

from dit4dit_policy import schema
from dit4dit_policy.data.lerobot_dataset import LeRobotDataset, LeRobotDatasetWriter, g1_features
from dit4dit_policy.data.synthetic import render
from dit4dit_policy.errors import DatasetError

H, W = 48, 64


def _frame(rng, i, extra=True):
    state = rng.standard_normal(16).astype(np.float32)
    frame = {
        schema.FEATURE_IMAGE_EGO: render(state, (H, W, 3)),
        schema.FEATURE_STATE: state,
        schema.FEATURE_ACTION: rng.standard_normal(16).astype(np.float32),
        schema.FEATURE_TIMESTAMP: i / 30.0,
    }
    if extra:
        frame["eval.chunk_latency_ms"] = np.float32(rng.uniform(5, 50))
        frame["eval.chunk_id"] = np.int64(i // 4)
    return frame


EXTRA = {
    "eval.chunk_latency_ms": {"dtype": "float32", "shape": (1,), "names": None},
    "eval.chunk_id": {"dtype": "int64", "shape": (1,), "names": None},
}


@pytest.mark.parametrize("codec", ["av1", "h264"])
def test_round_trip_exact_columns_and_video(tmp_path, codec):
    rng = np.random.default_rng(1)
    written = []
    features = g1_features(image_shape=(H, W, 3), video_codec=codec, extra=EXTRA)
    with LeRobotDatasetWriter.create(tmp_path / "ds", fps=30, features=features, embodiment="g1_16dof") as w:
        for episode, length in enumerate((12, 17)):
            frames = [_frame(rng, i) for i in range(length)]
            for f in frames:
                w.add_frame(f)
            assert w.save_episode(task=f"task {episode}") == episode
            written.append(frames)
    ds = LeRobotDataset(tmp_path / "ds")
    assert (ds.num_episodes, ds.num_frames, ds.fps, ds.version) == (2, 29, 30, "v3.0")
    assert ds.tasks == ["task 0", "task 1"] and ds.robot_type == schema.ROBOT_TYPE
    assert ds.features[schema.FEATURE_IMAGE_EGO]["info"]["video.codec"] == codec
    for episode, frames in enumerate(written):
        ep = ds.episode(episode)
        assert ep.task == f"task {episode}" and ep.length == len(frames)
        for key in (schema.FEATURE_STATE, schema.FEATURE_ACTION, "eval.chunk_latency_ms", "eval.chunk_id"):
            expected = np.stack([np.asarray(f[key]) for f in frames])
            assert ep.data[key].dtype == expected.dtype
            np.testing.assert_array_equal(ep.data[key], expected)  # bit-exact
        np.testing.assert_array_equal(
            ep.data[schema.FEATURE_TIMESTAMP], np.array([f["timestamp"] for f in frames], dtype=np.float32)
        )
        np.testing.assert_array_equal(ep.data[schema.FEATURE_FRAME_INDEX], np.arange(len(frames)))
        np.testing.assert_array_equal(ep.data[schema.FEATURE_EPISODE_INDEX], episode)
        start = 0 if episode == 0 else len(written[0])
        np.testing.assert_array_equal(ep.data[schema.FEATURE_INDEX], start + np.arange(len(frames)))
        np.testing.assert_array_equal(ep.data[schema.FEATURE_TASK_INDEX], episode)
        video = ep.frames()
        images = np.stack([f[schema.FEATURE_IMAGE_EGO] for f in frames]).astype(np.float64)
        assert video.shape == images.shape and video.dtype == np.uint8
        mse = np.mean((video - images) ** 2, axis=(1, 2, 3))
        psnr = 10 * np.log10(255.0**2 / np.maximum(mse, 1e-9))
        assert psnr.min() > 24.0, psnr  # lossy codec tolerance: every frame, in order


def test_timestamps_drive_video_times_and_jitter_is_kept(tmp_path):
    rng = np.random.default_rng(2)
    features = g1_features(image_shape=(H, W, 3))
    times = np.cumsum(np.r_[0.0, rng.uniform(0.030, 0.037, size=9)])
    with LeRobotDatasetWriter.create(tmp_path / "ds", features=features) as w:
        for i, t in enumerate(times):
            frame = _frame(rng, i, extra=False)
            frame["timestamp"] = float(t)
            w.add_frame(frame)
        w.save_episode("jitter")
    ds = LeRobotDataset(tmp_path / "ds")
    np.testing.assert_array_equal(ds.episode_data(0)["timestamp"], times.astype(np.float32))
    from dit4dit_policy.data.video_io import decode_frames

    path, start, end = ds.video_segment(0, schema.FEATURE_IMAGE_EGO)
    _, video_times = decode_frames(path, start, end)
    np.testing.assert_allclose(video_times, times, atol=1e-5)


def test_lerobot_v30_layout(g1_dataset):
    info = json.loads((g1_dataset / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0"
    for key in (
        "robot_type",
        "total_episodes",
        "total_frames",
        "total_tasks",
        "chunks_size",
        "fps",
        "splits",
        "data_path",
        "video_path",
        "features",
        "data_files_size_in_mb",
        "video_files_size_in_mb",
    ):
        assert key in info, key
    assert info["total_episodes"] == 4 and info["splits"] == {"train": "0:4"}
    assert info["features"]["observation.state"]["shape"] == [16]
    assert info["features"]["observation.state"]["names"] == list(schema.JOINT_NAMES)
    for key in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        assert info["features"][key]["shape"] == [1]
    data = pq.read_table(g1_dataset / "data/chunk-000/file-000.parquet")
    assert set(data.column_names) == {
        "observation.state",
        "action",
        "timestamp",
        "frame_index",
        "episode_index",
        "index",
        "task_index",
    }
    assert data.schema.field("observation.state").type.list_size == 16
    assert str(data.schema.field("timestamp").type) == "float"
    episodes = pq.read_table(g1_dataset / "meta/episodes/chunk-000/file-001.parquet").to_pylist()[0]
    for key in (
        "episode_index",
        "tasks",
        "length",
        "data/chunk_index",
        "data/file_index",
        "dataset_from_index",
        "dataset_to_index",
        "meta/episodes/chunk_index",
        "meta/episodes/file_index",
        "videos/observation.images.ego_view/chunk_index",
        "videos/observation.images.ego_view/file_index",
        "videos/observation.images.ego_view/from_timestamp",
        "videos/observation.images.ego_view/to_timestamp",
        "stats/action/min",
        "stats/action/q99",
        "stats/observation.images.ego_view/mean",
    ):
        assert key in episodes, key
    assert episodes["episode_index"] == 1 and episodes["dataset_from_index"] > 0
    assert np.asarray(episodes["stats/observation.images.ego_view/mean"]).shape == (3, 1, 1)
    tasks = pq.read_table(g1_dataset / "meta/tasks.parquet")
    assert tasks.column_names == ["task_index", "task"]
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]
    stats = json.loads((g1_dataset / "meta/stats.json").read_text())
    assert set(stats["action"]) == {"min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"}
    assert np.asarray(stats["observation.images.ego_view"]["std"]).shape == (3, 1, 1)
    modality = json.loads((g1_dataset / "meta/modality.json").read_text())
    assert modality["state"]["right_arm"] == {"start": 7, "end": 14, "original_key": "observation.state"}


def test_stats_match_numpy(g1_dataset):
    ds = LeRobotDataset(g1_dataset)
    stats = ds.stats
    for key in (schema.FEATURE_STATE, schema.FEATURE_ACTION):
        values = np.concatenate([ds.episode_data(i)[key] for i in range(ds.num_episodes)]).astype(np.float64)
        entry = {k: np.asarray(v) for k, v in stats[key].items()}
        np.testing.assert_allclose(entry["min"], values.min(0), rtol=0, atol=0)
        np.testing.assert_allclose(entry["max"], values.max(0), rtol=0, atol=0)
        np.testing.assert_allclose(entry["mean"], values.mean(0), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(entry["std"], values.std(0), rtol=1e-9, atol=1e-12)
        assert entry["count"].tolist() == [len(values)]
        span = values.max(0) - values.min(0)
        for name, q in (("q01", 0.01), ("q50", 0.5), ("q99", 0.99)):
            # Histogram quantiles: within a few bins of numpy's (bins = span / 4096); sample
            # quantile conventions differ by up to one sample spacing on 100 frames.
            spacing = np.sort(values, axis=0)
            gap = np.max(np.diff(spacing, axis=0), axis=0)
            np.testing.assert_array_less(
                np.abs(entry[name] - np.quantile(values, q, axis=0)), span / 500 + gap
            )
    # Per-episode stats are exact.
    row = ds.episode_row(2)
    values = ds.episode_data(2)[schema.FEATURE_ACTION].astype(np.float64)
    np.testing.assert_allclose(row["stats/action/q99"], np.quantile(values, 0.99, axis=0), rtol=1e-12)
    assert row["stats/action/count"] == [len(values)]


def test_resume_appends_and_discard(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "ds"
    with LeRobotDatasetWriter.create(root, features=g1_features(image_shape=(H, W, 3))) as w:
        for i in range(5):
            w.add_frame(_frame(rng, i, extra=False))
        w.save_episode("a")
    with LeRobotDatasetWriter.open(root) as w:
        assert (w.num_episodes, w.num_frames, w.tasks) == (1, 5, ["a"])
        for i in range(3):
            w.add_frame(_frame(rng, i, extra=False))
        w.discard_episode()
        assert w.episode_num_frames == 0
        for i in range(7):
            w.add_frame(_frame(rng, i, extra=False))
        assert w.save_episode("b") == 1
        for i in range(4):
            w.add_frame(_frame(rng, i, extra=False))
        assert w.save_episode("a") == 2
    ds = LeRobotDataset(root)
    assert ds.episode_lengths.tolist() == [5, 7, 4] and ds.tasks == ["a", "b"]
    assert ds.episode_data(2)["task_index"].tolist() == [0] * 4
    assert ds.episode_data(2)["index"].tolist() == [12, 13, 14, 15]
    assert ds.stats["action"]["count"] == [16]
    assert not (root / ".recording").exists()


_CRASH_SCRIPT = """
import sys, time, numpy as np
from dit4dit_policy.data.lerobot_dataset import LeRobotDatasetWriter, g1_features
rng = np.random.default_rng(0)
w = LeRobotDatasetWriter.create(sys.argv[1], features=g1_features(image_shape=(48, 64, 3)))
def frame(i):
    return {"observation.images.ego_view": rng.integers(0, 255, (48, 64, 3), dtype=np.uint8),
            "observation.state": rng.standard_normal(16).astype(np.float32),
            "action": rng.standard_normal(16).astype(np.float32), "timestamp": i / 30}
for episode in range(2):
    for i in range(10):
        w.add_frame(frame(i))
    w.save_episode("task")
for i in range(25):
    w.add_frame(frame(i))
print("recording", flush=True)
time.sleep(120)
"""


def test_kill_9_mid_episode_keeps_finished_episodes(tmp_path):
    root = tmp_path / "ds"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CRASH_SCRIPT), str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "recording"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert (root / ".recording").exists()  # the unfinished episode's partial video
    ds = LeRobotDataset(root)
    assert ds.num_episodes == 2 and ds.num_frames == 20
    assert ds.frames(1).shape == (10, 48, 64, 3)
    with LeRobotDatasetWriter.open(root) as w:  # repairs, then appends
        assert not (root / ".recording").exists()
        w.add_frame(_frame(np.random.default_rng(0), 0, extra=False))
        assert w.save_episode("after crash") == 2
    assert LeRobotDataset(root).episode_lengths.tolist() == [10, 10, 1]


def test_crash_between_commit_and_summary_is_repaired(tmp_path):
    rng = np.random.default_rng(4)
    root = tmp_path / "ds"
    with LeRobotDatasetWriter.create(root, features=g1_features(image_shape=(H, W, 3))) as w:
        for _episode in range(2):
            for i in range(6):
                w.add_frame(_frame(rng, i, extra=False))
            w.save_episode("t")
    # Simulate a crash after episode 1 was committed but before info/stats were rewritten, with an
    # orphaned video of a third, never-committed episode.
    info = json.loads((root / "meta/info.json").read_text())
    info.update(total_episodes=1, total_frames=6)
    (root / "meta/info.json").write_text(json.dumps(info))
    (root / "meta/.stats_state.npz").unlink()
    orphan = root / "videos/observation.images.ego_view/chunk-000/file-002.mp4"
    orphan.write_bytes(b"partial")
    assert LeRobotDataset(root).num_episodes == 2  # committed rows are the truth
    with LeRobotDatasetWriter.open(root) as w:
        assert (w.num_episodes, w.num_frames) == (2, 12)
    assert not orphan.exists()
    info = json.loads((root / "meta/info.json").read_text())
    assert (info["total_episodes"], info["total_frames"]) == (2, 12)
    assert json.loads((root / "meta/stats.json").read_text())["action"]["count"] == [12]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"observation.state": np.zeros(15, np.float32)},
            "episode 0, frame 2: feature 'observation.state' must have shape (16,)",
        ),
        (
            {"action": np.r_[np.zeros(15), np.nan].astype(np.float32)},
            "episode 0, frame 2: feature 'action' has non-finite values at dims [15]",
        ),
        (
            {"observation.images.ego_view": np.zeros((H, W, 3), np.float32)},
            "frame 2: feature 'observation.images.ego_view' must be (48, 64, 3) uint8",
        ),
        ({"observation.images.ego_view": np.zeros((3, H, W), np.uint8)}, "must be (48, 64, 3) uint8 RGB"),
        ({"bogus": 1.0}, "episode 0, frame 2: unknown feature(s) ['bogus']"),
        ({"index": 5}, "(set by the writer)"),
        ({"timestamp": 0.01}, "episode 0, frame 2: 'timestamp' must increase"),
        ({"timestamp": float("inf")}, "'timestamp' must be finite"),
        ({"action": np.array(["a"] * 16)}, "feature 'action' must be numeric"),
    ],
)
def test_bad_frames_name_feature_episode_and_frame(tmp_path, change, message):
    rng = np.random.default_rng(5)
    with LeRobotDatasetWriter.create(tmp_path / "ds", features=g1_features(image_shape=(H, W, 3))) as w:
        w.add_frame(_frame(rng, 0, extra=False))
        w.add_frame(_frame(rng, 1, extra=False))
        frame = {**_frame(rng, 2, extra=False), **change}
        with pytest.raises(DatasetError) as excinfo:
            w.add_frame(frame)
        assert message in str(excinfo.value)
        assert w.episode_num_frames == 2  # the bad frame was not added
        missing = _frame(rng, 2, extra=False)
        del missing["action"]
        with pytest.raises(DatasetError, match=r"frame 2: missing feature\(s\) \['action'\]"):
            w.add_frame(missing)
        w.add_frame(_frame(rng, 2, extra=False))
        w.save_episode("ok")
        with pytest.raises(DatasetError, match="episode 1: add frames"):
            w.save_episode("empty")
        w.add_frame(_frame(rng, 0, extra=False))
        with pytest.raises(DatasetError, match="episode 1: task must be a non-empty"):
            w.save_episode("  ")


def test_create_refuses_existing_dataset_and_bad_features(tmp_path):
    root = tmp_path / "ds"
    LeRobotDatasetWriter.create(root, features=g1_features(image_shape=(H, W, 3))).close()
    with pytest.raises(DatasetError, match="already exists"):
        LeRobotDatasetWriter.create(root)
    with pytest.raises(ValueError, match="even"):
        g1_features(image_shape=(47, 64, 3))
    with pytest.raises(ValueError, match="codec"):
        g1_features(video_codec="vp9")
    with pytest.raises(ValueError, match="clashes"):
        g1_features(extra={"action": {"dtype": "float32", "shape": (16,)}})
    with pytest.raises(ValueError, match="1-D shape"):
        g1_features(extra={"x": {"dtype": "float32", "shape": (2, 2)}})


def test_failed_save_discards_the_episode_only(tmp_path, monkeypatch):
    from dit4dit_policy.data import lerobot_tables

    rng = np.random.default_rng(6)
    root = tmp_path / "ds"
    with LeRobotDatasetWriter.create(root, features=g1_features(image_shape=(H, W, 3))) as w:
        for i in range(4):
            w.add_frame(_frame(rng, i, extra=False))
        w.save_episode("kept")
        for i in range(5):
            w.add_frame(_frame(rng, i, extra=False))
        real = lerobot_tables.frames_table

        def disk_full(*args, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(lerobot_tables, "frames_table", disk_full)
        with pytest.raises(OSError, match="No space left"):
            w.save_episode("lost")
        monkeypatch.setattr(lerobot_tables, "frames_table", real)
        assert w.episode_num_frames == 0 and w.num_episodes == 1
        for i in range(3):
            w.add_frame(_frame(rng, i, extra=False))
        assert w.save_episode("next") == 1  # the slot of the failed episode is reused
    ds = LeRobotDataset(root)
    assert ds.episode_lengths.tolist() == [4, 3] and ds.frames(1).shape[0] == 3
    assert ds.episode_task(1) == "next"
