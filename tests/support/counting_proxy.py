"""A reverse proxy on 127.0.0.1 that counts what passes: requests and response bytes.

Put it in front of moto's S3 or the bridge and point the client at it: every request is
forwarded unchanged (Host included, so S3 signatures still match) and recorded as
``Exchange(method, path, range, status, body_bytes, origin, sent_bytes, started, ended)``
(``body_bytes`` came back, ``sent_bytes`` went up; ``started`` and ``ended`` on
``time.monotonic``'s clock, when the request had arrived whole and when its answer was
ready). ``peak`` is the most requests the proxy held at once. Bodies are buffered: it is
for counting, not for speed. With ``delay`` every request waits that long first (a slow
link).
"""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from support.threaded_http import serving

__all__ = ["CountingProxy", "Exchange", "counting_proxy"]

_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade", "content-length",
}


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int
    origin: str | None = None
    """The request's ``Origin`` header (browsers send it on cross-origin fetches)."""
    sent_bytes: int = 0
    started: float = 0.0
    ended: float = 0.0

    def overlaps(self, other: Exchange) -> bool:
        """The two were in flight at the same time."""
        return self.started < other.ended and other.started < self.ended


class CountingProxy:
    def __init__(self, url: str) -> None:
        self.url = url
        self.exchanges: list[Exchange] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        """The most requests held at once (since the proxy started or ``clear``)."""

    def clear(self) -> None:
        with self.lock:
            self.exchanges.clear()
            self.peak = self.in_flight

    def since(self, mark: int) -> list[Exchange]:
        with self.lock:
            return list(self.exchanges[mark:])


@contextlib.contextmanager
def counting_proxy(upstream: str, delay: float = 0.0) -> Iterator[CountingProxy]:
    """A proxy forwarding to ``upstream`` (``http://127.0.0.1:PORT``); yields it."""
    target = urllib.parse.urlsplit(upstream)
    state: list[CountingProxy] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            proxy = state[0]
            started = time.monotonic()
            with proxy.lock:
                proxy.in_flight += 1
                proxy.peak = max(proxy.peak, proxy.in_flight)
            try:
                if delay:
                    time.sleep(delay)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in _HOP_BY_HOP}
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    out = [(k, v) for k, v in resp.getheaders()
                           if k.lower() not in _HOP_BY_HOP]
                    length_header = resp.getheader("Content-Length")
                finally:
                    conn.close()
            finally:
                with proxy.lock:
                    proxy.in_flight -= 1
            with proxy.lock:
                proxy.exchanges.append(Exchange(self.command, self.path,
                                                self.headers.get("Range"), resp.status,
                                                len(data), self.headers.get("Origin"),
                                                length, started, time.monotonic()))
            self.send_response(resp.status)
            for k, v in out:
                self.send_header(k, v)
            if self.command == "HEAD":
                self.send_header("Content-Length", length_header or "0")
                self.end_headers()
                return
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

    with serving(Handler) as url:
        state.append(CountingProxy(url))
        yield state[0]
