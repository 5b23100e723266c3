"""Run one lifecycle node in this process on the CycloneDDS backend.

Autostart: configure → activate, spin until SIGINT/SIGTERM or the node asks to stop, then
deactivate → cleanup → shutdown, so every node's safety action (e.g. the controller's ramp-out)
runs on Ctrl-C as well. A node started by :class:`~dit4dit_policy.ros.processes.ProcessGroup`
also shuts down that way when the starting process is gone (killed or crashed), so no orphaned
controller keeps commanding the arms.
"""

from __future__ import annotations

import os
import signal
import threading
import time
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
    _watch_parent(graph)

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


#: How often a node checks that the process that started it is still alive [s].
PARENT_CHECK_PERIOD_S = 0.5


def _watch_parent(graph: DdsGraph) -> None:
    """Request shutdown once the pid in ``DIT4DIT_PARENT_PID`` has exited (no-op without it)."""
    from dit4dit_policy.ros.processes import PARENT_PID_ENV

    value = os.environ.get(PARENT_PID_ENV, "")
    if not value.isdigit():
        return
    parent = int(value)

    def alive() -> bool:
        if os.getppid() != parent:  # re-parented: the parent is gone
            return False
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def watch() -> None:
        while not graph.shutdown_requested:
            if not alive():
                graph.request_shutdown(f"parent process {parent} exited")
                return
            time.sleep(PARENT_CHECK_PERIOD_S)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
