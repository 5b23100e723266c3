import json

import numpy as np
import pytest
import torch

from dit4dit_policy.errors import CheckpointError
from dit4dit_policy.model.checkpoint import (
    AUTHORS_KEY_MAP,
    export_authors_state_dict,
    load_authors_checkpoint,
    load_policy,
    save_checkpoint,
)
from dit4dit_policy.model.policy import DiT4DiTPolicy


@pytest.fixture(scope="module")
def saved(tiny_policy, tmp_path_factory):
    directory = tmp_path_factory.mktemp("ckpt") / "tiny"
    save_checkpoint(tiny_policy, directory, prompts=["stack the cups"])
    return directory


def test_layout_and_contract(saved, tiny_policy):
    names = sorted(p.name for p in saved.iterdir())
    assert names == ["config.yaml", "contract.json", "model.safetensors", "prompt_cache", "stats.json"]
    assert not [p for p in saved.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left
    contract = json.loads((saved / "contract.json").read_text())
    assert contract["format_version"] == 1 and contract["embodiment"] == "g1_16dof"
    assert contract["joint_names"][0] == "left_shoulder_pitch_joint" and contract["horizon"] == 16
    assert contract["image_size"] == [64, 64] and contract["video_frame_indices"] == list(range(0, 17, 2))
    assert (contract["raw_action_dim"], contract["model_action_dim"], contract["model_state_dim"]) == (
        16,
        32,
        64,
    )
    assert contract["text_encoder_id"] == tiny_policy.text_encoder.encoder_id
    assert len(list((saved / "prompt_cache").iterdir())) == 1


def test_save_load_gives_identical_predictions(saved, tiny_policy, observation):
    loaded = DiT4DiTPolicy.from_checkpoint(saved)
    assert not loaded.training and loaded.config == tiny_policy.config
    obs = observation(batch=2)
    np.testing.assert_array_equal(
        loaded.predict_action_chunk(obs, seed=4), tiny_policy.predict_action_chunk(obs, seed=4)
    )
    assert loaded.text_encoder.encoder_id == tiny_policy.text_encoder.encoder_id
    assert not any(p.requires_grad for p in loaded.backbone.vae.parameters())  # still frozen after loading
    assert all(p.requires_grad for p in loaded.backbone.transformer.parameters())
    assert (
        all(p.device.type == "cpu" for p in loaded.parameters())
        and loaded.backbone.latents_std.device.type == "cpu"
    )


def test_cached_prompt_needs_no_text_encoder(saved, observation, monkeypatch):
    loaded = load_policy(saved)
    monkeypatch.setattr(loaded.text_encoder, "encode", lambda prompts: pytest.fail(f"encoded {prompts}"))
    loaded.predict_action_chunk(observation(tasks=["stack the cups"]), seed=0)


def test_overwrite_is_explicit_and_atomic(tiny_policy, tmp_path):
    target = tmp_path / "c"
    save_checkpoint(tiny_policy, target)
    with pytest.raises(CheckpointError, match="already exists"):
        save_checkpoint(tiny_policy, target)
    before = (target / "model.safetensors").stat().st_mtime_ns
    save_checkpoint(tiny_policy, target, overwrite=True)
    assert (target / "model.safetensors").stat().st_mtime_ns >= before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def _copy(saved, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(saved, target)
    return target


def test_corrupt_truncated_and_incomplete_checkpoints(saved, tmp_path):
    bad = _copy(saved, tmp_path)
    weights = bad / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_policy(bad)
    weights.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_policy(bad)

    bad = _copy(saved, tmp_path / "b")
    (bad / "stats.json").unlink()
    with pytest.raises(CheckpointError, match=r"lacks stats\.json"):
        load_policy(bad)
    assert load_policy(bad, require_stats=False).stats is None

    bad = _copy(saved, tmp_path / "c")
    contract = json.loads((bad / "contract.json").read_text())
    (bad / "contract.json").write_text(json.dumps({**contract, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format_version 99 is not supported"):
        load_policy(bad)

    bad = _copy(saved, tmp_path / "d")
    (bad / "config.yaml").write_text((bad / "config.yaml").read_text().replace("horizon: 16", "horizon: 8"))
    with pytest.raises(CheckpointError, match="horizon: 16 \\(config gives 8\\)"):
        load_policy(bad)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_policy(tmp_path / "nothing")


def test_missing_and_unexpected_keys_are_listed(tiny_policy, tmp_path, tiny_config, g1_stats):
    from safetensors.torch import load_file, save_file

    target = save_checkpoint(tiny_policy, tmp_path / "k")
    state = load_file(str(target / "model.safetensors"))
    state.pop("action_head.position_embedding.weight")
    state["action_head.extra.weight"] = torch.zeros(1)
    save_file(state, str(target / "model.safetensors"))
    listed = (
        r"missing keys \[action_head\.position_embedding\.weight\]; "
        r"unexpected keys \[action_head\.extra\.weight\]"
    )
    with pytest.raises(CheckpointError, match=listed):
        load_policy(target)


def test_authors_checkpoint_loads_and_predicts_identically(
    tiny_policy, tiny_config, g1_stats, tmp_path, observation
):
    theirs = export_authors_state_dict(tiny_policy)
    prefixes = {theirs_prefix for theirs_prefix, _ in AUTHORS_KEY_MAP}
    assert all(any(k.startswith(p) for p in prefixes) for k in theirs)
    assert "backbone_interface.extractor.transformer.transformer_blocks.0.attn1.to_q.weight" in theirs
    assert "action_model.model.transformer_blocks.0.attn1.to_k.weight" in theirs
    path = tmp_path / "pytorch_model.pt"
    torch.save(theirs, path)
    loaded = load_authors_checkpoint(path, tiny_config(), g1_stats)
    obs = observation(batch=1)
    np.testing.assert_array_equal(
        loaded.predict_action_chunk(obs, seed=2), tiny_policy.predict_action_chunk(obs, seed=2)
    )

    torch.save({"state_dict": theirs}, path)  # a nested state dict loads too
    load_authors_checkpoint(path, tiny_config(), g1_stats)

    extra = dict(theirs)
    extra["vlm_interface.qformer.weight"] = torch.zeros(1)
    torch.save(extra, path)
    with pytest.raises(CheckpointError, match=r"vlm_interface\.qformer\.weight"):
        load_authors_checkpoint(path, tiny_config(), g1_stats)
    missing = {k: v for k, v in theirs.items() if not k.startswith("action_model.action_decoder.")}
    torch.save(missing, path)
    with pytest.raises(CheckpointError, match=r"missing keys \[action_head.action_decoder.layer1.bias"):
        load_authors_checkpoint(path, tiny_config(), g1_stats)
    loose = load_authors_checkpoint(path, tiny_config(), g1_stats, strict=False)
    assert isinstance(loose, DiT4DiTPolicy)
    path.write_bytes(b"not a pickle")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_authors_checkpoint(path, tiny_config(), g1_stats)
