"""The http(s) handler: TF.js's multipart save and its load URL rules, against real servers.

Receivers are not ours: a hand-written Flask app reading ``request.files['model.json']``
(what every TF.js tutorial does) and the standard library's ``email`` parser. Loads go to
a threaded ``http.server`` that logs every request and can delay, break or truncate
answers. The multipart body is also compared byte for byte with what real TF.js in Node
sent (the ``*-http-capture`` fixtures).
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import itertools
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.threaded_http import serving, serving_wsgi

import tfjs_store
from tfjs_store.handlers.http import HTTPHandler, HTTPResponse, encode_multipart, weight_urls

FIXTURES = Path(__file__).parent / "fixtures" / "tfjs"
CAPTURES = ["dense-http-capture", "dense-http-capture-adam", "functional-http-capture"]
NODE_BOUNDARY = "----formdata-undici-031415926535"


def _fixture(name: str) -> tfjs_store.ModelArtifacts:
    return tfjs_store.load(str(FIXTURES / name / "model.json"))


def _same_weights(a: tfjs_store.ModelArtifacts, b: tfjs_store.ModelArtifacts) -> None:
    wa, wb = a.weights(), b.weights()
    assert list(wa) == list(wb)
    for key in wa:
        assert wa[key].dtype == wb[key].dtype and wa[key].shape == wb[key].shape
        assert wa[key].tobytes() == wb[key].tobytes(), key


# -- the body --------------------------------------------------------------------------


@pytest.mark.parametrize("name", CAPTURES)
def test_body_is_byte_identical_to_what_node_tfjs_sends(name: str) -> None:
    artifacts = _fixture(name)
    from tfjs_store.format.jsonfmt import js_stringify, model_json_object
    from tfjs_store.format.layout import plan_storage

    plan = plan_storage(artifacts, layout="single", single_path="./model.weights.bin")
    model_json = js_stringify(model_json_object(plan.model_json, "tfjs")).encode()
    body = encode_multipart(model_json, plan.data.buffers, boundary=NODE_BOUNDARY)
    captured = (FIXTURES / name / "request.body").read_bytes()
    assert body.to_bytes() == captured
    assert len(body) == len(captured)
    assert body.content_type == (FIXTURES / name / "request.content-type").read_text()


def test_body_streams_the_callers_buffers_without_joining() -> None:
    a = np.arange(1000, dtype=np.float32)
    b = np.arange(10, dtype=np.int32)
    body = encode_multipart(b"{}", [a, b], boundary="xyz")
    chunks = list(body)
    assert any(np.shares_memory(np.frombuffer(c, np.uint8), a) for c in chunks if len(c))
    assert any(np.shares_memory(np.frombuffer(c, np.uint8), b) for c in chunks if len(c))
    assert sum(len(c) for c in chunks) == len(body) == len(body.to_bytes())
    assert list(body) == chunks  # iterable again (a redirect re-sends it)
    no_weights = encode_multipart(b"{}", None, boundary="xyz").to_bytes()
    assert b"model.weights.bin" not in no_weights


# -- plain receivers ---------------------------------------------------------------------


@dataclass
class Received:
    requests: list[dict[str, Any]] = field(default_factory=list)


@contextlib.contextmanager
def flask_receiver(status: int = 200) -> Iterator[tuple[str, Received]]:
    """A receiver written the way TF.js users write them, with Flask."""
    from flask import Flask, jsonify, request

    app = Flask("receiver")
    received = Received()

    @app.route("/upload", methods=["POST", "PUT"])
    def upload() -> Any:
        files = request.files
        received.requests.append(
            {
                "method": request.method,
                "content_type": request.headers.get("Content-Type"),
                "content_length": request.headers.get("Content-Length"),
                "x_api_key": request.headers.get("X-Api-Key"),
                "fields": list(files.keys()),
                "model.json": files["model.json"].read(),
                "model.json filename": files["model.json"].filename,
                "model.json type": files["model.json"].mimetype,
                "weights": files["model.weights.bin"].read()
                if "model.weights.bin" in files
                else None,
                "weights filename": files["model.weights.bin"].filename
                if "model.weights.bin" in files
                else None,
                "weights type": files["model.weights.bin"].mimetype
                if "model.weights.bin" in files
                else None,
            }
        )
        if status != 200:
            return jsonify({"error": "refused"}), status
        return jsonify({"saved": True})

    with serving_wsgi(app) as base:
        yield f"{base}/upload", received


@pytest.mark.parametrize("name", CAPTURES)
def test_save_is_read_by_a_flask_receiver(name: str) -> None:
    artifacts = _fixture(name)
    with flask_receiver() as (url, received):
        result = tfjs_store.save(artifacts, url)
    (req,) = received.requests
    assert req["method"] == "POST"
    assert req["fields"] == ["model.json", "model.weights.bin"]
    assert req["model.json filename"] == "model.json"
    assert req["model.json type"] == "application/json"
    assert req["weights filename"] == "model.weights.bin"
    assert req["weights type"] == "application/octet-stream"
    # exactly the bytes real TF.js sent for the same model
    assert req["model.json"] == (FIXTURES / name / "model.json").read_bytes()
    assert req["weights"] == (FIXTURES / name / "model.weights.bin").read_bytes()
    assert req["content_type"].startswith("multipart/form-data; boundary=")
    assert int(req["content_length"]) > len(req["model.json"]) + len(req["weights"])
    # SaveResult: TF.js's info plus the response
    assert result.model_artifacts_info.weight_data_bytes == len(req["weights"])
    (response,) = result.responses or []
    assert isinstance(response, HTTPResponse)
    assert response.status == 200 and response.ok
    assert response.json() == {"saved": True}
    assert response.header("content-type") == "application/json"


def test_request_init_method_and_headers_reach_the_receiver() -> None:
    artifacts = _fixture("dense-http-capture")
    with flask_receiver() as (url, received):
        tfjs_store.save(
            artifacts, url, request_init={"method": "PUT", "headers": {"X-Api-Key": "k1"}}
        )
    (req,) = received.requests
    assert req["method"] == "PUT"
    assert req["x_api_key"] == "k1"


def test_non_2xx_raises_with_tfjs_wording_and_status() -> None:
    with flask_receiver(status=403) as (url, received):
        try:
            tfjs_store.save(_fixture("dense-http-capture"), url)
        except tfjs_store.HTTPStatusError as exc:
            error = exc
        else:
            pytest.fail("a 403 answer did not raise")
    assert len(received.requests) == 1
    assert error.status == 403
    assert error.url == url
    assert str(error).startswith(
        "BrowserHTTPRequest.save() failed due to HTTP response status 403."
    )
    assert isinstance(error, tfjs_store.StorageError)


def test_bad_request_init_is_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="requestInit is expected to have no pre-existing body"):
        HTTPHandler("http://127.0.0.1:9/x", request_init={"body": b"x"})
    handler = HTTPHandler(
        "http://127.0.0.1:9/x", request_init={"headers": {"Content-Type": "text/plain"}}
    )
    with pytest.raises(ValueError, match="Content-Type"):
        handler.save(_fixture("dense-http-capture"))
    with pytest.raises(ValueError, match="not supported"):
        HTTPHandler("http://127.0.0.1:9/x", request_init={"credentials": "include"})
    with pytest.raises(
        TypeError, match=r"unexpected keyword argument 'storage_options'.*request_init"
    ):
        tfjs_store.load("http://127.0.0.1:9/x", storage_options={"headers": {"a": "b"}})


def test_unreachable_peer_is_a_storage_error() -> None:
    with pytest.raises(tfjs_store.StorageError, match=r"POST http://127\.0\.0\.1:9/x failed"):
        tfjs_store.save(_fixture("dense-http-capture"), "http://127.0.0.1:9/x")


def test_email_parser_reads_the_body() -> None:
    """The standard library's MIME parser (no HTTP server) agrees on every part."""
    artifacts = _fixture("functional-http-capture")
    captured: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            captured["body"] = self.rfile.read(length)
            captured["content_type"] = self.headers["Content-Type"]
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        result = tfjs_store.save(artifacts, f"{base}/anything")
    assert result.responses and result.responses[0].status == 201
    raw = f"Content-Type: {captured['content_type']}\r\n\r\n".encode() + captured["body"]
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    parts = list(message.iter_parts())
    assert [p.get_param("name", header="content-disposition") for p in parts] == [
        "model.json",
        "model.weights.bin",
    ]
    assert [p.get_filename() for p in parts] == ["model.json", "model.weights.bin"]
    assert parts[0].get_content_type() == "application/json"
    assert parts[1].get_content_type() == "application/octet-stream"
    model_json = parts[0].get_payload(decode=True)
    assert model_json == (FIXTURES / "functional-http-capture" / "model.json").read_bytes()
    assert json.loads(model_json)["weightsManifest"][0]["paths"] == ["./model.weights.bin"]
    weights = parts[1].get_payload(decode=True)
    assert weights == b"".join(bytes(b) for b in artifacts.buffers)


