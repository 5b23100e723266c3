"""Offline open-loop evaluation with a tiny checkpoint on a synthetic G1 dataset."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from dit4dit_policy.cli import main as cli_main
from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
from dit4dit_policy.errors import DatasetError

pytestmark = pytest.mark.slow

EGO = "observation.images.ego_view"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from dit4dit_policy.data import samples
    from dit4dit_policy.data.episode_store import EpisodeStore
    from dit4dit_policy.data.synthetic import write_synthetic_dataset
    from dit4dit_policy.model.build import build_policy
    from dit4dit_policy.model.checkpoint import load_policy, save_checkpoint
    from dit4dit_policy.model.config import load_model_config

    root = tmp_path_factory.mktemp("offline")
    dataset = write_synthetic_dataset(
        root / "data",
        num_episodes=2,
        episode_length=(20, 27),
        video_codec="h264",
        image_shape=(48, 64, 3),
        seed=3,
    )
    stats = samples.norm_stats(EpisodeStore([dataset], "g1_16dof"))
    config = load_model_config("tiny", overrides=["--image_size=[64,64]"])
    save_checkpoint(build_policy(config, stats, seed=0).eval(), root / "ckpt")
    return root, dataset, load_policy(root / "ckpt")


def test_errors_match_an_independent_computation(setup):
    from dit4dit_policy.evaluation.offline import evaluate_offline

    _, path, policy = setup
    ds = LeRobotDataset(path)
    stride, horizon = 10, policy.config.horizon
    result = evaluate_offline(policy, ds, stride=stride, batch_size=1, seed=5)
    # Recompute: chunk c (in order) used seed 5 + c; score only t + k < L.
    sq, n, call = np.zeros(16), 0, 0
    per_step = [[] for _ in range(horizon)]
    for e in range(ds.num_episodes):
        ep = ds.episode(e)
        frames = ep.frames()
        state, action = ep.data["observation.state"], ep.data["action"]
        trace = result.episodes[e]
        for t in range(0, ep.length, stride):
            obs = {"images": {EGO: frames[t : t + 1]}, "state": state[t : t + 1], "task": [ep.task]}
            pred = policy.predict_action_chunk(obs, seed=5 + call)[0]
            call += 1
            k = min(horizon, ep.length - t)
            diff = pred[:k] - action[t : t + k]
            sq += (diff**2).sum(axis=0)
            n += k
            for step in range(k):
                per_step[step].append(np.mean(diff[step] ** 2))
            np.testing.assert_allclose(
                trace.predicted[t : t + min(stride, k)], pred[: min(stride, k)], rtol=1e-5
            )
    assert result.chunks == call
    np.testing.assert_allclose(result.per_joint_mse, sq / n, rtol=1e-5)
    np.testing.assert_allclose(result.per_step_mse, [np.mean(x) for x in per_step], rtol=1e-5)
    assert result.per_step_count.tolist() == [len(x) for x in per_step]
    # Steps past the end are not scored: with lengths 20-27 and stride 10 the last chunk is short.
    assert result.per_step_count[-1] < result.per_step_count[0]


def test_cli_writes_the_report(setup, tmp_path):
    root, path, _ = setup
    out = tmp_path / "report"
    code = cli_main.main(
        [
            "eval",
            "offline",
            "--checkpoint",
            str(root / "ckpt"),
            "--dataset",
            str(path),
            "--out",
            str(out),
            "--max-episodes",
            "1",
            "--traces",
            "1",
        ]
    )
    assert code == 0
    metrics = json.loads((out / "offline_metrics.json").read_text())
    assert len(metrics["per_joint"]) == 16 and metrics["per_episode"][0]["episode"] == 0
    assert metrics["mse"] == pytest.approx(np.mean([j["mse"] for j in metrics["per_joint"]]))
    md = (out / "offline_report.md").read_text()
    assert f"| all | {metrics['mse']:.3g} |" in md
    ET.fromstring((out / "offline_report.html").read_text().split("\n", 1)[1])
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert pngs == ["offline_joint_rmse.png", "offline_step_rmse.png", "offline_traces_000000.png"]
    assert all((out / "plots" / p).stat().st_size > 5000 for p in pngs)


def test_bad_inputs(setup, tmp_path, capsys):
    from dit4dit_policy.evaluation.offline import evaluate_offline

    root, path, policy = setup
    ds = LeRobotDataset(path)
    with pytest.raises(DatasetError, match=r"episodes \[7\] do not exist"):
        evaluate_offline(policy, ds, episodes=[7])
    with pytest.raises(ValueError, match="stride"):
        evaluate_offline(policy, ds, stride=0)
    ds.video_keys = []  # a dataset recorded without the policy's camera
    with pytest.raises(DatasetError, match="lacks the camera view"):
        evaluate_offline(policy, ds)
    code = cli_main.main(
        [
            "eval",
            "offline",
            "--checkpoint",
            str(root / "ckpt"),
            "--dataset",
            str(path),
            "--out",
            str(tmp_path / "o"),
            "--episodes",
            "0,x",
        ]
    )
    assert code == 1 and "--episodes must be comma-separated integers" in capsys.readouterr().err


def test_checkpoint_policy_in_the_simulation_is_seeded(setup, tmp_path):
    from dit4dit_policy.evaluation.identity import checkpoint_id
    from dit4dit_policy.evaluation.results import read_results

    root, _, _ = setup
    config = tmp_path / "eval.yaml"
    config.write_text(
        "protocol:\n  rollouts_per_task: 1\n  tasks:\n    - {name: close_drawer, time_limit_s: 0.3}\n"
    )
    actions = []
    for run in ("a", "b"):
        out = tmp_path / run
        code = cli_main.main(
            [
                "eval",
                "sim",
                "--config",
                str(config),
                "--policy",
                str(root / "ckpt"),
                "--out",
                str(out),
                "--no-report",
                "--sim.execute_steps=8",
            ]
        )
        assert code == 0
        results = read_results(out)
        record = results.records[0]
        assert results.fingerprint.checkpoint_id == checkpoint_id(root / "ckpt")
        assert results.header["extra"]["policy_seed"] == 0 and results.header["extra"]["execute_steps"] == 8
        assert record.judged_by == "predicate"
        assert len(record.chunk_latencies_ms) == 2  # 0.3 s = 9 steps at 30 Hz, 8 steps per chunk
        ep = LeRobotDataset(out / "recordings").episode(record.episode_index)
        assert ep.length == 9 and ep.data["eval.chunk_id"].tolist() == [i // 8 for i in range(9)]
        actions.append(ep.data["action"])
    np.testing.assert_array_equal(actions[0], actions[1])  # same seed, same chunks
    assert np.abs(np.diff(actions[0], axis=0)).max() > 0  # the policy's targets, not a held pose
