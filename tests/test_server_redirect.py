"""``serve --redirect-weights``: weight GETs answer ``307`` to a presigned URL of the bucket.

Everything runs against real servers: the bridge on a real uvicorn socket, moto's S3,
Azurite (which checks SAS signatures and their expiry), fake-gcs-server (which serves
path-style signed URLs but does not check signatures), real TF.js in Node. What the
bridge and the bucket send is measured by counting proxies in front of each
(``support/counting_proxy.py``): the body bytes of every answer, by path.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import fsspec
import httpx
import pytest
from support.browser import running_bridge
from support.counting_proxy import CountingProxy, Exchange, counting_proxy
from support.servers import RunningServer, StoreTarget, gcs_storage_options, start_fake_gcs
from support.threaded_http import serving

import tfjs_store
from tfjs_store.server import create_app
from tfjs_store.stores.fsspec import FsspecStore

FIXTURES = Path(__file__).parent / "fixtures" / "tfjs"
NAME = "functional-http-capture"
TOKEN = "redirect-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _options(storage_options: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The target's options, one client for all the bridge's requests, with changes."""
    kept = {k: v for k, v in storage_options.items() if k != "skip_instance_cache"}
    return {**kept, **changes}


def _save(url: str, storage_options: dict[str, Any], shard_size_bytes: int = 100) -> list[str]:
    """The TF.js fixture saved at ``url`` in small shards; its weight paths."""
    artifacts = tfjs_store.load(str(FIXTURES / NAME / "model.json"))
    tfjs_store.save(artifacts, url, storage_options=storage_options,
                    shard_size_bytes=shard_size_bytes)
    with fsspec.open(f"{url}/model.json", "rb", **storage_options) as f:
        stored = json.load(f)
    return [p for group in stored["weightsManifest"] for p in group["paths"]]


def _weight_bytes() -> bytes:
    return (FIXTURES / NAME / "model.weights.bin").read_bytes()


def _path(exchange: Exchange) -> str:
    return urllib.parse.urlsplit(exchange.path).path


def _weights_through(proxy: CountingProxy, mark: int, model: str) -> list[Exchange]:
    """What the bridge answered for ``model``'s weight files since ``mark``."""
    prefix = f"/models/{model}/"
    return [e for e in proxy.since(mark)
            if _path(e).startswith(prefix) and not _path(e).endswith("/model.json")]


def _objects_read(proxy: CountingProxy, mark: int, folder: str) -> list[Exchange]:
    """GETs the bucket answered for weight files under ``folder`` since ``mark``."""
    return [e for e in proxy.since(mark) if e.method == "GET"
            and f"/{folder}/" in _path(e) and not _path(e).endswith("/model.json")]


# -- S3 (moto) -------------------------------------------------------------------------


@pytest.mark.s3
def test_weight_gets_answer_307_to_presigned_urls_that_work(
    s3_target: StoreTarget, s3_endpoint: str
) -> None:
    paths = _save(s3_target.join("m"), s3_target.storage_options)
    assert len(paths) == 4  # 316 bytes in 100-byte shards
    options = _options(s3_target.storage_options)
    with (
        running_bridge(s3_target.url, storage_options=options, token=TOKEN,
                       redirect_weights=True, redirect_expires=120) as base,
        httpx.Client(base_url=base, headers=AUTH, timeout=30) as client,
        httpx.Client(timeout=30) as anyone,
    ):
        model_json = client.get("/models/m/model.json")
        assert model_json.status_code == 200  # model.json stays with the bridge
        assert json.loads(model_json.content)["weightsManifest"][0]["paths"] == paths
        assert client.get(f"/models/m/{paths[0]}").status_code == 307
        assert client.get(f"/models/m/{paths[0]}", headers={"Authorization": ""}
                          ).status_code == 401  # the token still guards the redirect
        got = []
        for path in paths:
            answer = client.get(f"/models/m/{path}")
            assert answer.status_code == 307, answer.text
            assert answer.content == b""
            location = answer.headers["location"]
            assert location.startswith(f"{s3_endpoint}/"), location
            assert urllib.parse.urlsplit(location).path.endswith(f"/m/{path}")
            assert answer.headers["cache-control"] == "private, max-age=60"  # half of 120
            fetched = anyone.get(location)  # no credential: the URL carries it
            assert fetched.status_code == 200
            got.append(fetched.content)
        assert b"".join(got) == _weight_bytes()

        # a range goes along with the redirect
        ranged = client.get(f"/models/m/{paths[1]}", headers={"Range": "bytes=10-19"},
                            follow_redirects=True)
        assert ranged.status_code == 206 and ranged.content == _weight_bytes()[110:120]
        # HEAD, and a conditional GET that matches, are answered by the bridge itself
        head = client.head(f"/models/m/{paths[0]}")
        assert head.status_code == 200 and head.headers["content-length"] == "100"
        same = client.get(f"/models/m/{paths[0]}",
                          headers={"If-None-Match": head.headers["etag"]})
        assert same.status_code == 304 and "location" not in same.headers
        # files the manifest does not name are still refused, not signed
        assert client.get("/models/m/other.bin").status_code == 404
        assert client.get("/models/nope/x.bin").status_code == 404


