"""model.json bytes exactly as TF.js's ``JSON.stringify`` writes them (spec §1.6, §2.4, §10, §14).

Python's ``json`` differs from JavaScript in number formatting (``1.0`` vs ``1``,
``1e-07`` vs ``1e-7``), NaN handling and lone surrogates, so this module writes JSON
itself. Key order is insertion order, as in JavaScript.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from .schemas import ModelArtifactsInfo, ModelJSON, json_object

__all__ = [
    "KeyOrder",
    "artifacts_info",
    "js_number",
    "js_stringify",
    "json_byte_length",
    "model_json_object",
]

KeyOrder = Literal["tfjs", "tfjs-node"]
"""Whose key order a model.json is written in: ``tfjs`` is TF.js's
``getModelJSONForModelArtifacts`` (http, downloads, the converter-style files);
``tfjs-node`` is tfjs-node's ``file://`` handler."""

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group(0)
    return _ESCAPES.get(ch) or f"\\u{ord(ch):04x}"


def _js_string(value: str) -> str:
    # Python str cannot hold a valid surrogate *pair* (those are decoded to one code
    # point), so every surrogate here is lone: JS escapes those (well-formed stringify).
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, value) + '"'


def js_number(value: float | int) -> str:
    """Format a number as ``Number.prototype.toString`` does (ECMA-262 Number::toString)."""
    if isinstance(value, bool):
        raise TypeError("js_number() takes a number, not a bool")
    if not isinstance(value, float) or type(value) is not float:
        # ints (also numpy integers, which have __index__) and numpy floats: plain Python
        # values first, so repr() below sees a float and not "np.float64(...)".
        if hasattr(value, "__index__"):
            value = operator.index(value)
            if abs(value) < 2**53:
                return str(value)
        try:
            value = float(value)
        except OverflowError:  # an integer beyond float range: JS reads it as Infinity
            return "null"
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp = repr(abs(value)).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    if frac_part == "0":
        frac_part = ""
    digits = (int_part + frac_part).lstrip("0")
    # value = 0.<digits> * 10**n
    n = len(int_part.lstrip("0")) + (int(exp) if exp else 0)
    if int_part.strip("0") == "":
        stripped = frac_part.lstrip("0")
        n = -(len(frac_part) - len(stripped)) + (int(exp) if exp else 0)
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        exp_text = ("+" if e >= 0 else "-") + str(abs(e))
        out = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + exp_text
    return sign + out


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_js_string(value))
    elif isinstance(value, (int, float)):
        out.append(js_number(value))
    elif isinstance(value, Mapping):
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(_js_string(str(key)))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif hasattr(value, "tolist"):  # numpy scalars and arrays
        _write(value.tolist(), out)
    else:
        _write(json_object(value), out) if hasattr(value, "to_json_obj") else _fail(value)


def _fail(value: Any) -> None:
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def js_stringify(value: Any) -> str:
    """``JSON.stringify(value)`` with no indentation."""
    out: list[str] = []
    _write(json_object(value), out)
    return "".join(out)


def json_byte_length(value: Any) -> int:
    """UTF-8 byte length of ``JSON.stringify(value)``; 0 when the value is ``None``."""
    if value is None:
        return 0
    return len(js_stringify(value).encode("utf-8", "surrogatepass"))


_TFJS_ORDER = (
    "modelTopology",
    "format",
    "generatedBy",
    "convertedBy",
    "weightsManifest",
    "signature",
    "userDefinedMetadata",
    "modelInitializer",
    "initializerSignature",
    "trainingConfig",
)
_NODE_ORDER = (
    "modelTopology",
    "weightsManifest",
    "format",
    "generatedBy",
    "convertedBy",
    "trainingConfig",
    "signature",
    "userDefinedMetadata",
    # tfjs-node drops these two (spec §10); we keep them rather than lose data.
    "modelInitializer",
    "initializerSignature",
)
# Written by TF.js even when null (JSON.stringify keeps null, drops undefined).
_KEPT_WHEN_NULL = ("format", "generatedBy", "convertedBy")


def model_json_object(
    model: ModelJSON, key_order: KeyOrder = "tfjs", extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The model.json object with TF.js's key order ``key_order``.

    ``format``/``generatedBy``/``convertedBy`` are written when set (even to null), the
    other optional keys only when not null, unknown keys after the known ones.
    """
    items = dict(model._json_items())
    order = _TFJS_ORDER if key_order == "tfjs" else _NODE_ORDER
    out: dict[str, Any] = {}
    for key in order:
        if key not in items:
            continue
        value = items[key]
        if value is None and key not in _KEPT_WHEN_NULL and key != "modelTopology":
            continue
        out[key] = json_object(value)
    if "weightsManifest" not in out:
        out["weightsManifest"] = []
        out = {k: out[k] for k in _ordered_keys(out, order)}  # at its place in the key order
    for key, value in items.items():
        if key not in out and key not in order:
            out[key] = json_object(value)
    for key, value in (extra or {}).items():
        out[key] = json_object(value)
    return out


def _ordered_keys(obj: Mapping[str, Any], order: Sequence[str]) -> Iterable[str]:
    return [k for k in order if k in obj] + [k for k in obj if k not in order]


def artifacts_info(
    model_topology: Any, weight_specs: Any, weight_data_bytes: int
) -> ModelArtifactsInfo:
    """``getModelArtifactsInfoForJSON``: byte counts as TF.js computes them (spec §1.6)."""
    if isinstance(model_topology, (bytes, bytearray, memoryview)):
        from ..errors import InvalidModelError

        raise InvalidModelError("Expected JSON model topology, received ArrayBuffer.")
    return ModelArtifactsInfo(
        model_topology_type="JSON",
        model_topology_bytes=json_byte_length(model_topology),
        weight_specs_bytes=json_byte_length(weight_specs),
        weight_data_bytes=weight_data_bytes,
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_bytes(raw: bytes | bytearray | memoryview, where: str = "model.json") -> Any:
    """Parse JSON as ``JSON.parse`` would accept it, with errors that name ``where``.

    Invalid UTF-8, NaN/Infinity literals, pathological nesting (the C parser's
    recursion limit) and syntax errors raise ``InvalidModelError``.
    """
    import json

    from ..errors import InvalidModelError

    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidModelError(
            f"{where} is not valid UTF-8, so not valid JSON ({exc.reason} at byte {exc.start})"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidModelError(f"{where} is not valid JSON: {exc}") from None


def parse_model_json(raw: bytes | bytearray | memoryview, where: str = "model.json") -> ModelJSON:
    """Bytes of a model.json to a validated ``ModelJSON``."""
    return ModelJSON.parse(parse_json_bytes(raw, where), where)
