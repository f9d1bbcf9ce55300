"""numpy arrays <-> TF.js weight bytes (spec §2, §12.2).

``encode_weights`` writes what ``tf.io.encodeWeights`` writes; ``decode_weights`` reads
what ``tf.io.decodeWeights`` reads, including quantized weights, with TF.js's rounding.
Decoded arrays are views into the given buffers whenever a weight lies inside one
buffer (read-only if the buffer is); a weight that spans buffers is joined once.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple, TypeAlias

import numpy as np
from pydantic import ValidationError

from ..errors import InvalidModelError, WeightDataError
from .schemas import Quantization, WeightSpec, invalid_model_error
from .shards import CompositeBuffer

__all__ = [
    "EncodedWeights",
    "QuantizeOption",
    "decode_weights",
    "dequantize",
    "encode_weight_chunks",
    "encode_weights",
    "quantize_weights",
    "resolve_quantization",
    "weight_byte_ranges",
]

_STORED_NP = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "bool": np.dtype(np.bool_),
    "complex64": np.dtype("<c8"),
    "uint8": np.dtype(np.uint8),
    "uint16": np.dtype("<u2"),
    "float16": np.dtype("<f2"),
}
_INT32 = np.iinfo(np.int32)

Tensors: TypeAlias = Mapping[str, Any] | Iterable[tuple[str, Any] | Mapping[str, Any]]
QuantizeOption: TypeAlias = str | Mapping[str, str | Sequence[str] | bool] | None


class EncodedWeights(NamedTuple):
    """What ``encode_weights`` returns: the specs and the concatenated bytes."""

    specs: list[WeightSpec]
    data: bytes


def _items(tensors: Tensors) -> list[tuple[str, Any]]:
    if isinstance(tensors, Mapping):
        return [(str(k), v) for k, v in tensors.items()]
    out = []
    for item in tensors:
        if isinstance(item, Mapping):  # TF.js's [{name, tensor}] form
            out.append((str(item["name"]), item.get("tensor", item.get("data"))))
        else:
            name, value = item
            out.append((str(name), value))
    return out


def _contiguous(arr: np.ndarray, dtype: Any) -> np.ndarray:
    out = np.asarray(arr, dtype=dtype)
    return out if out.flags.c_contiguous else np.array(out, order="C")


def _tf_array(name: str, value: Any) -> tuple[np.ndarray, str]:
    """The array in the TF.js dtype it will be stored as, little-endian and contiguous."""
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    kind = arr.dtype.kind
    if kind in "USO":
        return arr, "string"
    if kind == "b":
        return _contiguous(arr, np.bool_), "bool"
    if kind == "f":
        return _contiguous(arr, "<f4"), "float32"
    if kind in "iu":
        if arr.size and arr.dtype.itemsize >= 4 and arr.dtype != np.int32:
            lo, hi = arr.min(), arr.max()
            if lo < _INT32.min or hi > _INT32.max:
                raise InvalidModelError(
                    f"weight {name!r}: values of dtype {arr.dtype} do not fit in int32 "
                    f"(range {lo}..{hi})"
                )
        return _contiguous(arr, "<i4"), "int32"
    if kind == "c":
        return _contiguous(arr, "<c8"), "complex64"
    raise InvalidModelError(f"Unsupported dtype in weight '{name}': {arr.dtype}")


def _string_bytes(name: str, arr: np.ndarray) -> bytes:
    parts: list[bytes] = []
    for element in arr.reshape(-1).tolist():
        if isinstance(element, str):
            try:
                raw = element.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError as exc:
                raise InvalidModelError(
                    f"weight {name!r}: string element {len(parts) // 2} holds a lone "
                    f"surrogate ({element[exc.start]!r}), which is not text UTF-8 can encode"
                ) from None
        elif isinstance(element, (bytes, bytearray, memoryview)):
            raw = bytes(element)
        else:
            raise InvalidModelError(
                f"weight {name!r}: string tensors hold str or bytes, got {type(element).__name__}"
            )
        parts.append(len(raw).to_bytes(4, "little"))
        parts.append(raw)
    return b"".join(parts)


def resolve_quantization(names: Sequence[str], quantize: QuantizeOption) -> dict[str, str]:
    """Which weights to quantize to which dtype.

    ``quantize`` is a dtype (all weights), or a mapping from dtype to fnmatch patterns,
    or to ``True`` for the one fallthrough dtype (the converter's
    ``map_layers_to_quantization_dtype``).
    """
    if quantize is None:
        return {}
    if isinstance(quantize, str):
        quantize = {quantize: True}
    out: dict[str, str] = {}
    fallthrough = None
    for dtype, patterns in quantize.items():
        if dtype not in ("uint8", "uint16", "float16"):
            raise ValueError(
                f"unknown quantization dtype {dtype!r}; choose uint8, uint16 or float16"
            )
        if patterns is True:
            if fallthrough is not None:
                raise ValueError(
                    "more than one quantization fallthrough given; only one is allowed"
                )
            fallthrough = dtype
            continue
        if patterns is False:
            continue
        for pattern in [patterns] if isinstance(patterns, str) else patterns:
            for match in fnmatch.filter(names, pattern):
                if out.get(match, dtype) != dtype:
                    raise ValueError(
                        f"two quantization dtypes ({out[match]}, {dtype}) match weight {match!r}"
                    )
                out[match] = dtype
    if fallthrough is not None:
        for name in names:
            out.setdefault(name, fallthrough)
    return out


def quantize_weights(data: np.ndarray, dtype: str) -> tuple[np.ndarray, Quantization]:
    """Quantize float32 ``data`` as the TF.js converter does (spec §12.2)."""
    data = np.asarray(data)
    if data.dtype != np.float32:
        raise ValueError(f"only float32 weights can be quantized, got {data.dtype}")
    if dtype == "float16":
        with np.errstate(over="ignore", under="ignore"):  # inf or 0, as numpy casts
            half = data.astype("<f2")
        return half, Quantization(dtype="float16", original_dtype="float32")
    if dtype not in ("uint8", "uint16"):
        raise ValueError(f"unknown quantization dtype {dtype!r}")
    target = np.dtype(np.uint8) if dtype == "uint8" else np.dtype("<u2")
    if data.size == 0:
        return np.zeros(data.shape, target), Quantization(
            dtype=dtype, min=0.0, scale=1.0, original_dtype="float32"
        )
    as64 = data.astype(np.float64)
    min_val = float(as64.min())
    max_val = float(as64.max())
    if not (np.isfinite(min_val) and np.isfinite(max_val)):
        raise ValueError(f"cannot quantize to {dtype}: the weight holds NaN or infinity")
    if min_val == max_val:
        return np.zeros(data.shape, target), Quantization(
            dtype=dtype, min=min_val, scale=1.0, original_dtype="float32"
        )
    quant_max = float(np.iinfo(target).max)
    scale = (max_val - min_val) / quant_max
    if min_val <= 0 <= max_val:
        zero_point = float(np.round((0 - min_val) / scale))
        nudged_min = -zero_point * scale
        nudged_max = quant_max * scale + nudged_min
    else:
        nudged_min, nudged_max = min_val, max_val
    q = np.round((np.clip(as64, nudged_min, nudged_max) - nudged_min) / scale).astype(target)
    return q, Quantization(dtype=dtype, min=nudged_min, scale=scale, original_dtype="float32")


def encode_weight_chunks(
    tensors: Tensors, group: str | None = None, *, quantize: QuantizeOption = None
) -> tuple[list[WeightSpec], list[memoryview]]:
    """Like ``encode_weights`` but returns one buffer per weight, without joining them.

    A float32/int32/complex64/bool array that is already little-endian and contiguous
    is not copied: its buffer is a view of the array.
    """
    items = _items(tensors)
    plan = resolve_quantization([n for n, _ in items], quantize)
    specs: list[WeightSpec] = []
    chunks: list[memoryview] = []
    seen: set[str] = set()
    for name, value in items:
        if name in seen:
            raise InvalidModelError(f"duplicate weight name {name!r}")
        seen.add(name)
        arr, dtype = _tf_array(name, value)
        quantization = None
        if name in plan and dtype == "float32":
            try:
                arr, quantization = quantize_weights(arr, plan[name])
            except ValueError as exc:  # e.g. NaN or infinity in the weight
                raise InvalidModelError(f"weight {name!r}: {exc}") from None
        spec = WeightSpec(name=name, shape=list(arr.shape), dtype=dtype)
        if group is not None:
            spec.group = group
        if quantization is not None:
            spec.quantization = quantization
        specs.append(spec)
        if dtype == "string":
            chunks.append(memoryview(_string_bytes(name, arr)))
        else:
            chunks.append(memoryview(arr.reshape(-1).data).cast("B"))
    return specs, chunks


def encode_weights(
    tensors: Tensors, group: str | None = None, *, quantize: QuantizeOption = None
) -> EncodedWeights:
    """``tf.io.encodeWeights``: specs plus all weight bytes concatenated in input order.

    ``tensors`` is a mapping or a list of ``(name, array)`` pairs. numpy dtypes map to
    TF.js's: floats to float32, integers to int32 (range-checked), bool, complex to
    complex64, str/bytes/object to string. ``group`` (e.g. ``"optimizer"``) is written
    into every spec. ``quantize`` quantizes float32 weights as the converter does.
    """
    specs, chunks = encode_weight_chunks(tensors, group, quantize=quantize)
    return EncodedWeights(specs, b"".join(chunks))


def _specs(specs: Iterable[WeightSpec | Mapping[str, Any]]) -> list[WeightSpec]:
    out = []
    for i, spec in enumerate(specs):
        if isinstance(spec, WeightSpec):
            out.append(spec)
            continue
        try:
            out.append(WeightSpec.model_validate(spec))
        except ValidationError as exc:
            raise invalid_model_error(exc, f"weight spec {i}") from None
    return out


def weight_byte_ranges(
    specs: Sequence[WeightSpec], data: CompositeBuffer
) -> list[tuple[int, int]]:
    """Each weight's ``(start, end)`` in the concatenated data; checks the total length.

    Raises ``WeightDataError`` when the data is shorter or longer than the specs say,
    or a string length prefix runs past the end. Nothing is allocated per element.
    """
    total = data.byte_length
    ranges = []
    pos = 0
    for spec in specs:
        start = pos
        size = spec.byte_length
        if size is None:  # string: walk the uint32 length prefixes
            count = spec.size
            if count * 4 > total - pos:
                raise WeightDataError(
                    f"weight {spec.name!r} (string, {count} elements) needs at least "
                    f"{count * 4} bytes at offset {pos}, but only {total - pos} remain"
                )
            for _ in range(count):
                if pos + 4 > total:
                    raise WeightDataError(
                        f"weight {spec.name!r}: string length prefix at offset {pos} "
                        f"runs past the end of the weight data ({total} bytes)"
                    )
                length = data.read_uint32(pos)
                pos += 4 + length
                if pos > total:
                    raise WeightDataError(
                        f"weight {spec.name!r}: a string of {length} bytes runs past "
                        f"the end of the weight data ({total} bytes)"
                    )
        else:
            pos += size
            if pos > total:
                raise WeightDataError(
                    f"weight {spec.name!r} needs {size} bytes at offset {start}, but the "
                    f"weight data has only {total - start} left (total {total} bytes)"
                )
        ranges.append((start, pos))
    if pos != total:
        raise WeightDataError(
            f"the weight data is {total} bytes but the weight specs describe {pos} bytes"
        )
    return ranges


def _round_half_up(x: np.ndarray) -> np.ndarray:
    """JavaScript's ``Math.round``: halves go toward +infinity."""
    floor: np.ndarray = np.floor(x)
    out: np.ndarray = floor + ((x - floor) >= 0.5)
    return out


