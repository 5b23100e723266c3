import numpy as np
import pytest
import torch

from dit4dit_policy import schema
from dit4dit_policy.data import transforms as T
from dit4dit_policy.errors import CheckpointError, SchemaMismatchError
from dit4dit_policy.model.build import build_policy
from dit4dit_policy.model.reference import reference_noise, reference_sample

EGO = "observation.images.ego_view"


def test_predict_action_chunk_shapes_units_and_seed(tiny_policy, observation, g1_stats):
    obs = observation(batch=2)
    first = tiny_policy.predict_action_chunk(obs, seed=7)
    assert first.shape == (2, 16, 16) and first.dtype == np.float32
    assert np.array_equal(first, tiny_policy.predict_action_chunk(obs, seed=7))
    assert not np.array_equal(first, tiny_policy.predict_action_chunk(obs, seed=8))
    # robot units: inside the statistics' range (clip to [-1, 1] before un-normalising)
    assert np.all(first >= g1_stats.action.min - 1e-5) and np.all(first <= g1_stats.action.max + 1e-5)
    timings = tiny_policy.last_timings_ms
    assert {"preprocess", "text", "vae", "video_dit", "action_dit", "postprocess", "total"} <= set(timings)
    assert timings["total"] >= timings["video_dit"] > 0


def test_predict_uses_the_shared_transforms(tiny_policy, observation):
    obs = observation(batch=1, seed=3)
    frame, state, tasks = tiny_policy.preprocess(obs)
    torch.testing.assert_close(frame, T.images_to_model([obs["images"][EGO]], (64, 64)))
    torch.testing.assert_close(state, T.state_to_model(obs["state"], tiny_policy.embodiment, 64))
    noise = tiny_policy.draw_noise(1, seed=5)
    model_space = tiny_policy.sample_model_space(frame, state, tasks, noise)
    expected = T.unnormalize_action(model_space[..., :16], tiny_policy.stats.action, tiny_policy.embodiment)
    np.testing.assert_array_equal(tiny_policy.predict_action_chunk(obs, seed=5), expected.numpy())


def test_our_path_equals_the_authors_path(tiny_policy):
    gen = torch.Generator().manual_seed(0)
    frame, state = torch.rand(1, 3, 64, 64, generator=gen) * 2 - 1, torch.randn(1, 64, generator=gen)
    for step in range(2):  # second step: prompt embeddings and K/V served from the caches
        noise = tiny_policy.draw_noise(1, seed=step)
        vae_eps, latents = reference_noise(tiny_policy, noise, gen)
        ref = reference_sample(tiny_policy, frame, state, ["fold the towel"], vae_eps, latents, noise.action)
        ours = tiny_policy.sample_model_space(frame, state, ["fold the towel"], noise)
        assert torch.equal(ref, ours)


def test_predict_chunk_contract(tiny_policy):
    rng = np.random.default_rng(0)
    obs = schema.Observation(
        image=rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),
        image_stamp_ns=1_000_000_000,
        state=np.zeros(16),
        state_stamp_ns=1_000_000_000,
        task="wipe the table",
    )
    chunk = tiny_policy.predict_chunk(obs, seed=1)
    assert chunk.horizon == 16 and chunk.stamp_ns == obs.stamp_ns
    expected = obs.stamp_ns + np.round(np.arange(16) * schema.ACTION_DT_S * 1e9).astype(np.int64)
    np.testing.assert_array_equal(chunk.times_ns, expected)


def test_bad_observations_raise_clear_errors(tiny_policy, observation):
    obs = observation()
    with pytest.raises(SchemaMismatchError, match="expects 16"):
        tiny_policy.predict_action_chunk({**obs, "state": np.zeros((1, 14))})
    with pytest.raises(SchemaMismatchError, match=r"lacks \['observation\.images\.ego_view'\]"):
        tiny_policy.predict_action_chunk({**obs, "images": {"wrist": obs["images"][EGO]}})
    with pytest.raises(ValueError, match="uint8"):
        tiny_policy.predict_action_chunk({**obs, "images": {EGO: obs["images"][EGO].astype(np.float32)}})
    with pytest.raises(SchemaMismatchError, match="batch sizes disagree"):
        tiny_policy.predict_action_chunk({**obs, "task": ["a", "b"]})
    with pytest.raises(SchemaMismatchError, match="non-empty instruction"):
        tiny_policy.predict_action_chunk({**obs, "task": [""]})
    with pytest.raises(SchemaMismatchError, match="lacks 'state'"):
        tiny_policy.predict_action_chunk({"images": obs["images"], "task": obs["task"]})


def test_missing_statistics(tiny_config, observation):
    policy = build_policy(tiny_config(), None).eval()
    with pytest.raises(CheckpointError, match="no normalisation statistics"):
        policy.predict_action_chunk(observation())


