"""Item 5 of issue 9: the bridge refuses hostile requests and changes nothing stored.

The bridge runs in a second process over a root folder that holds a model ``m``; next
to the root lies a sentinel model, where a request escaping the root would land. Each
test attacks it and then checks, through the back door, that every file (under the root
and next to it) is byte for byte as before, that ``m`` still loads, and that the server
holds no spooled upload open.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import tfjs_store

from .bridge import AUTH, TOKEN, bridge_process, call, tfjs_upload
from .common import check_version, scaled, versioned_model

MAX_UPLOAD = 256 * 1024


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(bridge, root, outer): the bridge over ``outer/root``, model ``m`` stored."""
    outer = tmp_path_factory.mktemp("bridge-outer")
    root = outer / "root"
    tfjs_store.save(versioned_model(1), str(root / "m"))
    tfjs_store.save(versioned_model(2), str(outer / "sentinel"))
    (outer / "secret.txt").write_text("not for the bridge")
    with bridge_process(str(root), token=TOKEN, max_upload_bytes=MAX_UPLOAD,
                        shard_size_bytes=4096) as bridge:
        yield bridge, root, outer


@pytest.fixture
def unchanged(served):
    """Checks after the test that nothing stored changed and nothing is left open."""
    bridge, root, outer = served
    before = _tree(outer)
    yield bridge
    deadline = time.monotonic() + 10
    while bridge.spooled() and time.monotonic() < deadline:
        time.sleep(0.05)  # a refused upload's temporary file closes once it is answered
    assert bridge.spooled() == []
    assert _tree(outer) == before
    assert check_version(tfjs_store.load(str(root / "m"))) == 1
    status, _, _ = call(bridge, "GET", "/models/m/model.json", headers=AUTH)
    assert status == 200, "the bridge no longer answers"


def _operations(bridge) -> list[tuple[str, str, bool]]:
    """(method, path, needs auth) of every operation the OpenAPI document lists."""
    status, _, raw = call(bridge, "GET", "/openapi.json", headers=AUTH)
    assert status == 200
    doc = json.loads(raw)
    default = bool(doc.get("security"))
    out = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in ("get", "head", "post", "put", "delete", "patch"):
                secured = bool(operation.get("security", default))
                out.append((method.upper(), path, secured))
    return out


def _fill(path: str) -> str:
    return (path.replace("{name}", "m").replace("{weightPath}", "group1-shard1of1.bin")
            .replace("{path}", "group1-shard1of1.bin"))


def test_every_operation_needs_the_token(unchanged):
    bridge = unchanged
    body, headers = tfjs_upload(versioned_model(3))
    operations = _operations(bridge)
    writes = [(m, p) for m, p, _ in operations if m in ("POST", "PUT", "DELETE", "PATCH")]
    assert len(writes) >= 5, operations
    assert [(m, p) for m, p, secured in operations if not secured] == [("GET", "/openapi.json")]
    for method, path, secured in operations:
        if not secured:
            continue
        url = _fill(path)
        send = body if method in ("POST", "PUT") else None
        for auth in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                     {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"}):
            status, resp_headers, data = call(bridge, method, url, body=send,
                                              headers={**headers, **auth} if send else auth)
            assert status == 401, (method, url, auth, status, data[:200])
            assert resp_headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", [
    "/models/../m", "/models/..%2fm", "/models/%2e%2e", "/models/%2E%2E/sentinel",
    "/models/.%2e/sentinel", "/models/..%5csentinel", "/models/m%2f..%2f..%2fsentinel",
    "/models/%00", "/models/m%00", "/models/" + "a" * 129, "/models/m%20", "/models/%C0%AE%C0%AE",
    "/models/..", "/models/.", "/models/~", "/models/m:x", "/models/sentinel%2fmodel.json",
])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "GET"])
def test_names_that_leave_the_root_are_refused(unchanged, path, method):
    body, headers = tfjs_upload(versioned_model(3))
    send = body if method in ("POST", "PUT") else None
    status, _, data = call(unchanged, method, path, body=send,
                           headers={**headers, **AUTH} if send else AUTH)
    assert 400 <= status < 500, (method, path, status, data[:200])
    if status != 404:
        assert json.loads(data)["error"]


