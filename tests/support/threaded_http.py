"""A request handler class served in the test process: the one home of the tests'
``ThreadingHTTPServer`` on 127.0.0.1, a free port and a daemon thread.

    from support.threaded_http import serving

    with serving(Handler) as base:          # "http://127.0.0.1:PORT"
        httpx.get(f"{base}/path")

``serving_wsgi(app)`` does the same for a WSGI app (werkzeug's threaded server). The
server is shut down, its socket closed and its thread joined when the block ends.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["serving", "serving_wsgi"]


class _NoDelayServer(ThreadingHTTPServer):
    """Nagle's algorithm off on every connection: a handler writes its headers and its
    body separately, and a kept-alive client would otherwise wait ~40 ms for each answer
    (the second write held back until the client's delayed ACK of the first)."""

    daemon_threads = True

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, address


@contextlib.contextmanager
def serving(handler: Callable[..., BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` (a ``BaseHTTPRequestHandler`` class, or a partial of one) on
    127.0.0.1 in a background thread; yields the base URL ``http://127.0.0.1:PORT``."""
    server = _NoDelayServer(("127.0.0.1", 0), handler)
    with _in_thread(server, server.server_address[1]) as url:
        yield url



@contextlib.contextmanager
def serving_wsgi(app: Any) -> Iterator[str]:
    """Serve the WSGI ``app`` (a Flask app, say) with werkzeug's threaded server on
    127.0.0.1 in a background thread; yields the base URL ``http://127.0.0.1:PORT``."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    with _in_thread(server, server.server_port) as url:
        yield url


@contextlib.contextmanager
def _in_thread(server: Any, port: int) -> Iterator[str]:
    """``server.serve_forever`` in a daemon thread while the block runs; then shut down,
    closed and joined."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
