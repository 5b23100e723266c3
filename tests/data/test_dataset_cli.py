"""``dit4dit dataset info|validate|stats`` on good and broken datasets."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dit4dit_policy.cli import main as cli
from dit4dit_policy.data.lerobot_dataset import LeRobotDataset


def _copy(src, tmp_path):
    dst = tmp_path / "ds"
    shutil.copytree(src, dst)
    return dst


def test_info_json(g1_dataset, capsys):
    assert cli.main(["dataset", "info", str(g1_dataset), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["codebase_version"] == "v3.0" and info["episodes"] == 4 and info["embodiment"] == "g1_16dof"
    assert info["features"]["observation.images.ego_view"] == {
        "dtype": "video",
        "shape": [64, 64, 3],
        "codec": "av1",
    }
    assert cli.main(["dataset", "info", str(g1_dataset)]) == 0
    assert "observation.state" in capsys.readouterr().out


def test_validate_good_and_broken(g1_dataset, tmp_path, capsys):
    assert (
        cli.main(["dataset", "validate", str(g1_dataset), "--embodiment", "g1_16dof", "--min-length", "16"])
        == 0
    )
    assert "0 errors" in capsys.readouterr().out
    broken = _copy(g1_dataset, tmp_path)
    # NaN action in episode 1, frame 4; a truncated video in episode 2; a bad frame_index in episode 3.
    path = broken / "data/chunk-000/file-001.parquet"
    table = pq.read_table(path)
    values = table.column("action").combine_chunks().flatten().to_numpy().copy()
    values[4 * 16 + 15] = np.nan
    column = pa.FixedSizeListArray.from_arrays(pa.array(values, pa.float32()), 16)
    pq.write_table(table.set_column(table.column_names.index("action"), "action", column), path)
    video = broken / "videos/observation.images.ego_view/chunk-000/file-002.mp4"
    video.write_bytes(video.read_bytes()[: len(video.read_bytes()) // 3])
    path = broken / "data/chunk-000/file-003.parquet"
    table = pq.read_table(path)
    frames = table.column("frame_index").to_numpy().copy()
    frames[7] = 99
    pq.write_table(
        table.set_column(table.column_names.index("frame_index"), "frame_index", pa.array(frames)), path
    )
    shortest = int(LeRobotDataset(g1_dataset).episode_lengths.min())
    args = [
        "dataset",
        "validate",
        str(broken),
        "--embodiment",
        "gr1_29dof",
        "--min-length",
        str(shortest + 1),
    ]
    assert cli.main(args) == 1
    captured = capsys.readouterr()
    out = captured.out
    assert "episode 1, frame 4: 'action' has non-finite values at dims [15]" in out
    assert "episode 2, video 'observation.images.ego_view'" in out
    assert "episode 3, frame 7: frame_index is not 0.." in out
    assert "timestamp" not in out  # rows are read in stored order; only the bad index is reported
    assert "embodiment 'gr1_29dof'" in out and f"shorter than the required {shortest + 1}" in out, out
    assert "errors (listed above)" in captured.err


def test_stats_recompute_matches_writer(g1_dataset, tmp_path, capsys):
    copy = _copy(g1_dataset, tmp_path)
    written = json.loads((copy / "meta/stats.json").read_text())
    (copy / "meta/stats.json").unlink()
    assert cli.main(["dataset", "stats", str(copy), "--write"]) == 0
    assert "left_shoulder_pitch_joint" in capsys.readouterr().out
    recomputed = json.loads((copy / "meta/stats.json").read_text())
    assert set(recomputed) == set(written)
    for key in written:
        # Numeric features: identical. Images: the writer saw the raw frames, the recompute decodes
        # the lossy video, so only the per-channel mean/std agree closely.
        visual = key.startswith("observation.images")
        for name in ("mean", "std") if visual else written[key]:
            atol = 0.02 if visual else 1e-12
            np.testing.assert_allclose(recomputed[key][name], written[key][name], rtol=1e-12, atol=atol)