@pytest.mark.s3
def test_a_file_rewritten_in_place_gets_a_redirect_nobody_keeps(s3_target: StoreTarget) -> None:
    """layout="single" rewrites model.weights.bin: each load must sign anew."""
    artifacts = tfjs_store.load(str(FIXTURES / NAME / "model.json"))
    tfjs_store.save(artifacts, s3_target.join("s", "model.json"),
                    storage_options=s3_target.storage_options, layout="downloads")
    with (
        running_bridge(s3_target.url, storage_options=_options(s3_target.storage_options),
                       redirect_weights=True) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        answer = client.get("/models/s/model.weights.bin")
        assert answer.status_code == 307
        assert answer.headers["cache-control"] == "no-store"
        assert httpx.get(answer.headers["location"]).content == _weight_bytes()


@pytest.mark.node
@pytest.mark.s3
@pytest.mark.parametrize("redirect", [True, False], ids=["redirect", "streamed"])
def test_node_tfjs_loads_through_a_redirecting_bridge_that_sends_no_weight_byte(
    redirect: bool, s3_target: StoreTarget, s3_endpoint: str
) -> None:
    """tf.loadLayersModel follows the 307s and predicts bit-exact; the bridge sends 0
    weight bytes and the bucket sends each weight file once. The streamed run is the
    control: the same measurement sees every weight byte go through the bridge."""
    from support.tfjs import require_tfjs, run_tfjs

    require_tfjs()
    paths = _save(s3_target.join("fn"), s3_target.storage_options)
    expected = json.loads((FIXTURES / NAME / "expected.json").read_text())
    folder = urllib.parse.urlsplit(s3_target.url).path.strip("/")
    with counting_proxy(s3_endpoint) as bucket:
        options = _options(s3_target.storage_options, endpoint_url=bucket.url)
        with (
            running_bridge(s3_target.url, storage_options=options,
                           redirect_weights=redirect) as base,
            counting_proxy(base) as bridge,
        ):
            loaded = run_tfjs("load-predict", "--url", f"{bridge.url}/models/fn/model.json",
                              "--model", "functional")
            through_bridge = _weights_through(bridge, 0, "fn")
            from_bucket = _objects_read(bucket, 0, f"{folder}/fn")
    assert [p["hex"] for p in loaded["predictions"]] == [p["hex"] for p in expected["predictions"]]
    assert [w["hex"] for w in loaded["weights"]] == [w["hex"] for w in expected["weights"]]
    assert sorted(_path(e).rsplit("/", 1)[1] for e in through_bridge) == sorted(paths)
    sent_by_bridge = sum(e.body_bytes for e in through_bridge)
    if redirect:
        assert {e.status for e in through_bridge} == {307}
        assert sent_by_bridge == 0
        # the bucket answered Node's GETs of the presigned URLs: each file once, whole
        assert sorted(_path(e).rsplit("/", 1)[1] for e in from_bucket) == sorted(paths)
        assert all("?" in e.path and e.status == 200 for e in from_bucket), from_bucket
        assert sum(e.body_bytes for e in from_bucket) == len(_weight_bytes())
    else:
        assert {e.status for e in through_bridge} == {200}
        assert sent_by_bridge == len(_weight_bytes())


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><script src="/tf.min.js"></script><script>
function hex(t) {
  const a = t.dataSync();
  return Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
                    (b) => b.toString(16).padStart(2, '0')).join('');
}
window.runScenario = async (args) => {
  await tf.setBackend('cpu');
  const model = await tf.loadLayersModel(args.url);
  return {weights: model.getWeights().map(hex)};
};
window.scenarioReady = true;
</script></head><body></body></html>
"""


@pytest.mark.browser
@pytest.mark.s3
@pytest.mark.timeout(300)
def test_chromium_page_of_another_origin_loads_through_the_redirect(
    s3_target: StoreTarget, s3_endpoint: str
) -> None:
    """A page on one origin, the bridge on another, the bucket on a third: Chromium
    follows the 307s, sends the bucket ``Origin: null`` (the redirect taints the
    request, as docs/deploy.md says), and the weights arrive bit-exact."""
    from support.browser import TFJS_BUNDLE, ensure_chromium, run_playwright, running_static
    from support.tfjs import require_tfjs

    require_tfjs()
    chromium = ensure_chromium()
    paths = _save(s3_target.join("fn"), s3_target.storage_options)
    expected = json.loads((FIXTURES / NAME / "expected.json").read_text())
    folder = urllib.parse.urlsplit(s3_target.url).path.strip("/")
    routes = {"/index.html": (_PAGE.encode(), "text/html; charset=utf-8"),
              "/tf.min.js": (TFJS_BUNDLE.read_bytes(), "text/javascript")}
    with running_static(routes) as page_url, counting_proxy(s3_endpoint) as bucket:
        options = _options(s3_target.storage_options, endpoint_url=bucket.url)
        with (
            running_bridge(s3_target.url, storage_options=options, cors_origins=[page_url],
                           redirect_weights=True) as base,
            counting_proxy(base) as bridge,
        ):
            answer = run_playwright({
                "executablePath": chromium,
                "pageUrl": f"{page_url}/index.html",
                "args": {"url": f"{bridge.url}/models/fn/model.json"},
            })
            through_bridge = _weights_through(bridge, 0, "fn")
            from_bucket = _objects_read(bucket, 0, f"{folder}/fn")
    assert answer["result"]["weights"] == [w["hex"] for w in expected["weights"]]
    assert {e.status for e in through_bridge} == {307}
    assert sum(e.body_bytes for e in through_bridge) == 0
    assert sorted(_path(e).rsplit("/", 1)[1] for e in from_bucket) == sorted(paths)
    assert {e.origin for e in from_bucket} == {"null"}
    assert sum(e.body_bytes for e in from_bucket) == len(_weight_bytes())


@pytest.mark.s3
def test_python_load_with_a_token_follows_the_redirect_without_the_token(
    s3_target: StoreTarget, s3_endpoint: str
) -> None:
    _save(s3_target.join("m"), s3_target.storage_options)
    with counting_proxy(s3_endpoint) as bucket:
        options = _options(s3_target.storage_options, endpoint_url=bucket.url)
        with (
            running_bridge(s3_target.url, storage_options=options, token=TOKEN,
                           redirect_weights=True) as base,
            counting_proxy(base) as bridge,
        ):
            loaded = tfjs_store.load(f"{bridge.url}/models/m/model.json",
                                     request_init={"headers": AUTH})
            assert sum(e.body_bytes for e in _weights_through(bridge, 0, "m")) == 0
    expected = tfjs_store.load(str(FIXTURES / NAME / "model.json"))
    assert list(loaded.weights()) == list(expected.weights())
    for key, value in expected.weights().items():
        assert loaded.weights()[key].tobytes() == value.tobytes(), key


# -- the http client keeps credentials home --------------------------------------------


@contextlib.contextmanager
def _redirecting_pair() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """Two servers on two ports (two origins): ``/w`` on the first answers 307 to the
    second, which answers b"data" and records the headers it got."""
    seen: list[dict[str, str]] = []

    class Target(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"data")

        def log_message(self, format: str, *args: object) -> None:
            return

    with serving(Target) as target_url:

        class Redirector(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(307)
                self.send_header("Location", f"{target_url}/object?sig=1")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        with serving(Redirector) as redirector_url:
            yield redirector_url, seen


def test_http_handler_drops_credentials_on_a_redirect_to_another_origin() -> None:
    from tfjs_store.handlers.http import HTTPHandler

    with _redirecting_pair() as (base, seen):
        handler = HTTPHandler(f"{base}/model.json", request_init={"headers": {
            **AUTH, "Cookie": "session=1", "X-Trace": "kept"}})
        assert bytes(handler.http_store.read_range("w", 1, 3)) == b"at"
    (headers,) = seen
    assert "authorization" not in headers and "cookie" not in headers
    assert headers["x-trace"] == "kept" and headers["range"] == "bytes=1-2"


# -- where the store cannot sign -------------------------------------------------------


def test_a_store_that_cannot_sign_streams_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _save(str(tmp_path / "m"), {})
    assert FsspecStore.from_url(str(tmp_path / "m")).signed_url("model.json", 60) is None
    caplog.set_level(logging.WARNING, logger="tfjs_store.server")
    with running_bridge(str(tmp_path), redirect_weights=True) as base:
        for _ in range(2):
            loaded = tfjs_store.load(f"{base}/models/m/model.json")
    assert loaded.weights().keys() == tfjs_store.load(str(tmp_path / "m")).weights().keys()
    said = [r for r in caplog.records if "cannot presign" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in caplog.records]
    assert "streamed" in said[0].getMessage()


def test_redirect_expires_is_checked(tmp_path: Path) -> None:
    for bad in (0, -1, 604801, 1.5, True, "60"):
        with pytest.raises(ValueError, match="redirect_expires"):
            create_app(str(tmp_path), redirect_weights=True, redirect_expires=bad)  # type: ignore[arg-type]
    create_app(str(tmp_path), redirect_weights=True, redirect_expires=604800)


def test_openapi_tells_the_307_only_when_redirecting(tmp_path: Path) -> None:
    for redirect in (False, True):
        with (
            running_bridge(str(tmp_path), redirect_weights=redirect) as base,
            httpx.Client(base_url=base) as client,
        ):
            doc = client.get("/openapi.json").json()
        responses = doc["paths"]["/models/{name}/{weightPath}"]["get"]["responses"]
        assert ("307" in responses) is redirect


# -- Azure (Azurite checks SAS signatures and their expiry) ----------------------------


@pytest.mark.azure
def test_azure_sas_redirects_work_and_expire(az_target: StoreTarget) -> None:
    paths = _save(az_target.join("m"), az_target.storage_options)
    options = _options(az_target.storage_options)
    with (
        running_bridge(az_target.url, storage_options=options, redirect_weights=True,
                       redirect_expires=2) as base,
        counting_proxy(base) as bridge,
        httpx.Client(base_url=bridge.url, timeout=30) as client,
    ):
        answer = client.get(f"/models/m/{paths[0]}")
        assert answer.status_code == 307
        location = answer.headers["location"]
        assert "sig=" in location and "sp=r" in location  # a read-only SAS
        assert answer.headers["cache-control"] == "private, max-age=1"
        assert httpx.get(location).content == _weight_bytes()[:100]
        tampered = location.replace("sig=", "sig=A")
        assert httpx.get(tampered).status_code == 403  # Azurite checks the signature
        loaded = tfjs_store.load(f"{bridge.url}/models/m/model.json")
        assert sum(e.body_bytes for e in _weights_through(bridge, 0, "m")) == 0
        time.sleep(3.5)
        assert httpx.get(location).status_code == 403  # and its expiry
    expected = tfjs_store.load(str(FIXTURES / NAME / "model.json"))
    for key, value in expected.weights().items():
        assert loaded.weights()[key].tobytes() == value.tobytes(), key


@pytest.mark.azure
def test_azure_without_an_account_key_cannot_sign(az_target: StoreTarget) -> None:
    conn = dict(part.split("=", 1) for part in
                az_target.storage_options["connection_string"].strip(";").split(";"))
    anonymous = fsspec.filesystem("az", account_name=conn["AccountName"], anon=True,
                                  account_host=conn["BlobEndpoint"].split("//", 1)[1]
                                  .split("/", 1)[0], skip_instance_cache=True)
    assert FsspecStore(anonymous, az_target.path).signed_url("model.json", 60) is None


# -- GCS (fake-gcs-server: path-style URLs served, signatures not checked) ---------------


@contextlib.contextmanager
def _token_endpoint() -> Iterator[str]:
    """An OAuth token endpoint that grants any request (for a service account's key)."""

    class Grant(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"access_token": "t", "expires_in": 3600,
                               "token_type": "Bearer"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    with serving(Grant) as base:
        yield f"{base}/token"


def _service_account(token_uri: str) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {"type": "service_account", "project_id": "test", "private_key_id": "k1",
            "private_key": pem, "client_email": "signer@test.iam.gserviceaccount.com",
            "client_id": "1", "token_uri": token_uri}


@pytest.fixture(scope="module")
def public_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_fake_gcs(tmp_path_factory.mktemp("fake-gcs-public"), public_host=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.gcs
def test_gcs_v4_signed_redirects_with_a_service_account(public_gcs: RunningServer) -> None:
    with _token_endpoint() as token_uri:
        options = {**gcs_storage_options(public_gcs.url), "token": _service_account(token_uri)}
        fs = fsspec.filesystem("gcs", **options)
        fs.mkdir("signed")
        paths = _save("gcs://signed/models/m", options)
        with (
            running_bridge("gcs://signed/models", storage_options=_options(options),
                           redirect_weights=True) as base,
            counting_proxy(base) as bridge,
        ):
            answer = httpx.get(f"{bridge.url}/models/m/{paths[0]}")
            assert answer.status_code == 307
            location = answer.headers["location"]
            assert location.startswith(f"{public_gcs.url}/signed/models/m/{paths[0]}?")
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
            assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"]
            assert query["X-Goog-Expires"] == ["300"]
            assert httpx.get(location).content == _weight_bytes()[:100]
            loaded = tfjs_store.load(f"{bridge.url}/models/m/model.json")
            assert sum(e.body_bytes for e in _weights_through(bridge, 0, "m")) == 0
    expected = tfjs_store.load(str(FIXTURES / NAME / "model.json"))
    for key, value in expected.weights().items():
        assert loaded.weights()[key].tobytes() == value.tobytes(), key


@pytest.mark.gcs
def test_anonymous_gcs_cannot_sign(gcs_target: StoreTarget) -> None:
    fs = fsspec.filesystem("gcs", **gcs_target.storage_options)
    assert FsspecStore(fs, gcs_target.path).signed_url("model.json", 60) is None
