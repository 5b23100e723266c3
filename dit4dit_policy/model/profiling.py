"""Per-stage wall-clock and FLOP accounting for the inference paths.

A :class:`StageRecorder` is passed through the inference code; each ``with recorder.stage(name):``
block adds its wall-clock milliseconds (CUDA-synchronised), the process CPU milliseconds (all
threads; less sensitive to other processes on a shared machine) and, when ``count_flops`` is
set, the FLOPs that ``torch.utils.flop_counter.FlopCounterMode`` attributes to it (matmul,
convolution and attention kernels; also on ``meta`` tensors, which is how the 2 B model is
counted without allocating it).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import torch


class StageRecorder:
    """Accumulates ``ms[stage]`` and ``flops[stage]``.

    Args:
        device: device whose queue is synchronised around each stage (CUDA only).
        count_flops: also count FLOPs per stage (slower; meant for meta tensors or one-off runs).
    """

    def __init__(self, device: torch.device | str | None = None, count_flops: bool = False) -> None:
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.count_flops = count_flops
        self.ms: dict[str, float] = {}
        self.cpu_ms: dict[str, float] = {}
        self.flops: dict[str, int] = {}

    def _sync(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time (and optionally count) the enclosed block under ``name``."""
        counter = None
        if self.count_flops:
            from torch.utils.flop_counter import FlopCounterMode

            counter = FlopCounterMode(display=False)
            counter.__enter__()
        start, cpu_start = self._sync(), time.process_time()
        try:
            yield
        finally:
            elapsed = 1e3 * (self._sync() - start)
            self.cpu_ms[name] = self.cpu_ms.get(name, 0.0) + 1e3 * (time.process_time() - cpu_start)
            if counter is not None:
                counter.__exit__(None, None, None)
                self.flops[name] = self.flops.get(name, 0) + int(counter.get_total_flops())
            self.ms[name] = self.ms.get(name, 0.0) + elapsed

    @property
    def total_ms(self) -> float:
        """Sum over stages [ms]."""
        return float(sum(self.ms.values()))

    @property
    def total_cpu_ms(self) -> float:
        """Process CPU time summed over stages [ms]."""
        return float(sum(self.cpu_ms.values()))

    @property
    def total_flops(self) -> int:
        """Sum over stages."""
        return int(sum(self.flops.values()))


__all__ = ["StageRecorder"]