def _to_int32(x: np.ndarray) -> np.ndarray:
    """ECMAScript ToInt32 of integral float64 values (what storing into an Int32Array does).

    NaN and infinities become 0; everything else wraps modulo 2**32.
    """
    x = np.where(np.isfinite(x), x, 0.0)
    wrapped = np.fmod(x, 2.0**32)  # exact for float64
    wrapped = np.where(wrapped < 0, wrapped + 2.0**32, wrapped)
    out: np.ndarray = wrapped.astype(np.uint32).view(np.int32)
    return out


def dequantize(q: np.ndarray, quantization: Quantization, dtype: str) -> np.ndarray:
    """Quantized values to ``dtype`` exactly as TF.js's ``decodeWeights`` does.

    float32: ``q * scale + min`` in float64, then rounded to float32 (overflow gives
    infinity, as a JS ``Float32Array`` store does). int32: ``Math.round`` of the same
    (halves toward +infinity), stored as by an ``Int32Array`` (wrapping modulo 2**32).
    """
    if quantization.dtype == "float16":
        return q.astype(np.float32)
    if quantization.scale is None or quantization.min is None:
        raise InvalidModelError(
            f"quantization {quantization.dtype} has no corresponding metadata min and scale"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        values = q.astype(np.float64) * quantization.scale + quantization.min
        if dtype == "int32":
            return _to_int32(_round_half_up(values))
        return values.astype(np.float32)


def _shaped(flat: np.ndarray, spec: WeightSpec) -> np.ndarray:
    try:
        return flat.reshape(spec.shape)
    except ValueError:  # e.g. [2**40, 2**40, 0]: no elements, but too big a shape for numpy
        raise WeightDataError(
            f"weight {spec.name!r}: shape {spec.shape} is too large for a numpy array"
        ) from None


def decode_weights(
    weight_data: Any,
    specs: Iterable[WeightSpec | Mapping[str, Any]],
    *,
    strings: Literal["str", "bytes"] = "str",
) -> dict[str, np.ndarray]:
    """``tf.io.decodeWeights``: name -> numpy array, for one buffer or a list of buffers.

    Numeric weights are views into ``weight_data`` when they lie inside one buffer.
    Quantized weights are dequantized (a new array). String tensors become object
    arrays of ``str`` (undecodable bytes kept via ``surrogateescape``), or of ``bytes``
    with ``strings="bytes"``.
    """
    spec_list = _specs(specs)
    data = weight_data if isinstance(weight_data, CompositeBuffer) else CompositeBuffer(weight_data)
    ranges = weight_byte_ranges(spec_list, data)
    out: dict[str, np.ndarray] = {}
    for spec, (start, end) in zip(spec_list, ranges, strict=True):
        if spec.name in out:
            raise InvalidModelError(f"duplicate weight name {spec.name!r}")
        if spec.dtype == "string":
            values: list[Any] = []
            pos = start
            while pos < end:
                length = data.read_uint32(pos)
                raw = bytes(data.read(pos + 4, length))
                values.append(raw if strings == "bytes" else raw.decode("utf-8", "surrogateescape"))
                pos += 4 + length
            strs = np.empty(len(values), dtype=object)
            strs[:] = values
            out[spec.name] = _shaped(strs, spec)
            continue
        stored = _STORED_NP[spec.stored_dtype]
        raw_view = data.read(start, end - start)
        arr = np.frombuffer(raw_view, dtype=stored)
        if spec.quantization is not None:  # on the flat values: elementwise, and a shape
            arr = dequantize(arr, spec.quantization, spec.dtype)  # too big for the wider
        out[spec.name] = _shaped(arr, spec)  # dtype is then refused by _shaped
    return out
