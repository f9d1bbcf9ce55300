"""The JSON upload: a model's artifacts as one JSON object, the weights in base64.

TF.js's documentation describes an http save as "a JSON payload with the topology and
base64-encoded weight data"; TF.js itself always sends multipart (spec §4.2), but
clients written from that sentence, and scripts in other languages, send this::

    {"modelTopology": {...}, "weightSpecs": [{name, shape, dtype, ...}, ...],
     "weightData": "<base64>", "trainingConfig": {...}, "format": "layers-model", ...}

``weightData`` may also be a list of base64 strings (several buffers, read one after
the other) or ``null``/absent (no weights).

The body is spilled to a temporary file and memory-mapped. A scan of the top level
finds the ``weightData`` string(s) without turning them into Python strings; each is
checked to be base64 and decoded straight from the map into one ``bytes``. What remains
(the topology and specs, with ``weightData`` replaced by ``null``) is parsed as JSON and
must be small (the model.json limit). So the heap holds the decoded weights once, plus
the small JSON.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Sequence
from typing import Any

import tfjs_store

from .upload import UploadError

__all__ = ["ARTIFACT_KEYS", "artifacts_from_json", "parse_json"]

ARTIFACT_KEYS = (
    "modelTopology",
    "trainingConfig",
    "weightSpecs",
    "weightData",
    "format",
    "generatedBy",
    "convertedBy",
    "signature",
    "userDefinedMetadata",
    "modelInitializer",
    "initializerSignature",
)
"""TF.js's ``ModelArtifacts`` keys (types.ts), in its order."""

_SNAKE_NAMES = {
    "model_topology": "modelTopology",
    "training_config": "trainingConfig",
    "weight_specs": "weightSpecs",
    "weight_data": "weightData",
    "generated_by": "generatedBy",
    "converted_by": "convertedBy",
    "user_defined_metadata": "userDefinedMetadata",
    "model_initializer": "modelInitializer",
    "initializer_signature": "initializerSignature",
    "weights_manifest": "weightsManifest",
}
_RECORD_KEY = "tfjsStore"
_WS = re.compile(rb"[ \t\n\r]*")
_SCALAR = re.compile(rb"[^,}\] \t\n\r]*")
_STRUCTURE = re.compile(rb'["{}\[\]]')
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_DATA_URL = re.compile(rb"data:[^,\"\\]{0,200};base64,")
_KEY_LIMIT = 256  # longer keys are not decoded (they cannot be "weightData")


class _Malformed(Exception):
    pass


def _bad(message: str) -> UploadError:
    return UploadError(400, f"the JSON upload is malformed: {message}")


# -- a scan of the top level ------------------------------------------------------------


def _skip_ws(buf: Any, pos: int) -> int:
    match = _WS.match(buf, pos)
    return match.end() if match else pos


def _string_end(buf: Any, pos: int) -> int:
    """``pos`` is at an opening quote; the index just after the closing one."""
    i = pos + 1
    while True:
        quote: int = buf.find(b'"', i)
        if quote < 0:
            raise _Malformed(f"a string starting at byte {pos} is not closed")
        k = quote - 1
        while k > pos and buf[k] == 0x5C:  # backslash
            k -= 1
        if (quote - 1 - k) % 2 == 0:
            return quote + 1
        i = quote + 1


def _value_end(buf: Any, pos: int, size: int) -> int:
    """The index just after the JSON value starting at ``pos`` (roughly checked: the
    JSON parser validates it later)."""
    if pos >= size:
        raise _Malformed("the body ends where a value should be")
    first = buf[pos]
    if first == 0x22:  # "
        return _string_end(buf, pos)
    if first in (0x7B, 0x5B):  # { [
        depth = 0
        i = pos
        while True:
            match = _STRUCTURE.search(buf, i)
            if match is None:
                raise _Malformed(f"an object or array starting at byte {pos} is not closed")
            char = buf[match.start()]
            if char == 0x22:
                i = _string_end(buf, match.start())
                continue
            depth += 1 if char in (0x7B, 0x5B) else -1
            i = match.end()
            if depth == 0:
                return i
    match = _SCALAR.match(buf, pos)
    end = match.end() if match else pos
    if end == pos:
        raise _Malformed(f"unexpected byte {bytes([first])!r} at {pos}")
    return end


