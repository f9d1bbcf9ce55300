"""The JSON upload: a model's artifacts as one JSON object, the weights in base64.

TF.js's documentation describes an http save as "a JSON payload with the topology and
base64-encoded weight data"; TF.js itself always sends multipart (spec §4.2), but
clients written from that sentence, and scripts in other languages, send this::

    {"modelTopology": {...}, "weightSpecs": [{name, shape, dtype, ...}, ...],
     "weightData": "<base64>", "trainingConfig": {...}, "format": "layers-model", ...}

``weightData`` may also be a list of base64 strings (several buffers, read one after
the other) or ``null``/absent (no weights).

The body is spilled to a temporary file and memory-mapped. Long base64 strings (4 KiB and
more: the weights) are found with one regular-expression pass and replaced by short
placeholders; the rest, which must fit the model.json limit, is parsed by the JSON
parser; the top-level ``weightData`` placeholder(s) are then decoded straight from the
map into one ``bytes`` each. A long string elsewhere gets its own text back. So the heap
holds the decoded weights once, plus the small JSON, and no Python loop walks the body.
Duplicate keys behave as in ``JSON.parse``: the last one wins.
"""

from __future__ import annotations

import binascii
import json
import re
import secrets
from typing import Any

import tfjs_store

from ..format.jsonfmt import parse_json_bytes
from ..format.record import RECORD_KEY
from .upload import UploadError

__all__ = ["ARTIFACT_KEYS", "artifacts_from_json"]

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
MASK_MIN = 4096
"""Base64 strings at least this long are kept out of the parsed JSON (read from the map)."""
_LONG_BASE64 = re.compile(rb'"(?:data:[^",\\]{0,200};base64,)?[A-Za-z0-9+/=]{%d,}"' % MASK_MIN)
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_DATA_URL = re.compile(rb"data:[^,\"\\]{0,200};base64,")
_DATA_URL_TEXT = re.compile(r"data:[^,]{0,200};base64,")
_NOT_BASE64 = (
    "is not base64: only A-Z a-z 0-9 + / and '=' padding may appear "
    "(standard alphabet, RFC 4648 section 4)"
)


def _bad(message: str) -> UploadError:
    return UploadError(400, f"the JSON upload is malformed: {message}")


def _escaped(buf: Any, pos: int) -> bool:
    """True when the byte at ``pos`` follows an odd number of backslashes."""
    k = pos - 1
    while k >= 0 and buf[k] == 0x5C:
        k -= 1
    return (pos - 1 - k) % 2 == 1


def _mask(buf: Any, max_json_bytes: int) -> tuple[bytes, list[tuple[int, int]], str]:
    """The body with every long base64 string replaced by a placeholder string.

    Returns the masked JSON, the ``(start, end)`` of each replaced string (quotes
    included) and the placeholder prefix; placeholder ``i`` is ``prefix + str(i)``. The
    prefix holds a NUL and a random token, so no client can write one.
    """
    token = secrets.token_hex(12)
    spans: list[tuple[int, int]] = []
    pieces: list[bytes] = []
    pos = 0
    kept = 0
    for match in _LONG_BASE64.finditer(buf):
        start, end = match.span()
        if _escaped(buf, start):  # a quote inside a string, not a string of its own
            continue
        kept += start - pos
        if kept > max_json_bytes:
            break
        pieces.append(buf[pos:start])
        pieces.append(b'"\\u0000%s:%d"' % (token.encode(), len(spans)))
        spans.append((start, end))
        pos = end
    kept += len(buf) - pos
    if kept > max_json_bytes:
        raise UploadError(
            413,
            f"the JSON upload holds {kept} or more bytes besides the base64 weights, over "
            f"the limit of {max_json_bytes} bytes (weightData with JSON escapes such as "
            "'\\/' or '\\n' counts against this limit)",
        )
    pieces.append(buf[pos:])
    return b"".join(pieces), spans, f"\x00{token}:"


