"""``dit4dit bench training``: data-loading vs training throughput of the tiny preset.

Measured in one run on the same machine:

* **decode reference** — PyAV/dav1d decoding of the dataset's AV1 videos [frames/s], i.e. what
  loading would cost if every sample re-decoded its clip;
* **loader** — the training DataLoader (frame cache memmap → clip → shared transforms →
  model-space batch) with ``workers`` processes [samples/s, clip frames/s];
* **train step** — forward + backward + AdamW of the policy on a pre-built batch [samples/s];
* **end-to-end** — the same steps fed by the loader, with the fraction of time spent waiting
  for data.

Loading is not the bottleneck when loader samples/s ÷ train samples/s > 1 (printed as a ratio).
Each phase is timed per batch/episode and summarised by the median, which keeps the comparison
meaningful on a machine shared with other jobs.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch


@dataclasses.dataclass
class BenchResult:
    """Throughputs of one benchmark run (see the module docstring)."""

    device: str
    batch_size: int
    workers: int
    clip_frames: int
    decode_fps: float
    loader_samples_per_s: float
    train_samples_per_s: float
    e2e_samples_per_s: float
    e2e_data_wait_frac: float

    @property
    def loader_frames_per_s(self) -> float:
        """Clip frames delivered per second by the loader."""
        return self.loader_samples_per_s * self.clip_frames

    @property
    def loader_over_train(self) -> float:
        """> 1: the loader outpaces training."""
        return self.loader_samples_per_s / self.train_samples_per_s

    def lines(self) -> list[str]:
        """Human-readable report."""
        speedup = self.loader_frames_per_s / self.decode_fps
        return [
            f"device {self.device}, tiny preset, batch {self.batch_size}, {self.workers} loader workers, "
            f"{self.clip_frames} frames per clip",
            f"AV1 decode (reference, per-sample re-decoding): {self.decode_fps:10.1f} frames/s",
            f"data loading (frame cache → model batch):     {self.loader_frames_per_s:10.1f} frames/s "
            f"({self.loader_samples_per_s:.1f} samples/s) = {speedup:.1f}× decode",
            f"training step (compute only):                 {self.train_samples_per_s:10.2f} samples/s",
            f"end-to-end training:                          {self.e2e_samples_per_s:10.2f} samples/s, "
            f"data wait {100 * self.e2e_data_wait_frac:.1f}% of step time",
            f"loader / training throughput: {self.loader_over_train:.1f}× → data loading is "
            + ("not the bottleneck" if self.loader_over_train > 1 else "THE BOTTLENECK"),
        ]


def run_benchmark(
    episodes: int = 6,
    episode_length: int = 60,
    image_size: int = 96,
    batch_size: int = 8,
    workers: int = 2,
    steps: int = 5,
    loader_batches: int = 20,
    work_dir: str | Path | None = None,
) -> BenchResult:
    """Write a synthetic G1 dataset, build the tiny preset and measure (see the module docstring).

    Args:
        episodes: synthetic episodes to write.
        episode_length: frames per episode.
        image_size: recorded (square) frame size [px]; the tiny model uses 96×96.
        batch_size: samples per batch.
        workers: DataLoader worker processes.
        steps: timed optimiser steps (after one warm-up step).
        loader_batches: timed loader batches (after one warm-up batch).
        work_dir: where to write the dataset and cache (default: a temporary directory).
    """
    from dit4dit_policy.data.synthetic import write_synthetic_dataset
    from dit4dit_policy.data.video_io import decode_frames
    from dit4dit_policy.train.config import DataConfig, LoopConfig, OptimConfig, TrainConfig
    from dit4dit_policy.train.trainer import Trainer

    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        root = write_synthetic_dataset(
            Path(tmp) / "ds",
            num_episodes=episodes,
            episode_length=episode_length,
            image_shape=(image_size, image_size, 3),
        )
        cfg = TrainConfig(
            output_dir=Path(tmp) / "run",
            preset="tiny",
            data=DataConfig(datasets=[root], num_workers=workers),
            optim=OptimConfig(warmup_steps=0),
            train=LoopConfig(
                max_steps=steps + 1,
                batch_size=batch_size,
                progress=False,
                tensorboard=False,
                log_every=1,
                val_every=0,
                save_every=10**9,
            ),
        )
        trainer = Trainer(cfg)
        # Reference: decoding the AV1 videos with PyAV (median over episodes).
        key = trainer.spec.embodiment.video_keys[0]
        rates = []
        for ep in trainer.store.episodes:
            path, t0, t1 = trainer.store.datasets[0].video_segment(ep.episode, key)
            start = time.perf_counter()
            rates.append(len(decode_frames(path, t0, t1)[0]) / (time.perf_counter() - start))
        decode_fps = statistics.median(rates)
        # Loader alone (median over batches).
        loader = trainer.train_loader
        trainer.sampler.set_position(0, 0)
        iterator = iter(loader)
        next(iterator)
        rates = []
        for _ in range(min(loader_batches, trainer.sampler.batches_per_epoch - 1)):
            start = time.perf_counter()
            rates.append(len(next(iterator)["task"]) / (time.perf_counter() - start))
        loader_rate = statistics.median(rates)
        del iterator
        # Compute only: one fixed batch on the device.
        batch = trainer._to_device(loader.collate_fn([trainer.train_set[i] for i in range(batch_size)]))
        model, optimizer = trainer.model, trainer.optimizer

        def step() -> None:
            out = model(batch)
            trainer.accelerator.backward(out["loss"])
            trainer.accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        step()
        rates = []
        for _ in range(steps):
            _sync(trainer.accelerator.device)
            start = time.perf_counter()
            step()
            _sync(trainer.accelerator.device)
            rates.append(batch_size / (time.perf_counter() - start))
        train_rate = statistics.median(rates)
        # End-to-end through the trainer's own loop (metrics.jsonl has rate and data wait).
        trainer.fit()
        from dit4dit_policy.train.metrics import read_metrics

        records = read_metrics(Path(cfg.output_dir) / "metrics.jsonl")[1:]  # drop the warm-up step
        e2e_rate = statistics.median(r["samples_per_s"] for r in records)
        wait = statistics.median(r["data_wait_frac"] for r in records)
        return BenchResult(
            str(trainer.accelerator.device),
            batch_size,
            workers,
            len(trainer.spec.frame_offsets),
            decode_fps,
            loader_rate,
            train_rate,
            e2e_rate,
            wait,
        )


def _sync(device: Any) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
