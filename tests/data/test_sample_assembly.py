"""Sample assembly at episode boundaries, the model-space batch, the frame cache and bad data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dit4dit_policy.data import transforms
from dit4dit_policy.data.episode_store import EpisodeStore
from dit4dit_policy.data.frame_cache import build_frame_cache
from dit4dit_policy.data.lerobot_dataset import LeRobotDataset, LeRobotDatasetWriter
from dit4dit_policy.data.samples import ClipDataset, ModelBatchCollator, SampleSpec, norm_stats
from dit4dit_policy.data.synthetic import embodiment_features, write_synthetic_dataset
from dit4dit_policy.errors import DatasetError
from dit4dit_policy.model.config import preset_config

G1_SPEC = SampleSpec.from_model_config(preset_config("tiny"))  # 96×96, offsets 0..16 step 2, horizon 16


@pytest.fixture(scope="module")
def setup(g1_dataset, tmp_path_factory):
    store = EpisodeStore([g1_dataset], "g1_16dof", min_length=G1_SPEC.horizon)
    cache = build_frame_cache(
        store,
        G1_SPEC.embodiment.video_keys,
        tmp_path_factory.mktemp("cache"),
        G1_SPEC.image_size,
        resolution="native",
    )
    return store, cache, LeRobotDataset(g1_dataset)


def test_clip_frames_chunk_and_masks_at_boundaries(setup):
    store, cache, ds = setup
    samples = ClipDataset(store, cache, [1, 3], G1_SPEC)
    assert len(samples) == store.lengths[1] + store.lengths[3]
    collate = ModelBatchCollator(G1_SPEC, norm_stats(store))
    length = int(store.lengths[3])
    frames = ds.frames(3)
    raw = ds.episode_data(3)
    for t in (0, 3, length - 9, length - 1):  # start, middle, near the end, last frame
        index = int(store.lengths[1]) + t
        sample = samples[index]
        assert (sample["episode"], sample["frame"]) == (3, t)
        ids = np.minimum(t + np.arange(0, 17, 2), length - 1)
        np.testing.assert_array_equal(sample["video"][0].numpy(), frames[ids])  # clamped to the last frame
        np.testing.assert_array_equal(sample["state"].numpy(), raw["observation.state"][t])
        steps = t + np.arange(16)
        np.testing.assert_array_equal(sample["action"].numpy(), raw["action"][np.minimum(steps, length - 1)])
        np.testing.assert_array_equal(sample["valid"].numpy(), steps < length)
        batch = collate([sample])
        mask = batch["action_mask"][0]
        assert mask[:, :16].all(dim=1).tolist() == (steps < length).tolist()
        assert not mask[:, 16:].any()  # padded dims
        assert int(mask.sum()) == 16 * int(np.sum(steps < length))
    last = collate([samples[len(samples) - 1]])
    assert last["action_mask"][0, :, 0].tolist() == [True] + [False] * 15


def test_model_space_batch(setup):
    store, cache, ds = setup
    stats = norm_stats(store)
    samples = ClipDataset(store, cache, range(store.num_episodes), G1_SPEC)
    batch = ModelBatchCollator(G1_SPEC, stats)([samples[i] for i in (0, 7, 40)])
    assert batch["video"].shape == (3, 9, 3, 96, 96) and batch["video"].dtype == torch.float32
    assert batch["video"].min() >= -1 and batch["video"].max() <= 1
    assert batch["state"].shape == (3, 64) and batch["state"].dtype == torch.float32
    assert batch["action"].shape == batch["action_mask"].shape == (3, 16, 32)
    assert batch["action"].dtype == torch.float32 and batch["action_mask"].dtype == torch.bool
    assert batch["task"] == [ds.episode_task(int(e)) for e in batch["episode"]]
    # Against the shared transforms applied by hand to the dataset's own values.
    episode, t = samples.locate(7)
    raw = ds.episode_data(episode)
    expected_state = transforms.state_to_model(
        torch.from_numpy(raw["observation.state"][t]), G1_SPEC.embodiment, 64
    )
    torch.testing.assert_close(batch["state"][1], expected_state, rtol=0, atol=0)
    chunk = torch.from_numpy(raw["action"][t : t + 16])
    expected = transforms.normalize_action(chunk, stats.action, G1_SPEC.embodiment)
    torch.testing.assert_close(batch["action"][1, :, :16], expected, rtol=0, atol=0)
    assert torch.all(batch["action"][1, :, 16:] == 0)
    assert batch["action"][:, :, :16].abs().max() <= 1.0 + 1e-6  # min/max normalisation
    frames = ds.frames(episode)[t + np.arange(0, 17, 2)]
    torch.testing.assert_close(batch["video"][1], transforms.images_to_model([frames], (96, 96)))
    # Statistics are the exact min/max over all frames (embodiment order).
    np.testing.assert_array_equal(stats.action.min, store.action.min(0))
    np.testing.assert_array_equal(stats.action.max, store.action.max(0))


def test_two_views_side_by_side_and_model_resolution_cache(tmp_path):
    root = write_synthetic_dataset(
        tmp_path / "libero",
        num_episodes=2,
        episode_length=12,
        image_shape=(48, 48, 3),
        embodiment="franka_libero",
    )
    cfg = preset_config("tiny")
    cfg.embodiment, cfg.image_size, cfg.video_delta_indices = "franka_libero", (32, 32), tuple(range(9))
    cfg.horizon, cfg.state_dim, cfg.action_dim = 8, 16, 8
    spec = SampleSpec.from_model_config(cfg)
    store = EpisodeStore([root], "franka_libero", min_length=8)
    cache = build_frame_cache(
        store, spec.embodiment.video_keys, tmp_path / "cache", spec.image_size, resolution="model"
    )
    assert cache.shapes[0] == (24, 32, 32, 3) and len(cache.paths) == 2
    batch = ModelBatchCollator(spec, norm_stats(store))([ClipDataset(store, cache, [0, 1], spec)[3]])
    assert batch["video"].shape == (1, 5, 3, 32, 64)  # primary | wrist
    ds = LeRobotDataset(root)
    wrist = transforms.images_to_model([ds.frames(0, "observation.images.wrist_image")[3:4]], (32, 32))
    # model-resolution cache: bilinear resize then uint8 re-quantisation (≤ 0.5/255 per pixel).
    assert (batch["video"][0, 0, :, :, 32:] - wrist[0]).abs().max() <= 1.0 / 255 + 1e-6
    gripper = batch["action"][0, :, 6]  # raw LIBERO gripper dim is not normalised
    np.testing.assert_allclose(gripper.numpy(), store.action[3:11, 6], rtol=0, atol=0)
    assert batch["action_mask"][0, :, 7:].sum() == 0


def test_frame_cache_is_reused_and_invalidated(tmp_path):
    root = write_synthetic_dataset(
        tmp_path / "ds", num_episodes=2, episode_length=16, image_shape=(32, 32, 3)
    )
    keys = ("observation.images.ego_view",)
    store = EpisodeStore([root], "g1_16dof")
    first = build_frame_cache(store, keys, tmp_path / "cache", (32, 32))
    stamp = first.paths[0].stat().st_mtime_ns
    assert build_frame_cache(store, keys, tmp_path / "cache", (32, 32)).paths == first.paths
    assert first.paths[0].stat().st_mtime_ns == stamp  # not rebuilt
    with LeRobotDatasetWriter.open(root) as writer:
        for i in range(16):
            writer.add_frame(
                {
                    "observation.images.ego_view": np.zeros((32, 32, 3), np.uint8),
                    "observation.state": np.zeros(16, np.float32),
                    "action": np.zeros(16, np.float32),
                }
            )
            del i
        writer.save_episode("more")
    store = EpisodeStore([root], "g1_16dof")
    second = build_frame_cache(store, keys, tmp_path / "cache", (32, 32))
    assert second.paths != first.paths and second.shapes[0][0] == 48


def _write(root, episodes):
    features = embodiment_features("g1_16dof", image_shape=(32, 32, 3))
    with LeRobotDatasetWriter.create(root, features=features) as writer:
        for length, action in episodes:
            for i in range(length):
                writer.add_frame(
                    {
                        "observation.images.ego_view": np.zeros((32, 32, 3), np.uint8),
                        "observation.state": np.zeros(16, np.float32),
                        "action": action(i),
                    }
                )
            writer.save_episode("t")
    return root


def test_short_episode_and_non_finite_action_are_named(tmp_path):
    root = _write(
        tmp_path / "short", [(20, lambda i: np.zeros(16, np.float32)), (9, lambda i: np.ones(16, np.float32))]
    )
    with pytest.raises(DatasetError, match="episode 1 has 9 frames, shorter than the action horizon 16"):
        EpisodeStore([root], "g1_16dof", min_length=16)
    store = EpisodeStore([root], "g1_16dof", min_length=16, skip_short=True)
    assert store.num_episodes == 1 and store.num_frames == 20
    # NaN actions cannot be written by our writer; corrupt a data file the way a foreign tool could.
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = root / "data/chunk-000/file-000.parquet"
    table = pq.read_table(path)
    action = table.column("action").combine_chunks().flatten().to_numpy().copy()
    action[5 * 16 + 3] = np.nan
    column = pa.FixedSizeListArray.from_arrays(pa.array(action, pa.float32()), 16)
    pq.write_table(table.set_column(table.column_names.index("action"), "action", column), path)
    with pytest.raises(
        DatasetError, match=r"episode 0, frame 5: 'action' has non-finite values at dims \[3\]"
    ):
        EpisodeStore([root], "g1_16dof", min_length=1)


def test_missing_column_wrong_dims_and_unreadable_video(tmp_path):
    import pyarrow.parquet as pq

    root = _write(tmp_path / "bad", [(18, lambda i: np.zeros(16, np.float32))])
    path = root / "data/chunk-000/file-000.parquet"
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["action"]), path)
    with pytest.raises(DatasetError, match=r"episode 0: data file .* lacks the column 'action'"):
        EpisodeStore([root], "g1_16dof")
    info_path = root / "meta/info.json"
    pq.write_table(table, path)
    info = json.loads(info_path.read_text())
    info["features"]["action"]["shape"] = [14]
    info_path.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match="episode 0: column 'action' must have 14 values per frame"):
        LeRobotDataset(root).episode_data(0)
    info["features"]["action"]["shape"] = [16]
    info_path.write_text(json.dumps(info))
    video = root / "videos/observation.images.ego_view/chunk-000/file-000.mp4"
    video.write_bytes(b"\x00" * 100)
    store = EpisodeStore([root], "g1_16dof")
    with pytest.raises(
        DatasetError, match=r"episode 0, video 'observation\.images\.ego_view'.*cannot be decoded"
    ):
        build_frame_cache(store, ("observation.images.ego_view",), tmp_path / "cache", (32, 32))
    assert not list((tmp_path / "cache").glob("*.u8"))  # nothing half-built is left as a cache


def test_loader_workers_read_the_memmap(setup):
    from dit4dit_policy.train.loaders import EpochBatchSampler, make_loader

    store, cache, _ = setup
    samples = ClipDataset(store, cache, range(store.num_episodes), G1_SPEC)
    collate = ModelBatchCollator(G1_SPEC, norm_stats(store))
    sampler = EpochBatchSampler(len(samples), 4, seed=1)
    loader = make_loader(samples, sampler, collate, num_workers=1, pin_memory=False, prefetch_factor=2)
    first = next(iter(loader))
    expected = collate([samples[i] for i in sampler.batches(0)[0]])
    torch.testing.assert_close(first["video"], expected["video"])  # ulp-level: worker thread count differs
    assert first["episode"].tolist() == expected["episode"].tolist()
    # Two ranks split one epoch into disjoint batches; every rank gets the same number.
    ranks = [EpochBatchSampler(len(samples), 4, seed=1, rank=r, world_size=2) for r in (0, 1)]
    a, b = (set(r.batches(0).ravel().tolist()) for r in ranks)
    assert not a & b and len(ranks[0]) == len(ranks[1])
    ranks[0].set_position(0, 2)
    assert [list(x) for x in ranks[0]] == ranks[0].batches(0)[2:].tolist()


@pytest.mark.parametrize(
    ("num_samples", "batches", "world_size"), [(50, 5, 2), (50, 5, 4), (8, 1, 3), (40, 6, 3)]
)
def test_validation_batches_are_equal_in_number_on_every_rank(num_samples, batches, world_size):
    # A rank with one validation batch more would hang FSDP/ZeRO-3 (collective forward passes).
    from dit4dit_policy.train.loaders import FixedBatchSampler

    ranks = [list(FixedBatchSampler(num_samples, 4, batches, r, world_size)) for r in range(world_size)]
    assert len({len(r) for r in ranks}) == 1 and len(ranks[0]) >= 1
    assert all(len(b) >= 1 and max(b) < num_samples for r in ranks for b in r)
    if batches >= world_size:  # no batch is evaluated twice when there are enough
        seen = [tuple(b) for r in ranks for b in r]
        assert len(seen) == len(set(seen))
