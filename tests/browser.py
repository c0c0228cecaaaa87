"""Drive headless Chromium over the DevTools protocol for the report tests.

    with Browser() as b:
        page = b.open("file:///tmp/report.html", ready="window.REPORT_READY === true")
        page.errors      # console errors, uncaught exceptions, failed loads
        page.requests    # every URL the page asked for
        img = page.screenshot()            # PIL image of the viewport
        page.eval("document.title")

Chromium is Debian's package (`apt-get install -y chromium`); no test installs it. `.ci/run`
installs it before the tests, and with CI set a missing browser fails the tests; elsewhere the
browser tests are skipped with one line that says how to get it.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import websocket
from PIL import Image

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]
INSTALL_HINT = "apt-get update && apt-get install -y chromium"


def _which_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def find_chromium() -> str:
    """Debian's headless Chromium. Missing: CI fails (it installs the browser in .ci/run); a
    developer's run skips the browser tests with one line saying how to get it."""
    path = _which_chromium()
    if path is not None:
        return path
    if os.environ.get("CI"):
        raise RuntimeError(f"headless Chromium is not installed; install it with: {INSTALL_HINT}")
    pytest.skip(f"these tests need headless Chromium; install it with: {INSTALL_HINT}")


@dataclass
class Page:
    browser: Browser
    session: str
    errors: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def eval(self, expression: str, timeout: float = 30.0) -> Any:
        res = self.send(
            "Runtime.evaluate",
            timeout=timeout,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in res:
            raise RuntimeError(f"evaluating {expression!r} failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.eval(f"Boolean({expression})"):
                return
            self.browser.pump(0.1)
        raise TimeoutError(f"page never satisfied {expression!r}; errors: {self.errors}")

    def screenshot(self, clip: dict[str, float] | None = None) -> Image.Image:
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": clip is not None}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
        res = self.send("Page.captureScreenshot", **params)
        return Image.open(io.BytesIO(base64.b64decode(res["data"]))).convert("RGB")

    def element_screenshot(self, selector: str) -> Image.Image:
        box = self.eval(
            f"(function(){{var r=document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect();return {x:r.left+window.scrollX,y:r.top+window.scrollY,"
            "width:r.width,height:r.height};})()"
        )
        if not box or box["width"] < 2 or box["height"] < 2:
            raise AssertionError(f"{selector} has no visible box: {box}")
        return self.screenshot(clip=box)


class Browser:
    """One headless Chromium process, talked to over its browser-level DevTools websocket."""

    def __init__(self, width: int = 1400, height: int = 1000) -> None:
        exe = find_chromium()
        self._profile = tempfile.mkdtemp(prefix="trade-chromium-")
        self.proc = subprocess.Popen(
            [
                exe,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.width, self.height = width, height
        url = self._read_ws_url(timeout=30.0)
        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self._id = 0
        self._pages: dict[str, Page] = {}
        self._lock = threading.Lock()

    def _read_ws_url(self, timeout: float) -> str:
        assert self.proc.stderr is not None
        found: list[str] = []
        lines: list[str] = []

        def reader() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                lines.append(line)
                m = re.search(r"DevTools listening on (ws://\S+)", line)
                if m and not found:
                    found.append(m.group(1))

        t = threading.Thread(target=reader, daemon=True)  # keeps draining stderr
        t.start()
        deadline = time.monotonic() + timeout
        while not found and time.monotonic() < deadline and self.proc.poll() is None:
            t.join(0.05)
        if not found:
            self.close()
            raise RuntimeError("chromium did not start its DevTools endpoint:\n" + "".join(lines))
        return found[0]

    # --------------------------------------------------------------- protocol
    def _dispatch(self, msg: dict[str, Any]) -> None:
        page = self._pages.get(msg.get("sessionId", ""))
        if page is None:
            return
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            page.console.append((p["type"], text))
            if p["type"] in ("error", "assert"):
                page.errors.append(f"console.{p['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            page.errors.append(
                f"uncaught: {d.get('exception', {}).get('description', d.get('text'))}"
            )
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            page.errors.append(f"log: {p['entry']['text']} {p['entry'].get('url', '')}")
        elif method == "Network.requestWillBeSent":
            page.requests.append(p["request"]["url"])
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            page.errors.append(f"load failed: {p.get('errorText')}")

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        with self._lock:
            self._id += 1
            mid = self._id
            msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
            if session:
                msg["sessionId"] = session
            self.ws.send(json.dumps(msg))
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no reply to {method} within {timeout} s")
                self.ws.settimeout(left)
                reply = json.loads(self.ws.recv())
                if reply.get("id") == mid:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    result: dict[str, Any] = reply.get("result", {})
                    return result
                self._dispatch(reply)

    def pump(self, seconds: float) -> None:
        """Process events for up to `seconds`."""
        with self._lock:
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                self.ws.settimeout(left)
                try:
                    self._dispatch(json.loads(self.ws.recv()))
                except websocket.WebSocketTimeoutException:
                    return

    def open(self, url: str, ready: str | None = None, timeout: float = 30.0) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, session)
        self._pages[session] = page
        for domain in ("Runtime", "Log", "Network", "Page"):
            page.send(f"{domain}.enable")
        page.send(
            "Emulation.setDeviceMetricsOverride",
            width=self.width,
            height=self.height,
            deviceScaleFactor=1,
            mobile=False,
        )
        page.send("Page.navigate", url=url)
        page.wait_for("document.readyState === 'complete'", timeout)
        if ready:
            page.wait_for(ready, timeout)
        return page

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            with contextlib.suppress(OSError):
                ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def non_background_fraction(img: Image.Image, tolerance: int = 12) -> float:
    """Share of pixels that differ from the image's most common colour (its background)."""
    small = img.convert("RGB")
    colors = small.getcolors(maxcolors=1 << 24) or []
    if not colors:
        return 0.0
    total = small.width * small.height
    bg = max(colors)[1]
    near = sum(
        n
        for n, c in colors
        if all(abs(int(a) - int(b)) <= tolerance for a, b in zip(c, bg, strict=True))
    )
    return 1.0 - near / total


def distinct_colors(img: Image.Image) -> int:
    return len(img.convert("RGB").getcolors(maxcolors=1 << 24) or [])
