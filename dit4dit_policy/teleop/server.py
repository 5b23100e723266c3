"""HTTPS + secure WebSocket server for the WebXR teleop page (one port, one token).

``GET /?token=…`` serves the page (:mod:`dit4dit_policy.teleop.web`), ``GET /ws?token=…`` with an
upgrade header opens the pose stream (:mod:`dit4dit_policy.teleop.protocol`). Every request needs
the token; a missing or wrong token gets HTTP 401 and the WebSocket handshake is refused. A client
address that fails authentication :data:`MAX_AUTH_FAILURES` times within a minute gets HTTP 429
until the minute is over. The server binds to one configured interface (default ``127.0.0.1``);
the wildcard addresses need ``allow_all_interfaces``.

One operator drives the robot: a newly authenticated WebSocket replaces the previous one (a
reloaded headset page reconnects before the old socket times out).

The server runs its own asyncio loop in a daemon thread; :meth:`TeleopServer.latest` and
:meth:`TeleopServer.acknowledge` are thread-safe, so a node's executor thread can consume poses
and echo their client timestamps once the command computed from them is published. Torch-free.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hmac
import ipaddress
import logging
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dit4dit_policy.teleop import protocol, web
from dit4dit_policy.teleop.cert import default_paths

logger = logging.getLogger(__name__)

#: Failed authentications per client address and minute before requests get HTTP 429.
MAX_AUTH_FAILURES = 20
#: Shortest accepted token (characters); generated tokens have 32.
MIN_TOKEN_LENGTH = 16
#: Window of the receive-rate estimate [s].
RATE_WINDOW_S = 2.0


@dataclasses.dataclass
class ServerConfig:
    """Where and how the teleop server listens.

    Attributes:
        host: interface address to bind (``127.0.0.1`` default; the headset needs the workstation's
            LAN address, e.g. ``192.168.123.50``).
        port: TCP port (0 picks a free one; xr_teleoperate uses 8012, g1_spec §6.1).
        token: shared secret in the URL; empty → a random 32-character token per run.
        cert_file: PEM certificate (empty → ``~/.config/dit4dit/teleop/cert.pem``).
        key_file: PEM private key (empty → ``~/.config/dit4dit/teleop/key.pem``).
        allow_all_interfaces: permit binding ``0.0.0.0`` / ``::``.
    """

    host: str = "127.0.0.1"
    port: int = 8012
    token: str = ""
    cert_file: str = ""
    key_file: str = ""
    allow_all_interfaces: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")
        if not self.host:
            raise ValueError("host must be an interface address such as 127.0.0.1")
        if _is_wildcard(self.host) and not self.allow_all_interfaces:
            raise ValueError(
                f"host {self.host!r} binds every interface; give the address of the interface the "
                "headset reaches (e.g. 192.168.123.50) or set allow_all_interfaces"
            )
        if self.token and len(self.token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"token must have at least {MIN_TOKEN_LENGTH} characters, got {len(self.token)}")
        if self.token and not all(c.isalnum() or c in "-_" for c in self.token):
            raise ValueError("token may only contain letters, digits, '-' and '_' (it goes into a URL)")


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return host in ("", "*")


@dataclasses.dataclass(frozen=True)
class ServerStats:
    """Snapshot of the server's counters.

    Attributes:
        connected: an authenticated page is connected.
        frames: pose messages accepted since start.
        rate_hz: pose messages per second over the last 2 s.
        rejected: requests refused for a missing/wrong token or rate limiting.
        protocol_errors: malformed messages.
        client_latency_ms: the page's last reported loop latency [ms] (nan if none).
        connections: authenticated WebSocket connections since start.
    """

    connected: bool
    frames: int
    rate_hz: float
    rejected: int
    protocol_errors: int
    client_latency_ms: float
    connections: int


class TeleopServer:
    """The page + pose-stream server.

    Args:
        config: listening options.
        on_frame: optional callback ``f(frame)`` run in the server thread for every pose
            message (e.g. a pose-stream logger); keep it short.

    Raises:
        ValueError: invalid config.
    """

    def __init__(self, config: ServerConfig, on_frame: Callable[[protocol.XrFrame], None] | None = None):
        self.config = config
        self.token = config.token or secrets.token_urlsafe(24)
        self._on_frame = on_frame
        self._lock = threading.Lock()
        self._latest: protocol.XrFrame | None = None
        self._arrivals: collections.deque[float] = collections.deque()
        self._frames = 0
        self._rejected = 0
        self._protocol_errors = 0
        self._connections = 0
        self._client_latency_ms = float("nan")
        self._failures: dict[str, collections.deque[float]] = {}
        self._active: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self.port = config.port
        self._page = web.page_bytes()
        self._csp = web.content_security_policy()

    # ------------------------------------------------------------------ lifecycle

    def _ssl_context(self) -> ssl.SSLContext:
        defaults = default_paths()
        cert = Path(self.config.cert_file or defaults.cert).expanduser()
        key = Path(self.config.key_file or defaults.key).expanduser()
        for path, what in ((cert, "certificate"), (key, "private key")):
            if not path.is_file():
                raise FileNotFoundError(
                    f"teleop TLS {what} {path} not found; create one with "
                    f"`dit4dit teleop cert --host {self.config.host}`"
                )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        return context

    def start(self, timeout_s: float = 10.0) -> None:
        """Bind and serve in a background thread; returns once listening.

        Raises:
            FileNotFoundError: certificate or key missing.
            OSError: the address cannot be bound.
            TimeoutError: the server did not come up within ``timeout_s``.
        """
        context = self._ssl_context()
        self._thread = threading.Thread(target=self._run, args=(context,), name="teleop-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError(f"teleop server did not start within {timeout_s} s")
        if self._start_error is not None:
            raise self._start_error

    def _run(self, context: ssl.SSLContext) -> None:
        try:
            asyncio.run(self._serve(context))
        except BaseException as exc:  # reported to start() or logged
            if not self._ready.is_set():
                self._start_error = exc
                self._ready.set()
            else:
                logger.exception("teleop server stopped with an error")

    async def _serve(self, context: ssl.SSLContext) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(
            self._handle,
            self.config.host,
            self.config.port,
            ssl=context,
            process_request=self._process_request,
            max_size=protocol.MAX_MESSAGE_BYTES,
            compression=None,
            ping_interval=5.0,
            ping_timeout=10.0,
            server_header=None,
        ) as server:
            self.port = server.sockets[0].getsockname()[1]
            logger.info("teleop server listening on https://%s:%d/", self.config.host, self.port)
            self._ready.set()
            await self._stop.wait()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close all connections and stop the thread."""
        loop, stop = self._loop, self._stop
        self._loop = None
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    @property
    def url(self) -> str:
        """The page's URL including the token (what the operator opens on the headset)."""
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"https://{host}:{self.port}/?token={self.token}"

    # ------------------------------------------------------------------ HTTP side

    def _authorised(self, path: str) -> bool:
        values = parse_qs(urlsplit(path).query).get("token", [])
        return len(values) == 1 and hmac.compare_digest(values[0].encode(), self.token.encode())

    def _rate_limited(self, address: str) -> bool:
        now = time.monotonic()
        window = self._failures.get(address)
        if window is None:
            return False
        while window and now - window[0] > 60.0:
            window.popleft()
        return len(window) >= MAX_AUTH_FAILURES

    def _process_request(self, connection: Any, request: Any) -> Any:
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        address = str((connection.remote_address or ("?",))[0])
        path = urlsplit(request.path).path
        if self._rate_limited(address):
            with self._lock:
                self._rejected += 1
            return connection.respond(HTTPStatus.TOO_MANY_REQUESTS, "too many failed attempts\n")
        if not self._authorised(request.path):
            with self._lock:
                self._rejected += 1
            self._failures.setdefault(address, collections.deque()).append(time.monotonic())
            logger.warning("refused %s from %s: missing or wrong token", path, address)
            return connection.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if path == "/ws" and upgrade:
            return None  # continue with the WebSocket handshake
        if path in ("/", "/index.html") and not upgrade:
            headers = Headers(
                {
                    "Content-Type": "text/html; charset=utf-8",
                    "Content-Length": str(len(self._page)),
                    "Cache-Control": "no-store",
                    "Referrer-Policy": "no-referrer",
                    "X-Content-Type-Options": "nosniff",
                    "Content-Security-Policy": self._csp,
                    "Connection": "close",
                }
            )
            return Response(200, "OK", headers, self._page)
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")

    # ------------------------------------------------------------------ WebSocket side

    async def _handle(self, websocket: Any) -> None:
        previous = self._active
        self._active = websocket
        with self._lock:
            self._connections += 1
        logger.info("teleop page connected from %s", websocket.remote_address[0])
        if previous is not None:
            await previous.close(4000, "replaced by a newer connection")
        try:
            async for message in websocket:
                received = time.time_ns()
                try:
                    parsed = protocol.parse_message(message, received)
                except protocol.ProtocolError as exc:
                    with self._lock:
                        self._protocol_errors += 1
                    await websocket.send(f'{{"type":"error","message":{_json_str(str(exc))}}}')
                    continue
                if isinstance(parsed, protocol.XrFrame) and websocket is self._active:
                    self._accept(parsed)
        except Exception as exc:  # connection errors end this client only
            logger.info("teleop connection ended: %s", exc)
        finally:
            if self._active is websocket:
                self._active = None
            logger.info("teleop page disconnected")

    def _accept(self, frame: protocol.XrFrame) -> None:
        now = time.monotonic()
        with self._lock:
            self._latest = frame
            self._frames += 1
            self._arrivals.append(now)
            while self._arrivals and now - self._arrivals[0] > RATE_WINDOW_S:
                self._arrivals.popleft()
            if frame.latency_ms is not None:
                self._client_latency_ms = frame.latency_ms
        if self._on_frame is not None:
            self._on_frame(frame)

    # ------------------------------------------------------------------ consumer API (any thread)

    def latest(self) -> protocol.XrFrame | None:
        """The newest pose message of the active client (None before the first)."""
        with self._lock:
            return self._latest

    def stats(self) -> ServerStats:
        """Counters and the receive rate (see :class:`ServerStats`)."""
        with self._lock:
            arrivals = list(self._arrivals)
            rate = 0.0
            if len(arrivals) >= 2 and arrivals[-1] > arrivals[0]:
                rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
            if arrivals and time.monotonic() - arrivals[-1] > RATE_WINDOW_S:
                rate = 0.0
            return ServerStats(
                connected=self._active is not None,
                frames=self._frames,
                rate_hz=rate,
                rejected=self._rejected,
                protocol_errors=self._protocol_errors,
                client_latency_ms=self._client_latency_ms,
                connections=self._connections,
            )

    def send_json(self, text: str) -> None:
        """Send a text message to the active page (dropped when none is connected)."""
        loop, websocket = self._loop, self._active
        if loop is None or websocket is None:
            return

        async def _send() -> None:
            try:
                await websocket.send(text)
            except Exception as exc:  # the client went away
                logger.debug("send to teleop page failed: %s", exc)

        loop.call_soon_threadsafe(lambda: asyncio.ensure_future(_send()))

    def acknowledge(self, frame: protocol.XrFrame, state: dict[str, Any]) -> None:
        """Echo ``frame``'s client time: a command computed from it has just been published.

        Args:
            frame: the pose the command was computed from.
            state: small JSON-serialisable status shown by the page (engaged arms, calibration).
        """
        server_ms = (time.time_ns() - frame.received_ns) / 1e6 if frame.received_ns else 0.0
        self.send_json(protocol.ack_message(frame.seq, frame.t_client_ms, server_ms, state))


def _json_str(text: str) -> str:
    import json

    return json.dumps(text)
