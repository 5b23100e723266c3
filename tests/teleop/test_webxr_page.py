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


async def _load(ws_url, page_url, until_state, timeout_s=30.0, screenshot=None):
    """Navigate, wait for #status data-state == until_state; return (state, texts, problems)."""
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
