"""The operator console driven by scripted key presses through a pseudo-terminal.

`dit4dit eval real --environment sim` runs the real-robot protocol (terminal UI, operator marks,
e-stop keys) against the in-process simulator at wall-clock pace, with the do-nothing `hold`
policy so that a rollout only ends by its time limit or by the operator.
"""

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

ESC = "\x1b"
BACKSPACE = "\x7f"


class Console:
    """A child process on a pseudo-terminal, with expect/send."""

    def __init__(self, args, cwd):
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, close_fds=True)
        os.close(slave)
        self.fd = master
        self.buffer = ""
        self.pos = 0

    def _read(self, timeout):
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # the child closed the terminal
            return None
        if not data:
            return None
        self.buffer += data.decode("utf-8", errors="replace")
        return True

    def expect(self, pattern, timeout=90.0):
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.buffer, self.pos)
            if match:
                self.pos = match.end()
                return match
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {pattern!r}; output so far:\n{self.buffer[-3000:]}"
                )
            if self._read(0.2) is None:
                raise AssertionError(f"process ended before {pattern!r}; output:\n{self.buffer[-3000:]}")

    def send(self, text):
        os.write(self.fd, text.encode())

    def wait(self, timeout=90.0):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        while self._read(0.05):
            pass
        os.close(self.fd)
        return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def console_factory(tmp_path):
    consoles = []
    config = tmp_path / "eval.yaml"
    config.write_text(
        "protocol:\n  rollouts_per_task: 3\n  tasks:\n    - {name: close_drawer, time_limit_s: 1.5}\n"
        "recording:\n  enabled: false\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def start(out):
        args = [
            sys.executable,
            "-m",
            "dit4dit_policy.cli",
            "eval",
            "real",
            "--environment",
            "sim",
            "--policy",
            "hold",
            "--config",
            str(config),
            "--out",
            str(out),
            "--no-report",
        ]
        console = Console(args, cwd=root)
        consoles.append(console)
        return console

    yield start
    for console in consoles:
        console.kill()


def _records(out):
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return [line for line in lines if line["type"] == "rollout"]


def test_operator_marks_stop_estop_void_quit_and_resume(console_factory, tmp_path):
    out = tmp_path / "results"

    # Session 1: rollout 0 runs to its time limit and is marked partial with a note; then quit.
    c = console_factory(out)
    c.expect(r"NEXT: close_drawer 1/3 \(seed 0\)")
    c.expect(r"\[s\] start")
    c.send("s")
    c.expect(r"running: close_drawer 1/3")
    c.expect(r"ENDED: close_drawer 1/3 \(seed 0\) — time_limit")
    c.expect(r"\[y\] success \| \[n\] failure \| \[p\] partial \| \[v\] void")
    c.send("p")
    c.expect(r"marked PARTIAL")
    c.expect(r"note \(Enter")
    c.send("cup tipped over\r")
    c.expect(r"NEXT: close_drawer 2/3")
    c.expect(r"\[s\] start")
    c.send("q")
    assert c.wait() == 0
    recs = _records(out)
    assert [(r["rollout"], r["outcome"], r["note"]) for r in recs] == [(0, "partial", "cup tipped over")]
    assert recs[0]["judged_by"] == "operator" and recs[0]["end_reason"] == "time_limit"

    # Session 2 resumes at rollout 1.
    c = console_factory(out)
    c.expect(r"NEXT: close_drawer 2/3 \(seed 1\)")
    c.expect(r"\[s\] start")
    # Space between rollouts is an e-stop too: recover, and the same rollout is set up again.
    c.send(" ")
    c.expect(r"E-STOP ENGAGED")
    c.expect(r"\[r\] recover")
    c.send("r")
    c.expect(r"NEXT: close_drawer 2/3 \(seed 1\)")
    c.expect(r"\[s\] start")
    c.send("s")
    c.expect(r"running: close_drawer 2/3")
    c.send("x")  # operator stops it early (the hold policy never ends it by itself)
    c.expect(r"ENDED: close_drawer 2/3 \(seed 1\) — operator_stop")
    c.send("n")
    c.expect(r"note \(Enter")
    c.send("\r")
    c.expect(r"NEXT: close_drawer 3/3 \(seed 2\)")
    c.expect(r"\[s\] start")
    c.send("s")
    c.expect(r"running: close_drawer 3/3")
    c.send(ESC)  # e-stop during the rollout
    c.expect(r"E-STOP ENGAGED")
    c.expect(r"ENDED: close_drawer 3/3 \(seed 2\) — estop")
    c.send("vscene set up wrong\r")  # mark and note typed in one go: the spaces are text
    c.expect(r"note \(Enter")
    c.expect(r"\[r\] recover")
    c.send("r")
    # The voided rollout runs again; a space inside a note is text, backspace edits.
    c.expect(r"NEXT: close_drawer 3/3 \(seed 2\)")
    c.expect(r"\[s\] start")
    c.send("s")
    c.expect(r"ENDED: close_drawer 3/3 \(seed 2\) — time_limit")
    c.send("y" + "good" + BACKSPACE * 4 + "all fine\r")
    c.expect(r"note \(Enter")
    c.expect(r"3 of 3 done")
    assert c.wait() == 0
    assert "E-STOP ENGAGED" not in c.buffer[c.buffer.rindex("marked SUCCESS") :]  # Space in a note is text

    recs = _records(out)
    got = [(r["rollout"], r["attempt"], r["outcome"], r["end_reason"], r["estop"], r["note"]) for r in recs]
    assert got == [
        (0, 0, "partial", "time_limit", False, "cup tipped over"),
        (1, 0, "failure", "operator_stop", False, ""),
        (2, 0, "void", "estop", True, "scene set up wrong"),
        (2, 1, "success", "time_limit", False, "all fine"),
    ]
    assert all(r["judged_by"] == "operator" for r in recs)
    assert recs[1]["duration_s"] < 1.5  # stopped before its time limit
    lines = (out / "results.jsonl").read_text().splitlines()
    assert [json.loads(x)["type"] for x in lines].count("session") == 2
