"""One http(s) request and its answer, retried where that is safe (``http_retry``).

``HttpClient.request`` sends one request with the standard library (``urllib.request``)
and returns the peer's answer whatever its status: only a transport failure (no answer,
or half of one) raises, as ``StorageError`` naming the method and URL. Transient
failures of idempotent methods are sent again by ``http_retry``'s rules; the answer
tells how many requests it took (``HTTPResponse.attempts``). The byte store
(``stores.http``) and the http handler's save both send through it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any

from ..errors import StorageError
from .http_retry import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_BACKOFF,
    IDEMPOTENT_METHODS,
    RETRY_STATUSES,
    backoff_seconds,
    is_transient,
    retry_after_seconds,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "BodyReader",
    "HTTPResponse",
    "HttpClient",
    "content_length",
    "normalize_url",
    "parse_headers",
    "read_body",
    "tries_note",
]

DEFAULT_TIMEOUT = 60.0
"""Seconds a socket may wait for the peer (per operation, not for the whole transfer)."""

_READ_CHUNK = 1 << 20

BodyReader = Callable[[Any], "bytes | bytearray"]
"""Reads a 2xx answer's body from the open response; a broken body raises (and the
request is retried where that is safe)."""


@dataclass(frozen=True)
class HTTPResponse:
    """What a peer answered: what ``SaveResult.responses`` holds for http saves."""

    url: str
    status: int
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | bytearray = field(default=b"", repr=False)
    attempts: int = 1
    """Requests sent for this answer (more than 1 when transient failures were retried)."""

    @property
    def ok(self) -> bool:
        """True for a 2xx status, as ``Response.ok``."""
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def text(self) -> str:
        return bytes(self.body).decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 §5.2.4, as browsers' URL parser applies it before fetching.
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") or not path.startswith("/") else "/" + result


def normalize_url(url: str) -> str:
    """A URL as ``fetch`` would request it: dot segments resolved, unsafe bytes escaped."""
    parts = urllib.parse.urlsplit(url)
    path = _remove_dot_segments(parts.path) if parts.path else "/"
    path = urllib.parse.quote(path, safe="/%:@!$&'()*+,;=-._~")
    query = urllib.parse.quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def parse_headers(value: Any) -> list[tuple[str, str]]:
    """``request_init['headers']`` (a mapping or (name, value) pairs), checked."""
    if value is None:
        return []
    items = value.items() if isinstance(value, Mapping) else value
    out = []
    for item in items:
        try:
            key, val = item
        except (TypeError, ValueError):
            raise ValueError(
                f"request_init['headers'] must be a mapping or (name, value) pairs, got {value!r}"
            ) from None
        if not isinstance(key, str) or not isinstance(val, str):
            raise ValueError(f"header names and values must be strings, got {key!r}: {val!r}")
        if any(c in key + val for c in "\r\n\x00"):
            raise ValueError(f"header {key!r} contains a line break or NUL")
        out.append((key, val))
    return out


def tries_note(tries: int) -> str:
    return f" (after {tries} tries)" if tries > 1 else ""


def content_length(resp: Any) -> int | None:
    """The answer's Content-Length, None when absent or unreadable."""
    length = resp.headers.get("Content-Length")
    try:
        value = int(length) if length is not None else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None


def read_into(resp: Any, out: memoryview) -> int:
    """Fill ``out`` from the body (which holds at least ``len(out)`` bytes by its
    Content-Length); a body that ends first is a broken connection."""
    got = 0
    while got < len(out):
        n = resp.readinto(out[got : min(len(out), got + _READ_CHUNK)])
        if not n:
            raise _ShortBody(got, len(out))
        got += n
    return got


def read_body(resp: Any, limit: int | None = None) -> bytes | bytearray:
    """The body (at most ``limit`` bytes of it), read into one buffer when its length
    is told; a body shorter than its Content-Length raises (a broken connection)."""
    expected = content_length(resp)
    if expected is None:
        return bytes(resp.read() if limit is None else resp.read(limit))
    want = expected if limit is None else min(expected, limit)
    buf = bytearray(want)
    read_into(resp, memoryview(buf))
    return buf


class _ShortBody(http.client.IncompleteRead):
    """An answer that ended before its Content-Length: the connection broke."""

    def __init__(self, got: int, expected: int) -> None:
        super().__init__(b"", expected - got)
        self.got = got
        self.expected = expected

    def __str__(self) -> str:
        return f"the answer ended after {self.got} of its {self.expected} bytes"


