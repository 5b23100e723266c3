"""The WebXR page in headless Chromium (no XR device): loads without console errors, shows its status.

Chromium is driven over the DevTools protocol (its WebSocket endpoint, with the ``websockets``
client): console messages, uncaught exceptions and log entries (CSP violations, failed requests)
are collected from before the navigation on.
"""

import asyncio
import base64
import hashlib
import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-port=0",
    "--enable-unsafe-swiftshader",  # software WebGL for the XR layer without a GPU, without a warning
]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")


class Browser:
    def __init__(self, user_data_dir: Path):
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = user_data_dir / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            targets = json.loads(response.read())
        self.ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


async def _load(ws_url, page_url, until_state, timeout_s=30.0, screenshot=None, init_script=None, then=None):
    """Navigate, wait for #status data-state == until_state; return (state, texts, problems).

    ``init_script`` runs before the page's own script; ``then`` is a JavaScript expression evaluated
    once the state is reached, after which the page runs for ``then_s`` = 3 s.
    """
    problems = []
    async with connect(ws_url, max_size=None) as ws:
        counter = 0

        async def call(method, **params):
            nonlocal counter
            counter += 1
            ident = counter
            await ws.send(json.dumps({"id": ident, "method": method, "params": params}))
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if message.get("id") == ident:
                    return message.get("result", {})
                method_name = message.get("method", "")
                params_ = message.get("params", {})
                if method_name == "Runtime.consoleAPICalled" and params_.get("type") in (
                    "error",
                    "warning",
                    "assert",
                ):
                    problems.append(("console", params_))
                elif method_name == "Runtime.exceptionThrown":
                    problems.append(("exception", params_))
                elif method_name == "Log.entryAdded" and params_["entry"].get("level") in (
                    "error",
                    "warning",
                ):
                    problems.append(("log", params_["entry"]))

        await call("Runtime.enable")
        await call("Log.enable")
        await call("Page.enable")
        await call("Security.setIgnoreCertificateErrors", ignore=True)  # our self-signed certificate
        if init_script is not None:
            await call("Page.addScriptToEvaluateOnNewDocument", source=init_script)
        await call("Page.navigate", url=page_url)
        expression = (
            "(() => { const s = document.getElementById('status');"
            " return s ? [s.dataset.state, s.textContent, document.getElementById('xr').textContent,"
            " String(window.isSecureContext)] : null; })()"
        )
        deadline = time.monotonic() + timeout_s
        values = None
        while time.monotonic() < deadline:
            values = (await call("Runtime.evaluate", expression=expression, returnByValue=True))[
                "result"
            ].get("value")
            if values and values[0] == until_state and "checking" not in values[2]:
                break
            await asyncio.sleep(0.1)
        if then is not None and values and values[0] == until_state:
            await call("Runtime.evaluate", expression=then, userGesture=True)
            await asyncio.sleep(3.0)
            values = (await call("Runtime.evaluate", expression=expression, returnByValue=True))[
                "result"
            ].get("value")
        await asyncio.sleep(0.5)  # let late errors surface
        await call("Runtime.evaluate", expression="1")
        if screenshot is not None:
            shot = await call("Page.captureScreenshot", format="png")
            Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        return values, problems


@pytest.fixture
def browser(tmp_path):
    instance = Browser(tmp_path / "chromium-profile")
    yield instance
    instance.close()


def test_page_loads_without_console_errors_and_shows_connected(browser, teleop_server, tmp_path):
    values, problems = asyncio.run(
        _load(browser.ws_url, teleop_server.url, "connected", screenshot=tmp_path / "page.png")
    )
    assert problems == []
    state, text, xr_text, secure = values
    assert state == "connected" and "connected" in text
    assert "no XR device" in xr_text and secure == "true"
    assert teleop_server.stats().connections == 1
    assert (tmp_path / "page.png").stat().st_size > 1000


def test_page_without_token_is_refused(browser, teleop_server):
    url = f"https://127.0.0.1:{teleop_server.port}/"
    values, _problems = asyncio.run(_load(browser.ws_url, url, "connected", timeout_s=3))
    assert values is None  # the 401 body has no status element
    assert teleop_server.stats().connections == 0 and teleop_server.stats().rejected >= 1


def _script_hash(page: bytes) -> str:
    script = re.search(rb"<script>(.*?)</script>", page, flags=re.DOTALL).group(1)
    return "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"


