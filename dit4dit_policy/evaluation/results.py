"""The durable results store: one JSON line per finished rollout in ``RESULTS_DIR/results.jsonl``.

File layout (each line one JSON object with a ``type``)::

    {"type": "header", "format": "dit4dit-eval-results", "version": 1, "fingerprint": {...}, ...}
    {"type": "session", "started_at": "...", "host": "...", "pid": ..., "resumed_after": 3}
    {"type": "rollout", "task": "stack_cups", "rollout": 0, "seed": 0, "outcome": "success", ...}
    ...

Guarantees:

* a rollout line is written, flushed and ``fsync``-ed before :meth:`ResultsStore.append` returns,
  so the runner never starts a rollout while the previous result could still be lost;
* a line torn by a crash in the middle of a write (no trailing newline, or not JSON) is cut off
  when the store is opened again — it was never acknowledged;
* the header's fingerprint (mode, checkpoint id, config hash, task list) must match when a run is
  resumed: results of another checkpoint or config never mix into the file (:class:`ResultsError`);
* one writer at a time (an ``flock`` on ``RESULTS_DIR/.lock``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import json
import logging
import math
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dit4dit_policy.errors import ResultsError
from dit4dit_policy.evaluation.interface import EndReason, Outcome

logger = logging.getLogger(__name__)

RESULTS_FILENAME = "results.jsonl"
LOCK_FILENAME = ".lock"
FORMAT_NAME = "dit4dit-eval-results"
FORMAT_VERSION = 1


def utc_now() -> str:
    """Current UTC time, ISO 8601 with milliseconds and ``Z``."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """What a results file is about; a resumed run must match it exactly.

    Attributes:
        mode: ``real`` or ``sim`` (or another environment kind).
        checkpoint_id: identifies the policy (see :func:`checkpoint_id` in ``evaluation.identity``).
        config_hash: :func:`~dit4dit_policy.evaluation.config.config_hash` of the evaluation config.
        tasks: task names, in config order.
    """

    mode: str
    checkpoint_id: str
    config_hash: str
    tasks: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "mode": self.mode,
            "checkpoint_id": self.checkpoint_id,
            "config_hash": self.config_hash,
            "tasks": list(self.tasks),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fingerprint:
        """Parse; raises KeyError/TypeError on a malformed mapping."""
        return cls(
            str(data["mode"]),
            str(data["checkpoint_id"]),
            str(data["config_hash"]),
            tuple(str(t) for t in data["tasks"]),
        )

    def differences(self, other: Fingerprint) -> list[str]:
        """Human-readable ``field: ours != theirs`` lines (empty when equal)."""
        out = []
        for field in ("mode", "checkpoint_id", "config_hash", "tasks"):
            mine, theirs = getattr(self, field), getattr(other, field)
            if mine != theirs:
                out.append(f"{field}: this run {_show(mine)} != results file {_show(theirs)}")
        return out


def _show(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


@dataclasses.dataclass
class RolloutRecord:
    """One finished rollout, as stored.

    Attributes:
        task: task name.
        rollout: 0-based rollout index within the task.
        seed: the rollout's seed.
        attempt: 0 for the first attempt; +1 for each voided earlier attempt of the same rollout.
        outcome: the verdict.
        end_reason: why the policy stopped.
        judged_by: ``predicate`` (simulation) or ``operator``.
        instruction: the instruction given to the policy.
        time_limit_s: the time budget [s].
        duration_s: time from start to stop on the environment's clock [s].
        started_at: UTC ISO time of start().
        ended_at: UTC ISO time the verdict was recorded.
        note: the operator's note, or a fault's reason.
        estop: whether an e-stop happened during the rollout.
        chunk_latencies_ms: inference latency of every chunk of the rollout [ms].
        metrics: task-specific numbers (NaN stored as null).
        episode_index: the rollout's episode in ``RESULTS_DIR/recordings`` (None: not recorded).
        recording_error: why the recording failed, if it did (the verdict still counts).
        position: position of the rollout in the run's order.
    """

    task: str
    rollout: int
    seed: int
    attempt: int
    outcome: Outcome
    end_reason: EndReason
    judged_by: str
    instruction: str
    time_limit_s: float
    duration_s: float
    started_at: str
    ended_at: str
    note: str = ""
    estop: bool = False
    chunk_latencies_ms: list[float] = dataclasses.field(default_factory=list)
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    episode_index: int | None = None
    recording_error: str | None = None
    position: int = 0

    @property
    def key(self) -> tuple[str, int]:
        """``(task, rollout)``."""
        return (self.task, self.rollout)

    @property
    def counts(self) -> bool:
        """False for voided attempts."""
        return self.outcome is not Outcome.VOID

    def to_json(self) -> dict[str, Any]:
        """JSON form (``type: rollout``)."""
        data = dataclasses.asdict(self)
        data["outcome"] = self.outcome.value
        data["end_reason"] = self.end_reason.value
        data["chunk_latencies_ms"] = [round(float(x), 3) for x in self.chunk_latencies_ms]
        # JSON has no NaN/inf: a non-finite metric is stored as null.
        data["metrics"] = {
            k: (float(v) if math.isfinite(float(v)) else None) for k, v in self.metrics.items()
        }
        return {"type": "rollout", **data}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RolloutRecord:
        """Parse a ``type: rollout`` line.

        Raises:
            KeyError / ValueError / TypeError: a missing field or a bad enum value.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in fields}
        kwargs["outcome"] = Outcome(data["outcome"])
        kwargs["end_reason"] = EndReason(data["end_reason"])
        kwargs["metrics"] = {
            k: (math.nan if v is None else float(v)) for k, v in data.get("metrics", {}).items()
        }
        return cls(**kwargs)


