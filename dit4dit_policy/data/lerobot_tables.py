"""pyarrow tables of the LeRobot v3.0 layout: per-frame data, episodes metadata, tasks (torch-free)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dit4dit_policy.data import lerobot_format as fmt
from dit4dit_policy.errors import DatasetError

_ARROW_TYPES = {
    "float32": pa.float32(),
    "float64": pa.float64(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "bool": pa.bool_(),
}


def frames_table(columns: Mapping[str, np.ndarray], features: Mapping[str, Mapping[str, Any]]) -> pa.Table:
    """Per-frame data table: (1,)-shaped features as scalars, vectors as fixed-size lists.

    Matches what LeRobot writes through HF ``datasets`` (``Value`` / ``Sequence(length=D)``).

    Args:
        columns: per non-visual feature, an (L,) or (L, D) array already of the feature's dtype.
        features: feature dicts (column order follows them).
    """
    arrays, names = [], []
    for key, feature in features.items():
        if fmt.is_visual(feature) or key not in columns:
            continue
        value = np.asarray(columns[key])
        arrow_type = _ARROW_TYPES[feature["dtype"]]
        dim = feature["shape"][0]
        if feature["shape"] == (1,):
            arrays.append(pa.array(value.reshape(-1), type=arrow_type))
        else:
            flat = pa.array(value.reshape(-1), type=arrow_type)
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, dim))
        names.append(key)
    return pa.Table.from_arrays(arrays, names=names)


def column_to_numpy(column: pa.ChunkedArray | pa.Array, feature: Mapping[str, Any], where: str) -> np.ndarray:
    """A data column as (L,) for (1,)-shaped features or (L, D) for vectors.

    Raises:
        DatasetError: the column's width differs from the feature's shape, or it holds nulls.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if column.null_count:
        raise DatasetError(f"{where} has {column.null_count} missing values")
    dim = int(feature["shape"][0])
    if (
        pa.types.is_list(column.type)
        or pa.types.is_fixed_size_list(column.type)
        or pa.types.is_large_list(column.type)
    ):
        values = column.flatten().to_numpy(zero_copy_only=False)
        if len(column) and values.size != len(column) * dim:
            raise DatasetError(
                f"{where} must have {dim} values per frame (shape {tuple(feature['shape'])}), "
                f"got {values.size} values in {len(column)} frames"
            )
        out = values.reshape(len(column), dim)
        return _writable(out[:, 0] if feature["shape"] == (1,) else out)
    if dim != 1:
        raise DatasetError(f"{where} must hold {dim}-D vectors per frame, found scalars")
    return _writable(column.to_numpy(zero_copy_only=False))


def _writable(array: np.ndarray) -> np.ndarray:
    """Arrow buffers are read-only; callers get ordinary (writable) arrays."""
    return array if array.flags.writeable else array.copy()


def episodes_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Episodes metadata rows → table (``tasks`` as list<string>, indices int64, stats lists)."""
    columns: dict[str, list[Any]] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, [])
    for row in rows:
        for key in columns:
            columns[key].append(fmt.jsonable(row.get(key)))
    arrays = {}
    for key, values in columns.items():
        if key == "tasks":
            arrays[key] = pa.array(values, type=pa.list_(pa.string()))
        elif key.endswith(("_index", "/chunk_index", "/file_index")) or key == "length":
            arrays[key] = pa.array(values, type=pa.int64())
        elif key.endswith(("from_timestamp", "to_timestamp")):
            arrays[key] = pa.array(values, type=pa.float64())
        else:
            arrays[key] = pa.array(values)
    return pa.table(arrays)


def read_episodes_rows(root: Path) -> list[dict[str, Any]]:
    """All rows of ``meta/episodes/chunk-*/file-*.parquet``, sorted by episode index.

    Raises:
        DatasetError: an unreadable metadata file or one without ``episode_index``.
    """
    rows: list[dict[str, Any]] = []
    for path in sorted((root / fmt.EPISODES_DIR).glob("chunk-*/file-*.parquet")):
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise DatasetError(f"episodes metadata {path} is unreadable: {exc}") from exc
        if "episode_index" not in table.column_names:
            raise DatasetError(f"episodes metadata {path} lacks the column 'episode_index'")
        rows.extend(table.to_pylist())
    rows.sort(key=lambda r: int(r["episode_index"]))
    return rows


def tasks_table(tasks: Sequence[str]) -> pa.Table:
    """``meta/tasks.parquet``: columns task_index, task; pandas reads ``task`` as the index like LeRobot's."""
    table = pa.table(
        {
            "task_index": pa.array(range(len(tasks)), type=pa.int64()),
            "task": pa.array(list(tasks), pa.string()),
        }
    )
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": "task",
                "field_name": "task",
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    return table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})


def read_tasks(path: Path) -> list[str]:
    """Task strings by task_index from a v3.0 ``tasks.parquet`` (ours or LeRobot's pandas-indexed one).

    Raises:
        DatasetError: unreadable file, no task column, or task indices that are not 0..N-1.
    """
    if not path.is_file():
        raise DatasetError(f"tasks file {path} does not exist")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"tasks file {path} is unreadable: {exc}") from exc
    names = table.column_names
    text_col = next((c for c in ("task", "__index_level_0__") if c in names), None)
    if text_col is None:
        strings = [c for c in names if pa.types.is_string(table.schema.field(c).type)]
        text_col = strings[0] if strings else None
    if text_col is None or "task_index" not in names:
        raise DatasetError(f"tasks file {path} needs columns 'task_index' and 'task', found {names}")
    indices = table.column("task_index").to_pylist()
    texts = table.column(text_col).to_pylist()
    if sorted(indices) != list(range(len(indices))):
        raise DatasetError(
            f"tasks file {path}: task_index must be 0..{len(indices) - 1}, got {sorted(indices)}"
        )
    out = [""] * len(indices)
    for i, text in zip(indices, texts, strict=True):
        out[i] = text
    return out