def _scan(buf: Any) -> tuple[list[tuple[int, int]], str]:
    """Spans of the top-level ``weightData`` string(s), and its kind.

    Returns ``(spans, kind)``: kind is ``"absent"``, ``"null"``, ``"string"`` (one span)
    or ``"list"`` (one span per element); each span covers a string with its quotes.
    """
    size = len(buf)
    pos = 0
    if buf[:3] == b"\xef\xbb\xbf":
        pos = 3
    pos = _skip_ws(buf, pos)
    if pos >= size or buf[pos] != 0x7B:
        raise _Malformed("the body is not a JSON object")
    pos = _skip_ws(buf, pos + 1)
    spans: list[tuple[int, int]] = []
    kind = "absent"
    if pos < size and buf[pos] == 0x7D:
        return spans, kind
    while True:
        if pos >= size or buf[pos] != 0x22:
            raise _Malformed(f"expected a key at byte {pos}")
        key_end = _string_end(buf, pos)
        key = None
        if key_end - pos <= _KEY_LIMIT:
            try:
                key = json.loads(bytes(buf[pos:key_end]))
            except ValueError:
                raise _Malformed(f"the key at byte {pos} is not a valid JSON string") from None
        pos = _skip_ws(buf, key_end)
        if pos >= size or buf[pos] != 0x3A:
            raise _Malformed(f"expected ':' at byte {pos}")
        pos = _skip_ws(buf, pos + 1)
        if key == "weightData":
            if kind != "absent":
                raise _Malformed("'weightData' appears twice")
            pos, kind = _weight_data(buf, pos, size, spans)
        else:
            pos = _value_end(buf, pos, size)
        pos = _skip_ws(buf, pos)
        if pos < size and buf[pos] == 0x2C:
            pos = _skip_ws(buf, pos + 1)
            continue
        if pos < size and buf[pos] == 0x7D:
            return spans, kind
        raise _Malformed(f"expected ',' or '}}' at byte {pos}")


def _weight_data(buf: Any, pos: int, size: int, spans: list[tuple[int, int]]) -> tuple[int, str]:
    if pos < size and buf[pos] == 0x22:
        end = _string_end(buf, pos)
        spans.append((pos, end))
        return end, "string"
    if pos < size and buf[pos] == 0x5B:
        pos = _skip_ws(buf, pos + 1)
        if pos < size and buf[pos] == 0x5D:
            return pos + 1, "list"
        while True:
            if pos >= size or buf[pos] != 0x22:
                raise UploadError(
                    400, "'weightData' must be a base64 string, a list of base64 strings, or null"
                )
            end = _string_end(buf, pos)
            spans.append((pos, end))
            pos = _skip_ws(buf, end)
            if pos < size and buf[pos] == 0x2C:
                pos = _skip_ws(buf, pos + 1)
                continue
            if pos < size and buf[pos] == 0x5D:
                return pos + 1, "list"
            raise _Malformed(f"expected ',' or ']' at byte {pos} in 'weightData'")
    if buf[pos : pos + 4] == b"null":
        return pos + 4, "null"
    raise UploadError(
        400, "'weightData' must be a base64 string, a list of base64 strings, or null"
    )


# -- base64 ---------------------------------------------------------------------------


def _decode(buf: Any, start: int, end: int, index: int | None) -> bytes:
    """The bytes of the base64 string at ``buf[start:end]`` (quotes included)."""
    where = "'weightData'" if index is None else f"'weightData'[{index}]"
    start += 1
    end -= 1
    prefix = _DATA_URL.match(buf, start, end)
    if prefix is not None:  # FileReader.readAsDataURL's form
        start = prefix.end()
    if _BASE64.fullmatch(buf, start, end) is None:
        if buf.find(b"\\", start, end) < 0:
            raise UploadError(
                400,
                f"{where} is not base64: only A-Z a-z 0-9 + / and '=' padding may appear "
                "(standard alphabet, RFC 4648 section 4)",
            )
        # JSON escapes (a '\/' or MIME line breaks): decode this string the slow way
        try:
            text = json.loads(bytes(buf[start - 1 : end + 1]))
        except ValueError:
            raise _bad(f"{where} is not a valid JSON string") from None
        cleaned = "".join(text.split()).encode("ascii", "replace")
        if _BASE64.fullmatch(cleaned) is None:
            raise UploadError(400, f"{where} is not base64 (standard alphabet, RFC 4648 §4)")
        return _a2b(cleaned, where)
    with memoryview(buf) as view, view[start:end] as part:
        return _a2b(part, where)


