"""The wire formats (``tfjs_store.format.wire``): every body the http client's encoder
makes is read back by the bridge's decoder as the same artifacts, the multipart body is
byte for byte what TF.js sends, and the decoders' rules refuse with ``WireFormatError``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tfjs_store
from tfjs_store.errors import InvalidModelError, WireFormatError
from tfjs_store.format import wire
from tfjs_store.format.wire import JSONBody, MultipartBody, decode_json, encode_artifacts

FIXTURES = Path(__file__).parent / "fixtures" / "tfjs"
CAPTURES = ["dense-http-capture", "dense-http-capture-adam", "functional-http-capture"]
NODE_BOUNDARY = "----formdata-undici-031415926535"  # what Node's undici sent in the captures
LIMIT = 64 << 20


def _fixture(name: str) -> tfjs_store.ModelArtifacts:
    return tfjs_store.load(str(FIXTURES / name / "model.json"))


def _joined(artifacts: tfjs_store.ModelArtifacts) -> bytes:
    return b"".join(bytes(b) for b in artifacts.buffers)


def _split(artifacts: tfjs_store.ModelArtifacts, cuts: Iterable[int]) -> tfjs_store.ModelArtifacts:
    """The same artifacts with the weight data as several buffers cut at ``cuts``."""
    data = _joined(artifacts)
    edges = [0, *cuts, len(data)]
    return artifacts.model_copy(
        update={"weight_data": [data[a:b] for a, b in itertools.pairwise(edges)]}
    )


def _topology_only() -> tfjs_store.ModelArtifacts:
    return tfjs_store.ModelArtifacts.create(
        modelTopology={"class_name": "Sequential", "config": {"layers": []}},
        format="layers-model",
        generatedBy="TensorFlow.js tfjs-layers v4.22.0",
        convertedBy=None,
    )


def _empty_weights() -> tfjs_store.ModelArtifacts:
    return tfjs_store.ModelArtifacts.create(
        modelTopology={"class_name": "Sequential"}, weightSpecs=[], weightData=b""
    )


def _small(n: int) -> tfjs_store.ModelArtifacts:
    """One uint8 weight of ``n`` bytes: short enough for base64 text under ``MASK_MIN``."""
    weights = {"w": np.arange(n, dtype=np.uint8)}
    return tfjs_store.ModelArtifacts.from_weights(
        weights,
        model_topology={"k": [1, 2.5, None]},
        signature={"inputs": {"x": {"name": "x"}}},
        user_defined_metadata={"note": "é ✓"},
        model_initializer={"a": 1},
    )


CASES: dict[str, Callable[[], tfjs_store.ModelArtifacts]] = {
    "one buffer": lambda: _split(_fixture("dense-node-adam"), []),
    "a buffer per group": lambda: _fixture("functional-node"),
    "several buffers cut off base64's 3-byte grid": lambda: _split(
        _fixture("dense-node-adam"), [1, 2, 7, 3000, 3001]
    ),
    "empty buffers among them": lambda: _split(_fixture("dense-http-capture"), [0, 0, 5, 5]),
    "training config": lambda: _fixture("dense-http-capture-adam"),
    "short weights (not masked)": lambda: _small(10),
    "weights just over the mask size": lambda: _small(wire.MASK_MIN),
    "empty weights": _empty_weights,
    "no weights": _topology_only,
}


def _fields(artifacts: tfjs_store.ModelArtifacts) -> dict[str, Any]:
    fields = artifacts.model_dump(by_alias=True, exclude={"weight_data"})
    # Both bodies always carry the weight specs (TF.js's http save always writes a
    # weights manifest): no specs arrive as an empty list.
    fields["weightSpecs"] = fields["weightSpecs"] or []
    return fields


def _assert_same(got: tfjs_store.ModelArtifacts, want: tfjs_store.ModelArtifacts) -> None:
    assert _fields(got) == _fields(want)
    assert (got.weight_data is None) == (want.weight_data is None)
    assert _joined(got) == _joined(want)


async def _chunks(body: MultipartBody, size: int) -> AsyncIterator[bytes]:
    data = body.to_bytes()
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _decode_multipart(body: MultipartBody, chunk_size: int) -> tfjs_store.ModelArtifacts:
    """What the bridge does with a multipart upload: stream it in, then decode the parts."""
    from tfjs_store.server.upload import receive_multipart

    async def receive() -> Any:
        return await receive_multipart(
            _chunks(body, chunk_size), body.content_type, max_bytes=1 << 30, max_json_bytes=LIMIT
        )

    received = anyio.run(receive)
    try:
        parts = received.tfjs_parts()
        assert parts is not None, [p.field for p in received.parts]
        weights = parts.get(wire.WEIGHTS_PART)
        return wire.decode_multipart_parts(
            bytes(received.content(parts[wire.JSON_PART])),
            None if weights is None else bytes(received.content(weights)),
        )
    finally:
        received.close()


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("chunk_size", [1 << 16, 4093])
def test_multipart_body_decodes_to_the_same_artifacts(case: str, chunk_size: int) -> None:
    artifacts = CASES[case]()
    body = encode_artifacts(artifacts, "multipart")
    assert isinstance(body, MultipartBody)
    assert (wire.WEIGHTS_PART.encode() in body.to_bytes()) == (artifacts.weight_data is not None)
    _assert_same(_decode_multipart(body, chunk_size), artifacts)


@pytest.mark.parametrize("case", list(CASES))
def test_json_body_decodes_to_the_same_artifacts(case: str) -> None:
    artifacts = CASES[case]()
    body = encode_artifacts(artifacts, "json")
    assert isinstance(body, JSONBody)
    _assert_same(decode_json(body.to_bytes(), max_json_bytes=LIMIT), artifacts)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=9000),
    cuts=st.lists(st.integers(min_value=0, max_value=9000), max_size=5),
)
def test_json_body_round_trips_any_bytes_in_any_buffers(data: bytes, cuts: list[int]) -> None:
    artifacts = tfjs_store.ModelArtifacts.create(
        modelTopology={"t": 1},
        weightSpecs=[{"name": "w", "shape": [len(data)], "dtype": "bool"}],
        weightData=data,
    )
    edges = [0, *sorted(min(c, len(data)) for c in cuts), len(data)]
    pieces = [data[a:b] for a, b in itertools.pairwise(edges)]
    body = encode_artifacts(artifacts.model_copy(update={"weight_data": pieces}), "json")
    assert len(body.to_bytes()) == len(body)
    _assert_same(decode_json(body.to_bytes(), max_json_bytes=LIMIT), artifacts)


@pytest.mark.parametrize("name", CAPTURES)
def test_encoded_artifacts_are_byte_identical_to_what_node_tfjs_sends(name: str) -> None:
    body = encode_artifacts(_fixture(name), "multipart", boundary=NODE_BOUNDARY)
    captured = (FIXTURES / name / "request.body").read_bytes()
    assert isinstance(body, MultipartBody)
    assert body.to_bytes() == captured
    assert body.content_type == (FIXTURES / name / "request.content-type").read_text()
    _assert_same(_decode_multipart(body, 1 << 16), _fixture(name))


def test_the_client_and_the_bridge_share_the_one_home() -> None:
    from tfjs_store.handlers import http
    from tfjs_store.server import upload

    assert http.encode_multipart is wire.encode_multipart
    assert http.ARTIFACT_KEYS is wire.ARTIFACT_KEYS
    assert (upload.JSON_PART, upload.WEIGHTS_PART) == (wire.JSON_PART, wire.WEIGHTS_PART)
    assert upload.artifacts_from_json.__module__ == "tfjs_store.server.upload"


# -- the decoders' rules ---------------------------------------------------------------------


def test_body_kind_reads_the_media_type() -> None:
    assert wire.body_kind("multipart/form-data") == "multipart"
    assert wire.body_kind("application/json") == "json"
    assert wire.body_kind("application/vnd.model+json") == "json"
    assert wire.body_kind("text/plain") is None
    assert wire.body_kind("multipart/mixed") is None


def test_received_boundary_is_checked() -> None:
    assert wire.received_boundary(b"abc") == "abc"
    assert wire.received_boundary(b"x" * wire.MAX_RECEIVED_BOUNDARY) == "x" * 200
    with pytest.raises(WireFormatError, match="has no boundary"):
        wire.received_boundary(None)
    with pytest.raises(WireFormatError, match="longer than 200"):
        wire.received_boundary(b"x" * 201)
    with pytest.raises(ValueError, match="invalid multipart boundary"):
        wire.encode_multipart(b"{}", None, boundary="x" * 71)  # RFC 2046: 70 at most


def test_form_part_names() -> None:
    assert wire.form_part_names(b"form-data", {b"name": b"model.json"}) == ("model.json", None)
    assert wire.form_part_names(b"form-data", {b"name": b"f", b"filename": b"a.bin"}) == (
        "f",
        "a.bin",
    )
    with pytest.raises(WireFormatError, match="no Content-Disposition"):
        wire.form_part_names(None, {})
    with pytest.raises(WireFormatError, match="not form-data with a name"):
        wire.form_part_names(b"attachment", {b"name": b"x"})
    with pytest.raises(WireFormatError, match="not form-data with a name"):
        wire.form_part_names(b"form-data", {b"filename": b"x"})


def test_which_parts_are_tfjs_upload_and_which_hold_json() -> None:
    assert wire.is_tfjs_upload(["model.json"])
    assert wire.is_tfjs_upload(["model.weights.bin", "model.json"])
    assert not wire.is_tfjs_upload(["model.json", "model.json"])
    assert not wire.is_tfjs_upload(["model.weights.bin"])
    assert not wire.is_tfjs_upload(["files", "files"])
    assert wire.is_json_part("model.json", None)
    assert wire.is_json_part("files", "My.JSON")
    assert not wire.is_json_part("files", "weights.bin")


def test_json_decoder_refuses_with_wire_format_errors() -> None:
    good = encode_artifacts(_small(3), "json").to_bytes()
    b64 = json.loads(good)["weightData"].encode()
    with pytest.raises(WireFormatError) as info:
        decode_json(good, max_json_bytes=10)
    assert info.value.too_large
    for body, match in [
        (b"", "is empty"),
        (b"[1]", "not a JSON object"),
        (good.replace(b64, b64[:-1]), "not a multiple of 4"),
        (good.replace(b64, b"!" + b64[1:]), "is not base64"),
        (good.replace(b'"' + b64 + b'"', b"7"), "must be a base64 string"),
        (good.replace(b"modelTopology", b"model_topology"), "use 'modelTopology'"),
    ]:
        with pytest.raises(WireFormatError, match=match) as info:
            decode_json(body, max_json_bytes=LIMIT)
        assert not info.value.too_large
    with pytest.raises(InvalidModelError, match="the JSON upload"):
        decode_json(b"{", max_json_bytes=LIMIT)  # not JSON at all: the one JSON parser says so


@pytest.mark.parametrize("topology", [[1, 2], "Sequential", 0, False])
def test_any_json_topology_goes_multipart_and_the_json_body_says_object(topology: Any) -> None:
    """TF.js's multipart body (model.save(url)) carries any JSON topology and the bridge
    takes it; tfjs-store's JSON body takes an object only (a string could be a base64
    GraphDef) and says so, before sending and on receiving."""
    artifacts = _small(3).model_copy(update={"model_topology": topology})
    body = encode_artifacts(artifacts, "multipart")
    assert isinstance(body, MultipartBody)
    assert _decode_multipart(body, 1 << 16).model_topology == topology
    with pytest.raises(WireFormatError, match="'modelTopology' must be a JSON object"):
        encode_artifacts(artifacts, "json")
    good = json.loads(encode_artifacts(_small(3), "json").to_bytes())
    sent = json.dumps({**good, "modelTopology": topology}).encode()
    with pytest.raises(WireFormatError, match="'modelTopology' must be a JSON object"):
        decode_json(sent, max_json_bytes=LIMIT)


def test_the_wire_module_needs_neither_the_server_nor_storage() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tfjs_store.format.wire; "
        "print(sorted(m for m in sys.modules if m.startswith(('starlette', 'python_multipart', "
        "'anyio', 'fsspec', 'tfjs_store.server', 'tfjs_store.handlers', 'tfjs_store.stores'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
