"""Policy checkpoints: one directory, written atomically, plus the authors' released state dicts.

Layout (format version 1)::

    <dir>/model.safetensors   video DiT + VAE + action head (+ the text encoder when it is built
                              from config, under ``text_encoder.``); the 7 B pretrained text encoder
                              is never copied — it stays in its own directory
    <dir>/config.yaml         resolved ModelConfig (dit4dit_policy.config.save)
    <dir>/stats.json          NormStats (min/max used for actions)
    <dir>/contract.json       format_version, embodiment, joint names, action dt, horizon, image size,
                              video keys, raw and model state/action dims, text encoder id
    <dir>/prompt_cache/       optional cached prompt embeddings (``save_checkpoint(prompts=...)``,
                              ``dit4dit cache-prompts``)

The directory is assembled under a temporary name next to the target and renamed into place, so
a crash never leaves a half-written checkpoint (an existing one is replaced only when asked).

The authors' checkpoints (``torch.save`` of their ``DiT4DiT`` module's state dict) load through
:data:`AUTHORS_KEY_MAP` with ``torch.load(weights_only=True)``: their module names
(``backbone_interface.extractor.transformer.*``, ``action_model.*``, …) map prefix-for-prefix onto
ours because the submodules below those prefixes use the same names (diffusers classes and the
action head's layout; see ``model/action_dit.py``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from dit4dit_policy import config as config_loader
from dit4dit_policy import schema
from dit4dit_policy.data.embodiment import get_embodiment
from dit4dit_policy.data.transforms import NormStats, video_frame_indices
from dit4dit_policy.errors import CheckpointError, ConfigError
from dit4dit_policy.model.build import (
    build_action_head,
    build_backbone,
    build_policy,
    build_text_encoder,
    check_compatible,
)
from dit4dit_policy.model.config import ModelConfig
from dit4dit_policy.model.policy import DiT4DiTPolicy
from dit4dit_policy.model.prompt_cache import PromptCache
from dit4dit_policy.model.text_encoder import PromptEncoder

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
WEIGHTS, CONFIG, STATS, CONTRACT, PROMPTS = (
    "model.safetensors",
    "config.yaml",
    "stats.json",
    "contract.json",
    "prompt_cache",
)
TEXT_PREFIX = "text_encoder."

#: Authors' module prefix → ours (``DiT4DiT.py``: ``backbone_interface`` / ``action_model``;
#: ``Cosmos25.py``: ``extractor.{transformer, vae, text_encoder}``).
AUTHORS_KEY_MAP = (
    ("backbone_interface.extractor.transformer.", "backbone.transformer."),
    ("backbone_interface.extractor.vae.", "backbone.vae."),
    ("backbone_interface.extractor.text_encoder.", TEXT_PREFIX),
    ("action_model.", "action_head."),
)


def _listing(keys: Sequence[str], limit: int = 12) -> str:
    keys = sorted(keys)
    more = f" … (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def policy_state(policy: DiT4DiTPolicy) -> dict[str, torch.Tensor]:
    """Everything ``model.safetensors`` stores (CPU, contiguous, no shared storage)."""
    state = dict(policy.state_dict())
    state.update({TEXT_PREFIX + k: v for k, v in policy.text_encoder.state_dict().items()})
    out, seen = {}, set()
    for key, tensor in state.items():
        tensor = tensor.detach().cpu().contiguous()
        ptr = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        out[key] = tensor.clone() if ptr in seen else tensor
        seen.add(ptr)
    return out


def contract(policy: DiT4DiTPolicy) -> dict:
    """The data contract written to ``contract.json``."""
    cfg, emb = policy.config, policy.embodiment
    return {
        "format_version": FORMAT_VERSION,
        "embodiment": emb.name,
        "joint_names": list(emb.joint_names),
        "action_dt_s": schema.ACTION_DT_S,
        "horizon": cfg.horizon,
        "image_size": list(cfg.image_size),
        "video_keys": list(emb.video_keys),
        "video_frame_indices": list(
            video_frame_indices(cfg.video_delta_indices, cfg.action_video_freq_ratio)
        ),
        "raw_state_dim": emb.state_dim,
        "raw_action_dim": emb.action_dim,
        "model_state_dim": cfg.state_dim,
        "model_action_dim": cfg.action_dim,
        "text_encoder_id": policy.text_encoder.encoder_id,
        "preset": cfg.preset,
    }


def save_checkpoint(
    policy: DiT4DiTPolicy, directory: str | Path, *, prompts: Sequence[str] = (), overwrite: bool = False
) -> Path:
    """Write ``policy`` to ``directory`` atomically.

    Args:
        policy: the policy (any device; weights are copied to CPU).
        directory: target directory (must not exist unless ``overwrite``).
        prompts: instructions whose embeddings are cached inside the checkpoint (``prompt_cache/``).
        overwrite: replace an existing checkpoint (the old one is removed only after the new is in place).

    Returns:
        The checkpoint directory.

    Raises:
        CheckpointError: the target exists and ``overwrite`` is False.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise CheckpointError(
            f"checkpoint directory {directory} already exists (pass overwrite=True to replace it)"
        )
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
        save_file(
            policy_state(policy),
            str(tmp / WEIGHTS),
            metadata={"format": "dit4dit", "format_version": str(FORMAT_VERSION)},
        )
        config_loader.save(policy.config, tmp / CONFIG)
        if policy.stats is not None:
            policy.stats.save(tmp / STATS)
        (tmp / CONTRACT).write_text(json.dumps(contract(policy), indent=1), encoding="utf-8")
        if prompts:
            cache = PromptCache(tmp / PROMPTS, policy.config.prompt_cache_size)
            embeds = policy.prompt_embeddings(list(prompts))
            for prompt, value in zip(prompts, embeds, strict=True):
                cache.put(policy.prompt_cache_key(prompt), prompt, value, policy.text_encoder.encoder_id)
        if directory.exists():
            backup = directory.with_name(f".{directory.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(directory, backup)
            os.replace(tmp, directory)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return directory


#: contract.json fields that must agree with the config and the embodiment.
_CONTRACT_FIELDS = (
    "embodiment",
    "horizon",
    "image_size",
    "video_keys",
    "video_frame_indices",
    "raw_state_dim",
    "raw_action_dim",
    "model_state_dim",
    "model_action_dim",
)


def _check_contract(stored: dict, expected: dict, path: Path) -> None:
    bad = [
        f"{k}: {stored.get(k)!r} (config gives {expected[k]!r})"
        for k in _CONTRACT_FIELDS
        if stored.get(k) != expected[k]
    ]
    if bad:
        raise CheckpointError(f"{path} disagrees with the checkpoint config: " + "; ".join(bad))


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"weights file {path} is corrupt or truncated ({exc}); expected a complete safetensors file"
        ) from exc


