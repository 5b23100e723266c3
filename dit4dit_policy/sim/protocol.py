"""The simulator's control topics: reset/status over DDS, as ``std_msgs/String`` (ROS-compatible).

The robot protocol has no notion of episodes, so the bridge adds one small topic pair (our design;
Unitree's Isaac-Lab simulator uses ``rt/reset_pose/cmd`` / ``rt/sim_state`` strings the same way,
g1_spec §1.1):

* ``rt/dit4dit/sim/command`` (ROS ``/dit4dit/sim/command``), reliable: one command per sample,

  - ``reset [<task>] [<seed>]`` — rebuild/randomise the scene (task default: current; seed default:
    current + 1), arms to the ready pose, grippers open, episode clock to 0;
  - ``status`` — publish a status sample now.

* ``rt/dit4dit/sim/status`` (ROS ``/dit4dit/sim/status``), reliable, transient-local depth 1: a
  JSON object published after every command and periodically (see :func:`status_fields`).

Both use the type ``std_msgs::msg::dds_::String_`` (one ``string data`` field), so
``ros2 topic pub /dit4dit/sim/command std_msgs/msg/String "{data: 'reset pick_place 3'}"`` works
on a ROS 2 machine on the same domain.

Torch-free.
"""

# No `from __future__ import annotations`: cyclonedds resolves IdlStruct field types at run time.
import dataclasses
import json
from typing import Any

from cyclonedds.idl import IdlStruct

from dit4dit_policy.sim.tasks import task_names

COMMAND_TOPIC = "rt/dit4dit/sim/command"
STATUS_TOPIC = "rt/dit4dit/sim/status"

#: Keys of every status JSON object (documented in docs/simulation.md).
STATUS_KEYS = (
    "task",
    "seed",
    "episode",
    "instruction",
    "success",
    "first_success_s",
    "elapsed_s",
    "time_limit_s",
    "timed_out",
    "sim_time_s",
    "control",
    "weight",
    "metrics",
    "layout",
    "ready_state",
    "counters",
    "last_command",
    "error",
    "stamp_ns",
)


@dataclasses.dataclass
class String_(IdlStruct, typename="std_msgs::msg::dds_::String_"):
    """``std_msgs/msg/String`` on the wire.

    Attributes:
        data: the text.
    """

    data: str


@dataclasses.dataclass(frozen=True)
class SimCommand:
    """A parsed command.

    Attributes:
        verb: ``"reset"`` or ``"status"``.
        task: task to reset to (None: keep the current one).
        seed: seed to reset with (None: current + 1).
    """

    verb: str
    task: str | None = None
    seed: int | None = None

    def to_text(self) -> str:
        """The wire form, e.g. ``"reset pick_place 3"``."""
        parts = [self.verb]
        if self.task is not None:
            parts.append(self.task)
        if self.seed is not None:
            parts.append(str(self.seed))
        return " ".join(parts)


def parse_command(text: str) -> SimCommand:
    """Parse ``reset [<task>] [<seed>]`` or ``status``.

    Raises:
        ValueError: unknown verb, unknown task, a seed that is not a non-negative integer, or extra
            words — the message gives the expected form.
    """
    form = "expected 'reset [<task>] [<seed>]' or 'status'"
    words = text.split()
    if not words:
        raise ValueError(f"empty simulator command; {form}")
    verb, args = words[0].lower(), words[1:]
    if verb == "status":
        if args:
            raise ValueError(f"'status' takes no arguments, got {text!r}")
        return SimCommand("status")
    if verb != "reset":
        raise ValueError(f"unknown simulator command {text!r}; {form}")
    task: str | None = None
    seed: int | None = None
    for arg in args:
        if arg.lstrip("-").isdigit():
            if seed is not None:
                raise ValueError(f"two seeds in {text!r}; {form}")
            seed = int(arg)
            if seed < 0:
                raise ValueError(f"seed must be a non-negative integer, got {arg!r}")
        elif task is None:
            if arg not in task_names():
                raise ValueError(
                    f"unknown task {arg!r} in {text!r}; expected one of {', '.join(task_names())}"
                )
            task = arg
        else:
            raise ValueError(f"unexpected word {arg!r} in {text!r}; {form}")
    return SimCommand("reset", task, seed)


def encode_status(status: dict[str, Any]) -> String_:
    """Status dict → message (compact JSON).

    Raises:
        ValueError: a key of :data:`STATUS_KEYS` is missing.
    """
    missing = [k for k in STATUS_KEYS if k not in status]
    if missing:
        raise ValueError(f"status lacks keys {missing}")
    return String_(data=json.dumps(status, separators=(",", ":")))


def decode_status(message: String_ | str) -> dict[str, Any]:
    """Message (or its text) → status dict.

    Raises:
        ValueError: not a JSON object with the :data:`STATUS_KEYS`.
    """
    text = message if isinstance(message, str) else message.data
    try:
        status = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"simulator status is not JSON: {exc}") from exc
    if not isinstance(status, dict) or any(k not in status for k in STATUS_KEYS):
        raise ValueError(f"simulator status must be a JSON object with keys {STATUS_KEYS}")
    return status