# -- loading -----------------------------------------------------------------------------


@dataclass
class StaticLog:
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextlib.contextmanager
def static_server(
    root: Path,
    *,
    delay: float = 0.0,
    fail: Callable[[str], int | None] = lambda path: None,
    truncate: Callable[[str], int | None] = lambda path: None,
) -> Iterator[tuple[str, StaticLog]]:
    """Serve ``root`` read-only; log paths and headers; ``fail(path)`` -> status to answer
    instead; ``truncate(path)`` -> serve only that many bytes (with a matching length)."""
    log = StaticLog()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with log.lock:
                log.paths.append(self.path)
                log.headers.append(dict(self.headers.items()))
                log.in_flight += 1
                log.max_in_flight = max(log.max_in_flight, log.in_flight)
            try:
                if delay and self.path.split("?")[0].endswith(".bin"):
                    time.sleep(delay)
                path = self.path.split("?", 1)[0]
                status = fail(path)
                file = root / path.lstrip("/")
                if status is None and not file.is_file():
                    status = 404
                if status is not None:
                    body = b"<html>error page</html>"
                    self.send_response(status)
                else:
                    body = file.read_bytes()
                    cut = truncate(path)
                    if cut is not None:
                        body = body[:cut]
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            finally:
                with log.lock:
                    log.in_flight -= 1

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        yield base, log


