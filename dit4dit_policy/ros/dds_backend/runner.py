"""Run one lifecycle node in this process on the CycloneDDS backend.

Autostart: configure → activate, spin until SIGINT/SIGTERM or the node asks to stop, then
deactivate → cleanup → shutdown, so every node's safety action (e.g. the controller's ramp-out)
runs on Ctrl-C as well.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from dit4dit_policy.ros.dds_backend.graph import DdsGraph
from dit4dit_policy.ros.graph import LifecycleNode, LifecycleState


def run_node(
    node_cls: type[LifecycleNode],
    config: Any,
    *,
    domain_id: int,
    interface: str | None = "lo",
    name: str | None = None,
) -> int:
    """Create, activate and spin ``node_cls`` until shutdown; return the process exit code.

    Args:
        node_cls: the node class.
        config: its parameter dataclass instance.
        domain_id: DDS domain.
        interface: NIC name, ``"lo"`` (default: loopback only) or None for CYCLONEDDS_URI.
        name: node name (default ``node_cls.NAME``).

    Returns:
        0 on a clean stop (signal or node request without error), 1 if a transition failed or the
        node reported an error (``node.exit_code``).
    """
    graph = DdsGraph(name or node_cls.NAME, domain_id, interface)
    node = node_cls(graph, config)

    def _on_signal(signum: int, _frame: Any) -> None:
        graph.request_shutdown(signal.Signals(signum).name)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)

    code = 0
    try:
        if node.trigger("configure") and node.trigger("activate"):
            graph.spin()
        else:
            code = 1
    finally:
        if node.state is LifecycleState.ACTIVE and not node.trigger("deactivate"):
            code = 1
        if node.state is LifecycleState.INACTIVE and not node.trigger("cleanup"):
            code = 1
        node.trigger("shutdown")
        graph.close()
    graph.logger.info("stopped (%s)", graph.shutdown_reason or "transition failure")
    return code or int(getattr(node, "exit_code", 0) or 0)
