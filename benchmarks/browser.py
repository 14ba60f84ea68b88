"""Headless Chromium driven over the DevTools protocol, for the tests and scripts that look at a page as
a reader does: the MLflow review view (tests/harness/test_ui.py, benchmarks/review_shots.py) and the
built documentation site (tests/test_site_layout.py, benchmarks/site_shots.py). No browser-automation
package: the protocol's JSON messages on a pipe."""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON
    messages ending in NUL on fds 3 and 4), so a test can wait for the page to render and read its
    text, without a websocket client or a browser-automation package."""

    def __init__(self, exe: str, width: int = 1400, height: int = 1000):
        to_browser, self._w = os.pipe()
        self._r, from_browser = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="harness-chromium-")  # a fresh browser: no saved choices

        def pipes():  # the browser reads commands on fd 3 and writes replies on fd 4
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        args = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                "--no-first-run", "--hide-scrollbars", f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}", "about:blank"]  # fmt: skip
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(3, 4), preexec_fn=pipes
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buf, self._id, self.session = b"", 0, None
        page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)[
            "sessionId"
        ]
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def call(self, method: str, timeout: float = 60, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:  # events and other replies are not waited for
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError(f"the browser did not answer {method} within {timeout} s")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("the browser closed its pipe")
            self._buf += chunk

    def eval(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return res.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.eval(expression):
                return True
            time.sleep(0.5)
        return False

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def full_page(self, scale: float = 1.0) -> bytes:
        """The whole page (beyond the window), at `scale` (a 50,000 px page at 0.25: 12,500 px)."""
        width, height = self.eval(
            "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
        )
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": scale}
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)
        return base64.b64decode(shot["data"])

    def open(self, url: str, ready: str = "document.readyState === 'complete'", timeout: float = 60) -> bool:
        """Go to `url` and wait until `ready` holds (True) or `timeout` seconds pass (False)."""
        self.call("Page.navigate", url=url)
        time.sleep(0.2)  # the old document's readyState is still 'complete' just after the call
        return self.wait_for(ready, timeout)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)
        shutil.rmtree(self.profile, ignore_errors=True)


# -- MLflow's review view (harness ui) ------------------------------------------------------------

CHARTS_DRAWN = "document.querySelectorAll('.js-plotly-plot').length >= 2"
# The runs table (the review link opens on it: the summary) has drawn its rows
TABLE_DRAWN = "document.querySelectorAll('.ag-row').length >= 2"
# The logged images (MLflow artifacts under images/) the page has loaded, as an array
KEYFRAMES_LOADED = (
    "[...document.images].filter(i => i.complete && i.naturalWidth > 0 && i.src.includes('images'))"
)
# The chart titles (metric keys) the page cuts with an ellipsis: leaf elements showing a whole key
# wider than their box.
CUT_TITLES = (
    "[...document.querySelectorAll('*')].filter(e => e.children.length === 0 && "
    "/^[a-z_]+[a-z0-9_]*\\/[a-z0-9_/]+$/.test(e.textContent.trim()) && e.scrollWidth > e.clientWidth + 1)"
    ".map(e => e.textContent.trim())"
)

# The legend items the page hides: a chart's legend is a fixed-height box of items that wrap (a line
# sample, an svg, then the label) and scrolls; an item below the box's bottom edge is out of sight.
HIDDEN_LEGEND_ITEMS = (
    "[...document.querySelectorAll('div')].filter(d => getComputedStyle(d).overflowY === 'auto' && "
    "d.children.length > 0 && [...d.children].every(c => c.firstElementChild?.tagName.toLowerCase() === 'svg'))"
    ".flatMap(d => [...d.children].filter(c => c.getBoundingClientRect().bottom > d.getBoundingClientRect().bottom + 1)"
    ".map(c => c.textContent.trim()))"
)


def review_screenshot(
    url: str,
    exe: str,
    timeout: float = 120,
    ready: str = CHARTS_DRAWN,
    width: int = 1600,
    height: int = 1000,
    extra: dict[str, str] | None = None,
    close_assistant: bool = True,
) -> tuple[bytes, str, str]:
    """(PNG, page text, final location) of `url` once `ready` holds (its charts have drawn), with
    MLflow's assistant panel closed (it opens by itself in a fresh browser on a local server; with
    `close_assistant` False it stays, as a new reader first sees the page). The
    text ends with a line 'CUT TITLE: <key>' per chart title cut short, a line 'HIDDEN LEGEND: <label>'
    per legend item of the charts drawn that lies out of sight below its legend box and, for each
    `extra` name -> JavaScript expression, a line '<NAME>: <its value>'."""
    browser = Browser(exe, width, height)
    try:
        browser.call("Page.navigate", url=url)
        browser.wait_for(ready, timeout)
        if close_assistant:
            browser.eval(
                "document.querySelector('[data-component-id=\"mlflow.assistant.chat_panel.close\"]')?.click()"
            )
        time.sleep(1.0)  # the panel's close transition, or the charts' last layout
        text = browser.eval("document.body.innerText") or ""
        cut = browser.eval(CUT_TITLES) or []
        text += "".join(f"\nCUT TITLE: {t}" for t in cut)
        text += "".join(f"\nHIDDEN LEGEND: {t}" for t in browser.eval(HIDDEN_LEGEND_ITEMS) or [])
        text += "".join(f"\n{name.upper()}: {browser.eval(js)}" for name, js in (extra or {}).items())
        return browser.screenshot(), text, browser.eval("location.href")
    finally:
        browser.close()
