"""Property tests (Hypothesis) for the codec, sharding, the JS number writer and validation.

- decode(encode(x)) == x, bit for bit, for every dtype and shape (empty, scalar, unicode and
  raw-byte strings, NaN payloads), also when the bytes are cut into shards of any size and
  the shards are handed to decode as separate buffers.
- js_number(x) round-trips and follows ECMA-262 Number::toString (checked against an
  independent implementation of the rules written here with ``decimal``).
- Random junk fed to ModelJSON.parse / parse_model_json / decode_weights / ModelArtifacts never
  raises anything but InvalidModelError (or its subclasses).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
from decimal import Decimal
from typing import Any

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tfjs_store import InvalidModelError, ModelArtifacts, ModelJSON, decode_weights, encode_weights
from tfjs_store.format.jsonfmt import (
    js_number,
    js_stringify,
    json_byte_length,
    model_json_object,
    parse_model_json,
)
from tfjs_store.format.layout import plan_storage

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------------------------------------
# strategies

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


def _object_array(values: list[Any], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out.reshape(shape)


@st.composite
def tensors(draw: st.DrawFn) -> tuple[str, np.ndarray]:
    """(TF.js dtype, array) with arbitrary bit patterns for the float types."""
    dtype = draw(st.sampled_from(["float32", "int32", "bool", "complex64", "string", "bytes"]))
    shape = draw(shapes)
    size = math.prod(shape)
    if dtype == "float32":
        bits = draw(hnp.arrays(np.dtype("<u4"), shape))
        return dtype, bits.view("<f4")
    if dtype == "complex64":
        bits = draw(hnp.arrays(np.dtype("<u4"), (*shape, 2)))
        return dtype, bits.view("<c8").reshape(shape)
    if dtype == "int32":
        return dtype, draw(hnp.arrays(np.dtype("<i4"), shape))
    if dtype == "bool":
        return dtype, draw(hnp.arrays(np.dtype(bool), shape))
    if dtype == "string":
        values = draw(st.lists(st.text(max_size=8), min_size=size, max_size=size))
        return dtype, _object_array(values, shape)
    values = draw(st.lists(st.binary(max_size=8), min_size=size, max_size=size))
    return dtype, _object_array(values, shape)


named_tensors = st.lists(
    st.tuples(st.text(min_size=1, max_size=6), tensors()),
    min_size=0,
    max_size=6,
    unique_by=lambda item: item[0],
)


def _same(original: np.ndarray, decoded: np.ndarray, kind: str) -> None:
    assert decoded.shape == original.shape
    if kind in ("string", "bytes"):
        assert decoded.dtype == object
        assert decoded.tolist() == original.tolist()
    else:
        assert decoded.dtype == original.dtype
        assert decoded.tobytes() == original.tobytes()  # bit for bit: -0.0, NaN payloads


def _strings_mode(items: list[tuple[str, tuple[str, np.ndarray]]]) -> Any:
    kinds = {kind for _, (kind, _) in items}
    assume(not {"string", "bytes"} <= kinds)  # one decode mode per example
    return "bytes" if "bytes" in kinds else "str"


# ---------------------------------------------------------------------------------------------
# codec round trips


@SETTINGS
@given(named_tensors, st.sampled_from([None, "model", "optimizer"]))
def test_decode_encode_round_trip(items: list[Any], group: str | None) -> None:
    mode = _strings_mode(items)
    encoded = encode_weights([(name, array) for name, (_, array) in items], group)
    assert [s.name for s in encoded.specs] == [name for name, _ in items]
    assert all(s.group == group for s in encoded.specs)
    decoded = decode_weights(encoded.data, encoded.specs, strings=mode)
    assert list(decoded) == [name for name, _ in items]
    for name, (kind, array) in items:
        _same(array, decoded[name], kind)


@SETTINGS
@given(named_tensors, st.integers(min_value=1, max_value=64), st.text(max_size=4))
def test_round_trip_across_any_sharding(items: list[Any], shard_size: int, tag: str) -> None:
    mode = _strings_mode(items)
    artifacts = ModelArtifacts.from_weights([(name, array) for name, (_, array) in items])
    plan = plan_storage(artifacts, shard_size_bytes=shard_size, tag=tag or None)
    shards = [b"".join(bytes(v) for v in plan.data.iter_ranges(f.start, f.end)) for f in plan.files]
    assert all(len(s) == shard_size for s in shards[:-1])
    assert sum(map(len, shards)) == artifacts.weight_data_bytes
    n = len(shards)
    assert [f.path for f in plan.files] == [
        f"group1-shard{i}of{n}{'.' + tag if tag else ''}.bin" for i in range(1, n + 1)
    ]
    # what a loader does: re-read model.json, get each shard as its own buffer, decode
    model_json = parse_model_json(js_stringify(model_json_object(plan.model_json)).encode())
    decoded = decode_weights(shards, model_json.weight_specs, strings=mode)
    for name, (kind, array) in items:
        _same(array, decoded[name], kind)


@SETTINGS
@given(named_tensors, st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_round_trip_with_arbitrary_buffer_cuts(items: list[Any], cuts: list[int]) -> None:
    mode = _strings_mode(items)
    encoded = encode_weights([(name, array) for name, (_, array) in items])
    points = sorted({min(c, len(encoded.data)) for c in cuts} | {0, len(encoded.data)})
    buffers = [bytearray(encoded.data[a:b]) for a, b in itertools.pairwise(points)]
    decoded = decode_weights(buffers, encoded.specs, strings=mode)
    for name, (kind, array) in items:
        _same(array, decoded[name], kind)


@SETTINGS
@given(
    hnp.arrays(np.float32, st.integers(1, 40), elements=st.floats(-1e6, 1e6, width=32)),
    st.sampled_from(["uint8", "uint16"]),
)
def test_affine_quantization_error_is_bounded(array: np.ndarray, dtype: str) -> None:
    encoded = encode_weights({"w": array}, quantize=dtype)
    q = encoded.specs[0].quantization
    assert q is not None and q.scale is not None
    out = decode_weights(encoded.data, encoded.specs)["w"]
    assert out.dtype == np.float32 and out.shape == array.shape
    # one quantization step, plus float32 rounding of the result
    bound = q.scale * 0.5 + q.scale * 1e-6 + np.abs(array).max() * 2e-7 + 1e-30
    if float(array.min()) != float(array.max()):
        assert np.all(np.abs(out.astype(np.float64) - array.astype(np.float64)) <= bound * 1.0001)
    else:
        assert np.all(out == array)


# ---------------------------------------------------------------------------------------------
# JS number formatting


def ecma_number_to_string(x: float) -> str:
    """ECMA-262 Number::toString(x) for finite x, from the rules, using exact decimals."""
    if x == 0:
        return "0"
    if x < 0:
        return "-" + ecma_number_to_string(-x)
    exact = Decimal(x)
    best: Decimal | None = None
    for p in range(17):  # k = p + 1 significant digits; take the smallest k that round-trips
        rounded = Decimal(f"{x:.{p}e}")
        unit = Decimal(1).scaleb(rounded.adjusted() - p)
        fits = [c for c in (rounded - unit, rounded, rounded + unit) if float(c) == x]
        fits = [c for c in fits if len(c.normalize().as_tuple().digits) <= p + 1]
        if fits:
            best = min(fits, key=lambda c: abs(c - exact))  # closest to x
            break
    assert best is not None
    _sign, digit_tuple, exponent = best.normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = k + exponent  # x = 0.d1d2...dk * 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def test_oracle_agrees_with_the_spec_table() -> None:
    table = {1.0: "1", 1e-7: "1e-7", 1e21: "1e+21", 1e16: "10000000000000000", 0.00001: "0.00001"}
    for value, text in table.items():
        assert ecma_number_to_string(value) == text


finite_floats = st.floats(allow_nan=False, allow_infinity=False)
interesting_floats = st.one_of(
    finite_floats,
    st.integers(-(2**60), 2**60).map(float),
    st.builds(lambda m, e: m * 10.0**e, st.integers(1, 10**6), st.integers(-30, 30)),
    st.integers(-1074, 1023).map(lambda e: 2.0**e),
)


@SETTINGS
@given(interesting_floats)
def test_js_number_round_trips(x: float) -> None:
    text = js_number(x)
    assert float(text) == x
    assert float(json.loads(text)) == x


@settings(max_examples=200, deadline=None)
@given(interesting_floats)
def test_js_number_follows_ecmascript(x: float) -> None:
    assert js_number(x) == ecma_number_to_string(x)


@SETTINGS
@given(st.integers(-(10**30), 10**30))
def test_js_number_of_integers(n: int) -> None:
    text = js_number(n)
    if abs(n) < 2**53:
        assert text == str(n)
    else:
        assert text == ecma_number_to_string(float(n))


@SETTINGS
@given(st.sampled_from([math.nan, math.inf, -math.inf]))
def test_js_number_of_non_finite_is_null(x: float) -> None:
    assert js_number(x) == "null"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | finite_floats | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@SETTINGS
@given(json_values)
def test_js_stringify_is_json_that_reads_back(value: Any) -> None:
    text = js_stringify(value)
    # JS writes integral floats without a fraction ("1e+16", "2"): compare numbers as floats
    assert json.loads(text, parse_int=float) == value
    if value is not None:  # None means "absent" to json_byte_length: 0 bytes, as in TF.js
        assert json_byte_length(value) == len(text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# validation never leaks another exception type

junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(["float32", "int32", "bool", "string", "complex64", "uint8", "float16"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
SPEC_KEYS = ["name", "shape", "dtype", "group", "quantization"]
QUANT_KEYS = ["dtype", "min", "scale", "original_dtype"]
TOP_KEYS = [
    "modelTopology",
    "weightsManifest",
    "trainingConfig",
    "format",
    "generatedBy",
    "convertedBy",
    "signature",
    "userDefinedMetadata",
    "modelInitializer",
    "initializerSignature",
]


def _maybe(keys: list[str], value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), value, max_size=len(keys))


quantizations = _maybe(
    QUANT_KEYS,
    st.one_of(junk, st.sampled_from(["uint8", "uint16", "float16"]), st.floats(-2, 2)),
)
weight_dicts = st.one_of(
    junk,
    _maybe(
        SPEC_KEYS,
        st.one_of(
            junk,
            quantizations,
            st.lists(st.one_of(st.integers(-2, 5), junk), max_size=3),
        ),
    ),
)
groups = st.one_of(
    junk,
    st.fixed_dictionaries(
        {"paths": st.one_of(st.lists(st.text(max_size=5), max_size=3), junk)},
        optional={"weights": st.one_of(st.lists(weight_dicts, max_size=4), junk)},
    ),
)
model_dicts = st.one_of(
    junk,
    _maybe(TOP_KEYS, junk),
    st.fixed_dictionaries(
        {"weightsManifest": st.one_of(st.lists(groups, max_size=3), junk)},
        optional={
            "modelTopology": junk,
            "trainingConfig": st.one_of(
                junk, _maybe(["loss", "metrics", "optimizer_config"], junk)
            ),
        },
    ),
)


@settings(max_examples=120, deadline=None)
@given(model_dicts)
def test_model_json_parse_raises_only_invalid_model_error(raw: Any) -> None:
    try:
        parsed = ModelJSON.parse(raw)
    except InvalidModelError:
        return
    # whatever parses also writes and reads back
    again = parse_model_json(js_stringify(model_json_object(parsed)).encode("utf-8"))
    assert [s.name for s in again.weight_specs] == [s.name for s in parsed.weight_specs]


@settings(max_examples=120, deadline=None)
@given(st.one_of(st.binary(max_size=64), model_dicts.map(lambda v: json.dumps(v).encode())))
def test_parse_model_json_raises_only_invalid_model_error(raw: bytes) -> None:
    with contextlib.suppress(InvalidModelError):
        parse_model_json(raw)


spec_lists = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.text(max_size=3),
            "shape": st.lists(st.sampled_from([0, 1, 2, 3, 2**20, 2**40]), max_size=3),
            "dtype": st.sampled_from(["float32", "int32", "bool", "string", "complex64"]),
        },
        optional={
            "quantization": st.one_of(
                st.just({"dtype": "float16"}),
                st.builds(
                    lambda d, m, s: {"dtype": d, "min": m, "scale": s},
                    st.sampled_from(["uint8", "uint16"]),
                    st.floats(-1e300, 1e300),
                    st.floats(-1e300, 1e300),
                ),
            )
        },
    ),
    max_size=4,
)


@settings(max_examples=120, deadline=None)
@given(spec_lists, st.lists(st.binary(max_size=24), max_size=3))
def test_decode_of_random_data_raises_only_invalid_model_error(
    specs: list[dict[str, Any]], buffers: list[bytes]
) -> None:
    try:
        out = decode_weights(buffers, specs)
    except InvalidModelError:
        return
    assert len(out) == len(specs)


@settings(max_examples=120, deadline=None)
@given(spec_lists, st.binary(max_size=48))
def test_model_artifacts_raise_only_invalid_model_error(
    specs: list[dict[str, Any]], data: bytes
) -> None:
    try:
        artifacts = ModelArtifacts(model_topology={}, weight_specs=specs, weight_data=data)
        weights = artifacts.weights()  # may still refuse a shape numpy cannot hold
    except InvalidModelError:
        return
    assert len(weights) == len(specs)
