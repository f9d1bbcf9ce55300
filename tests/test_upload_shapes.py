"""Every upload shape, and ``tfjs_store.load_files`` (issue 10).

The bridge runs on a real uvicorn socket over a bucket on moto's S3 server and takes:

* TF.js's multipart upload (``model.json`` + ``model.weights.bin``);
* a set of files as ``tf.io.browserFiles`` takes them (one ``*.json`` plus its weight
  files, matched by basename), as a web form sends them;
* ``application/json``: the artifacts with base64 ``weightData``, written by tfjs-store's
  client (``body="json"``), by hand in the styles other languages write, and by a Node
  script using real TF.js's artifacts the way TF.js's documentation suggests.

Each stored model is read back from the bucket and compared byte for byte with its
source; each malformed variant gets a 400 naming the problem and changes nothing stored.
The JSON bodies here are built with ``json`` and ``base64`` from the fixture files, not
with tfjs-store's encoder, so the two sides check each other.
"""

from __future__ import annotations

import base64
import http.client
import io
import itertools
import json
import random
import shutil
import subprocess
import tracemalloc
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.browser import running_bridge
from support.servers import StoreTarget

import tfjs_store
from tfjs_store.files import load_files

TESTS = Path(__file__).parent
TFJS_FIXTURES = TESTS / "fixtures" / "tfjs"
CONVERTER_FIXTURES = TESTS / "fixtures" / "converter"
TOKEN = "upload-shapes-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BOUNDARY = "----shapesBoundary7MA4YWxk"
MAX_UPLOAD = 256 * 1024


# -- sources ------------------------------------------------------------------------------


class Source:
    """A model as files on disk: its model.json object, its weight files and their bytes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.json_bytes = (folder / "model.json").read_bytes()
        self.obj: dict[str, Any] = json.loads(self.json_bytes)
        self.paths = [p for g in self.obj["weightsManifest"] for p in g["paths"]]
        self.specs = [w for g in self.obj["weightsManifest"] for w in g["weights"]]
        self.files = {p: (folder / p).read_bytes() for p in self.paths}
        self.data = b"".join(self.files[p] for p in self.paths)

    def file_parts(self, field: str = "files") -> list[tuple[str, str, bytes]]:
        """The files as a web form sends them: (field, filename, bytes), JSON not first."""
        weights = [(field, Path(p).name, self.files[p]) for p in self.paths]
        return [*weights[:1], (field, "model.json", self.json_bytes), *weights[1:]]


def tfjs_source(name: str) -> Source:
    return Source(TFJS_FIXTURES / name)


def converter_source(name: str) -> Source:
    return Source(CONVERTER_FIXTURES / name)


def big_source(folder: Path) -> Source:
    """A model whose weights (about 40 KiB, several shards, an optimizer group) make
    base64 long enough to be read from the bridge's memory map."""
    rng = np.random.default_rng(10)
    topology = json.loads((TFJS_FIXTURES / "dense-node-adam" / "model.json").read_bytes())
    artifacts = tfjs_store.ModelArtifacts.from_weights(
        {
            "big/kernel": rng.standard_normal((96, 64)).astype(np.float32),
            "big/bias": rng.standard_normal(64).astype(np.float32),
            "big/steps": np.arange(500, dtype=np.int32),
            "big/mask": rng.integers(0, 2, 77).astype(bool),
        },
        optimizer_weights={"big/kernel/m": rng.standard_normal((32, 32)).astype(np.float32)},
        model_topology=topology["modelTopology"],
        training_config=topology["trainingConfig"],
        format="layers-model",
        generated_by="upload-shapes test",
        converted_by=None,
    )
    tfjs_store.save(artifacts, str(folder), shard_size_bytes=8192, layout="tfjs-node")
    return Source(folder)


def artifacts_object(src: Source) -> dict[str, Any]:
    """The artifacts as a JSON-writing client holds them (weightData still missing)."""
    out: dict[str, Any] = {"modelTopology": src.obj["modelTopology"], "weightSpecs": src.specs}
    for key, value in src.obj.items():
        if key not in ("modelTopology", "weightsManifest"):
            out[key] = value
    return out