@dataclasses.dataclass
class Results:
    """Everything in a results file.

    Attributes:
        directory: the results directory.
        header: the header line.
        fingerprint: parsed from the header.
        records: rollout lines in file order (voided attempts included).
        sessions: session lines (one per start or resume).
        notes: informational lines (``type: note``), e.g. orphaned recordings.
    """

    directory: Path
    header: dict[str, Any]
    fingerprint: Fingerprint
    records: list[RolloutRecord]
    sessions: list[dict[str, Any]]
    notes: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def final(self) -> list[RolloutRecord]:
        """The counted (non-void) records, in file order."""
        return [r for r in self.records if r.counts]

    @property
    def voided(self) -> list[RolloutRecord]:
        """Voided attempts."""
        return [r for r in self.records if not r.counts]

    @property
    def tasks(self) -> list[str]:
        """Task names in config order."""
        return list(self.fingerprint.tasks)


def _parse_lines(path: Path, text: str) -> tuple[list[dict[str, Any]], int]:
    """Parse complete JSON lines; returns (objects, byte length of the good prefix)."""
    objects: list[dict[str, Any]] = []
    good = 0
    raw = text.encode("utf-8")
    start = 0
    lines = raw.split(b"\n")
    for number, line in enumerate(lines[:-1], start=1):  # the last element follows the last newline
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict) or "type" not in obj:
                raise ValueError("not an object with a 'type'")
        except ValueError as exc:
            rest = b"\n".join(lines[number:])
            if rest.strip():
                raise ResultsError(
                    f"{path}: line {number} is corrupt ({exc}) and is followed by more data"
                ) from exc
            return objects, start  # a torn final line
        objects.append(obj)
        start += len(line) + 1
        good = start
    return objects, good


def read_results(directory: str | Path) -> Results:
    """Read a results directory (read-only; a torn final line is ignored).

    Raises:
        ResultsError: no results file, no header, an unknown format/version, or a corrupt line
            that is not the last.
    """
    directory = Path(directory)
    path = directory / RESULTS_FILENAME
    if not path.is_file():
        raise ResultsError(f"{directory} is not an evaluation results directory: {path} does not exist")
    objects, _ = _parse_lines(path, path.read_text(encoding="utf-8"))
    return _from_objects(path, directory, objects)


def _from_objects(path: Path, directory: Path, objects: Sequence[dict[str, Any]]) -> Results:
    if not objects or objects[0].get("type") != "header":
        raise ResultsError(f"{path}: the first line must be the header (type 'header')")
    header = objects[0]
    if header.get("format") != FORMAT_NAME or header.get("version") != FORMAT_VERSION:
        raise ResultsError(
            f"{path}: format {header.get('format')!r} version {header.get('version')!r} is not "
            f"{FORMAT_NAME!r} version {FORMAT_VERSION}"
        )
    try:
        fingerprint = Fingerprint.from_json(header["fingerprint"])
    except (KeyError, TypeError) as exc:
        raise ResultsError(f"{path}: the header's fingerprint is malformed: {exc!r}") from exc
    records, sessions, notes = [], [], []
    for number, obj in enumerate(objects[1:], start=2):
        if obj["type"] == "rollout":
            try:
                records.append(RolloutRecord.from_json(obj))
            except (KeyError, ValueError, TypeError) as exc:
                raise ResultsError(f"{path}: line {number} is not a valid rollout record: {exc!r}") from exc
        elif obj["type"] == "session":
            sessions.append(obj)
        elif obj["type"] == "note":
            notes.append(obj)
    return Results(directory, header, fingerprint, records, sessions, notes)


