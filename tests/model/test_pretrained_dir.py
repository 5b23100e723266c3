"""``pretrained_dir``: a local Cosmos-Predict2.5-2B directory in the diffusers layout, loaded offline.

The directory is what ``huggingface-cli download nvidia/Cosmos-Predict2.5-2B --revision
diffusers/base/post-trained --local-dir DIR`` leaves (model_spec §1.1): ``transformer/`` and ``vae/``
(diffusers ``config.json`` + ``diffusion_pytorch_model.safetensors``), ``text_encoder/`` and
``tokenizer/`` (transformers). The revision is chosen at download time; ``build.py`` reads the
directory with ``local_files_only=True`` and never passes a revision. Here each part is a tiny model
written with ``save_pretrained``.
"""

import shutil
import socket

import pytest
import torch
from diffusers import AutoencoderKLWan, CosmosTransformer3DModel

from dit4dit_policy.errors import ConfigError
from dit4dit_policy.model.build import build_backbone, build_policy, transformer_kwargs, vae_kwargs
from dit4dit_policy.model.text_encoder import PromptEncoder

#: Latent statistics stored in the directory's ``vae/config.json`` (not Wan2.1's defaults).
MEAN = [0.1 * i - 0.5 for i in range(16)]
STD = [1.0 + 0.05 * i for i in range(16)]


@pytest.fixture(scope="module")
def cosmos_dir(tmp_path_factory, tiny_config):
    cfg = tiny_config()
    root = tmp_path_factory.mktemp("Cosmos-Predict2.5-2B")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)  # not the seed of a config-built backbone
        # stored in bf16 (the GPU dtype); a CPU build must come back as exactly these values in fp32
        transformer = CosmosTransformer3DModel(**transformer_kwargs(cfg)).to(torch.bfloat16)
        vae = AutoencoderKLWan(**{**vae_kwargs(cfg), "latents_mean": MEAN, "latents_std": STD})
    transformer.save_pretrained(root / "transformer")
    vae.save_pretrained(root / "vae")
    text = PromptEncoder.from_config(cfg.text, seed=9)
    text.model.save_pretrained(root / "text_encoder")
    text.tokenizer.save_pretrained(root / "tokenizer")
    return root, transformer, vae, text


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access while loading a local directory: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _assert_same_weights(loaded: torch.nn.Module, saved: torch.nn.Module) -> None:
    loaded_state, saved_state = loaded.state_dict(), saved.state_dict()
    assert set(loaded_state) == set(saved_state)
    for name, tensor in saved_state.items():
        assert loaded_state[name].dtype == torch.float32, name
        assert torch.equal(loaded_state[name], tensor.float()), name


def test_local_cosmos_directory_loads_offline(cosmos_dir, tiny_config, g1_stats, observation, no_network):
    root, transformer, vae, text = cosmos_dir
    assert (root / "transformer" / "diffusion_pytorch_model.safetensors").is_file()
    assert (root / "vae" / "diffusion_pytorch_model.safetensors").is_file()
    policy = build_policy(tiny_config(f"--pretrained_dir={root}"), g1_stats).eval()
    backbone = policy.backbone
    _assert_same_weights(backbone.transformer, transformer)
    _assert_same_weights(backbone.vae, vae)
    random_init = build_backbone(tiny_config())
    assert not torch.equal(random_init.transformer.proj_out.weight, backbone.transformer.proj_out.weight)
    # normalisation (x − μ)/σ with the directory's vae/config.json statistics (model_spec §1.4, §7.5)
    assert backbone.latents_mean.flatten().tolist() == pytest.approx(MEAN)
    assert backbone.latents_std.flatten().tolist() == pytest.approx(STD)
    # the text encoder comes from text_encoder/ + tokenizer/, loaded only when a prompt is encoded
    assert not policy.text_encoder.loaded
    assert policy.text_encoder.encoder_id.startswith("pretrained-text_encoder-")
    assert torch.equal(policy.text_encoder.encode(["stack the cups"]), text.encode(["stack the cups"]))
    assert policy.predict_action_chunk(observation(), seed=0).shape == (1, 16, 16)


def test_local_cosmos_directory_must_match_the_config(cosmos_dir, tiny_config, tmp_path, no_network):
    root = cosmos_dir[0]
    with pytest.raises(ConfigError, match=r"pretrained transformer .* num_layers: checkpoint 4, config 3"):
        build_backbone(tiny_config(f"--pretrained_dir={root}", "--video.num_layers=3"))
    partial = tmp_path / "partial"
    shutil.copytree(root / "transformer", partial / "transformer")
    with pytest.raises(ConfigError, match=r"lacks vae/config\.json .* revision diffusers/base/post-trained"):
        build_backbone(tiny_config(f"--pretrained_dir={partial}"))
