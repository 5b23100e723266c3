"""The bundled demo policy (dit4dit_policy/assets/demo_policy): loads, has the G1 contract, acts sanely.

Issue 10: a trained tiny DiT4DiT checkpoint ships with the package so that ``dit4dit sim`` / ``make
demo`` show a working policy without a GPU or a download. These checks run on the CPU in seconds:
the checkpoint loads through the public loader, its contract is the 16-D single-camera G1 contract,
every simulator instruction it is evaluated on is cached (or encodable offline by its own text
encoder), and one chunk predicted from a rendered simulator frame is finite, (16, 16) and inside
the joint limits.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from dit4dit_policy import schema
from dit4dit_policy.resources import BUNDLED_CHECKPOINT, bundled_checkpoint

torch = pytest.importorskip("torch")

#: Every file save_checkpoint writes (prompt_cache/ holds the cached instructions).
CHECKPOINT_FILES = ("model.safetensors", "config.yaml", "stats.json", "contract.json")
#: Size budget of the bundled checkpoint (issue 10) [bytes].
MAX_BYTES = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def checkpoint_dir():
    path = bundled_checkpoint()
    if path is None:
        pytest.fail(f"no bundled checkpoint at {BUNDLED_CHECKPOINT} (contract.json missing)")
    return path


@pytest.fixture(scope="module")
def policy(checkpoint_dir):
    from dit4dit_policy.model import load_policy

    torch.set_num_threads(1)
    return load_policy(checkpoint_dir, device="cpu")


def test_bundled_checkpoint_files_and_size(checkpoint_dir):
    for name in CHECKPOINT_FILES:
        assert (checkpoint_dir / name).is_file(), name
    assert (checkpoint_dir / "prompt_cache").is_dir()
    total = sum(p.stat().st_size for p in checkpoint_dir.rglob("*") if p.is_file())
    assert total <= MAX_BYTES, f"bundled checkpoint is {total / 2**20:.1f} MiB > 20 MiB"


def test_bundled_contract_is_g1_16dof(checkpoint_dir, policy):
    contract = json.loads((checkpoint_dir / "contract.json").read_text())
    assert contract["embodiment"] == "g1_16dof"
    assert tuple(contract["joint_names"]) == schema.JOINT_NAMES
    assert contract["horizon"] == schema.ACTION_HORIZON == 16
    assert contract["action_dt_s"] == pytest.approx(schema.ACTION_DT_S)
    assert policy.embodiment.name == "g1_16dof"
    assert len(policy.embodiment.video_keys) == 1
    assert policy.embodiment.action_dim == schema.NUM_JOINTS == 16
    assert policy.config.preset == "tiny"


def test_bundled_policy_has_every_sim_instruction_cached(policy):
    """Every instruction of every simulator task and held-out variant is in the prompt cache."""
    from dit4dit_policy.sim.tasks import task_names

    instructions = set()
    for name in task_names():
        instructions |= set(_instructions(name))
    missing = [
        p for p in sorted(instructions) if policy.prompt_cache.get(policy.prompt_cache_key(p), p) is None
    ]
    assert not missing, f"instructions not cached in the bundled checkpoint: {missing}"


def test_bundled_policy_predicts_a_sane_chunk_on_a_sim_frame(policy):
    from dit4dit_policy.sim.env import G1TabletopEnv

    env = G1TabletopEnv("close_drawer")
    try:
        obs, info = env.reset(seed=0)
    finally:
        env.close()
    now = time.time_ns()
    observation = schema.Observation(
        image=obs["image"],
        image_stamp_ns=now,
        state=obs["state"].astype(np.float32),
        state_stamp_ns=now,
        task=info["instruction"],
    )
    chunk = policy.predict_chunk(observation, seed=0)
    positions = np.asarray(chunk.positions)
    assert positions.shape == (schema.ACTION_HORIZON, schema.NUM_JOINTS) == (16, 16)
    assert np.isfinite(positions).all()
    assert (positions >= schema.POSITION_LOWER - 1e-6).all() and (
        positions <= schema.POSITION_UPPER + 1e-6
    ).all()
    # Grippers are normalised openings in [0, 1].
    assert ((positions[:, schema.GRIPPERS] >= 0) & (positions[:, schema.GRIPPERS] <= 1)).all()
    # The first target is near the current pose: the policy continues from where the arm is.
    assert np.abs(positions[0, schema.ARMS] - obs["state"][schema.ARMS]).max() < 0.5


def _instructions(task: str, seeds: int = 80) -> list[str]:
    """The instructions a task produces over ``seeds`` seeded layouts (no rendering)."""
    from dit4dit_policy.sim.env import G1TabletopEnv

    env = G1TabletopEnv(task, render_mode=None)
    try:
        seen = []
        for seed in range(seeds):
            _, info = env.reset(seed=seed)
            seen.append(info["instruction"])
        return sorted(set(seen))
    finally:
        env.close()
