"""The bridge (``tfjs_store.server``) on a real uvicorn socket, over a bucket on moto's S3.

Clients are real: TF.js 4.22.0 in Node (``model.save(url)``, ``tf.loadLayersModel``),
tfjs-store's own http handler, and raw ``http.client`` requests for the refusals.
"""

from __future__ import annotations

import http.client
import json
import tracemalloc
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.browser import running_bridge
from support.servers import StoreTarget

import tfjs_store
from tfjs_store.handlers.http import encode_multipart
from tfjs_store.server import create_app

FIXTURES = Path(__file__).parent / "fixtures" / "tfjs"
TOKEN = "s3cret-token"
ORIGIN = "http://app.example.test:5173"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


# -- helpers -----------------------------------------------------------------------------


def call(
    base: str,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    chunked: bool = False,
) -> tuple[int, dict[str, str], bytes]:
    """One raw request (the path is sent exactly as given)."""
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        if chunked:
            assert body is not None
            chunks = [body[i : i + 8192] for i in range(0, len(body), 8192)]
            conn.request(
                method, path, body=iter(chunks), headers=dict(headers or {}), encode_chunked=True
            )
        else:
            conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def upload_body(artifacts: tfjs_store.ModelArtifacts, boundary: str = "b0und4ry") -> bytes:
    from tfjs_store.format.jsonfmt import js_stringify, model_json_object
    from tfjs_store.format.layout import plan_storage

    plan = plan_storage(artifacts, layout="single", single_path="./model.weights.bin")
    model_json = js_stringify(model_json_object(plan.model_json, "tfjs")).encode()
    return encode_multipart(model_json, plan.data.buffers, boundary=boundary).to_bytes()


def multipart_headers(body: bytes, boundary: str = "b0und4ry") -> dict[str, str]:
    return {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(body)),
    }


def fixture(name: str) -> tfjs_store.ModelArtifacts:
    return tfjs_store.load(str(FIXTURES / name / "model.json"))


def same_weights(a: tfjs_store.ModelArtifacts, b: tfjs_store.ModelArtifacts) -> None:
    wa, wb = a.weights(), b.weights()
    assert list(wa) == list(wb)
    for key in wa:
        assert wa[key].tobytes() == wb[key].tobytes(), key


def snapshot(target: StoreTarget) -> dict[str, bytes]:
    files = target.files()
    return target.read_many(files) if files else {}


def cached(storage_options: Mapping[str, Any]) -> dict[str, Any]:
    """The target's options minus ``skip_instance_cache``: one s3fs client for all the
    bridge's requests, as a deployed bridge has (a new client costs ~0.5 s)."""
    return {k: v for k, v in storage_options.items() if k != "skip_instance_cache"}


@pytest.fixture
def s3_bridge(s3_target: StoreTarget) -> Iterator[tuple[str, StoreTarget]]:
    """A bridge over a fresh S3 folder: token, CORS for ORIGIN, 64-byte shards, 64 KiB limit."""
    with running_bridge(
        s3_target.url,
        storage_options=cached(s3_target.storage_options),
        token=TOKEN,
        cors_origins=[ORIGIN],
        shard_size_bytes=64,
        max_upload_bytes=64 * 1024,
    ) as url:
        yield url, s3_target


# -- Python client -> bridge -> bucket ------------------------------------------------------


