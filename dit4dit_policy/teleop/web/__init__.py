"""The WebXR teleop page (``index.html``: one self-contained file, inline script and style).

The page connects its WebSocket as soon as it loads and shows the connection state in
``#status`` (``data-state`` = connecting / connected / streaming / disconnected); "Enter XR"
starts an ``immersive-ar`` (passthrough, Quest 3) or ``immersive-vr`` (Vision Pro) session with
``local-floor`` space and optional hand tracking, and sends one pose message per XR frame
(:mod:`dit4dit_policy.teleop.protocol`). Without an XR device it loads without console errors and
says so. The server sends it with a Content-Security-Policy that allows exactly its inline script
and style (SHA-256 hashes) and WebSocket connections to its own origin.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from importlib import resources

PAGE_NAME = "index.html"


@lru_cache(maxsize=1)
def page_bytes() -> bytes:
    """The page as UTF-8 bytes.

    Raises:
        FileNotFoundError: the package was installed without its web assets.
    """
    return resources.files(__name__).joinpath(PAGE_NAME).read_bytes()


def _hashes(tag: str) -> list[str]:
    text = page_bytes().decode("utf-8")
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", text, flags=re.DOTALL)
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(block.encode("utf-8")).digest()).decode() + "'"
        for block in blocks
    ]


@lru_cache(maxsize=1)
def content_security_policy() -> str:
    """CSP header value: nothing but the page's own inline script/style and same-origin sockets."""
    return (
        "default-src 'none'; "
        f"script-src {' '.join(_hashes('script'))}; "
        f"style-src {' '.join(_hashes('style'))}; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
