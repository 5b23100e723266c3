"""CycloneDDS implementation of :class:`~dit4dit_policy.ros.graph.Graph`.

ROS topic ``/a/b`` is DDS topic ``rt/a/b`` with type ``pkg::msg::dds_::Type_`` (rmw_cyclonedds
naming), so a ROS 2 machine using rmw_cyclonedds_cpp on the same domain sees these topics.

Executor: one thread per node blocks on a WaitSet (one ReadCondition per subscription plus a
GuardCondition for wake-ups) with a timeout equal to the time to the next timer — no busy polling.
Cyclone 0.10.2's ``take_iter(timeout=…)`` misses early samples (reference/environment.md), so
readers are drained with ``take(N=…)`` after the WaitSet fires.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

from cyclonedds.core import (
    GuardCondition,
    InstanceState,
    Policy,
    Qos,
    ReadCondition,
    SampleState,
    ViewState,
    WaitSet,
)
from cyclonedds.internal import InvalidSample
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from dit4dit_policy.robot.dds import DdsSession
from dit4dit_policy.ros.dds_backend import messages
from dit4dit_policy.ros.dds_backend.conversions import CODECS
from dit4dit_policy.ros.graph import Graph
from dit4dit_policy.ros.interfaces import PAYLOAD_TYPES, MsgKind, QosProfile, Reliability

_ANY_SAMPLE = SampleState.Any | ViewState.Any | InstanceState.Any


def dds_topic_name(ros_topic: str) -> str:
    """ROS topic name → DDS topic name (``/a/b`` → ``rt/a/b``).

    Raises:
        ValueError: the name is not absolute.
    """
    if not ros_topic.startswith("/") or ros_topic.endswith("/") or "//" in ros_topic:
        raise ValueError(
            f"ROS topic names here must be absolute like '/camera/ego/image_raw', got {ros_topic!r}"
        )
    return "rt" + ros_topic


def to_dds_qos(qos: QosProfile) -> Qos:
    """Map the stack's QoS profile to CycloneDDS policies (keep-last history, volatile)."""
    reliability = (
        Policy.Reliability.Reliable(duration(milliseconds=100))
        if qos.reliability is Reliability.RELIABLE
        else Policy.Reliability.BestEffort
    )
    return Qos(reliability, Policy.History.KeepLast(qos.depth), Policy.Durability.Volatile)


class _DdsPublisher:
    def __init__(self, writer: DataWriter, kind: MsgKind, encode: Callable[[Any], Any]) -> None:
        self._writer = writer
        self._kind = kind
        self._encode = encode
        self._payload_type = PAYLOAD_TYPES[kind]

    def publish(self, payload: Any) -> None:
        if not isinstance(payload, self._payload_type):
            raise TypeError(
                f"{self._kind.value} publisher takes {self._payload_type.__name__}, got {type(payload)}"
            )
        self._writer.write(self._encode(payload))


@dataclasses.dataclass
class _Subscription:
    graph: DdsGraph
    reader: DataReader
    condition: ReadCondition
    decode: Callable[[Any], Any]
    callback: Callable[[Any], None]
    topic: str
    alive: bool = True

    def destroy(self) -> None:
        self.graph._remove_subscription(self)


@dataclasses.dataclass
class _Timer:
    graph: DdsGraph
    period_s: float
    callback: Callable[[], None]
    next_due: float
    alive: bool = True

    def destroy(self) -> None:
        self.alive = False
        self.graph._wake()


