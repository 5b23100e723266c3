"""The training loop on ``accelerate`` (single process, DDP, FSDP or DeepSpeed via ``accelerate launch``).

Per optimiser step: ``grad_accum_steps`` micro-batches of model-space batches (``data.samples``)
→ ``policy.compute_loss`` (action + λ·video flow matching; model_spec §3-5) → backward → clip to
``optim.grad_clip`` → AdamW → LR schedule. Checkpoints are resumable to the exact batch (data
position, optimiser, schedule, RNG); validation runs on held-out episodes with its own loader and
a fixed noise seed inside ``torch.random.fork_rng`` so it neither consumes training batches nor
perturbs the training RNG stream.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from dit4dit_policy import config as config_loader
from dit4dit_policy.data.episode_store import EpisodeStore
from dit4dit_policy.data.frame_cache import build_frame_cache
from dit4dit_policy.data.samples import ClipDataset, ModelBatchCollator, SampleSpec, norm_stats
from dit4dit_policy.train import checkpointing
from dit4dit_policy.train.config import TrainConfig
from dit4dit_policy.train.loaders import DataPosition, EpochBatchSampler, FixedBatchSampler, make_loader
from dit4dit_policy.train.metrics import MetricsLogger, summarize_metrics
from dit4dit_policy.train.optim import build_optimizer
from dit4dit_policy.train.policy_io import (
    LossModule,
    enable_gradient_checkpointing,
    export_policy,
    init_from_checkpoint,
)

logger = logging.getLogger(__name__)

_TENSOR_KEYS = ("video", "state", "action", "action_mask")
_LOSS_KEYS = ("loss", "action_loss", "video_loss")
#: Offset of the validation noise seed from the training seed.
_VAL_SEED_OFFSET = 1_000_003


def _make_accelerator(cfg: TrainConfig) -> Any:
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    # Without CUDA, accelerate needs cpu=True for a real multi-process (gloo) run; a DeepSpeed launch
    # brings its own (CPU) accelerator, which cpu=True would bypass.
    deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
    cpu = cfg.train.cpu or (not torch.cuda.is_available() and not deepspeed)
    precision = cfg.train.mixed_precision
    if precision == "auto":
        precision = "no" if cpu else "bf16"
    accelerator = Accelerator(
        cpu=cpu,
        mixed_precision=precision,
        gradient_accumulation_steps=cfg.train.grad_accum_steps,
        kwargs_handlers=[
            DistributedDataParallelKwargs(find_unused_parameters=cfg.train.find_unused_parameters)
        ],
    )
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is not None:
        # Our loaders are not passed through accelerate.prepare, so fill DeepSpeed's "auto" sizes here.
        ds = plugin.deepspeed_config
        if ds.get("train_micro_batch_size_per_gpu", "auto") == "auto":
            ds["train_micro_batch_size_per_gpu"] = cfg.train.batch_size  # accelerate derives train_batch_size
    return accelerator


class Trainer:
    """Build everything from a :class:`TrainConfig` and train.

    Args:
        cfg: resolved training config.
    """

    def __init__(self, cfg: TrainConfig) -> None:
        from accelerate.utils import set_seed

        self.cfg = cfg
        self.output_dir = Path(cfg.output_dir)
        self.accelerator = acc = _make_accelerator(cfg)
        self.is_main = acc.is_main_process
        set_seed(cfg.train.seed + acc.process_index)
        self.model_cfg = cfg.model_config()
        self.spec = SampleSpec.from_model_config(self.model_cfg)
        if self.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            checkpointing.remove_stale_temporaries(self.output_dir)
            config_loader.save(cfg, self.output_dir / "config.yaml")
        acc.wait_for_everyone()
        self._build_data()
        self._build_model()

    # ------------------------------------------------------------------ construction

    def _build_data(self) -> None:
        cfg, acc, spec = self.cfg, self.accelerator, self.spec
        self.store = EpisodeStore(
            cfg.data.datasets,
            spec.embodiment,
            min_length=spec.horizon,
            skip_short=cfg.data.skip_short_episodes,
        )
        self.train_episodes, self.val_episodes = self.store.split(cfg.data.val_episodes, cfg.data.split_seed)
        self.stats = norm_stats(self.store)
        cache_dir = cfg.data.frame_cache_dir or self.output_dir / "frame_cache"
        with acc.main_process_first():  # the main process decodes; the others reuse its cache
            self.frames = build_frame_cache(
                self.store,
                spec.embodiment.video_keys,
                cache_dir,
                spec.image_size,
                resolution=cfg.data.frame_cache_resolution,
                max_bytes=int(cfg.data.frame_cache_max_gb * (1 << 30)),
                num_threads=cfg.data.decode_threads,
                progress=self.is_main and cfg.train.progress,
            )
        collate = ModelBatchCollator(spec, self.stats)
        pin = cfg.data.pin_memory if cfg.data.pin_memory is not None else acc.device.type == "cuda"
        self.train_set = ClipDataset(self.store, self.frames, self.train_episodes, spec)
        self.sampler = EpochBatchSampler(
            len(self.train_set), cfg.train.batch_size, cfg.train.seed, acc.process_index, acc.num_processes
        )
        self.train_loader = make_loader(
            self.train_set, self.sampler, collate, cfg.data.num_workers, pin, cfg.data.prefetch_factor
        )
        self.val_loader = None
        if self.val_episodes:
            val_set = ClipDataset(self.store, self.frames, self.val_episodes, spec)
            val_sampler = FixedBatchSampler(
                len(val_set),
                cfg.train.batch_size,
                cfg.train.val_batches,
                acc.process_index,
                acc.num_processes,
            )
            self.val_loader = make_loader(val_set, val_sampler, collate, min(cfg.data.num_workers, 1), pin, 2)
        self.tasks = sorted({ep.task for ep in self.store.episodes})
        logger.info(
            "data: %d episodes (%d train, %d val), %d frames, %d training samples, %d batches/epoch/rank",
            self.store.num_episodes,
            len(self.train_episodes),
            len(self.val_episodes),
            self.store.num_frames,
            len(self.train_set),
            self.sampler.batches_per_epoch,
        )

    def _build_model(self) -> None:
        from dit4dit_policy.model.build import build_policy

        cfg, acc = self.cfg, self.accelerator
        self.policy = build_policy(
            self.model_cfg,
            self.stats,
            self.spec.embodiment.name,
            device=acc.device,
            seed=cfg.train.seed,
            prompt_cache_dir=self.output_dir / "prompt_cache",
        )
        if cfg.init_from is not None and checkpointing.latest_checkpoint(self.output_dir) is None:
            init_from_checkpoint(self.policy, cfg.init_from, allow_partial=cfg.init_from_partial)
        if cfg.train.gradient_checkpointing:
            enable_gradient_checkpointing(self.policy)
        self.policy.train()
        self.optimizer, self.scheduler = build_optimizer(self.policy, cfg.optim, cfg.train.max_steps)
        self.group_names = [g.get("name", str(i)) for i, g in enumerate(self.optimizer.param_groups)]
        self.model, self.optimizer = acc.prepare(LossModule(self.policy), self.optimizer)
        acc.register_for_checkpointing(self.scheduler)
        counts = {
            n: sum(p.numel() for p in g["params"])
            for n, g in zip(self.group_names, self.optimizer.param_groups, strict=True)
        }
        logger.info("trainable parameters per group: %s", counts)

    # ------------------------------------------------------------------ loop

    def _to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        device = self.accelerator.device
        return {k: (v.to(device, non_blocking=True) if k in _TENSOR_KEYS else v) for k, v in batch.items()}

    def _export(self, directory: Path) -> None:
        """Write the inference checkpoint (called on every rank; the main process writes)."""
        from accelerate.utils import DistributedType

        acc = self.accelerator
        if acc.distributed_type == DistributedType.FSDP:
            # Parameters are sharded: gather a full state dict (collective), load it into a CPU copy.
            from dit4dit_policy.model.build import build_policy

            state = acc.get_state_dict(self.model)
            if acc.is_main_process:
                policy = build_policy(self.model_cfg, self.stats, self.spec.embodiment.name, device="cpu")
                policy.load_state_dict({k.removeprefix("policy."): v for k, v in state.items()})
                export_policy(policy, directory, self.tasks)
            return
        if acc.is_main_process:
            export_policy(acc.unwrap_model(self.model).policy, directory, self.tasks)

    def _save(self, step: int, position: DataPosition) -> Path:
        state = {
            "step": step,
            "epoch": position.epoch,
            "batch": position.batch,
            "world_size": self.accelerator.num_processes,
            "batch_size": self.cfg.train.batch_size,
        }
        return checkpointing.save(
            self.accelerator, self.output_dir, step, state, self._export, self.cfg.train.keep_checkpoints
        )

    def _resume(self) -> tuple[int, DataPosition]:
        if not self.cfg.resume:
            return 0, DataPosition()
        path = checkpointing.latest_checkpoint(self.output_dir)
        if path is None:
            return 0, DataPosition()
        state = checkpointing.load(self.accelerator, path)
        if (state["world_size"], state["batch_size"]) != (
            self.accelerator.num_processes,
            self.cfg.train.batch_size,
        ):
            logger.warning(
                "resuming %s with world size %d × batch %d (saved with %d × %d): the batch order changes",
                path,
                self.accelerator.num_processes,
                self.cfg.train.batch_size,
                state["world_size"],
                state["batch_size"],
            )
        logger.info("resumed from %s at step %d", path, state["step"])
        return int(state["step"]), DataPosition(int(state["epoch"]), int(state["batch"]))

    def validate(self) -> dict[str, float]:
        """Mean losses over the fixed validation batches (all ranks; no effect on training RNG)."""
        acc = self.accelerator
        sums = torch.zeros(len(_LOSS_KEYS) + 1, dtype=torch.float64, device=acc.device)
        devices = [acc.device.index or 0] if acc.device.type == "cuda" else []
        self.model.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.cfg.train.seed + _VAL_SEED_OFFSET + acc.process_index)
            for batch in self.val_loader:
                out = self.model(self._to_device(batch))
                size = len(batch["task"])
                for i, key in enumerate(_LOSS_KEYS):
                    sums[i] += float(out[key]) * size
                sums[-1] += size
        self.model.train()
        sums = acc.reduce(sums, reduction="sum")
        count = max(float(sums[-1]), 1.0)
        return {key: float(sums[i]) / count for i, key in enumerate(_LOSS_KEYS)}

    def _micro_step(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, Any]:
        """Forward/backward of one micro-batch; the optimiser steps on the last one of a group.

        Returns:
            (3,) detached losses (loss, action_loss, video_loss) and the gradient norm before
            clipping (None on non-final micro-batches).
        """
        acc = self.accelerator
        grad_norm = None
        with acc.accumulate(self.model):
            out = self.model(self._to_device(batch))
            acc.backward(out["loss"])
            if acc.sync_gradients:
                grad_norm = acc.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        return torch.stack([out[k].detach().float() for k in _LOSS_KEYS]), grad_norm

    def _train_record(self, window: _Window, grad_norm: Any, epoch: int) -> dict[str, float]:
        """Metrics of the steps since the last record, averaged over ranks (a collective)."""
        acc, loop = self.accelerator, self.cfg.train
        losses = torch.stack(window.losses)
        both = acc.reduce(torch.cat([losses.mean(0), losses[-1]]), reduction="mean")
        record = {key: float(both[i]) for i, key in enumerate(_LOSS_KEYS)}
        record["loss_last"] = float(both[len(_LOSS_KEYS)])
        for name, group in zip(self.group_names, self.optimizer.param_groups, strict=True):
            record[f"lr_{name}"] = group["lr"]
        if grad_norm is not None:
            record["grad_norm"] = float(grad_norm)
        samples = loop.batch_size * loop.grad_accum_steps * acc.num_processes * len(window.losses)
        record["samples_per_s"] = samples / max(window.step_s, 1e-9)
        record["data_wait_frac"] = window.data_s / max(window.step_s, 1e-9)
        record["epoch"] = epoch
        return record

    def fit(self) -> dict[str, Any]:
        """Train to ``train.max_steps`` (or ``stop_at_step``), resuming from the newest checkpoint.

        Returns:
            ``step``, ``loss`` (last, averaged over ranks), ``output_dir``, ``policy`` (exported
            checkpoint), ``is_main``, ``world_size``.
        """
        from tqdm import tqdm

        loop = self.cfg.train
        step, position = self._resume()
        end = loop.max_steps
        if loop.stop_at_step is not None and step < loop.stop_at_step:
            end = min(end, loop.stop_at_step)
        metrics = None
        if self.is_main:
            metrics = MetricsLogger(
                self.output_dir,
                loop.tensorboard,
                loop.wandb_project,
                config_loader.to_dict(self.cfg),
                resume_step=step,
            )
        bar = tqdm(
            total=loop.max_steps,
            initial=step,
            unit="step",
            dynamic_ncols=True,
            disable=not (self.is_main and loop.progress),
        )
        window, micro, accum, last_loss = _Window(), 0, None, math.nan
        mark = time.perf_counter()
        try:
            while step < end:
                self.sampler.set_position(position.epoch, position.batch)
                iterator = iter(self.train_loader)
                while step < end:
                    fetch = time.perf_counter()
                    batch = next(iterator, None)
                    if batch is None:
                        break  # end of the epoch (the position has rolled over already)
                    window.data_s += time.perf_counter() - fetch
                    position.advance(self.sampler.batches_per_epoch)
                    losses, grad_norm = self._micro_step(batch)
                    accum = losses if accum is None else accum + losses
                    micro += 1
                    if micro < loop.grad_accum_steps:
                        continue
                    self.scheduler.step()
                    step, micro = step + 1, 0
                    window.losses.append(accum / loop.grad_accum_steps)
                    accum = None
                    now = time.perf_counter()
                    window.step_s, mark = window.step_s + now - mark, now
                    bar.update(1)
                    if step % loop.log_every == 0:
                        record = self._train_record(window, grad_norm, position.epoch)
                        last_loss = record["loss_last"]
                        bar.set_postfix(loss=f"{last_loss:.4f}")
                        if metrics is not None:
                            metrics.log(step, "train", record)
                        window = _Window()
                    if self.val_loader is not None and loop.val_every and step % loop.val_every == 0:
                        val = self.validate()
                        if metrics is not None:
                            metrics.log(step, "val", val)
                    if step % loop.save_every == 0 or step == end:
                        self._save(step, position)
                    mark = time.perf_counter()  # validation and saving are not step time
        finally:
            bar.close()
            if metrics is not None:
                metrics.close()
        if not (checkpointing.checkpoint_root(self.output_dir) / f"step-{step:07d}").exists():
            self._save(step, position)
        if self.is_main:
            summary = summarize_metrics(
                self.output_dir / "metrics.jsonl", max(loop.save_every, loop.log_every)
            )
            (self.output_dir / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return {
            "step": step,
            "loss": last_loss,
            "output_dir": str(self.output_dir),
            "policy": str(self.output_dir / "policy"),
            "is_main": self.is_main,
            "world_size": self.accelerator.num_processes,
        }


@dataclasses.dataclass
class _Window:
    """Per-step losses and timings since the last metrics record."""

    losses: list[torch.Tensor] = dataclasses.field(default_factory=list)
    data_s: float = 0.0
    step_s: float = 0.0


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Build a :class:`Trainer` and run it (the ``dit4dit train`` entry point)."""
    return Trainer(cfg).fit()
