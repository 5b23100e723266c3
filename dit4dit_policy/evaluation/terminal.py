"""The real-robot operator console: single-key protocol control in a terminal, e-stop at all times.

Keys (shown on every prompt)::

    Esc or Space   E-STOP — at any moment (while typing a note only Esc, Space types a space)
    s              start the rollout (after the scene is reset)
    x              stop the running rollout now (the operator ends it early)
    y / n / p      mark success / failure / partial
    v              void the attempt (scene set up wrongly, fault unrelated to the policy): redo it
    r              after an e-stop: recover (e-stop released, the arms go home) and go on
    q              quit the session (between rollouts; results so far are kept and resume later)

A background thread reads the terminal in cbreak mode (no echo, no line buffering) and calls the
environment's ``estop()`` itself the moment an e-stop key arrives, so the e-stop works while the
main thread is blocked in a reset, in homing, or waiting for a key. Ctrl-C still raises
``KeyboardInterrupt`` in the main thread (the CLI e-stops and exits).

Drivable through a pseudo-terminal (tests/evaluation/test_terminal_protocol.py).
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import sys
import termios
import threading
import tty
from typing import TextIO

from dit4dit_policy.evaluation.interface import (
    EndReason,
    Mark,
    OperatorEvent,
    Outcome,
    RolloutEnvironment,
    RolloutStatus,
)

ESC = "\x1b"
ESTOP_KEYS = (ESC, " ")
MARK_KEYS = {"y": Outcome.SUCCESS, "n": Outcome.FAILURE, "p": Outcome.PARTIAL, "v": Outcome.VOID}
#: Longest note kept [characters] (one line in the results file and the report table).
MAX_NOTE_CHARS = 200

BANNER = "[Esc/Space] E-STOP"


class TerminalOperator:
    """Operator console on a terminal (see the module docstring for the keys).

    Args:
        input_fd: file descriptor of the terminal to read keys from (default: stdin).
        output: where prompts go (default: stdout).

    Raises:
        RuntimeError: ``input_fd`` is not a terminal (the protocol needs single key presses).
    """

    interactive = True

    def __init__(self, input_fd: int | None = None, output: TextIO | None = None) -> None:
        self._fd = sys.stdin.fileno() if input_fd is None else input_fd
        if not os.isatty(self._fd):
            raise RuntimeError(
                "the real-robot protocol needs an interactive terminal for its keys (e-stop, start, marks); "
                f"file descriptor {self._fd} is not a terminal (run `dit4dit eval real` in a terminal of "
                "its own, e.g. next to `ros2 launch dit4dit_policy evaluate.launch.py`, not as a process "
                "started by ros2 launch)"
            )
        self._out = output or sys.stdout
        self._keys: queue.Queue[str] = queue.Queue()
        self._estop = threading.Event()
        # Input mode, set by the main thread and, on a mark key, by the key thread itself, so that a
        # note typed right after the mark never has its spaces taken for e-stops: "command" →
        # "marking" (judge) → "note" (from the mark key on) → "command".
        self._mode = "command"
        self._halt = threading.Event()
        self._environment: RolloutEnvironment | None = None
        self._saved: list | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------
    def attach(self, environment: RolloutEnvironment) -> None:
        """Put the terminal in cbreak mode and start the key thread (e-stop → ``environment.estop``)."""
        self._environment = environment
        self._saved = termios.tcgetattr(self._fd)
        tty.setcbreak(self._fd)
        self._halt.clear()
        self._thread = threading.Thread(target=self._read_keys, name="operator-keys", daemon=True)
        self._thread.start()
        self._say(f"operator console ready — {BANNER} at any time")

    def detach(self) -> None:
        """Stop the key thread and restore the terminal (idempotent)."""
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    # -- key thread ----------------------------------------------------------------------------
    def _read_keys(self) -> None:
        while not self._halt.is_set():
            try:
                ready, _, _ = select.select([self._fd], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(self._fd, 64)
            except OSError:
                return
            if not data:
                return
            for char in data.decode("utf-8", errors="replace"):
                if char == ESC or (char == " " and self._mode != "note"):
                    self._engage_estop()
                    continue
                if self._mode == "marking" and char.lower() in MARK_KEYS:
                    self._mode = "note"
                self._keys.put(char)

    def _engage_estop(self) -> None:
        if self._environment is not None:
            self._environment.estop()
        first = not self._estop.is_set()
        self._estop.set()
        if first:
            self._say("\n*** E-STOP ENGAGED ***")

    # -- output --------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        with self._lock:
            self._out.write(text + "\n")
            self._out.flush()

    def announce(self, text: str) -> None:
        """Print a status line."""
        self._say(f"-- {text}")

    def _drain(self) -> None:
        while True:
            try:
                self._keys.get_nowait()
            except queue.Empty:
                return

    def _key(self, allowed: str, stop_on_estop: bool = True) -> str:
        """Block for one of ``allowed``; ``""`` when an e-stop engages first (if ``stop_on_estop``)."""
        while True:
            if stop_on_estop and self._estop.is_set():
                return ""
            try:
                char = self._keys.get(timeout=0.05)
            except queue.Empty:
                continue
            if char.lower() in allowed:
                return char.lower()

    # -- Operator protocol ---------------------------------------------------------------------
    def wait_for_start(self, label: str) -> OperatorEvent:
        """Prompt for ``s`` (start) or ``q`` (quit); returns START at once if an e-stop engages."""
        self._drain()
        self._say(f"\nNEXT: {label}\n  reset the scene, then press [s] start | [q] quit | {BANNER}")
        key = self._key("sq")
        return OperatorEvent.QUIT if key == "q" else OperatorEvent.START

    def poll_event(self) -> OperatorEvent | None:
        """``x`` → STOP, ``q`` → QUIT (ends the rollout, then the session); other keys are ignored."""
        while True:
            try:
                char = self._keys.get_nowait().lower()
            except queue.Empty:
                return None
            if char == "x":
                return OperatorEvent.STOP
            if char == "q":
                return OperatorEvent.QUIT

    def estopped(self) -> bool:
        """Whether an e-stop engaged since the last :meth:`clear_estop`."""
        return self._estop.is_set()

    def clear_estop(self) -> None:
        """Acknowledge the e-stop (after :meth:`confirm_recovery`)."""
        self._estop.clear()

    def judge(self, label: str, status: RolloutStatus, end_reason: EndReason) -> Mark:
        """Ask for the verdict (y/n/p/v) and an optional one-line note."""
        self._mode = "marking"
        self._drain()
        hint = ""
        if status.phase.terminal:
            hint = (
                f" (environment reports: {status.phase.value}{', ' + status.reason if status.reason else ''})"
            )
        self._say(
            f"\nENDED: {label} — {end_reason.value} after {status.elapsed_s:.1f} s{hint}\n"
            f"  judge the final scene: [y] success | [n] failure | [p] partial | [v] void (redo) | {BANNER}"
        )
        outcome = MARK_KEYS[self._key("ynpv", stop_on_estop=False)]
        self._say(f"  marked {outcome.value.upper()}")
        return Mark(outcome, self._read_note())

    def _read_note(self) -> str:
        self._mode = "note"  # normally already set by the key thread on the mark key
        self._echo("  note (Enter to finish, empty for none; Esc = E-STOP): ")
        chars: list[str] = []
        try:
            while True:
                try:
                    char = self._keys.get(timeout=0.05)
                except queue.Empty:
                    continue
                if char in ("\r", "\n"):
                    break
                if char in ("\x7f", "\b"):
                    if chars:
                        chars.pop()
                        self._echo("\b \b")
                    continue
                if char.isprintable() and len(chars) < MAX_NOTE_CHARS:
                    chars.append(char)
                    self._echo(char)
        finally:
            self._mode = "command"
        self._echo("\n")
        return "".join(chars).strip()

    def _echo(self, text: str) -> None:
        with self._lock:
            self._out.write(text)
            self._out.flush()

    def confirm_recovery(self) -> bool:
        """After an e-stop: ``r`` → True (recover and go on), ``q`` → False (end the session)."""
        self._drain()
        self._say(
            "\nE-STOP is engaged. Make the workspace safe, release the robot's stop if needed, then\n"
            "  [r] recover (the e-stop is released, the arms go home) | [q] quit"
        )
        key = self._key("rq", stop_on_estop=False)
        return key == "r"
