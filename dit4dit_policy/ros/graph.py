"""The small graph interface every node is written against, and the lifecycle node base class.

Two backends implement :class:`Graph` (DESIGN.md §5): ``rclpy_backend`` (ROS 2 installed; nodes are
real lifecycle nodes) and ``dds_backend`` (CycloneDDS from PyPI, ROS-2-wire-compatible; CI,
``dit4dit sim``, pip-only installs). Node code only uses this module and
:mod:`dit4dit_policy.ros.interfaces`, so the same node runs on both.

Threading contract: a backend invokes subscription and timer callbacks from ONE executor thread
per node, so node callbacks need no locks among themselves; a node that starts its own threads
(inference worker, controller loop) synchronises with them itself.

Lifecycle (ROS 2 managed nodes): unconfigured --configure--> inactive --activate--> active
--deactivate--> inactive --cleanup--> unconfigured; shutdown from any state. Each ``on_*`` returns
True for success; False (or an exception) fails the transition.
"""

from __future__ import annotations

import abc
import enum
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from dit4dit_policy.ros.interfaces import MsgKind, QosProfile


class Publisher(Protocol):
    """Publishes payloads of one :class:`MsgKind` on one topic."""

    def publish(self, payload: Any) -> None:
        """Convert ``payload`` to the backend's message and send it."""


class Handle(Protocol):
    """A subscription or timer that can be destroyed."""

    def destroy(self) -> None:
        """Stop delivering callbacks and release the entity."""


class Graph(abc.ABC):
    """What a node may use from its middleware.

    Args:
        node_name: the node's name (also the ROS node name and the logger name).
    """

    def __init__(self, node_name: str) -> None:
        self.node_name = node_name
        self.logger = logging.getLogger(f"dit4dit.{node_name}")

    @abc.abstractmethod
    def create_publisher(self, topic: str, kind: MsgKind, qos: QosProfile) -> Publisher:
        """Publisher of ``kind`` payloads on ROS topic ``topic`` with ``qos``."""

    @abc.abstractmethod
    def create_subscription(
        self, topic: str, kind: MsgKind, qos: QosProfile, callback: Callable[[Any], None]
    ) -> Handle:
        """Call ``callback(payload)`` on the executor thread for every received message."""

    @abc.abstractmethod
    def create_timer(self, period_s: float, callback: Callable[[], None]) -> Handle:
        """Call ``callback()`` every ``period_s`` s on the executor thread (missed ticks are skipped)."""

    @abc.abstractmethod
    def request_shutdown(self, reason: str) -> None:
        """Ask the executor to stop spinning (the runner then deactivates and cleans up the node)."""

    def now_ns(self) -> int:
        """Current system time [ns] (stamps; DESIGN.md §3)."""
        return time.time_ns()


class LifecycleState(enum.Enum):
    """Primary states of a managed node."""

    UNCONFIGURED = "unconfigured"
    INACTIVE = "inactive"
    ACTIVE = "active"
    FINALIZED = "finalized"


class LifecycleNode:
    """Base class of the stack's nodes: typed parameters, a graph, lifecycle callbacks.

    Subclasses set ``NAME`` (default node name) and ``CONFIG`` (the parameter dataclass, loaded
    from ``<NAME>: ros__parameters:`` in config/*.yaml) and override the ``on_*`` callbacks.
    Create entities in ``on_configure``, start work in ``on_activate``, stop it in
    ``on_deactivate``, release in ``on_cleanup`` (RD lifecycle_py pattern, style_guide §4).

    Args:
        graph: the middleware backend.
        config: an instance of ``CONFIG``.
    """

    NAME: ClassVar[str] = "node"
    CONFIG: ClassVar[type] = object

    def __init__(self, graph: Graph, config: Any) -> None:
        self.graph = graph
        self.config = config
        self.logger = graph.logger
        self.state = LifecycleState.UNCONFIGURED

    # Transitions driven by a backend runner -----------------------------------------------------

    def trigger(self, transition: str) -> bool:
        """Run one transition (configure/activate/deactivate/cleanup/shutdown); returns success.

        Raises:
            ValueError: the transition is not valid from the current state.
        """
        valid = {
            "configure": (LifecycleState.UNCONFIGURED, LifecycleState.INACTIVE, self.on_configure),
            "activate": (LifecycleState.INACTIVE, LifecycleState.ACTIVE, self.on_activate),
            "deactivate": (LifecycleState.ACTIVE, LifecycleState.INACTIVE, self.on_deactivate),
            "cleanup": (LifecycleState.INACTIVE, LifecycleState.UNCONFIGURED, self.on_cleanup),
        }
        if transition == "shutdown":
            if self.state is not LifecycleState.FINALIZED:
                self.on_shutdown()
                self.state = LifecycleState.FINALIZED
            return True
        if transition not in valid:
            raise ValueError(f"unknown lifecycle transition {transition!r}")
        source, target, callback = valid[transition]
        if self.state is not source:
            raise ValueError(f"cannot {transition} from state {self.state.value}")
        try:
            ok = bool(callback())
        except Exception:
            self.logger.exception("%s failed", transition)
            ok = False
        if ok:
            self.state = target
            self.logger.info("lifecycle: %s -> %s", source.value, target.value)
        else:
            self.logger.error("lifecycle: %s failed in state %s", transition, source.value)
        return ok

    # Callbacks for subclasses -------------------------------------------------------------------

    def on_configure(self) -> bool:
        """Create publishers/subscriptions/resources. True → inactive."""
        return True

    def on_activate(self) -> bool:
        """Start processing. True → active."""
        return True

    def on_deactivate(self) -> bool:
        """Stop processing (and run the node's safety action). True → inactive."""
        return True

    def on_cleanup(self) -> bool:
        """Release what configure created. True → unconfigured."""
        return True

    def on_shutdown(self) -> None:
        """Last call before the process exits (from any state)."""
