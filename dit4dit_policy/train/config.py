"""Training configuration: one typed tree loaded with ``dit4dit_policy.config`` (unknown keys are errors).

Recipe defaults are the paper's (model_spec §5): AdamW (0.9, 0.95), eps 1e-8, weight decay 1e-8,
linear warm-up (5000 steps) then cosine to 0.05× each group's learning rate, gradient clipping
1.0, video DiT lr 1e-5 (1e-4 for the G1 fine-tune) and action head lr 1e-4, bf16 on GPU.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from dit4dit_policy import config as config_loader
from dit4dit_policy.errors import ConfigError


@dataclasses.dataclass
class DataConfig:
    """Datasets, split and loading.

    Attributes:
        datasets: LeRobot dataset directories (one embodiment, one fps).
        val_episodes: episodes held out for validation (chosen at random with ``split_seed``).
        split_seed: seed of the train/validation split.
        skip_short_episodes: drop episodes shorter than the horizon (warning) instead of failing.
        frame_cache_dir: decoded-frame cache directory (default ``<output_dir>/frame_cache``).
        frame_cache_resolution: ``native`` (recorded size: train = serve), ``model`` (pre-resized
            with the shared transform), ``auto`` (native if it fits ``frame_cache_max_gb``).
        frame_cache_max_gb: size limit of an ``auto`` native cache [GiB].
        decode_threads: episodes decoded concurrently while building the cache.
        num_workers: DataLoader worker processes per rank.
        pin_memory: page-locked batches (``null``: on when training on CUDA).
        prefetch_factor: batches prefetched per worker.
    """

    datasets: list[Path] = dataclasses.field(default_factory=list)
    val_episodes: int = 0
    split_seed: int = 0
    skip_short_episodes: bool = False
    frame_cache_dir: Path | None = None
    frame_cache_resolution: Literal["auto", "native", "model"] = "auto"
    frame_cache_max_gb: float = 32.0
    decode_threads: int = 2
    num_workers: int = 2
    pin_memory: bool | None = None
    prefetch_factor: int = 2

    def __post_init__(self) -> None:
        if (
            self.val_episodes < 0
            or self.num_workers < 0
            or self.decode_threads < 1
            or self.prefetch_factor < 1
        ):
            raise ValueError(
                "val_episodes and num_workers must be >= 0, decode_threads and prefetch_factor >= 1"
            )
        if self.frame_cache_max_gb <= 0:
            raise ValueError(f"frame_cache_max_gb must be > 0, got {self.frame_cache_max_gb}")


@dataclasses.dataclass
class OptimConfig:
    """AdamW, parameter groups and the schedule (model_spec §5).

    Attributes:
        lr_backbone: video DiT learning rate (1e-5; 1e-4 for G1).
        lr_action_head: action head learning rate (1e-4).
        betas: AdamW betas (0.9, 0.95).
        eps: AdamW epsilon (1e-8).
        weight_decay: AdamW weight decay (1e-8; the authors' ``trainer.weight_decay: 0.0`` is dead).
        warmup_steps: linear warm-up from 0 (5000).
        min_lr_ratio: cosine floor as a fraction of each group's lr (5e-7 / 1e-5 = 0.05).
        grad_clip: global gradient-norm clip (1.0).
    """

    lr_backbone: float = 1e-5
    lr_action_head: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 1e-8
    warmup_steps: int = 5000
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        if self.lr_backbone < 0 or self.lr_action_head < 0:
            raise ValueError("learning rates must be >= 0")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be in [0, 1), got {self.betas}")
        if self.warmup_steps < 0 or not 0 <= self.min_lr_ratio <= 1 or self.grad_clip <= 0:
            raise ValueError("warmup_steps >= 0, min_lr_ratio in [0, 1] and grad_clip > 0 required")


@dataclasses.dataclass
class LoopConfig:
    """The training loop.

    Attributes:
        max_steps: optimiser steps (80k LIBERO, 200k RoboCasa, 100k G1 in the paper).
        batch_size: samples per device per micro-step.
        grad_accum_steps: micro-steps per optimiser step.
        mixed_precision: ``auto`` (bf16 on CUDA, fp32 on CPU), ``no``, ``bf16``.
        gradient_checkpointing: recompute activations of the video DiT in backward (less memory).
        find_unused_parameters: DDP option, for configurations that leave parameters unused.
        seed: base seed (each rank adds its rank, like the authors' ``seed + rank``).
        log_every: steps between metric records.
        val_every: steps between validations (0 = never); needs ``data.val_episodes`` > 0.
        val_batches: batches per validation (fixed, spread over the held-out samples).
        save_every: steps between resumable checkpoints (the last step is always saved).
        keep_checkpoints: resumable checkpoints kept (older ones are deleted).
        tensorboard: also write TensorBoard event files.
        wandb_project: log to Weights & Biases under this project (needs ``wandb`` installed).
        progress: show a progress bar (rate, ETA) on the main process.
        cpu: train on the CPU even where CUDA exists (tests).
        stop_at_step: save and stop at this step without finishing the schedule (time-limited
            job slots: the next invocation resumes); None = run to ``max_steps``.
    """

    max_steps: int = 100_000
    batch_size: int = 8
    grad_accum_steps: int = 1
    mixed_precision: Literal["auto", "no", "bf16"] = "auto"
    gradient_checkpointing: bool = False
    find_unused_parameters: bool = False
    seed: int = 42
    log_every: int = 10
    val_every: int = 1000
    val_batches: int = 8
    save_every: int = 5000
    keep_checkpoints: int = 3
    tensorboard: bool = True
    wandb_project: str | None = None
    progress: bool = True
    cpu: bool = False
    stop_at_step: int | None = None

    def __post_init__(self) -> None:
        if self.stop_at_step is not None and self.stop_at_step < 1:
            raise ValueError(f"stop_at_step must be >= 1 or null, got {self.stop_at_step}")
        for name in ("max_steps", "batch_size", "grad_accum_steps", "log_every", "val_batches", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.val_every < 0 or self.keep_checkpoints < 1:
            raise ValueError("val_every must be >= 0 and keep_checkpoints >= 1")


@dataclasses.dataclass
class TrainConfig:
    """Everything ``dit4dit train`` needs.

    Attributes:
        output_dir: run directory (checkpoints, metrics, exported policy).
        preset: model preset (``tiny``, ``cosmos25_2b``, ``cosmos25_2b_robocasa_gr1``,
            ``cosmos25_2b_libero``).
        model: overrides of the preset's model config (any ``ModelConfig`` field, nested).
        init_from: policy checkpoint directory to initialise the weights from (sim → real
            fine-tuning; a change of embodiment works through the padded state/action dims).
        init_from_partial: with ``init_from``, skip tensors whose shapes differ (they keep their
            fresh initialisation) instead of failing.
        resume: continue from the newest checkpoint in ``output_dir`` if there is one.
        data: datasets and loading. optim: optimiser. train: the loop.
    """

    output_dir: Path = Path("runs/default")
    preset: str = "tiny"
    model: dict[str, Any] = dataclasses.field(default_factory=dict)
    init_from: Path | None = None
    init_from_partial: bool = False
    resume: bool = True
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    train: LoopConfig = dataclasses.field(default_factory=LoopConfig)

    def model_config(self) -> Any:
        """The resolved ``model.config.ModelConfig`` (preset, then ``model`` overrides).

        Raises:
            ConfigError: unknown preset or model key, wrong type, failed range check.
        """
        from dit4dit_policy.model.config import ModelConfig, preset_config

        data = _merge(config_loader.to_dict(preset_config(self.preset)), self.model)
        return config_loader.from_dict(ModelConfig, data, source=f"preset {self.preset!r} + model overrides")


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_train_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Load a training config file plus ``--a.b=value`` overrides, and resolve the model config.

    Raises:
        ConfigError: any invalid key or value (naming the key and the file), or no dataset.
    """
    cfg = config_loader.load(TrainConfig, path, overrides)
    cfg.model_config()  # validate the model section now, with the file in the message
    if not cfg.data.datasets:
        raise ConfigError(f"config error in {path}: 'data.datasets' must list at least one dataset directory")
    return cfg