def json_body(src: Source, variant: str = "string") -> bytes:
    """The JSON upload as other writers produce it (``json`` + ``base64`` by hand)."""
    obj = artifacts_object(src)
    data = src.data
    if variant == "string":
        obj["weightData"] = base64.b64encode(data).decode()
        return json.dumps(obj).encode()
    if variant == "list":  # several buffers, cut where base64 padding shows
        cuts = [0, 7, 8, len(data) // 2 + 1, len(data)]
        obj["weightData"] = [
            base64.b64encode(data[a:b]).decode() for a, b in itertools.pairwise(cuts)
        ]
        return json.dumps(obj).encode()
    if variant == "data-url":  # FileReader.readAsDataURL
        obj["weightData"] = (
            "data:application/octet-stream;base64," + base64.b64encode(data).decode()
        )
        return json.dumps(obj, separators=(",", ":")).encode()
    if variant == "escaped-slashes":  # PHP's json_encode writes '\/'
        obj["weightData"] = base64.b64encode(data).decode()
        return json.dumps(obj).replace("/", "\\/").encode()
    if variant == "mime-lines":  # base64 broken into 76-character lines
        obj["weightData"] = base64.encodebytes(data).decode()
        return json.dumps(obj).encode()
    if variant == "pretty-reordered":  # other key order, indented, an extra key
        obj["weightData"] = base64.b64encode(data).decode()
        obj["savedBy"] = "a script in another language"
        reordered = dict(reversed(list(obj.items())))
        return json.dumps(reordered, indent=2, ensure_ascii=False).encode()
    raise AssertionError(variant)


def multipart(parts: Sequence[tuple[str, str | None, bytes]], boundary: str = BOUNDARY) -> bytes:
    """A multipart/form-data body; a part with filename None is a plain form field."""
    out = []
    for field, filename, data in parts:
        disposition = f'form-data; name="{field}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


# -- the bridge ---------------------------------------------------------------------------


def call(
    base: str,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Any]:
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    return resp.status, json.loads(data) if data else None


def post_json(base: str, name: str, body: bytes, **headers: str) -> tuple[int, Any]:
    return call(
        base,
        "POST",
        f"/models/{name}",
        body=body,
        headers={"Content-Type": "application/json; charset=utf-8", **AUTH, **headers},
    )


def post_files(base: str, name: str, parts: Sequence[tuple[str, str | None, bytes]]) -> Any:
    body = multipart(parts)
    return call(
        base,
        "POST",
        f"/models/{name}",
        body=body,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **AUTH},
    )


def cached(storage_options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in storage_options.items() if k != "skip_instance_cache"}


@pytest.fixture
def bridge(s3_target: StoreTarget) -> Iterator[tuple[str, StoreTarget]]:
    """A bridge over a fresh S3 folder: token, 1 KiB shards, 256 KiB upload limit."""
    with running_bridge(
        s3_target.url,
        storage_options=cached(s3_target.storage_options),
        token=TOKEN,
        shard_size_bytes=1024,
        max_upload_bytes=MAX_UPLOAD,
    ) as url:
        yield url, s3_target


def snapshot(target: StoreTarget) -> dict[str, bytes]:
    files = target.files()
    return target.read_many(files) if files else {}


def assert_stored(
    target: StoreTarget, name: str, src: Source, extra: Mapping[str, Any] = {}
) -> None:
    """The stored model is the source, byte for byte: weight bytes (in the stored shards
    and through tfjs_store.load), weight specs, topology and every other key."""
    stored = json.loads(target.read(f"{name}/model.json"))
    paths = [p for g in stored["weightsManifest"] for p in g["paths"]]
    shards = target.read_many([f"{name}/{p}" for p in paths])
    assert b"".join(shards[f"{name}/{p}"] for p in paths) == src.data
    assert [w for g in stored["weightsManifest"] for w in g["weights"]] == src.specs
    for key, value in src.obj.items():
        if key != "weightsManifest":
            assert stored[key] == value, key
    for key, value in extra.items():
        assert stored[key] == value, key
    loaded = tfjs_store.load(target.join(name), storage_options=target.storage_options)
    assert b"".join(bytes(b) for b in loaded.buffers) == src.data
    assert loaded.model_topology == src.obj["modelTopology"]


# -- JSON + base64 ---------------------------------------------------------------------------

JSON_SOURCES = ["dense-node-adam", "graph-hashtable-float16", "layers-cnn-uint8-split"]


def _any_source(name: str) -> Source:
    return tfjs_source(name) if (TFJS_FIXTURES / name).is_dir() else converter_source(name)


@pytest.mark.s3
@pytest.mark.parametrize("name", JSON_SOURCES)
def test_python_client_json_body_stores_the_model_byte_exact(
    name: str, bridge: tuple[str, StoreTarget]
) -> None:
    """trainingConfig and optimizer weights; signature/modelInitializer/initializerSignature
    and string weights; quantized weights in five groups: all survive the JSON shape."""
    base, target = bridge
    src = _any_source(name)
    artifacts = tfjs_store.load(str(src.folder))
    result = tfjs_store.save(
        artifacts, f"{base}/models/m", body="json", request_init={"headers": AUTH}
    )
    (response,) = result.responses or []
    assert response.status == 200 and response.json()["name"] == "m"
    assert response.json()["modelArtifactsInfo"]["weightDataBytes"] == len(src.data)
    assert_stored(target, "m", src)


@pytest.mark.s3
@pytest.mark.parametrize(
    "variant",
    ["string", "list", "data-url", "escaped-slashes", "mime-lines", "pretty-reordered"],
)
@pytest.mark.parametrize("name", ["dense-node-adam", "big"])
def test_hand_written_json_bodies_store_the_model_byte_exact(
    variant: str, name: str, bridge: tuple[str, StoreTarget], tmp_path: Path
) -> None:
    """Short weights (read by the JSON parser) and long ones (read from the memory map)."""
    base, target = bridge
    src = big_source(tmp_path / "big") if name == "big" else tfjs_source(name)
    status, answer = post_json(base, "m", json_body(src, variant))
    assert status == 200, answer
    assert answer["modelArtifactsInfo"]["weightDataBytes"] == len(src.data)
    extra = {"savedBy": "a script in another language"} if variant == "pretty-reordered" else {}
    assert_stored(target, "m", src, extra)


