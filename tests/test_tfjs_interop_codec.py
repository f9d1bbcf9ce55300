"""The codec against real TensorFlow.js 4.22.0.

(a) Committed fixtures (no Node needed): every weights file TF.js wrote in
    tests/fixtures/tfjs/ decodes to the bytes TF.js reported in expected.json, and encoding
    those tensors again gives TF.js's weights file; the codec vectors TF.js produced
    (codec-vectors.json) encode and decode to the same bytes.
(b) Live cross-checks (marked ``node``): random tensors encoded by tfjs_store and by
    ``tf.io.encodeWeights``; our bytes decoded by ``tf.io.decodeWeights`` (also split into
    several ArrayBuffers and quantized); random float64 values formatted by ``js_number`` and
    by ``JSON.stringify``.
"""

from __future__ import annotations

import itertools
import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.tfjs import FIXTURES_DIR, require_tfjs, run_tfjs

from tfjs_store import InvalidModelError, ModelArtifacts, decode_weights, encode_weights
from tfjs_store.format.jsonfmt import js_number, js_stringify, parse_model_json
from tfjs_store.format.layout import plan_storage

INDEX = json.loads((FIXTURES_DIR / "index.json").read_text("utf-8"))["fixtures"]
VECTORS = json.loads((FIXTURES_DIR / "codec-vectors.json").read_text("utf-8"))
NP = {"float32": "<f4", "int32": "<i4", "bool": "|b1", "complex64": "<c8"}


def _weights_file(entry: dict[str, Any]) -> Path:
    folder = FIXTURES_DIR / entry["dir"]
    return folder / ("weights.bin" if entry["layout"] == "node" else "model.weights.bin")


def _expected(entry: dict[str, Any]) -> dict[str, Any]:
    return json.loads((FIXTURES_DIR / entry["dir"] / "expected.json").read_text("utf-8"))


def _array(t: dict[str, Any]) -> np.ndarray:
    """A TF.js tool TENSOR (hex of raw LE bytes, or strings) as a numpy array."""
    if t["dtype"] == "string":
        if "bytesHex" in t:
            items: list[Any] = [bytes.fromhex(h) for h in t["bytesHex"]]
        else:
            items = list(t["strings"])
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out.reshape(t["shape"])
    return np.frombuffer(bytes.fromhex(t["hex"]), NP[t["dtype"]]).reshape(t["shape"])


def _input_array(t: dict[str, Any]) -> np.ndarray:
    """A codec-vector *input* tensor (values / real+imag / strings / hex) as numpy."""
    if "hex" in t or "bytesHex" in t or t["dtype"] == "string":
        return _array(t)
    if t["dtype"] == "complex64":
        return (
            (np.array(t["real"], np.float32) + 1j * np.array(t["imag"], np.float32))
            .astype(np.complex64)
            .reshape(t["shape"])
        )
    values = [_js_value(v) for v in t["values"]]
    return np.array(values, NP[t["dtype"]]).reshape(t["shape"])


def _js_value(v: Any) -> Any:
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0": -0.0}.get(v, v)


def _assert_tensor(got: np.ndarray, t: dict[str, Any]) -> None:
    assert list(got.shape) == t["shape"], t.get("name")
    if t["dtype"] == "string":
        assert got.dtype == object
        raw = [
            x.encode("utf-8", "surrogateescape") if isinstance(x, str) else bytes(x)
            for x in got.reshape(-1)
        ]
        assert raw == [bytes.fromhex(h) for h in t["bytesHex"]], t.get("name")
    else:
        assert got.dtype == np.dtype(NP[t["dtype"]]), t.get("name")
        assert got.tobytes().hex() == t["hex"], t.get("name")


# ---------------------------------------------------------------------------------------------
# (a) committed fixtures


