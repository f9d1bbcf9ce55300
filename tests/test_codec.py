"""The weight codec (spec §2, §12.2, §16.1-16.3): numpy arrays <-> TF.js weight bytes.

Every expected byte string below is copied from the spec's test vectors, which real TF.js
4.22.0 produced; none is computed by the code under test.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from typing import Any

import numpy as np
import pytest
from support.tfjs import FIXTURES_DIR

from tfjs_store import (
    InvalidModelError,
    ModelArtifacts,
    TfjsStoreError,
    WeightDataError,
    decode_weights,
    encode_weights,
)
from tfjs_store.format.codec import (
    EncodedWeights,
    dequantize,
    encode_weight_chunks,
    quantize_weights,
    resolve_quantization,
    weight_byte_ranges,
)
from tfjs_store.format.jsonfmt import js_stringify, parse_model_json
from tfjs_store.format.schemas import Quantization, WeightSpec
from tfjs_store.format.shards import CompositeBuffer


def f32(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def f32_bits(*bits: int) -> np.ndarray:
    return np.array(bits, dtype="<u4").view("<f4")


def strings(*values: Any) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def specs_json(specs: list[WeightSpec]) -> str:
    return js_stringify(specs)


def spec(name: str, shape: list[int], dtype: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "shape": shape, "dtype": dtype, **extra}


# ---------------------------------------------------------------------------------------------
# §16.1 plain encodings, one tensor each

SPEC_16_1 = [
    ("f", f32(1.5, -2), '{"name":"f","shape":[2],"dtype":"float32"}', "0000c03f000000c0"),
    ("i", np.int32([1, -2]), '{"name":"i","shape":[2],"dtype":"int32"}', "01000000feffffff"),
    ("b", np.array([True, False, True]), '{"name":"b","shape":[3],"dtype":"bool"}', "010001"),
    (
        "c",
        np.array([1.5 - 2j, 3 + 0.25j], np.complex64),
        '{"name":"c","shape":[2],"dtype":"complex64"}',
        "0000c03f000000c0000040400000803e",
    ),
    (
        "s",
        strings("a", "bc"),
        '{"name":"s","shape":[2],"dtype":"string"}',
        "0100000061020000006263",
    ),
    ("s2", strings("é", ""), '{"name":"s2","shape":[2],"dtype":"string"}', "02000000c3a900000000"),
]


@pytest.mark.parametrize(("name", "array", "spec_text", "hex_bytes"), SPEC_16_1)
def test_spec_16_1_encode(name: str, array: np.ndarray, spec_text: str, hex_bytes: str) -> None:
    encoded = encode_weights({name: array})
    assert isinstance(encoded, EncodedWeights)
    assert specs_json(encoded.specs) == f"[{spec_text}]"
    assert encoded.data.hex() == hex_bytes
    # the same through the named-tuple fields and unpacking
    specs, data = encoded
    assert specs is encoded.specs and data is encoded.data


@pytest.mark.parametrize(("name", "array", "spec_text", "hex_bytes"), SPEC_16_1)
def test_spec_16_1_decode(name: str, array: np.ndarray, spec_text: str, hex_bytes: str) -> None:
    out = decode_weights(bytes.fromhex(hex_bytes), [json.loads(spec_text)])
    assert list(out) == [name]
    got = out[name]
    assert got.shape == array.shape
    if array.dtype == object:
        assert got.dtype == object
        assert got.tolist() == array.tolist()
    else:
        assert got.dtype == array.dtype.newbyteorder("<") or got.dtype == array.dtype
        assert got.tobytes() == bytes.fromhex(hex_bytes)


def test_spec_16_1_empty_string_tensor_takes_no_bytes() -> None:
    encoded = encode_weights([("e", strings()), ("g", f32(7))])
    assert specs_json(encoded.specs) == (
        '[{"name":"e","shape":[0],"dtype":"string"},{"name":"g","shape":[1],"dtype":"float32"}]'
    )
    assert encoded.data.hex() == "0000e040"
    out = decode_weights(encoded.data, encoded.specs)
    assert out["e"].shape == (0,) and out["e"].dtype == object
    assert out["g"].tolist() == [7.0]


def test_spec_16_1_all_rows_with_group_model() -> None:
    tensors = [(name, array) for name, array, _, _ in SPEC_16_1]
    tensors += [("e", strings()), ("g", f32(7))]
    encoded = encode_weights(tensors, "model")
    expected_specs = [json.loads(text) for _, _, text, _ in SPEC_16_1]
    expected_specs += [spec("e", [0], "string"), spec("g", [1], "float32")]
    for s in expected_specs:
        s["group"] = "model"  # TF.js adds it last: {name, shape, dtype, group}
    assert specs_json(encoded.specs) == json.dumps(expected_specs, separators=(",", ":"))
    assert encoded.data.hex() == "".join(h for *_, h in SPEC_16_1) + "0000e040"
    assert all(s.group == "model" for s in encoded.specs)
    decoded = decode_weights(encoded.data, encoded.specs)
    assert list(decoded) == [name for name, _ in tensors]
    for name, array in tensors:
        assert decoded[name].tolist() == array.tolist(), name


def test_without_group_no_spec_has_a_group_key() -> None:
    encoded = encode_weights({"f": f32(1)})
    assert encoded.specs[0].group is None
    assert "group" not in js_stringify(encoded.specs)


def test_list_forms_of_input() -> None:
    as_map = encode_weights({"a": f32(1), "b": np.int32([2])})
    as_pairs = encode_weights([("a", f32(1)), ("b", np.int32([2]))])
    as_tfjs_list = encode_weights([{"name": "a", "tensor": f32(1)}, {"name": "b", "tensor": [2]}])
    for other in (as_pairs, as_tfjs_list):
        assert specs_json(other.specs) == specs_json(as_map.specs)
        assert other.data == as_map.data
    assert as_map.data.hex() == "0000803f02000000"


def test_input_order_is_kept() -> None:
    encoded = encode_weights([("z", f32(1)), ("a", f32(2)), ("m", f32(3))])
    assert [s.name for s in encoded.specs] == ["z", "a", "m"]
    assert encoded.data == f32(1, 2, 3).tobytes()


def test_string_scalar_and_2d_row_major() -> None:
    grid = strings("x", "yy", "zzz", "✓").reshape(2, 2)
    encoded = encode_weights([("s2d", grid), ("scalar", np.array("one", dtype=object))])
    assert specs_json(encoded.specs) == (
        '[{"name":"s2d","shape":[2,2],"dtype":"string"},'
        '{"name":"scalar","shape":[],"dtype":"string"}]'
    )
    assert encoded.data.hex() == (
        "0100000078020000007979030000007a7a7a03000000e29c93030000006f6e65"
    )
    out = decode_weights(encoded.data, encoded.specs)
    assert out["s2d"].shape == (2, 2) and out["s2d"].tolist() == [["x", "yy"], ["zzz", "✓"]]
    assert out["scalar"].shape == () and out["scalar"].item() == "one"


def test_numpy_unicode_and_bytes_arrays_are_strings() -> None:
    assert encode_weights({"s": np.array(["a", "bc"])}).data.hex() == "0100000061020000006263"
    assert encode_weights({"s": np.array([b"a", b"bc"])}).data.hex() == "0100000061020000006263"
    assert encode_weights({"s": ["a", "bc"]}).specs[0].dtype == "string"


def test_strings_as_bytes_and_invalid_utf8_round_trip() -> None:
    raw = [b"\xff\xfe", b"ok", b""]
    encoded = encode_weights({"s": strings(*raw)})
    assert encoded.data.hex() == "02000000fffe020000006f6b00000000"
    as_bytes = decode_weights(encoded.data, encoded.specs, strings="bytes")["s"]
    assert as_bytes.tolist() == raw
    as_str = decode_weights(encoded.data, encoded.specs)["s"]
    assert as_str[1] == "ok"
    # undecodable bytes survive as surrogate escapes and encode back to the same bytes
    assert encode_weights({"s": as_str}).data == encoded.data


def test_lone_surrogate_is_a_typed_error() -> None:
    with pytest.raises(InvalidModelError, match=r"weight 's'.*surrogate"):
        encode_weights({"s": strings("ok", "\ud800")})


def test_object_array_of_non_strings_is_refused() -> None:
    with pytest.raises(InvalidModelError, match=r"weight 'o'.*int"):
        encode_weights({"o": strings("a", 3)})


@pytest.mark.parametrize(
    "array",
    [
        np.array(["2020-01-01"], dtype="datetime64[D]"),
        np.array([1], dtype="timedelta64[s]"),
        np.zeros(2, dtype=[("a", "<i4")]),
    ],
    ids=["datetime64", "timedelta64", "structured"],
)
def test_unsupported_numpy_dtypes(array: np.ndarray) -> None:
    with pytest.raises(InvalidModelError, match="Unsupported dtype in weight 'w'"):
        encode_weights({"w": array})


def test_duplicate_names_when_encoding() -> None:
    with pytest.raises(InvalidModelError, match="duplicate weight name 'a'"):
        encode_weights([("a", f32(1)), ("a", f32(2))])


# ---------------------------------------------------------------------------------------------
# numpy input conversions


@pytest.mark.parametrize(
    ("array", "dtype", "hex_bytes"),
    [
        (np.array([1.5, -2], ">f4"), "float32", "0000c03f000000c0"),
        (np.array([1.5, -2], ">f8"), "float32", "0000c03f000000c0"),
        (np.array([1.5, -2], "<f8"), "float32", "0000c03f000000c0"),
        (np.array([1.5, -2], "<f2"), "float32", "0000c03f000000c0"),
        (np.array([1, -2], ">i4"), "int32", "01000000feffffff"),
        (np.array([1, -2], ">i8"), "int32", "01000000feffffff"),
        (np.array([1, -2], "i1"), "int32", "01000000feffffff"),
        (np.array([1, 65535], "<u2"), "int32", "01000000ffff0000"),
        (np.array([1.5 - 2j], ">c8"), "complex64", "0000c03f000000c0"),
        (np.array([1.5 - 2j], "<c16"), "complex64", "0000c03f000000c0"),
        ([1.5, -2.0], "float32", "0000c03f000000c0"),
        ([1, -2], "int32", "01000000feffffff"),
        ([True, False], "bool", "0100"),
        (1.5, "float32", "0000c03f"),
    ],
)
def test_dtype_and_byte_order_conversions(array: Any, dtype: str, hex_bytes: str) -> None:
    encoded = encode_weights({"w": array})
    assert encoded.specs[0].dtype == dtype
    assert encoded.data.hex() == hex_bytes


def test_scalar_shape_is_empty_list() -> None:
    encoded = encode_weights({"x": np.float32(2.5)})
    assert js_stringify(encoded.specs) == '[{"name":"x","shape":[],"dtype":"float32"}]'
    assert decode_weights(encoded.data, encoded.specs)["x"].shape == ()


@pytest.mark.parametrize(
    "make",
    [
        lambda a: a.T,
        lambda a: a[:, ::2],
        lambda a: a[::-1],
        lambda a: np.asfortranarray(a),
        lambda a: a.astype(">f4").T,
    ],
    ids=["transposed", "strided", "reversed", "fortran", "big-endian-transposed"],
)
def test_non_contiguous_input_is_written_row_major(make: Any) -> None:
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    view = make(base)
    encoded = encode_weights({"w": view})
    assert encoded.specs[0].shape == list(view.shape)
    assert encoded.data == np.ascontiguousarray(view, dtype="<f4").tobytes()
    assert decode_weights(encoded.data, encoded.specs)["w"].tolist() == view.tolist()


@pytest.mark.parametrize(
    "array",
    [
        np.array([0, 2**31], np.int64),
        np.array([-(2**31) - 1], np.int64),
        np.array([2**31], np.uint32),
        np.array([2**64 - 1], np.uint64),
    ],
    ids=["int64-high", "int64-low", "uint32", "uint64"],
)
def test_integers_outside_int32_are_refused(array: np.ndarray) -> None:
    with pytest.raises(InvalidModelError, match=r"weight 'big'.*int32") as info:
        encode_weights({"big": array})
    assert isinstance(info.value, ValueError) and isinstance(info.value, TfjsStoreError)


def test_int64_inside_int32_range_is_converted() -> None:
    encoded = encode_weights({"i": np.array([2**31 - 1, -(2**31)], np.int64)})
    assert encoded.specs[0].dtype == "int32"
    assert encoded.data.hex() == "ffffff7f00000080"


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((0,), np.float32),
        np.zeros((2, 0), np.int32),
        np.zeros((0, 3), bool),
        np.zeros((0,), np.complex64),
        np.zeros((0, 0), dtype=object),
        np.zeros((0,), np.int64),
    ],
)
def test_zero_element_tensors_take_no_bytes(array: np.ndarray) -> None:
    encoded = encode_weights([("z", array), ("after", f32(7))])
    assert encoded.data.hex() == "0000e040"
    out = decode_weights(encoded.data, encoded.specs)
    assert out["z"].shape == array.shape and out["z"].size == 0
    assert out["after"].tolist() == [7.0]


# ---------------------------------------------------------------------------------------------
# bit exactness


def test_negative_zero_and_nan_payloads_survive_float32() -> None:
    bits = [0x80000000, 0x7FC12345, 0xFFC00001, 0x7F800001, 0xFF800001, 0x7F800000, 0x00000001]
    array = f32_bits(*bits)
    encoded = encode_weights({"x": array})
    assert encoded.data == np.array(bits, "<u4").tobytes()
    out = decode_weights(encoded.data, encoded.specs)["x"]
    assert out.view("<u4").tolist() == bits
    assert np.signbit(out[0]) and out[0] == 0


def test_nan_payloads_survive_complex64() -> None:
    bits = [0x7FC12345, 0x80000000, 0xFF800001, 0x3FC00000]
    array = np.array(bits, "<u4").view("<c8")
    encoded = encode_weights({"c": array})
    assert encoded.data == np.array(bits, "<u4").tobytes()
    assert decode_weights(encoded.data, encoded.specs)["c"].view("<u4").tolist() == bits


def test_bool_byte_2_stays_2() -> None:
    # TF.js views bool data as uint8 and keeps a stored 2 (spec §2.2, [verified]).
    specs = [spec("b", [3], "bool")]
    out = decode_weights(bytes.fromhex("020100"), specs)["b"]
    assert out.dtype == np.bool_
    assert out.view(np.uint8).tolist() == [2, 1, 0]
    assert encode_weights({"b": out}).data.hex() == "020100"


def test_int32_extremes() -> None:
    array = np.array([2**31 - 1, -(2**31), 0, -1], np.int32)
    encoded = encode_weights({"i": array})
    assert encoded.data.hex() == "ffffff7f0000008000000000ffffffff"
    assert decode_weights(encoded.data, encoded.specs)["i"].tolist() == array.tolist()


# ---------------------------------------------------------------------------------------------
# §16.2 dequantization


def test_spec_16_2_uint8() -> None:
    q = {"dtype": "uint8", "scale": 0.00392156862745098, "min": -0.5}
    out = decode_weights(bytes.fromhex("000180ff"), [spec("u8", [4], "float32", quantization=q)])
    assert out["u8"].dtype == np.float32
    expected = f32(-0.5, -0.4960784316062927, 0.0019607844296842813, 0.5)
    assert out["u8"].tobytes() == expected.tobytes()
    assert out["u8"].tobytes().hex() == "000000bffefdfdbe8180003b0000003f"


def test_spec_16_2_uint16() -> None:
    q = {"dtype": "uint16", "scale": 0.5, "min": -1}
    out = decode_weights(bytes.fromhex("0000ffff"), [spec("u16", [2], "float32", quantization=q)])
    assert out["u16"].tobytes() == f32(-1, 32766.5).tobytes()


def test_spec_16_2_int32_via_uint8() -> None:
    q = {"dtype": "uint8", "scale": 0.5, "min": -2}
    out = decode_weights(bytes([0, 1, 3, 5]), [spec("i8", [4], "int32", quantization=q)])
    assert out["i8"].dtype == np.int32
    assert out["i8"].tolist() == [-2, -1, 0, 1]


def test_spec_16_2_rounding_trap_halves_go_up() -> None:
    q = {"dtype": "uint8", "scale": 0.5, "min": -1.5}
    out = decode_weights(bytes([0, 2, 4]), [spec("ir", [3], "int32", quantization=q)])
    assert out["ir"].tolist() == [-1, 0, 1]  # JS Math.round
    # numpy's half-to-even would give something else: the test above can tell them apart
    assert np.round(np.array([0, 2, 4]) * 0.5 - 1.5).tolist() == [-2, 0, 0]


def test_spec_16_2_float16() -> None:
    q = {"dtype": "float16"}
    data = bytes.fromhex("003e00c00100007c00fc0080")
    out = decode_weights(data, [spec("h", [6], "float32", quantization=q)])["h"]
    assert out.dtype == np.float32
    assert out.tolist() == [1.5, -2, 5.960464477539063e-8, np.inf, -np.inf, 0]
    assert np.signbit(out[5])
    assert out.tobytes().hex() == "0000c03f000000c0000080330000807f000080ff00000080"


def test_float16_all_bit_patterns_match_numpy() -> None:
    patterns = np.arange(65536, dtype="<u2")
    q = {"dtype": "float16"}
    out = decode_weights(patterns.tobytes(), [spec("h", [65536], "float32", quantization=q)])["h"]
    expected = patterns.view("<f2").astype(np.float32)
    assert out.view("<u4").tolist() == expected.view("<u4").tolist()


@pytest.mark.parametrize(
    ("scale", "min_", "q", "expected"),
    [
        # q*scale+min beyond int32 wraps modulo 2**32, as an Int32Array store does
        # (values checked against TF.js 4.22.0 decodeWeights)
        (70000, 0, [0, 1, 40000, 65535], [0, 70000, -1494967296, 292482704]),
        (1e5, -3e9, [0, 1, 40000, 65535], [1294967296, 1295067296, 1000000000, -741467296]),
        (1, -2147483649, [0, 1], [2147483647, -2147483648]),
        (1e300, 1e308, [0, 1, 255], [0, 0, 0]),  # huge multiples of 2**32, and inf -> 0
        (0.5, -2.5, [0, 1, 2, 3, 4], [-2, -2, -1, -1, 0]),
    ],
)
def test_int32_dequantization_wraps_like_int32array(
    scale: float, min_: float, q: list[int], expected: list[int]
) -> None:
    quant = {"dtype": "uint16", "scale": scale, "min": min_}
    data = np.array(q, "<u2").tobytes()
    with np.errstate(all="raise"):  # no numpy warning escapes either
        out = decode_weights(data, [spec("i", [len(q)], "int32", quantization=quant)])
    assert out["i"].dtype == np.int32
    assert out["i"].tolist() == expected


def test_float32_dequantization_overflow_is_infinity() -> None:
    quant = {"dtype": "uint8", "scale": 1e38, "min": 0}
    with np.errstate(all="raise"):
        out = decode_weights(bytes([0, 1, 255]), [spec("f", [3], "float32", quantization=quant)])
    assert out["f"].tolist() == [0.0, float(np.float32(1e38)), np.inf]


def test_dequantize_needs_min_and_scale() -> None:
    q = Quantization.model_construct(dtype="uint8", min=None, scale=None)
    with pytest.raises(InvalidModelError, match="min and scale"):
        dequantize(np.zeros(1, np.uint8), q, "float32")


# ---------------------------------------------------------------------------------------------
# §16.3 quantization (the converter's formulas)


def _quantization_json(q: Quantization) -> str:
    return js_stringify(q)


def test_spec_16_3_uint8() -> None:
    q, meta = quantize_weights(f32(-0.5, 0, 0.25, 1.0), "uint8")
    assert q.dtype == np.uint8 and q.tobytes().hex() == "005580ff"
    assert _quantization_json(meta) == (
        '{"dtype":"uint8","min":-0.5,"scale":0.0058823529411764705,"original_dtype":"float32"}'
    )
    out = decode_weights(q.tobytes(), [spec("q", [4], "float32", quantization=meta.to_json_obj())])
    assert out["q"].tobytes().hex() == "000000bf000000008281813e0000803f"
    assert out["q"].tolist() == [-0.5, 0.0, 0.25294119119644165, 1.0]


def test_spec_16_3_uint16() -> None:
    q, meta = quantize_weights(f32(-0.5, 0, 0.25, 1.0), "uint16")
    assert q.dtype == np.dtype("<u2") and q.tobytes().hex() == "000055550080ffff"
    assert (meta.min, meta.scale) == (-0.5, 2.2888532845044633e-05)
    out = decode_weights(q.tobytes(), [spec("q", [4], "float32", quantization=meta.to_json_obj())])
    assert out["q"].tolist() == [-0.5, 0.0, 0.2500114440917969, 1.0]


def test_spec_16_3_no_nudge_when_zero_is_outside_the_range() -> None:
    q, meta = quantize_weights(f32(1, 2, 3), "uint8")
    assert q.tolist() == [0, 128, 255]
    assert (meta.min, meta.scale) == (1.0, 0.00784313725490196)
    out = decode_weights(q.tobytes(), [spec("q", [3], "float32", quantization=meta.to_json_obj())])
    assert out["q"].tolist() == [1.0, 2.0039215087890625, 3.0]


def test_spec_16_3_constant_weight() -> None:
    q, meta = quantize_weights(f32(2, 2), "uint8")
    assert q.tolist() == [0, 0]
    assert (meta.min, meta.scale) == (2.0, 1.0)
    assert _quantization_json(meta) == (
        '{"dtype":"uint8","min":2,"scale":1,"original_dtype":"float32"}'
    )


def test_spec_16_3_float16() -> None:
    with np.errstate(all="raise"):  # 70000 overflows to inf without a numpy warning
        q, meta = quantize_weights(f32(1.5, -2, 1e-8, 70000), "float16")
    assert q.tobytes().hex() == "003e00c00000007c"
    assert _quantization_json(meta) == '{"dtype":"float16","original_dtype":"float32"}'
    out = decode_weights(q.tobytes(), [spec("h", [4], "float32", quantization=meta.to_json_obj())])
    assert out["h"].tolist() == [1.5, -2, 0, np.inf]


def test_quantize_through_encode_weights() -> None:
    tensors = {
        "q8": f32(-0.5, 0, 0.25, 1.0),
        "h": f32(1.5, -2, 1e-8, 70000),
        "plain": f32(1.5),
        "ints": np.int32([1, 2]),
    }
    plan = {"uint8": ["q*"], "float16": "h", "uint16": ["ints"]}
    encoded = encode_weights(tensors, quantize=plan)
    by_name = {s.name: s for s in encoded.specs}
    assert by_name["q8"].quantization is not None and by_name["q8"].quantization.dtype == "uint8"
    assert by_name["h"].quantization is not None and by_name["h"].quantization.dtype == "float16"
    assert by_name["plain"].quantization is None
    assert by_name["ints"].quantization is None  # only float32 weights are quantized
    assert encoded.data.hex() == "005580ff003e00c00000007c0000c03f0100000002000000"
    out = decode_weights(encoded.data, encoded.specs)
    assert out["q8"].tolist() == [-0.5, 0.0, 0.25294119119644165, 1.0]
    assert out["h"].tolist() == [1.5, -2, 0, np.inf]


def test_quantize_every_weight_with_one_dtype() -> None:
    encoded = encode_weights({"a": f32(0, 1), "b": f32(2, 4)}, quantize="uint8")
    assert [s.quantization.dtype for s in encoded.specs if s.quantization] == ["uint8", "uint8"]
    assert len(encoded.data) == 4


def test_quantizing_nan_names_the_weight() -> None:
    with pytest.raises(InvalidModelError, match=r"weight 'bad'.*NaN"):
        encode_weights({"bad": f32(1, np.nan)}, quantize="uint8")


def test_quantize_weights_refuses_non_float32() -> None:
    with pytest.raises(ValueError, match="float32"):
        quantize_weights(np.int32([1]), "uint8")
    with pytest.raises(ValueError, match="unknown quantization dtype"):
        quantize_weights(f32(1), "int8")


def test_resolve_quantization() -> None:
    names = ["dense/kernel", "dense/bias", "conv/kernel", "other"]
    assert resolve_quantization(names, None) == {}
    assert resolve_quantization(names, "float16") == dict.fromkeys(names, "float16")
    assert resolve_quantization(names, {"uint8": "*/kernel", "uint16": True}) == {
        "dense/kernel": "uint8",
        "conv/kernel": "uint8",
        "dense/bias": "uint16",
        "other": "uint16",
    }
    assert resolve_quantization(names, {"float16": ["dense/*"], "uint8": False}) == {
        "dense/kernel": "float16",
        "dense/bias": "float16",
    }
    with pytest.raises(ValueError, match="two quantization dtypes"):
        resolve_quantization(names, {"uint8": "dense/*", "uint16": "*/kernel"})
    with pytest.raises(ValueError, match="more than one quantization fallthrough"):
        resolve_quantization(names, {"uint8": True, "uint16": True})
    with pytest.raises(ValueError, match="unknown quantization dtype"):
        resolve_quantization(names, {"int4": True})


# ---------------------------------------------------------------------------------------------
# decoding: views, several buffers, errors


def test_weights_inside_one_buffer_are_views() -> None:
    data = bytearray(encode_weights({"a": f32(1, 2), "b": np.int32([3]), "c": [True]}).data)
    specs = [spec("a", [2], "float32"), spec("b", [1], "int32"), spec("c", [1], "bool")]
    out = decode_weights(data, specs)
    backing = np.frombuffer(data, np.uint8)
    for name in ("a", "b", "c"):
        assert np.shares_memory(out[name], backing), name
    # a view, not a copy: writing the buffer changes the weight
    data[0:4] = f32(9).tobytes()
    assert out["a"][0] == 9


def test_views_of_bytes_are_read_only() -> None:
    out = decode_weights(f32(1, 2).tobytes(), [spec("a", [2], "float32")])
    assert not out["a"].flags.writeable


def test_weight_spanning_buffers_is_joined_once() -> None:
    whole = f32(1, 2, 3, 4, 5, 6).tobytes()
    first, second = bytearray(whole[:10]), bytearray(whole[10:])  # cut inside element 3
    specs = [spec("a", [2], "float32"), spec("b", [2], "float32"), spec("c", [2], "float32")]
    out = decode_weights([first, second], specs)
    assert [out[k].tolist() for k in "abc"] == [[1, 2], [3, 4], [5, 6]]
    assert np.shares_memory(out["a"], np.frombuffer(first, np.uint8))
    assert np.shares_memory(out["c"], np.frombuffer(second, np.uint8))
    # "b" straddles the cut: one joined copy of its own 8 bytes, shared with neither buffer
    assert not np.shares_memory(out["b"], np.frombuffer(first, np.uint8))
    assert not np.shares_memory(out["b"], np.frombuffer(second, np.uint8))
    root = out["b"]
    while isinstance(root, np.ndarray) and root.base is not None:
        root = root.base
    assert memoryview(root).nbytes == 8  # only the straddling weight was copied


def test_composite_buffer_reads() -> None:
    buf = CompositeBuffer([b"abc", b"", b"defg", bytearray(b"h")])
    assert buf.byte_length == 8
    assert bytes(buf.read(0, 3)) == b"abc"
    assert bytes(buf.read(2, 5)) == b"cdefg"
    assert bytes(buf.read(7, 1)) == b"h"
    assert bytes(buf.read(8, 0)) == b""
    assert [bytes(v) for v in buf.iter_ranges(1, 8)] == [b"bc", b"defg", b"h"]
    with pytest.raises(IndexError):
        buf.read(6, 3)


def test_string_spanning_buffers() -> None:
    data = encode_weights({"s": strings("hello", "wörld")}).data
    cuts = [data[:2], data[2:7], data[7:13], data[13:]]
    out = decode_weights(cuts, [spec("s", [2], "string")])
    assert out["s"].tolist() == ["hello", "wörld"]


def test_buffers_of_any_bytes_like_type() -> None:
    payload = f32(1, 2, 3)
    out = decode_weights(
        [np.frombuffer(payload.tobytes()[:4], np.uint8), memoryview(payload.tobytes()[4:]), b""],
        [spec("a", [3], "float32")],
    )
    assert out["a"].tolist() == [1, 2, 3]
    # a float32 numpy array is read as its bytes
    assert decode_weights(payload, [spec("a", [3], "float32")])["a"].tolist() == [1, 2, 3]
    with pytest.raises(TypeError, match="bytes-like"):
        decode_weights("not bytes", [spec("a", [0], "float32")])


def test_decode_of_nothing() -> None:
    assert decode_weights(b"", []) == {}
    assert decode_weights([], []) == {}


def test_huge_float32_spec_with_tiny_buffer_fails_fast_without_allocating() -> None:
    specs = [spec("big", [2**40], "float32")]
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(WeightDataError, match=r"weight 'big' needs 4398046511104 bytes"):
            decode_weights(b"\0" * 8, specs)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 1_000_000


def test_huge_string_spec_with_tiny_buffer_fails_fast_without_allocating() -> None:
    specs = [spec("big", [2**20, 2**20], "string")]
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(WeightDataError, match=r"weight 'big' \(string, 1099511627776 elements"):
            decode_weights(b"\0" * 8, specs)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 1_000_000


def _str_spec(count: int) -> list[dict[str, Any]]:
    return [spec("s", [count], "string")]


@pytest.mark.parametrize(
    ("specs", "data", "message"),
    [
        ([spec("a", [2], "float32")], "00" * 7, r"weight 'a' needs 8 bytes at offset 0"),
        ([spec("a", [2], "float32")], "00" * 9, r"data is 9 bytes but the weight specs describe 8"),
        (
            [spec("a", [1], "float32"), spec("b", [1], "int32")],
            "00" * 6,
            r"weight 'b' needs 4 bytes at offset 4",
        ),
        (_str_spec(3), "00" * 8, r"weight 's' \(string, 3 elements\) needs at least 12"),
        (_str_spec(2), "0100000061020000", r"weight 's': string length prefix at offset 5"),
        (_str_spec(2), "01000000610200000062", r"weight 's': a string of 2 bytes"),
        (_str_spec(1), "0100000061ff", r"data is 6 bytes but the weight specs describe 5"),
        (_str_spec(2), "ffffffff00000000", r"weight 's': a string of 4294967295 bytes"),
        (
            [spec("q", [3], "int32", quantization={"dtype": "uint16", "scale": 1, "min": 0})],
            "0000",
            r"weight 'q' needs 6 bytes",
        ),
    ],
)
def test_data_that_does_not_match_the_specs(
    specs: list[dict[str, Any]], data: str, message: str
) -> None:
    with pytest.raises(WeightDataError, match=message):
        decode_weights(bytes.fromhex(data), specs)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (spec("a", [1], "float64"), r"weight spec 0: dtype: unsupported dtype 'float64'"),
        (spec("a", [-1], "float32"), r"weight spec 0: shape: dimension 0 must be a non-negative"),
        (spec("a", [1.5], "float32"), r"dimension 0 must be a non-negative integer, got 1.5"),
        ({"shape": [1], "dtype": "float32"}, r"weight spec 0: name: Field required"),
        (
            spec("a", [1], "float32", quantization={"dtype": "uint8", "min": 0}),
            r"quantization: .*needs both 'min' and 'scale'",
        ),
        (
            spec("a", [1], "int32", quantization={"dtype": "float16"}),
            r"float16, which only supports weights of type float32, not int32",
        ),
        (
            spec("a", [1], "float32", quantization={"dtype": "int4"}),
            r"unknown quantization dtype 'int4'",
        ),
        ("not a spec", r"weight spec 0"),
    ],
)
def test_invalid_specs_raise_invalid_model_error(bad: Any, message: str) -> None:
    with pytest.raises(InvalidModelError, match=message):
        decode_weights(b"\0" * 4, [bad])


def test_duplicate_names_when_decoding_are_refused() -> None:
    # TF.js lets the later spec win (spec §2.2); tfjs-store refuses the ambiguity.
    specs = [spec("dup", [1], "float32"), spec("dup", [1], "float32")]
    with pytest.raises(InvalidModelError, match="duplicate weight name 'dup'"):
        decode_weights(f32(1, 2).tobytes(), specs)


def test_weight_byte_ranges() -> None:
    specs = [
        WeightSpec.model_validate(s)
        for s in (
            spec("f", [2], "float32"),
            spec("s", [2], "string"),
            spec("e", [0], "string"),
            spec("q", [4], "float32", quantization={"dtype": "float16"}),
        )
    ]
    data = CompositeBuffer(bytes.fromhex("0000c03f000000c00100000061020000006263" + "00" * 8))
    assert weight_byte_ranges(specs, data) == [(0, 8), (8, 19), (19, 19), (19, 27)]


def test_encode_weight_chunks_does_not_copy_little_endian_arrays() -> None:
    a = np.arange(4, dtype="<f4")
    b = np.arange(3, dtype=">f4")  # needs a byte swap, so a copy
    specs, chunks = encode_weight_chunks({"a": a, "b": b})
    assert [s.name for s in specs] == ["a", "b"]
    assert np.shares_memory(np.frombuffer(chunks[0], np.uint8), a)
    assert not np.shares_memory(np.frombuffer(chunks[1], np.uint8), b)
    assert b"".join(chunks) == encode_weights({"a": a, "b": b}).data


# ---------------------------------------------------------------------------------------------
# ModelArtifacts.weights(): views into the loaded buffers


def test_weights_of_loaded_artifacts_are_views() -> None:
    folder = FIXTURES_DIR / "dense-node"
    model_json = parse_model_json((folder / "model.json").read_bytes())
    shard = bytearray((folder / "weights.bin").read_bytes())
    artifacts = ModelArtifacts.from_model_json(model_json, [shard])
    weights = artifacts.weights()
    assert list(weights) == ["d1/kernel", "d1/bias"]
    assert weights["d1/kernel"].tolist() == [[1.5], [-2.0]]
    assert weights["d1/bias"].tolist() == [0.5]
    backing = np.frombuffer(shard, np.uint8)
    for name, array in weights.items():
        assert np.shares_memory(array, backing), name


def test_weights_of_artifacts_from_numpy_are_views_of_the_arrays() -> None:
    kernel = np.array([[1.5], [-2]], np.float32)
    bias = np.array([0.5], np.float32)
    artifacts = ModelArtifacts.from_weights({"d1/kernel": kernel, "d1/bias": bias})
    weights = artifacts.weights()
    assert np.shares_memory(weights["d1/kernel"], kernel)
    assert np.shares_memory(weights["d1/bias"], bias)
    assert artifacts.weight_data_bytes == 12
    assert b"".join(bytes(b) for b in artifacts.buffers).hex() == "0000c03f000000c00000003f"


def test_weights_strings_option() -> None:
    artifacts = ModelArtifacts.from_weights({"s": strings("a", "bc")})
    assert artifacts.weights()["s"].tolist() == ["a", "bc"]
    assert artifacts.weights(strings="bytes")["s"].tolist() == [b"a", b"bc"]
    assert ModelArtifacts(model_topology={}).weights() == {}


def test_zero_element_shape_too_big_for_numpy() -> None:
    specs = [spec("z", [2**40, 2**40, 0], "float32")]
    with pytest.raises(WeightDataError, match=r"weight 'z': shape .* too large for a numpy array"):
        decode_weights(b"", specs)
    with pytest.raises(WeightDataError, match="too large"):
        decode_weights(b"", [spec("z", [2**40, 2**40, 0], "string")])