def test_compute_loss_contract_and_video_weight_zero(tiny_config, model_batch, g1_stats, monkeypatch):
    cfg = tiny_config()
    policy = build_policy(cfg, g1_stats).train()
    batch = model_batch(cfg)
    out = policy.compute_loss(batch)
    assert set(out) == {"loss", "action_loss", "video_loss"} and all(v.ndim == 0 for v in out.values())
    torch.testing.assert_close(out["loss"], out["action_loss"] + out["video_loss"])
    out["loss"].backward()
    assert policy.backbone.transformer.proj_out.weight.grad is not None  # trained by the video loss only
    assert all(p.grad is None for p in policy.backbone.vae.parameters())

    zero = build_policy(tiny_config("--video_loss.weight=0"), g1_stats).train()
    frames_encoded = []
    original_encode = zero.backbone.encode
    monkeypatch.setattr(
        zero.backbone, "encode", lambda v: frames_encoded.append(v.shape[2]) or original_encode(v)
    )
    monkeypatch.setattr(zero.backbone, "video_loss", lambda *a: pytest.fail("video forward must be skipped"))
    out = zero.compute_loss(batch)
    assert frames_encoded == [1] and out["video_loss"].item() == 0.0
    out["loss"].backward()
    assert zero.backbone.transformer.proj_out.weight.grad is None  # features are detached

    with pytest.raises(SchemaMismatchError, match=r"batch\['video'\] must be \(B, 9, 3, 64, 64\)"):
        policy.compute_loss({**batch, "video": batch["video"][:, :5]})
    with pytest.raises(SchemaMismatchError, match="lacks 'action_mask'"):
        policy.compute_loss({k: v for k, v in batch.items() if k != "action_mask"})
    with pytest.raises(SchemaMismatchError, match=r"batch\['state'\] must have shape \(2, 64\)"):
        policy.compute_loss({**batch, "state": batch["state"][:, :32]})


def test_cached_latents_replace_the_vae(tiny_config, model_batch, g1_stats):
    cfg = tiny_config()
    policy = build_policy(cfg, g1_stats).eval()
    batch = model_batch(cfg)
    mean, std = policy.encode_video(batch["video"])
    torch.manual_seed(0)
    direct = policy.compute_loss(batch)
    torch.manual_seed(0)
    cached = policy.compute_loss({**batch, "latent_mean": mean, "latent_std": std})
    for key in direct:
        assert torch.equal(direct[key], cached[key]), key


def test_parameter_groups_exclude_frozen_parts(tiny_policy):
    groups = tiny_policy.parameter_groups(1e-5, 1e-4)
    assert [g["lr"] for g in groups] == [1e-5, 1e-4]
    ids = {id(p) for g in groups for p in g["params"]}
    assert ids == {id(p) for p in tiny_policy.backbone.transformer.parameters()} | {
        id(p) for p in tiny_policy.action_head.parameters()
    }
    assert not any(p.requires_grad for p in tiny_policy.backbone.vae.parameters())
    assert not any(p.requires_grad for p in tiny_policy.text_encoder.model.parameters())


@pytest.mark.slow
def test_loss_falls_when_overfitting_one_batch(tiny_config, model_batch, g1_stats):
    # A reduced tiny model so that the test stays cheap on a loaded 2-core machine.
    cfg = tiny_config(
        "--action.dropout=0.0",
        "--video.num_layers=2",
        "--video.extract_layer=1",
        "--action.num_layers=2",
        "--action.input_embedding_dim=64",
        "--action.num_attention_heads=2",
        "--action.hidden_size=128",
        "--action.output_dim=128",
    )
    policy = build_policy(cfg, g1_stats, seed=1)
    batch = model_batch(cfg, batch=2, seed=3)
    mean, std = policy.encode_video(batch["video"])
    batch.update(latent_mean=mean, latent_std=std)

    def evaluate():
        policy.eval()
        torch.manual_seed(123)  # same τ and noise draws for both evaluations
        with torch.no_grad():
            return {k: v.item() for k, v in policy.compute_loss(batch).items()}

    before = evaluate()
    groups = policy.parameter_groups(3e-3, 3e-3)
    optimizer = torch.optim.AdamW([{"params": g["params"], "lr": g["lr"]} for g in groups], weight_decay=0.0)
    policy.train()
    for _ in range(25):
        optimizer.zero_grad()
        policy.compute_loss(batch)["loss"].backward()
        optimizer.step()
    after = evaluate()
    assert after["loss"] < 0.8 * before["loss"], (before, after)
    assert after["video_loss"] < 0.7 * before["video_loss"], (before, after)
    assert after["action_loss"] < before["action_loss"], (before, after)


def test_bfloat16_backbone_keeps_an_fp32_head(tiny_config, g1_stats, observation):
    policy = build_policy(tiny_config("--dtype=bfloat16"), g1_stats).eval()
    assert policy.backbone.dtype == torch.bfloat16
    assert policy.action_head.position_embedding.weight.dtype == torch.float32
    out = policy.predict_action_chunk(observation(), seed=0)
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