@pytest.fixture
def sharded(tmp_path: Path) -> tuple[Path, tfjs_store.ModelArtifacts]:
    """The functional fixture saved by tfjs-store in 64-byte shards (several files)."""
    artifacts = _fixture("functional-http-capture")
    folder = tmp_path / "site" / "models" / "fn"
    tfjs_store.save(artifacts, str(folder), shard_size_bytes=64)
    return folder, artifacts


def test_load_follows_tfjs_url_rules_and_carries_the_query(
    sharded: tuple[Path, tfjs_store.ModelArtifacts],
) -> None:
    folder, artifacts = sharded
    paths = json.loads((folder / "model.json").read_bytes())["weightsManifest"][0]["paths"]
    assert len(paths) > 3
    with static_server(folder.parent.parent) as (base, log):
        loaded = tfjs_store.load(
            f"{base}/models/fn/model.json?sig=abc",
            request_init={"headers": {"Authorization": "Bearer t"}},
        )
    _same_weights(artifacts, loaded)
    assert log.paths[0] == "/models/fn/model.json?sig=abc"
    assert sorted(log.paths[1:]) == sorted(f"/models/fn/{p}?sig=abc" for p in paths)
    assert all(h.get("Authorization") == "Bearer t" for h in log.headers)
    assert "tfjsStore" not in (loaded.model_extra or {})


def test_weight_url_rules_match_the_spec() -> None:
    assert weight_urls("http://h/a/model.json?x=1", ["./w.bin"]) == ["http://h/a/./w.bin?x=1"]
    # prefix is concatenated as is (no slash inserted); the query is still appended
    assert weight_urls(
        "http://h/a/model.json?x=1", ["w.bin"], weight_path_prefix="http://cdn/w"
    ) == ["http://cdn/ww.bin?x=1"]
    # a '?' before the last '/' is not a query of the file
    assert weight_urls("http://h/a?q=1/model.json", ["w.bin"]) == ["http://h/a?q=1/w.bin"]
    assert weight_urls("model.json", ["w.bin"]) == ["/w.bin"]
    assert weight_urls(
        "http://h/a/model.json?x=1", ["w.bin"], weight_url_converter=lambda p: f"http://o/{p}"
    ) == ["http://o/w.bin"]


