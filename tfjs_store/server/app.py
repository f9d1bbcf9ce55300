"""The bridge's routes: TF.js uploads in, models out, over any store URL.

An upload is one of three shapes, told apart by its Content-Type and parts: TF.js's
multipart (exactly the parts ``model.json`` and ``model.weights.bin``), a multipart set
of files (one ``*.json`` model file and its weight files, matched by basename through
``load_files``), or ``application/json`` (the artifacts, weights in base64). All three
become ``ModelArtifacts`` and are stored by one ``tfjs_store.save``.

Everything that touches a model goes through the public API (``tfjs_store.save``,
``list_models``, ``remove_model``); serving the stored files to ``tf.loadLayersModel``
reads them with fsspec, restricted to ``model.json`` and the files its manifest names.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import posixpath
import re
import warnings
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import tfjs_store

from ..format.integrity import crc32c_from_text
from ..format.jsonfmt import parse_model_json
from ..format.layout import safe_relative_path
from ..format.record import SaveRecord
from ..format.wire import decode_multipart_parts
from ..stores.fsspec import FsspecStore, open_filesystem
from .caching import (
    DEFAULT_REDIRECT_EXPIRES,
    MAX_REDIRECT_EXPIRES,
    bytes_etag,
    cache_control,
    not_modified,
    redirect_cache_control,
    stored_file_etag,
)
from .guard import RequestGuard, check_allowed_host, error_response
from .openapi import openapi_document
from .upload import (
    DRAIN_BYTES,
    JSON_PART,
    WEIGHTS_PART,
    ReceivedUpload,
    TimedBody,
    UploadError,
    artifacts_from_json,
    body_kind,
    drain,
    receive_json,
    receive_multipart,
)

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "DEFAULT_REDIRECT_EXPIRES",
    "DEFAULT_SHARD_SIZE_BYTES",
    "MAX_REDIRECT_EXPIRES",
    "InvalidNameError",
    "check_model_name",
    "create_app",
]

DEFAULT_MAX_UPLOAD_BYTES = 1 << 30
"""1 GiB: TF.js cannot save a model over 2 GB anyway (spec §2.5)."""
DEFAULT_SHARD_SIZE_BYTES = 4 * 1024 * 1024
DEFAULT_BODY_TIMEOUT = 60.0
"""Seconds an upload may go without sending a byte before it is cut off (408)."""
MAX_JSON_BYTES = 64 * 1024 * 1024
READ_CHUNK = 4 * 1024 * 1024
NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
NAME_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$", re.IGNORECASE)
_SHA256 = re.compile(r"[0-9a-f]{64}")

UploadForm = Literal["shards", "single"]
"""How the bridge stores an upload: resharded (``shards``, the ``shards`` layout) or
as TF.js sent it (``single``: ``model.json`` + ``model.weights.bin``)."""
UPLOAD_FORMS: tuple[UploadForm, ...] = ("shards", "single")
_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
_log = logging.getLogger("tfjs_store.server")
_T = TypeVar("_T")


class InvalidNameError(ValueError):
    """A model name the bridge refuses (it could leave the root, or is malformed)."""


def check_model_name(name: str) -> str:
    """``name`` if it is a safe model name, else ``InvalidNameError``.

    A name is 1 to 128 characters from ``A-Z a-z 0-9 . _ -``, other than ``.`` and
    ``..``: one folder directly under the root, never anything outside it.
    """
    if name in (".", "..") or not NAME.fullmatch(name):
        raise InvalidNameError(
            f"invalid model name {name!r}: use 1-128 characters from A-Z a-z 0-9 . _ - "
            "(not '.' or '..')"
        )
    return name


def _safe_file(path: str) -> str | None:
    """A manifest path made relative and checked, or None if it would leave the folder."""
    try:
        return safe_relative_path(path)
    except tfjs_store.UnsafePathError:
        return None


async def _encoded_separator(request: Request) -> Response | None:
    """A 400 for a path with an encoded ``/`` or ``\\`` (``%2F``, ``%5C``).

    The router sees the decoded path, where ``/models/a%2Fmodel.json`` is
    ``/models/a/model.json``: a name that is not a name must not become another route.
    """
    raw = bytes(request.scope.get("raw_path") or b"").lower()
    if b"%2f" in raw or b"%5c" in raw:
        await drain(request.stream())
        return _error(
            400,
            f"invalid path {raw.decode('latin-1')!r}: an encoded '/' or '\\' is not allowed "
            "in a model name or a weight path",
        )
    return None


_error = error_response


def _info_json(info: Any) -> dict[str, Any]:
    return info.model_dump(mode="json", by_alias=True)  # type: ignore[no-any-return]


def _status_for(exc: BaseException) -> int:
    if isinstance(exc, tfjs_store.ConflictError):
        return 412  # If-Match / If-None-Match: * did not hold
    if isinstance(exc, tfjs_store.OptionError):
        return 501  # a conditional save the store (or the single upload form) cannot honour
    if isinstance(exc, tfjs_store.ModelNotFoundError):
        return 404
    if isinstance(exc, tfjs_store.InvalidModelError):
        return 400
    if isinstance(exc, tfjs_store.StorageError):
        return 502
    return 500


@dataclass(frozen=True)
class _Stored:
    """What a stored upload answers with: the info, and the new version (the ETag)."""

    info: dict[str, Any]
    version: str | None


class Bridge:
    """State and handlers of one app: the root, its filesystem and the options."""

    def __init__(
        self,
        root_url: str,
        *,
        storage_options: Mapping[str, Any] | None,
        token: str | None,
        public_read: bool,
        max_upload_bytes: int,
        shard_size_bytes: int,
        upload_form: UploadForm,
        spool_dir: str | None,
        body_timeout: float | None = DEFAULT_BODY_TIMEOUT,
        redirect_weights: bool = False,
        redirect_expires: int = DEFAULT_REDIRECT_EXPIRES,
    ) -> None:
        if "://" not in root_url and "::" not in root_url:
            root_url = os.path.abspath(os.path.expanduser(root_url))
        self.root_url = root_url.rstrip("/") or "/"
        self.storage_options = dict(storage_options or {})
        self.fs, path = open_filesystem(self.root_url, self.storage_options)
        self.root_path = str(path).rstrip("/")
        self.token = token
        self.public_read = public_read
        self.max_upload_bytes = max_upload_bytes
        self.max_json_bytes = min(MAX_JSON_BYTES, max_upload_bytes)
        self.shard_size_bytes = shard_size_bytes
        self.upload_form = upload_form
        self.spool_dir = spool_dir
        self.body_timeout = body_timeout
        self.redirect_weights = redirect_weights
        self.redirect_expires = redirect_expires
        self._said_streaming = False
        self._is_local = "file" in _protocols(self.fs)
        self._private_prefixes = {self.root_url, self.root_path}
        with contextlib.suppress(Exception):
            self._private_prefixes.add(str(self.fs.unstrip_protocol(self.root_path)))
        self._private_prefixes.discard("")
        self._private_prefixes.discard("/")
        if self._is_local:
            os.makedirs(self.root_path, exist_ok=True)

    # -- helpers ---------------------------------------------------------------------

    def _fail(self, status: int, message: str, headers: Any = None) -> JSONResponse:
        """An error answer that names models as clients see them (``/models/NAME``),
        never the server's storage URL or path."""
        for private in sorted(self._private_prefixes, key=len, reverse=True):
            message = message.replace(private, "/models")
        return _error(status, message, headers)

    def warn_if_root_is_missing(self) -> None:
        """Say at start-up that the root (a bucket, a prefix) does not exist yet."""
        if self._is_local:
            return
        try:
            exists = bool(self.fs.exists(self.root_path))
        except Exception as exc:
            _log.warning("cannot check the root %s: %s: %s", self.root_url,
                         type(exc).__name__, exc)
            return
        if not exists:
            _log.warning("the root %s does not exist (yet): uploads will create it where "
                         "the storage allows; a bucket must be created first", self.root_url)

    def model_url(self, name: str) -> str:
        return f"{self.root_url}/{name}" if self.root_url != "/" else f"/{name}"

    def _path(self, *parts: str) -> str:
        return "/".join([self.root_path, *parts])

    def authorized(self, request: Request, *, write: bool) -> bool:
        if self.token is None or (self.public_read and not write):
            return True
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode(), self.token.encode())

    def _refusal(self, request: Request, name: str, *, write: bool) -> JSONResponse | None:
        """401 without the token the request needs, 400 for a name that is not a model
        name; None when the request may go on."""
        if not self.authorized(request, write=write):
            return self.unauthorized()
        try:
            check_model_name(name)
        except InvalidNameError as exc:
            return self._fail(400, str(exc))
        return None

    def unauthorized(self) -> JSONResponse:
        return _error(
            401,
            "missing or wrong bearer token (send 'Authorization: Bearer <token>')",
            {"WWW-Authenticate": 'Bearer realm="tfjs-store"'},
        )

    def _read_json_sync(self, name: str) -> bytes | None:
        path = self._path(name, "model.json")
        try:
            return bytes(self.fs.cat_file(path))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except OSError as exc:
            if getattr(exc, "errno", None) in (2, 20, 21):
                return None
            raise

    async def read_model_json(self, name: str) -> bytes | None:
        try:
            return await anyio.to_thread.run_sync(self._read_json_sync, name)
        except Exception as exc:
            raise tfjs_store.StorageError(
                f"reading {name}/model.json failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _store_of(self, name: str) -> FsspecStore:
        return FsspecStore(self.fs, self._path(name))

    async def told_version(self, name: str) -> str | None:
        """The storage's own version token of model.json where it has one (read before
        the bytes); None where the version is a hash of the bytes."""
        store = self._store_of(name)
        if store.versions_by_content:
            return None
        try:
            return await anyio.to_thread.run_sync(store.version, "model.json")
        except Exception as exc:
            raise tfjs_store.StorageError(
                f"reading the version of {name}/model.json failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def _api(self, verb: Callable[..., _T], url: str) -> _T | JSONResponse:
        """``verb(url)`` of the public API (``list_models``, ``remove_model``) in a worker
        thread, with the root's storage options; its error as the bridge's answer."""
        try:
            return await anyio.to_thread.run_sync(
                lambda: verb(url, storage_options=self.storage_options or None)
            )
        except tfjs_store.TfjsStoreError as exc:
            return self._fail(_status_for(exc), str(exc))

    # -- routes ----------------------------------------------------------------------

    async def list_models(self, request: Request) -> Response:
        if not self.authorized(request, write=False):
            return self.unauthorized()
        found = await self._api(tfjs_store.list_models, self.root_url)
        if isinstance(found, Response):
            return found
        models = []
        prefix = self.root_path + "/"
        for url, info in found.items():
            path = str(self.fs._strip_protocol(url)).rstrip("/")
            if not path.startswith(prefix):
                continue
            name = path[len(prefix) :]
            try:
                check_model_name(name)
            except InvalidNameError:
                continue  # not reachable through the bridge's URLs
            models.append(self._entry(request, name, info))
        models.sort(key=lambda m: m["name"])
        return JSONResponse({"models": models})

    def _entry(self, request: Request, name: str, info: Any) -> dict[str, Any]:
        return {
            "name": name,
            "modelUrl": self._model_json_path(request, name),
            "modelArtifactsInfo": _info_json(info),
        }

    def _model_json_path(self, request: Request, name: str) -> str:
        root = request.scope.get("root_path", "").rstrip("/")
        return f"{root}/models/{name}/model.json"

    async def model_route(self, request: Request) -> Response:
        """``/models/{name}``: upload, delete, or the model's info."""
        return await self._model_route(request, json_file=False)

    async def model_json_route(self, request: Request) -> Response:
        """``/models/{name}/model.json``: the stored model.json, or an upload."""
        return await self._model_route(request, json_file=True)

    async def _model_route(self, request: Request, *, json_file: bool) -> Response:
        name = request.path_params["name"]
        refusal = await _encoded_separator(request)
        if refusal is not None:
            return refusal
        if request.method in ("POST", "PUT"):
            # model.save('http://host/models/m') or ('http://host/models/m/model.json')
            return await self.upload(request, name)
        if request.method == "DELETE":
            return await self.delete(request, name)
        refusal = self._refusal(request, name, write=False)
        if refusal is not None:
            return refusal
        try:
            if json_file:
                return await self.model_json(request, name)
            return await self.info(request, name)
        except tfjs_store.StorageError as exc:
            return self._fail(502, str(exc))

    async def file_route(self, request: Request) -> Response:
        """``/models/{name}/{path}``: a weight file named in that model's manifest."""
        name = request.path_params["name"]
        refusal = await _encoded_separator(request)
        if refusal is not None:
            return refusal
        segments = request.path_params["path"].split("/")
        if name in (".", "..") or ".." in segments or "." in segments:
            await drain(request.stream())
            return self._fail(
                400, f"invalid path {request.url.path!r}: '.' and '..' are not allowed"
            )
        if request.method not in ("GET", "HEAD"):
            # the other methods of /models/{name}/model.json end up here as well
            allow = "GET, HEAD, POST, PUT" if segments == ["model.json"] else "GET, HEAD"
            await drain(request.stream())
            return self._fail(405, "Method Not Allowed", {"Allow": allow})
        refusal = self._refusal(request, name, write=False)
        if refusal is not None:
            return refusal
        rel = "/".join(segments)
        try:
            raw = await self.read_model_json(name)
        except tfjs_store.StorageError as exc:
            return self._fail(502, str(exc))
        if raw is None:
            return self._fail(404, f"no model named {name!r}")
        entry = _manifest_file_entry(raw, rel)
        if entry is False:
            return self._fail(404, f"{rel!r} is not a weight file of model {name!r}")
        return await self.serve_file(request, self._path(name, rel), *entry)

    @property
    def private_reads(self) -> bool:
        """Reads need the token: shared caches must not keep what the bridge serves."""
        return self.token is not None and not self.public_read

    async def model_json(self, request: Request, name: str) -> Response:
        told = await self.told_version(name)
        raw = await self.read_model_json(name)
        if raw is None:
            return self._fail(404, f"no model named {name!r}")
        headers = {
            # the model's version (what If-Match on a save compares): a hash of these
            # bytes, or the storage's own token read before them (S3's ETag)
            "ETag": bytes_etag(raw) if told is None else f'"{told}"',
            "Cache-Control": cache_control(None, private=self.private_reads),
        }
        if not_modified(request.headers.get("if-none-match"), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        return Response(raw, media_type="application/json", headers=headers)

    async def upload(self, request: Request, name: str) -> Response:
        # Early refusals read (and drop) a bounded amount of the body first, so the
        # client gets the answer instead of a reset connection.
        stream = TimedBody(request.stream(), self.body_timeout)
        refusal = self._refusal(request, name, write=True)
        if refusal is not None:
            await drain(stream)
            return refusal
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_upload_bytes:
            if int(declared) <= self.max_upload_bytes + DRAIN_BYTES:
                await drain(stream)
            return self._fail(
                413,
                f"the upload is {int(declared)} bytes, over the limit of "
                f"{self.max_upload_bytes} bytes",
                {"Connection": "close"},
            )
        try:
            kind = body_kind(request.headers.get("content-type"))
            condition = await self._condition(request, name)
        except UploadError as exc:
            await drain(stream)
            return self._fail(exc.status, exc.message)
        try:  # the receivers drain the body themselves before raising
            if kind == "multipart":
                received = await receive_multipart(
                    stream,
                    request.headers.get("content-type"),
                    max_bytes=self.max_upload_bytes,
                    max_json_bytes=self.max_json_bytes,
                    spool_dir=self.spool_dir,
                )
            else:
                received = await receive_json(
                    stream, max_bytes=self.max_upload_bytes, spool_dir=self.spool_dir
                )
        except UploadError as exc:
            headers = {"Connection": "close"} if exc.status in (408, 413) else None
            return self._fail(exc.status, exc.message, headers)
        except ClientDisconnect:
            # a user closing the tab mid-save: routine, and the spool file is gone
            _log.info(
                "upload of model %r: the client disconnected after %d bytes; nothing stored",
                name,
                stream.received,
            )
            return Response(status_code=400)  # nobody is there to read it
        try:
            outcome = await anyio.to_thread.run_sync(
                self._store_or_refuse, name, received, condition
            )
        finally:
            received.close()
        if isinstance(outcome, tuple):
            return self._fail(*outcome)
        result, version = outcome.info, outcome.version
        body = {
            "name": name,
            "modelUrl": self._model_json_path(request, name),
            "modelArtifactsInfo": result,
        }
        headers = {"ETag": f'"{version}"'} if version else None
        return JSONResponse(body, status_code=200, headers=headers)

    async def _condition(self, request: Request, name: str) -> dict[str, str]:
        """``If-Match`` / ``If-None-Match: *`` of a save, as ``save``'s keywords."""
        if_match = request.headers.get("if-match")
        if_none_match = request.headers.get("if-none-match")
        if if_match is not None and if_none_match is not None:
            raise UploadError(400, "send If-Match or If-None-Match, not both")
        if if_none_match is not None:
            if if_none_match.strip() != "*":
                raise UploadError(400, "a save takes only 'If-None-Match: *' (no model yet)")
            return {"if_none_match": "*"}
        if if_match is None:
            return {}
        tags = [t.strip() for t in if_match.split(",") if t.strip()]
        if len(tags) != 1:
            raise UploadError(400, "If-Match takes one ETag (or *) on a save")
        tag = tags[0]
        if tag == "*":  # any model: compare against the one there now
            current = await anyio.to_thread.run_sync(
                lambda: tfjs_store.model_version(
                    self.model_url(name), storage_options=self.storage_options or None
                )
            )
            if current is None:
                raise UploadError(412, f"If-Match: * but there is no model named {name!r}")
            return {"if_match": current}
        if tag.startswith("W/"):
            raise UploadError(400, "If-Match on a save takes a strong ETag, not a weak one")
        return {"if_match": tag.strip('"')}

    def _artifacts(self, received: ReceivedUpload) -> tfjs_store.ModelArtifacts:
        """The upload as artifacts, whichever of the three shapes it has."""
        if received.kind == "json":
            return artifacts_from_json(received.mapped(), max_json_bytes=self.max_json_bytes)
        tfjs_parts = received.tfjs_parts()
        if tfjs_parts is not None:  # TF.js's model.save(url)
            weights = tfjs_parts.get(WEIGHTS_PART)
            return decode_multipart_parts(
                received.content(tfjs_parts[JSON_PART]),
                received.content(weights) if weights is not None else None,
            )
        return _file_set(received)

    def _store_or_refuse(
        self, name: str, received: ReceivedUpload, condition: Mapping[str, str]
    ) -> _Stored | tuple[int, str]:
        """``_store``, or (status, message) for a refusal. Refusals leave the worker
        thread as plain strings: an exception's traceback would keep views into the
        spooled body (and its file) alive after the answer."""
        try:
            return self._store(name, received, condition)
        except UploadError as exc:
            return exc.status, exc.message
        except tfjs_store.TfjsStoreError as exc:
            return _status_for(exc), str(exc)

    def _store(
        self, name: str, received: ReceivedUpload, condition: Mapping[str, str]
    ) -> _Stored:
        artifacts = self._artifacts(received)
        if self.upload_form == "single":
            result = tfjs_store.save(
                artifacts,
                self.model_url(name) + "/model.json",
                storage_options=self.storage_options or None,
                layout="downloads",
                **condition,
            )
        else:
            result = tfjs_store.save(
                artifacts,
                self.model_url(name),
                storage_options=self.storage_options or None,
                shard_size_bytes=self.shard_size_bytes,
                **condition,
            )
        info = _info_json(result.model_artifacts_info)
        version = result.version
        del artifacts, result  # release the views into the mapped weights
        return _Stored(info, version)

    async def delete(self, request: Request, name: str) -> Response:
        refusal = self._refusal(request, name, write=True)
        if refusal is not None:
            return refusal
        info = await self._api(tfjs_store.remove_model, self.model_url(name))
        if isinstance(info, Response):
            return info
        return JSONResponse({"name": name, "modelArtifactsInfo": _info_json(info)})

    async def info(self, request: Request, name: str) -> Response:
        if await self.read_model_json(name) is None:
            return self._fail(404, f"no model named {name!r}")
        found = await self._api(tfjs_store.list_models, self.model_url(name))
        if isinstance(found, Response):
            return found
        target = self._path(name)
        for url, info in found.items():
            if str(self.fs._strip_protocol(url)).rstrip("/") == target:
                return JSONResponse(self._entry(request, name, info))
        return self._fail(404, f"no model named {name!r}")

    async def serve_file(
        self, request: Request, path: str, size: int | None, recorded: str | None = None
    ) -> Response:
        """A weight file, whole or a range; ``304`` for a matching ``If-None-Match``
        without reading it (``size`` as recorded in model.json, ``recorded`` the ETag
        seed made of its recorded checksum)."""
        headers = {
            "Accept-Ranges": "bytes",
            "Cache-Control": cache_control(posixpath.basename(path), private=self.private_reads),
        }
        etag = stored_file_etag(recorded, None)
        if size is None or etag is None:
            try:
                info = await anyio.to_thread.run_sync(self._info, path)
            except FileNotFoundError:
                return self._fail(404, "weight file listed in model.json is missing from storage")
            except Exception as exc:
                return self._fail(502, f"reading {path} failed: {type(exc).__name__}: {exc}")
            if size is None:
                size = int(info["size"])
            etag = stored_file_etag(recorded, info)
        if etag is not None:
            headers["ETag"] = etag
            if not_modified(request.headers.get("if-none-match"), etag):
                return Response(status_code=304, headers=headers)
        if self.redirect_weights and request.method == "GET":
            redirect = await self._redirect(path)
            if redirect is not None:
                return redirect
        start, end = 0, size
        status = 200
        range_header = request.headers.get("range")
        if range_header:
            parsed = _parse_range(range_header, size)
            if parsed == "unsatisfiable":
                return Response(
                    status_code=416, headers={"Content-Range": f"bytes */{size}", **headers}
                )
            if isinstance(parsed, tuple):
                start, end = parsed
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        if request.method == "HEAD":
            return Response(
                status_code=status, headers=headers, media_type="application/octet-stream"
            )
        first = b""
        if end > start:  # read the first chunk now, so a missing file is still a 404
            try:
                first = await anyio.to_thread.run_sync(
                    self._read, path, start, min(end, start + READ_CHUNK)
                )
            except FileNotFoundError:
                return self._fail(404, "weight file listed in model.json is missing from storage")
            except Exception as exc:
                return self._fail(502, f"reading {path} failed: {type(exc).__name__}: {exc}")
        return StreamingResponse(
            self._stream(path, start + len(first), end, first),
            status_code=status,
            headers=headers,
            media_type="application/octet-stream",
        )

    async def _redirect(self, path: str) -> Response | None:
        """``307`` to a presigned URL of the weight file at ``path`` (the client's
        ``Range`` goes along), or None where the store cannot sign one: the file is then
        streamed, and the first time that happens it is logged."""
        folder, name = posixpath.split(path)
        store = FsspecStore(self.fs, folder)
        try:
            url = await anyio.to_thread.run_sync(store.signed_url, name, self.redirect_expires)
        except Exception as exc:  # a store's bug must not fail a load that can stream
            _log.debug("signing %s failed: %s: %s", path, type(exc).__name__, exc)
            url = None
        if url is None:
            if not self._said_streaming:
                self._said_streaming = True
                _log.warning(
                    "--redirect-weights: the storage of %s cannot presign URLs (no S3, GCS "
                    "or Azure filesystem, or credentials that cannot sign); weight files "
                    "are streamed through the bridge instead",
                    self.root_url,
                )
            return None
        return Response(
            status_code=307,
            headers={
                "Location": url,
                "Cache-Control": redirect_cache_control(name, self.redirect_expires),
            },
        )

    def _info(self, path: str) -> dict[str, Any]:
        self.fs.invalidate_cache(posixpath.dirname(path))
        return dict(self.fs.info(path))

    def _read(self, path: str, start: int, end: int) -> bytes:
        data = bytes(self.fs.cat_file(path, start=start, end=end))
        if len(data) != end - start:
            raise OSError(f"{path}: read {len(data)} bytes of {end - start}")
        return data

    async def _stream(self, path: str, pos: int, end: int, first: bytes) -> AsyncIterator[bytes]:
        if first:
            yield first
        while pos < end:
            chunk = await anyio.to_thread.run_sync(
                self._read, path, pos, min(end, pos + READ_CHUNK)
            )
            pos += len(chunk)
            yield chunk

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(
            openapi_document(
                token=self.token is not None,
                public_read=self.public_read,
                max_upload_bytes=self.max_upload_bytes,
                version=tfjs_store.__version__,
                redirect_weights=self.redirect_weights,
            )
        )


def _file_set(received: ReceivedUpload) -> tfjs_store.ModelArtifacts:
    """A set of picked files (one ``*.json`` model file and its weight files), matched by
    basename as ``tf.io.browserFiles`` does (``tfjs_store.load_files``)."""
    files = []
    for part in received.parts:
        if part.filename is None:
            raise UploadError(
                400,
                f"the multipart part {part.field!r} is not a file: an upload of files holds "
                f"one model JSON file (*.json) and its weight files only (TF.js's own upload "
                f"has exactly the parts {JSON_PART!r} and {WEIGHTS_PART!r})",
            )
        if not part.filename:
            if part.size == 0:
                continue  # a file input left empty
            raise UploadError(400, f"a file in the multipart part {part.field!r} has no name")
        files.append(part)
    json_files = [p for p in files if (p.filename or "").lower().endswith(".json")]
    if not json_files:
        raise UploadError(
            400,
            "the upload has no model JSON file: send one file whose name ends in .json "
            "(the model.json) with its weight files",
        )
    if len(json_files) > 1:
        names = ", ".join(repr(p.filename) for p in json_files)
        raise UploadError(
            400, f"the upload has {len(json_files)} JSON files ({names}); send exactly one"
        )
    (json_part,) = json_files
    weights = [(p.filename or "", received.content(p)) for p in files if p is not json_part]
    return tfjs_store.load_files(
        (json_part.filename or "model.json", received.content(json_part)),
        *weights,
        require_weights=True,
    )


def _manifest_file_entry(raw: bytes, rel: str) -> tuple[int | None, str | None] | Literal[False]:
    """The recorded size of ``rel`` and an ETag seed from its recorded checksum
    (``sha256-…``, or ``crc32c-…-size``: save-unique names keep a 32-bit one apart) if
    the model.json names it (None where not recorded); False if it does not name it
    (or the model.json cannot be read)."""
    try:
        model_json = parse_model_json(raw)
    except tfjs_store.InvalidModelError:
        return False
    if not any(_safe_file(p) == rel for p in model_json.weight_paths):
        return False
    record = SaveRecord.of(model_json)
    for key, entry in (record.files.items() if record is not None else ()):
        if _safe_file(key) == rel:
            digest = entry.sha256
            if digest and _SHA256.fullmatch(digest):
                return entry.size, f"sha256-{digest[:32]}"
            crc = crc32c_from_text(entry.crc32c)
            if crc is not None and entry.size is not None:
                return entry.size, f"crc32c-{crc:08x}-{entry.size}"
            return entry.size, None
    return None, None


def _parse_range(header: str, size: int) -> tuple[int, int] | Literal["ignore", "unsatisfiable"]:
    """The one byte range a ``Range`` header asks for, as ``(start, end)``, or what to do
    instead (RFC 9110 §14.2): ``"ignore"`` it and send the whole file (200) for another
    unit, a malformed header or several ranges (no multipart/byteranges here: any client
    must take the whole file then); ``"unsatisfiable"`` (416) when the range starts at or
    past the end (every range of an empty file does)."""
    m = _RANGE.match(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return "ignore"
    if m.group(1):
        start = int(m.group(1))
        if m.group(2) and int(m.group(2)) < start:
            return "ignore"  # last before first: an invalid range, not one to refuse
        if start >= size:
            return "unsatisfiable"
        end = int(m.group(2)) + 1 if m.group(2) else size
        return start, min(end, size)
    suffix = int(m.group(2))
    if suffix == 0 or size == 0:
        return "unsatisfiable"
    return max(0, size - suffix), size


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no route, wrong method) as the bridge's JSON errors."""
    assert isinstance(exc, HTTPException)
    await drain(request.stream())
    return _error(exc.status_code, exc.detail, exc.headers)


def _protocols(fs: Any) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def _upload_form(upload_form: str, layout: str | None) -> UploadForm:
    """The upload form asked for, from ``upload_form`` or its deprecated spelling."""
    name = "upload_form"
    if layout is not None:
        warnings.warn(
            "create_app(layout=...) is deprecated; use upload_form=... (the same values)",
            FutureWarning,
            stacklevel=3,
        )
        if upload_form != "shards" and upload_form != layout:
            raise ValueError(f"upload_form={upload_form!r} and layout={layout!r} disagree")
        upload_form, name = layout, "layout"
    if upload_form not in UPLOAD_FORMS:
        raise ValueError(f"unknown {name} {upload_form!r}; choose 'shards' or 'single'")
    return upload_form


def create_app(
    root_url: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    token: str | None = None,
    cors_origins: Sequence[str] = (),
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    shard_size_bytes: int = DEFAULT_SHARD_SIZE_BYTES,
    upload_form: UploadForm = "shards",
    public_read: bool = False,
    spool_dir: str | None = None,
    allowed_hosts: Sequence[str] = (),
    body_timeout: float | None = DEFAULT_BODY_TIMEOUT,
    redirect_weights: bool = False,
    redirect_expires: int = DEFAULT_REDIRECT_EXPIRES,
    layout: UploadForm | None = None,
) -> Starlette:
    """The bridge as an ASGI app (Starlette): TF.js uploads in, models out, over ``root_url``.

    Parameters
    ----------
    root_url:
        Where models live: any URL tfjs-store saves to (``s3://bucket/models``,
        ``gs://…``, ``memory://…``) or a local folder (created if missing). Model
        ``NAME`` (1-128 characters from ``A-Z a-z 0-9 . _ -``, not ``.``/``..``) is
        stored at ``ROOT_URL/NAME``.
    storage_options:
        fsspec options for ``root_url`` (credentials, endpoints).
    token:
        If set, every request must carry ``Authorization: Bearer TOKEN`` (401
        otherwise); with ``public_read`` only uploads and deletions need it.
    cors_origins:
        Origins allowed to call the bridge from a browser (``"*"`` for any), e.g.
        ``["http://localhost:3000"]``. Empty: no CORS headers (same-origin only). A
        POST, PUT or DELETE whose ``Origin`` is neither one of these nor the bridge's
        own origin is refused with 403 (requests without ``Origin`` are not browsers').
    max_upload_bytes:
        Largest accepted upload body (1 GiB by default); a larger one is answered
        with 413.
    shard_size_bytes:
        Weight shard size for stored models (``upload_form="shards"``; 4 MiB, the
        converter's default).
    upload_form:
        How an upload is stored. ``"shards"`` (default): the converter's
        ``groupN-shardIofM`` files, written under names unique to each save,
        model.json last (readers never see a torn model).
        ``"single"``: ``model.json`` and ``model.weights.bin`` exactly as TF.js sent
        them, byte for byte (overwritten in place; on object stores the weights file
        goes up in one request, so it is held in memory once).
    public_read:
        With a ``token``, let GET requests through without it.
    spool_dir:
        Folder for the temporary files uploads are spilled to (default: the system's).
    allowed_hosts:
        Host names (or IPs) requests may address the bridge by, besides ``localhost``,
        loopback addresses and the address the connection arrived on; other ``Host``
        headers get 421 (DNS rebinding). ``"*"`` allows any (behind a proxy that
        rewrites Host).
    layout:
        Deprecated spelling of ``upload_form`` (warns ``FutureWarning``): "layout"
        names how ``save`` lays out a model's files.
    body_timeout:
        Seconds an upload may send nothing (before its first byte or between two
        chunks) before it is cut off: answered 408, its spooled bytes dropped, nothing
        stored (default 60; None: no limit). A client that disconnects mid-upload is
        logged at INFO on the ``tfjs_store.server`` logger.
    redirect_weights:
        Answer a weight file ``GET`` with ``307 Temporary Redirect`` to a presigned URL
        of the bucket (``ByteStore.signed_url``: S3, GCS with credentials that sign,
        Azure with an account key), so the weight bytes flow from the bucket, not
        through the bridge. model.json, ``HEAD`` and a matching ``If-None-Match``
        (``304``) are still answered by the bridge; where the store cannot sign, files
        are streamed as without this option (logged once, as a warning). Browsers need
        a CORS rule on the bucket (docs/deploy.md).
    redirect_expires:
        Seconds each presigned URL stays valid (default 300, at most 7 days); a
        redirect to a save-tagged weight file may be cached for half of that.

    Routes: ``POST``/``PUT /models/{name}`` (TF.js's multipart upload, a multipart set of
    files as ``tf.io.browserFiles`` takes them, or JSON with base64 weights),
    ``GET /models/{name}/model.json`` and its weight files, ``GET /models/{name}``
    (info), ``GET /models``, ``DELETE /models/{name}``, ``GET /openapi.json``.
    """
    if not isinstance(max_upload_bytes, int) or max_upload_bytes <= 0:
        raise ValueError(f"max_upload_bytes must be a positive integer, got {max_upload_bytes!r}")
    if not isinstance(shard_size_bytes, int) or shard_size_bytes <= 0:
        raise ValueError(f"shard_size_bytes must be a positive integer, got {shard_size_bytes!r}")
    upload_form = _upload_form(upload_form, layout)
    if token is not None and not token:
        raise ValueError("token must be a non-empty string (or None for no auth)")
    if body_timeout is not None and not (
        isinstance(body_timeout, (int, float)) and 0 < body_timeout < float("inf")
    ):
        raise ValueError(f"body_timeout must be a positive number of seconds, got {body_timeout!r}")
    if (
        not isinstance(redirect_expires, int)
        or isinstance(redirect_expires, bool)
        or not 1 <= redirect_expires <= MAX_REDIRECT_EXPIRES
    ):
        raise ValueError(
            f"redirect_expires must be a whole number of seconds from 1 to "
            f"{MAX_REDIRECT_EXPIRES} (7 days), got {redirect_expires!r}"
        )
    if isinstance(cors_origins, str):
        cors_origins = [cors_origins]
    if isinstance(allowed_hosts, str):
        allowed_hosts = [allowed_hosts]
    allowed_hosts = [check_allowed_host(h) for h in allowed_hosts]  # ValueError now, not later
    bridge = Bridge(
        root_url,
        storage_options=storage_options,
        token=token,
        public_read=public_read,
        max_upload_bytes=max_upload_bytes,
        shard_size_bytes=shard_size_bytes,
        upload_form=upload_form,
        spool_dir=spool_dir,
        body_timeout=body_timeout,
        redirect_weights=bool(redirect_weights),
        redirect_expires=redirect_expires,
    )
    bridge.warn_if_root_is_missing()
    routes = [
        Route("/openapi.json", bridge.openapi, methods=["GET"]),
        Route("/models", bridge.list_models, methods=["GET"]),
        Route("/models/{name}", bridge.model_route, methods=["GET", "POST", "PUT", "DELETE"]),
        Route("/models/{name}/model.json", bridge.model_json_route, methods=["GET", "POST", "PUT"]),
        # every method reaches file_route, so a traversal attempt is a 400 whatever the
        # method, and anything but GET/HEAD a 405 that allows exactly those two
        Route("/models/{name}/{path:path}", bridge.file_route, methods=_EVERY_METHOD),
    ]
    # outermost: a refused request reaches neither CORS nor a route
    middleware = [
        Middleware(RequestGuard, allowed_hosts=list(allowed_hosts), cors_origins=list(cors_origins))
    ]
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"],
                allow_headers=[
                    "Authorization", "Content-Type", "Range", "If-Match", "If-None-Match"
                ],
                expose_headers=["Content-Length", "Content-Range", "Accept-Ranges", "ETag"],
                allow_private_network=True,
                max_age=600,
            )
        )
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: _http_exception},
    )
    app.state.bridge = bridge
    return app
