"""Receiving TF.js's multipart upload without holding the weights in memory.

``model.json`` is collected in memory (it is small, and capped); ``model.weights.bin``
is written to an anonymous temporary file as it arrives and later memory-mapped, so
the save reads it straight from the page cache. Every problem with the body is an
``UploadError`` carrying the HTTP status to answer with.
"""

from __future__ import annotations

import contextlib
import mmap
import tempfile
from collections.abc import AsyncIterator
from typing import IO, Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

__all__ = [
    "DRAIN_BYTES",
    "JSON_PART",
    "WEIGHTS_PART",
    "ReceivedUpload",
    "UploadError",
    "drain",
    "receive_multipart",
]

JSON_PART = "model.json"
WEIGHTS_PART = "model.weights.bin"
_KNOWN_PARTS = (JSON_PART, WEIGHTS_PART)
DRAIN_BYTES = 16 * 1024 * 1024
"""After a body turns out too large, up to this much more is read and dropped before the
413 goes out, so a client still sending gets the answer rather than a reset connection."""


class UploadError(Exception):
    """The upload cannot be stored: ``status`` is the HTTP answer (400, 413, 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ReceivedUpload:
    """The two parts of a received upload: model.json bytes and the spilled weights."""

    def __init__(self, model_json: bytes, weights_file: IO[bytes] | None, weights_size: int):
        self.model_json = model_json
        self.weights_file = weights_file
        self.weights_size = weights_size
        self._map: mmap.mmap | None = None

    def weight_data(self) -> Any:
        """The weights as one read-only buffer (memory-mapped), ``b""`` if empty, or None."""
        if self.weights_file is None:
            return None
        if self.weights_size == 0:
            return b""
        if self._map is None:
            self.weights_file.flush()
            self._map = mmap.mmap(self.weights_file.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def close(self) -> None:
        if self._map is not None:
            # Views into the map may survive in a traceback; the map is then closed
            # when the last of them goes away.
            with contextlib.suppress(BufferError):
                self._map.close()
            self._map = None
        if self.weights_file is not None:
            self.weights_file.close()
            self.weights_file = None


def multipart_boundary(content_type: str | None) -> str:
    """The boundary of a ``multipart/form-data`` Content-Type, or ``UploadError``."""
    if not content_type:
        raise UploadError(
            415, "the upload needs Content-Type multipart/form-data (what TF.js's save sends)"
        )
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise UploadError(
            415,
            f"unsupported Content-Type {content_type!r}: send multipart/form-data with the "
            f"parts {JSON_PART!r} and {WEIGHTS_PART!r}, as TF.js's model.save(url) does",
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadError(400, "the multipart/form-data Content-Type has no boundary")
    if len(boundary) > 200:
        raise UploadError(400, "the multipart boundary is longer than 200 characters")
    return boundary.decode("latin-1")


class _Receiver:
    """Callbacks for python-multipart's streaming parser."""

    def __init__(self, max_json_bytes: int, spool_dir: str | None) -> None:
        self.max_json_bytes = max_json_bytes
        self.spool_dir = spool_dir
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[str, bytes] = {}
        self.current: str | None = None
        self.seen: set[str] = set()
        self.json = bytearray()
        self.weights: IO[bytes] | None = None
        self.weights_size = 0
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
        if disposition is None:
            self.fail(400, "a multipart part has no Content-Disposition header")
        kind, params = parse_options_header(disposition)
        raw_name = params.get(b"name")
        if kind != b"form-data" or raw_name is None:
            self.fail(400, "a multipart part is not form-data with a name")
        name = bytes(raw_name or b"").decode("utf-8", "replace")
        if name not in _KNOWN_PARTS:
            self.fail(
                400,
                f"unexpected multipart part {name!r}: an upload has the parts {JSON_PART!r} "
                f"and {WEIGHTS_PART!r} only",
            )
        if name in self.seen:
            self.fail(400, f"the multipart part {name!r} appears twice")
        self.seen.add(name)
        self.current = name
        if name == WEIGHTS_PART:
            self.weights = tempfile.TemporaryFile(dir=self.spool_dir)  # noqa: SIM115

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.current == JSON_PART:
            if len(self.json) + (end - start) > self.max_json_bytes:
                self.fail(413, f"the {JSON_PART!r} part is larger than {self.max_json_bytes} bytes")
            self.json += data[start:end]
        elif self.current == WEIGHTS_PART and self.weights is not None:
            self.weights.write(memoryview(data)[start:end])
            self.weights_size += end - start

    def end(self) -> None:
        self.finished = True

    def discard(self) -> None:
        if self.weights is not None:
            self.weights.close()
            self.weights = None


async def receive_multipart(
    chunks: AsyncIterator[bytes],
    content_type: str | None,
    *,
    max_bytes: int,
    max_json_bytes: int,
    spool_dir: str | None = None,
) -> ReceivedUpload:
    """Parse an upload body as it streams in; raises ``UploadError`` on any problem.

    More than ``max_bytes`` of body is a 413 (checked as bytes arrive, whatever the
    declared Content-Length); a body that is not well-formed multipart, lacks the
    ``model.json`` part, repeats a part or has a part of another name is a 400.
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
    received = 0
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            received += len(chunk)
            if received > max_bytes:
                raise UploadError(413, f"the upload is larger than the limit of {max_bytes} bytes")
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
        if JSON_PART not in receiver.seen:
            raise UploadError(400, f"the upload has no {JSON_PART!r} part")
    except UploadError:
        receiver.discard()
        await drain(chunks)
        raise
    except BaseException:
        receiver.discard()
        raise
    return ReceivedUpload(bytes(receiver.json), receiver.weights, receiver.weights_size)


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