@pytest.mark.parametrize("path", [
    "/models/m/../../secret.txt", "/models/m/..%2f..%2fsecret.txt", "/models/m/%2e%2e/sentinel",
    "/models/m/sub/../../../secret.txt", "/models/m/%2fetc%2fpasswd",
    "/models/m//etc/passwd", "/models/m/model.json/..", "/models/m/.%2e/.%2e/secret.txt",
    "/models/..%2fsentinel/model.json", "/models/m/file%3a%2f%2f%2fetc%2fpasswd",
])
def test_file_paths_that_leave_the_model_are_refused(unchanged, path):
    status, _, data = call(unchanged, "GET", path, headers=AUTH)
    assert status in (400, 404), (path, status, data[:200])
    assert b"not for the bridge" not in data


def test_oversized_bodies_are_refused(unchanged):
    big, headers = tfjs_upload(versioned_model(3, size=MAX_UPLOAD // 2))
    assert len(big) > MAX_UPLOAD
    for name in ("m", "new"):
        status, _, _ = call(unchanged, "POST", f"/models/{name}", body=big,
                                       headers={**headers, **AUTH})
        assert status == 413
        # Declared small, sent big: the server counts what arrives.
        lying = {**headers, **AUTH, "Content-Length": str(len(big))}
        conn_status = _raw_upload(unchanged, f"/models/{name}", lying, big, chunked=False)
        assert conn_status in (413, None)
        chunked = {k: v for k, v in headers.items() if k != "Content-Length"}
        assert _raw_upload(unchanged, f"/models/{name}", {**chunked, **AUTH}, big,
                           chunked=True) in (413, None)


def _raw_upload(bridge, path: str, headers: dict[str, str], body: bytes, *, chunked: bool,
                stop_after: int | None = None, pause: float = 0.0,
                step: int = 4096) -> int | None:
    """Send a request on a raw socket; return the status, or None if the server hung up."""
    sock = socket.create_connection((bridge.host, bridge.port), timeout=30)
    try:
        lines = [f"POST {path} HTTP/1.1", f"Host: {bridge.host}:{bridge.port}"]
        if chunked:
            headers = {**headers, "Transfer-Encoding": "chunked"}
        lines += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        payload = body[:stop_after] if stop_after is not None else body
        try:
            for i in range(0, len(payload), step):
                piece = payload[i : i + step]
                if chunked:
                    piece = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
                sock.sendall(piece)
                if pause:
                    time.sleep(pause)
            if chunked and stop_after is None:
                sock.sendall(b"0\r\n\r\n")
            if stop_after is not None:
                sock.shutdown(socket.SHUT_WR)  # the client gives up mid-body
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return None
        if not answer:
            return None
        return int(answer.split(b" ", 2)[1])
    finally:
        sock.close()


@pytest.mark.parametrize("name", ["m", "fresh"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.99])
def test_truncated_uploads_store_nothing(unchanged, name, chunked, fraction):
    body, headers = tfjs_upload(versioned_model(4))
    if chunked:
        headers = {k: v for k, v in headers.items() if k != "Content-Length"}
    status = _raw_upload(unchanged, f"/models/{name}", {**headers, **AUTH}, body,
                         chunked=chunked, stop_after=int(len(body) * fraction))
    assert status in (400, None), status


def test_slow_upload_does_not_block_others_and_a_stalled_one_stores_nothing(unchanged):
    """A client trickling its body, and one that stalls and leaves, while others work."""
    import threading

    body, headers = tfjs_upload(versioned_model(5))
    results = {}

    def trickle() -> None:
        results["stalled"] = _raw_upload(unchanged, "/models/slow", {**headers, **AUTH}, body,
                                         chunked=False, stop_after=len(body) // 2, pause=0.1,
                                         step=256)

    thread = threading.Thread(target=trickle)
    thread.start()
    time.sleep(0.5)
    assert len(unchanged.spooled()) == 1  # the upload in progress is spilled to disk
    for _ in range(5):  # the bridge keeps answering others meanwhile
        start = time.perf_counter()
        status, _, _ = call(unchanged, "GET", "/models/m/model.json", headers=AUTH)
        assert status == 200 and time.perf_counter() - start < 2.0
    thread.join(timeout=120)
    assert results["stalled"] in (400, None)
    status, _, _ = call(unchanged, "GET", "/models/slow/model.json", headers=AUTH)
    assert status == 404


def test_slow_but_complete_upload_is_stored_whole(served):
    bridge, root, _ = served
    body, headers = tfjs_upload(versioned_model(6, size=3000))
    status = _raw_upload(bridge, "/models/slow-ok", {**headers, **AUTH}, body, chunked=False,
                         pause=0.05, step=1024)
    assert status == 200
    assert check_version(tfjs_store.load(str(root / "slow-ok"))) == 6


GOOD_BODY, GOOD_HEADERS = tfjs_upload(versioned_model(7, size=200))


@pytest.fixture(scope="module")
def served_alone(tmp_path_factory):
    """Like ``served``, but a bridge of its own (what one test leaves open stays its own)."""
    outer = tmp_path_factory.mktemp("bridge-alone")
    root = outer / "root"
    tfjs_store.save(versioned_model(1), str(root / "m"))
    tfjs_store.save(versioned_model(2), str(outer / "sentinel"))
    with bridge_process(str(root), token=TOKEN, max_upload_bytes=MAX_UPLOAD) as bridge:
        yield bridge, root, outer


@settings(max_examples=scaled(80, 800), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    position=st.integers(0, len(GOOD_BODY) - 1),
    action=st.sampled_from(["flip", "cut", "insert", "delete", "boundary", "header"]),
    byte=st.integers(0, 255),
    length=st.integers(1, 64),
)
def test_malformed_multipart_is_refused_or_stored_whole(served_alone, position, action, byte,
                                                        length):
    bridge, root, outer = served_alone
    body = bytearray(GOOD_BODY)
    if action == "flip":
        body[position] ^= byte or 1
    elif action == "cut":
        del body[position:]
    elif action == "insert":
        body[position:position] = bytes([byte]) * length
    elif action == "delete":
        del body[position : position + length]
    elif action == "boundary":
        body[position:position] = b"\r\n--" + GOOD_HEADERS["Content-Type"].split("=", 1)[1].encode()
    else:
        body[position:position] = b"\r\nContent-Disposition: form-data; name=\"x\"\r\n"
    before = _tree(outer)
    headers = {**GOOD_HEADERS, **AUTH, "Content-Length": str(len(body))}
    status, _, data = call(bridge, "POST", "/models/m", body=bytes(body), headers=headers)
    assert status in (200, 400, 413, 415), (status, data[:300])
    event(f"HTTP {status}")
    if status == 200:
        loaded = tfjs_store.load(str(root / "m"))  # whatever was stored is whole
        assert loaded.weights() is not None
        tfjs_store.save(versioned_model(1), str(root / "m"))  # back to the baseline
    else:
        assert json.loads(data)["error"]
        assert _tree(outer) == before
    assert check_version(tfjs_store.load(str(root / "m"))) == 1


def test_uploads_that_are_not_models_are_refused(unchanged):
    cases = [
        (b'{"weightSpecs": [{"name": "w", "shape": [1], "dtype": "float32"}], '
         b'"weightData": "AAAA"}', "application/json"),  # 3 bytes for 4
        (b'{"modelTopology": {}, "weightSpecs": [{"name": "w", "shape": [1099511627776], '
         b'"dtype": "float32"}], "weightData": "AAAAAA=="}', "application/json"),
        (b"[]", "application/json"),
        (b'{"modelTopology": {}, "weightData": "!!!!"}', "application/json"),
        (b"\xff\xfe{", "application/json"),
        (b"[" * 100_000, "application/json"),
    ]
    for body, content_type in cases:
        for name in ("m", "other"):
            status, _, data = call(unchanged, "POST", f"/models/{name}", body=body,
                                   headers={"Content-Type": content_type, **AUTH})
            assert status == 400, (body[:60], status, data[:200])


def test_a_refused_upload_releases_its_temporary_file(served_alone):
    """An upload whose weights do not fit its specs is refused (400) and its spilled
    body is closed with the answer, not whenever the garbage collector runs."""
    bridge, root, _ = served_alone
    marker = b'filename="model.weights.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    at = GOOD_BODY.index(marker) + len(marker)
    bad = GOOD_BODY[:at] + b"\0\0\0\0" + GOOD_BODY[at:]  # 4 bytes more than the specs
    for _ in range(3):
        status, _, data = call(bridge, "POST", "/models/refused", body=bad,
                               headers={**GOOD_HEADERS, **AUTH, "Content-Length": str(len(bad))})
        assert status == 400, data[:200]
    deadline = time.monotonic() + 2
    while bridge.spooled() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bridge.spooled() == [], "refused uploads keep their temporary files open"
    assert not (root / "refused").exists()