class _TransportFailure(Exception):
    """No answer (or half of one) came back: ``cause`` is what the socket layer raised."""

    def __init__(self, cause: BaseException, detail: str) -> None:
        super().__init__(detail)
        self.cause = cause
        self.detail = detail


class HttpClient:
    """Sends requests with fixed headers, timeout and retry rules (see the module doc)."""

    def __init__(
        self,
        headers: Sequence[tuple[str, str]] = (),
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
    ) -> None:
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
        if not isinstance(retry_backoff, (int, float)) or not 0 <= retry_backoff <= 60:
            raise ValueError(
                f"retry_backoff must be between 0 and 60 seconds, got {retry_backoff!r}"
            )
        self.headers = list(headers)
        self.timeout = timeout
        self.retries = retries
        self.retry_backoff = float(retry_backoff)
        self._opener = urllib.request.build_opener(_RedirectKeepingCredentialsHome())

    def request(
        self,
        url: str,
        method: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        data: Any = None,
        on_headers: Callable[[], None] | None = None,
        retry_refused: bool = False,
        body: BodyReader = read_body,
    ) -> HTTPResponse:
        """The answer to one request whatever its status (only transport failures raise),
        after retrying transient failures of idempotent methods (``http_retry``).

        ``on_headers`` is called once, for the answer that is returned.
        ``retry_refused``: a refused connection is transient too (the peer answered
        before). ``body`` reads a 2xx answer's body (by default whole).
        """
        tries = 1 + (self.retries if method.upper() in IDEMPOTENT_METHODS else 0)
        announced = False

        def headers_once() -> None:  # a retried body must not count its file twice
            nonlocal announced
            if on_headers is not None and not announced:
                announced = True
                on_headers()

        for attempt in range(tries):
            final = attempt + 1 == tries
            try:
                response = self._send(url, method, headers, data, headers_once, final, body)
            except _TransportFailure as failure:
                if final or not is_transient(failure.cause, refused=retry_refused):
                    raise StorageError(
                        f"{method} {url} failed: {failure.detail}{tries_note(attempt + 1)}"
                    ) from None
                wait = backoff_seconds(attempt, self.retry_backoff)
            else:
                if final or response.status not in RETRY_STATUSES:
                    if attempt == 0:
                        return response
                    return dataclasses.replace(response, attempts=attempt + 1)
                asked = retry_after_seconds(response.header("Retry-After"))
                wait = backoff_seconds(attempt, self.retry_backoff) if asked is None else asked
            time.sleep(wait)
        raise AssertionError("unreachable: the last try returns or raises")

    def _send(
        self,
        url: str,
        method: str,
        headers: Sequence[tuple[str, str]],
        data: Any,
        on_headers: Callable[[], None],
        final: bool,
        read: BodyReader,
    ) -> HTTPResponse:
        """One request, no retry; a transport failure raises ``_TransportFailure``."""
        req = urllib.request.Request(normalize_url(url), data=data, method=method)
        for key, value in [*self.headers, *headers]:
            req.add_header(key, value)
        try:
            try:
                resp = self._opener.open(req, timeout=self.timeout)
            except urllib.error.HTTPError as err:  # a non-2xx answer: still a response
                resp = err
            with contextlib.closing(resp):
                status = int(resp.getcode())
                if 200 <= status < 300:
                    on_headers()
                    body = read(resp)
                else:
                    if final or status not in RETRY_STATUSES:
                        on_headers()
                    body = resp.read()
                return HTTPResponse(
                    url=url,
                    status=status,
                    reason=str(getattr(resp, "reason", "") or ""),
                    headers=tuple((str(k), str(v)) for k, v in resp.headers.items()),
                    body=body,
                )
        except urllib.error.URLError as exc:
            raise _TransportFailure(exc, str(exc.reason)) from None
        except (HTTPException, OSError) as exc:
            raise _TransportFailure(exc, f"{type(exc).__name__}: {exc}") from None


_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


def _origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default


class _RedirectKeepingCredentialsHome(urllib.request.HTTPRedirectHandler):
    """urllib's redirects (a bridge's ``307`` to a presigned bucket URL, for one) without
    sending ``Authorization`` or ``Cookie`` to another origin, as fetch does: the bridge's
    token is not the bucket's business, and S3 refuses a request that carries a
    presigned query and an ``Authorization`` header both."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin_of(newurl) != _origin_of(req.full_url):
            for key in [k for k in new.headers if k.lower() in _CREDENTIAL_HEADERS]:
                del new.headers[key]
        return new