@pytest.mark.s3
def test_python_save_reaches_the_bucket_and_loads_back(
    s3_bridge: tuple[str, StoreTarget],
) -> None:
    base, target = s3_bridge
    artifacts = fixture("functional-http-capture")
    result = tfjs_store.save(artifacts, f"{base}/models/fn", request_init={"headers": AUTH})
    (response,) = result.responses or []
    assert response.status == 200
    answer = response.json()
    assert answer["name"] == "fn"
    assert answer["modelUrl"] == "/models/fn/model.json"
    assert answer["modelArtifactsInfo"]["weightDataBytes"] == artifacts.weight_data_bytes
    files = target.files()
    shards = [f for f in files if f.endswith(".bin")]
    assert "fn/model.json" in files and len(shards) == -(-artifacts.weight_data_bytes // 64)
    # in the bucket: the same model, through tfjs-store's storage side
    same_weights(
        artifacts, tfjs_store.load(target.join("fn"), storage_options=target.storage_options)
    )
    # and back over HTTP through the bridge
    same_weights(
        artifacts,
        tfjs_store.load(f"{base}/models/fn/model.json", request_init={"headers": AUTH}),
    )
    status, _, body = call(base, "GET", "/models", headers=AUTH)
    assert status == 200
    assert [m["name"] for m in json.loads(body)["models"]] == ["fn"]
    status, _, body = call(base, "GET", "/models/fn", headers=AUTH)
    assert status == 200 and json.loads(body)["modelArtifactsInfo"]["weightDataBytes"] == 316


@pytest.mark.s3
def test_put_and_model_json_urls_store_too(s3_bridge: tuple[str, StoreTarget]) -> None:
    base, target = s3_bridge
    artifacts = fixture("dense-http-capture")
    tfjs_store.save(artifacts, f"{base}/models/a", request_init={"method": "PUT", "headers": AUTH})
    # model.save('http://host/models/b/model.json') stores model "b"
    tfjs_store.save(artifacts, f"{base}/models/b/model.json", request_init={"headers": AUTH})
    _, _, body = call(base, "GET", "/models", headers=AUTH)
    assert [m["name"] for m in json.loads(body)["models"]] == ["a", "b"]
    for name in ("a", "b"):
        same_weights(
            artifacts, tfjs_store.load(target.join(name), storage_options=target.storage_options)
        )
    # names are one folder under the root: deeper paths only serve weight files
    with pytest.raises(tfjs_store.HTTPStatusError) as info:
        tfjs_store.save(artifacts, f"{base}/models/team/c", request_init={"headers": AUTH})
    assert info.value.status == 405
    assert sorted({f.split("/")[0] for f in target.files()}) == ["a", "b"]


@pytest.mark.s3
def test_delete_removes_the_model(s3_bridge: tuple[str, StoreTarget]) -> None:
    base, target = s3_bridge
    tfjs_store.save(
        fixture("dense-http-capture"), f"{base}/models/m", request_init={"headers": AUTH}
    )
    status, _, body = call(base, "DELETE", "/models/m", headers=AUTH)
    assert status == 200 and json.loads(body)["name"] == "m"
    assert target.files() == []
    assert call(base, "GET", "/models/m/model.json", headers=AUTH)[0] == 404
    assert call(base, "DELETE", "/models/m", headers=AUTH)[0] == 404
    assert json.loads(call(base, "GET", "/models", headers=AUTH)[2]) == {"models": []}


# -- real TF.js in Node ------------------------------------------------------------------


def _fixture_args(name: str) -> list[str]:
    index = json.loads((FIXTURES / "index.json").read_text())
    (entry,) = [f for f in index["fixtures"] if f["dir"] == name]
    args = list(entry["args"])
    i = args.index("--layout")
    del args[i : i + 2]
    i = args.index("--out")
    del args[i : i + 2]
    return args


@pytest.mark.node
@pytest.mark.s3
@pytest.mark.parametrize(
    "name", ["dense-http-capture", "dense-http-capture-adam", "functional-http-capture"]
)
def test_node_tfjs_saves_arrive_byte_exact(name: str, s3_target: StoreTarget) -> None:
    """upload_form="single": the bucket holds exactly the two parts Node's TF.js sent."""
    from support.tfjs import require_tfjs, run_tfjs

    require_tfjs()
    with running_bridge(
        s3_target.url, storage_options=cached(s3_target.storage_options), upload_form="single"
    ) as base:
        out = run_tfjs("save-url", *_fixture_args(name), "--url", f"{base}/models/{name}")
    assert out["responseStatus"] == 200
    stored = s3_target.read_many([f"{name}/model.json", f"{name}/model.weights.bin"])
    assert stored[f"{name}/model.json"] == (FIXTURES / name / "model.json").read_bytes()
    assert (
        stored[f"{name}/model.weights.bin"] == (FIXTURES / name / "model.weights.bin").read_bytes()
    )
    assert s3_target.files() == [f"{name}/model.json", f"{name}/model.weights.bin"]


@pytest.mark.node
@pytest.mark.s3
def test_node_tfjs_save_reshards_and_loads_back_predicting_the_same(
    s3_target: StoreTarget,
) -> None:
    from support.tfjs import require_tfjs, run_tfjs

    require_tfjs()
    name = "functional-http-capture"
    expected = json.loads((FIXTURES / name / "expected.json").read_text())
    with running_bridge(
        s3_target.url, storage_options=cached(s3_target.storage_options), shard_size_bytes=100
    ) as base:
        run_tfjs("save-url", *_fixture_args(name), "--url", f"{base}/models/fn")
        stored = json.loads(s3_target.read("fn/model.json"))
        paths = [p for g in stored["weightsManifest"] for p in g["paths"]]
        assert len(paths) == 4  # 316 bytes in 100-byte shards
        data = b"".join(s3_target.read_many([f"fn/{p}" for p in paths]).values())
        assert data == (FIXTURES / name / "model.weights.bin").read_bytes()
        loaded = run_tfjs(
            "load-predict", "--url", f"{base}/models/fn/model.json", "--model", "functional"
        )
    assert [p["hex"] for p in loaded["predictions"]] == [p["hex"] for p in expected["predictions"]]
    assert [w["hex"] for w in loaded["weights"]] == [w["hex"] for w in expected["weights"]]
    assert loaded["userDefinedMetadata"] == expected["userDefinedMetadata"]


# -- refusals ----------------------------------------------------------------------------


@pytest.mark.s3
def test_refusals_change_nothing_stored(s3_bridge: tuple[str, StoreTarget]) -> None:
    base, target = s3_bridge
    dense = fixture("dense-http-capture")
    tfjs_store.save(dense, f"{base}/models/m", request_init={"headers": AUTH})
    before = snapshot(target)
    assert before
    good = upload_body(fixture("functional-http-capture"))
    big = upload_body(
        tfjs_store.ModelArtifacts.from_weights({"w": np.zeros(20000, np.float32)}),
    )
    assert len(big) > 64 * 1024
    short_weights = good.replace(b"\r\n--b0und4ry--", b"--b0und4ry--")  # wrong byte count
    renamed = good.replace(b'name="model.json"', b'name="modelJson"')
    first_part = good[: good.index(b"--b0und4ry", 10)]
    twice = first_part + good  # model.json twice
    bad_json = good.replace(b'"modelTopology"', b'"modelTopology" x')
    no_boundary = {"Content-Type": "multipart/form-data"}
    cases: list[tuple[str, str, bytes | None, dict[str, str], int]] = [
        # auth
        ("POST", "/models/m", good, multipart_headers(good), 401),
        ("POST", "/models/m", good, {**multipart_headers(good), "Authorization": "Bearer x"}, 401),
        ("PUT", "/models/m", good, {**multipart_headers(good), "Authorization": TOKEN}, 401),
        ("DELETE", "/models/m", None, {}, 401),
        ("GET", "/models/m/model.json", None, {}, 401),
        ("GET", "/models", None, {}, 401),
        # names that would leave the root
        ("POST", "/models/../escape", good, {**multipart_headers(good), **AUTH}, 400),
        ("POST", "/models/%2e%2e/escape", good, {**multipart_headers(good), **AUTH}, 400),
        ("POST", "/models/a/../../m", good, {**multipart_headers(good), **AUTH}, 400),
        ("POST", "/models/m%00x", good, {**multipart_headers(good), **AUTH}, 400),
        ("POST", "/models/m%20x", good, {**multipart_headers(good), **AUTH}, 400),
        # an encoded '/' must not turn a name into another route (m/model.json)
        ("POST", "/models/m%2fmodel.json", good, {**multipart_headers(good), **AUTH}, 400),
        ("PUT", "/models/m%2Fmodel.json", good, {**multipart_headers(good), **AUTH}, 400),
        ("GET", "/models/m%5cmodel.json", None, AUTH, 400),
        ("DELETE", "/models/..", None, AUTH, 400),
        ("GET", "/models/../../etc/passwd", None, AUTH, 400),
        ("GET", "/models/m/../../model.json", None, AUTH, 400),
        # too large: declared, and streamed without a Content-Length
        ("POST", "/models/m", big, {**multipart_headers(big), **AUTH}, 413),
        # malformed bodies
        ("POST", "/models/m", good[:-40], {**multipart_headers(good[:-40]), **AUTH}, 400),
        ("POST", "/models/m", b"garbage", {**multipart_headers(b"garbage"), **AUTH}, 400),
        ("POST", "/models/m", short_weights, {**multipart_headers(short_weights), **AUTH}, 400),
        ("POST", "/models/m", renamed, {**multipart_headers(renamed), **AUTH}, 400),
        ("POST", "/models/m", twice, {**multipart_headers(twice), **AUTH}, 400),
        ("POST", "/models/m", bad_json, {**multipart_headers(bad_json), **AUTH}, 400),
        ("POST", "/models/m", good, {**multipart_headers(good), **AUTH, **no_boundary}, 400),
        ("POST", "/models/m", b"{}", {"Content-Type": "application/json", **AUTH}, 400),
        ("POST", "/models/m", good, {"Content-Type": "text/plain", **AUTH}, 415),
        ("POST", "/models/m", good, {"Content-Type": "application/octet-stream", **AUTH}, 415),
    ]
    for method, path, body, headers, expected in cases:
        status, resp_headers, data = call(base, method, path, body=body, headers=headers)
        assert status == expected, (method, path, status, data[:300])
        if status >= 400:
            assert json.loads(data)["error"], (method, path)
        if status == 401:
            assert resp_headers["www-authenticate"].startswith("Bearer")
    chunked_headers = {"Content-Type": "multipart/form-data; boundary=b0und4ry", **AUTH}
    status, _, data = call(
        base, "POST", "/models/m", body=big, headers=chunked_headers, chunked=True
    )
    assert status == 413, data
    assert snapshot(target) == before
    assert json.loads(call(base, "GET", "/models", headers=AUTH)[2])["models"][0]["name"] == "m"
    same_weights(
        dense, tfjs_store.load(f"{base}/models/m/model.json", request_init={"headers": AUTH})
    )


@pytest.mark.s3
def test_conditional_uploads_answer_412_and_change_nothing(
    s3_bridge: tuple[str, StoreTarget],
) -> None:
    """model.json's ETag is the model version (S3's ETag); If-Match / If-None-Match: *
    on an upload hold or get 412 with nothing stored."""
    base, target = s3_bridge
    one, two = fixture("dense-http-capture"), fixture("functional-http-capture")
    body = upload_body(one)
    headers = {**AUTH, **multipart_headers(body)}
    status, _, answer = call(base, "PUT", "/models/m", body=body,
                             headers={**headers, "If-Match": "*"})
    assert status == 412, answer  # If-Match: * and no model
    status, got, answer = call(base, "PUT", "/models/m", body=body,
                               headers={**headers, "If-None-Match": "*"})
    assert status == 200, answer
    created = got["etag"]
    status, got, _ = call(base, "GET", "/models/m/model.json", headers=AUTH)
    assert got["etag"] == created
    options = target.storage_options
    assert created == f'"{tfjs_store.model_version(target.join("m"), storage_options=options)}"'
    before = snapshot(target)
    body2 = upload_body(two)
    headers2 = {**AUTH, **multipart_headers(body2)}
    for refused in ({"If-None-Match": "*"}, {"If-Match": '"not-the-version"'}):
        status, _, answer = call(base, "PUT", "/models/m", body=body2,
                                 headers={**headers2, **refused})
        assert status == 412, (refused, answer)
        assert snapshot(target) == before, refused
    for bad in ({"If-None-Match": '"x"'}, {"If-Match": '"a", "b"'},
                {"If-Match": "*", "If-None-Match": "*"}):
        status, _, answer = call(base, "PUT", "/models/m", body=body2,
                                 headers={**headers2, **bad})
        assert status == 400, (bad, answer)
        assert snapshot(target) == before, bad
    status, got, answer = call(base, "PUT", "/models/m", body=body2,
                               headers={**headers2, "If-Match": created})
    assert status == 200, answer
    assert got["etag"] != created
    same_weights(two, tfjs_store.load(target.join("m"), storage_options=options))


def test_conditional_upload_with_single_upload_form_is_refused(tmp_path: Path) -> None:
    """--upload-form single overwrites in place: a conditional upload there is 501, unstored."""
    with running_bridge(str(tmp_path / "root"), upload_form="single") as base:
        body = upload_body(fixture("dense-http-capture"))
        status, _, answer = call(base, "PUT", "/models/m", body=body,
                                 headers={**multipart_headers(body), "If-None-Match": "*"})
    assert status == 501, answer
    assert not (tmp_path / "root" / "m" / "model.json").exists()


def test_only_files_named_in_the_manifest_are_served(tmp_path: Path) -> None:
    root = tmp_path / "root"
    tfjs_store.save(fixture("dense-http-capture"), str(root / "m"), shard_size_bytes=8)
    (root / "m" / "secret.txt").write_text("not a weight file")
    (tmp_path / "outside.bin").write_bytes(b"outside")
    stored = json.loads((root / "m" / "model.json").read_bytes())
    shard = stored["weightsManifest"][0]["paths"][0]
    with running_bridge(str(root)) as base:
        status, headers, data = call(base, "GET", f"/models/m/{shard}")
        assert status == 200 and data == (root / "m" / shard).read_bytes()
        assert headers["content-length"] == str(len(data))
        assert call(base, "GET", "/models/m/secret.txt")[0] == 404
        assert call(base, "GET", "/models/m/../outside.bin")[0] == 400
        assert call(base, "GET", "/models/nothing/model.json")[0] == 404
        # Range and HEAD
        status, headers, data = call(
            base, "GET", f"/models/m/{shard}", headers={"Range": "bytes=2-5"}
        )
        assert status == 206 and data == (root / "m" / shard).read_bytes()[2:6]
        assert headers["content-range"] == f"bytes 2-5/{(root / 'm' / shard).stat().st_size}"
        assert call(base, "GET", f"/models/m/{shard}", headers={"Range": "bytes=99-"})[0] == 416
        status, headers, data = call(base, "HEAD", f"/models/m/{shard}")
        assert status == 200 and data == b"" and headers["content-length"] == "8"
        # weight files are read-only; unknown routes answer JSON too
        for method in ("DELETE", "PUT", "OPTIONS"):
            status, headers, data = call(base, method, f"/models/m/{shard}")
            assert status == 405 and headers["allow"] == "GET, HEAD", method
        for method in ("DELETE", "PATCH", "OPTIONS"):  # model.json also takes uploads
            status, headers, data = call(base, method, "/models/m/model.json")
            assert status == 405 and headers["allow"] == "GET, HEAD, POST, PUT", method
        assert (root / "m" / shard).exists()
        status, _, data = call(base, "GET", "/nothing/here")
        assert status == 404 and json.loads(data)["status"] == 404
        # the model's info, by name
        status, _, data = call(base, "GET", "/models/m")
        assert status == 200 and json.loads(data)["modelArtifactsInfo"]["weightDataBytes"] == 12


def test_cors_for_allowed_origins_only(tmp_path: Path) -> None:
    with running_bridge(str(tmp_path), cors_origins=[ORIGIN], token=TOKEN) as base:
        preflight = {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization",
        }
        status, headers, _ = call(base, "OPTIONS", "/models/m", headers=preflight)
        assert status == 200
        assert headers["access-control-allow-origin"] == ORIGIN
        assert "PUT" in headers["access-control-allow-methods"]
        assert "authorization" in headers["access-control-allow-headers"].lower()
        status, headers, _ = call(
            base, "OPTIONS", "/models/m", headers={**preflight, "Origin": "http://evil.test"}
        )
        assert status == 400 and "access-control-allow-origin" not in headers
        # a 401 still carries CORS headers, so the page can read the status
        status, headers, _ = call(base, "GET", "/models", headers={"Origin": ORIGIN})
        assert status == 401 and headers["access-control-allow-origin"] == ORIGIN
        status, headers, _ = call(base, "GET", "/models", headers={"Origin": "http://evil.test"})
        assert "access-control-allow-origin" not in headers
    with running_bridge(str(tmp_path)) as base:  # no origins configured: no CORS at all
        status, headers, _ = call(base, "GET", "/models", headers={"Origin": ORIGIN})
        assert status == 200 and "access-control-allow-origin" not in headers


def test_public_read_lets_gets_through(tmp_path: Path) -> None:
    tfjs_store.save(fixture("dense-http-capture"), str(tmp_path / "m"))
    with running_bridge(str(tmp_path), token=TOKEN, public_read=True) as base:
        assert call(base, "GET", "/models/m/model.json")[0] == 200
        tfjs_store.load(f"{base}/models/m/model.json")
        assert call(base, "DELETE", "/models/m")[0] == 401
        with pytest.raises(tfjs_store.HTTPStatusError) as info:
            tfjs_store.save(fixture("dense-http-capture"), f"{base}/models/n")
        assert info.value.status == 401


def test_upload_is_streamed_not_held_in_memory(tmp_path: Path) -> None:
    """A 32 MiB upload and its save allocate a small fraction of that (client + bridge)."""
    size = 32 * 1024 * 1024
    artifacts = tfjs_store.ModelArtifacts.from_weights(
        {"big": np.arange(size // 4, dtype=np.float32)}
    )
    with running_bridge(str(tmp_path / "root"), max_upload_bytes=2 * size) as base:
        tracemalloc.start()
        try:
            tfjs_store.save(artifacts, f"{base}/models/big")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < size / 4, f"peak traced allocation {peak} bytes for a {size}-byte upload"
    loaded = tfjs_store.load(str(tmp_path / "root" / "big"))
    assert np.array_equal(loaded.weights()["big"], artifacts.weights()["big"])


def test_openapi_document_is_valid_and_describes_the_routes(tmp_path: Path) -> None:
    from openapi_spec_validator import validate

    with running_bridge(str(tmp_path), token=TOKEN) as base:
        status, _, data = call(base, "GET", "/openapi.json")
    assert status == 200
    doc = json.loads(data)
    validate(doc)
    assert set(doc["paths"]) == {
        "/models",
        "/models/{name}",
        "/models/{name}/model.json",
        "/models/{name}/{weightPath}",
        "/openapi.json",
    }
    upload = doc["paths"]["/models/{name}"]["post"]
    assert set(upload["responses"]) == {
        "200", "400", "401", "403", "412", "413", "415", "421", "501", "502"
    }
    assert {p["name"] for p in upload["parameters"]} == {"If-Match", "If-None-Match"}
    # every route may answer 421 (a foreign Host); only writes 403 (a foreign Origin)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert "421" in operation["responses"], (path, method)
            assert ("403" in operation["responses"]) == (method in ("post", "put", "delete"))
    assert upload["security"] == [{"bearer": []}]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]["anyOf"][0]["$ref"]
    assert form == "#/components/schemas/Upload"  # the other shapes: test_upload_shapes.py
    with running_bridge(str(tmp_path)) as base:  # no token: no security described
        open_doc = json.loads(call(base, "GET", "/openapi.json")[2])
    validate(open_doc)
    assert "securitySchemes" not in open_doc["components"]
    assert open_doc["paths"]["/models/{name}"]["post"]["security"] == []
    assert "401" not in open_doc["paths"]["/models/{name}"]["post"]["responses"]


def test_serve_runs_the_bridge_with_uvicorn(tmp_path: Path) -> None:
    """``serve()`` (what ``tfjs-store serve`` calls) in its own process, on a real port."""
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        "from tfjs_store.server import serve; "
        f"serve({str(tmp_path / 'root')!r}, port={port}, log_level='warning', token='t')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _, _ = call(base, "GET", "/openapi.json")
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "serve() did not start"
                time.sleep(0.1)
        assert status == 200
        assert call(base, "GET", "/models")[0] == 401
        artifacts = fixture("dense-http-capture")
        tfjs_store.save(
            artifacts, f"{base}/models/m", request_init={"headers": {"Authorization": "Bearer t"}}
        )
        same_weights(artifacts, tfjs_store.load(str(tmp_path / "root" / "m")))
    finally:
        proc.terminate()
        proc.wait(10)


def test_create_app_takes_layout_as_a_deprecated_spelling_of_upload_form(tmp_path: Path) -> None:
    assert create_app(str(tmp_path), upload_form="single").state.bridge.upload_form == "single"
    with pytest.warns(FutureWarning, match="upload_form"):
        app = create_app(str(tmp_path), layout="single")
    assert app.state.bridge.upload_form == "single"
    with pytest.raises(ValueError, match="upload_form"):
        create_app(str(tmp_path), upload_form="zip")
    with pytest.raises(ValueError, match="disagree"), pytest.warns(FutureWarning):
        create_app(str(tmp_path), upload_form="single", layout="shards")


def test_create_app_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_upload_bytes"):
        create_app(str(tmp_path), max_upload_bytes=0)
    with pytest.raises(ValueError, match="layout"):
        create_app(str(tmp_path), layout="zip")
    with pytest.raises(ValueError, match="token"):
        create_app(str(tmp_path), token="")
