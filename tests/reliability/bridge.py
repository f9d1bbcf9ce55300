"""The bridge in a second process, and raw HTTP helpers for the server tests."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfjs_store import ModelArtifacts
from tfjs_store.format.jsonfmt import js_stringify, model_json_object
from tfjs_store.format.layout import plan_storage

CHILD = Path(__file__).with_name("bridge_child.py")
TOKEN = "reliability-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BOUNDARY = "----tfjsStoreReliabilityBoundary7MA4YWxkTrZu0gW"


@dataclass
class Bridge:
    base: str
    host: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def open_files(self) -> list[str]:
        out = []
        for fd in Path(f"/proc/{self.pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                out.append(os.readlink(fd))
        return out

    def spooled(self) -> list[str]:
        """Temporary (deleted) regular files the server still holds open."""
        return [f for f in self.open_files() if f.endswith("(deleted)") and f.startswith("/")]


@contextlib.contextmanager
def bridge_process(root_url: str, **options: Any) -> Iterator[Bridge]:
    """``create_app(root_url, **options)`` served by uvicorn in a child process."""
    config = json.dumps({"root_url": root_url, **options})
    # The server's log goes to a file: a pipe nobody reads fills up and blocks it.
    with tempfile.NamedTemporaryFile(prefix="bridge-", suffix=".log", delete=False) as log:
        proc = subprocess.Popen(
            [sys.executable, str(CHILD), config],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
        )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline().decode() if ready else ""
        if not line.startswith("PORT "):
            proc.kill()
            tail = Path(log.name).read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the bridge did not start: {line!r} {tail}")
        port = int(line.split()[1])
        yield Bridge(f"http://127.0.0.1:{port}", "127.0.0.1", port, proc, Path(log.name))
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        with contextlib.suppress(OSError):
            os.unlink(log.name)


def call(
    bridge: Bridge,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    conn: http.client.HTTPConnection | None = None,
    timeout: float = 60,
) -> tuple[int, dict[str, str], bytes]:
    """One request, the path sent exactly as given."""
    own = conn is None
    c = conn or http.client.HTTPConnection(bridge.host, bridge.port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=dict(headers or {}))
        resp = c.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        if own:
            c.close()


def tfjs_upload(
    artifacts: ModelArtifacts, boundary: str = BOUNDARY
) -> tuple[bytes, dict[str, str]]:
    """The multipart body TF.js's ``model.save(url)`` sends, and its headers."""
    plan = plan_storage(artifacts, layout="single", single_path="./model.weights.bin")
    model_json = js_stringify(model_json_object(plan.model_json, "tfjs")).encode()
    weights = b"".join(bytes(b) for b in plan.data.buffers)
    crlf = b"\r\n"
    body = b"".join([
        b"--", boundary.encode(), crlf,
        b'Content-Disposition: form-data; name="model.json"; filename="model.json"', crlf,
        b"Content-Type: application/json", crlf, crlf, model_json, crlf,
        b"--", boundary.encode(), crlf,
        b'Content-Disposition: form-data; name="model.weights.bin"; '
        b'filename="model.weights.bin"', crlf,
        b"Content-Type: application/octet-stream", crlf, crlf, weights, crlf,
        b"--", boundary.encode(), b"--", crlf,
    ])
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(body)),
    }
    return body, headers


def fetch_model(bridge: Bridge, name: str, conn: http.client.HTTPConnection | None = None,
                headers: Mapping[str, str] = AUTH, retries: int = 5) -> tuple[str, Any]:
    """GET model.json and every weight file it names, as ``tf.loadLayersModel`` does.

    Returns ("missing", None) when there is no model, ("ok", ModelArtifacts) otherwise.
    A weight file answering 404 while model.json has changed since is a replacement
    under way: read again (as the fsspec handler does). Anything else raises.
    """
    from tfjs_store.format.jsonfmt import parse_model_json

    previous = None
    for _ in range(retries):
        status, _, raw = call(bridge, "GET", f"/models/{name}/model.json", headers=headers,
                              conn=conn)
        if status == 404 and previous is None:
            return "missing", None
        assert status == 200, (status, raw[:300])
        if raw == previous:
            raise AssertionError(f"{name}: a weight file is missing but model.json is unchanged")
        previous = raw
        model_json = parse_model_json(raw)
        buffers = []
        for path in model_json.weight_paths:
            status, _, data = call(bridge, "GET", f"/models/{name}/{path.removeprefix('./')}",
                                   headers=headers, conn=conn)
            if status == 404:
                break
            assert status == 200, (status, data[:300])
            buffers.append(data)
        else:
            return "ok", ModelArtifacts.from_model_json(model_json, buffers,
                                                        drop_keys=("tfjsStore",))
        time.sleep(0.01)
    raise AssertionError(f"{name}: still changing after {retries} reads")