def test_weight_path_prefix_and_converter(
    sharded: tuple[Path, tfjs_store.ModelArtifacts], tmp_path: Path
) -> None:
    folder, artifacts = sharded
    site = folder.parent.parent
    elsewhere = site / "cdn"
    elsewhere.mkdir()
    only_json = site / "json-only"
    only_json.mkdir()
    shutil.copy(folder / "model.json", only_json / "model.json")
    for f in folder.glob("*.bin"):
        shutil.copy(f, elsewhere / f.name)
    with static_server(site) as (base, log):
        by_prefix = tfjs_store.load(
            f"{base}/json-only/model.json", weight_path_prefix=f"{base}/cdn/"
        )
        by_converter = tfjs_store.load(
            f"{base}/json-only/model.json", weight_url_converter=lambda p: f"{base}/cdn/{p}"
        )
    _same_weights(artifacts, by_prefix)
    _same_weights(artifacts, by_converter)
    assert all(p.startswith("/cdn/") for p in log.paths if p.endswith(".bin"))


def test_shards_are_fetched_concurrently_with_progress(
    sharded: tuple[Path, tfjs_store.ModelArtifacts],
) -> None:
    folder, artifacts = sharded
    n = len(list(folder.glob("*.bin")))
    fractions: list[float] = []
    with static_server(folder.parent.parent, delay=0.3) as (base, log):
        start = time.monotonic()
        loaded = tfjs_store.load(
            f"{base}/models/fn/model.json", on_progress=fractions.append, max_concurrency=16
        )
        elapsed = time.monotonic() - start
    _same_weights(artifacts, loaded)
    assert log.max_in_flight >= min(n, 4)
    assert elapsed < 0.3 * n / 2
    assert len(fractions) == 2 * n
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert fractions[0] == pytest.approx(0.5 / n)


def test_a_404_shard_is_an_error_not_weights(
    sharded: tuple[Path, tfjs_store.ModelArtifacts],
) -> None:
    folder, _ = sharded
    victim = sorted(folder.glob("*.bin"))[1].name
    server = static_server(folder.parent.parent, fail=lambda p: 404 if p.endswith(victim) else None)
    with server as (base, _log), pytest.raises(tfjs_store.HTTPStatusError) as info:
        tfjs_store.load(f"{base}/models/fn/model.json")
    assert info.value.status == 404
    assert victim in str(info.value) and "status code 404" in str(info.value)


def test_a_short_shard_is_a_weight_data_error(tmp_path: Path) -> None:
    # a copy without tfjs-store's size record: the spec byte lengths catch it
    plain = tmp_path / "plain"
    tfjs_store.save(_fixture("functional-http-capture"), str(plain), layout="tfjs-node")
    server = static_server(tmp_path, truncate=lambda p: 100 if p.endswith("weights.bin") else None)
    with server as (base, _log), pytest.raises(tfjs_store.WeightDataError, match="weights group 1"):
        tfjs_store.load(f"{base}/plain/model.json")


def test_a_changed_shard_fails_the_recorded_digest(
    sharded: tuple[Path, tfjs_store.ModelArtifacts],
) -> None:
    folder, _ = sharded
    shard = sorted(folder.glob("*.bin"))[0]
    data = bytearray(shard.read_bytes())
    data[0] ^= 0xFF
    shard.write_bytes(bytes(data))
    with static_server(folder.parent.parent) as (base, _log):
        with pytest.raises(tfjs_store.IntegrityError, match=shard.name):
            tfjs_store.load(f"{base}/models/fn/model.json")
        loaded = tfjs_store.load(f"{base}/models/fn/model.json", verify=False)
    assert loaded.weight_data_bytes > 0


def test_model_json_errors_use_tfjs_wording(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "empty.json").write_text('{"format": "layers-model"}')
    with static_server(tmp_path) as (base, _log):
        with pytest.raises(tfjs_store.HTTPStatusError) as info:
            tfjs_store.load(f"{base}/missing/model.json")
        assert info.value.status == 404
        assert str(info.value) == (
            f"Request to {base}/missing/model.json failed with status code 404. Please verify "
            "this URL points to the model JSON of the model to load."
        )
        with pytest.raises(tfjs_store.InvalidModelError) as parse:
            tfjs_store.load(f"{base}/bad.json")
        assert str(parse.value).startswith(
            f"Failed to parse model JSON of response from {base}/bad.json. Please make sure "
            "the server is serving valid JSON for this request."
        )
        with pytest.raises(tfjs_store.InvalidModelError) as neither:
            tfjs_store.load(f"{base}/empty.json")
        assert str(neither.value) == (
            f"The JSON from HTTP path {base}/empty.json contains neither model topology or "
            "manifest for weights."
        )