NODE_JSON_CLIENT = r"""
const fs = require('fs');
const tf = require('@tensorflow/tfjs');
(async () => {
  const [dir, url, token] = process.argv.slice(1);
  const modelJSON = JSON.parse(fs.readFileSync(`${dir}/model.json`, 'utf8'));
  const weightData = new Uint8Array(fs.readFileSync(`${dir}/weights.bin`)).buffer;
  const model = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: modelJSON.modelTopology,
    weightSpecs: modelJSON.weightsManifest[0].weights,
    weightData,
    userDefinedMetadata: modelJSON.userDefinedMetadata,
  }));
  // "a JSON payload with the topology and base64-encoded weight data"
  const result = await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const body = JSON.stringify({
      ...artifacts,
      weightData: Buffer.from(artifacts.weightData).toString('base64'),
    });
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body,
    });
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' },
             responses: [response] };
  }));
  const response = result.responses[0];
  process.stdout.write(JSON.stringify({ status: response.status, body: await response.json() }));
})().catch((e) => { console.error(e); process.exit(1); });
"""


@pytest.mark.node
@pytest.mark.s3
def test_node_tfjs_artifacts_posted_as_json_store_byte_exact(
    bridge: tuple[str, StoreTarget],
) -> None:
    """A script written from TF.js's docs: real TF.js artifacts, JSON.stringify, base64."""
    from support.tfjs import JS_DIR, node_executable, require_tfjs

    require_tfjs()
    node = node_executable()
    assert node is not None
    base, target = bridge
    src = tfjs_source("functional-node")
    proc = subprocess.run(
        [node, "-e", NODE_JSON_CLIENT, str(src.folder), f"{base}/models/from-node", TOKEN],
        cwd=JS_DIR,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    answer = json.loads(proc.stdout)
    assert answer["status"] == 200, answer
    stored = json.loads(target.read("from-node/model.json"))
    paths = [p for g in stored["weightsManifest"] for p in g["paths"]]
    shards = target.read_many([f"from-node/{p}" for p in paths])
    assert b"".join(shards[f"from-node/{p}"] for p in paths) == src.data
    assert [w for g in stored["weightsManifest"] for w in g["weights"]] == src.specs
    assert stored["userDefinedMetadata"] == src.obj["userDefinedMetadata"]
    assert stored["modelTopology"] == src.obj["modelTopology"]
    assert stored["format"] == "layers-model"


def _replace_json(body: bytes, old: str, new: str) -> bytes:
    assert old.encode() in body
    return body.replace(old.encode(), new.encode(), 1)


def json_refusals(src: Source) -> list[tuple[str, bytes, int, str]]:
    good = json_body(src)
    obj = artifacts_object(src)
    b64 = base64.b64encode(src.data).decode()

    def with_(**changes: Any) -> bytes:
        return json.dumps({**obj, "weightData": b64, **changes}).encode()

    specs_twice = [*src.specs, src.specs[0]]
    bad_dtype = [{**src.specs[0], "dtype": "float64"}, *src.specs[1:]]
    no_specs = {k: v for k, v in obj.items() if k != "weightSpecs"}
    manifest = {k: v for k, v in obj.items() if k != "weightSpecs"}
    manifest["weightsManifest"] = src.obj["weightsManifest"]
    return [
        ("truncated", good[:-30], 400, "not valid JSON"),
        ("empty", b"", 400, "empty"),
        ("array", b"[1, 2]", 400, "not a JSON object"),
        ("trailing garbage", good + b" x", 400, "not valid JSON"),
        (
            "NaN",
            _replace_json(good, '"modelTopology": {', '"modelTopology": {"n": NaN, '),
            400,
            "not valid JSON",
        ),
        ("not base64", with_(weightData="!!" + b64[2:]), 400, "is not base64"),
        ("length not 4k", with_(weightData=b64 + "A"), 400, "is not base64"),
        ("short data", with_(weightData=base64.b64encode(src.data[:-4]).decode()), 400, "weight"),
        (
            "long data",
            with_(weightData=base64.b64encode(src.data + b"\0" * 4).decode()),
            400,
            "weight",
        ),
        ("number", with_(weightData=5), 400, "'weightData' must be"),
        ("list of numbers", with_(weightData=[b64, 7]), 400, "'weightData' must be"),
        # as in JSON.parse, the last of two keys wins: here no weight bytes at all
        ("twice", good[:-1] + b', "weightData": ""}', 400, "needs 8 bytes at offset 0"),
        (
            "weightsManifest",
            json.dumps({**manifest, "weightData": b64}).encode(),
            400,
            "'weightsManifest'",
        ),
        ("snake case", with_(weight_specs=src.specs), 400, "use 'weightSpecs'"),
        ("nothing", b'{"weightData": ""}', 400, "neither 'modelTopology' nor 'weightSpecs'"),
        (
            "data without specs",
            json.dumps({**no_specs, "weightData": b64}).encode(),
            400,
            "no weight specs",
        ),
        ("duplicate weight", with_(weightSpecs=specs_twice), 400, "duplicate weight name"),
        ("bad dtype", with_(weightSpecs=bad_dtype), 400, "float64"),
        ("specs not a list", with_(weightSpecs={"a": 1}), 400, "flat list"),
        ("topology a string", with_(modelTopology="AAAA"), 400, "'modelTopology' must be"),
        ("multipart sent as JSON", multipart(src.file_parts()), 400, "not valid JSON"),
    ]


@pytest.mark.s3
def test_malformed_json_bodies_get_400_and_change_nothing(
    bridge: tuple[str, StoreTarget],
) -> None:
    base, target = bridge
    src = tfjs_source("dense-node-adam")
    assert post_json(base, "m", json_body(src))[0] == 200
    before = snapshot(target)
    assert before
    for label, body, expected, words in json_refusals(src):
        status, answer = post_json(base, "m", body)
        assert status == expected, (label, answer)
        assert words in answer["error"], (label, answer["error"])
    # the limits and auth of the multipart path
    big = json.dumps(
        {**artifacts_object(src), "weightData": base64.b64encode(bytes(MAX_UPLOAD)).decode()}
    ).encode()
    status, answer = post_json(base, "m", big)
    assert status == 413 and "limit" in answer["error"]
    status, _ = call(
        base, "POST", "/models/m", body=json_body(src), headers={"Content-Type": "application/json"}
    )
    assert status == 401
    assert snapshot(target) == before
    assert_stored(target, "m", src)


def test_long_strings_that_are_not_the_weights_keep_their_text(tmp_path: Path) -> None:
    src = big_source(tmp_path / "big")
    assert len(src.data) * 4 // 3 > 4096  # the weights are read from the memory map
    obj = artifacts_object(src)
    blob = base64.b64encode(bytes(range(256)) * 20).decode()
    obj["userDefinedMetadata"] = {
        "blob": blob,  # base64-like and long: kept out of the parse, then given back
        "quoted": '"' + blob,  # a long run after an escaped quote, inside a string
        blob: "a long key",
    }
    obj["weightData"] = base64.b64encode(src.data).decode()
    body = json.dumps(obj).encode()
    with running_bridge(str(tmp_path / "root")) as base:
        status, answer = call(
            base, "POST", "/models/m", body=body, headers={"Content-Type": "application/json"}
        )
    assert status == 200, answer
    stored = json.loads((tmp_path / "root" / "m" / "model.json").read_bytes())
    assert stored["userDefinedMetadata"] == obj["userDefinedMetadata"]
    loaded = tfjs_store.load(str(tmp_path / "root" / "m"))
    assert b"".join(bytes(b) for b in loaded.buffers) == src.data


def test_json_body_over_the_model_json_limit_besides_weights_is_413(tmp_path: Path) -> None:
    """Everything but weightData is held in memory, so it has the model.json limit."""
    src = tfjs_source("dense-node")
    obj = artifacts_object(src)
    obj["userDefinedMetadata"] = {"padding": "x" * 5000}
    obj["weightData"] = base64.b64encode(src.data).decode()
    body = json.dumps(obj).encode()
    with running_bridge(str(tmp_path / "root"), max_upload_bytes=4096) as base:
        status, answer = call(
            base, "POST", "/models/m", body=body, headers={"Content-Type": "application/json"}
        )
    assert status == 413, answer
    assert not (tmp_path / "root" / "m").exists()


def test_json_upload_holds_the_weights_once(tmp_path: Path) -> None:
    """A 16 MiB JSON upload (client and bridge in this process) allocates about the
    decoded weights once: the base64 text is streamed out, and read from a memory map."""
    size = 16 * 1024 * 1024
    artifacts = tfjs_store.ModelArtifacts.from_weights(
        {"big": np.arange(size // 4, dtype=np.float32)}
    )
    with running_bridge(str(tmp_path / "root"), max_upload_bytes=2 * size) as base:
        tracemalloc.start()
        try:
            tfjs_store.save(artifacts, f"{base}/models/big", body="json")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 1.3 * size, f"peak traced allocation {peak} bytes for {size} bytes of weights"
    loaded = tfjs_store.load(str(tmp_path / "root" / "big"))
    assert np.array_equal(loaded.weights()["big"], artifacts.weights()["big"])


# -- a set of files ---------------------------------------------------------------------------


def test_a_set_of_files_is_spooled_not_held_in_memory(tmp_path: Path) -> None:
    """24 MiB in three weight files: the bridge spools the parts to one temporary file
    and stores them through a memory map, allocating a small fraction of that."""
    size = 24 * 1024 * 1024
    artifacts = tfjs_store.ModelArtifacts.from_weights(
        {"big": np.arange(size // 4, dtype=np.float32)}, model_topology={"class_name": "Big"}
    )
    tfjs_store.save(artifacts, str(tmp_path / "picked"), shard_size_bytes=size // 3)
    src = Source(tmp_path / "picked")
    assert len(src.paths) == 3
    body = multipart(src.file_parts())
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    with running_bridge(str(tmp_path / "root"), max_upload_bytes=2 * size) as base:
        tracemalloc.start()
        try:
            status, answer = call(base, "POST", "/models/big", body=body, headers=headers)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert status == 200, answer
    assert peak < size / 4, f"peak traced allocation {peak} bytes for a {size}-byte upload"
    loaded = tfjs_store.load(str(tmp_path / "root" / "big"))
    assert b"".join(bytes(b) for b in loaded.buffers) == src.data


@pytest.mark.s3
@pytest.mark.parametrize(
    "name", ["layers-cnn-uint8-split", "graph-hashtable-float16", "dense-downloads"]
)
def test_a_set_of_files_stores_the_model_byte_exact(
    name: str, bridge: tuple[str, StoreTarget]
) -> None:
    """Converter output (five groups, eleven files), a graph model, TF.js's downloads pair;
    the files in shuffled order, under one form field, some with folder names."""
    base, target = bridge
    src = _any_source(name)
    parts = src.file_parts()
    random.Random(name).shuffle(parts)
    parts = [(f, f"picked/{n}" if i % 2 else n, d) for i, (f, n, d) in enumerate(parts)]
    parts.append(("more-files", "", b""))  # a second file input, left empty
    status, answer = post_files(base, "m", parts)
    assert status == 200, answer
    assert answer["modelArtifactsInfo"]["weightDataBytes"] == len(src.data)
    assert_stored(target, "m", src)
    stored = json.loads(target.read("m/model.json"))
    assert [len(g["weights"]) for g in stored["weightsManifest"]] == [
        len(g["weights"]) for g in src.obj["weightsManifest"]
    ]


@pytest.mark.s3
def test_a_set_of_files_saved_by_tfjs_store_is_checked_against_its_record(
    bridge: tuple[str, StoreTarget], tmp_path: Path
) -> None:
    base, target = bridge
    tfjs_store.save(
        tfjs_store.load(str(TFJS_FIXTURES / "functional-node")),
        str(tmp_path / "m"),
        shard_size_bytes=64,
        checksum="sha256",
    )
    src = Source(tmp_path / "m")
    assert len(src.paths) == 5 and "tfjsStore" in src.obj
    status, answer = post_files(base, "m", src.file_parts())
    assert status == 200, answer
    stored = json.loads(target.read("m/model.json"))
    assert stored["tfjsStore"]["saveId"] != src.obj["tfjsStore"]["saveId"]  # the bridge's own
    loaded = tfjs_store.load(target.join("m"), storage_options=target.storage_options)
    assert b"".join(bytes(b) for b in loaded.buffers) == src.data
    # same size, one byte changed: the record's digest refuses it
    parts = src.file_parts()
    field, fname, data = parts[0]
    parts[0] = (field, fname, bytes([data[0] ^ 1]) + data[1:])
    status, answer = post_files(base, "n", parts)
    assert status == 400 and "SHA-256" in answer["error"]
    assert not any(f.startswith("n/") for f in target.files())


def file_set_refusals(src: Source) -> list[tuple[str, list[tuple[str, str | None, bytes]], str]]:
    parts = src.file_parts()
    weights = [p for p in parts if p[1] != "model.json"]
    third_group = src.obj["weightsManifest"][2]["paths"]

    def with_json(obj: Any) -> list[tuple[str, str | None, bytes]]:
        return [*weights, ("files", "model.json", json.dumps(obj).encode())]

    dup = json.loads(src.json_bytes)
    dup["weightsManifest"][0]["paths"] = ["a/" + Path(dup["weightsManifest"][0]["paths"][0]).name]
    dup["weightsManifest"][1]["paths"] = ["b/" + Path(dup["weightsManifest"][0]["paths"][0]).name]
    no_topology = {k: v for k, v in src.obj.items() if k != "modelTopology"}
    no_manifest = {k: v for k, v in src.obj.items() if k != "weightsManifest"}
    missing = Path(third_group[3]).name
    short = [(f, n, d[:-1] if n == Path(third_group[0]).name else d) for f, n, d in parts]
    n = len(src.paths)
    return [
        (
            "missing file",
            [p for p in parts if p[1] != missing],
            f"Weight file with basename '{missing}' is not provided.",
        ),
        (
            "extra file",
            [*parts, ("files", "notes.bin", b"1234")],
            f"Mismatch in the number of files in weights manifest ({n}) and the number of "
            f"weight files provided ({n + 1}).",
        ),
        (
            "a file twice",
            [*parts, weights[0]],
            f"Mismatch in the number of files in weights manifest ({n}) and the number of "
            f"weight files provided ({n + 1}).",
        ),
        (
            "duplicate basename",
            with_json(dup),
            f"Duplicate file basename found in weights manifest: "
            f"'{Path(src.obj['weightsManifest'][0]['paths'][0]).name}'",
        ),
        (
            "no modelTopology",
            with_json(no_topology),
            "modelTopology field is missing from file model.json",
        ),
        (
            "no weightsManifest",
            with_json(no_manifest),
            "weightManifest field is missing from file model.json",
        ),
        ("no JSON file", weights, "no model JSON file"),
        ("two JSON files", [*parts, ("files", "other.json", src.json_bytes)], "2 JSON files"),
        ("short shard", short, "weights group 3"),
        ("a text field", [*parts, ("note", None, b"hello")], "'note' is not a file"),
        ("a file without a name", [*parts, ("files", "", b"1234")], "has no name"),
        ("JSON only", [("files", "model.json", src.json_bytes)], "is not provided"),
        ("bad JSON", [*weights, ("files", "model.json", src.json_bytes[:-2])], "not valid JSON"),
    ]


@pytest.mark.s3
def test_malformed_file_sets_get_400_in_tfjs_words_and_change_nothing(
    bridge: tuple[str, StoreTarget],
) -> None:
    base, target = bridge
    src = converter_source("layers-cnn-uint8-split")
    assert post_files(base, "m", src.file_parts())[0] == 200
    before = snapshot(target)
    for label, parts, words in file_set_refusals(src):
        status, answer = post_files(base, "m", parts)
        assert status == 400, (label, answer)
        assert words in answer["error"], (label, answer["error"])
    # limits and auth as for TF.js's upload
    huge = [*src.file_parts(), ("files", "big.bin", bytes(MAX_UPLOAD))]
    assert post_files(base, "m", huge)[0] == 413
    body = multipart(src.file_parts())
    status, _ = call(
        base,
        "POST",
        "/models/m",
        body=body,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert status == 401
    assert snapshot(target) == before
    assert_stored(target, "m", src)


@pytest.mark.s3
def test_tfjs_multipart_upload_still_stores_byte_exact(bridge: tuple[str, StoreTarget]) -> None:
    """The third shape through the same route: TF.js's own two parts (manifest ignored)."""
    base, target = bridge
    src = tfjs_source("functional-http-capture")
    body = (src.folder / "request.body").read_bytes()
    content_type = (src.folder / "request.content-type").read_text()
    status, answer = call(
        base, "POST", "/models/m", body=body, headers={"Content-Type": content_type, **AUTH}
    )
    assert status == 200, answer
    assert_stored(target, "m", src)


@pytest.mark.parametrize("shape", ["tfjs-multipart", "file-set", "json"])
def test_single_upload_form_keeps_tfjs_files_byte_for_byte_from_every_shape(
    shape: str, tmp_path: Path
) -> None:
    """upload_form="single" stores model.json and model.weights.bin exactly as TF.js writes
    them, whichever shape the model came in."""
    src = tfjs_source("dense-http-capture-adam")
    assert "trainingConfig" in src.obj
    if shape == "tfjs-multipart":
        body = (src.folder / "request.body").read_bytes()
        content_type = (src.folder / "request.content-type").read_text()
    elif shape == "file-set":
        body = multipart(src.file_parts())
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
    else:
        body, content_type = json_body(src, "pretty-reordered"), "application/json"
    with running_bridge(str(tmp_path / "root"), upload_form="single") as base:
        status, answer = call(
            base, "POST", "/models/m", body=body, headers={"Content-Type": content_type}
        )
    assert status == 200, answer
    folder = tmp_path / "root" / "m"
    stored = (folder / "model.json").read_bytes()
    if shape == "json":  # the extra key a script added is kept, after TF.js's keys
        extra = b',"savedBy":"a script in another language"}'
        assert stored.endswith(extra)
        stored = stored[: -len(extra)] + b"}"
    assert stored == src.json_bytes
    assert (folder / "model.weights.bin").read_bytes() == src.data


def test_openapi_describes_every_shape(tmp_path: Path) -> None:
    from openapi_spec_validator import validate

    with running_bridge(str(tmp_path)) as base:
        status, doc = call(base, "GET", "/openapi.json")
    assert status == 200
    validate(doc)
    for path, method in [("/models/{name}", "post"), ("/models/{name}/model.json", "put")]:
        body = doc["paths"][path][method]["requestBody"]["content"]
        assert set(body) == {"multipart/form-data", "application/json"}
        refs = [s["$ref"] for s in body["multipart/form-data"]["schema"]["anyOf"]]
        assert refs == ["#/components/schemas/Upload", "#/components/schemas/FileSet"]
        assert body["application/json"]["schema"]["$ref"] == "#/components/schemas/ArtifactsJSON"
    schemas = doc["components"]["schemas"]
    props = schemas["ArtifactsJSON"]["properties"]
    from tfjs_store.format.wire import ARTIFACT_KEYS

    assert list(props) == list(ARTIFACT_KEYS)
    assert "trainingConfig" in props
    assert props["weightSpecs"]["items"] == {"$ref": "#/components/schemas/WeightSpec"}
    assert "Duplicate file basename found in weights manifest" in schemas["FileSet"]["description"]
    # the documented base64 pattern accepts what clients send and refuses the rest
    import re

    pattern = re.compile(schemas["Base64"]["pattern"])
    for text in ["", "QQ==", "QUI=", "QUJD", "data:application/octet-stream;base64,QUJD"]:
        assert pattern.search(text), text
    for text in ["Q", "QQ=", "Q===", "QU JD", "QUJD!"]:
        assert not pattern.search(text), text


# -- load_files -------------------------------------------------------------------------------


def _same(a: tfjs_store.ModelArtifacts, b: tfjs_store.ModelArtifacts) -> None:
    assert a.model_topology == b.model_topology
    assert [s.to_json_obj() for s in a.weight_specs or []] == [
        s.to_json_obj() for s in b.weight_specs or []
    ]
    assert b"".join(bytes(x) for x in a.buffers) == b"".join(bytes(x) for x in b.buffers)


def test_load_files_matches_by_basename_in_any_order(tmp_path: Path) -> None:
    src = converter_source("layers-cnn-uint8-split")
    expected = tfjs_store.load(str(src.folder))
    paths = [src.folder / p for p in src.paths]
    shuffled = list(reversed(paths))
    _same(load_files(src.folder / "model.json", *shuffled), expected)
    # file objects, (name, bytes) pairs with folders in the names, a text-mode JSON file
    with open(src.folder / "model.json", encoding="utf-8") as j:
        handles = [open(p, "rb") for p in shuffled]  # noqa: SIM115
        try:
            _same(load_files(j, *handles), expected)
        finally:
            for h in handles:
                h.close()
    pairs = [(f"some/folder/{p.name}", p.read_bytes()) for p in shuffled]
    loaded = load_files(("upload.json", src.json_bytes), *pairs)
    _same(loaded, expected)
    assert loaded.format == expected.format and loaded.converted_by == expected.converted_by
    assert [len(g.paths) for g in loaded.weights_manifest or []] == [1, 1, 7, 1, 1]
    # bytes-like data is used without a copy
    data = bytearray(src.files[src.paths[0]])
    rest = [(Path(p).name, src.files[p]) for p in src.paths[1:]]
    loaded = load_files(("m.json", src.json_bytes), (Path(src.paths[0]).name, data), *rest)
    assert np.shares_memory(
        np.frombuffer(loaded.buffers[0], np.uint8), np.frombuffer(data, np.uint8)
    )


def test_load_files_without_weight_files_loads_the_topology_only() -> None:
    src = tfjs_source("dense-node-adam")
    loaded = load_files(src.folder / "model.json")
    assert loaded.model_topology == src.obj["modelTopology"]
    assert loaded.weight_specs is None and loaded.weight_data is None
    assert loaded.training_config is not None
    with pytest.raises(tfjs_store.InvalidModelError, match="is not provided"):
        load_files(src.folder / "model.json", require_weights=True)


def test_load_files_refuses_what_browser_files_refuses(tmp_path: Path) -> None:
    """Each refusal of the bridge's file-set upload, from Python, with the same words."""
    src = converter_source("layers-cnn-uint8-split")
    for label, parts, words in file_set_refusals(src):
        if label in ("no JSON file", "two JSON files", "a text field", "a file without a name"):
            continue  # how the bridge finds the JSON among the parts, not load_files
        (json_part,) = [p for p in parts if p[1] == "model.json"]
        weights = [(name or "", data) for _, name, data in parts if p_is_weight(name)]
        with pytest.raises(tfjs_store.InvalidModelError) as info:
            load_files(("model.json", json_part[2]), *weights, require_weights=True)
        assert words in str(info.value), label


def p_is_weight(name: str | None) -> bool:
    return name is not None and name != "model.json"


def test_load_files_checks_each_group_and_the_record(tmp_path: Path) -> None:
    src = converter_source("layers-functional-uint16-split")
    groups = src.obj["weightsManifest"]
    assert len(groups) >= 2
    # one group 4 bytes short, the next 4 bytes long: the total is right, the groups not
    first, second = groups[3]["paths"][0], groups[4]["paths"][0]
    files = dict(src.files)
    files[first] = files[first][:-4]
    files[second] = files[second] + b"\0\0\0\0"
    with pytest.raises(tfjs_store.WeightDataError, match="weights group 4"):
        load_files(("model.json", src.json_bytes), *files.items())
    # a tfjs-store save records sizes and SHA-256: a changed byte is an IntegrityError
    tfjs_store.save(tfjs_store.load(str(src.folder)), str(tmp_path / "m"), shard_size_bytes=512)
    saved = Source(tmp_path / "m")
    shard = tmp_path / "m" / saved.paths[2]
    data = bytearray(shard.read_bytes())
    data[5] ^= 0x40
    shard.write_bytes(bytes(data))
    weights = [tmp_path / "m" / p for p in saved.paths]
    with pytest.raises(tfjs_store.IntegrityError, match=Path(saved.paths[2]).name):
        load_files(tmp_path / "m" / "model.json", *weights)
    loaded = load_files(tmp_path / "m" / "model.json", *weights, verify=False)
    assert "tfjsStore" not in (loaded.model_extra or {})


def test_load_files_usage_errors(tmp_path: Path) -> None:
    src = tfjs_source("dense-node")
    with pytest.raises(TypeError, match="without a name"):
        load_files(src.folder / "model.json", src.files[src.paths[0]])
    with pytest.raises(TypeError, match="no name"):
        load_files(src.folder / "model.json", io.BytesIO(src.files[src.paths[0]]))
    with (
        pytest.raises(TypeError, match="text mode"),
        open(src.folder / "weights.bin", encoding="latin-1") as fh,
    ):
        load_files(src.folder / "model.json", fh)
    with pytest.raises(tfjs_store.ModelNotFoundError):
        load_files(tmp_path / "nothing.json")
    with pytest.raises(tfjs_store.ModelNotFoundError):
        load_files(src.folder / "model.json", tmp_path / "weights.bin")
    shutil.copy(src.folder / "model.json", tmp_path / "model.json")
    (tmp_path / "model.json").write_text("[1]")
    with pytest.raises(tfjs_store.InvalidModelError, match="not a JSON object"):
        load_files(tmp_path / "model.json")


def test_load_files_matches_files_before_looking_at_the_topology() -> None:
    """Ported from TF.js's browser_files_test.ts: a manifest naming one file, given two,
    fails with TF.js's count message even though modelTopology is an array there
    (browserFiles treats it as opaque JSON; load_files refused the topology first)."""
    spec = {"name": "dense/kernel", "shape": [1], "dtype": "float32"}
    obj = {
        "modelTopology": [{"class_name": "Dense", "config": {"units": 1}}],
        "weightsManifest": [{"paths": ["weights.1.bin"], "weights": [spec]}],
    }
    json_bytes = json.dumps(obj).encode()
    one, two = ("weights.1.bin", bytes(4)), ("weights.2.bin", bytes(4))
    with pytest.raises(tfjs_store.InvalidModelError) as info:
        load_files(("model.json", json_bytes), one, two)
    assert str(info.value) == (
        "Mismatch in the number of files in weights manifest (1) and the number of weight "
        "files provided (2)."
    )
    with pytest.raises(tfjs_store.InvalidModelError) as info:
        load_files(("model.json", json_bytes), two)
    assert str(info.value) == "Weight file with basename 'weights.1.bin' is not provided."
    twice = {**obj, "weightsManifest": [{"paths": ["a/w.bin", "b/w.bin"], "weights": [spec]}]}
    with pytest.raises(tfjs_store.InvalidModelError) as info:
        load_files(("model.json", json.dumps(twice).encode()), ("w.bin", bytes(4)))
    assert str(info.value) == "Duplicate file basename found in weights manifest: 'w.bin'"
    # the right file: TF.js loads it, the array topology given back as it is
    loaded = load_files(("model.json", json_bytes), one)
    assert loaded.model_topology == obj["modelTopology"]
    assert loaded.weights()["dense/kernel"].tolist() == [0.0]
    assert load_files(("model.json", json_bytes)).model_topology == obj["modelTopology"]


_TOPOLOGIES = {
    "array": [{"class_name": "Dense"}],
    "string": "Sequential",
    "zero": 0,
    "false": False,
    "empty-object": {},
    "null": None,
}
_FILE_SETS = {
    "none": [],
    "one": ["weights.1.bin"],
    "two": ["weights.1.bin", "weights.2.bin"],
    "wrong-name": ["other.bin"],
}


@pytest.mark.node
def test_load_files_agrees_with_tfjs_browser_files() -> None:
    """Real TF.js (tf.io.browserFiles in Node) and load_files on the same picked files,
    for topologies that are not objects and file sets that do or do not fit: both load
    (the same topology and weight bytes), or both refuse with the same message."""
    from support.tfjs import require_tfjs, run_tfjs

    require_tfjs()
    spec = {"name": "dense/kernel", "shape": [1], "dtype": "float32"}
    data = bytes.fromhex("0000803f")
    agreed = []
    for (t_name, topology), (f_name, names) in itertools.product(
        _TOPOLOGIES.items(), _FILE_SETS.items()
    ):
        obj = {"modelTopology": topology,
               "weightsManifest": [{"paths": ["./weights.1.bin"], "weights": [spec]}]}
        raw = json.dumps(obj).encode()
        files = [("model.json", raw), *((n, data) for n in names)]
        tfjs = run_tfjs("browser-files", check=False,
                        input={"files": [{"name": n, "hex": d.hex()} for n, d in files]})
        try:
            ours: Any = load_files(*files)
        except tfjs_store.InvalidModelError as exc:
            ours = exc
        where = f"topology {t_name}, files {f_name}: TF.js {tfjs}, tfjs-store {ours!r}"
        if tfjs["ok"]:
            assert isinstance(ours, tfjs_store.ModelArtifacts), where
            assert ours.model_topology == tfjs["modelTopology"], where
            assert type(ours.model_topology) is type(topology), where
            got = b"".join(bytes(b) for b in ours.buffers) if ours.weight_data else None
            assert (got.hex() if got is not None else None) == tfjs["weightDataHex"], where
        else:
            assert isinstance(ours, tfjs_store.InvalidModelError), where
            assert str(ours) == tfjs["error"], where
        agreed.append((t_name, f_name, tfjs["ok"]))
    # both outcomes were seen, and a non-object topology loaded
    assert {ok for _, _, ok in agreed} == {True, False}
    assert ("array", "one", True) in agreed and ("null", "one", False) in agreed
