"""Peers of the browser-facing tests: the bridge on a real socket, static pages, Chromium.

* ``running_bridge(root_url, **create_app_options)``: ``tfjs_store.server.create_app`` served
  by a real uvicorn server on 127.0.0.1 (a free port) in a background thread; yields the
  base URL ("http://127.0.0.1:PORT"). ``serving_asgi(app)`` does the same for an app
  already made.
* ``running_static(routes)``: a tiny threaded HTTP server serving fixed bytes per path
  (the test page and TF.js's bundle), on another port, so the page's origin differs from
  the bridge's and CORS is really exercised.
* ``ensure_chromium()``: ``/usr/bin/chromium``, installed with apt-get when missing
  (one install at a time, across processes).
* ``run_playwright(script, payload)``: run ``tests/js/browser/driver.js`` (playwright-core
  from tests/js/node_modules driving Debian's Chromium) and return its JSON answer.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from support.threaded_http import serving

REPO_ROOT = Path(__file__).resolve().parents[2]
JS_DIR = REPO_ROOT / "tests" / "js"
BROWSER_JS_DIR = JS_DIR / "browser"
CHROMIUM = "/usr/bin/chromium"
TFJS_BUNDLE = JS_DIR / "node_modules" / "@tensorflow" / "tfjs" / "dist" / "tf.min.js"

__all__ = [
    "BROWSER_JS_DIR",
    "CHROMIUM",
    "TFJS_BUNDLE",
    "ensure_chromium",
    "run_playwright",
    "running_bridge",
    "running_static",
    "serving_asgi",
]


@contextlib.contextmanager
def serving_asgi(app: Any, **config: Any) -> Iterator[str]:
    """The ASGI ``app`` on a real uvicorn server on 127.0.0.1 (a free port) in a background
    thread; yields its base URL. ``config``: more ``uvicorn.Config`` keywords.

    The listening socket is made with ``IPPROTO_TCP`` so that asyncio turns Nagle's
    algorithm off on every connection (it does so only for sockets whose ``proto`` says
    TCP); with ``proto`` 0 each request waits ~40 ms for a delayed ACK."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options = {"log_level": "warning", "lifespan": "off", "timeout_keep_alive": 2, **config}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the bridge did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextlib.contextmanager
def running_bridge(root_url: str, **options: Any) -> Iterator[str]:
    """The bridge over ``root_url`` on a real uvicorn server; yields its base URL."""
    from tfjs_store.server import create_app

    with serving_asgi(create_app(root_url, **options)) as base:
        yield base


@contextlib.contextmanager
def running_static(routes: Mapping[str, tuple[bytes, str]]) -> Iterator[str]:
    """Serve ``{path: (body, content_type)}`` on 127.0.0.1; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in routes:
                self.send_error(404)
                return
            body, content_type = routes[path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        yield base


@contextlib.contextmanager
def _apt_lock() -> Iterator[None]:
    path = Path(tempfile.gettempdir()) / "tfjs-store-apt-chromium.lock"
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_chromium(timeout: float = 900) -> str:
    """``/usr/bin/chromium``; installs Debian's chromium package when it is missing.

    Raises RuntimeError with apt's output when the install fails.
    """
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    with _apt_lock():
        if os.path.exists(CHROMIUM):
            return CHROMIUM
        apt = shutil.which("apt-get")
        if apt is None:
            raise RuntimeError(f"{CHROMIUM} is missing and apt-get is not available")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        log = []
        for cmd in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", "chromium"]):
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
            )
            log.append(f"$ {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
            if proc.returncode != 0:
                raise RuntimeError("installing chromium failed:\n" + "\n".join(log))
        if not os.path.exists(CHROMIUM):
            raise RuntimeError("apt-get installed chromium but /usr/bin/chromium is missing")
    return CHROMIUM


def run_playwright(payload: Mapping[str, Any], *, timeout: float = 180) -> dict[str, Any]:
    """Run ``node tests/js/browser/driver.js`` with ``payload`` on stdin; its JSON answer.

    Raises RuntimeError with the driver's output when it fails.
    """
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("Node.js is not installed")
    driver = BROWSER_JS_DIR / "driver.js"
    proc = subprocess.run(
        [node, str(driver)],
        input=json.dumps(payload).encode(),
        capture_output=True,
        timeout=timeout,
        cwd=JS_DIR,
        check=False,
    )
    stdout = proc.stdout.decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")
    try:
        # split on "\n" only: the answer may hold U+2028, which str.splitlines splits on
        answer = json.loads(stdout.strip().split("\n")[-1]) if stdout.strip() else None
    except ValueError:
        answer = None
    if proc.returncode != 0 or not isinstance(answer, dict) or not answer.get("ok"):
        error = answer.get("error") if isinstance(answer, dict) else None
        raise RuntimeError(
            f"driver.js failed (exit {proc.returncode}): {error}\n"
            f"stdout:\n{stdout[-3000:]}\nstderr:\n{stderr[-6000:]}"
        )
    return answer
