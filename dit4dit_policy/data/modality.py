"""GR00T-style ``meta/modality.json``: which dataset columns hold each named state/action key.

The file (GR00T N1 / DiT4DiT loaders; g1_spec §6.4; reference example
``examples/LIBERO/train_files/modality.json`` of starVLA/DiT4DiT) looks like::

    {"state":  {"left_arm": {"start": 0, "end": 7, "original_key": "observation.state"}, ...},
     "action": {"left_arm": {"start": 0, "end": 7, "original_key": "action"}, ...},
     "video":  {"ego_view": {"original_key": "observation.images.ego_view"}},
     "annotation": {"human.task_description": {"original_key": "task_index"}}}

:class:`ModalityMap` gathers the slices named by an embodiment (``data/embodiment.py``) from a
dataset's columns, in the embodiment's order — so a dataset that stores its keys in another
order or in several columns still maps to the model's state/action layout. Torch-free.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.data import lerobot_format as fmt
from dit4dit_policy.data.embodiment import EMBODIMENTS, Embodiment, KeySlice, get_embodiment
from dit4dit_policy.errors import DatasetError, SchemaMismatchError

_VIDEO_PREFIX = "observation.images."


def modality_dict(embodiment: Embodiment) -> dict[str, Any]:
    """Content of modality.json for a registry embodiment (state and actions in their usual columns)."""

    def block(keys: tuple[KeySlice, ...], column: str) -> dict[str, Any]:
        return {k.name: {"start": k.start, "end": k.stop, "original_key": column} for k in keys}

    return {
        "state": block(embodiment.state_keys, schema.FEATURE_STATE),
        "action": block(embodiment.action_keys, schema.FEATURE_ACTION),
        "video": {key.removeprefix(_VIDEO_PREFIX): {"original_key": key} for key in embodiment.video_keys},
        "annotation": {"human.task_description": {"original_key": schema.FEATURE_TASK_INDEX}},
    }


def write_modality(
    root: str | Path, embodiment: str | Embodiment, features: Mapping[str, Any] | None = None
) -> Path:
    """Write ``meta/modality.json`` for an embodiment (atomically).

    Args:
        root: dataset directory.
        embodiment: registry name or object.
        features: if given, the dataset's features are checked against the embodiment first.

    Returns:
        The path written.

    Raises:
        KeyError: unknown embodiment name.
        SchemaMismatchError: the features do not fit the embodiment.
    """
    emb = get_embodiment(embodiment) if isinstance(embodiment, str) else embodiment
    content = modality_dict(emb)
    if features is not None:
        ModalityMap(emb, content, features)  # raises on a mismatch
    path = Path(root) / fmt.MODALITY_PATH
    fmt.write_json_atomic(path, content)
    return path


def read_modality(path: str | Path) -> dict[str, Any]:
    """Read a modality.json file (or ``<dataset>/meta/modality.json`` given a dataset directory).

    Raises:
        DatasetError: missing or invalid file, or a block without ``start``/``end``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / fmt.MODALITY_PATH
    data = fmt.read_json(path, "modality mapping")
    if not isinstance(data, dict) or "state" not in data or "action" not in data:
        raise DatasetError(f"modality mapping {path} needs 'state' and 'action' sections")
    for section in ("state", "action"):
        for name, entry in data[section].items():
            if not isinstance(entry, dict) or not {"start", "end"} <= set(entry):
                raise DatasetError(f"modality mapping {path}: '{section}.{name}' needs 'start' and 'end'")
    return data


def match_embodiment(modality: Mapping[str, Any]) -> str | None:
    """Name of the registry embodiment whose key layout the modality mapping has, if any."""
    for name, emb in EMBODIMENTS.items():
        if modality_dict(emb)["state"] == {
            k: {
                "start": v["start"],
                "end": v["end"],
                "original_key": v.get("original_key", schema.FEATURE_STATE),
            }
            for k, v in modality.get("state", {}).items()
        } and [k.name for k in emb.action_keys] == list(modality.get("action", {})):
            return name
    return None


@dataclasses.dataclass(frozen=True)
class _Gather:
    column: str
    start: int
    stop: int


