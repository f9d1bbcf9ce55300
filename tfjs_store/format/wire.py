"""The two bodies a model travels in over HTTP: encoded by the http client, decoded by
the bridge, both from here.

* **TF.js's multipart body** (spec §4.2): ``multipart/form-data`` with the parts
  ``model.json`` (application/json, manifest path ``./model.weights.bin``) and, when the
  model has weight data, ``model.weights.bin`` (application/octet-stream).
  ``MultipartBody`` streams it from the weight buffers without joining them.
* **The JSON body**: one ``application/json`` object holding the artifacts, keys in
  TF.js's ``ModelArtifacts`` order (``ARTIFACT_KEYS``), ``weightSpecs`` flat and
  ``weightData`` in base64: the shape TF.js's documentation describes ("a JSON payload
  with the topology and base64-encoded weight data"), which TF.js itself never sends but
  clients written from that sentence do. ``weightData`` may also be a list of base64
  strings (several buffers, one after the other) or ``null``/absent (no weights).
  ``JSONBody`` makes the base64 text while it is sent, never holding it whole.

Reading a multipart body as it streams in (python-multipart, temporary files) and the
HTTP statuses of refusals belong to the bridge (``tfjs_store.server.upload``); here are
the rules it applies to what it read: which Content-Type is which body, the boundary,
each part's names, which parts are TF.js's upload, and the artifacts of both bodies.
A body that breaks them raises ``WireFormatError``.
"""

from __future__ import annotations

import binascii
import json
import re
import secrets
import string
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, get_args

from ..errors import WireFormatError
from .artifacts import ModelArtifacts
from .jsonfmt import js_stringify, model_json_object, parse_json_bytes
from .layout import plan_storage
from .record import RECORD_KEY
from .schemas import ModelJSON

__all__ = [
    "ARTIFACT_KEYS",
    "BODY_KINDS",
    "JSON_CONTENT_TYPE",
    "JSON_PART",
    "MASK_MIN",
    "MAX_RECEIVED_BOUNDARY",
    "WEIGHTS_CONTENT_TYPE",
    "WEIGHTS_PART",
    "WEIGHTS_PATH",
    "BodyKind",
    "JSONBody",
    "MultipartBody",
    "body_kind",
    "decode_json",
    "decode_multipart_parts",
    "encode_artifacts",
    "encode_json",
    "encode_multipart",
    "form_part_names",
    "is_json_part",
    "is_tfjs_upload",
    "new_boundary",
    "received_boundary",
]

BodyKind = Literal["multipart", "json"]
BODY_KINDS: tuple[BodyKind, ...] = get_args(BodyKind)
JSON_PART = "model.json"
WEIGHTS_PART = "model.weights.bin"
WEIGHTS_PATH = "./" + WEIGHTS_PART
"""The manifest path in the model.json TF.js uploads (the bridge ignores it)."""
JSON_CONTENT_TYPE = "application/json"
WEIGHTS_CONTENT_TYPE = "application/octet-stream"
FORM_DATA = "multipart/form-data"
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
"""TF.js's ``ModelArtifacts`` keys (types.ts), in its order: the JSON body's key order."""
MAX_RECEIVED_BOUNDARY = 200
"""Longest boundary a received body may use. RFC 2046 allows 70 characters, and that is
what is sent; receiving is lenient up to here."""
_SENT_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,./:=?-]{1,70}")  # RFC 2046 bchars, no space
_BOUNDARY_CHARS = string.ascii_letters + string.digits
_BASE64_CHUNK = 3 << 18  # bytes encoded at a time: 768 KiB in, 1 MiB of text out
MASK_MIN = 4096
"""Base64 strings at least this long are kept out of the parsed JSON (read in place)."""


# -- the multipart body ------------------------------------------------------------------


def new_boundary() -> str:
    """A boundary in the style browsers use (``----`` plus 16 random letters and digits)."""
    return "----tfjsStoreBoundary" + "".join(secrets.choice(_BOUNDARY_CHARS) for _ in range(16))


class MultipartBody:
    """A multipart/form-data body made of byte views, iterated without joining them.

    Iterating it (as ``http.client`` does) yields the parts' bytes in order; it can be
    iterated again (a redirect re-sends it). ``content_length`` is known up front.
    """

    def __init__(self, boundary: str, parts: Sequence[tuple[str, str, Sequence[Any]]]) -> None:
        if not _SENT_BOUNDARY.fullmatch(boundary):
            raise ValueError(f"invalid multipart boundary {boundary!r}")
        self.boundary = boundary
        self._chunks: list[memoryview] = []
        for name, content_type, views in parts:
            head = (
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n"
            )
            self._chunks.append(memoryview(head.encode("ascii")))
            self._chunks.extend(memoryview(v).cast("B") for v in views if len(memoryview(v)))
            self._chunks.append(memoryview(b"\r\n"))
        self._chunks.append(memoryview(f"--{boundary}--\r\n".encode("ascii")))
        self.content_length = sum(len(c) for c in self._chunks)

    @property
    def content_type(self) -> str:
        return f"{FORM_DATA}; boundary={self.boundary}"

    def __iter__(self) -> Iterator[memoryview]:
        return iter(self._chunks)

    def __len__(self) -> int:
        return self.content_length

    def to_bytes(self) -> bytes:
        """The whole body as one bytes object (a copy; for tests and small models)."""
        return b"".join(self._chunks)


