"""Decode each video once into a uint8 memory-mapped frame cache for training.

Re-decoding AV1 per sample would cost ~1-8 ms per frame × 9 frames per sample; the cache makes a
sample's clip a memmap slice. Layout: one ``(N_frames, h, w, 3)`` uint8 file per video key, frames
of the store's episodes back to back (same order as :class:`EpisodeStore`), plus a manifest with
the datasets' fingerprint so a stale cache is rebuilt, never silently reused.

Resolution: ``native`` keeps the recorded frames (exactly what the policy node feeds the model:
train = serve); ``model`` stores frames already resized to the model's image size with the shared
transform (``transforms.images_to_model``, bilinear), re-quantised to uint8 (≤ 0.5/255 rounding);
``auto`` picks ``native`` when it fits ``max_bytes``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np

from dit4dit_policy.data import lerobot_format as fmt
from dit4dit_policy.data.episode_store import EpisodeStore
from dit4dit_policy.errors import DatasetError

logger = logging.getLogger(__name__)

CACHE_VERSION = 1


def fingerprint(store: EpisodeStore, keys: Sequence[str], size: tuple[int, int] | None) -> str:
    """Hash of everything the cache content depends on (info, episode list, video files, size)."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}|{list(keys)}|{size}".encode())
    for ds in store.datasets:
        digest.update(str(ds.root.resolve()).encode())
        digest.update((ds.root / fmt.INFO_PATH).read_bytes())
    for ep in store.episodes:
        ds = store.datasets[ep.dataset]
        digest.update(f"{ep.dataset}:{ep.episode}:{ep.length}".encode())
        for key in keys:
            path, start, end = ds.video_segment(ep.episode, key)
            stat = path.stat() if path.is_file() else None
            digest.update(
                f"{path}|{start}|{end}|{stat and stat.st_size}|{stat and stat.st_mtime_ns}".encode()
            )
    return digest.hexdigest()[:32]


def resize_uint8(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, H, W, 3) uint8 → (N, h, w, 3) uint8 through ``transforms.images_to_model`` (bilinear)."""
    import torch

    from dit4dit_policy.data.transforms import images_to_model

    if frames.shape[1:3] == tuple(size):
        return frames
    model = images_to_model([torch.from_numpy(frames)], size)  # (N, 3, h, w) in [-1, 1]
    out = ((model + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)
    return out.permute(0, 2, 3, 1).contiguous().numpy()


class FrameCache:
    """Read access to a built cache: ``clip(key_index, store_episode, frame_indices)``.

    Opens the memmaps lazily, so instances pickle cheaply into DataLoader workers.

    Args:
        paths: one cache file per video key.
        shapes: (N, h, w, 3) of each file.
        offsets: first cache frame of each store episode.
    """

    def __init__(self, paths: Sequence[Path], shapes: Sequence[tuple[int, ...]], offsets: np.ndarray) -> None:
        self.paths = [Path(p) for p in paths]
        self.shapes = [tuple(s) for s in shapes]
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self._maps: list[np.memmap] | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_maps": None}

    def _open(self) -> list[np.memmap]:
        if self._maps is None:
            self._maps = [
                np.memmap(p, dtype=np.uint8, mode="r", shape=s)
                for p, s in zip(self.paths, self.shapes, strict=True)
            ]
        return self._maps

    def clip(self, key_index: int, episode: int, frame_indices: np.ndarray) -> np.ndarray:
        """(T, h, w, 3) uint8 frames of one store episode at the given (clamped) frame indices."""
        return np.asarray(self._open()[key_index][self.offsets[episode] + frame_indices])


def build_frame_cache(
    store: EpisodeStore,
    keys: Sequence[str],
    cache_dir: str | Path,
    model_size: tuple[int, int],
    resolution: Literal["auto", "native", "model"] = "auto",
    max_bytes: int = 32 << 30,
    num_threads: int = 2,
    progress: bool = False,
) -> FrameCache:
    """Decode every episode's videos once into ``cache_dir`` (reusing a matching cache).

    Args:
        store: episodes (order of the cache).
        keys: video features, in the embodiment's view order.
        cache_dir: directory for the cache files (created).
        model_size: the model's per-view (h, w) [px].
        resolution: see the module docstring.
        max_bytes: ``auto`` chooses ``native`` only when the cache stays below this size [bytes].
        num_threads: episodes decoded concurrently.
        progress: tqdm progress bar.

    Returns:
        A :class:`FrameCache`.

    Raises:
        DatasetError: an undecodable/short video (naming episode and frame) or views of different
            native sizes with ``native`` resolution.
    """
    from tqdm import tqdm

    native = {tuple(ds.features[k]["shape"][:2]) for ds in store.datasets for k in keys}
    if resolution == "auto":
        h, w = max(native, key=lambda s: s[0] * s[1])
        resolution = (
            "native"
            if store.num_frames * h * w * 3 * len(keys) <= max_bytes and len(native) == 1
            else "model"
        )
    if resolution == "native":
        if len(native) != 1:
            raise DatasetError(
                f"'native' frame cache needs one frame size for all views, got {sorted(native)}"
            )
        size = None
        shape_hw = next(iter(native))
    else:
        size = tuple(int(s) for s in model_size)
        shape_hw = size
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tag = fingerprint(store, keys, size)
    manifest_path = cache_dir / f"frames-{tag}.json"
    paths = [cache_dir / f"frames-{tag}-{i}.u8" for i in range(len(keys))]
    shapes = [(store.num_frames, shape_hw[0], shape_hw[1], 3)] * len(keys)
    if manifest_path.is_file() and all(p.is_file() for p in paths):
        logger.info("using frame cache %s", manifest_path)
        return FrameCache(paths, shapes, store.offsets)
    logger.info(
        "decoding %d episodes into a %s-resolution frame cache in %s",
        store.num_episodes,
        resolution,
        cache_dir,
    )
    tmp_paths = [p.with_name(f".{p.name}.tmp-{os.getpid()}") for p in paths]
    maps = [np.memmap(t, dtype=np.uint8, mode="w+", shape=s) for t, s in zip(tmp_paths, shapes, strict=True)]

    def decode(index: int) -> tuple[int, list[np.ndarray]]:
        ep = store.episodes[index]
        ds = store.datasets[ep.dataset]
        views = []
        for key in keys:
            frames = ds.frames(ep.episode, key)
            views.append(frames if size is None else resize_uint8(frames, size))
        return index, views

    try:
        with ThreadPoolExecutor(max_workers=max(1, num_threads)) as pool:
            results = pool.map(decode, range(store.num_episodes))
            for index, views in tqdm(
                results, total=store.num_episodes, desc="frame cache", disable=not progress
            ):
                start = store.offsets[index]
                for memmap, frames in zip(maps, views, strict=True):
                    memmap[start : start + len(frames)] = frames
        for memmap, tmp, path in zip(maps, tmp_paths, paths, strict=True):
            memmap.flush()
            del memmap
            os.replace(tmp, path)
        fmt.write_json_atomic(
            manifest_path,
            {
                "version": CACHE_VERSION,
                "keys": list(keys),
                "shape": list(shapes[0]),
                "resolution": resolution,
                "datasets": [str(ds.root) for ds in store.datasets],
            },
        )
    finally:
        for tmp in tmp_paths:
            tmp.unlink(missing_ok=True)
    return FrameCache(paths, shapes, store.offsets)
