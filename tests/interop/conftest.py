"""Fixtures of the interop matrix only: TF.js saves, the three places, an HTTP capture server."""

from __future__ import annotations

import http.server
import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from interop_matrix import Folder, TfjsSaves
from interop_worker import TfjsWorker
from support.servers import s3_storage_options
from support.tfjs import require_tfjs, run_tfjs
from support.threaded_http import serving


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/interop/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.interop)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "interop: the TF.js interop matrix (tests/interop)")


@pytest.fixture(scope="session")
def tfjs() -> Iterator[Callable[..., dict[str, Any]]]:
    """run_tfjs's signature, once Node and tests/js/node_modules are known to be there;
    model loads go to one long-lived Node worker, builds to fresh processes."""
    require_tfjs()
    worker = TfjsWorker(run_tfjs)
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="session")
def tfjs_saves(
    tfjs: Callable[..., dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> TfjsSaves:
    return TfjsSaves(tmp_path_factory.mktemp("tfjs-saves"), tfjs)


# ---- S3: a public-read bucket, so TF.js can read it over plain http:// ---------------------------


@dataclass(frozen=True)
class PublicBucket:
    endpoint: str
    bucket: str
    storage_options: dict[str, Any]
    fs: Any


@pytest.fixture(scope="session")
def public_bucket(s3_endpoint: str) -> PublicBucket:
    import s3fs

    options = s3_storage_options(s3_endpoint)
    fs = s3fs.S3FileSystem(**options, use_listings_cache=False)
    bucket = f"tfjs-interop-{secrets.token_hex(4)}"
    fs.mkdir(bucket)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    fs.call_s3("put_bucket_policy", Bucket=bucket, Policy=json.dumps(policy))
    return PublicBucket(s3_endpoint, bucket, options, fs)


# ---- folders at each place ---------------------------------------------------------------------


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[-80:]


@pytest.fixture
def make_folder(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], Folder]:
    """make_folder(place) -> a fresh Folder at "file", "s3" or "bridge"."""
    counter = iter(range(1000))

    def make(place: str) -> Folder:
        name = f"{_safe(request.node.name)}-{next(counter)}-{secrets.token_hex(3)}"
        if place == "file":
            import fsspec

            path = str(tmp_path / name)
            return Folder("file", Path(path).as_uri(), {}, fsspec.filesystem("file"), path)
        if place == "s3":
            bucket: PublicBucket = request.getfixturevalue("public_bucket")
            path = f"{bucket.bucket}/{name}"
            return Folder(
                "s3",
                f"s3://{path}",
                dict(bucket.storage_options),
                bucket.fs,
                path,
                http_base=f"{bucket.endpoint}/{path}",
            )
        if place == "bridge":
            bridge = request.getfixturevalue("bridge")
            return bridge.folder(name)  # type: ignore[no-any-return]
        raise ValueError(place)

    return make


# ---- the tfjs-store bridge over memory://, in a thread of this process ---------------------------


@pytest.fixture(scope="session")
def bridge() -> Iterator[Any]:
    from interop_bridge import start_bridge

    running = start_bridge()
    try:
        yield running
    finally:
        running.stop()


# ---- a server that records one POST (what tfjs_store.save sends to http://)


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class CaptureServer:
    def __init__(self) -> None:
        self.requests: dict[str, Captured] = {}
        self.url = ""
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                outer.requests[self.path] = Captured(
                    "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "11")
                self.end_headers()
                self.wfile.write(b'{"ok":true}')

            def log_message(self, *args: Any) -> None:
                pass

        self.handler = Handler


@pytest.fixture(scope="session")
def capture_server() -> Iterator[CaptureServer]:
    server = CaptureServer()
    with serving(server.handler) as url:
        server.url = url
        yield server
