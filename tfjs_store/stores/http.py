"""The read side of ``http://`` and ``https://`` as a read-only byte store.

``HttpStore(model_url)`` holds the files of one model as TF.js's ``tf.io.http`` finds
them (spec §4.3): the model JSON is ``model_url`` itself (its name in the store is the
URL's last path segment, ``json_name``); every other name is a weight file whose URL is
the model URL up to its last ``/``, plus the name, plus the model URL's query string
(``weight_path_prefix`` replaces the first part, ``weight_url_converter`` the whole).

Reads are ``GET`` requests (``method`` for whole files); transient failures are retried
by ``HttpClient`` (``http_retry`` has the rules). A 404 is ``HTTPNotFoundError`` (a
``FileNotFoundError``, as the byte store interface asks), any other non-2xx status
``HTTPStatusError``, both naming the URL and the status. ``read_range`` sends ``Range``
(a server that ignores it answers the whole file, which is cut). Nothing is written,
removed or listed: the flags say so, and those methods raise ``StorageError``.

The format work (model.json, the record, integrity, the retry when a save replaced the
model) is ``ModelHandler``'s; ``handlers.http.HTTPHandler`` puts one over this store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Any

from ..errors import HTTPNotFoundError, HTTPStatusError, InvalidModelError, StorageError
from .base import ByteStore, FileInfo, WriteJob, map_until_error
from .http_client import (
    HttpClient,
    HTTPResponse,
    content_length,
    normalize_url,
    read_body,
    read_into,
    tries_note,
)

__all__ = ["HttpStore", "split_model_url", "weight_urls"]

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*$", re.IGNORECASE)


def split_model_url(url: str) -> tuple[str, str]:
    """TF.js's ``parseUrl``: (everything up to the last ``/`` inclusive, query suffix)."""
    slash = url.rfind("/")
    question = url.rfind("?")
    prefix = url[: slash + 1] if slash >= 0 else "/"
    suffix = url[question:] if question > slash else ""
    return prefix, suffix


