"""Receiving an upload body without holding the weights in memory.

Two kinds of body arrive at ``/models/{name}``:

* ``multipart/form-data``: TF.js's save (the parts ``model.json`` and
  ``model.weights.bin``) or a set of picked files (one ``*.json`` model file and its
  weight files, as ``tf.io.browserFiles`` takes them). JSON parts (a part named
  ``model.json`` or a file named ``*.json``) are collected in memory, capped; every
  other part is appended to one anonymous temporary file as it arrives, and later read
  through one memory map, so the save reads the weights straight from the page cache.
* ``application/json``: the model's artifacts with base64 weights, spilled whole to a
  temporary file and memory-mapped (``artifacts_from_json`` decodes it).

What the bodies hold, and the rules for reading them, are in ``format.wire`` (where the
http client makes them); here are the streaming, the spooling and the HTTP statuses.
Every problem with the body is an ``UploadError`` carrying the HTTP status to answer with.
A body read through ``TimedBody`` that stalls (no bytes for ``timeout`` seconds) is a
408: the receivers then drop what they spooled, and nothing is stored.
"""

from __future__ import annotations

import contextlib
import gc
import mmap
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import IO, Any

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..errors import WireFormatError
from ..format.artifacts import ModelArtifacts
from ..format.wire import (
    JSON_PART,
    WEIGHTS_PART,
    BodyKind,
    decode_json,
    form_part_names,
    is_json_part,
    is_tfjs_upload,
    received_boundary,
)
from ..format.wire import body_kind as wire_body_kind

__all__ = [
    "DRAIN_BYTES",
    "JSON_PART",
    "MAX_PARTS",
    "WEIGHTS_PART",
    "Part",
    "ReceivedUpload",
    "TimedBody",
    "UploadError",
    "artifacts_from_json",
    "body_kind",
    "drain",
    "receive_json",
    "receive_multipart",
]

MAX_PARTS = 10_000
"""Most parts one multipart upload may have (a model of 10 000 weight files is unheard of)."""
DRAIN_BYTES = 16 * 1024 * 1024
"""After a body turns out too large, up to this much more is read and dropped before the
413 goes out, so a client still sending gets the answer rather than a reset connection."""



class UploadError(Exception):
    """The upload cannot be stored: ``status`` is the HTTP answer (400, 408, 413, 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @classmethod
    def of(cls, exc: WireFormatError) -> UploadError:
        """The answer to a body that breaks its wire format: 413 past a limit, else 400."""
        return cls(413 if exc.too_large else 400, str(exc))


class TimedBody:
    """A request body's chunks, cut off when the client sends nothing for ``timeout``
    seconds (between two chunks, or before the first; None: wait for ever).

    The cut-off raises ``UploadError(408)`` once; iterating again then ends at once, so
    ``drain`` does not wait a second time. ``received`` counts the bytes that came.
    An idle limit, not a total one: a client sending steadily is never cut off, and
    ``max_bytes`` bounds how much it can send.
    """

    def __init__(self, chunks: AsyncIterator[bytes], timeout: float | None) -> None:
        self._chunks = chunks
        self.timeout = timeout
        self.received = 0
        self.cut_off = False

    def __aiter__(self) -> TimedBody:
        return self

    async def __anext__(self) -> bytes:
        if self.cut_off:
            raise StopAsyncIteration
        try:
            with anyio.fail_after(self.timeout):
                chunk = await self._chunks.__anext__()
        except TimeoutError:
            self.cut_off = True
            raise UploadError(
                408,
                f"the upload stalled: no bytes for {self.timeout:g} s after {self.received} "
                "bytes; nothing was stored",
            ) from None
        self.received += len(chunk)
        return chunk


def body_kind(content_type: str | None) -> BodyKind:
    """Which upload a Content-Type announces, or ``UploadError`` (415)."""
    expected = (
        "send multipart/form-data (TF.js's model.save(url), or a model JSON file with its "
        "weight files) or application/json (the artifacts with base64 weightData)"
    )
    if not content_type:
        raise UploadError(415, f"the upload has no Content-Type: {expected}")
    media_type, _ = parse_options_header(content_type)
    kind = wire_body_kind(media_type.decode("latin-1"))
    if kind is not None:
        return kind
    raise UploadError(415, f"unsupported Content-Type {content_type!r}: {expected}")


@dataclass
class Part:
    """One multipart part: its field name, file name, and where its bytes are."""

    field: str
    filename: str | None
    data: bytearray | None  # JSON parts are kept in memory
    offset: int = 0  # other parts: where they start in the spool file
    size: int = 0

    @property
    def is_file(self) -> bool:
        return self.filename is not None


class ReceivedUpload:
    """A received body: multipart parts (JSON in memory, the rest in one spool file), or a
    JSON body (all of it in the spool file)."""

    def __init__(self, kind: BodyKind, parts: list[Part], spool: IO[bytes] | None, size: int):
        self.kind = kind
        self.parts = parts
        self.spool = spool
        self.spool_size = size
        self._map: mmap.mmap | None = None

    def mapped(self) -> Any:
        """The spool file as one read-only buffer (memory-mapped); ``b""`` if empty."""
        if self.spool is None or self.spool_size == 0:
            return b""
        if self._map is None:
            self.spool.flush()
            self._map = mmap.mmap(self.spool.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def content(self, part: Part) -> Any:
        """A part's bytes: its in-memory data, or a view into the mapped spool file."""
        if part.data is not None:
            return bytes(part.data)
        if part.size == 0:
            return b""
        return memoryview(self.mapped())[part.offset : part.offset + part.size]

    def tfjs_parts(self) -> dict[str, Part] | None:
        """The parts by name if this is TF.js's upload (``model.json`` and, optionally,
        ``model.weights.bin``, each once); None for any other set of parts."""
        if is_tfjs_upload([p.field for p in self.parts]):
            return {p.field: p for p in self.parts}
        return None

    def close(self) -> None:
        if self._map is not None:
            # Views into the map may survive in a traceback; the map is then closed
            # when the last of them goes away.
            try:
                self._map.close()
            except BufferError:
                # Views still alive in a refused upload's traceback (a reference cycle):
                # collect them now, so the file and its disk space go with the answer.
                gc.collect()
                with contextlib.suppress(BufferError):
                    self._map.close()
            self._map = None
        if self.spool is not None:
            self.spool.close()
            self.spool = None