def _a2b(data: Any, where: str) -> bytes:
    if len(data) % 4:
        raise UploadError(
            400,
            f"{where} is not base64: its length ({len(data)}) is not a multiple of 4 "
            "(padding '=' missing?)",
        )
    try:
        return binascii.a2b_base64(data)
    except binascii.Error as exc:
        raise UploadError(400, f"{where} is not base64: {exc}") from None


# -- the artifacts --------------------------------------------------------------------


def parse_json(raw: bytes, where: str) -> Any:
    """JSON as ``JSON.parse`` accepts it; ``InvalidModelError`` naming ``where`` otherwise."""

    def reject(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        text = raw.decode("utf-8")
        if text.startswith("\ufeff"):
            text = text[1:]
        return json.loads(text, parse_constant=reject)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise tfjs_store.InvalidModelError(f"{where} is not valid JSON: {exc}") from None


def _rest(buf: Any, spans: Sequence[tuple[int, int]]) -> bytes:
    pieces = []
    pos = 0
    for start, end in spans:
        pieces.append(buf[pos:start])
        pieces.append(b"null")
        pos = end
    pieces.append(buf[pos:])
    return b"".join(pieces)


def artifacts_from_json(buf: Any, *, max_json_bytes: int) -> tfjs_store.ModelArtifacts:
    """``ModelArtifacts`` from a JSON upload held in ``buf`` (bytes or a memory map).

    Raises ``UploadError`` (400, or 413 when the JSON besides the weights is larger
    than ``max_json_bytes``) or ``InvalidModelError`` (400).
    """
    if len(buf) == 0:
        raise UploadError(400, "the JSON upload is empty")
    try:
        spans, kind = _scan(buf)
    except _Malformed as exc:
        raise _bad(str(exc)) from None
    other_bytes = len(buf) - sum(end - start for start, end in spans)
    if other_bytes > max_json_bytes:
        raise UploadError(
            413,
            f"the JSON upload holds {other_bytes} bytes besides 'weightData', over the "
            f"limit of {max_json_bytes} bytes",
        )
    obj = parse_json(_rest(buf, spans), "the JSON upload")
    if not isinstance(obj, dict):
        raise _bad("the body is not a JSON object")
    # the scan and the parser must agree on where weightData was
    expected: Any = {"absent": ..., "null": None, "string": None}.get(kind, [None] * len(spans))
    if obj.get("weightData", ...) != expected:
        raise _bad("'weightData' could not be located")
    if "weightsManifest" in obj:
        raise UploadError(
            400,
            "a JSON upload holds the model's artifacts: 'weightSpecs' (a flat list of "
            "weight specs) and 'weightData' (base64), not a model.json's 'weightsManifest'",
        )
    for snake, camel in _SNAKE_NAMES.items():
        if snake in obj:
            raise UploadError(400, f"unknown key {snake!r} in the JSON upload (use {camel!r})")
    if obj.get("modelTopology") is None and obj.get("weightSpecs") is None:
        raise UploadError(400, "the JSON upload has neither 'modelTopology' nor 'weightSpecs'")
    if "weightSpecs" in obj and not isinstance(obj["weightSpecs"], (list, type(None))):
        raise UploadError(400, "'weightSpecs' must be a flat list of weight specs")
    if isinstance(obj.get("modelTopology"), str):
        raise UploadError(
            400,
            "'modelTopology' must be a JSON object (binary GraphDef topologies are not supported)",
        )
    data: Any
    if kind == "string":
        data = _decode(buf, *spans[0], None)
    elif kind == "list":
        data = [_decode(buf, start, end, i) for i, (start, end) in enumerate(spans)]
    else:
        data = None
    fields = {k: v for k, v in obj.items() if k not in ("weightData", _RECORD_KEY)}
    return tfjs_store.ModelArtifacts.create(**fields, weightData=data)
