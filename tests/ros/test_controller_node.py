"""Controller node logic on an in-memory graph: transition diagnostics past the bounded log, cleanup."""

from __future__ import annotations

from fake_graph import FakeGraph

from dit4dit_policy.robot.controller import ControllerConfig
from dit4dit_policy.robot.grippers.factory import GripperConfig
from dit4dit_policy.robot.link import LinkConfig
from dit4dit_policy.robot.supervisor import Inputs, State
from dit4dit_policy.ros import interfaces as itf
from dit4dit_policy.ros.controller_node import ControllerNode, ControllerNodeConfig
from dit4dit_policy.ros.graph import LifecycleState


def configured_node(config: ControllerNodeConfig | None = None) -> tuple[ControllerNode, FakeGraph]:
    graph = FakeGraph()
    node = ControllerNode(graph, config or ControllerNodeConfig())
    assert node.trigger("configure")
    return node, graph


class Cycles:
    """start/stop cycles of the node's supervisor with a fake clock (no state: it stays in WAIT_STATE)."""

    def __init__(self, node: ControllerNode) -> None:
        self.sup = node.controller.supervisor
        self.t = 100.0

    def run(self, n: int) -> None:
        for _ in range(n):
            for command in ("start", "stop"):
                self.sup.command(command)
                self.t += 0.004
                self.sup.step(Inputs(self.t, int(self.t * 1e9), ("state_stale", "no state"), None))


def transition_statuses(graph: FakeGraph) -> list[itf.DiagnosticStatusData]:
    (diag,) = [p for p in graph.publishers if p.topic == itf.TOPIC_DIAGNOSTICS]
    return [s for array in diag.sent for s in array.status if s.name == "controller_node: transition"]


def test_every_transition_is_published_once_past_the_bounded_log():
    node, graph = configured_node()
    cycles = Cycles(node)
    for _ in range(8):  # 8 × 40 = 320 transitions, more than the supervisor keeps (log_size 200)
        cycles.run(20)
        node._publish_diagnostics()
    node._publish_diagnostics()  # nothing new: publishes no transition again
    statuses = transition_statuses(graph)
    assert cycles.sup.transition_count == 320 > cycles.sup.config.log_size
    assert [int(s.values["seq"]) for s in statuses] == list(range(1, 321))
    assert statuses[-1].message.startswith("wait_state -> idle: operator stop")
    assert all(s.level is itf.DiagnosticLevel.OK for s in statuses)


def test_transitions_that_fell_out_of_the_log_are_reported_as_missed():
    node, graph = configured_node()
    cycles = Cycles(node)
    cycles.run(125)  # 250 transitions before the first diagnostics: 1-50 are gone from the log
    node._publish_diagnostics()
    cycles.run(1)
    node._publish_diagnostics()
    missed, *statuses = transition_statuses(graph)
    assert missed.level is itf.DiagnosticLevel.WARN and missed.values["missed"] == "50"
    assert "50 transitions" in missed.message
    assert [int(s.values["seq"]) for s in statuses] == list(range(51, 253))


def test_cleanup_destroys_subscriptions_and_timers_so_configure_starts_clean():
    node, graph = configured_node()
    first = graph.live()
    assert sorted(h.what.split()[0] for h in first) == ["subscription"] * 2 + ["timer"] * 2
    assert node.trigger("cleanup") and node.state is LifecycleState.UNCONFIGURED
    assert all(h.destroyed for h in first) and graph.live() == []
    assert node.trigger("configure")
    assert len(graph.live()) == len(first) and not set(graph.live()) & set(first)


def test_cleanup_after_a_run_closes_the_link(dds_domain):
    config = ControllerNodeConfig(
        controller=ControllerConfig(
            link=LinkConfig(domain_id=dds_domain, interface=None), grippers=GripperConfig(kind="sim")
        ),
        stop_timeout_s=5.0,
    )
    node, graph = configured_node(config)
    assert node.trigger("activate")
    assert node.controller.link.connected
    assert node.trigger("deactivate")
    assert node.controller.supervisor.state is State.IDLE and not getattr(node, "exit_code", 0)
    assert node.trigger("cleanup")
    assert not node.controller.link.connected and graph.live() == []
