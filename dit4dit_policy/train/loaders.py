"""Resumable, rank-sharded batch order and the train/validation DataLoaders.

The order of training samples is a pure function of (seed, epoch, rank): a seeded permutation per
epoch, split across ranks, cut into batches. The trainer records (epoch, batch) in its
checkpoints, so a resumed run continues with exactly the batches the uninterrupted run would
have seen. Validation uses its own loader over held-out episodes — it never draws from the
training order (the authors' evaluation consumed training batches; model_spec §7.12).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


class EpochBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Shuffled batches of one rank, startable mid-epoch.

    Args:
        num_samples: dataset size.
        batch_size: samples per batch.
        seed: base seed of the permutations.
        rank: this process's rank.
        world_size: number of processes (each gets every world_size-th batch of the permutation).

    Raises:
        ValueError: fewer samples than one batch per rank.
    """

    def __init__(
        self, num_samples: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1
    ) -> None:
        self.num_samples, self.batch_size = int(num_samples), int(batch_size)
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        if self.batches_per_epoch < 1:
            raise ValueError(
                f"{num_samples} training samples are fewer than one batch of {batch_size} per rank × "
                f"{world_size} ranks"
            )
        self.epoch = 0
        self.start_batch = 0

    @property
    def batches_per_epoch(self) -> int:
        """Full batches each rank gets per epoch (the remainder is dropped)."""
        return self.num_samples // (self.batch_size * self.world_size)

    def set_position(self, epoch: int, batch: int) -> None:
        """Make the next iteration start at ``batch`` of ``epoch``."""
        self.epoch, self.start_batch = int(epoch), int(batch)

    def batches(self, epoch: int) -> np.ndarray:
        """(batches_per_epoch, batch_size) sample indices of this rank in ``epoch``."""
        order = np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)
        per_rank = self.batches_per_epoch * self.batch_size
        all_batches = order[: per_rank * self.world_size].reshape(-1, self.batch_size)
        return all_batches[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches(self.epoch)[self.start_batch :]:
            yield batch.tolist()

    def __len__(self) -> int:
        return self.batches_per_epoch - self.start_batch


class FixedBatchSampler(torch.utils.data.Sampler[list[int]]):
    """The same evenly spread batches every time (validation), sharded across ranks.

    Every rank gets the same number of batches: with FSDP or DeepSpeed ZeRO-3 each forward pass
    gathers parameters collectively, so a rank with one batch more would wait for the others forever.
    Batches beyond a multiple of ``world_size`` are left out; with fewer batches than ranks, ranks
    repeat batches cyclically (one batch each).

    Args:
        num_samples: dataset size.
        batch_size: samples per batch.
        num_batches: batches in total over all ranks (fewer if the data runs out).
        rank: this process's rank.
        world_size: number of processes.
    """

    def __init__(
        self, num_samples: int, batch_size: int, num_batches: int, rank: int = 0, world_size: int = 1
    ) -> None:
        total = min(num_samples, batch_size * num_batches * world_size)
        index = (
            np.linspace(0, num_samples - 1, total).round().astype(np.int64)
            if total
            else np.zeros(0, np.int64)
        )
        batches = [index[i : i + batch_size] for i in range(0, len(index), batch_size)]
        per_rank = max(1, len(batches) // world_size) if batches else 0
        self._batches = [batches[(rank + k * world_size) % len(batches)] for k in range(per_rank)]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._batches:
            yield batch.tolist()

    def __len__(self) -> int:
        return len(self._batches)


@dataclasses.dataclass
class DataPosition:
    """Where the training order stands: the next batch to train on."""

    epoch: int = 0
    batch: int = 0

    def advance(self, batches_per_epoch: int) -> None:
        """Move one batch ahead (rolling over to the next epoch)."""
        self.batch += 1
        if self.batch >= batches_per_epoch:
            self.epoch, self.batch = self.epoch + 1, 0


def make_loader(
    dataset: torch.utils.data.Dataset,
    batch_sampler: torch.utils.data.Sampler,
    collate: Any,
    num_workers: int,
    pin_memory: bool,
    prefetch_factor: int,
) -> torch.utils.data.DataLoader:
    """A DataLoader with its own RNG.

    Creating its iterator then never draws from the global torch RNG (a resumed run would
    otherwise see different model noise than the uninterrupted one).
    """
    kwargs: dict[str, Any] = {}
    if num_workers > 0:
        kwargs.update(prefetch_factor=prefetch_factor, persistent_workers=False)
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=batch_sampler,
        collate_fn=collate,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(0),
        **kwargs,
    )
