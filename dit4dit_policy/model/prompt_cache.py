"""Prompt-embedding cache: an in-memory LRU in front of a directory of safetensors files.

The Cosmos text encoder is a 7-8 B LLM whose output depends only on the instruction, so the
embedding of each instruction is computed once (``dit4dit cache-prompts`` or on first use) and
reused: the robot workstation never needs the LLM on its GPU (paper §4.5 notes the same).

A key is the SHA-256 of (encoder id, revision, prompt, max length, system prompt); a file
``<key>.safetensors`` holds one tensor ``prompt_embeds`` of shape (L, layers·width) plus the prompt
and the encoder id in its metadata (checked on read). Files are written to a temporary name and
renamed, so a crash never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections import OrderedDict
from pathlib import Path

import torch

from dit4dit_policy.errors import CheckpointError

logger = logging.getLogger(__name__)

#: Format tag stored in every cache file.
CACHE_FORMAT = "dit4dit-prompt-v1"


def prompt_key(encoder_id: str, revision: str, prompt: str, max_length: int, system_prompt: str) -> str:
    """Cache key (64 hex chars) of one prompt under one text encoder."""
    payload = json.dumps(
        {
            "encoder": encoder_id,
            "revision": revision,
            "prompt": prompt,
            "max_length": int(max_length),
            "system": system_prompt,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class PromptCache:
    """LRU (``capacity`` entries) over an optional directory.

    Args:
        directory: where ``<key>.safetensors`` files live (created on first write); None = memory only.
        capacity: entries kept in memory.
    """

    def __init__(self, directory: str | Path | None = None, capacity: int = 64) -> None:
        if capacity < 1:
            raise ValueError(f"prompt cache capacity must be >= 1, got {capacity}")
        self.directory = None if directory is None else Path(directory)
        self.capacity = capacity
        self._memory: OrderedDict[str, tuple[str, torch.Tensor]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._memory)

    def path(self, key: str) -> Path | None:
        """File of ``key`` (None without a directory)."""
        return None if self.directory is None else self.directory / f"{key}.safetensors"

    def _remember(self, key: str, prompt: str, value: torch.Tensor) -> None:
        self._memory[key] = (prompt, value)
        self._memory.move_to_end(key)
        while len(self._memory) > self.capacity:
            self._memory.popitem(last=False)

    def get(self, key: str, prompt: str) -> torch.Tensor | None:
        """The cached (L, C) embedding of ``prompt``, or None.

        Raises:
            CheckpointError: a cache file exists but is unreadable or belongs to another prompt.
        """
        if key in self._memory:
            stored, value = self._memory[key]
            if stored != prompt:
                raise CheckpointError(f"prompt cache entry {key[:16]}… holds {stored!r}, expected {prompt!r}")
            self._memory.move_to_end(key)
            return value
        path = self.path(key)
        if path is None or not path.is_file():
            return None
        from safetensors import SafetensorError
        from safetensors.torch import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = handle.metadata() or {}
                value = handle.get_tensor("prompt_embeds")
        except (SafetensorError, OSError, KeyError, RuntimeError) as exc:
            raise CheckpointError(
                f"prompt cache file {path} is unreadable ({exc}); delete it to recompute"
            ) from exc
        if meta.get("format") != CACHE_FORMAT or meta.get("prompt") != prompt:
            raise CheckpointError(
                f"prompt cache file {path} holds {meta.get('prompt')!r} (format {meta.get('format')!r}), "
                f"expected {prompt!r} in format {CACHE_FORMAT!r}"
            )
        self._remember(key, prompt, value)
        return value

    def put(self, key: str, prompt: str, value: torch.Tensor, encoder_id: str) -> None:
        """Store a (L, C) embedding in memory and (atomically) on disk."""
        value = value.detach()
        self._remember(key, prompt, value)
        path = self.path(key)
        if path is None:
            return
        from safetensors.torch import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=path.parent)
        os.close(handle)
        try:
            save_file(
                {"prompt_embeds": value.cpu().contiguous()},
                tmp_name,
                metadata={"format": CACHE_FORMAT, "prompt": prompt, "encoder_id": encoder_id},
            )
            os.replace(tmp_name, path)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
        logger.debug("cached prompt %r in %s", prompt, path)

    def clear_memory(self) -> None:
        """Drop the in-memory entries (files stay)."""
        self._memory.clear()


__all__ = ["CACHE_FORMAT", "PromptCache", "prompt_key"]
