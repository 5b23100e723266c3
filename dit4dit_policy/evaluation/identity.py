"""Identifiers that tie a results directory to the policy that produced it.

A checkpoint directory (DESIGN.md §3: safetensors weights + resolved config + statistics + data
contract) is identified by the content of its top-level files, not by its path, so a copied or
moved checkpoint resumes its results and a retrained one in the same place does not.
Sub-directories are left out: they hold derived data that grows while the policy runs (the
policy caches the embedding of every new instruction in ``prompt_cache/``), which must not change
the identity in the middle of an evaluation.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: Files up to this size are hashed completely [bytes]; larger ones (weights, GBs for the 2B
#: model) by size plus SAMPLE_BYTES from SAMPLE_COUNT evenly spaced offsets, so that identifying a
#: checkpoint costs milliseconds, not a full read of its weights.
FULL_HASH_LIMIT = 16 * 1024 * 1024
SAMPLE_BYTES = 1024 * 1024
SAMPLE_COUNT = 8


def _hash_file(path: Path, digest: hashlib._Hash) -> None:
    size = path.stat().st_size
    digest.update(str(size).encode())
    with open(path, "rb") as f:
        if size <= FULL_HASH_LIMIT:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
            return
        for i in range(SAMPLE_COUNT):
            f.seek((size - SAMPLE_BYTES) * i // (SAMPLE_COUNT - 1))
            digest.update(f.read(SAMPLE_BYTES))


def checkpoint_id(path: str | Path) -> str:
    """A content fingerprint of a checkpoint file or directory: ``"<name>@<sha256 prefix>"``.

    Args:
        path: checkpoint directory (its top-level regular files, by name) or a single file.

    Returns:
        e.g. ``"g1_finetune@3f2a9c0d1b7e4a55"``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a directory without any file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    digest = hashlib.sha256()
    if path.is_file():
        _hash_file(path, digest)
    else:
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ValueError(f"checkpoint directory {path} contains no files")
        for file in files:
            digest.update(os.fsencode(file.relative_to(path).as_posix()) + b"\0")
            _hash_file(file, digest)
    return f"{path.resolve().name}@{digest.hexdigest()[:16]}"