def encode_multipart(
    model_json: bytes, weight_data: Sequence[Any] | None, *, boundary: str | None = None
) -> MultipartBody:
    """The body TF.js's http save sends: ``model.json`` then ``model.weights.bin``.

    ``weight_data`` is a list of byte buffers sent one after the other as the weights
    part; ``None`` leaves the part out, as TF.js does when a model has no weight data.
    """
    parts: list[tuple[str, str, Sequence[Any]]] = [(JSON_PART, JSON_CONTENT_TYPE, [model_json])]
    if weight_data is not None:
        parts.append((WEIGHTS_PART, WEIGHTS_CONTENT_TYPE, list(weight_data)))
    return MultipartBody(boundary or new_boundary(), parts)


# -- the JSON body -----------------------------------------------------------------------


def _base64_chunks(buffers: Sequence[Any]) -> Iterator[bytes]:
    """Base64 of the buffers read one after the other, in chunks (no joined copy)."""
    carry = b""
    for buf in buffers:
        view = memoryview(buf).cast("B")
        pos = 0
        if carry:
            piece = carry + bytes(view[: 3 - len(carry)])
            pos = len(piece) - len(carry)
            if len(piece) < 3:
                carry = piece
                continue
            yield binascii.b2a_base64(piece, newline=False)
            carry = b""
        usable = (len(view) - pos) // 3 * 3
        for start in range(pos, pos + usable, _BASE64_CHUNK):
            end = min(start + _BASE64_CHUNK, pos + usable)
            yield binascii.b2a_base64(view[start:end], newline=False)
        carry = bytes(view[pos + usable :])
    if carry:
        yield binascii.b2a_base64(carry, newline=False)


