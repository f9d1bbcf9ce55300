"""Which requests reach the bridge: the Host allow-list and the Origin check on writes.

Two attacks come through the user's own browser, whatever the token setting:

* **Cross-site writes.** A ``multipart/form-data`` POST without custom headers is a
  CORS "simple request": any web page can send it (a ``<form>``, or ``fetch``) and
  CORS only hides the answer. Browsers name the page in ``Origin`` on every POST, PUT
  and DELETE, so a write whose ``Origin`` is neither the bridge's own origin nor one of
  ``cors_origins`` is refused (403). Non-browser clients (Node's fetch, curl, Python)
  send no ``Origin`` and are not affected; neither are GETs, whose answers CORS keeps
  from foreign pages. ``Origin: null`` (sandboxed frames, ``file:`` pages) is foreign.
* **DNS rebinding.** A page on ``evil.example`` whose name later resolves to 127.0.0.1
  is same-origin with itself, so CORS and the Origin check let it through; but its
  requests carry ``Host: evil.example``. Requests whose Host is not a loopback name,
  the address the connection arrived on, or one of ``allowed_hosts`` get 421, on
  every route. ``"*"`` in ``allowed_hosts`` turns this check off (behind a proxy that
  rewrites Host).

A refused request never reaches CORS or a route. Its body is read only as far as
``drain`` reads (so a client still sending sees the answer, not a reset connection),
and not at all from a client that waits for ``100 Continue``.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import AsyncIterator, Iterable, Mapping

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .upload import drain

__all__ = ["SAFE_METHODS", "RequestGuard", "check_allowed_host", "error_response"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing; every other one is a write for the Origin check."""
_LOOPBACK_NAMES = frozenset({"localhost"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The bridge's JSON error answer: ``{"error": message, "status": status}``."""
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def check_allowed_host(host: str) -> str:
    """``host`` as the allow-list keeps it (lower case, no IPv6 brackets), or ``ValueError``.

    An entry is a host name or IP address (``models.example.com``, ``10.0.0.5``,
    ``[::1]``), or ``*`` for any; ports are not part of it.
    """
    text = host.strip()
    if text == "*":
        return text
    name = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    if not name or any(c in name for c in "/:@[]?# \t") or name.startswith("."):
        raise ValueError(
            f"invalid allowed host {host!r}: give a host name or IP address as browsers "
            "send it in Host (e.g. models.example.com), without scheme, port or path"
        )
    return name.lower().rstrip(".")


def _split_host(value: str) -> tuple[str, int | None] | None:
    """A Host header as (hostname, port), or None if it is not one."""
    try:
        parts = urllib.parse.urlsplit(f"//{value}")
        hostname, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not hostname or parts.username is not None or parts.path or parts.query:
        return None
    return hostname.rstrip("."), port


def _origin(value: str) -> tuple[str, str, int | None] | None:
    """A serialized origin (``scheme://host[:port]``) as its three parts, or None."""
    try:
        parts = urllib.parse.urlsplit(value.strip())
        scheme, hostname, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return None
    if not scheme or not hostname or parts.path not in ("", "/") or parts.query:
        return None
    return scheme, hostname.rstrip("."), port or _DEFAULT_PORTS.get(scheme)


def _is_loopback(hostname: str) -> bool:
    if hostname in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _same_address(hostname: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(hostname) == ipaddress.ip_address(address)
    except ValueError:
        return hostname == address.lower()


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


class RequestGuard:
    """ASGI middleware refusing foreign Hosts (421) and cross-origin writes (403).

    ``allowed_hosts``: names (or IPs) accepted in Host besides loopback and the address
    the connection arrived on; ``"*"`` accepts any. ``cors_origins``: origins whose
    pages may write (``"*"`` for any); the bridge's own origin always may.
    """

    def __init__(
        self, app: ASGIApp, *, allowed_hosts: Iterable[str] = (), cors_origins: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.allowed_hosts = frozenset(check_allowed_host(h) for h in allowed_hosts)
        origins = list(cors_origins)
        self.any_origin = "*" in origins
        self.origins_exact = frozenset(origins)
        self.origins = frozenset(o for o in map(_origin, origins) if o is not None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        expects = (v.lower() for k, v in scope.get("headers", []) if k == b"expect")
        if b"100-continue" not in expects:  # a client waiting for 100 has sent nothing yet
            await drain(_body(receive))
        await error_response(*refusal)(scope, receive, send)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, one-line reason) if the request must not reach the bridge."""
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        hosts = [v.decode("latin-1") for k, v in headers if k == b"host"]
        server = scope.get("server") or ("", None)
        local = str(server[0] or "")
        own: list[tuple[str, int | None]] = []
        for value in hosts:
            split = _split_host(value)
            if split is None:
                return 400, f"invalid Host header {value!r}"
            if not self._host_allowed(split[0], local):
                return 421, (
                    f"host {split[0]!r} is not served here (DNS rebinding is refused): "
                    "start the bridge with --allowed-host NAME to serve it under that name"
                )
            own.append(split)
        if not hosts and local:
            own.append((local, server[1]))
        if scope["method"] in SAFE_METHODS:
            return None
        scheme = str(scope.get("scheme", "http")).lower()
        for value in (v.decode("latin-1") for k, v in headers if k == b"origin"):
            if not self._origin_allowed(value, scheme, own):
                return 403, (
                    f"a web page of origin {value!r} may not {scope['method']} here "
                    "(cross-site write refused): start the bridge with --cors-origin "
                    "ORIGIN to allow that page"
                )
        return None

    def _host_allowed(self, hostname: str, local: str) -> bool:
        if "*" in self.allowed_hosts or _is_loopback(hostname):
            return True
        if local and _same_address(hostname, local):
            return True
        try:
            return check_allowed_host(hostname) in self.allowed_hosts
        except ValueError:
            return False

    def _origin_allowed(self, value: str, scheme: str, own: list[tuple[str, int | None]]) -> bool:
        if self.any_origin or value in self.origins_exact:
            return True
        origin = _origin(value)
        if origin is None:  # "null" and anything else that names no page
            return False
        if origin in self.origins:
            return True
        default = _DEFAULT_PORTS.get(scheme)
        return any(origin == (scheme, host, port or default) for host, port in own)
