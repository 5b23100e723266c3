"""``dit4dit bench dataset``: recording cost of the LeRobot writer at the camera's size (torch-free).

Records episodes of synthetic 30 Hz G1 frames and reports, in one run:

* ``add_frame`` latency (median / max) — what a recorder loop pays per frame;
* ``save_episode`` time per 10 s of data — against the 1 s budget (ratio printed);
* sustained recording rate [frames/s] — against the 30 Hz camera (ratio printed);
* reading back: decode frames/s of the written videos.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.data.lerobot_dataset import LeRobotDataset
from dit4dit_policy.data.lerobot_format import g1_features
from dit4dit_policy.data.lerobot_writer import LeRobotDatasetWriter
from dit4dit_policy.data.synthetic import render

#: Budget for finishing an episode: 1 s per 10 s of 30 Hz data (issue 5).
SAVE_BUDGET_S_PER_10S = 1.0


@dataclasses.dataclass
class WriteBenchResult:
    """Measurements of :func:`run_write_benchmark`."""

    codec: str
    height: int
    width: int
    frames: int
    add_frame_median_ms: float
    add_frame_max_ms: float
    record_fps: float
    save_s_per_10s: float
    decode_fps: float

    def lines(self) -> list[str]:
        """Human-readable report."""
        return [
            f"{self.codec} {self.height}×{self.width}, {self.frames} frames "
            f"at {schema.CONTROL_RATE_HZ:.0f} Hz",
            f"add_frame: median {self.add_frame_median_ms:.2f} ms, max {self.add_frame_max_ms:.2f} ms",
            f"recording throughput: {self.record_fps:.1f} frames/s = "
            f"{self.record_fps / schema.CONTROL_RATE_HZ:.2f}× real time",
            f"save_episode: {self.save_s_per_10s:.3f} s per 10 s of data = "
            f"{self.save_s_per_10s / SAVE_BUDGET_S_PER_10S:.2f}× the {SAVE_BUDGET_S_PER_10S:.0f} s budget",
            f"read back: {self.decode_fps:.1f} frames/s decoded",
        ]


def run_write_benchmark(
    seconds: float = 10.0,
    episodes: int = 2,
    image_shape: tuple[int, int, int] = (480, 640, 3),
    codec: str = "av1",
    work_dir: str | Path | None = None,
) -> WriteBenchResult:
    """Record ``episodes`` × ``seconds`` of 30 Hz frames as fast as the writer accepts them.

    Frames are pre-rendered (a moving square on a gradient) so that only the writer is timed.
    """
    rng = np.random.default_rng(0)
    count = round(seconds * schema.CONTROL_RATE_HZ)
    states = rng.uniform(-1, 1, size=(count, schema.NUM_JOINTS)).astype(np.float32)
    palette = [render(states[i], image_shape) for i in range(0, count, max(1, count // 16))]
    latencies, saves = [], []
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        root = Path(tmp) / "ds"
        features = g1_features(image_shape=image_shape, video_codec=codec)
        start = time.perf_counter()
        with LeRobotDatasetWriter.create(root, features=features) as writer:
            for _ in range(episodes):
                for i in range(count):
                    frame = {
                        schema.FEATURE_IMAGE_EGO: palette[i % len(palette)],
                        schema.FEATURE_STATE: states[i],
                        schema.FEATURE_ACTION: states[i],
                        schema.FEATURE_TIMESTAMP: i / schema.CONTROL_RATE_HZ,
                    }
                    t0 = time.perf_counter()
                    writer.add_frame(frame)
                    latencies.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                writer.save_episode("benchmark")
                saves.append(time.perf_counter() - t0)
        record_fps = episodes * count / (time.perf_counter() - start)
        ds = LeRobotDataset(root)
        t0 = time.perf_counter()
        decoded = sum(len(ds.frames(e)) for e in range(ds.num_episodes))
        decode_fps = decoded / (time.perf_counter() - t0)
    lat = np.asarray(latencies) * 1e3
    return WriteBenchResult(
        codec=codec,
        height=image_shape[0],
        width=image_shape[1],
        frames=episodes * count,
        add_frame_median_ms=float(np.median(lat)),
        add_frame_max_ms=float(lat.max()),
        record_fps=record_fps,
        save_s_per_10s=float(np.mean(saves)) * 10.0 / seconds,
        decode_fps=decode_fps,
    )