def multipart_boundary(content_type: str | None) -> str:
    """The boundary of a ``multipart/form-data`` Content-Type, or ``UploadError``."""
    if body_kind(content_type) != "multipart":
        raise UploadError(415, f"expected multipart/form-data, got {content_type!r}")
    _, params = parse_options_header(content_type)
    try:
        return received_boundary(params.get(b"boundary"))
    except WireFormatError as exc:
        raise UploadError.of(exc) from None


class _Receiver:
    """Callbacks for python-multipart's streaming parser."""

    def __init__(self, max_json_bytes: int, spool_dir: str | None) -> None:
        self.max_json_bytes = max_json_bytes
        self.spool_dir = spool_dir
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[str, bytes] = {}
        self.current: Part | None = None
        self.parts: list[Part] = []
        self.json_bytes = 0
        self.spool: IO[bytes] | None = None
        self.spool_size = 0
        self.finished = False
        self.error: UploadError | None = None

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field_data,
            "on_header_value": self.header_value_data,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_end": self.end,
        }

    def fail(self, status: int, message: str) -> None:
        self.error = UploadError(status, message)
        raise self.error

    def part_begin(self) -> None:
        self.headers = {}
        self.current = None

    def header_field_data(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def header_value_data(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        self.headers[bytes(self.header_field).decode("latin-1").lower()] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def headers_finished(self) -> None:
        disposition = self.headers.get("content-disposition")
        kind, params = (None, {}) if disposition is None else parse_options_header(disposition)
        try:
            field, filename = form_part_names(kind, params)
        except WireFormatError as exc:
            self.error = UploadError.of(exc)
            raise self.error from None
        if len(self.parts) >= MAX_PARTS:
            self.fail(400, f"the upload has more than {MAX_PARTS} parts")
        if is_json_part(field, filename):
            part = Part(field, filename, bytearray())
        else:
            if self.spool is None:
                self.spool = tempfile.TemporaryFile(dir=self.spool_dir)  # noqa: SIM115
            part = Part(field, filename, None, offset=self.spool_size)
        self.parts.append(part)
        self.current = part

    def part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.current
        if part is None:
            return
        if part.data is not None:
            self.json_bytes += end - start
            if self.json_bytes > self.max_json_bytes:
                self.fail(
                    413,
                    f"the JSON part(s) of the upload are larger than {self.max_json_bytes} bytes",
                )
            part.data += data[start:end]
        elif self.spool is not None:
            self.spool.write(memoryview(data)[start:end])
            self.spool_size += end - start
        part.size += end - start

    def part_end(self) -> None:
        self.current = None

    def end(self) -> None:
        self.finished = True

    def discard(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None


class _Limited:
    """A body's non-empty chunks, refused (413) once more than ``max_bytes`` came,
    whatever the declared Content-Length."""

    def __init__(self, chunks: AsyncIterator[bytes], max_bytes: int) -> None:
        self._chunks = chunks
        self.max_bytes = max_bytes
        self.received = 0

    def __aiter__(self) -> _Limited:
        return self

    async def __anext__(self) -> bytes:
        chunk = b""
        while not chunk:
            chunk = await self._chunks.__anext__()
        self.received += len(chunk)
        if self.received > self.max_bytes:
            raise UploadError(413, f"the upload is larger than the limit of {self.max_bytes} bytes")
        return chunk


@contextlib.asynccontextmanager
async def _dropped_on_failure(
    chunks: AsyncIterator[bytes], discard: Callable[[], None]
) -> AsyncIterator[None]:
    """What was spooled is dropped (``discard``) if receiving fails; on a refusal the
    rest of the body is read and dropped too, so the client gets the answer."""
    try:
        yield
    except UploadError:
        discard()
        await drain(chunks)
        raise
    except BaseException:
        discard()
        raise


async def receive_multipart(
    chunks: AsyncIterator[bytes],
    content_type: str | None,
    *,
    max_bytes: int,
    max_json_bytes: int,
    spool_dir: str | None = None,
) -> ReceivedUpload:
    """Parse a multipart body as it streams in; raises ``UploadError`` on any problem.

    More than ``max_bytes`` of body is a 413 (checked as bytes arrive, whatever the
    declared Content-Length), and so is more than ``max_json_bytes`` of JSON parts; a
    body that is not well-formed multipart is a 400. Which parts it holds is checked
    later (``ReceivedUpload.tfjs_parts`` and the file-set rules).
    """
    try:
        boundary = multipart_boundary(content_type)
    except UploadError:
        await drain(chunks)
        raise
    receiver = _Receiver(max_json_bytes, spool_dir)
    try:
        parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    except (FormParserError, ValueError) as exc:
        raise UploadError(400, f"malformed multipart boundary: {exc}") from None
    async with _dropped_on_failure(chunks, receiver.discard):
        async for chunk in _Limited(chunks, max_bytes):
            try:
                parser.write(chunk)
            except UploadError:
                raise
            except (FormParserError, ValueError) as exc:
                if receiver.error is not None:
                    raise receiver.error from None
                raise UploadError(400, f"malformed multipart/form-data body: {exc}") from None
            if receiver.error is not None:
                raise receiver.error
        try:
            parser.finalize()
        except (FormParserError, ValueError) as exc:
            raise UploadError(400, f"malformed multipart/form-data body: {exc}") from None
        if not receiver.finished:
            raise UploadError(
                400,
                "malformed multipart/form-data body: it ends before the closing boundary "
                f"'--{boundary}--' (truncated upload?)",
            )
        if not receiver.parts:
            raise UploadError(400, "the multipart upload has no parts")
    return ReceivedUpload("multipart", receiver.parts, receiver.spool, receiver.spool_size)


async def receive_json(
    chunks: AsyncIterator[bytes], *, max_bytes: int, spool_dir: str | None = None
) -> ReceivedUpload:
    """Spill a JSON body to a temporary file as it streams in (413 past ``max_bytes``)."""
    spool = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115
    body = _Limited(chunks, max_bytes)
    async with _dropped_on_failure(chunks, spool.close):
        async for chunk in body:
            spool.write(chunk)
    return ReceivedUpload("json", [], spool, body.received)


def artifacts_from_json(buf: Any, *, max_json_bytes: int) -> ModelArtifacts:
    """``ModelArtifacts`` from a JSON upload held in ``buf`` (bytes or a memory map).

    Raises ``UploadError`` (400, or 413 when the JSON besides the weights is larger
    than ``max_json_bytes``) or ``InvalidModelError`` (400).
    """
    try:
        return decode_json(buf, max_json_bytes=max_json_bytes)
    except WireFormatError as exc:
        raise UploadError.of(exc) from None


async def drain(chunks: AsyncIterator[bytes], limit: int = DRAIN_BYTES) -> None:
    """Read and drop the rest of a body (at most ``limit`` bytes) before an error answer.

    A server that answers early and closes makes the client's next send fail with a
    reset, and the client never sees the answer; reading the rest first avoids that.
    """
    dropped = 0
    try:
        async for chunk in chunks:
            dropped += len(chunk)
            if dropped > limit:
                return
    except Exception:  # the client went away, or the stream was already consumed
        return
