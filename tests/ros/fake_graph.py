"""An in-memory :class:`~dit4dit_policy.ros.graph.Graph` for node-logic tests: it records what a node
creates and delivers nothing unless a test calls the callbacks."""

from __future__ import annotations

from dit4dit_policy.ros.graph import Graph


class FakePublisher:
    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.sent: list = []

    def publish(self, payload) -> None:
        self.sent.append(payload)


class FakeHandle:
    def __init__(self, what: str, callback) -> None:
        self.what = what
        self.callback = callback
        self.destroyed = False

    def destroy(self) -> None:
        self.destroyed = True


class FakeGraph(Graph):
    """Records what a node creates; nothing is delivered unless a test calls the callbacks."""

    def __init__(self, name: str = "controller_node") -> None:
        super().__init__(name)
        self.publishers: list[FakePublisher] = []
        self.handles: list[FakeHandle] = []

    def create_publisher(self, topic, kind, qos):
        self.publishers.append(FakePublisher(topic))
        return self.publishers[-1]

    def create_subscription(self, topic, kind, qos, callback):
        self.handles.append(FakeHandle(f"subscription {topic}", callback))
        return self.handles[-1]

    def create_timer(self, period_s, callback):
        self.handles.append(FakeHandle(f"timer {period_s}", callback))
        return self.handles[-1]

    def request_shutdown(self, reason: str) -> None:
        raise AssertionError(f"unexpected shutdown request: {reason}")

    def live(self) -> list[FakeHandle]:
        return [h for h in self.handles if not h.destroyed]
