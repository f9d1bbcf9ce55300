"""``http://`` and ``https://``: TF.js's ``tf.io.http`` save and load, from Python.

Save (spec §4.2) sends what ``model.save('http://…')`` sends: one multipart/form-data
request (``POST`` unless ``request_init`` says otherwise) with the parts ``model.json``
(application/json, manifest path ``./model.weights.bin``, TF.js's key order and number
formatting) and ``model.weights.bin`` (application/octet-stream), with a Content-Length
as browsers send. The weight part is streamed from the artifacts' buffers; no joined copy
of the weights is made. Any receiver written for TF.js (``request.files['model.json']``)
reads it.

Load (spec §4.3) follows TF.js's URL rules: each weight URL is the model.json URL up to
its last ``/``, plus the manifest path, plus the model.json URL's query string
(``weight_path_prefix`` replaces the first part, ``weight_url_converter`` the whole).
Unlike TF.js it checks every response's status and each weight group's byte length, so a
404 page never becomes weights; shards are fetched concurrently, and ``on_progress``
reports as TF.js does (headers 0→0.5, bodies 0.5→1).

A 404 for model.json is ``HTTPNotFoundError``: a ``ModelNotFoundError`` as on any other
storage, and an ``HTTPStatusError``. A weight file that answers 404 while model.json has
changed since it was read is a save replacing the model under way: model.json is read
again and the new model loaded (a few times at most), as the fsspec handler does.
Transient failures of ``GET`` requests (a broken connection, 408, 429, 500, 502, 503,
504) are retried with capped, jittered exponential backoff, honouring ``Retry-After``
(``retries=``; ``http_retry`` has the rules). A save is never sent twice.

With ``body="json"`` a save sends instead one ``application/json`` request holding the
artifacts with the weights in base64 (``modelTopology``, ``weightSpecs``, ``weightData``
and the optional keys), the shape TF.js's documentation describes and some servers take;
the base64 text is produced while the request is sent, never held whole.

A manifest path that would leave the model's folder (``../x``, ``/x``, a URL, the same
written with ``%2e%2e``) is refused with ``UnsafePathError`` before anything is fetched;
TF.js would follow it. ``weight_path_prefix`` and ``weight_url_converter`` remain the
ways to put weights elsewhere: they are the caller's choice, not the manifest's.

The bodies are made by ``format.wire``, where the bridge reads them too. Only the
standard library is used (``urllib.request``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any, ClassVar

from ..errors import (
    HTTPNotFoundError,
    HTTPStatusError,
    InvalidModelError,
    StorageError,
    UnsafePathError,
)
from ..format.artifacts import ModelArtifacts
from ..format.integrity import check_file, check_groups
from ..format.jsonfmt import parse_json_bytes
from ..format.layout import manifest_paths, safe_relative_path
from ..format.record import RECORD_KEY, SaveRecord
from ..format.schemas import ModelJSON, SaveResult
from ..format.wire import (  # the bodies' home; re-exported here, where they were first
    ARTIFACT_KEYS,
    BODY_KINDS,
    BodyKind,
    JSONBody,
    MultipartBody,
    encode_artifacts,
    encode_json,
    encode_multipart,
)
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
    "ARTIFACT_KEYS",
    "DEFAULT_TIMEOUT",
    "HTTPHandler",
    "HTTPResponse",
    "JSONBody",
    "MultipartBody",
    "encode_json",
    "encode_multipart",
    "weight_urls",
]

DEFAULT_TIMEOUT = 60.0
"""Seconds a socket may wait for the peer (per operation, not for the whole transfer)."""

_SCHEME = re.compile(r"^https?://", re.IGNORECASE)
_READ_CHUNK = 1 << 20
_LOAD_TRIES = 8  # model.json reads when weight files keep vanishing under concurrent saves


# -- responses -------------------------------------------------------------------------


@dataclass(frozen=True)
class HTTPResponse:
    """What a peer answered: what ``SaveResult.responses`` holds for http saves."""

    url: str
    status: int
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = field(default=b"", repr=False)
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
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


# -- URL rules ---------------------------------------------------------------------------


def _split_model_url(url: str) -> tuple[str, str]:
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
    prefix, suffix = _split_model_url(model_url)
    if weight_path_prefix:
        prefix = weight_path_prefix
    return [prefix + p + suffix for p in paths]


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


# -- the handler -------------------------------------------------------------------------


def _headers(value: Any) -> list[tuple[str, str]]:
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


class HTTPHandler:
    """TF.js's ``tf.io.http(url, options)``: save to and load from an http(s) URL.

    Parameters
    ----------
    url:
        Where to POST the model (save), or the model JSON's URL (load).
    request_init:
        TF.js's ``requestInit``, the keys ``"method"`` (default ``POST`` to save, ``GET``
        to load) and ``"headers"`` (a mapping or pairs), used for every request. A
        ``"body"`` is refused, as in TF.js; so is a Content-Type header on save (the
        multipart boundary goes there).
    weight_path_prefix:
        Replaces the model.json folder URL in weight URLs (plain concatenation: no ``/``
        is inserted; the model.json query string is still appended), as in TF.js.
    weight_url_converter:
        ``f(manifest_path) -> URL``, used as is for each weight file (a synchronous
        counterpart of TF.js's async ``weightUrlConverter``).
    on_progress:
        ``f(fraction)`` during load: 0→0.5 as responses arrive, 0.5→1 as bodies complete.
        Called from worker threads, one call at a time, with fractions that never decrease.
    max_concurrency:
        Weight files fetched at once.
    retries:
        How many times a ``GET`` that failed transiently (broken connection, 408, 429,
        500, 502, 503, 504) is sent again, per file (default 4; 0 turns retrying off).
        Saves are never retried.
    retry_backoff:
        Seconds the first retry waits at most; each later one up to twice as long
        (capped at 8 s, jittered). A ``Retry-After`` from the peer wins (capped at 30 s).
    timeout:
        Socket timeout in seconds for each blocking operation.
    verify:
        When the model.json carries tfjs-store's size/SHA-256 record (a tfjs-store bridge
        served it), check the weight files against it.
    body:
        How a save sends the model: ``"multipart"`` (default; exactly TF.js's request) or
        ``"json"`` (one ``application/json`` object: the artifacts with ``weightSpecs``
        and base64 ``weightData``, for servers that only take that).

    A manifest path that leaves the model's folder is refused (``UnsafePathError``);
    with ``weight_url_converter`` the paths are the converter's to judge.
    """

    OPTION_HINTS: ClassVar[dict[str, str]] = {
        "storage_options": "http(s) URLs take no storage_options; pass headers as "
        "request_init={'headers': {...}} (TF.js's requestInit)",
    }
    """What to say when the registry refuses one of these options (it is not taken)."""

    supports_ranges = True
    """``read_range`` reads a byte range of a weight file (``Range``; a server that
    ignores it answers the whole file, which is cut)."""

    def __init__(
        self,
        url: str,
        *,
        request_init: Mapping[str, Any] | None = None,
        weight_path_prefix: str | None = None,
        weight_url_converter: Callable[[str], str] | None = None,
        on_progress: Callable[[float], Any] | None = None,
        max_concurrency: int = 16,
        retries: int = DEFAULT_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        timeout: float = DEFAULT_TIMEOUT,
        verify: bool = True,
        body: str = "multipart",
    ) -> None:
        if not isinstance(url, str) or not url:
            raise ValueError("URL path for http must not be null, undefined or empty.")
        if not _SCHEME.match(url):
            raise ValueError(f"not an http(s) URL: {url!r}")
        init = dict(request_init or {})
        if "body" in init:
            raise ValueError("requestInit is expected to have no pre-existing body, but has one.")
        unknown = sorted(set(init) - {"method", "headers"})
        if unknown:
            raise ValueError(
                f"request_init keys {unknown} are not supported; use 'method' and 'headers'"
            )
        method = init.get("method")
        if method is not None and (not isinstance(method, str) or not method.isalpha()):
            raise ValueError(f"request_init['method'] must be an HTTP method name, got {method!r}")
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"max_concurrency must be a positive integer, got {max_concurrency!r}")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
        if not isinstance(retry_backoff, (int, float)) or not 0 <= retry_backoff <= 60:
            raise ValueError(
                f"retry_backoff must be between 0 and 60 seconds, got {retry_backoff!r}"
            )
        if weight_url_converter is not None and not callable(weight_url_converter):
            raise TypeError("weight_url_converter must be callable")
        if on_progress is not None and not callable(on_progress):
            raise TypeError("on_progress must be callable")
        if body not in BODY_KINDS:
            raise ValueError(f"body must be 'multipart' or 'json', got {body!r}")
        self.url = url
        self.method: str | None = method.upper() if method else None
        self.headers = _headers(init.get("headers"))
        self.weight_path_prefix = weight_path_prefix
        self.weight_url_converter = weight_url_converter
        self.on_progress = on_progress
        self.max_concurrency = max_concurrency
        self.retries = retries
        self.retry_backoff = float(retry_backoff)
        self.timeout = timeout
        self.verify = verify
        self.body: BodyKind = "json" if body == "json" else "multipart"
        self._opener = urllib.request.build_opener(_RedirectKeepingCredentialsHome())

    # -- transport -------------------------------------------------------------------

    def _request(
        self,
        url: str,
        method: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        data: Any = None,
        on_headers: Callable[[], None] | None = None,
        retry_refused: bool = False,
    ) -> HTTPResponse:
        """The answer to one request whatever its status (only transport failures raise),
        after retrying transient failures of idempotent methods (``http_retry``).

        ``on_headers`` is called once, for the answer that is returned.
        ``retry_refused``: a refused connection is transient too (the peer answered
        before, in this load).
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
                response = self._send(url, method, headers, data, headers_once, final)
            except _TransportFailure as failure:
                if final or not is_transient(failure.cause, refused=retry_refused):
                    raise StorageError(
                        f"{method} {url} failed: {failure.detail}{_tries_note(attempt + 1)}"
                    ) from None
                wait = backoff_seconds(attempt, self.retry_backoff)
            else:
                if final or response.status not in RETRY_STATUSES:
                    return _with_attempts(response, attempt + 1)
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
    ) -> HTTPResponse:
        """One request, no retry; a transport failure raises ``_TransportFailure``."""
        target = normalize_url(url)
        req = urllib.request.Request(target, data=data, method=method)
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
                    body = _read_body(resp)
                else:
                    if final or status not in RETRY_STATUSES:
                        on_headers()
                    body = resp.read()
                return HTTPResponse(
                    url=url,
                    status=status,
                    reason=str(getattr(resp, "reason", "") or ""),
                    headers=tuple((str(k), str(v)) for k, v in resp.headers.items()),
                    body=bytes(body) if not isinstance(body, bytes) else body,
                )
        except urllib.error.URLError as exc:
            raise _TransportFailure(exc, str(exc.reason)) from None
        except (HTTPException, OSError) as exc:
            raise _TransportFailure(exc, f"{type(exc).__name__}: {exc}") from None

    # -- save ------------------------------------------------------------------------

    def save(self, artifacts: ModelArtifacts) -> SaveResult:
        """POST (or ``request_init['method']``) the model as TF.js's multipart body, or
        as the JSON body with ``body="json"``."""
        if isinstance(artifacts.model_topology, (bytes, bytearray, memoryview)):
            raise InvalidModelError(
                "BrowserHTTPRequest.save() does not support saving model topology in binary "
                "formats yet."
            )
        if any(k.lower() == "content-type" for k, _ in self.headers):
            raise ValueError(
                "request_init headers must not set Content-Type for a save: tfjs-store sets "
                "it (the multipart boundary goes there; or application/json)"
            )
        body = encode_artifacts(artifacts, self.body)
        method = self.method or "POST"
        response = self._request(
            self.url,
            method,
            headers=[("Content-Type", body.content_type), ("Content-Length", str(len(body)))],
            data=body,
        )
        if not response.ok:
            detail = response.text().strip()[:300]
            raise HTTPStatusError(
                f"BrowserHTTPRequest.save() failed due to HTTP response status "
                f"{response.status}." + (f" The server answered: {detail}" if detail else ""),
                status=response.status,
                url=self.url,
            )
        return SaveResult(model_artifacts_info=artifacts.info(), responses=[response], url=self.url)

    # -- load ------------------------------------------------------------------------

    def load(self) -> ModelArtifacts:
        """Fetch model.json, then every weight file concurrently; check status and sizes.

        A weight file answering 404 while model.json changed since it was read means a
        save replaced the model meanwhile: the new model is loaded instead.
        """
        method = self.method or "GET"
        raw = self._read_model_json(method, first=True)
        for attempt in range(_LOAD_TRIES):
            try:
                return self._load_from(raw, method)
            except HTTPNotFoundError:
                latest = self._read_model_json(method, first=False)
                if latest == raw:
                    raise
                raw = latest  # replaced by a concurrent save: read the new model
                # Each weight file is fetched over the network while saves may keep
                # coming; waiting a little (jittered) lets a burst of saves pass.
                time.sleep(backoff_seconds(attempt, self.retry_backoff))
        raise StorageError(f"{self.url} kept changing while it was read ({_LOAD_TRIES} tries)")

    def _read_model_json(self, method: str, *, first: bool) -> bytes:
        response = self._request(self.url, method, retry_refused=not first)
        if not response.ok:
            message = (
                f"Request to {self.url} failed with status code {response.status}"
                f"{_tries_note(response.attempts)}. Please verify this URL points to the "
                "model JSON of the model to load."
            )
            if response.status == 404:
                raise HTTPNotFoundError(message, url=self.url)
            raise HTTPStatusError(message, status=response.status, url=self.url)
        followed = self._model_url_of_bridge(response.body) if first else None
        if followed is not None:  # a tfjs-store bridge's model URL: read its model.json
            self.url = followed
            return self._read_model_json(method, first=False)
        return response.body

    def _model_url_of_bridge(self, body: bytes) -> str | None:
        """The ``modelUrl`` a tfjs-store bridge answers for ``GET /models/NAME``, when
        ``body`` is that answer (no model topology, no manifest) and the URL stays on
        the same server; else None."""
        try:
            obj = parse_json_bytes(body, self.url)
        except InvalidModelError:
            return None
        if not isinstance(obj, dict) or "modelTopology" in obj or "weightsManifest" in obj:
            return None
        target = obj.get("modelUrl")
        if not isinstance(target, str):
            return None
        url = urllib.parse.urljoin(self.url, target)
        here, there = urllib.parse.urlsplit(self.url), urllib.parse.urlsplit(url)
        if (here.scheme, here.netloc) != (there.scheme, there.netloc) or url == self.url:
            return None
        return url

    def _load_from(self, raw: bytes, method: str) -> ModelArtifacts:
        model_json = self._parse(raw)
        self._check_paths(model_json)
        paths = model_json.weight_paths
        urls = weight_urls(
            self.url,
            paths,
            weight_path_prefix=self.weight_path_prefix,
            weight_url_converter=self.weight_url_converter,
        )
        if self.weight_url_converter is not None:
            self._check_urls(urls, paths)
        buffers = self._fetch_weights(urls, paths, method)
        self._check(model_json, urls, buffers)
        return ModelArtifacts.from_model_json(model_json, buffers, drop_keys=(RECORD_KEY,))

    def _parse(self, raw: bytes) -> ModelJSON:
        try:
            obj = parse_json_bytes(raw, self.url)
        except InvalidModelError as exc:
            if self.url.split("?", 1)[0].endswith(".pb"):
                hint = (
                    " Your path contains a .pb file extension. Support for .pb models have "
                    "been removed in TensorFlow.js 1.0 in favor of .json models."
                )
            else:
                hint = " Please make sure the server is serving valid JSON for this request."
            raise InvalidModelError(
                f"Failed to parse model JSON of response from {self.url}.{hint} ({exc})"
            ) from None
        if not isinstance(obj, dict) or (
            obj.get("modelTopology") is None and obj.get("weightsManifest") is None
        ):
            raise InvalidModelError(
                f"The JSON from HTTP path {self.url} contains neither model topology or "
                "manifest for weights."
            )
        return ModelJSON.parse(obj, self.url)

    def _check_paths(self, model_json: ModelJSON) -> None:
        """Refuse manifest paths that leave the model's folder, and files named twice.

        A path is checked as written and percent-decoded (``%2e%2e`` is ``..`` to a URL
        parser). With a ``weight_url_converter`` the caller maps paths to URLs
        (``_check_urls`` then refuses a URL named twice).
        """
        if self.weight_url_converter is None:
            try:
                for path in model_json.weight_paths:
                    safe_relative_path(path)
                    safe_relative_path(urllib.parse.unquote(path))
                manifest_paths(model_json)  # also refuses a file named twice
            except UnsafePathError as exc:
                raise UnsafePathError(f"{self.url}: {exc}") from None
            except InvalidModelError as exc:
                raise InvalidModelError(f"{self.url}: {exc}") from None

    def _check_urls(self, urls: Sequence[str], paths: Sequence[str]) -> None:
        """With a ``weight_url_converter``: no URL may be fetched twice (a file named twice
        would be held twice)."""
        seen: dict[str, str] = {}
        for url, path in zip(urls, paths, strict=True):
            key = normalize_url(url)
            if key in seen:
                raise InvalidModelError(
                    f"{self.url}: weight files {seen[key]!r} and {path!r} are both {url}: "
                    "a weight file is named more than once in the weights manifest"
                )
            seen[key] = path

    def _fetch_weights(self, urls: Sequence[str], paths: Sequence[str], method: str) -> list[bytes]:
        if not urls:
            return []
        progress = _Progress(self.on_progress, len(urls))

        def fetch(item: tuple[str, str]) -> bytes:
            url, path = item
            resp = self._request(url, method, on_headers=progress.headers_done, retry_refused=True)
            if not resp.ok:
                message = (
                    f"Request to {url} failed with status code {resp.status}"
                    f"{_tries_note(resp.attempts)} while fetching weight file {path!r} of "
                    f"{self.url}"
                )
                if resp.status == 404:
                    raise HTTPNotFoundError(message, url=url)
                raise HTTPStatusError(message, status=resp.status, url=url)
            progress.body_done()
            return resp.body

        items = list(zip(urls, paths, strict=True))
        with ThreadPoolExecutor(min(self.max_concurrency, len(urls))) as pool:
            return list(pool.map(fetch, items))

    def _check(self, model_json: ModelJSON, urls: Sequence[str], buffers: Sequence[bytes]) -> None:
        groups = model_json.weights_manifest or []
        per_group, names, pos = [], [], 0
        for group in groups:
            per_group.append(list(buffers[pos : pos + len(group.paths)]))
            names.append(list(urls[pos : pos + len(group.paths)]))
            pos += len(group.paths)
        check_groups(groups, per_group, where=self.url, names=names)
        record = SaveRecord.of(model_json)
        if record is None:
            return
        for path, url, buf in zip(model_json.weight_paths, urls, buffers, strict=True):
            check_file(buf, record.entry(path), name=url, where=self.url,
                       check_digest=self.verify)

    # -- partial reads (``tfjs_store.open_model``) -------------------------------------

    def read_model_json(self) -> ModelJSON:
        """The validated model.json (paths checked), without fetching any weight file."""
        model_json = self._parse(self._read_model_json(self.method or "GET", first=True))
        self._check_paths(model_json)
        return model_json

    def weight_file_urls(self, model_json: ModelJSON) -> list[str]:
        """The URL of each manifest path, as ``load`` fetches them."""
        paths = model_json.weight_paths
        urls = weight_urls(self.url, paths, weight_path_prefix=self.weight_path_prefix,
                           weight_url_converter=self.weight_url_converter)
        if self.weight_url_converter is not None:
            self._check_urls(urls, paths)
        return urls

    def read_range(self, url: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of a weight file (``end > start``): one GET with
        ``Range``. A 206 must answer the range asked for; a server that ignores
        ``Range`` answers 200 with the whole file, which is cut here. Fewer bytes come
        back when the file ends before ``end``."""
        resp = self._request(url, "GET", headers=[("Range", f"bytes={start}-{end - 1}")],
                             retry_refused=True)
        if resp.status == 206:
            got = _content_range(resp.header("Content-Range"))[0]
            if got != start:
                raise StorageError(
                    f"GET {url} asked for bytes {start}-{end - 1} but the answer holds "
                    f"Content-Range {resp.header('Content-Range')!r}"
                )
            return resp.body[: end - start]
        if resp.status == 200:
            return resp.body[start:end]
        if resp.status == 416:  # the file ends before start
            return b""
        message = f"Request to {url} failed with status code {resp.status}" + _tries_note(
            resp.attempts
        )
        if resp.status == 404:
            raise HTTPNotFoundError(message, url=url)
        raise HTTPStatusError(message, status=resp.status, url=url)

    def file_size(self, url: str) -> int | None:
        """A weight file's size, from the answer to a one-byte ranged GET
        (``Content-Range: bytes 0-0/SIZE``), or None when the server does not tell."""
        resp = self._request(url, "GET", headers=[("Range", "bytes=0-0")], retry_refused=True)
        if resp.status == 200:
            return len(resp.body)
        if resp.status in (206, 416):
            return _content_range(resp.header("Content-Range"))[1]
        if resp.status == 404:
            raise HTTPNotFoundError(f"Request to {url} failed with status code 404", url=url)
        return None


_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*$", re.IGNORECASE)


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``Content-Range: bytes a-b/n`` (or ``bytes */n``) as (a, n); None where absent."""
    m = _CONTENT_RANGE.match(value or "")
    if m is None:
        return None, None
    start, total = m.group(1), m.group(2)
    return (int(start) if start else None), (int(total) if total != "*" else None)


def _read_body(resp: Any) -> bytes | bytearray:
    length = resp.headers.get("Content-Length")
    try:
        expected = int(length) if length is not None else None
    except ValueError:
        expected = None
    if expected is not None and expected >= 0:
        buf = bytearray(expected)
        view = memoryview(buf)
        got = 0
        while got < expected:
            n = resp.readinto(view[got : got + _READ_CHUNK])
            if not n:
                break
            got += n
        if got != expected:
            raise _ShortBody(got, expected)
        return buf
    return bytes(resp.read())


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


def _tries_note(tries: int) -> str:
    return f" (after {tries} tries)" if tries > 1 else ""


def _with_attempts(response: HTTPResponse, attempts: int) -> HTTPResponse:
    if attempts == 1:
        return response
    return dataclasses.replace(response, attempts=attempts)


class _Progress:
    """TF.js's two-phase progress (responses 0→0.5, bodies 0.5→1), serialised.

    Each event adds ``0.5 / count``, so the fractions never decrease even when one
    file's body completes before another file's response arrives; when every response
    comes before any body completes (TF.js's order) the values are TF.js's."""

    def __init__(self, callback: Callable[[float], Any] | None, count: int) -> None:
        self._callback = callback
        self._count = count
        self._headers = 0
        self._bodies = 0
        self._lock = threading.Lock()

    def headers_done(self) -> None:
        with self._lock:
            self._headers += 1
            self._report()

    def body_done(self) -> None:
        with self._lock:
            self._bodies += 1
            self._report()

    def _report(self) -> None:
        if self._callback is not None:
            self._callback(0.5 * (self._headers + self._bodies) / self._count)
