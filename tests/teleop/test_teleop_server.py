"""The HTTPS/WSS teleop server on loopback: token authentication, page, protocol, acknowledgements."""

import asyncio
import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from dit4dit_policy.teleop import protocol
from dit4dit_policy.teleop import server as server_mod
from dit4dit_policy.teleop.cert import certificate_summary
from dit4dit_policy.teleop.client import stream_frames, websocket_url
from dit4dit_policy.teleop.server import ServerConfig, TeleopServer


def _context(cert):
    return ssl.create_default_context(cafile=str(cert.cert))


def _frame(seq, squeeze=1.0):
    ident = np.array([0.0, 0.0, 0.0, 1.0])
    hand = protocol.HandInput(
        pose=protocol.Pose(np.array([0.2, 1.1, -0.3]), ident), squeeze=squeeze, trigger=0.3
    )
    return protocol.XrFrame(
        seq=seq,
        t_client_ms=0.0,
        mode="controller",
        head=protocol.Pose(np.array([0, 1.6, 0.0]), ident),
        left=protocol.HandInput(),
        right=hand,
    )


def _get(url, cert):
    try:
        with urllib.request.urlopen(url, context=_context(cert), timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_certificate_names_the_hosts_and_key_is_private(teleop_cert):
    summary = certificate_summary(teleop_cert.cert)
    assert set(summary["hosts"]) == {"127.0.0.1", "localhost"}
    assert teleop_cert.key.stat().st_mode & 0o077 == 0


def test_page_needs_the_token(teleop_server, teleop_cert):
    base = f"https://127.0.0.1:{teleop_server.port}"
    status, headers, body = _get(teleop_server.url, teleop_cert)
    assert status == 200 and b'id="status"' in body
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"
    for url in (f"{base}/", f"{base}/?token=wrong-token-wrong-token", f"{base}/?token="):
        assert _get(url, teleop_cert)[0] == 401
    assert _get(f"{base}/nothing?token={teleop_server.token}", teleop_cert)[0] == 404
    assert teleop_server.stats().rejected == 3


def test_unauthenticated_websocket_is_refused(teleop_server, teleop_cert):
    async def attempt(url):
        async with connect(url, ssl=_context(teleop_cert), open_timeout=10):
            pass

    base = f"wss://127.0.0.1:{teleop_server.port}/ws"
    for url in (base, f"{base}?token=not-the-token-at-all", f"{base}?token={teleop_server.token}x"):
        with pytest.raises(InvalidStatus) as info:
            asyncio.run(attempt(url))
        assert info.value.response.status_code == 401
    assert teleop_server.stats().connections == 0 and teleop_server.latest() is None


def test_plain_tcp_and_untrusted_tls_get_nothing(teleop_server):
    # A client that does not trust the certificate fails the TLS handshake.
    async def attempt():
        async with connect(
            websocket_url(teleop_server.url), ssl=ssl.create_default_context(), open_timeout=10
        ):
            pass

    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(attempt())


def test_repeated_failures_are_rate_limited(teleop_server, teleop_cert, monkeypatch):
    monkeypatch.setattr(server_mod, "MAX_AUTH_FAILURES", 3)
    base = f"https://127.0.0.1:{teleop_server.port}/?token=bad-token-bad-token"
    codes = [_get(base, teleop_cert)[0] for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    assert _get(teleop_server.url, teleop_cert)[0] == 429  # even the right token, for a minute


def test_authenticated_stream_is_received_and_acknowledged(teleop_server, teleop_cert):
    acked = []

    async def run():
        async with connect(websocket_url(teleop_server.url), ssl=_context(teleop_cert)) as ws:
            for seq in range(20):
                await ws.send(protocol.encode_frame(_frame(seq)))
            await ws.send('{"type": "pose", "seq": -1, "t": 0}')
            error = json.loads(await asyncio.wait_for(ws.recv(), 10))
            deadline = time.monotonic() + 10
            while (
                teleop_server.latest() is None or teleop_server.latest().seq != 19
            ) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            teleop_server.acknowledge(teleop_server.latest(), {"calibrated": True, "engaged": ["right"]})
            acked.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            return error

    error = asyncio.run(run())
    assert error["type"] == "error" and "seq" in error["message"]
    frame = teleop_server.latest()
    assert frame.seq == 19 and frame.right.squeeze == 1.0 and frame.received_ns > 0
    assert acked[0]["type"] == "ack" and acked[0]["seq"] == 19 and acked[0]["state"]["engaged"] == ["right"]
    stats = teleop_server.stats()
    assert stats.frames == 20 and stats.protocol_errors == 1 and stats.connections == 1


def test_newer_connection_takes_over(teleop_server, teleop_cert):
    async def run():
        url = websocket_url(teleop_server.url)
        async with connect(url, ssl=_context(teleop_cert)) as first:
            await first.send(protocol.encode_frame(_frame(1)))
            async with connect(url, ssl=_context(teleop_cert)) as second:
                await second.send(protocol.encode_frame(_frame(2)))
                await asyncio.wait_for(first.wait_closed(), 10)
                assert first.close_code == 4000
                deadline = time.monotonic() + 10
                while teleop_server.latest().seq != 2 and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)

    asyncio.run(run())
    assert teleop_server.latest().seq == 2 and teleop_server.stats().connections == 2


def test_scripted_client_measures_loop_latency(teleop_server, teleop_cert):
    """Lockstep: every pose is acknowledged by a consumer thread, the client measures each loop."""
    import threading

    stop = threading.Event()

    def consumer():
        last = None
        while not stop.is_set():
            frame = teleop_server.latest()
            if frame is not None and frame.seq != last:
                last = frame.seq
                teleop_server.acknowledge(frame, {"engaged": ["right"]})
            time.sleep(0.002)

    thread = threading.Thread(target=consumer)
    thread.start()
    try:
        frames = [_frame(i) for i in range(30)]
        report = asyncio.run(
            stream_frames(teleop_server.url, frames, rate_hz=None, cafile=teleop_cert.cert, lockstep=True)
        )
    finally:
        stop.set()
        thread.join()
    assert report.sent == 30 and report.acked == 30 and not report.errors
    assert all(latency > 0 for latency in report.latency_ms)
    assert all(ms >= 0 for ms in report.server_ms)


def test_config_refuses_wildcard_and_weak_tokens():
    with pytest.raises(ValueError, match="every interface"):
        ServerConfig(host="0.0.0.0")
    with pytest.raises(ValueError, match="every interface"):
        ServerConfig(host="::")
    assert ServerConfig(host="0.0.0.0", allow_all_interfaces=True).host == "0.0.0.0"
    with pytest.raises(ValueError, match="at least 16"):
        ServerConfig(token="short")
    with pytest.raises(ValueError, match="letters"):
        ServerConfig(token="a" * 16 + "&admin=1")
    assert len(TeleopServer(ServerConfig()).token) >= 32


def test_missing_certificate_names_the_command(tmp_path):
    server = TeleopServer(
        ServerConfig(port=0, cert_file=str(tmp_path / "c.pem"), key_file=str(tmp_path / "k.pem"))
    )
    with pytest.raises(FileNotFoundError, match="dit4dit teleop cert"):
        server.start()


def test_cert_command(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dit4dit_policy.cli",
            "teleop",
            "cert",
            "--host",
            "10.1.2.3",
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert set(certificate_summary(tmp_path / "cert.pem")["hosts"]) == {"10.1.2.3", "127.0.0.1", "localhost"}
    again = subprocess.run(
        [sys.executable, "-m", "dit4dit_policy.cli", "teleop", "cert", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "--overwrite" in again.stderr


@pytest.mark.parametrize(
    "message, field",
    [
        ('{"type": "pose", "seq": 1, "t": 0, "head": [0, 1, 2]}', "head"),
        ('{"type": "pose", "seq": 1, "t": 0, "left": {"trigger": 2}}', "left.trigger"),
        ('{"type": "pose", "seq": 1, "t": 0, "right": {"pose": [0, 0, 0, 0, 0, 0, 0]}}', "right.pose"),
        ('{"type": "pose", "seq": 1, "t": "x"}', "'t'"),
        ('{"type": "pose", "seq": 1, "t": 0, "mode": "gamepad"}', "mode"),
        ('{"type": "hack"}', "type"),
        ("[1, 2]", "object"),
    ],
)
def test_protocol_errors_name_the_field(message, field):
    with pytest.raises(protocol.ProtocolError, match=field.replace(".", r"\.")):
        protocol.parse_message(message)


def test_frame_round_trip():
    frame = _frame(5)
    parsed = protocol.parse_message(protocol.encode_frame(frame), 42)
    assert parsed.seq == 5 and parsed.received_ns == 42 and parsed.mode == "controller"
    assert np.allclose(parsed.right.pose.position, frame.right.pose.position)
    assert parsed.right.trigger == pytest.approx(0.3)
