"""GraphRolloutEnvironment's command mapping against a model of the controller's diagnostics.

The real processes are exercised in tests/ros/test_eval_graph.py (the e-stop recovery against the
controller node and the fake G1, and rollouts through the simulated graph); this checks which
operator commands ``reset``/``home``/``estop`` send in each supervisor state, including a
diagnostics view that lags the controller (it publishes its state every 0.5 s).
"""

import pytest

from dit4dit_policy.ros.eval_environment import GraphRolloutEnvironment


class ModelClient:
    """The GraphClient surface the environment uses, over a tiny model of the supervisor.

    Commands act at once on ``state``; ``controller_state`` (what diagnostics report) catches up
    one spin later. A RAMP_OUT ends in IDLE after one spin; ``on_spin`` hooks run on every spin.
    With ``operator_stop_holds`` a ``stop`` outside HOLD only holds (``operator_hold`` in the
    diagnostics) and the next ``stop`` or ``reset`` ramps out.
    """

    def __init__(self, state, operator_stop_holds=False):
        self.state = state
        self.reported = state
        self.operator_stop_holds = operator_stop_holds
        self.operator_hold = False
        self.reported_operator_hold = False
        self.commands = []
        self.on_frame = []
        self.on_spin = []

    @property
    def controller_state(self):
        return self.reported

    @property
    def controller(self):
        return {"state": self.reported, "operator_hold": str(self.reported_operator_hold)}

    def command(self, name):
        self.commands.append(name)
        stoppable = ("run", "hold", "ramp_in", "move_to_start")
        if name == "estop":
            self.state, self.operator_hold = "estop", False
        elif self.operator_hold and name in ("stop", "reset"):
            self.state, self.operator_hold = "ramp_out", False
        elif name == "stop" and self.operator_stop_holds and self.state in stoppable:
            self.state, self.operator_hold = "hold", True
        elif (name, self.state) == ("reset", "estop") or (name == "stop" and self.state in stoppable):
            self.state = "ramp_out"

    def spin(self, seconds=0.0):
        self.reported = self.state
        self.reported_operator_hold = self.operator_hold
        if self.state == "ramp_out":
            self.state = "idle"
        for hook in self.on_spin:
            hook()

    def wait(self, predicate, timeout_s, what):
        for _ in range(20):
            if predicate():
                return
            self.spin()
        raise TimeoutError(f"waiting for {what}")


def test_home_after_an_estop_from_elsewhere_sends_reset_and_waits_for_idle():
    client = ModelClient("estop")
    env = GraphRolloutEnvironment(client, record=False)
    assert env.estop_latched()
    assert env.reset("task", 0) is None and client.commands == []  # never cleared without confirmation
    env.home()  # the runner calls it after the operator confirmed recovery
    assert client.commands == ["reset"] and client.controller_state == "idle"
    assert not env.estop_latched()


def test_home_after_its_own_estop_resets_even_before_diagnostics_report_it():
    client = ModelClient("run")
    env = GraphRolloutEnvironment(client, record=False)
    env.estop()
    assert client.commands == ["estop"] and client.controller_state == "run"  # not reported yet
    assert env.estop_latched()
    env.home()
    assert client.commands == ["estop", "reset"] and client.controller_state == "idle"


def test_home_after_a_stop_ends_the_hold_and_never_resets():
    client = ModelClient("run")
    env = GraphRolloutEnvironment(client, record=False)
    env.stop()
    client.state = client.reported = "hold"  # the supervisor holds after an operator stop
    env.home()
    assert client.commands == ["stop", "stop"] and client.controller_state == "idle"


def test_an_estop_while_homing_stays_latched():
    client = ModelClient("estop")
    env = GraphRolloutEnvironment(client, record=False)
    client.on_spin.append(
        lambda: client.commands.count("reset") and "estop" not in client.commands and env.estop()
    )
    env.home()  # returns early: the new e-stop is the operator's to confirm
    assert client.commands == ["reset", "estop"]
    assert env.estop_latched() and client.state == "estop"
    env.home()
    assert client.commands == ["reset", "estop", "reset"] and client.controller_state == "idle"


def test_a_controller_that_stays_in_estop_after_reset_is_an_error():
    client = ModelClient("estop")
    client.command = lambda name: client.commands.append(name)  # ignores everything
    env = GraphRolloutEnvironment(client, record=False)
    with pytest.raises(TimeoutError, match="leave its e-stop"):
        env.home()


def test_with_operator_stop_holds_the_rollout_stop_holds_until_home_sends_the_second_stop():
    client = ModelClient("run", operator_stop_holds=True)
    env = GraphRolloutEnvironment(client, record=False)
    env.stop()
    for _ in range(50):  # the verdict: the controller keeps holding
        client.spin()
    assert client.commands == ["stop"] and client.controller_state == "hold"
    env.home()
    assert client.commands == ["stop", "stop"] and client.controller_state == "idle"


@pytest.mark.parametrize("state", ["run", "ramp_in", "move_to_start", "wait_state"])
def test_with_operator_stop_holds_reset_of_an_active_controller_repeats_stop_until_idle(state, monkeypatch):
    """A `stop` that finds the controller active (not yet holding) only starts the operator-stop
    hold; the environment repeats `stop` while the diagnostics report that hold."""
    monkeypatch.setattr("dit4dit_policy.ros.eval_environment.STOP_REPEAT_S", 0.0)
    client = ModelClient(state, operator_stop_holds=True)
    if state == "wait_state":  # stop → idle at once (the model treats it as nothing to hold)
        client.command = lambda name: (client.commands.append(name), setattr(client, "state", "idle"))
    env = GraphRolloutEnvironment(client, record=False)
    env.reset("task", 0)
    expected = ["stop"] if state == "wait_state" else ["stop", "stop"]
    assert client.commands == expected and client.controller_state == "idle"


def test_without_operator_stop_holds_stop_is_sent_once():
    client = ModelClient("run")
    env = GraphRolloutEnvironment(client, record=False)
    env.reset("task", 0)
    assert client.commands == ["stop"] and client.controller_state == "idle"