class JSONBody:
    """An ``application/json`` body: the artifacts, ``weightData`` as base64 made on the fly.

    Iterating it yields the JSON text in chunks; it can be iterated again (a redirect
    re-sends it). ``content_length`` is known up front.
    """

    def __init__(self, head: bytes, weight_data: Sequence[Any] | None, tail: bytes) -> None:
        self._head = head
        self._buffers = [memoryview(b).cast("B") for b in weight_data or []]
        self._tail = tail
        total = sum(len(b) for b in self._buffers)
        self.content_length = len(head) + 4 * -(-total // 3) + len(tail)

    content_type = JSON_CONTENT_TYPE

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        yield from _base64_chunks(self._buffers)
        yield self._tail

    def __len__(self) -> int:
        return self.content_length

    def to_bytes(self) -> bytes:
        """The whole body as one bytes object (a copy; for tests and small models)."""
        return b"".join(self)


def encode_json(model_json_obj: Mapping[str, Any], weight_data: Sequence[Any] | None) -> JSONBody:
    """The JSON body for a model.json object (as ``model_json_object`` makes it).

    ``weightsManifest`` becomes the flat ``weightSpecs``; ``weightData`` is the base64 of
    ``weight_data`` (left out when it is None). Keys follow TF.js's ``ModelArtifacts``
    order, unknown keys after them; numbers are written as JSON.stringify writes them.
    """
    rest = dict(model_json_obj)
    manifest = rest.pop("weightsManifest", None) or []
    specs = [w for group in manifest for w in group["weights"]]
    marker = "tfjs-store-weight-data-" + secrets.token_hex(16)
    obj: dict[str, Any] = {}
    for key in ARTIFACT_KEYS:
        if key == "weightSpecs":
            obj[key] = specs
        elif key == "weightData":
            if weight_data is not None:
                obj[key] = marker
        elif key in rest:
            obj[key] = rest.pop(key)
    obj.update(rest)
    text = js_stringify(obj).encode("utf-8", "surrogatepass")
    if weight_data is None:
        return JSONBody(text, None, b"")
    head, tail = text.split(marker.encode("ascii"))
    return JSONBody(head, weight_data, tail)


_JSON_BODY_TOPOLOGY = (
    "'modelTopology' must be a JSON object in a JSON upload (a string could be a binary "
    "GraphDef, which is not supported; the multipart body, TF.js's own, takes any JSON "
    "topology)"
)


def encode_artifacts(
    artifacts: ModelArtifacts, kind: BodyKind = "multipart", *, boundary: str | None = None
) -> MultipartBody | JSONBody:
    """The body TF.js's ``model.save(url)`` sends for ``artifacts`` (``kind="multipart"``),
    or the JSON body (``kind="json"``); model.json in TF.js's key order either way."""
    plan = plan_storage(artifacts, layout="single", single_path=WEIGHTS_PATH)
    json_obj = model_json_object(plan.model_json, "tfjs")
    weights = plan.data.buffers if artifacts.weight_data is not None else None
    if kind == "json":
        if not isinstance(artifacts.model_topology, (dict, type(None))):
            raise WireFormatError(_JSON_BODY_TOPOLOGY + "; send the multipart body instead")
        return encode_json(json_obj, weights)
    model_json = js_stringify(json_obj).encode("utf-8", "surrogatepass")
    return encode_multipart(model_json, weights, boundary=boundary)


# -- reading a multipart body ------------------------------------------------------------


def body_kind(media_type: str) -> BodyKind | None:
    """Which body a Content-Type's media type (lower case, no parameters) announces:
    ``+json`` types count as JSON; None for anything else."""
    if media_type == FORM_DATA:
        return "multipart"
    if media_type == JSON_CONTENT_TYPE or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return "json"
    return None


def received_boundary(boundary: bytes | None) -> str:
    """The ``boundary`` parameter of a received multipart Content-Type, checked."""
    if not boundary:
        raise WireFormatError("the multipart/form-data Content-Type has no boundary")
    if len(boundary) > MAX_RECEIVED_BOUNDARY:
        raise WireFormatError(
            f"the multipart boundary is longer than {MAX_RECEIVED_BOUNDARY} characters"
        )
    return boundary.decode("latin-1")


def form_part_names(
    disposition: bytes | None, params: Mapping[bytes, bytes]
) -> tuple[str, str | None]:
    """A part's (field name, file name or None) from its Content-Disposition header,
    given as its value (None: no such header) and its parsed parameters."""
    if disposition is None:
        raise WireFormatError("a multipart part has no Content-Disposition header")
    raw_name = params.get(b"name")
    if disposition != b"form-data" or raw_name is None:
        raise WireFormatError("a multipart part is not form-data with a name")
    raw_filename = params.get(b"filename")
    filename = None if raw_filename is None else raw_filename.decode("utf-8", "replace")
    return raw_name.decode("utf-8", "replace"), filename


def is_json_part(field: str, filename: str | None) -> bool:
    """A part holding JSON: TF.js's ``model.json``, or a picked file named ``*.json``."""
    return field == JSON_PART or (filename or "").lower().endswith(".json")


def is_tfjs_upload(fields: Sequence[str]) -> bool:
    """True when the parts are TF.js's upload: ``model.json`` and, optionally,
    ``model.weights.bin``, each once."""
    return sorted(fields) in ([JSON_PART], sorted([JSON_PART, WEIGHTS_PART]))


def decode_multipart_parts(model_json: Any, weight_data: Any | None) -> ModelArtifacts:
    """The artifacts of TF.js's upload from its parts' bytes (``weight_data`` None: no
    weights part). Manifest paths are ignored, as the weights come in one part."""
    where = "the uploaded model.json"
    parsed = ModelJSON.parse(parse_json_bytes(model_json, where), where)
    return ModelArtifacts.from_model_json(parsed, weight_data, drop_keys=(RECORD_KEY,))


# -- reading the JSON body ---------------------------------------------------------------
#
# The body may be large (it is memory-mapped by the bridge). Long base64 strings (MASK_MIN
# bytes and more: the weights) are found with one regular-expression pass and replaced by
# short placeholders; the rest is parsed by the JSON parser; the top-level weightData
# placeholder(s) are then decoded straight from the buffer into one bytes each. A long
# string elsewhere gets its own text back. So the heap holds the decoded weights once,
# plus the small JSON, and no Python loop walks the body. Duplicate keys behave as in
# JSON.parse: the last one wins.

_LONG_BASE64 = re.compile(rb'"(?:data:[^",\\]{0,200};base64,)?[A-Za-z0-9+/=]{%d,}"' % MASK_MIN)
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_DATA_URL = re.compile(rb"data:[^,\"\\]{0,200};base64,")
_DATA_URL_TEXT = re.compile(r"data:[^,]{0,200};base64,")
_NOT_BASE64 = (
    "is not base64: only A-Z a-z 0-9 + / and '=' padding may appear "
    "(standard alphabet, RFC 4648 section 4)"
)
_SNAKE_NAMES = {
    re.sub(r"([A-Z])", r"_\1", key).lower(): key
    for key in (*ARTIFACT_KEYS, "weightsManifest")
    if not key.islower()
}
"""Python spellings of the keys, refused with the right one named."""


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
        raise WireFormatError(
            f"the JSON upload holds {kept} or more bytes besides the base64 weights, over "
            f"the limit of {max_json_bytes} bytes (weightData with JSON escapes such as "
            "'\\/' or '\\n' counts against this limit)",
            too_large=True,
        )
    pieces.append(buf[pos:])
    return b"".join(pieces), spans, f"\x00{token}:"


def _decode_span(buf: Any, start: int, end: int, where: str) -> bytes:
    """The bytes of the base64 string at ``buf[start:end]`` (quotes included)."""
    start += 1
    end -= 1
    prefix = _DATA_URL.match(buf, start, end)
    if prefix is not None:  # FileReader.readAsDataURL's form
        start = prefix.end()
    if _BASE64.fullmatch(buf, start, end) is None:
        raise WireFormatError(f"{where} {_NOT_BASE64}")
    with memoryview(buf) as view, view[start:end] as part:
        return _a2b(part, where)


def _decode_text(text: str, where: str) -> bytes:
    """The bytes of a (short, or escaped) base64 string already parsed from the JSON."""
    prefix = _DATA_URL_TEXT.match(text)
    if prefix is not None:
        text = text[prefix.end() :]
    cleaned = "".join(text.split()).encode("ascii", "replace")  # MIME line breaks
    if _BASE64.fullmatch(cleaned) is None:
        raise WireFormatError(f"{where} {_NOT_BASE64}")
    return _a2b(cleaned, where)


def _a2b(data: Any, where: str) -> bytes:
    if len(data) % 4:
        raise WireFormatError(
            f"{where} is not base64: its length ({len(data)}) is not a multiple of 4 "
            "(padding '=' missing?)"
        )
    try:
        return binascii.a2b_base64(data)
    except binascii.Error as exc:
        raise WireFormatError(f"{where} is not base64: {exc}") from None


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
            raise WireFormatError(
                "'weightData' must be a base64 string, a list of base64 strings, or null"
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


def decode_json(buf: Any, *, max_json_bytes: int) -> ModelArtifacts:
    """The artifacts of a JSON body held in ``buf`` (bytes or a memory map).

    Raises ``WireFormatError`` (``too_large`` when the JSON besides the weights is
    larger than ``max_json_bytes``) or ``InvalidModelError``.
    """
    if len(buf) == 0:
        raise WireFormatError("the JSON upload is empty")
    masked, spans, prefix = _mask(buf, max_json_bytes)
    obj = parse_json_bytes(masked, "the JSON upload")
    del masked
    if not isinstance(obj, dict):
        raise WireFormatError("the JSON upload is malformed: the body is not a JSON object")
    placeholders = _Placeholders(buf, spans, prefix)
    weight_data = obj.pop("weightData", None)
    refs = weight_data if isinstance(weight_data, list) else [weight_data]
    in_weights = sum(1 for v in refs if isinstance(v, str) and placeholders.index(v) is not None)
    if in_weights < len(spans):  # long strings elsewhere get their text back
        try:
            obj = placeholders.restore(obj)
        except RecursionError:
            raise WireFormatError("the JSON upload is malformed: it is nested too deeply") from None
    if "weightsManifest" in obj:
        raise WireFormatError(
            "a JSON upload holds the model's artifacts: 'weightSpecs' (a flat list of "
            "weight specs) and 'weightData' (base64), not a model.json's 'weightsManifest'"
        )
    for snake, camel in _SNAKE_NAMES.items():
        if snake in obj:
            raise WireFormatError(f"unknown key {snake!r} in the JSON upload (use {camel!r})")
    if obj.get("modelTopology") is None and obj.get("weightSpecs") is None:
        raise WireFormatError("the JSON upload has neither 'modelTopology' nor 'weightSpecs'")
    if "weightSpecs" in obj and not isinstance(obj["weightSpecs"], (list, type(None))):
        raise WireFormatError("'weightSpecs' must be a flat list of weight specs")
    if not isinstance(obj.get("modelTopology"), (dict, type(None))):
        raise WireFormatError(_JSON_BODY_TOPOLOGY)
    data: Any
    if weight_data is None:
        data = None
    elif isinstance(weight_data, list):
        data = [placeholders.weights(v, f"'weightData'[{i}]") for i, v in enumerate(weight_data)]
    else:
        data = placeholders.weights(weight_data, "'weightData'")
    fields = {k: v for k, v in obj.items() if k != RECORD_KEY}
    return ModelArtifacts.create(**fields, weightData=data)
