"""Policy node lifecycle on an in-memory graph: cleanup releases what configure created."""

from __future__ import annotations

from fake_graph import FakeGraph

from dit4dit_policy.ros.graph import LifecycleState
from dit4dit_policy.ros.policy_node import PolicyNode, PolicyNodeConfig


class CountingPredictor:
    def __init__(self) -> None:
        self.last_timings_ms: dict[str, float] = {}

    def predict(self, observation):
        raise AssertionError("no inference expected in a lifecycle test")


def test_cleanup_then_configure_leaves_only_the_new_subscriptions_and_timers():
    graph = FakeGraph("policy_node")
    built = []

    def factory():
        built.append(CountingPredictor())
        return built[-1]

    # (the factory replaces the checkpoint; the config still names one, as a launch file would)
    node = PolicyNode(graph, PolicyNodeConfig(checkpoint="unused"), predictor_factory=factory)
    assert node.trigger("configure") and node.trigger("activate")
    first = graph.live()
    assert {h.what.split()[0] for h in first} == {"subscription", "timer"} and len(first) == 6
    assert node.trigger("deactivate") and node.trigger("cleanup")
    assert node.state is LifecycleState.UNCONFIGURED
    assert graph.live() == [] and node.predictor is None

    assert node.trigger("configure")
    second = graph.live()
    assert len(second) == len(first) and not set(map(id, second)) & set(map(id, first))
    assert len(built) == 2 and node.predictor is built[1]


def test_scripted_predictor_expert_subscription_is_released_too():
    graph = FakeGraph("policy_node")
    node = PolicyNode(graph, PolicyNodeConfig(predictor="scripted"))
    assert node.trigger("configure")
    topics = [h.what for h in graph.live()]
    assert any(PolicyNodeConfig.expert_topic in t for t in topics)
    assert node.trigger("cleanup")
    assert graph.live() == []