def weight_urls(
    model_url: str,
    paths: Sequence[str],
    *,
    weight_path_prefix: str | None = None,
    weight_url_converter: Callable[[str], str] | None = None,
) -> list[str]:
    """The URL of each manifest path, by TF.js's rules (plain concatenation, no slash added).

    ``weight_url_converter(path)`` wins over everything; otherwise the URL is
    ``(weight_path_prefix or <model URL up to its last '/'>) + path + <model URL's query>``.
    """
    if weight_url_converter is not None:
        out = []
        for p in paths:
            converted = weight_url_converter(p)
            if not isinstance(converted, str) or not converted:
                raise TypeError(
                    f"weight_url_converter({p!r}) must return a non-empty URL string, "
                    f"got {converted!r}"
                )
            out.append(converted)
        return out
    prefix, suffix = split_model_url(model_url)
    if weight_path_prefix:
        prefix = weight_path_prefix
    return [prefix + p + suffix for p in paths]


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``Content-Range: bytes a-b/n`` (or ``bytes */n``) as (a, n); None where absent."""
    m = _CONTENT_RANGE.match(value or "")
    if m is None:
        return None, None
    start, total = m.group(1), m.group(2)
    return (int(start) if start else None), (int(total) if total != "*" else None)


@dataclass(eq=False, repr=False)
class HttpStore(ByteStore):
    """The files of one model at an http(s) URL, read-only (see the module doc)."""

    supports_writes = False
    supports_deletes = False
    supports_listing = False
    supports_ranges = True
    # atomic_commit keeps its default: this store never commits, and what a reader sees
    # is the server's to keep whole (tfjs-store's bridge commits model.json in one step).

    model_url: str
    client: HttpClient
    _: KW_ONLY
    method: str = "GET"
    weight_path_prefix: str | None = None
    weight_url_converter: Callable[[str], str] | None = None
    max_concurrency: int = 16
    on_response: Callable[[], None] | None = field(default=None, init=False)
    """Called once per weight file read by ``read_many``/``read_many_into`` as its
    answer's headers arrive (TF.js's progress counts those as well as the bodies)."""
    _converted: dict[str, str] = field(default_factory=dict, init=False)
    _answered: bool = field(default=False, init=False)
    """A refused connection is transient once the peer answered."""

    def at(self, model_url: str) -> HttpStore:
        """The same store for the model JSON at another URL."""
        return replace(self, model_url=model_url)

    # -- where ----------------------------------------------------------------------

    @property
    def json_name(self) -> str:
        """The model JSON's name in this store: the model URL's last path segment."""
        path = self.model_url.split("?", 1)[0].split("#", 1)[0]
        return path.rsplit("/", 1)[-1] or "model.json"

    @property
    def url(self) -> str:
        return split_model_url(self.model_url)[0].rstrip("/") or self.model_url

    def file_url(self, name: str) -> str:
        if name == self.json_name:
            return self.model_url
        if self.weight_url_converter is not None:
            if name not in self._converted:  # the caller's function: asked once per name
                self._converted[name] = weight_urls(
                    self.model_url, [name], weight_url_converter=self.weight_url_converter
                )[0]
            return self._converted[name]
        (url,) = weight_urls(self.model_url, [name], weight_path_prefix=self.weight_path_prefix)
        return url

    def check_distinct(self, names: Sequence[str]) -> None:
        """No two names may be one URL (a file would be fetched and held twice)."""
        seen: dict[str, str] = {}
        for name in names:
            url = self.file_url(name)
            key = normalize_url(url)
            if key in seen:
                raise InvalidModelError(
                    f"{self.model_url}: weight files {seen[key]!r} and {name!r} are both "
                    f"{url}: a weight file is named more than once in the weights manifest"
                )
            seen[key] = name

    # -- reading --------------------------------------------------------------------

    def _get(
        self,
        name: str,
        *,
        method: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        announce: Callable[[], None] | None = None,
        body: Callable[[Any], bytes | bytearray] = read_body,
    ) -> HTTPResponse:
        url = self.file_url(name)
        resp = self.client.request(
            url, method or self.method, headers=headers, on_headers=announce,
            retry_refused=self._answered, body=body,
        )
        self._answered = True
        return resp

    def _failed(self, name: str, resp: HTTPResponse) -> HTTPStatusError:
        url = self.file_url(name)
        said = f"Request to {url} failed with status code {resp.status}" + tries_note(
            resp.attempts
        )
        if name == self.json_name:
            said += ". Please verify this URL points to the model JSON of the model to load."
        else:
            said += f" while fetching weight file {name!r} of {self.model_url}"
        if resp.status == 404:
            return HTTPNotFoundError(said, url=url)
        return HTTPStatusError(said, status=resp.status, url=url)

    def read(self, name: str, *, limit: int | None = None) -> Any:
        return self._read(name, limit, None)

    def _read(self, name: str, limit: int | None, announce: Callable[[], None] | None) -> Any:
        resp = self._get(name, announce=announce, body=lambda r: read_body(r, limit))
        if not resp.ok:
            raise self._failed(name, resp)
        return resp.body

    def read_into(self, name: str, out: memoryview) -> int:
        return self._read_into(name, out, None)

    def _read_into(self, name: str, out: memoryview, announce: Callable[[], None] | None) -> int:
        size = -1

        def fill(resp: Any) -> bytes | bytearray:
            nonlocal size
            told = content_length(resp)
            if told is None:  # no length told: the body tells
                data = read_body(resp)
                size = len(data)
                if size == len(out):
                    out[:] = data
            elif told == len(out):
                size = read_into(resp, out)  # straight into its place: no copy
            else:
                size = told  # another size: out is not filled, the caller reports it
            return b""

        resp = self._get(name, announce=announce, body=fill)
        if not resp.ok:
            raise self._failed(name, resp)
        return size

    def read_many_into(
        self, jobs: Sequence[tuple[str, memoryview]], on_file: Callable[[int, int], None]
    ) -> None:
        announce = self.on_response

        def one(i: int) -> None:
            on_file(i, self._read_into(*jobs[i], announce))

        map_until_error(one, range(len(jobs)), self.max_concurrency)

    def read_many(self, names: Sequence[str], on_file: Callable[[int, Any], None]) -> list[Any]:
        announce = self.on_response

        def one(i: int) -> Any:
            data = self._read(names[i], None, announce)
            on_file(i, data)
            return data

        return map_until_error(one, range(len(names)), self.max_concurrency)

    def read_range(self, name: str, start: int, end: int) -> Any:
        """Bytes ``[start, end)`` of a file (``end > start``): one GET with ``Range``.
        A 206 must answer the range asked for; a server that ignores ``Range`` answers
        200 with the whole file, which is cut here. Fewer bytes come back when the file
        ends before ``end``."""
        resp = self._get(name, method="GET", headers=[("Range", f"bytes={start}-{end - 1}")])
        if resp.status == 206:
            got = _content_range(resp.header("Content-Range"))[0]
            if got != start:
                raise StorageError(
                    f"GET {resp.url} asked for bytes {start}-{end - 1} but the answer holds "
                    f"Content-Range {resp.header('Content-Range')!r}"
                )
            return memoryview(resp.body)[: end - start]
        if resp.status == 200:
            return memoryview(resp.body)[start:end]
        if resp.status == 416:  # the file ends before start
            return b""
        raise self._failed(name, resp)

    def size(self, name: str) -> int | None:
        """A file's size, from the answer to a one-byte ranged GET (``Content-Range:
        bytes 0-0/SIZE``), or None when the server does not tell."""
        resp = self._get(name, method="GET", headers=[("Range", "bytes=0-0")])
        if resp.status == 200:
            return len(resp.body)
        if resp.status in (206, 416):
            return _content_range(resp.header("Content-Range"))[1]
        if resp.status == 404:
            raise self._failed(name, resp)
        return None

    # -- nothing else ---------------------------------------------------------------

    def _read_only(self, what: str) -> StorageError:
        return StorageError(
            f"http(s) URLs are read-only as a store: {self.model_url} cannot be {what} "
            "(a save POSTs the model to a server: tfjs_store.save)"
        )

    def write(self, job: WriteJob) -> None:
        raise self._read_only("written")

    def commit(self, name: str, data: bytes, *, temp_name: str | None = None) -> str | None:
        raise self._read_only("written")

    def remove(self, names: Sequence[str]) -> None:
        raise self._read_only("removed")

    def list(self) -> dict[str, FileInfo]:
        raise self._read_only("listed")

    def walk(self) -> dict[str, FileInfo]:
        raise self._read_only("listed")