@pytest.mark.parametrize("entry", INDEX, ids=[e["dir"] for e in INDEX])
def test_fixture_weights_decode_to_tfjs_bytes(entry: dict[str, Any]) -> None:
    expected = _expected(entry)
    tensors = expected["weights"] + expected["optimizerWeights"]
    model = parse_model_json((FIXTURES_DIR / entry["dir"] / "model.json").read_bytes())
    data = _weights_file(entry).read_bytes()
    decoded = decode_weights(data, model.weight_specs)
    assert list(decoded) == [t["name"] for t in tensors]
    for t in tensors:
        _assert_tensor(decoded[t["name"]], t)
    # the same from three separate buffers cut at awkward places (views and joins mixed)
    cuts = [data[:5], data[5 : len(data) // 2 + 3], data[len(data) // 2 + 3 :]]
    again = decode_weights(cuts, model.weight_specs)
    for t in tensors:
        _assert_tensor(again[t["name"]], t)


@pytest.mark.parametrize("entry", INDEX, ids=[e["dir"] for e in INDEX])
def test_fixture_tensors_encode_to_tfjs_weights_file(entry: dict[str, Any]) -> None:
    expected = _expected(entry)
    artifacts = ModelArtifacts.from_weights(
        [(t["name"], _array(t)) for t in expected["weights"]],
        optimizer_weights=[(t["name"], _array(t)) for t in expected["optimizerWeights"]]
        if expected["optimizerWeights"]
        else None,
    )
    model = parse_model_json((FIXTURES_DIR / entry["dir"] / "model.json").read_bytes())
    assert js_stringify(artifacts.weight_specs) == js_stringify(model.weight_specs)
    plan = plan_storage(artifacts, layout="single")
    written = b"".join(bytes(v) for v in plan.data.iter_ranges(0, plan.data.byte_length))
    assert written == _weights_file(entry).read_bytes()


ENCODE_VECTORS = VECTORS["encode"]
DECODE_VECTORS = VECTORS["decode"]


@pytest.mark.parametrize("vector", ENCODE_VECTORS, ids=[v["id"] for v in ENCODE_VECTORS])
def test_codec_vector_encode(vector: dict[str, Any]) -> None:
    tensors = [(t["name"], _input_array(t)) for t in vector["input"]]
    encoded = encode_weights(tensors, vector.get("group"))
    # spec objects as TF.js returned them, key order included
    assert js_stringify(encoded.specs) == json.dumps(vector["specs"], separators=(",", ":"))
    assert encoded.data.hex() == vector["hex"]
    assert len(encoded.data) == vector["byteLength"]
    decoded = decode_weights(bytes.fromhex(vector["hex"]), vector["specs"])
    for t in vector["decoded"]:
        _assert_tensor(decoded[t["name"]], t)


@pytest.mark.parametrize("vector", DECODE_VECTORS, ids=[v["id"] for v in DECODE_VECTORS])
def test_codec_vector_decode(vector: dict[str, Any]) -> None:
    data: Any = (
        [bytes.fromhex(h) for h in vector["buffers"]]
        if "buffers" in vector
        else bytes.fromhex(vector["hex"])
    )
    names = [s["name"] for s in vector["specs"]]
    if len(set(names)) != len(names):
        # TF.js silently lets the later spec win; tfjs-store refuses the ambiguity.
        with pytest.raises(InvalidModelError, match="duplicate weight name"):
            decode_weights(data, vector["specs"])
        return
    decoded = decode_weights(data, vector["specs"])
    assert list(decoded) == [t["name"] for t in vector["tensors"]]
    for t in vector["tensors"]:
        _assert_tensor(decoded[t["name"]], t)


def test_all_spec_vectors_are_covered() -> None:
    ids = {v["id"] for v in ENCODE_VECTORS} | {v["id"] for v in DECODE_VECTORS}
    assert {
        "float32",
        "int32",
        "bool",
        "complex64",
        "string",
        "string-utf8-empty",
        "string-zero-elements-then-float32",
        "all-group-model",
        "uint8-dequant",
        "uint16-dequant",
        "int32-via-uint8",
        "int32-rounding-half-up",
        "float16",
        "bool-stored-2",
        "python-writer-shards",
    } <= ids


# ---------------------------------------------------------------------------------------------
# (b) live cross-checks with real TF.js


@pytest.fixture(scope="module")
def tfjs() -> None:
    require_tfjs()


def _random_tensors(rng: np.random.Generator, count: int) -> list[tuple[str, np.ndarray]]:
    out: list[tuple[str, np.ndarray]] = []
    for i in range(count):
        dtype = ["float32", "int32", "bool", "complex64", "string"][i % 5]
        ndim = int(rng.integers(0, 4))
        shape = tuple(int(d) for d in rng.integers(0, 4, size=ndim))
        if i % 11 == 0:
            shape = (0, *shape[1:]) if shape else (0,)
        size = math.prod(shape)
        if dtype == "float32":
            bits = rng.integers(0, 2**32, size=size, dtype=np.uint64).astype("<u4")
            bits[: size // 3] = np.frombuffer(
                rng.standard_normal(size // 3).astype("<f4").tobytes(), "<u4"
            )
            if size:
                bits[-1] = 0x80000000  # -0.0
            array = bits.view("<f4").reshape(shape)
        elif dtype == "int32":
            array = rng.integers(-(2**31), 2**31, size=shape, dtype=np.int64).astype("<i4")
        elif dtype == "bool":
            array = rng.integers(0, 2, size=shape).astype(bool)
        elif dtype == "complex64":
            array = rng.standard_normal((*shape, 2)).astype("<f4").view("<c8").reshape(shape)
        else:
            pool = ["", "a", "é", "日本語", "😀x", "tab\tnew\nline", "\x00nul", "long" * 20]
            items = [pool[int(k)] for k in rng.integers(0, len(pool), size=size)]
            array = np.empty(size, dtype=object)
            array[:] = items
            array = array.reshape(shape)
        out.append((f"w{i}/{dtype}", array))
    return out


def _tool_tensor(name: str, array: np.ndarray) -> dict[str, Any]:
    kind = encode_weights({name: array}).specs[0].dtype
    t: dict[str, Any] = {"name": name, "shape": list(array.shape), "dtype": kind}
    if kind == "string":
        t["bytesHex"] = [str(s).encode("utf-8").hex() for s in array.reshape(-1)]
    else:
        t["hex"] = np.ascontiguousarray(array).tobytes().hex()
    return t


@pytest.mark.node
@pytest.mark.parametrize("group", [None, "model"])
def test_random_encodings_match_tfjs(tfjs: None, group: str | None) -> None:
    rng = np.random.default_rng(20240 + (group is None))
    tensors = _random_tensors(rng, 60)
    ours = encode_weights(tensors, group)
    request: dict[str, Any] = {"tensors": [_tool_tensor(n, a) for n, a in tensors]}
    if group is not None:
        request["group"] = group
    theirs = run_tfjs("encode", input=request)
    assert js_stringify(ours.specs) == json.dumps(theirs["specs"], separators=(",", ":"))
    assert ours.data.hex() == theirs["hex"]


@pytest.mark.node
def test_tfjs_decodes_our_bytes_like_we_do(tfjs: None) -> None:
    rng = np.random.default_rng(7)
    tensors = _random_tensors(rng, 50)
    encoded = encode_weights(tensors)
    data = encoded.data
    cut_points = sorted({0, len(data), *(int(c) for c in rng.integers(0, len(data) + 1, 5))})
    buffers = [data[a:b] for a, b in itertools.pairwise(cut_points)]
    specs = [s.to_json_obj() for s in encoded.specs]
    theirs = run_tfjs("decode", input={"specs": specs, "buffers": [b.hex() for b in buffers]})
    ours = decode_weights(buffers, encoded.specs, strings="bytes")
    assert [t["name"] for t in theirs["tensors"]] == list(ours)
    for t in theirs["tensors"]:
        _assert_tensor(ours[t["name"]], t)


@pytest.mark.node
def test_quantized_decoding_matches_tfjs(tfjs: None) -> None:
    rng = np.random.default_rng(11)
    specs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for i in range(60):
        dtype = ["uint8", "uint16", "float16"][i % 3]
        target = "int32" if (dtype != "float16" and i % 2) else "float32"
        n = int(rng.integers(0, 12))
        if dtype == "float16":
            q = rng.integers(0, 2**16, size=n, dtype=np.uint64).astype("<u2")  # every pattern
            quant: dict[str, Any] = {"dtype": "float16"}
        else:
            top = 255 if dtype == "uint8" else 65535
            q = rng.integers(0, top + 1, size=n).astype("u1" if dtype == "uint8" else "<u2")
            scale = float(rng.choice([0.5, 0.25, 1 / 255, 1e-3, 3.0, 70000.0, 1e38]))
            minimum = float(rng.choice([-1.5, -0.5, 0.0, -2.5, -128.0, -3e9, 1e-7]))
            quant = {"dtype": dtype, "scale": scale, "min": minimum}
        specs.append({"name": f"q{i}", "shape": [n], "dtype": target, "quantization": quant})
        chunks.append(q.tobytes())
    data = b"".join(chunks)
    theirs = run_tfjs("decode", input={"specs": specs, "hex": data.hex()})
    with np.errstate(all="raise"):
        ours = decode_weights(data, specs)
    for t in theirs["tensors"]:
        _assert_tensor(ours[t["name"]], t)


def _float_bits(rng: np.random.Generator, count: int) -> list[float]:
    values = [
        0.0,
        -0.0,
        1.0,
        1e21,
        1e-7,
        1e-6,
        9.999999999999999e20,
        5e-324,
        1.7976931348623157e308,
        2.0**53,
        0.1,
        123456789.125,
    ]
    raw = rng.integers(0, 2**64, size=count, dtype=np.uint64)
    values += [float(v) for v in raw.view(np.float64) if math.isfinite(v)]
    values += [
        float(m) * 10.0 ** float(e)
        for m, e in zip(rng.integers(1, 10**7, count), rng.integers(-25, 25, count), strict=True)
    ]
    values += [float(2.0 ** float(e)) for e in range(-1074, 1024, 7)]
    values += [float(int(v)) for v in rng.integers(-(2**62), 2**62, count)]
    return values


@pytest.mark.node
def test_number_formatting_matches_json_stringify(tfjs: None) -> None:
    rng = np.random.default_rng(3)
    values = [*_float_bits(rng, 1500), math.nan, math.inf, -math.inf]
    bits = [struct.pack(">d", v).hex() for v in values]
    theirs = run_tfjs("number-format", input={"bits": bits})["results"]
    mismatches = [
        (v, js_number(v), r["json"])
        for v, r in zip(values, theirs, strict=True)
        if js_number(v) != r["json"]
    ]
    assert mismatches == []
