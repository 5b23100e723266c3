"""GR00T-style modality.json for each embodiment, and gathering state/action keys from columns."""

from __future__ import annotations

import numpy as np
import pytest

from dit4dit_policy.data.embodiment import EMBODIMENTS, get_embodiment
from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
from dit4dit_policy.data.modality import (
    ModalityMap,
    match_embodiment,
    modality_dict,
    read_modality,
    write_modality,
)
from dit4dit_policy.data.synthetic import embodiment_features, write_synthetic_dataset
from dit4dit_policy.errors import SchemaMismatchError


@pytest.mark.parametrize("name", sorted(EMBODIMENTS))
def test_modality_round_trip_per_embodiment(tmp_path, name):
    emb = get_embodiment(name)
    features = embodiment_features(emb, image_shape=(32, 32, 3))
    write_modality(tmp_path, name, features)
    content = read_modality(tmp_path)
    assert content == modality_dict(emb)
    assert match_embodiment(content) == name
    assert list(content["state"]) == [k.name for k in emb.state_keys]
    assert [v["original_key"] for v in content["video"].values()] == list(emb.video_keys)
    assert content["annotation"]["human.task_description"]["original_key"] == "task_index"
    mapping = ModalityMap(emb, content, features)
    state = np.arange(5 * emb.state_dim, dtype=np.float32).reshape(5, emb.state_dim)
    action = -np.arange(5 * emb.action_dim, dtype=np.float32).reshape(5, emb.action_dim)
    columns = {"observation.state": state, "action": action}
    np.testing.assert_array_equal(mapping.state_of(columns), state)
    np.testing.assert_array_equal(mapping.action_of(columns), action)
    assert mapping.video_keys == emb.video_keys


def test_reordered_and_split_columns_gather_in_embodiment_order():
    g1 = get_embodiment("g1_16dof")
    features = embodiment_features(g1, image_shape=(32, 32, 3))
    features["observation.grippers"] = {"dtype": "float32", "shape": (2,), "names": None}
    # A dataset that stores the right arm first and the grippers in their own column.
    modality = modality_dict(g1)
    modality["state"]["right_arm"] = {"start": 0, "end": 7, "original_key": "observation.state"}
    modality["state"]["left_arm"] = {"start": 7, "end": 14, "original_key": "observation.state"}
    modality["state"]["left_gripper"] = {"start": 0, "end": 1, "original_key": "observation.grippers"}
    modality["state"]["right_gripper"] = {"start": 1, "end": 2, "original_key": "observation.grippers"}
    mapping = ModalityMap(g1, modality, features)
    raw = np.arange(16, dtype=np.float32)[None]
    columns = {"observation.state": raw, "observation.grippers": np.array([[100.0, 200.0]]), "action": raw}
    expected = np.r_[raw[0, 7:14], raw[0, 0:7], 100.0, 200.0]
    np.testing.assert_array_equal(mapping.state_of(columns)[0], expected)
    assert mapping.columns == ["action", "observation.grippers", "observation.state"]


def test_mismatches_are_named():
    g1 = get_embodiment("g1_16dof")
    gr1 = get_embodiment("gr1_29dof")
    with pytest.raises(SchemaMismatchError, match=r"lacks 'state.left_hand'"):
        ModalityMap(gr1, modality_dict(g1), embodiment_features(gr1))
    with pytest.raises(
        SchemaMismatchError, match=r"spans \[0, 7\) but column 'observation.state' has 4 dims"
    ):
        features = embodiment_features(g1)
        features["observation.state"] = {"dtype": "float32", "shape": (4,), "names": None}
        ModalityMap(g1, None, features)
    with pytest.raises(SchemaMismatchError, match="needs video features"):
        ModalityMap(get_embodiment("franka_libero"), None, embodiment_features(g1))


def test_dataset_modality_is_used(tmp_path):
    root = write_synthetic_dataset(
        tmp_path / "libero",
        num_episodes=1,
        episode_length=6,
        image_shape=(32, 32, 3),
        embodiment="franka_libero",
    )
    ds = LeRobotDataset(root)
    mapping = ModalityMap.for_dataset(ds, "franka_libero")
    data = ds.episode_data(0)
    assert mapping.state_of(data).shape == (6, 8) and mapping.action_of(data).shape == (6, 7)
    assert match_embodiment(ds.modality) == "franka_libero"


def _per_dimension(names, start=0):
    return {name: {"start": start + i, "end": start + i + 1} for i, name in enumerate(names)}


def test_starvla_libero_per_dimension_modality_maps_to_franka():
    # The layout of starVLA/DiT4DiT's examples/LIBERO/train_files/modality.json: one key per dim,
    # no original_key (the default columns), state = eef xyz, rpy, pad + gripper (the two gripper
    # joints), then 7 arm joints; action = xyz, rpy, gripper.
    franka = get_embodiment("franka_libero")
    features = embodiment_features(franka, image_shape=(32, 32, 3))
    features["observation.state"] = {"dtype": "float32", "shape": (15,), "names": None}
    modality = {
        "state": {
            **_per_dimension(["x", "y", "z", "roll", "pitch", "yaw", "pad", "gripper"]),
            **_per_dimension([f"joint_{i}" for i in range(7)], start=8),
        },
        "action": _per_dimension(["x", "y", "z", "roll", "pitch", "yaw", "gripper"]),
        "video": {
            "primary_image": {"original_key": "observation.images.image"},
            "wrist_image": {"original_key": "observation.images.wrist_image"},
        },
        "annotation": {"human.action.task_description": {"original_key": "task_index"}},
    }
    mapping = ModalityMap(franka, modality, features)
    state = np.arange(3 * 15, dtype=np.float32).reshape(3, 15)
    action = -np.arange(3 * 7, dtype=np.float32).reshape(3, 7)
    columns = {"observation.state": state, "action": action}
    np.testing.assert_array_equal(mapping.state_of(columns), state[:, :8])
    np.testing.assert_array_equal(mapping.action_of(columns), action)

    # Aliases must be adjacent and complete: a gap or a missing dim is still a named error.
    broken = {**modality, "state": {k: v for k, v in modality["state"].items() if k != "pad"}}
    with pytest.raises(SchemaMismatchError, match=r"'state\.gripper' has 1 dims"):
        ModalityMap(franka, broken, features)
    shuffled = {**modality, "state": {**modality["state"], "y": {"start": 9, "end": 10}}}
    with pytest.raises(SchemaMismatchError, match=r"lacks 'state\.eef_pos'"):
        ModalityMap(franka, shuffled, features)
