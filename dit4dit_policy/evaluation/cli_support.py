"""Shared argument handling of the ``dit4dit eval sim|real`` commands (kept out of the thin CLI files).

Precedence: defaults (dataclasses) < ``--config`` YAML < ``--a.b=value`` overrides < the named
flags (``--task``, ``--rollouts``, ``--seed``, ``--order``, ``--no-record``).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dit4dit_policy.config import apply_overrides, from_dict, read_yaml
from dit4dit_policy.errors import ConfigError
from dit4dit_policy.evaluation.config import EvalConfig
from dit4dit_policy.evaluation.results import RolloutRecord
from dit4dit_policy.evaluation.runner import RunSummary


def add_protocol_arguments(parser: argparse.ArgumentParser, task_help: str) -> None:
    """The options every protocol command shares."""
    parser.add_argument("--out", type=Path, required=True, help="results directory (created, or resumed)")
    parser.add_argument(
        "--config", type=Path, help="evaluation config YAML (protocol, recording, sim sections)"
    )
    parser.add_argument("--task", action="append", default=None, metavar="NAME[=INSTRUCTION]", help=task_help)
    parser.add_argument("--rollouts", type=int, help="rollouts per task (default 20)")
    parser.add_argument("--seed", type=int, help="base seed; rollout k uses seed+k (default 0)")
    parser.add_argument("--order", choices=("blocked", "interleaved", "shuffled"), help="rollout order")
    parser.add_argument("--limit", type=int, help="run at most this many rollouts now (resume later)")
    parser.add_argument("--no-record", action="store_true", help="do not record rollouts as LeRobot episodes")
    parser.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    parser.add_argument("--traces", type=int, default=6, help="joint-trace figures in the report (default 6)")


def parse_task(text: str) -> dict[str, Any]:
    """``"name"`` or ``"name=instruction"`` → a task mapping.

    Raises:
        ConfigError: an empty name or instruction.
    """
    name, sep, instruction = text.partition("=")
    name, instruction = name.strip(), instruction.strip()
    if not name or (sep and not instruction):
        raise ConfigError(f"--task must look like NAME or NAME=INSTRUCTION, got {text!r}")
    return {"name": name, "instruction": instruction} if sep else {"name": name}


def load_eval_config(args: argparse.Namespace) -> EvalConfig:
    """The evaluation config from ``--config``, overrides and flags.

    Raises:
        ConfigError: unknown keys, wrong types, out-of-range values (naming the key and source).
    """
    data = read_yaml(args.config) if args.config is not None else {}
    data = apply_overrides(data, getattr(args, "overrides", []) or [])
    protocol = data.setdefault("protocol", {})
    if not isinstance(protocol, dict):
        raise ConfigError(f"config error in {args.config}: 'protocol' must be a mapping")
    if args.task:
        protocol["tasks"] = [parse_task(t) for t in args.task]
    for flag, key in (("rollouts", "rollouts_per_task"), ("seed", "seed"), ("order", "order")):
        if getattr(args, flag) is not None:
            protocol[key] = getattr(args, flag)
    if args.no_record:
        recording = data.setdefault("recording", {})
        if not isinstance(recording, dict):
            raise ConfigError(f"config error in {args.config}: 'recording' must be a mapping")
        recording["enabled"] = False
    source = str(args.config) if args.config is not None else "<defaults>"
    config = from_dict(EvalConfig, data, source=source + " + command line")
    if not config.protocol.tasks:
        raise ConfigError(
            "no tasks: give --task NAME[=INSTRUCTION] (repeatable) or protocol.tasks in --config"
        )
    if args.limit is not None and args.limit < 0:
        raise ConfigError(f"--limit must be >= 0, got {args.limit}")
    return config


def load_factory(spec: str) -> Callable[..., Any]:
    """``"package.module:callable"`` → the callable.

    Raises:
        ConfigError: a malformed spec, a module that cannot be imported, or a missing attribute.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"an environment factory must look like 'package.module:callable', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"environment factory module {module_name!r} cannot be imported: {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"{module_name} has no callable {attr!r}")
    return factory


def result_line(record: RolloutRecord) -> str:
    """One line per finished rollout for the console."""
    lat = sorted(record.chunk_latencies_ms)
    median = f"{lat[len(lat) // 2]:.1f} ms" if lat else "n/a"
    note = f" — {record.note}" if record.note else ""
    return (
        f"[{record.position + 1:>3}] {record.task} rollout {record.rollout} (seed {record.seed}): "
        f"{record.outcome.value.upper()} ({record.end_reason.value}, {record.duration_s:.1f} s, "
        f"{len(record.chunk_latencies_ms)} chunks, median latency {median}){note}"
    )


def summary_lines(summary: RunSummary) -> list[str]:
    """Console summary of a session."""
    from dit4dit_policy.evaluation.summary import summarize

    stats = summarize(summary.results)
    lines = [
        f"{summary.ran} rollout(s) run in this session; {stats.overall.n} of {stats.overall.planned} done"
    ]
    for t in [*stats.tasks, stats.overall]:
        lines.append(f"  {t.task:<24} {t.success.format()}" + (f", {t.partial} partial" if t.partial else ""))
    if not summary.finished:
        lines.append("  incomplete: run the same command again to resume")
    return lines