def test_dot_segments_are_resolved_as_browsers_do(tmp_path: Path) -> None:
    """TF.js's ``./model.weights.bin`` gives ``…/./model.weights.bin``; fetch requests
    ``…/model.weights.bin`` and so do we."""
    site = tmp_path / "site"
    (site / "m").mkdir(parents=True)
    for f in ("model.json", "model.weights.bin"):
        shutil.copy(FIXTURES / "dense-http-capture" / f, site / "m" / f)
    with static_server(site) as (base, log):
        loaded = tfjs_store.load(f"{base}/m/model.json")
    _same_weights(_fixture("dense-http-capture"), loaded)
    assert log.paths == ["/m/model.json", "/m/model.weights.bin"]


def test_http_urls_have_no_model_manager() -> None:
    with pytest.raises(tfjs_store.HandlerError, match="Cannot find model manager"):
        tfjs_store.list_models("http://127.0.0.1:9/models")


# -- the JSON + base64 body (body="json") ---------------------------------------------------


@contextlib.contextmanager
def json_receiver() -> Iterator[tuple[str, Received]]:
    """A receiver for servers that take only JSON: Flask's ``request.get_json()``."""
    from flask import Flask, jsonify, request

    app = Flask("json-receiver")
    received = Received()

    @app.route("/upload", methods=["POST", "PUT"])
    def upload() -> Any:
        raw = request.get_data()
        received.requests.append(
            {
                "method": request.method,
                "content_type": request.headers.get("Content-Type"),
                "content_length": request.headers.get("Content-Length"),
                "raw": raw,
                "json": request.get_json(),
            }
        )
        return jsonify({"saved": True})

    with serving_wsgi(app) as base:
        yield f"{base}/upload", received


@pytest.mark.parametrize("name", ["dense-http-capture-adam", "functional-http-capture"])
def test_json_body_carries_the_artifacts_with_base64_weights(name: str) -> None:
    import base64

    artifacts = _fixture(name)
    with json_receiver() as (url, received):
        result = tfjs_store.save(artifacts, url, body="json", request_init={"method": "PUT"})
    (req,) = received.requests
    assert req["method"] == "PUT"
    assert req["content_type"] == "application/json"
    assert int(req["content_length"]) == len(req["raw"])
    sent = req["json"]
    model_json = json.loads((FIXTURES / name / "model.json").read_bytes())
    expected_keys = [
        k
        for k in (
            *("modelTopology", "trainingConfig", "weightSpecs", "weightData", "format"),
            *("generatedBy", "convertedBy", "userDefinedMetadata"),
        )
        if k in model_json or k in ("weightSpecs", "weightData")
    ]
    assert list(sent) == expected_keys  # TF.js's ModelArtifacts order
    assert sent["weightSpecs"] == model_json["weightsManifest"][0]["weights"]
    weights = (FIXTURES / name / "model.weights.bin").read_bytes()
    assert base64.b64decode(sent["weightData"], validate=True) == weights
    for key in expected_keys:
        if key not in ("weightSpecs", "weightData"):
            assert sent[key] == model_json[key], key
    # the text outside weightData is what TF.js's JSON.stringify writes (the captured body)
    topology = json.dumps(model_json["modelTopology"], separators=(",", ":"), ensure_ascii=False)
    assert topology.encode() in (FIXTURES / name / "model.json").read_bytes()
    assert (
        b'"modelTopology":'
        + (FIXTURES / name / "model.json")
        .read_bytes()
        .split(b'"modelTopology":', 1)[1]
        .split(b',"format"', 1)[0]
        in req["raw"]
    )
    assert result.model_artifacts_info.weight_data_bytes == len(weights)
    assert result.responses and result.responses[0].json() == {"saved": True}


def test_json_body_base64_is_made_in_chunks_across_buffers() -> None:
    import base64

    from tfjs_store.handlers.http import JSONBody

    rng = np.random.default_rng(5)
    data = rng.integers(0, 256, 3 * (1 << 20) + 5, dtype=np.uint8).tobytes()
    for cuts in ([], [1], [1, 2], [2, 3, 3, 4], [1 << 20, (1 << 20) + 1], [5, 786432 + 7]):
        edges = [0, *cuts, len(data)]
        buffers = [data[a:b] for a, b in itertools.pairwise(edges)]
        body = JSONBody(b'{"weightData":"', buffers, b'"}')
        chunks = list(body)
        assert max(len(c) for c in chunks) <= 1 << 20
        text = b"".join(chunks)
        assert len(text) == len(body) == body.content_length
        assert text == b'{"weightData":"' + base64.b64encode(data) + b'"}', cuts
        assert b"".join(body) == text  # iterable again (a redirect re-sends it)
    assert JSONBody(b"{", [b"", b"a", b"", b"bc", b"d"], b"}").to_bytes() == b"{YWJjZA==}"


