"""Start node processes, watch them, and stop them in order (used by ``dit4dit sim`` and tests).

Each process runs in its own process group with a log file. Stopping sends SIGINT (the nodes'
runners then deactivate and clean up, e.g. the controller ramps out) and escalates to SIGTERM and
SIGKILL after per-process grace periods. If any process dies while the group is running,
:meth:`ProcessGroup.check` reports it so the caller can stop everything cleanly.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from dit4dit_policy.errors import Dit4ditError

logger = logging.getLogger(__name__)

#: Environment variable naming the pid whose exit makes a node process shut down (see ProcessGroup).
PARENT_PID_ENV = "DIT4DIT_PARENT_PID"


@dataclasses.dataclass
class ManagedProcess:
    """One child process of a :class:`ProcessGroup`.

    Attributes:
        name: short name (log file ``<name>.log``).
        popen: the process.
        log_path: where its stdout/stderr go.
        stop_grace_s: how long to wait after SIGINT before escalating [s].
    """

    name: str
    popen: subprocess.Popen
    log_path: Path
    stop_grace_s: float
    _log: IO[bytes] | None = None

    @property
    def returncode(self) -> int | None:
        """Exit code, or None while running."""
        return self.popen.poll()

    def tail(self, lines: int = 20) -> str:
        """Last lines of the process's log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def node_argv(module: str, domain_id: int, params: Sequence[str] = (), interface: str = "lo") -> list[str]:
    """Command line of one node process on the DDS backend (``python -m dit4dit_policy.ros.<module>``).

    Args:
        module: node module in ``dit4dit_policy.ros`` (e.g. ``controller_node``).
        domain_id: DDS domain.
        params: ``key=value`` parameter overrides.
        interface: DDS interface (``lo``: loopback only).
    """
    argv = [sys.executable, "-m", f"dit4dit_policy.ros.{module}", "--backend", "dds"]
    argv += ["--domain-id", str(domain_id), "--interface", interface]
    for param in params:
        argv += ["--param", param]
    return argv


class ProcessDiedError(Dit4ditError, RuntimeError):
    """A managed process exited while the group was running.

    A ``Dit4ditError``: the ``dit4dit`` commands that run a node graph report it as a one-line cause
    plus the process's log tail and exit 1, instead of a traceback.
    """


class ProcessGroup:
    """A set of child processes started together and stopped in reverse order.

    Args:
        log_dir: directory for the ``<name>.log`` files.
        env: extra environment variables for every child (e.g. ``CYCLONEDDS_URI``).
    """

    def __init__(self, log_dir: str | Path, env: Mapping[str, str] | None = None) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # Children watch this pid (dds_backend.runner): if this process dies without stopping them
        # (SIGKILL, a crash), they shut down cleanly — the controller ramps out — instead of orphaning.
        self.env = {**os.environ, **(env or {}), PARENT_PID_ENV: str(os.getpid())}
        self.processes: list[ManagedProcess] = []

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, name: str, argv: Sequence[str], stop_grace_s: float = 10.0) -> ManagedProcess:
        """Start ``argv`` as process ``name``.

        Raises:
            ValueError: the name is already used.
        """
        if any(p.name == name for p in self.processes):
            raise ValueError(f"process name {name!r} is already used")
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("ab")
        popen = subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        proc = ManagedProcess(name, popen, log_path, stop_grace_s, log)
        self.processes.append(proc)
        logger.info("started %s (pid %d): %s", name, popen.pid, " ".join(argv))
        return proc

    def check(self) -> None:
        """Raise if a process has exited.

        Raises:
            ProcessDiedError: naming the process, its exit code and the end of its log.
        """
        for proc in self.processes:
            code = proc.returncode
            if code is not None:
                raise ProcessDiedError(
                    f"{proc.name} exited with code {code} (log: {proc.log_path}):\n{proc.tail()}"
                )

    def stop(self) -> dict[str, int | None]:
        """SIGINT each process in reverse start order, escalate on timeout; returns exit codes by name."""
        codes: dict[str, int | None] = {}
        for proc in reversed(self.processes):
            codes[proc.name] = self._stop_one(proc)
        for proc in self.processes:
            if proc._log is not None:
                proc._log.close()
                proc._log = None
        return codes

    @staticmethod
    def _stop_one(proc: ManagedProcess) -> int | None:
        if proc.returncode is not None:
            return proc.returncode
        for sig, grace in ((signal.SIGINT, proc.stop_grace_s), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.popen.pid, sig)
            except ProcessLookupError:
                break
            try:
                return proc.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not exit %.0f s after %s", proc.name, grace, sig.name)
        return proc.popen.poll()

    def wait_any(self, timeout_s: float) -> None:
        """Sleep up to ``timeout_s`` in small steps, raising as soon as a process dies.

        Raises:
            ProcessDiedError: as :meth:`check`.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check()
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        self.check()
