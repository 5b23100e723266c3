"""A scripted teleop client: streams pose messages to the server like the WebXR page does.

Uses: replaying a recorded pose log (``dit4dit teleop stream``), driving the simulator without a
headset, and tests. It speaks the same protocol over the same authenticated WSS endpoint, and
measures the loop latency from the server's acknowledgements exactly like the page.

Torch-free.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import ssl
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from dit4dit_policy.teleop import protocol


def websocket_url(page_url: str) -> str:
    """``https://host:port/?token=T`` (the page URL) → ``wss://host:port/ws?token=T``.

    Raises:
        ValueError: not an https URL with a token.
    """
    parts = urlsplit(page_url)
    token = parse_qs(parts.query).get("token", [""])[0]
    if parts.scheme != "https" or not token:
        raise ValueError(f"expected the teleop page URL https://HOST:PORT/?token=TOKEN, got {page_url!r}")
    return f"wss://{parts.netloc}/ws?token={token}"


def ssl_context(cafile: str | Path | None) -> ssl.SSLContext:
    """TLS client context trusting ``cafile`` (the server's self-signed certificate) or the system CAs."""
    return ssl.create_default_context(cafile=str(cafile) if cafile else None)


@dataclasses.dataclass
class StreamReport:
    """What a streaming run measured.

    Attributes:
        sent: pose messages sent.
        acked: acknowledgements received.
        latency_ms: loop latency of every acknowledged pose [ms] (send → ack).
        server_ms: time each acknowledged pose spent in the server process [ms].
        errors: error messages the server returned.
        duration_s: wall time of the run [s].
    """

    sent: int = 0
    acked: int = 0
    latency_ms: list[float] = dataclasses.field(default_factory=list)
    server_ms: list[float] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    duration_s: float = 0.0

    @property
    def send_rate_hz(self) -> float:
        """Messages per second actually sent."""
        return self.sent / self.duration_s if self.duration_s > 0 else 0.0

    def latency_percentile(self, q: float) -> float:
        """Percentile ``q`` in [0, 100] of the loop latency [ms] (nan without acks)."""
        if not self.latency_ms:
            return math.nan
        values = sorted(self.latency_ms)
        return values[min(len(values) - 1, round(q / 100.0 * (len(values) - 1)))]


def _with_timing(frame: protocol.XrFrame, seq: int, t_ms: float, latency_ms: float | None) -> str:
    return protocol.encode_frame(
        dataclasses.replace(frame, seq=seq, t_client_ms=t_ms, latency_ms=latency_ms, received_ns=0)
    )


async def stream_frames(
    url: str,
    frames: Iterable[protocol.XrFrame],
    *,
    rate_hz: float | None = 60.0,
    cafile: str | Path | None = None,
    lockstep: bool = False,
    ack_timeout_s: float = 5.0,
    drain_s: float = 0.3,
) -> StreamReport:
    """Send ``frames`` over the authenticated WebSocket.

    Args:
        url: the page URL (``https://…/?token=…``) or the ``wss://…/ws?token=…`` URL.
        frames: pose messages; their ``seq``/``t_client_ms`` are replaced by a running counter and
            this process's clock.
        rate_hz: send rate [Hz]; None sends as fast as allowed.
        cafile: the server's certificate (self-signed) to trust.
        lockstep: wait for each message's acknowledgement before sending the next (the receiver
            must acknowledge every pose, e.g. an engaged arm in an in-process sim loop).
        ack_timeout_s: lockstep wait per message [s].
        drain_s: time to keep reading acknowledgements after the last message [s].

    Returns:
        What was sent and measured.

    Raises:
        TimeoutError: lockstep acknowledgement missing for ``ack_timeout_s``.
        websockets.exceptions.InvalidStatus: the server refused the connection (e.g. HTTP 401).
    """
    from websockets.asyncio.client import connect

    ws_url = url if url.startswith("wss://") else websocket_url(url)
    report = StreamReport()
    sent_at: dict[int, float] = {}
    acked = asyncio.Event()
    last_latency: list[float | None] = [None]
    started = time.monotonic()
    async with connect(ws_url, ssl=ssl_context(cafile), max_size=protocol.MAX_MESSAGE_BYTES) as websocket:

        async def reader() -> None:
            async for message in websocket:
                data = json.loads(message)
                if data.get("type") == "ack":
                    now = time.monotonic() * 1e3
                    report.acked += 1
                    latency = now - float(data["t"])
                    report.latency_ms.append(latency)
                    report.server_ms.append(float(data.get("server_ms", math.nan)))
                    last_latency[0] = latency
                    acked.set()
                elif data.get("type") == "error":
                    report.errors.append(str(data.get("message")))

        reader_task = asyncio.create_task(reader())
        try:
            await websocket.send(json.dumps({"type": "hello", "userAgent": "dit4dit scripted client"}))
            period = 1.0 / rate_hz if rate_hz else 0.0
            next_due = time.monotonic()
            for seq, frame in enumerate(frames):
                if period:
                    delay = next_due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    next_due = max(next_due + period, time.monotonic() - period)
                t_ms = time.monotonic() * 1e3
                acked.clear()
                await websocket.send(_with_timing(frame, seq, t_ms, last_latency[0]))
                sent_at[seq] = t_ms
                report.sent += 1
                if lockstep:
                    await asyncio.wait_for(acked.wait(), ack_timeout_s)
            await asyncio.sleep(drain_s)
        finally:
            reader_task.cancel()
            report.duration_s = time.monotonic() - started
    return report


def load_pose_log(path: str | Path) -> list[protocol.XrFrame]:
    """Read a pose log written by :class:`~dit4dit_policy.teleop.session.PoseLog`.

    Returns:
        The frames in file order, ``received_ns`` as recorded.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a malformed line (the message names its number).
    """
    frames = []
    with Path(path).expanduser().open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                received = int(record.pop("received_ns", 0))
                frame = protocol.parse_message(json.dumps(record), received)
            except (ValueError, protocol.ProtocolError) as exc:
                raise ValueError(f"{path}:{number}: not a pose message: {exc}") from exc
            if isinstance(frame, protocol.XrFrame):
                frames.append(frame)
    return frames


def log_rate_hz(frames: list[protocol.XrFrame]) -> float | None:
    """Original message rate of a pose log [Hz] from its receive stamps (None if unknown)."""
    stamps = [f.received_ns for f in frames if f.received_ns]
    if len(stamps) < 2 or stamps[-1] <= stamps[0]:
        return None
    return (len(stamps) - 1) / ((stamps[-1] - stamps[0]) / 1e9)