class ModalityMap:
    """Gathers an embodiment's state/action keys from dataset columns.

    Args:
        embodiment: the target layout (order and sizes of keys).
        modality: modality.json content (None: the registry layout on ``observation.state``/``action``).
        features: the dataset's feature dicts (to check that columns exist and are wide enough).

    Raises:
        SchemaMismatchError: a key is missing from the mapping, has another size than the
            embodiment's, or points outside its column; a video key is not a dataset feature.
    """

    def __init__(
        self, embodiment: Embodiment, modality: Mapping[str, Any] | None, features: Mapping[str, Any]
    ) -> None:
        self.embodiment = embodiment
        modality = modality if modality is not None else modality_dict(embodiment)
        self.state = self._plan("state", embodiment.state_keys, modality, features, schema.FEATURE_STATE)
        self.action = self._plan("action", embodiment.action_keys, modality, features, schema.FEATURE_ACTION)
        videos = modality.get("video") or {}
        by_original = {v.get("original_key", _VIDEO_PREFIX + k): k for k, v in videos.items()}
        missing = [k for k in embodiment.video_keys if k not in features]
        if missing:
            raise SchemaMismatchError(
                f"embodiment '{embodiment.name}' needs video features {missing}; the dataset has "
                f"{fmt.video_keys(features)} (modality video keys: {sorted(by_original)})"
            )
        self.video_keys = tuple(embodiment.video_keys)

    def _plan(
        self,
        section: str,
        keys: tuple[KeySlice, ...],
        modality: Mapping[str, Any],
        features: Mapping[str, Any],
        default_column: str,
    ) -> tuple[_Gather, ...]:
        entries = modality.get(section) or {}
        aliases = dict(self.embodiment.key_aliases)
        plan = []
        for key in keys:
            entry = entries.get(key.name)
            if entry is None or int(entry["end"]) - int(entry["start"]) != key.size:
                entry = self._alias_entry(section, key, entries, aliases) or entry
            if entry is None:
                raise SchemaMismatchError(
                    f"modality mapping lacks '{section}.{key.name}' needed by embodiment "
                    f"'{self.embodiment.name}' "
                    f"(has {sorted(entries)})"
                )
            start, stop = int(entry["start"]), int(entry["end"])
            column = entry.get("original_key", default_column)
            if stop - start != key.size:
                raise SchemaMismatchError(
                    f"'{section}.{key.name}' has {stop - start} dims in the dataset, embodiment "
                    f"'{self.embodiment.name}' expects {key.size}"
                )
            if column not in features:
                raise SchemaMismatchError(
                    f"'{section}.{key.name}' refers to column '{column}', which the dataset lacks"
                )
            width = int(features[column]["shape"][0])
            if not 0 <= start < stop <= width:
                raise SchemaMismatchError(
                    f"'{section}.{key.name}' spans [{start}, {stop}) but column '{column}' has {width} dims"
                )
            plan.append(_Gather(column, start, stop))
        return tuple(plan)

    @staticmethod
    def _alias_entry(
        section: str, key: KeySlice, entries: Mapping[str, Any], aliases: Mapping[str, tuple[str, ...]]
    ) -> dict[str, Any] | None:
        """One ``{start, end, original_key}`` entry made of a key's per-dimension aliases.

        ``None`` unless the aliases are all present, adjacent in order and in one column.
        """
        names = aliases.get(f"{section}.{key.name}")
        if not names or not all(name in entries for name in names):
            return None
        parts = [entries[name] for name in names]
        columns = {part.get("original_key") for part in parts}
        adjacent = all(int(a["end"]) == int(b["start"]) for a, b in itertools.pairwise(parts))
        if len(columns) != 1 or not adjacent:
            return None
        entry = {"start": int(parts[0]["start"]), "end": int(parts[-1]["end"])}
        column = columns.pop()
        if column is not None:
            entry["original_key"] = column
        return entry

    @property
    def columns(self) -> list[str]:
        """Dataset columns the mapping reads."""
        return sorted({g.column for g in (*self.state, *self.action)})

    @staticmethod
    def _gather(plan: tuple[_Gather, ...], data: Mapping[str, np.ndarray]) -> np.ndarray:
        parts = []
        for g in plan:
            column = np.asarray(data[g.column])
            column = column[:, None] if column.ndim == 1 else column
            parts.append(column[:, g.start : g.stop])
        return np.concatenate(parts, axis=1)

    def state_of(self, data: Mapping[str, np.ndarray]) -> np.ndarray:
        """(L, S) raw state in embodiment order from an episode's columns."""
        return self._gather(self.state, data)

    def action_of(self, data: Mapping[str, np.ndarray]) -> np.ndarray:
        """(L, A) raw actions in embodiment order from an episode's columns."""
        return self._gather(self.action, data)

    @classmethod
    def for_dataset(cls, dataset: Any, embodiment: str | Embodiment) -> ModalityMap:
        """Mapping for a :class:`LeRobotDataset` (its modality.json if present, else the registry layout)."""
        emb = get_embodiment(embodiment) if isinstance(embodiment, str) else embodiment
        return cls(emb, dataset.modality, dataset.features)
