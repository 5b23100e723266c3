"""rclpy implementation of the graph interface: the stack's nodes as ROS 2 lifecycle nodes.

Used whenever ROS 2 is installed (robot workstation, Docker image). Parameters come from the
standard ``<node>: ros__parameters:`` files (``ros2 launch … parameters=[file]``): they are declared
automatically from the overrides, un-flattened and validated by the node's config dataclass, so
an unknown or mistyped parameter fails ``configure`` with a message naming it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode as RclLifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from dit4dit_policy import config as cfg
from dit4dit_policy.errors import ConfigError
from dit4dit_policy.ros.graph import Graph, LifecycleNode
from dit4dit_policy.ros.interfaces import PAYLOAD_TYPES, MsgKind, QosProfile, Reliability
from dit4dit_policy.ros.rclpy_backend.conversions import CODECS


def to_rclpy_qos(qos: QosProfile) -> QoSProfile:
    """The stack's QoS profile as an rclpy QoSProfile (keep-last, volatile)."""
    return QoSProfile(
        reliability=ReliabilityPolicy.RELIABLE
        if qos.reliability is Reliability.RELIABLE
        else ReliabilityPolicy.BEST_EFFORT,
        history=HistoryPolicy.KEEP_LAST,
        depth=qos.depth,
        durability=DurabilityPolicy.VOLATILE,
    )


class _Publisher:
    def __init__(self, publisher: Any, kind: MsgKind) -> None:
        self._publisher = publisher
        self._kind = kind
        self._encode = CODECS[kind][1]

    def publish(self, payload: Any) -> None:
        if not isinstance(payload, PAYLOAD_TYPES[self._kind]):
            raise TypeError(f"{self._kind.value} publisher takes {PAYLOAD_TYPES[self._kind].__name__}")
        self._publisher.publish(self._encode(payload))


class _Handle:
    def __init__(self, destroy: Callable[[], Any]) -> None:
        self._destroy = destroy

    def destroy(self) -> None:
        self._destroy()


class RclpyGraph(Graph):
    """Graph on an rclpy node (the lifecycle adapter below)."""

    def __init__(self, node: RclLifecycleNode) -> None:
        super().__init__(node.get_name())
        self._node = node
        self.shutdown_event = threading.Event()
        self.shutdown_reason: str | None = None

    def create_publisher(self, topic: str, kind: MsgKind, qos: QosProfile) -> _Publisher:
        """See :class:`~dit4dit_policy.ros.graph.Graph`."""
        return _Publisher(self._node.create_publisher(CODECS[kind][0], topic, to_rclpy_qos(qos)), kind)

    def create_subscription(
        self, topic: str, kind: MsgKind, qos: QosProfile, callback: Callable[[Any], None]
    ) -> _Handle:
        """See :class:`~dit4dit_policy.ros.graph.Graph`."""
        decode = CODECS[kind][2]

        def on_msg(msg: Any) -> None:
            try:
                callback(decode(msg))
            except Exception:
                self.logger.exception("callback for %s raised", topic)

        sub = self._node.create_subscription(CODECS[kind][0], topic, on_msg, to_rclpy_qos(qos))
        return _Handle(lambda: self._node.destroy_subscription(sub))

    def create_timer(self, period_s: float, callback: Callable[[], None]) -> _Handle:
        """See :class:`~dit4dit_policy.ros.graph.Graph`."""
        timer = self._node.create_timer(period_s, callback)
        return _Handle(lambda: self._node.destroy_timer(timer))

    def request_shutdown(self, reason: str) -> None:
        """See :class:`~dit4dit_policy.ros.graph.Graph`."""
        if self.shutdown_reason is None:
            self.shutdown_reason = reason
        self.shutdown_event.set()


class _LifecycleAdapter(RclLifecycleNode):
    """Maps rclpy lifecycle transitions onto a :class:`LifecycleNode`."""

    def __init__(self, name: str, node_cls: type[LifecycleNode]) -> None:
        super().__init__(
            name,
            allow_undeclared_parameters=True,
            automatically_declare_parameters_from_overrides=True,
        )
        self._node_cls = node_cls
        self.graph = RclpyGraph(self)
        self.node: LifecycleNode | None = None

    def _load_config(self) -> Any:
        flat = {
            name: param.value
            for name, param in self._parameters.items()
            if name not in ("use_sim_time", "start_type_description_service")
        }
        return cfg.from_dict(
            self._node_cls.CONFIG, cfg.unflatten(flat), source=f"{self.get_name()} parameters"
        )

    def _result(self, ok: bool) -> TransitionCallbackReturn:
        return TransitionCallbackReturn.SUCCESS if ok else TransitionCallbackReturn.FAILURE

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self.node = self._node_cls(self.graph, self._load_config())
        except ConfigError as exc:
            self.get_logger().error(str(exc))
            return TransitionCallbackReturn.FAILURE
        return self._result(self.node.trigger("configure"))

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        ok = self.node is not None and self.node.trigger("activate")
        if ok:
            super().on_activate(state)
        return self._result(ok)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        ok = self.node is not None and self.node.trigger("deactivate")
        super().on_deactivate(state)
        return self._result(ok)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        ok = self.node is not None and self.node.trigger("cleanup")
        self.node = None
        return self._result(ok)

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        if self.node is not None:
            self.node.trigger("shutdown")
        return TransitionCallbackReturn.SUCCESS


def run_node(node_cls: type[LifecycleNode], args: list[str] | None, *, autostart: bool = True) -> int:
    """Run ``node_cls`` as a ROS 2 lifecycle node; ``args`` are the process's ROS arguments.

    With ``autostart`` the node configures and activates itself (like ``lifecycle autostart`` in
    launch files); otherwise a lifecycle manager drives it. On Ctrl-C the node is deactivated and
    cleaned up, running its safety action.
    """
    rclpy.init(args=args)
    adapter = _LifecycleAdapter(node_cls.NAME, node_cls)
    executor = SingleThreadedExecutor()
    executor.add_node(adapter)
    code = 0
    try:
        if autostart:
            adapter.trigger_configure()
            if adapter.node is None or adapter.node.state.value != "inactive":
                adapter.get_logger().error("configure failed; exiting")
                return 1
            adapter.trigger_activate()
            if adapter.node.state.value != "active":
                adapter.get_logger().error("activate failed; exiting")
                code = 1
                return code
        while rclpy.ok() and not adapter.graph.shutdown_event.is_set():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node = adapter.node
        if node is not None and node.state.value == "active":
            adapter.trigger_deactivate()
        if adapter.node is not None and adapter.node.state.value == "inactive":
            adapter.trigger_cleanup()
        if node is not None:
            node.trigger("shutdown")
            code = code or int(getattr(node, "exit_code", 0) or 0)
        adapter.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return code
