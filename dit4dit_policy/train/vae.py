"""Train the Wan VAE of a from-scratch model (the ``tiny`` preset) as an autoencoder on robot frames.

Why: DiT4DiT freezes the VAE (model_spec §1.4) because the paper's VAE is Wan2.1's, pretrained on
web video. A model built from config has a *random* VAE instead, and a random ``AutoencoderKLWan``
is useless as a frozen encoder: on simulator frames its posterior std is ≈ 1.0 while the posterior
mean varies by ≈ 0.02 between scenes, so the sampled condition latent (mean + std·ε, the authors'
``latent_dist.sample()``) is ~50× more noise than image, and the normalised latents have a
per-channel spread of ≈ 0.03 instead of 1 (measured; docs/demo_policy/README.md). Training it
briefly as a β-VAE on the frames the policy will see fixes both: the posterior std falls well
below the between-frame spread, and the per-channel ``latents_mean/std`` are measured on the data
and stored in the VAE's ``config.json`` (which the policy config then copies; ``vae.pretrained``).

Objective per step: mean squared reconstruction error of ``batch_size`` single frames (the
policy's condition path: latent 0 of a causal Wan encode depends on frame 0 only) plus
``clip_batch_size`` clips of ``clip_frames`` frames at the policy's clip stride (the temporal path
that produces the future latents of the video loss), plus ``kl_weight`` × the mean per-element
KL divergence to N(0, I). AdamW, linear warm-up then cosine decay.

Output (``output_dir``)::

    vae/config.json, vae/diffusion_pytorch_model.safetensors   diffusers layout, with latents_mean/std
    metrics.jsonl      one record per log step (loss, mse, kl, lr, frames_per_s)
    summary.json       held-out PSNR, posterior std vs between-frame spread, latent statistics, timing
    reconstructions.png  held-out frames (top) and their reconstructions (bottom), if OpenCV is installed

``vae/`` is written under a temporary name and renamed into place, so a crash never leaves a
half-written VAE; an existing ``vae/`` is replaced only at the end of a successful run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dit4dit_policy import config as config_loader
from dit4dit_policy.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class VAETrainConfig:
    """Everything ``dit4dit train-vae`` needs (unknown keys are errors).

    Attributes:
        output_dir: run directory (see the module docstring).
        preset: model preset whose VAE shape and image size are trained (``tiny``).
        model: overrides of the preset's model config (e.g. ``image_size``, ``vae.base_dim``).
        datasets: LeRobot dataset directories (the embodiment's video keys are read).
        val_episodes: episodes held out for the PSNR / latent-statistics report.
        split_seed: seed of the train/validation split.
        frame_cache_dir: decoded-frame cache (default ``<output_dir>/frame_cache``); point it at
            the policy run's cache to decode the videos once for both.
        steps: optimiser steps.
        batch_size: single frames per step.
        clip_batch_size: clips per step (0 = frames only).
        clip_frames: frames per clip, ``1 + 4k`` (5: one future latent), at the model's clip stride.
        lr: peak AdamW learning rate.
        warmup_steps: linear warm-up steps.
        kl_weight: β of the mean per-element KL term (small: a near-deterministic encoder).
        seed: seed of the initialisation and the sampling.
        num_workers: DataLoader worker processes.
        log_every: steps between metric records.
        stats_frames: held-out + training frames encoded for ``latents_mean/std``.
    """

    output_dir: Path = Path("runs/vae")
    preset: str = "tiny"
    model: dict[str, Any] = dataclasses.field(default_factory=dict)
    datasets: list[Path] = dataclasses.field(default_factory=list)
    val_episodes: int = 4
    split_seed: int = 0
    frame_cache_dir: Path | None = None
    steps: int = 1500
    batch_size: int = 16
    clip_batch_size: int = 2
    clip_frames: int = 5
    lr: float = 1e-3
    warmup_steps: int = 100
    kl_weight: float = 1e-4
    seed: int = 0
    num_workers: int = 2
    log_every: int = 25
    stats_frames: int = 1024

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every", "stats_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.clip_batch_size < 0 or self.num_workers < 0 or self.val_episodes < 0 or self.warmup_steps < 0:
            raise ValueError("clip_batch_size, num_workers, val_episodes and warmup_steps must be >= 0")
        if self.clip_frames < 5 or (self.clip_frames - 1) % 4:
            raise ValueError(f"clip_frames must be 1 + 4k with k >= 1 (5, 9, ...), got {self.clip_frames}")
        if self.clip_batch_size > self.batch_size:
            raise ValueError(
                f"clip_batch_size ({self.clip_batch_size}) must be <= batch_size ({self.batch_size})"
            )
        if self.lr <= 0 or self.kl_weight < 0:
            raise ValueError("lr must be > 0 and kl_weight >= 0")

    def model_config(self) -> Any:
        """The resolved ``ModelConfig`` (preset + ``model`` overrides).

        Raises:
            ConfigError: unknown preset or key, wrong type, failed range check.
        """
        from dit4dit_policy.model.config import ModelConfig, preset_config
        from dit4dit_policy.train.config import _merge as merge

        data = merge(config_loader.to_dict(preset_config(self.preset)), self.model)
        return config_loader.from_dict(ModelConfig, data, source=f"preset {self.preset!r} + model overrides")


def load_vae_train_config(
    path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()
) -> VAETrainConfig:
    """Load a VAE training config plus ``--key=value`` overrides.

    Raises:
        ConfigError: an invalid key or value (naming it and the file), or no dataset.
    """
    cfg = config_loader.load(VAETrainConfig, path, overrides)
    cfg.model_config()
    if not cfg.datasets:
        raise ConfigError(f"config error in {path}: 'datasets' must list at least one dataset directory")
    return cfg


def _kl(dist: Any) -> torch.Tensor:
    """Mean per-element KL(q(z|x) ‖ N(0, I))."""
    return 0.5 * (dist.mean.pow(2) + dist.var - 1.0 - dist.logvar).mean()


def _lr_factor(step: int, cfg: VAETrainConfig) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class _Frames(torch.utils.data.Dataset):
    """Clips of ``clip_frames`` frames (model clip stride) as (T, 3, h, w) float32 in [-1, 1]."""

    def __init__(self, clips: Any, image_size: tuple[int, int], clip_frames: int) -> None:
        self.clips, self.image_size, self.clip_frames = clips, image_size, clip_frames

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> torch.Tensor:
        from dit4dit_policy.data.transforms import images_to_model

        video = self.clips[index]["video"][0, : self.clip_frames]  # first view: (T, H, W, 3) uint8
        return images_to_model([video], self.image_size)


def _to_vae(video: torch.Tensor) -> torch.Tensor:
    """(B, T, 3, H, W) → (B, 3, T, H, W)."""
    return video.permute(0, 2, 1, 3, 4).contiguous()


def _step_loss(vae: Any, video: torch.Tensor, cfg: VAETrainConfig) -> dict[str, torch.Tensor]:
    frames = _to_vae(video[:, :1])
    parts = [frames]
    if cfg.clip_batch_size:
        parts.append(_to_vae(video[: cfg.clip_batch_size]))
    mse, kl = 0.0, 0.0
    for x in parts:
        dist = vae.encode(x).latent_dist
        recon = vae.decode(dist.sample()).sample
        mse = mse + (recon - x).pow(2).mean()
        kl = kl + _kl(dist)
    return {"loss": mse + cfg.kl_weight * kl, "mse": mse, "kl": kl}


@torch.no_grad()
def _evaluate(vae: Any, loader: Any, max_frames: int) -> dict[str, Any]:
    """PSNR of single-frame reconstructions, posterior std, and per-channel latent statistics."""
    mse, count, post_std, cond, means, previews = 0.0, 0, [], [], [], None
    for video in loader:
        x = _to_vae(video[:, :1])
        dist = vae.encode(x).latent_dist
        recon = vae.decode(dist.mean).sample.clamp(-1, 1)
        mse += float((recon - x).pow(2).mean(dim=(1, 2, 3, 4)).sum())
        count += x.shape[0]
        post_std.append(dist.std.flatten(1))
        cond.append(dist.mean.flatten(1))
        clip_mean = vae.encode(_to_vae(video)).latent_dist.mean  # condition + future latents
        means.append(clip_mean.permute(0, 2, 3, 4, 1).reshape(-1, clip_mean.shape[1]))
        if previews is None:
            previews = (x[:8, :, 0], recon[:8, :, 0])
        if count >= max_frames:
            break
    latents = torch.cat(means)
    # Signal: how much each condition-latent element varies across frames; noise: the posterior std
    # that ``cond_latent: sample`` adds to it.
    spread = torch.cat(cond).std(dim=0)
    psnr = 10.0 * math.log10(4.0 / max(mse / max(count, 1), 1e-12))  # peak-to-peak 2 → peak² = 4
    return {
        "frames": count,
        "psnr_db": psnr,
        "posterior_std": float(torch.cat(post_std).mean()),
        "signal_to_noise": float(spread.mean() / torch.cat(post_std).mean().clamp_min(1e-12)),
        "latent_spread": float(spread.mean()),
        "latents_mean": [float(v) for v in latents.mean(dim=0)],
        "latents_std": [float(v) for v in latents.std(dim=0).clamp_min(1e-6)],
        "previews": previews,
    }


def _write_previews(path: Path, previews: tuple[torch.Tensor, torch.Tensor] | None) -> None:
    if previews is None:
        return
    try:
        import cv2
    except ImportError:
        return
    rows = []
    for images in previews:
        tiles = ((images.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        rows.append(np.concatenate(list(tiles), axis=1))
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))


def train_vae(cfg: VAETrainConfig) -> dict[str, Any]:
    """Train, measure and save the VAE (see the module docstring).

    Returns:
        The summary written to ``summary.json`` (plus ``vae_dir``).

    Raises:
        DatasetError: unreadable datasets (from the data module). ConfigError: bad config.
    """
    from diffusers import AutoencoderKLWan

    from dit4dit_policy.data.episode_store import EpisodeStore
    from dit4dit_policy.data.frame_cache import build_frame_cache
    from dit4dit_policy.data.samples import ClipDataset, SampleSpec
    from dit4dit_policy.model.build import vae_kwargs

    model_cfg = cfg.model_config()
    spec = SampleSpec.from_model_config(model_cfg)
    if len(spec.frame_offsets) < cfg.clip_frames:
        raise ConfigError(
            f"clip_frames {cfg.clip_frames} exceeds the model clip's {len(spec.frame_offsets)} frames"
        )
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    config_loader.save(cfg, out / "config.yaml")
    store = EpisodeStore(cfg.datasets, spec.embodiment, min_length=1)
    train_eps, val_eps = store.split(cfg.val_episodes, cfg.split_seed)
    frames = build_frame_cache(
        store, spec.embodiment.video_keys[:1], cfg.frame_cache_dir or out / "frame_cache", spec.image_size
    )
    train_set = _Frames(ClipDataset(store, frames, train_eps, spec), spec.image_size, cfg.clip_frames)
    val_set = _Frames(
        ClipDataset(store, frames, val_eps or train_eps, spec), spec.image_size, cfg.clip_frames
    )
    generator = torch.Generator().manual_seed(cfg.seed)
    sampler = torch.utils.data.RandomSampler(
        train_set, replacement=True, num_samples=cfg.steps * cfg.batch_size, generator=generator
    )
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers, drop_last=True
    )
    val_index = np.linspace(0, len(val_set) - 1, min(len(val_set), cfg.stats_frames)).round().astype(int)
    val_loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(val_set, val_index.tolist()), batch_size=cfg.batch_size, num_workers=0
    )

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        vae = AutoencoderKLWan(**vae_kwargs(model_cfg)).float()
    before = _evaluate(vae.eval(), val_loader, 256)
    vae.train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, cfg))
    logger.info(
        "train-vae: %d train / %d val episodes, %d parameters, %d steps × (%d frames + %d clips of %d)",
        len(train_eps),
        len(val_eps),
        sum(p.numel() for p in vae.parameters()),
        cfg.steps,
        cfg.batch_size,
        cfg.clip_batch_size,
        cfg.clip_frames,
    )
    started = window_start = time.perf_counter()
    with (out / "metrics.jsonl").open("w", encoding="utf-8") as metrics:
        for step, video in enumerate(loader, start=1):
            losses = _step_loss(vae, video, cfg)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.perf_counter()
                per_step = cfg.batch_size + cfg.clip_batch_size * cfg.clip_frames
                record = {k: float(v.detach()) for k, v in losses.items()}
                record.update(
                    step=step,
                    lr=schedule.get_last_lr()[0],
                    frames_per_s=per_step * cfg.log_every / max(now - window_start, 1e-9),
                    elapsed_s=now - started,
                )
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
                logger.info(
                    "vae step %d: loss %.5f mse %.5f kl %.3f",
                    step,
                    record["loss"],
                    record["mse"],
                    record["kl"],
                )
                window_start = now
    train_s = time.perf_counter() - started
    vae.eval()
    after = _evaluate(vae, val_loader, cfg.stats_frames)
    vae.register_to_config(latents_mean=after["latents_mean"], latents_std=after["latents_std"])
    tmp = out / ".vae.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    vae.save_pretrained(tmp, safe_serialization=True)
    final = out / "vae"
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    _write_previews(out / "reconstructions.png", after.pop("previews"))
    before.pop("previews")
    summary = {
        "steps": cfg.steps,
        "train_seconds": train_s,
        "random_init": {
            k: before[k] for k in ("psnr_db", "posterior_std", "latent_spread", "signal_to_noise")
        },
        "trained": after,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return {**summary, "vae_dir": str(final)}


__all__ = ["VAETrainConfig", "load_vae_train_config", "train_vae"]
