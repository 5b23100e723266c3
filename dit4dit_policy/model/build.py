"""Construction of the policy's components from a :class:`ModelConfig` (random init or local weights).

``build_policy`` is what the trainer calls; checkpoints rebuild the same modules and then load
weights. A local Cosmos-Predict2.5-2B directory (diffusers layout: ``transformer/``, ``vae/``,
``text_encoder/``, ``tokenizer/``; revision ``diffusers/base/post-trained``) is read with
``local_files_only`` — nothing is downloaded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from dit4dit_policy.data.embodiment import Embodiment, get_embodiment
from dit4dit_policy.data.transforms import NormStats
from dit4dit_policy.errors import ConfigError, SchemaMismatchError
from dit4dit_policy.model.action_dit import ActionHead
from dit4dit_policy.model.config import LATENT_CHANNELS, ModelConfig
from dit4dit_policy.model.text_encoder import PromptEncoder
from dit4dit_policy.model.video_backbone import VideoBackbone

logger = logging.getLogger(__name__)


def transformer_kwargs(cfg: ModelConfig) -> dict[str, Any]:
    """``CosmosTransformer3DModel`` arguments (Cosmos-2.5-Predict-Base-2B layout; model_spec §1.2)."""
    v = cfg.video
    return dict(
        in_channels=LATENT_CHANNELS + 1,
        out_channels=LATENT_CHANNELS,
        num_attention_heads=v.num_attention_heads,
        attention_head_dim=v.attention_head_dim,
        num_layers=v.num_layers,
        mlp_ratio=v.mlp_ratio,
        text_embed_dim=v.text_embed_dim,
        adaln_lora_dim=v.adaln_lora_dim,
        max_size=(128, 240, 240),
        patch_size=(1, 2, 2),
        rope_scale=tuple(v.rope_scale),
        concat_padding_mask=True,
        extra_pos_embed_type=None,
        use_crossattn_projection=True,
        crossattn_proj_in_channels=cfg.text.embed_dim,
        encoder_hidden_states_channels=v.text_embed_dim,
    )


def vae_kwargs(cfg: ModelConfig) -> dict[str, Any]:
    """``AutoencoderKLWan`` constructor arguments (Wan2.1; model_spec §1.4).

    ``latents_mean``/``latents_std`` are included only when the config sets them (otherwise the
    diffusers defaults, Wan2.1's statistics, apply).
    """
    kwargs: dict[str, Any] = dict(
        base_dim=cfg.vae.base_dim,
        z_dim=LATENT_CHANNELS,
        dim_mult=list(cfg.vae.dim_mult),
        num_res_blocks=cfg.vae.num_res_blocks,
        attn_scales=[],
        temperal_downsample=[False, True, True],
    )
    if cfg.vae.latents_mean is not None:
        kwargs.update(latents_mean=list(cfg.vae.latents_mean), latents_std=list(cfg.vae.latents_std))
    return kwargs


#: ``AutoencoderKLWan`` config fields a loaded VAE must share with the model config.
_VAE_SHAPE_KEYS = ("base_dim", "z_dim", "dim_mult", "num_res_blocks")


def load_pretrained_vae(cfg: ModelConfig) -> Any:
    """The VAE of ``cfg.vae.pretrained``, with the config's latent statistics applied.

    When ``cfg.vae.latents_mean/std`` are None they are filled in **in place** from the loaded
    VAE's ``config.json``, so the resolved config (saved with every checkpoint) rebuilds the same
    normalisation without the VAE directory.

    Raises:
        ConfigError: the directory has no ``config.json``, or its shape fields differ from the config.
    """
    from diffusers import AutoencoderKLWan

    root = Path(cfg.vae.pretrained)
    if not (root / "config.json").is_file():
        raise ConfigError(
            f"vae.pretrained {root} lacks config.json (expected an AutoencoderKLWan directory in the "
            "diffusers layout, e.g. written by `dit4dit train-vae`)"
        )
    vae = AutoencoderKLWan.from_pretrained(root, local_files_only=True)
    _check_loaded("vae", vae.config, {k: vae_kwargs(cfg)[k] for k in _VAE_SHAPE_KEYS})
    if cfg.vae.latents_mean is None:
        cfg.vae.latents_mean = tuple(float(v) for v in vae.config.latents_mean)
        cfg.vae.latents_std = tuple(float(v) for v in vae.config.latents_std)
    else:
        vae.register_to_config(latents_mean=list(cfg.vae.latents_mean), latents_std=list(cfg.vae.latents_std))
    return vae


def resolve_dtype(cfg: ModelConfig, device: torch.device | str) -> torch.dtype:
    """Backbone/text dtype: ``auto`` → bf16 on CUDA, fp32 elsewhere."""
    if cfg.dtype == "bfloat16":
        return torch.bfloat16
    if cfg.dtype == "float32":
        return torch.float32
    return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32


def _check_loaded(name: str, loaded: Any, expected: dict[str, Any]) -> None:
    bad = []
    for key, value in expected.items():
        have = loaded.get(key) if isinstance(loaded, dict) else getattr(loaded, key, None)
        norm = list(value) if isinstance(value, (tuple, list)) else value
        have_norm = list(have) if isinstance(have, (tuple, list)) else have
        if have_norm != norm:
            bad.append(f"{key}: checkpoint {have!r}, config {value!r}")
    if bad:
        raise ConfigError(f"pretrained {name} does not match the model config: " + "; ".join(bad))


def build_backbone(cfg: ModelConfig, *, seed: int = 0) -> VideoBackbone:
    """Video DiT + VAE: from ``cfg.pretrained_dir`` if set, else random init (deterministic in ``seed``).

    ``cfg.vae.pretrained`` replaces the VAE (see :func:`load_pretrained_vae`, which fills in the
    config's latent statistics).
    """
    from diffusers import AutoencoderKLWan, CosmosTransformer3DModel

    t_kwargs, v_kwargs = transformer_kwargs(cfg), vae_kwargs(cfg)
    if cfg.pretrained_dir is not None:
        root = Path(cfg.pretrained_dir)
        for sub in ("transformer", "vae"):
            if not (root / sub / "config.json").is_file():
                raise ConfigError(
                    f"pretrained_dir {root} lacks {sub}/config.json (expected a Cosmos-Predict2.5-2B "
                    "directory in the diffusers layout, revision diffusers/base/post-trained)"
                )
        transformer = CosmosTransformer3DModel.from_pretrained(
            root, subfolder="transformer", local_files_only=True
        )
        _check_loaded("transformer", transformer.config, t_kwargs)
        if cfg.vae.pretrained is None:
            vae = AutoencoderKLWan.from_pretrained(root, subfolder="vae", local_files_only=True)
            _check_loaded("vae", vae.config, {k: v_kwargs[k] for k in _VAE_SHAPE_KEYS})
            if cfg.vae.latents_mean is not None:
                vae.register_to_config(
                    latents_mean=v_kwargs["latents_mean"], latents_std=v_kwargs["latents_std"]
                )
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            transformer = CosmosTransformer3DModel(**t_kwargs)
            vae = AutoencoderKLWan(**v_kwargs) if cfg.vae.pretrained is None else None
    if cfg.vae.pretrained is not None:
        vae = load_pretrained_vae(cfg)
    vae.eval()
    return VideoBackbone(transformer.float(), vae.float(), cfg)


def build_text_encoder(cfg: ModelConfig, *, seed: int = 0) -> PromptEncoder:
    """Text encoder: ``text.pretrained``, else ``<pretrained_dir>/text_encoder``, else built from config."""
    text = cfg.text
    if text.pretrained is not None:
        return PromptEncoder.from_pretrained(text.pretrained, text, text.tokenizer)
    if cfg.pretrained_dir is not None:
        root = Path(cfg.pretrained_dir)
        return PromptEncoder.from_pretrained(
            root / "text_encoder", text, text.tokenizer or root / "tokenizer"
        )
    return PromptEncoder.from_config(text, seed=seed + 1)


def build_action_head(cfg: ModelConfig, *, seed: int = 0) -> ActionHead:
    """Action head with random init (float32)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 2)
        return ActionHead(
            cfg.action, cfg.action_dim, cfg.state_dim, cfg.horizon, cfg.video.hidden_size
        ).float()


def check_compatible(cfg: ModelConfig, embodiment: Embodiment, stats: NormStats | None) -> None:
    """The embodiment and statistics fit the model dims.

    Raises:
        SchemaMismatchError: raw dims exceed the model's, or statistics have the wrong dims.
    """
    if embodiment.sincos_state_dim > cfg.state_dim:
        raise SchemaMismatchError(
            f"embodiment '{embodiment.name}' needs state_dim >= {embodiment.sincos_state_dim} (sin/cos), "
            f"model has {cfg.state_dim}"
        )
    if embodiment.action_dim > cfg.action_dim:
        raise SchemaMismatchError(
            f"embodiment '{embodiment.name}' needs action_dim >= {embodiment.action_dim}, "
            f"model has {cfg.action_dim}"
        )
    if stats is not None:
        if stats.action.dim != embodiment.action_dim:
            raise SchemaMismatchError(
                f"action statistics have {stats.action.dim} dims, embodiment '{embodiment.name}' has "
                f"{embodiment.action_dim}"
            )
        if stats.state.dim != embodiment.state_dim:
            raise SchemaMismatchError(
                f"state statistics have {stats.state.dim} dims, embodiment '{embodiment.name}' has "
                f"{embodiment.state_dim}"
            )


def build_policy(
    model_config: ModelConfig,
    stats: NormStats | None,
    embodiment_name: str | None = None,
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    prompt_cache_dir: str | Path | None = None,
):
    """A fresh :class:`~dit4dit_policy.model.policy.DiT4DiTPolicy` for training.

    Args:
        model_config: resolved config (a preset plus overrides).
        stats: normalisation statistics (may be None for pure training; required to predict).
        embodiment_name: overrides ``model_config.embodiment`` when given.
        device: target device; the backbone uses :func:`resolve_dtype`, the action head fp32.
        seed: seed of the random initialisation of config-built modules.
        prompt_cache_dir: optional directory for cached prompt embeddings.

    Raises:
        ConfigError: bad pretrained directory. SchemaMismatchError: embodiment/statistics do not fit.
        KeyError: unknown embodiment.
    """
    from dit4dit_policy.model.policy import DiT4DiTPolicy
    from dit4dit_policy.model.prompt_cache import PromptCache

    if embodiment_name is not None and embodiment_name != model_config.embodiment:
        model_config.embodiment = embodiment_name
    embodiment = get_embodiment(model_config.embodiment)
    check_compatible(model_config, embodiment, stats)
    policy = DiT4DiTPolicy(
        model_config,
        build_backbone(model_config, seed=seed),
        build_action_head(model_config, seed=seed),
        build_text_encoder(model_config, seed=seed),
        stats=stats,
        embodiment=embodiment,
        prompt_cache=PromptCache(prompt_cache_dir, model_config.prompt_cache_size),
    )
    return policy.to_device(device)


__all__ = [
    "build_action_head",
    "build_backbone",
    "build_policy",
    "build_text_encoder",
    "check_compatible",
    "load_pretrained_vae",
    "resolve_dtype",
    "transformer_kwargs",
    "vae_kwargs",
]
