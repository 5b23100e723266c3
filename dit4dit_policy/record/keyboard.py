"""Single-key operator controls on a terminal (cbreak mode; restored on exit).

=====  ==========================================
key    command
=====  ==========================================
r      ``record``  start an episode
s      ``save``    stop and save the episode
d      ``discard`` stop and drop the episode
y      ``success`` mark the episode successful
n      ``failure`` mark the episode failed
t      ``task:…``  type a new task instruction
q      ``quit``    leave (commands that own the terminal)
h      print this help
=====  ==========================================

The same command words are accepted on ``/dit4dit/command`` (std_msgs/String), so a foot pedal
or a UI can publish them instead. Torch-free; POSIX terminals only.
"""

from __future__ import annotations

import logging
import select
import sys
import threading
from collections.abc import Callable
from typing import TextIO

logger = logging.getLogger(__name__)

KEY_COMMANDS = {"r": "record", "s": "save", "d": "discard", "y": "success", "n": "failure", "q": "quit"}
HELP = "keys: r=record  s=save  d=discard  y=success  n=failure  t=set task  q=quit  h=help"


def _say(text: str) -> None:
    """Write to the operator's terminal (stdout)."""
    sys.stdout.write(text)
    sys.stdout.flush()


class KeyboardControls:
    """Reads single keys from a TTY in a thread and calls ``callback(command)``.

    Args:
        callback: receives the command words of :data:`KEY_COMMANDS` and ``"task:<text>"``; called
            from the keyboard thread.
        stream: the terminal (default stdin).
    """

    def __init__(self, callback: Callable[[str], None], stream: TextIO | None = None) -> None:
        self.callback = callback
        self.stream = stream or sys.stdin
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start reading; False (and nothing started) when the stream is not a terminal."""
        try:
            if not self.stream.isatty():
                return False
        except (AttributeError, ValueError):
            return False
        self._thread = threading.Thread(target=self._run, name="keyboard", daemon=True)
        self._thread.start()
        _say(HELP + "\n")
        return True

    def stop(self) -> None:
        """Stop reading and restore the terminal."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)

    def _run(self) -> None:
        import termios
        import tty

        fd = self.stream.fileno()
        saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            while not self._stop.is_set():
                ready, _, _ = select.select([fd], [], [], 0.2)
                if not ready:
                    continue
                key = self.stream.read(1)
                if not key:
                    return
                key = key.lower()
                if key in KEY_COMMANDS:
                    self.callback(KEY_COMMANDS[key])
                elif key == "t":
                    termios.tcsetattr(fd, termios.TCSADRAIN, saved)
                    _say("task instruction: ")
                    line = self.stream.readline().strip()
                    tty.setcbreak(fd)
                    if line:
                        self.callback(f"task:{line}")
                elif key == "h":
                    _say(HELP + "\n")
        except Exception as exc:  # a broken terminal must not take the recorder down
            logger.warning("keyboard controls stopped: %s", exc)
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