class ResultsStore:
    """Appends rollout records durably; open it with :meth:`open`.

    Use as a context manager (or call :meth:`close`) to release the lock.
    """

    def __init__(self, directory: Path, results: Results, file: Any, lock: Any) -> None:
        self.directory = directory
        self.path = directory / RESULTS_FILENAME
        self._results = results
        self._file = file
        self._lock = lock

    @classmethod
    def open(
        cls,
        directory: str | Path,
        fingerprint: Fingerprint,
        header_extra: Mapping[str, Any] | None = None,
        session_extra: Mapping[str, Any] | None = None,
    ) -> ResultsStore:
        """Create a results directory, or resume one made by the same checkpoint and config.

        Args:
            directory: the results directory (created if missing).
            fingerprint: must equal the existing header's fingerprint when resuming.
            header_extra: more JSON-able header fields for a new file (resolved config, versions).
            session_extra: more JSON-able fields of this session's line (e.g. its rollouts per task).

        Returns:
            The open store, holding the directory's lock.

        Raises:
            ResultsError: the directory is locked by another run, the file is corrupt, or its
                fingerprint differs (every differing field is named).
        """
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise ResultsError(f"results path {directory} exists and is not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        lock = open(directory / LOCK_FILENAME, "a+")  # noqa: SIM115 - held for the store's lifetime
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            lock.close()
            raise ResultsError(
                f"results directory {directory} is in use by another evaluation "
                f"(lock {directory / LOCK_FILENAME})"
            ) from exc
        try:
            store = cls._open_locked(directory, fingerprint, header_extra, session_extra, lock)
        except BaseException:
            lock.close()
            raise
        return store

    @classmethod
    def _open_locked(
        cls,
        directory: Path,
        fingerprint: Fingerprint,
        header_extra: Mapping[str, Any] | None,
        session_extra: Mapping[str, Any] | None,
        lock: Any,
    ) -> ResultsStore:
        path = directory / RESULTS_FILENAME
        if path.is_file() and path.stat().st_size > 0:
            objects, good = _parse_lines(path, path.read_text(encoding="utf-8"))
            size = path.stat().st_size
            if good < size:
                logger.warning(
                    "%s: cutting off a torn final line (%d bytes) left by a crash", path, size - good
                )
                with open(path, "r+b") as f:
                    f.truncate(good)
                    f.flush()
                    os.fsync(f.fileno())
        else:
            objects = []
        if objects:
            results = _from_objects(path, directory, objects)
            diffs = fingerprint.differences(results.fingerprint)
            if diffs:
                raise ResultsError(
                    f"results in {directory} come from a different evaluation and will not be mixed "
                    "with this one:\n  "
                    + "\n  ".join(diffs)
                    + "\nUse a new results directory (or the original checkpoint and config to resume)."
                )
        else:
            header = {
                "type": "header",
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "fingerprint": fingerprint.to_json(),
                "created_at": utc_now(),
                **(header_extra or {}),
            }
            results = Results(directory, header, fingerprint, [], [])
            _write_new(path, header)
            _fsync_dir(directory)
        file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        store = cls(directory, results, file, lock)
        session = {
            "type": "session",
            "started_at": utc_now(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "resumed_after": len(results.records),
            **(session_extra or {}),
        }
        store._write(session)
        results.sessions.append(session)
        return store

    @property
    def results(self) -> Results:
        """Everything stored so far (the records list grows with :meth:`append`)."""
        return self._results

    def completed_keys(self) -> set[tuple[str, int]]:
        """Keys ``(task, rollout)`` that have a counted (non-void) record."""
        return {r.key for r in self._results.records if r.counts}

    def attempts(self, key: tuple[str, int]) -> int:
        """Number of stored attempts (voided ones included) of a rollout."""
        return sum(1 for r in self._results.records if r.key == key)

    def append(self, record: RolloutRecord) -> None:
        """Write one finished rollout, flushed and fsync-ed before returning.

        Raises:
            ResultsError: the rollout already has a counted record (never duplicate).
            OSError: the disk write failed.
        """
        if record.counts and record.key in self.completed_keys():
            raise ResultsError(
                f"rollout {record.key} already has a result in {self.path}; refusing to duplicate it"
            )
        self._write(record.to_json())
        self._results.records.append(record)

    def append_note(self, data: Mapping[str, Any]) -> None:
        """Write an informational line (``type: note``), durably."""
        note = {"type": "note", "at": utc_now(), **data}
        self._write(note)
        self._results.notes.append(note)

    def _write(self, obj: Mapping[str, Any]) -> None:
        line = json.dumps(obj, sort_keys=False, separators=(",", ":"), allow_nan=False)
        self._file.write(line + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file and release the lock (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_new(path: Path, header: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(header, separators=(",", ":"), allow_nan=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
