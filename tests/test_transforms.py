import numpy as np
import pytest
import torch

from dit4dit_policy.data import transforms as T
from dit4dit_policy.data.embodiment import Embodiment, KeySlice, get_embodiment
from dit4dit_policy.errors import CheckpointError, SchemaMismatchError

G1 = get_embodiment("g1_16dof")


def _stats(dim, low=-1.0, high=1.0):
    low_v, high_v = np.full(dim, low), np.full(dim, high)
    return T.FeatureStats(low_v, high_v, np.zeros(dim), np.ones(dim), low_v, high_v, count=10)


def test_embodiments():
    assert G1.state_dim == G1.action_dim == 16 and G1.sincos_state_dim == 32
    assert get_embodiment("gr1_29dof").action_dim == 29
    libero = get_embodiment("franka_libero")
    assert libero.action_dim == 7 and libero.raw_action_dims == (6,)
    with pytest.raises(KeyError, match="known: franka_libero"):
        get_embodiment("nao")
    with pytest.raises(ValueError, match="tile the vector"):
        Embodiment("bad", (KeySlice("a", 1, 2),), (KeySlice("a", 0, 1),), ("v",))


def test_state_sincos_per_key_and_padding():
    state = torch.linspace(-1, 1, 16)
    out = T.state_to_model(state, G1, 64)
    assert out.shape == (64,)
    torch.testing.assert_close(out[:7], torch.sin(state[:7]))
    torch.testing.assert_close(out[7:14], torch.cos(state[:7]))
    torch.testing.assert_close(out[14:21], torch.sin(state[7:14]))
    torch.testing.assert_close(out[28], torch.sin(state[14]))
    torch.testing.assert_close(out[29], torch.cos(state[14]))
    assert torch.all(out[32:] == 0)
    with pytest.raises(SchemaMismatchError, match="expects 16"):
        T.state_to_model(torch.zeros(14), G1, 64)
    with pytest.raises(SchemaMismatchError, match="needs 32"):
        T.state_to_model(torch.zeros(16), G1, 16)


def test_action_normalisation_round_trip():
    stats = T.FeatureStats(
        np.arange(16.0) - 5, np.arange(16.0) + 5, np.zeros(16), np.ones(16), np.zeros(16), np.ones(16), 3
    )
    raw = torch.tensor(np.arange(16.0) + np.linspace(-5, 5, 16), dtype=torch.float32)
    norm = T.normalize_action(raw, stats, G1)
    assert norm.min() >= -1 and norm.max() <= 1
    torch.testing.assert_close(T.unnormalize_action(norm, stats, G1), raw)
    # out-of-range model outputs are clipped to the training range
    assert torch.all(
        T.unnormalize_action(torch.full((16,), 3.0), stats, G1) == torch.tensor(stats.max).float()
    )


def test_constant_dim_and_raw_binary_dims():
    const = _stats(16, 0.5, 0.5)
    assert torch.all(T.normalize_action(torch.full((16,), 0.5), const, G1) == 0)
    libero = get_embodiment("franka_libero")
    stats = _stats(7, -2.0, 2.0)
    raw = torch.tensor([1.0, 0, 0, 0, 0, 0, 1.0])
    norm = T.normalize_action(raw, stats, libero)
    assert norm[0] == 0.5 and norm[6] == 1.0  # gripper kept raw
    back = T.unnormalize_action(torch.tensor([0.5, 0, 0, 0, 0, 0, 0.7]), stats, libero)
    assert back[0] == 1.0 and back[6] == 1.0


def test_pad_action_mask_masks_padded_steps():
    action = torch.ones(2, 4, 16)
    valid = torch.tensor([[True] * 4, [True, True, False, False]])
    padded, mask = T.pad_action(action, 32, valid)
    assert padded.shape == mask.shape == (2, 4, 32)
    assert mask[0, :, :16].all() and not mask[:, :, 16:].any()
    assert mask[1, :2, :16].all() and not mask[1, 2:].any()
    with pytest.raises(SchemaMismatchError):
        T.pad_action(torch.ones(4, 40), 32)


def test_images_to_model():
    frame = np.full((2, 48, 64, 3), 255, np.uint8)
    out = T.images_to_model([frame], (32, 32))
    assert out.shape == (2, 3, 32, 32) and torch.allclose(out, torch.ones_like(out))
    two = T.images_to_model([frame, np.zeros_like(frame)], (32, 32))
    assert two.shape == (2, 3, 32, 64) and two[..., 32:].min() == -1
    with pytest.raises(ValueError, match="multiples of 16"):
        T.images_to_model([frame], (30, 32))
    with pytest.raises(ValueError, match="uint8"):
        T.images_to_model([frame.astype(np.float32)], (32, 32))


def test_frame_indices():
    assert T.video_frame_indices(tuple(range(17)), 2) == (0, 2, 4, 6, 8, 10, 12, 14, 16)
    assert T.latent_frames(9) == 3 and T.latent_frames(5) == 2 and T.latent_frames(1) == 1
    with pytest.raises(ValueError):
        T.video_frame_indices((1, 2), 1)


def test_norm_stats_io(tmp_path):
    stats = T.NormStats(_stats(16), _stats(16))
    stats.save(tmp_path / "stats.json")
    loaded = T.NormStats.load(tmp_path / "stats.json")
    np.testing.assert_array_equal(loaded.action.max, stats.action.max)
    (tmp_path / "bad.json").write_text('{"action": {}}')
    with pytest.raises(CheckpointError, match=r"observation\.state"):
        T.NormStats.load(tmp_path / "bad.json")
    with pytest.raises(CheckpointError, match="do not exist"):
        T.NormStats.load(tmp_path / "none.json")