def _missing_encoder(encoder_id: str, cfg: ModelConfig, reason: str) -> PromptEncoder:
    def unavailable(*_args):
        raise CheckpointError(
            f"a prompt is not in the prompt cache and the text encoder is unavailable ({reason}); "
            "precompute embeddings with `dit4dit cache-prompts` or set text.pretrained"
        )

    return PromptEncoder(cfg.text, encoder_id, loader=unavailable)


def _load_state(
    policy: DiT4DiTPolicy,
    state: Mapping[str, torch.Tensor],
    source: str,
    strict: bool = True,
    assign: bool = False,
) -> None:
    text_state = {k[len(TEXT_PREFIX) :]: v for k, v in state.items() if k.startswith(TEXT_PREFIX)}
    module_state = {k: v for k, v in state.items() if not k.startswith(TEXT_PREFIX)}
    expected = set(policy.state_dict())
    missing, unexpected = sorted(expected - set(module_state)), sorted(set(module_state) - expected)
    if policy.text_encoder.built_from_config and not text_state:
        missing.append(TEXT_PREFIX + "*")
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"{source} does not match the model: missing keys [{_listing(missing)}]; "
            f"unexpected keys [{_listing(unexpected)}]"
        )
    if missing or unexpected:
        logger.warning(
            "%s: missing keys [%s]; unexpected keys [%s]", source, _listing(missing), _listing(unexpected)
        )
    try:
        policy.load_state_dict(
            {k: v for k, v in module_state.items() if k in expected}, strict=strict, assign=assign
        )
    except RuntimeError as exc:
        raise CheckpointError(f"{source}: weights do not fit the model config: {exc}") from exc
    if text_state:
        if policy.text_encoder.built_from_config:
            policy.text_encoder.load_state_dict(text_state)
        else:
            logger.info(
                "%s: ignoring %d frozen text-encoder tensors (pretrained encoder in use)",
                source,
                len(text_state),
            )