def test_the_check_sees_script_errors_and_csp_violations(browser, teleop_server, monkeypatch):
    """Guard against a check that cannot fail: a throwing script, and a script the CSP blocks."""
    from dit4dit_policy.teleop import web

    original = web.page_bytes()
    page = original.replace(b"detectXr();\n  connect();", b"detectXr();\n  connect();\n  undefinedCall();")
    assert page != original
    monkeypatch.setattr(teleop_server, "_page", page)
    # 1. served with the original CSP: the altered inline script does not run, Chromium reports it.
    _values, problems = asyncio.run(_load(browser.ws_url, teleop_server.url, "connected", timeout_s=4))
    assert any(kind == "log" and "Content Security Policy" in p["text"] for kind, p in problems)
    # 2. with a CSP that allows the altered script: the uncaught exception is reported.
    monkeypatch.setattr(
        teleop_server, "_csp", teleop_server._csp.replace(_script_hash(original), _script_hash(page))
    )
    _values, problems = asyncio.run(_load(browser.ws_url, teleop_server.url, "connected", timeout_s=4))
    assert any(kind == "exception" and "undefinedCall" in json.dumps(p) for kind, p in problems)


#: A scripted stand-in for a headset's WebXR runtime (no XR device exists here): an immersive
#: session at 72 Hz with two controllers whose grip poses move, grip buttons held, right trigger half.
FAKE_XR = """
(() => {
  function transform(p, o) {
    return { position: { x: p[0], y: p[1], z: p[2], w: 1 },
             orientation: { x: o[0], y: o[1], z: o[2], w: o[3] } };
  }
  function pad(trigger) {
    return { buttons: [{ value: trigger, pressed: trigger > 0 }, { value: 1, pressed: true }, { value: 0 },
                       { value: 0 }, { value: 0, pressed: false }] };
  }
  class FakeFrame {
    constructor(session, now) { this.session = session; this.t = (now - session.t0) / 1000; }
    getViewerPose() { return { transform: transform([0, 1.6, 0], [0, 0, 0, 1]) }; }
    getPose(space) {
      const x = { left: -0.2, right: 0.2, gaze: 3.0 }[space.side];
      return { transform: transform([x, 1.1, -0.3 - 0.05 * Math.sin(this.t)], [0, 0, 0, 1]) };
    }
  }
  class FakeSession extends EventTarget {
    constructor() {
      super();
      this.t0 = performance.now();
      this.renderState = { baseLayer: null };
      const source = (hand, mode, side, trigger) =>
        ({ handedness: hand, targetRayMode: mode, gripSpace: { side: side }, gamepad: pad(trigger) });
      this.inputSources = [
        source("left", "tracked-pointer", "left", 0),
        source("right", "tracked-pointer", "right", 0.5),
        // visionOS-style gaze-and-pinch source after the real one: must not replace the right hand
        source("right", "transient-pointer", "gaze", 0),
      ];
    }
    async updateRenderState(state) { Object.assign(this.renderState, state); }
    async requestReferenceSpace(kind) { return { kind: kind }; }
    requestAnimationFrame(callback) {
      const next = () => { const now = performance.now(); callback(now, new FakeFrame(this, now)); };
      setTimeout(next, 1000 / 72);
      return 1;
    }
  }
  Object.defineProperty(navigator, "xr", {
    configurable: true,
    value: {
      isSessionSupported: async (mode) => mode === "immersive-vr",
      requestSession: async () => new FakeSession(),
    },
  });
  window.XRWebGLLayer = class { constructor() { this.framebuffer = null; } };
})();
"""


def test_xr_session_streams_controller_poses(browser, teleop_server):
    """The page's XR loop against a scripted runtime: pose messages reach the server and are valid."""
    import threading

    stop = threading.Event()

    def acknowledge():  # stands in for the teleop node: echo each new pose
        last = None
        while not stop.is_set():
            frame = teleop_server.latest()
            if frame is not None and frame.seq != last:
                last = frame.seq
                teleop_server.acknowledge(frame, {"calibrated": True, "engaged": ["left", "right"]})
            time.sleep(0.005)

    thread = threading.Thread(target=acknowledge)
    thread.start()
    try:
        values, problems = asyncio.run(
            _load(
                browser.ws_url,
                teleop_server.url,
                "connected",
                init_script=FAKE_XR,
                then="document.getElementById('enter').click()",
            )
        )
    finally:
        stop.set()
        thread.join()
    assert problems == []
    assert values[0] == "streaming" and "immersive-vr available" in values[2]
    stats = teleop_server.stats()
    frame = teleop_server.latest()
    assert stats.frames > 30 and stats.protocol_errors == 0
    print(f"\npage → server pose rate {stats.rate_hz:.0f} Hz over {stats.frames} messages")
    assert frame.mode == "controller" and frame.head is not None
    assert frame.left.pose.position[0] == pytest.approx(-0.2) and frame.right.squeeze == 1.0
    assert frame.right.pose.position[0] == pytest.approx(0.2)  # not the transient pointer's 3.0
    assert frame.right.trigger == pytest.approx(0.5)
    assert frame.latency_ms is not None and frame.latency_ms > 0  # the page measured the loop from the acks
