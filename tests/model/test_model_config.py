import dataclasses

import pytest
import torch

from dit4dit_policy import config as config_loader
from dit4dit_policy.errors import ConfigError
from dit4dit_policy.model.build import transformer_kwargs
from dit4dit_policy.model.config import PRESETS, SCALED_FACTOR, load_model_config, preset_config
from dit4dit_policy.model.flops import meta_policy


def test_every_preset_loads_and_round_trips(tmp_path):
    for name in PRESETS:
        cfg = preset_config(name)
        path = tmp_path / f"{name}.yaml"
        config_loader.save(cfg, path)
        assert config_loader.load(type(cfg), path) == cfg


def test_cosmos25_numbers_from_the_spec():
    cfg = preset_config("cosmos25_2b")
    assert cfg.video.hidden_size == 2048 and cfg.video.num_layers == 28 and cfg.video.extract_layer == 17
    assert cfg.text.embed_dim == 100352 and cfg.text.max_length == 512
    assert cfg.num_pixel_frames == 9 and cfg.num_latent_frames == 3
    assert (cfg.horizon, cfg.state_dim, cfg.action_dim) == (16, 64, 32)
    assert transformer_kwargs(cfg)["crossattn_proj_in_channels"] == 100352
    libero = preset_config("cosmos25_2b_libero")
    assert (libero.num_pixel_frames, libero.num_latent_frames, libero.horizon) == (5, 2, 8)
    assert (libero.state_dim, libero.action_dim, libero.embodiment) == (16, 8, "franka_libero")
    assert preset_config("cosmos25_2b_robocasa_gr1").embodiment == "gr1_29dof"


def test_scaled_keeps_depth_resolution_and_lengths_and_divides_widths():
    full, scaled = preset_config("cosmos25_2b"), preset_config("scaled")
    for section, fields in {
        "video": ("num_layers", "extract_layer"),
        "text": ("num_hidden_layers", "max_length"),
        "action": ("num_layers", "num_inference_timesteps"),
        "vae": ("dim_mult", "num_res_blocks"),
    }.items():
        for field in fields:
            assert getattr(getattr(scaled, section), field) == getattr(getattr(full, section), field), field
    assert scaled.image_size == full.image_size and scaled.num_pixel_frames == full.num_pixel_frames
    widths = [
        (full.video.hidden_size, scaled.video.hidden_size),
        (full.video.text_embed_dim, scaled.video.text_embed_dim),
        (full.video.adaln_lora_dim, scaled.video.adaln_lora_dim),
        (full.vae.base_dim, scaled.vae.base_dim),
        (full.text.hidden_size, scaled.text.hidden_size),
        (full.text.intermediate_size, scaled.text.intermediate_size),
        (full.text.vocab_size, scaled.text.vocab_size),
        (full.action.input_embedding_dim, scaled.action.input_embedding_dim),
        (full.action.hidden_size, scaled.action.hidden_size),
    ]
    assert all(big == small * SCALED_FACTOR for big, small in widths), widths


def test_tiny_is_small():
    policy = meta_policy(preset_config("tiny"))
    total = sum(p.numel() for p in policy.parameters()) + sum(
        p.numel() for p in policy.text_encoder.model.parameters()
    )
    assert total < 5_000_000


def test_overrides_yaml_and_errors(tmp_path):
    cfg = load_model_config("tiny", overrides=["--model.image_size=[64,64]", "--video.num_layers=3"])
    assert cfg.image_size == (64, 64) and cfg.video.num_layers == 3
    path = tmp_path / "m.yaml"
    path.write_text("action:\n  num_layers: 2\n")
    assert load_model_config("tiny", path).action.num_layers == 2
    with pytest.raises(ConfigError, match=r"unknown model preset 'huge'.*tiny"):
        load_model_config("huge")
    with pytest.raises(ConfigError, match=r"unknown key 'video\.num_blocks'"):
        load_model_config("tiny", overrides=["--video.num_blocks=3"])
    with pytest.raises(ConfigError, match="multiples of 16"):
        load_model_config("tiny", overrides=["--image_size=[100,96]"])
    with pytest.raises(ConfigError, match="extract_layer must be in"):
        load_model_config("tiny", overrides=["--video.extract_layer=4"])
    with pytest.raises(ConfigError, match="at least 2 latent frames"):
        load_model_config("tiny", overrides=["--video_delta_indices=[0,1,2]"])


def test_meta_build_of_the_full_model_matches_the_spec_sizes():
    policy = meta_policy(preset_config("cosmos25_2b"))
    transformer = sum(p.numel() for p in policy.backbone.transformer.parameters())
    head = sum(p.numel() for p in policy.action_head.parameters())
    assert transformer == pytest.approx(2.0592e9, rel=1e-3)  # model_spec §1.2 (measured)
    assert head == pytest.approx(163.28e6, rel=1e-3)  # model_spec §4 (measured)
    assert all(p.device == torch.device("meta") for p in policy.parameters())
    assert dataclasses.replace(policy.config).preset == "cosmos25_2b_g1"