def test_body_option_is_checked_and_json_needs_no_weights() -> None:
    with pytest.raises(ValueError, match="body must be 'multipart' or 'json'"):
        HTTPHandler("http://127.0.0.1:9/x", body="form")
    topology_only = tfjs_store.ModelArtifacts.create(model_topology={"a": 1})
    with json_receiver() as (url, received):
        tfjs_store.save(topology_only, url, body="json")
    (req,) = received.requests
    assert req["json"] == {"modelTopology": {"a": 1}, "weightSpecs": []}


# -- manifest paths stay in the model's folder -----------------------------------------------


def _write_model(folder: Path, paths: list[str]) -> None:
    """dense-http-capture's model.json with ``paths`` as its manifest paths (no weights)."""
    model_json = json.loads((FIXTURES / "dense-http-capture" / "model.json").read_bytes())
    model_json["weightsManifest"][0]["paths"] = paths
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_text(json.dumps(model_json))


@pytest.mark.parametrize(
    "path",
    [
        "../secret.bin",
        "a/../../secret.bin",
        "%2e%2e/secret.bin",
        "%2E%2E/secret.bin",
        "..%2fsecret.bin",
        "/site/secret.bin",
        "//evil.test/secret.bin",
        "http://evil.test/secret.bin",
        "..\\secret.bin",
        "%2e%2e%2fsecret.bin",
    ],
)
def test_manifest_paths_that_leave_the_folder_are_refused_unfetched(
    path: str, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    _write_model(site / "models" / "m", ["ok.bin", path])
    (site / "models" / "m" / "ok.bin").write_bytes(b"\0" * 6)
    (site / "models" / "secret.bin").write_bytes(b"\0" * 6)
    with static_server(site) as (base, log):
        with pytest.raises(tfjs_store.UnsafePathError) as info:
            tfjs_store.load(f"{base}/models/m/model.json")
        assert log.paths == ["/models/m/model.json"]  # no weight file was requested
        assert f"{base}/models/m/model.json" in str(info.value)
        # the prefix is the caller's; a manifest path still may not climb out of it
        with pytest.raises(tfjs_store.UnsafePathError):
            tfjs_store.load(f"{base}/models/m/model.json", weight_path_prefix=f"{base}/models/m/")
        assert all(p.endswith("model.json") for p in log.paths)


def test_a_file_named_twice_is_refused_and_converters_decide_for_themselves(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    _write_model(site / "models" / "twice", ["w.bin", "./w.bin"])
    _write_model(site / "models" / "up", ["../shared/w1.bin", "../shared/w2.bin"])
    (site / "models" / "shared").mkdir()
    dense = (FIXTURES / "dense-http-capture" / "model.weights.bin").read_bytes()
    (site / "models" / "shared" / "w1.bin").write_bytes(dense[:6])
    (site / "models" / "shared" / "w2.bin").write_bytes(dense[6:])
    with static_server(site) as (base, log):
        with pytest.raises(tfjs_store.InvalidModelError, match="named more than once"):
            tfjs_store.load(f"{base}/models/twice/model.json")
        with pytest.raises(tfjs_store.UnsafePathError):
            tfjs_store.load(f"{base}/models/up/model.json")
        assert not any(p.endswith(".bin") for p in log.paths)
        # a weight_url_converter is the caller's own mapping: it sees the paths as written
        seen: list[str] = []

        def convert(p: str) -> str:
            seen.append(p)
            return f"{base}/models/shared/{p.rsplit('/', 1)[-1]}"

        loaded = tfjs_store.load(f"{base}/models/up/model.json", weight_url_converter=convert)
        assert seen == ["../shared/w1.bin", "../shared/w2.bin"]
        with pytest.raises(tfjs_store.InvalidModelError, match="named more than once"):
            tfjs_store.load(f"{base}/models/twice/model.json", weight_url_converter=convert)
        assert not any(p.endswith("/w.bin") for p in log.paths)
    _same_weights(_fixture("dense-http-capture"), loaded)