# -- base64 ---------------------------------------------------------------------------


def _decode_span(buf: Any, start: int, end: int, where: str) -> bytes:
    """The bytes of the base64 string at ``buf[start:end]`` (quotes included)."""
    start += 1
    end -= 1
    prefix = _DATA_URL.match(buf, start, end)
    if prefix is not None:  # FileReader.readAsDataURL's form
        start = prefix.end()
    if _BASE64.fullmatch(buf, start, end) is None:
        raise UploadError(400, f"{where} {_NOT_BASE64}")
    with memoryview(buf) as view, view[start:end] as part:
        return _a2b(part, where)


def _decode_text(text: str, where: str) -> bytes:
    """The bytes of a (short, or escaped) base64 string already parsed from the JSON."""
    prefix = _DATA_URL_TEXT.match(text)
    if prefix is not None:
        text = text[prefix.end() :]
    cleaned = "".join(text.split()).encode("ascii", "replace")  # MIME line breaks
    if _BASE64.fullmatch(cleaned) is None:
        raise UploadError(400, f"{where} {_NOT_BASE64}")
    return _a2b(cleaned, where)


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


class _Placeholders:
    """The masked strings: decoded as weights, or given their text back."""

    def __init__(self, buf: Any, spans: list[tuple[int, int]], prefix: str) -> None:
        self.buf = buf
        self.spans = spans
        self.prefix = prefix

    def index(self, value: str) -> int | None:
        if not value.startswith(self.prefix):
            return None
        return int(value[len(self.prefix) :])

    def weights(self, value: Any, where: str) -> bytes:
        if not isinstance(value, str):
            raise UploadError(
                400, "'weightData' must be a base64 string, a list of base64 strings, or null"
            )
        i = self.index(value)
        if i is None:
            return _decode_text(value, where)
        return _decode_span(self.buf, *self.spans[i], where)

    def restore(self, value: Any) -> Any:
        """``value`` with every placeholder replaced by the string it stands for."""
        if isinstance(value, str):
            i = self.index(value)
            if i is None:
                return value
            start, end = self.spans[i]
            return json.loads(bytes(self.buf[start:end]))
        if isinstance(value, list):
            return [self.restore(v) for v in value]
        if isinstance(value, dict):
            return {self.restore(k): self.restore(v) for k, v in value.items()}
        return value


# -- the artifacts --------------------------------------------------------------------


def artifacts_from_json(buf: Any, *, max_json_bytes: int) -> tfjs_store.ModelArtifacts:
    """``ModelArtifacts`` from a JSON upload held in ``buf`` (bytes or a memory map).

    Raises ``UploadError`` (400, or 413 when the JSON besides the weights is larger
    than ``max_json_bytes``) or ``InvalidModelError`` (400).
    """
    if len(buf) == 0:
        raise UploadError(400, "the JSON upload is empty")
    masked, spans, prefix = _mask(buf, max_json_bytes)
    obj = parse_json_bytes(masked, "the JSON upload")
    del masked
    if not isinstance(obj, dict):
        raise _bad("the body is not a JSON object")
    placeholders = _Placeholders(buf, spans, prefix)
    weight_data = obj.pop("weightData", None)
    refs = weight_data if isinstance(weight_data, list) else [weight_data]
    in_weights = sum(1 for v in refs if isinstance(v, str) and placeholders.index(v) is not None)
    if in_weights < len(spans):  # long strings elsewhere get their text back
        try:
            obj = placeholders.restore(obj)
        except RecursionError:
            raise _bad("it is nested too deeply") from None
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
    if weight_data is None:
        data = None
    elif isinstance(weight_data, list):
        data = [placeholders.weights(v, f"'weightData'[{i}]") for i, v in enumerate(weight_data)]
    else:
        data = placeholders.weights(weight_data, "'weightData'")
    fields = {k: v for k, v in obj.items() if k != RECORD_KEY}
    return tfjs_store.ModelArtifacts.create(**fields, weightData=data)
