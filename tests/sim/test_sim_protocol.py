"""Simulator command/status protocol parsing."""

import pytest

from dit4dit_policy.sim import protocol


@pytest.mark.parametrize(
    ("text", "verb", "task", "seed"),
    [
        ("reset", "reset", None, None),
        ("reset pick_place", "reset", "pick_place", None),
        ("reset 12", "reset", None, 12),
        ("reset stack_cups_heldout 3", "reset", "stack_cups_heldout", 3),
        ("  RESET  close_drawer 0 ", "reset", "close_drawer", 0),
        ("status", "status", None, None),
    ],
)
def test_parse_valid(text, verb, task, seed):
    command = protocol.parse_command(text)
    assert (command.verb, command.task, command.seed) == (verb, task, seed)
    assert protocol.parse_command(command.to_text()) == command


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("jump", "unknown simulator command"),
        ("reset fly 1", "unknown task 'fly'"),
        ("reset 1 2", "two seeds"),
        ("reset -4", "non-negative"),
        ("reset pick_place stack_cups", "unexpected word"),
        ("status now", "no arguments"),
    ],
)
def test_parse_invalid_names_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        protocol.parse_command(text)


def test_status_round_trip_requires_every_key():
    status = dict.fromkeys(protocol.STATUS_KEYS)
    status.update(task="close_drawer", seed=1)
    assert protocol.decode_status(protocol.encode_status(status)) == status
    del status["seed"]
    with pytest.raises(ValueError, match="seed"):
        protocol.encode_status(status)
    with pytest.raises(ValueError, match="JSON"):
        protocol.decode_status("not json")
