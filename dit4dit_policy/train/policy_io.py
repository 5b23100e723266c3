"""The trainer's use of the model package: build, initialise from a checkpoint, export, loss module."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dit4dit_policy.errors import CheckpointError

logger = logging.getLogger(__name__)


class LossModule(nn.Module):
    """``forward(batch) = policy.compute_loss(batch)``.

    DDP/FSDP synchronise gradients only for computations that run through the wrapped module's
    ``forward``; ``compute_loss`` is a plain method, so the trainer wraps this module instead.
    """

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The loss dict of :meth:`DiT4DiTPolicy.compute_loss`."""
        return self.policy.compute_loss(batch)


def init_from_checkpoint(
    policy: nn.Module, directory: str | Path, allow_partial: bool = False
) -> dict[str, int]:
    """Load weights of a policy checkpoint into a freshly built ``policy`` (``--init-from``).

    The state/action layers have the model's padded dims (e.g. 64/32 for GR1 29-DoF and G1 16-DoF),
    so a checkpoint of another embodiment loads unchanged; only the normalisation statistics come
    from the new data. Frozen text-encoder tensors are loaded when the encoder is built from config.

    Args:
        policy: the new policy.
        directory: checkpoint directory with ``model.safetensors``.
        allow_partial: skip tensors whose shape differs (e.g. LIBERO's 8-D action head into a
            32-D one) instead of failing; they keep their fresh initialisation.

    Returns:
        Counts ``loaded``, ``skipped`` (shape mismatch), ``missing`` (not in the checkpoint).

    Raises:
        CheckpointError: missing/corrupt weights, a shape mismatch without ``allow_partial``, or
            no tensor in common.
    """
    from safetensors.torch import load_file

    from dit4dit_policy.model.checkpoint import TEXT_PREFIX, WEIGHTS

    path = Path(directory) / WEIGHTS
    if not path.is_file():
        raise CheckpointError(
            f"--init-from {directory}: no {WEIGHTS} there (expected a policy checkpoint directory)"
        )
    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for truncated files
        raise CheckpointError(f"--init-from {path} is unreadable: {exc}") from exc
    own = policy.state_dict()
    text = {k[len(TEXT_PREFIX) :]: v for k, v in state.items() if k.startswith(TEXT_PREFIX)}
    module = {k: v for k, v in state.items() if not k.startswith(TEXT_PREFIX)}
    mismatched = [k for k, v in module.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if mismatched and not allow_partial:
        details = ", ".join(f"{k} {tuple(module[k].shape)}→{tuple(own[k].shape)}" for k in mismatched[:8])
        raise CheckpointError(
            f"--init-from {directory}: {len(mismatched)} tensors have other shapes than the model "
            f"({details}); "
            "use the same padded state/action dims or set init_from_partial=true"
        )
    usable = {k: v for k, v in module.items() if k in own and k not in mismatched}
    if not usable:
        raise CheckpointError(f"--init-from {directory}: no tensor matches the model's parameter names")
    missing = sorted(set(own) - set(usable))
    policy.load_state_dict(usable, strict=False)
    encoder = getattr(policy, "text_encoder", None)
    if text and encoder is not None and getattr(encoder, "built_from_config", False):
        encoder.load_state_dict(text)
    counts = {"loaded": len(usable), "skipped": len(mismatched), "missing": len(missing)}
    logger.info("initialised from %s: %s", directory, counts)
    if missing:
        logger.warning(
            "--init-from: %d tensors not in the checkpoint keep their initialisation: %s",
            len(missing),
            ", ".join(missing[:8]),
        )
    return counts


def enable_gradient_checkpointing(policy: nn.Module) -> bool:
    """Turn on activation checkpointing in the video DiT.

    Returns:
        True if the model supports it (``policy.set_gradient_checkpointing`` or the diffusers
        transformer flag honoured by the model's forward), False otherwise (a warning is logged).
    """
    setter = getattr(policy, "set_gradient_checkpointing", None)
    if callable(setter):
        setter(True)
        return True
    logger.warning("this model does not support gradient checkpointing; training without it")
    return False


def export_policy(policy: nn.Module, directory: Path, prompts: Sequence[str]) -> Path:
    """Write an inference checkpoint (weights, config, stats, contract, cached prompts) atomically."""
    from dit4dit_policy.model.checkpoint import save_checkpoint

    return save_checkpoint(policy, directory, prompts=list(prompts), overwrite=True)