class DdsGraph(Graph):
    """A node's middleware on CycloneDDS.

    Args:
        node_name: node name (logger name).
        domain_id: DDS domain (0 real robot, 1 simulation, private ids in tests).
        interface: NIC name, ``"lo"`` for loopback-only, or None for ``CYCLONEDDS_URI``/defaults.
        session: share an existing :class:`DdsSession` instead of creating one.
    """

    def __init__(
        self,
        node_name: str,
        domain_id: int,
        interface: str | None = None,
        session: DdsSession | None = None,
    ) -> None:
        super().__init__(node_name)
        messages.prepare_types()
        self.session = session or DdsSession(domain_id, interface)
        participant = self.session.participant
        self._topics: dict[str, tuple[Topic, MsgKind]] = {}
        self._subs: list[_Subscription] = []
        self._timers: list[_Timer] = []
        self._lock = threading.RLock()
        self._waitset = WaitSet(participant)
        self._guard = GuardCondition(participant)
        self._waitset.attach(self._guard)
        self._stop = threading.Event()
        self.shutdown_reason: str | None = None
        self.callback_errors = 0

    # Entities -----------------------------------------------------------------------------------

    def _topic(self, ros_topic: str, kind: MsgKind) -> Topic:
        name = dds_topic_name(ros_topic)
        with self._lock:
            if name in self._topics:
                topic, existing = self._topics[name]
                if existing is not kind:
                    raise ValueError(
                        f"topic {ros_topic} is already used with {existing.value}, not {kind.value}"
                    )
                return topic
            topic = Topic(self.session.participant, name, CODECS[kind][0])
            self._topics[name] = (topic, kind)
            return topic

    def create_publisher(self, topic: str, kind: MsgKind, qos: QosProfile) -> _DdsPublisher:
        """See :class:`~dit4dit_policy.ros.graph.Graph`."""
        writer = DataWriter(self.session.participant, self._topic(topic, kind), qos=to_dds_qos(qos))
        return _DdsPublisher(writer, kind, CODECS[kind][1])

    def create_subscription(
        self, topic: str, kind: MsgKind, qos: QosProfile, callback: Callable[[Any], None]
    ) -> _Subscription:
        """See :class:`~dit4dit_policy.ros.graph.Graph`."""
        reader = DataReader(self.session.participant, self._topic(topic, kind), qos=to_dds_qos(qos))
        condition = ReadCondition(reader, _ANY_SAMPLE)
        sub = _Subscription(self, reader, condition, CODECS[kind][2], callback, topic)
        with self._lock:
            self._waitset.attach(condition)
            self._subs.append(sub)
        self._wake()
        return sub

    def _remove_subscription(self, sub: _Subscription) -> None:
        with self._lock:
            if sub.alive:
                sub.alive = False
                self._waitset.detach(sub.condition)
                self._subs.remove(sub)

    def create_timer(self, period_s: float, callback: Callable[[], None]) -> _Timer:
        """See :class:`~dit4dit_policy.ros.graph.Graph`."""
        if not period_s > 0:
            raise ValueError(f"timer period must be > 0 s, got {period_s}")
        timer = _Timer(self, float(period_s), callback, time.monotonic() + period_s)
        with self._lock:
            self._timers.append(timer)
        self._wake()
        return timer

    def request_shutdown(self, reason: str) -> None:
        """See :class:`~dit4dit_policy.ros.graph.Graph`."""
        if self.shutdown_reason is None:
            self.shutdown_reason = reason
        self._stop.set()
        self._wake()

    @property
    def shutdown_requested(self) -> bool:
        """True once :meth:`request_shutdown` was called."""
        return self._stop.is_set()

    def _wake(self) -> None:
        self._guard.set(True)

    # Executor -----------------------------------------------------------------------------------

    def spin_once(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` (less if a timer is due), then run ready callbacks."""
        with self._lock:
            self._timers = [t for t in self._timers if t.alive]
            timers = list(self._timers)
            subs = list(self._subs)
        now = time.monotonic()
        wait_s = timeout_s
        if timers:
            wait_s = max(0.0, min(wait_s, min(t.next_due for t in timers) - now))
        if wait_s > 0:
            self._waitset.wait(duration(microseconds=max(1, int(wait_s * 1e6))))
        self._guard.take()
        for sub in subs:
            if not sub.alive:
                continue
            for sample in sub.reader.take(N=64):
                if sample is None or isinstance(sample, InvalidSample) or not sub.alive:
                    continue
                self._run(sub.callback, sub.decode, sample, sub.topic)
        now = time.monotonic()
        for timer in timers:
            if timer.alive and now >= timer.next_due:
                missed = int((now - timer.next_due) // timer.period_s)
                timer.next_due += (missed + 1) * timer.period_s
                self._run(timer.callback, None, None, "timer")

    def _run(self, callback: Callable, decode: Callable | None, sample: Any, what: str) -> None:
        try:
            if decode is None:
                callback()
            else:
                callback(decode(sample))
        except Exception:
            self.callback_errors += 1
            self.logger.exception("callback for %s raised", what)

    def spin(self, until: Callable[[], bool] | None = None, timeout_s: float | None = None) -> None:
        """Run the executor until shutdown is requested, ``until()`` is true, or ``timeout_s`` passes."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._stop.is_set():
            if until is not None and until():
                return
            if deadline is not None and time.monotonic() >= deadline:
                return
            self.spin_once(0.1)

    def close(self) -> None:
        """Detach everything (entities are released with the participant)."""
        with self._lock:
            for sub in list(self._subs):
                self._remove_subscription(sub)
            for timer in self._timers:
                timer.alive = False
            self._timers.clear()
