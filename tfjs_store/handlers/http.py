"""``http://`` and ``https://``: TF.js's ``tf.io.http`` save and load, from Python.

Save (spec §4.2) sends what ``model.save('http://…')`` sends: one multipart/form-data
request (``POST`` unless ``request_init`` says otherwise) with the parts ``model.json``
(application/json, manifest path ``./model.weights.bin``, TF.js's key order and number
formatting) and ``model.weights.bin`` (application/octet-stream), with a Content-Length
as browsers send. The weight part is streamed from the artifacts' buffers; no joined copy
of the weights is made. Any receiver written for TF.js (``request.files['model.json']``)
reads it. A save is never sent twice.

With ``body="json"`` a save sends instead one ``application/json`` request holding the
artifacts with the weights in base64 (``modelTopology``, ``weightSpecs``, ``weightData``
and the optional keys), the shape TF.js's documentation describes and some servers take;
the base64 text is produced while the request is sent, never held whole.

Load (spec §4.3) is the one model handler's (``tfjs_store.handler.ModelHandler``) over a
read-only ``HttpStore`` (``stores.http``: TF.js's URL rules, ``Range`` reads, retries of
transient failures with ``http_retry``'s rules, ``retries=``). So a load checks every
response's status and each weight group's byte length (a 404 page never becomes
weights), reads each group into one buffer, checks the save record where a tfjs-store
bridge served one, and reads model.json again when a weight file is gone because a save
replaced the model meanwhile. ``on_progress`` reports as TF.js does (headers 0→0.5,
bodies 0.5→1). A 404 for model.json is ``HTTPNotFoundError``: a ``ModelNotFoundError``
as on any other storage, and an ``HTTPStatusError``. ``GET /models/NAME`` of a
tfjs-store bridge answers the model's ``modelUrl``: it is followed (on the same server).

A manifest path that would leave the model's folder (``../x``, ``/x``, a URL, the same
written with ``%2e%2e``) is refused with ``UnsafePathError`` before anything is fetched;
TF.js would follow it. ``weight_path_prefix`` and ``weight_url_converter`` remain the
ways to put weights elsewhere: they are the caller's choice, not the manifest's.

The bodies are made by ``format.wire``, where the bridge reads them too. Only the
standard library is used (``urllib.request``).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ..errors import HTTPStatusError, InvalidModelError, OptionError, UnsafePathError
from ..format.artifacts import ModelArtifacts
from ..format.jsonfmt import parse_json_bytes
from ..format.layout import manifest_paths, safe_relative_path
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
from ..handler import ModelHandler, _Progress
from ..options import LoadOptions, SaveOptions
from ..stores.http import HttpStore, weight_urls
from ..stores.http_client import (
    DEFAULT_TIMEOUT,
    HttpClient,
    HTTPResponse,
    parse_headers,
)
from ..stores.http_retry import DEFAULT_RETRIES, DEFAULT_RETRY_BACKOFF

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

_SCHEME = re.compile(r"^https?://", re.IGNORECASE)


class HTTPHandler(ModelHandler):
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
        When the model.json carries tfjs-store's save record (a tfjs-store bridge
        served it), check the weight files' checksums against it (sizes always are).
    body:
        How a save sends the model: ``"multipart"`` (default; exactly TF.js's request) or
        ``"json"`` (one ``application/json`` object: the artifacts with ``weightSpecs``
        and base64 ``weightData``, for servers that only take that).

    save_options, load_options:
        The options typed, as the router hands them (``takes_typed_options``): of these
        an http(s) handler honours ``verify`` and ``on_progress`` only (``OPTIONS``).

    A manifest path that leaves the model's folder is refused (``UnsafePathError``);
    with ``weight_url_converter`` the paths are the converter's to judge.
    """

    takes_typed_options: ClassVar[bool] = True
    """The registry hands this class ``save_options=`` / ``load_options=`` (see
    ``tfjs_store.registry``)."""

    OPTIONS: ClassVar[frozenset[str]] = frozenset({"verify", "on_progress"})
    """The handler options it honours: TF.js's http save sends one request as TF.js
    does (no layout, shard size or checksums)."""

    OPTION_HINTS: ClassVar[dict[str, str]] = {
        "storage_options": "http(s) URLs take no storage_options; pass headers as "
        "request_init={'headers': {...}} (TF.js's requestInit)",
    }
    """What to say when the registry refuses one of these options (it is not taken)."""

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
        save_options: SaveOptions | None = None,
        load_options: LoadOptions | None = None,
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
        if weight_url_converter is not None and not callable(weight_url_converter):
            raise TypeError("weight_url_converter must be callable")
        if body not in BODY_KINDS:
            raise ValueError(f"body must be 'multipart' or 'json', got {body!r}")
        self.url = url
        self.method: str | None = method.upper() if method else None
        self.body: BodyKind = "json" if body == "json" else "multipart"
        self.client = HttpClient(
            parse_headers(init.get("headers")), timeout=timeout, retries=retries,
            retry_backoff=retry_backoff,
        )
        store = HttpStore(
            url, self.client, method=self.method or "GET",
            weight_path_prefix=weight_path_prefix, weight_url_converter=weight_url_converter,
            max_concurrency=max_concurrency,
        )
        super().__init__(store, json_name=store.json_name, save_options=save_options,
                         load_options=load_options, verify=verify, on_progress=on_progress)
        self._followed = False

    @property
    def http_store(self) -> HttpStore:
        """The read-only store the loads go through."""
        assert isinstance(self.store, HttpStore)
        return self.store

    @property
    def headers(self) -> list[tuple[str, str]]:
        """The headers sent with every request."""
        return self.client.headers

    @property
    def max_concurrency(self) -> int:
        return self.http_store.max_concurrency

    # -- save ------------------------------------------------------------------------

    def _condition(self, if_match: str | None, if_none_match: str | None) -> dict[str, Any]:
        """TF.js's http protocol has no conditional save: ``if_match`` /
        ``if_none_match`` are refused (``OptionError``)."""
        condition = sorted(k for k, v in (("if_match", if_match),
                                          ("if_none_match", if_none_match)) if v is not None)
        if condition:
            raise OptionError(
                f"{type(self).__name__} cannot save conditionally ({', '.join(condition)})",
                options=tuple(condition), url=self.url,
            )
        return {}

    def _save(self, artifacts: ModelArtifacts, condition: Mapping[str, Any]) -> SaveResult:
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
        response = self.client.request(
            self.url,
            self.method or "POST",
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

    def copy_from(self, source: ModelHandler) -> SaveResult | None:
        """None: a copy to an http(s) URL loads the model and saves it (one request)."""
        return None

    # -- load: what differs from the model handler's --------------------------------

    def _read_json(self) -> bytes:
        raw = self._cat_json()
        if not self._followed:
            self._followed = True
            target = self._model_url_of_bridge(raw)
            if target is not None:  # a tfjs-store bridge's model URL: read its model.json
                self.store = self.http_store.at(target)
                self.json_name = self.http_store.json_name
                raw = self._cat_json()
        return raw

    def _model_url_of_bridge(self, body: bytes) -> str | None:
        """The ``modelUrl`` a tfjs-store bridge answers for ``GET /models/NAME``, when
        ``body`` is that answer (no model topology, no manifest) and the URL stays on
        the same server; else None."""
        here = self.json_url
        try:
            obj = parse_json_bytes(body, here)
        except InvalidModelError:
            return None
        if not isinstance(obj, dict) or "modelTopology" in obj or "weightsManifest" in obj:
            return None
        target = obj.get("modelUrl")
        if not isinstance(target, str):
            return None
        url = urllib.parse.urljoin(here, target)
        this, there = urllib.parse.urlsplit(here), urllib.parse.urlsplit(url)
        if (this.scheme, this.netloc) != (there.scheme, there.netloc) or url == here:
            return None
        return url

    def _parse_json(self, raw: bytes) -> ModelJSON:
        """model.json validated with TF.js's wording, its manifest paths checked."""
        url = self.json_url
        try:
            obj = parse_json_bytes(raw, url)
        except InvalidModelError as exc:
            if url.split("?", 1)[0].endswith(".pb"):
                hint = (
                    " Your path contains a .pb file extension. Support for .pb models have "
                    "been removed in TensorFlow.js 1.0 in favor of .json models."
                )
            else:
                hint = " Please make sure the server is serving valid JSON for this request."
            raise InvalidModelError(
                f"Failed to parse model JSON of response from {url}.{hint} ({exc})"
            ) from None
        if not isinstance(obj, dict) or (
            obj.get("modelTopology") is None and obj.get("weightsManifest") is None
        ):
            raise InvalidModelError(
                f"The JSON from HTTP path {url} contains neither model topology or "
                "manifest for weights."
            )
        model_json = ModelJSON.parse(obj, url)
        self.weight_names(model_json)  # refused before any weight file is fetched
        return model_json

    def weight_names(self, model_json: ModelJSON) -> list[str]:
        """The manifest paths confined to the folder, as written and percent-decoded
        (``%2e%2e`` is ``..`` to a URL parser), none named twice. With a
        ``weight_url_converter`` the paths as written, the caller's to map: no URL may
        then be named twice (a file would be held twice)."""
        paths = model_json.weight_paths
        if self.http_store.weight_url_converter is None:
            try:
                for path in paths:
                    safe_relative_path(urllib.parse.unquote(path))
                return manifest_paths(model_json)
            except UnsafePathError as exc:
                raise UnsafePathError(f"{self.json_url}: {exc}") from None
            except InvalidModelError as exc:
                raise InvalidModelError(f"{self.json_url}: {exc}") from None
        self.http_store.check_distinct(paths)
        return list(paths)

    def _load_progress(self, files: int) -> _Progress:
        """TF.js's two-phase progress (responses 0→0.5, bodies 0.5→1), serialised: each
        file's response and each file's body is one step of ``2 * files``, so the
        fractions never decrease even when one file's body completes before another
        file's response arrives; when every response comes before any body completes
        (TF.js's order) the values are TF.js's."""
        progress = _Progress(self.on_progress, 2 * max(files, 1))
        self.http_store.on_response = progress.step if self.on_progress else None
        return progress
