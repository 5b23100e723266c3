"""Fixtures of the dataset tests: small synthetic datasets written with the real writer."""

from __future__ import annotations

import pytest

from dit4dit_policy.data.synthetic import write_synthetic_dataset


@pytest.fixture(scope="session")
def g1_dataset(tmp_path_factory):
    """A 4-episode G1 dataset (64×64 AV1 video, 20-30 frames per episode), shared read-only."""
    root = tmp_path_factory.mktemp("g1") / "ds"
    return write_synthetic_dataset(root, num_episodes=4, episode_length=(20, 30), image_shape=(64, 64, 3))