def load_policy(
    directory: str | Path,
    device: torch.device | str = "cpu",
    *,
    prompt_cache_dir: str | Path | None = None,
    require_stats: bool = True,
) -> DiT4DiTPolicy:
    """Load a checkpoint written by :func:`save_checkpoint`, in eval mode.

    Args:
        directory: checkpoint directory.
        device: target device.
        prompt_cache_dir: prompt cache directory (default ``<directory>/prompt_cache``).
        require_stats: raise if ``stats.json`` is missing (predicting needs it).

    Raises:
        CheckpointError: missing/corrupt/truncated files, unknown format version, weights that do
            not match the config (missing or unexpected keys are listed).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint directory {directory} does not exist")
    for name in (CONTRACT, CONFIG, WEIGHTS):
        if not (directory / name).is_file():
            raise CheckpointError(
                f"checkpoint {directory} lacks {name} (expected {CONTRACT}, {CONFIG}, {WEIGHTS}, {STATS})"
            )
    try:
        meta = json.loads((directory / CONTRACT).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{directory / CONTRACT} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        version = meta.get("format_version") if isinstance(meta, dict) else None
        raise CheckpointError(
            f"{directory / CONTRACT}: format_version {version!r} is not supported (expected {FORMAT_VERSION})"
        )
    try:
        cfg = config_loader.load(ModelConfig, directory / CONFIG)
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint config is invalid: {exc}") from exc
    stats = None
    if (directory / STATS).is_file():
        stats = NormStats.load(directory / STATS)
    elif require_stats:
        raise CheckpointError(
            f"checkpoint {directory} lacks {STATS} (normalisation statistics are required to predict)"
        )
    embodiment = get_embodiment(cfg.embodiment)
    check_compatible(cfg, embodiment, stats)
    state = _read_weights(directory / WEIGHTS)
    # Weights come from the checkpoint: build the modules on the meta device (no pretrained read,
    # no random initialisation of 2 B parameters) and assign the loaded tensors.
    with torch.device("meta"):
        backbone = build_backbone(
            dataclasses.replace(cfg, pretrained_dir=None, vae=dataclasses.replace(cfg.vae, pretrained=None))
        )
        action_head = build_action_head(cfg)
    try:
        text_encoder = build_text_encoder(cfg)
    except CheckpointError as exc:
        text_encoder = _missing_encoder(str(meta.get("text_encoder_id", "unknown")), cfg, str(exc))
    cache = PromptCache(prompt_cache_dir or directory / PROMPTS, cfg.prompt_cache_size)
    policy = DiT4DiTPolicy(
        cfg,
        backbone,
        action_head,
        text_encoder,
        stats=stats,
        embodiment=embodiment,
        prompt_cache=cache,
    )
    _check_contract(meta, contract(policy), directory / CONTRACT)
    _load_state(policy, state, str(directory / WEIGHTS), assign=True)
    policy.backbone.materialize_buffers()
    return policy.to_device(device).eval()


def map_authors_state_dict(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename the authors' keys with :data:`AUTHORS_KEY_MAP`; returns (mapped, unmatched keys)."""
    mapped, unmatched = {}, []
    for key, value in state.items():
        for theirs, ours in AUTHORS_KEY_MAP:
            if key.startswith(theirs):
                mapped[ours + key[len(theirs) :]] = value
                break
        else:
            unmatched.append(key)
    return mapped, unmatched


def export_authors_state_dict(policy: DiT4DiTPolicy) -> dict[str, torch.Tensor]:
    """Our weights under the authors' key names (inverse of :func:`map_authors_state_dict`)."""
    out = {}
    for key, value in policy_state(policy).items():
        for theirs, ours in AUTHORS_KEY_MAP:
            if key.startswith(ours):
                out[theirs + key[len(ours) :]] = value
                break
    return out


def load_authors_checkpoint(
    path: str | Path,
    model_config: ModelConfig,
    stats: NormStats | None,
    embodiment_name: str | None = None,
    *,
    device: torch.device | str = "cpu",
    strict: bool = True,
) -> DiT4DiTPolicy:
    """Build a policy from ``model_config`` and load an authors' checkpoint into it.

    Args:
        path: ``torch.save`` file of the authors' state dict (optionally nested under ``state_dict``,
            ``module`` or ``model``), or a ``.safetensors`` file with the same keys.
        model_config: the matching preset (e.g. ``cosmos25_2b_robocasa_gr1``); with ``pretrained_dir``
            set, the text encoder comes from there.
        stats: normalisation statistics (our ``NormStats``).
        embodiment_name: overrides the config's embodiment.
        device: target device.
        strict: every model key must be present and no unknown key may remain.

    Raises:
        CheckpointError: unreadable file, or (strict) missing/unexpected keys, listed by name.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"authors' checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        raw = _read_weights(path)
    else:
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for corrupt pickles
            raise CheckpointError(
                f"authors' checkpoint {path} cannot be read with torch.load(weights_only=True): {exc}"
            ) from exc
    for wrapper in ("state_dict", "module", "model"):
        if isinstance(raw, dict) and set(raw) == {wrapper}:
            raw = raw[wrapper]
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CheckpointError(f"authors' checkpoint {path} is not a state dict of tensors")
    mapped, unmatched = map_authors_state_dict(raw)
    if strict and unmatched:
        raise CheckpointError(f"{path}: keys outside the authors' key map: [{_listing(unmatched)}]")
    policy = build_policy(model_config, stats, embodiment_name)
    _load_state(policy, mapped, str(path), strict=strict)
    return policy.to_device(device).eval()


__all__ = [
    "AUTHORS_KEY_MAP",
    "FORMAT_VERSION",
    "export_authors_state_dict",
    "load_authors_checkpoint",
    "load_policy",
    "map_authors_state_dict",
    "save_checkpoint",
]
