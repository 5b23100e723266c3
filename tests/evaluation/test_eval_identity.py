"""Checkpoint identity: content of the top-level files, not the path, not derived caches."""

import shutil

import pytest

from dit4dit_policy.evaluation import identity


def _checkpoint(root):
    root.mkdir()
    (root / "config.yaml").write_text("preset: tiny\n")
    (root / "stats.json").write_text("{}\n")
    (root / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    return root


def test_copy_keeps_the_id_and_a_change_does_not(tmp_path, monkeypatch):
    ckpt = _checkpoint(tmp_path / "run1")
    first = identity.checkpoint_id(ckpt)
    assert first.startswith("run1@") and len(first.split("@")[1]) == 16
    copy = tmp_path / "elsewhere" / "run1"
    shutil.copytree(ckpt, copy)
    assert identity.checkpoint_id(copy) == first
    # The policy caches prompt embeddings inside the checkpoint while it runs: not part of the identity.
    (ckpt / "prompt_cache").mkdir()
    (ckpt / "prompt_cache" / "abc.safetensors").write_bytes(b"x" * 100)
    assert identity.checkpoint_id(ckpt) == first
    (ckpt / "stats.json").write_text('{"changed": true}\n')
    assert identity.checkpoint_id(ckpt) != first
    # Large files are sampled: a change inside a sampled block changes the id.
    monkeypatch.setattr(identity, "FULL_HASH_LIMIT", 1024)
    monkeypatch.setattr(identity, "SAMPLE_BYTES", 512)
    before = identity.checkpoint_id(copy)
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(data))
    assert identity.checkpoint_id(copy) != before


def test_missing_or_empty(tmp_path):
    with pytest.raises(FileNotFoundError):
        identity.checkpoint_id(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="contains no files"):
        identity.checkpoint_id(tmp_path / "empty")
