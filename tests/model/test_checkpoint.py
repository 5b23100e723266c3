import json

import numpy as np
import pytest
import torch

from dit4dit_policy.errors import CheckpointError
from dit4dit_policy.model.build import build_policy
from dit4dit_policy.model.checkpoint import (
    AUTHORS_KEY_MAP,
    export_authors_state_dict,
    load_authors_checkpoint,
    load_policy,
    policy_state,
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


#: Concrete key names of the authors' state dict, derived from their module code (D4D @ 0362b34):
#: ``DiT4DiT.py`` (``backbone_interface`` / ``action_model``), ``Cosmos25.py`` (``extractor.{transformer,
#: vae, text_encoder}``, model_spec §5 "Frozen"), diffusers' Cosmos/Wan module names, and
#: ``ActionDiT.py:211-250`` / ``cross_attention_dit.py`` for the action head (``model`` = their ``DiT``
#: with ``timestep_encoder``, ``transformer_blocks``, ``proj_out_1``/``proj_out_2``; ``state_encoder``,
#: ``action_encoder`` (layer1-3), ``action_decoder`` (layer1-2), ``position_embedding``).
AUTHORS_KEYS = (
    "backbone_interface.extractor.transformer.transformer_blocks.0.attn1.to_q.weight",
    "backbone_interface.extractor.transformer.transformer_blocks.0.attn2.to_k.weight",
    "backbone_interface.extractor.transformer.crossattn_proj.0.weight",
    "backbone_interface.extractor.transformer.patch_embed.proj.weight",
    "backbone_interface.extractor.transformer.time_embed.t_embedder.linear_1.weight",
    "backbone_interface.extractor.transformer.proj_out.weight",
    "backbone_interface.extractor.vae.encoder.conv_in.weight",
    "backbone_interface.extractor.vae.quant_conv.weight",
    "backbone_interface.extractor.text_encoder.model.language_model.layers.0.self_attn.q_proj.weight",
    "action_model.model.timestep_encoder.timestep_embedder.linear_1.weight",
    "action_model.model.transformer_blocks.0.norm1.linear.weight",
    "action_model.model.transformer_blocks.0.attn1.to_k.weight",
    "action_model.model.transformer_blocks.1.attn1.to_q.weight",
    "action_model.model.transformer_blocks.0.ff.net.0.proj.weight",
    "action_model.model.transformer_blocks.0.ff.net.2.weight",
    "action_model.model.proj_out_1.weight",
    "action_model.model.proj_out_2.weight",
    "action_model.state_encoder.layer1.weight",
    "action_model.state_encoder.layer2.weight",
    "action_model.action_encoder.layer1.weight",
    "action_model.action_encoder.layer2.weight",
    "action_model.action_encoder.layer3.weight",
    "action_model.action_decoder.layer1.weight",
    "action_model.action_decoder.layer2.weight",
    "action_model.position_embedding.weight",
)


def _authors_action_keys(num_layers: int) -> set[str]:
    """Every parameter name of the authors' ``FlowmatchingActionHead`` (their code, not our export)."""
    linear = ("weight", "bias")
    keys = {
        f"action_model.model.timestep_encoder.timestep_embedder.linear_{i}.{p}"
        for i in (1, 2)
        for p in linear
    }
    keys |= {f"action_model.model.proj_out_{i}.{p}" for i in (1, 2) for p in linear}
    keys |= {f"action_model.state_encoder.layer{i}.{p}" for i in (1, 2) for p in linear}
    keys |= {f"action_model.action_encoder.layer{i}.{p}" for i in (1, 2, 3) for p in linear}
    keys |= {f"action_model.action_decoder.layer{i}.{p}" for i in (1, 2) for p in linear}
    keys.add("action_model.position_embedding.weight")
    # BasicTransformerBlock: AdaLayerNorm norm1 (linear), attn1 (q/k/v/out with bias), affine-free
    # norm3, FeedForward gelu-approximate (net.0.proj, net.2)
    for i in range(num_layers):
        block = f"action_model.model.transformer_blocks.{i}."
        names = ["norm1.linear", "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0"]
        names += ["ff.net.0.proj", "ff.net.2"]
        keys |= {f"{block}{n}.{p}" for n in names for p in linear}
    return keys


def test_authors_checkpoint_loads_and_predicts_identically(
    tiny_policy, tiny_config, g1_stats, tmp_path, observation
):
    # The source must differ from what load_authors_checkpoint builds before loading (seed 0, as
    # tiny_policy): otherwise identical predictions would not prove that any value was loaded.
    source = build_policy(tiny_config(), g1_stats, seed=11).eval()
    theirs = export_authors_state_dict(source)
    prefixes = {theirs_prefix for theirs_prefix, _ in AUTHORS_KEY_MAP}
    assert all(any(k.startswith(p) for p in prefixes) for k in theirs)
    assert set(AUTHORS_KEYS) <= set(theirs), sorted(set(AUTHORS_KEYS) - set(theirs))
    action_keys = {k for k in theirs if k.startswith("action_model.")}
    assert action_keys == _authors_action_keys(tiny_config().action.num_layers)
    # even blocks cross-attend to the video features (width D), odd ones self-attend (width 128)
    video_width = source.config.video.hidden_size
    assert theirs["action_model.model.transformer_blocks.0.attn1.to_k.weight"].shape[1] == video_width
    token_width = source.config.action.input_embedding_dim
    assert theirs["action_model.model.transformer_blocks.1.attn1.to_k.weight"].shape[1] == token_width
    path = tmp_path / "pytorch_model.pt"
    torch.save(theirs, path)
    loaded = load_authors_checkpoint(path, tiny_config(), g1_stats)
    obs = observation(batch=1)
    expected = source.predict_action_chunk(obs, seed=2)
    assert not np.array_equal(tiny_policy.predict_action_chunk(obs, seed=2), expected)  # the test can fail
    np.testing.assert_array_equal(loaded.predict_action_chunk(obs, seed=2), expected)
    ours = policy_state(loaded)
    for their_key, our_key in (  # the key map spelled out by hand (not via map_authors_state_dict)
        ("backbone_interface.extractor.transformer.proj_out.weight", "backbone.transformer.proj_out.weight"),
        ("backbone_interface.extractor.vae.encoder.conv_in.weight", "backbone.vae.encoder.conv_in.weight"),
        (
            "backbone_interface.extractor.text_encoder.model.language_model.norm.weight",
            "text_encoder.model.language_model.norm.weight",
        ),
        ("action_model.position_embedding.weight", "action_head.position_embedding.weight"),
    ):
        assert torch.equal(ours[our_key], theirs[their_key]), their_key
    assert set(policy_state(source)) == set(ours)
    for key, value in policy_state(source).items():
        assert torch.equal(ours[key], value), key

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
