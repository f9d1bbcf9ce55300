"""Issue 21: the bridge refuses cross-site writes (403) and DNS rebinding (421).

Raw HTTP against the bridge on a real uvicorn socket over a local folder: each attack is
sent as a browser would send it (an ``Origin`` naming another site, a ``Host`` naming a
rebound domain), and the folder is compared before and after. The same attacks from real
Chromium pages are in tests/test_browser.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.browser import running_bridge
from test_server import call, fixture, multipart_headers, upload_body

import tfjs_store
from tfjs_store.server import create_app

FOREIGN = "http://evil.example"
ALLOWED = "http://app.example.test:5173"


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A bridge without token (as the README's quick examples run it), CORS for ALLOWED,
    over a folder holding model ``kept``."""
    root = tmp_path / "root"
    tfjs_store.save(fixture("dense-http-capture"), str(root / "kept"))
    with running_bridge(str(root), cors_origins=[ALLOWED]) as base:
        yield base, root


def _port(base: str) -> str:
    return base.rsplit(":", 1)[1]


# -- cross-site writes --------------------------------------------------------------------


@pytest.mark.parametrize("origin", [FOREIGN, "null", "http://127.0.0.1:1", "https://127.0.0.1"])
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/models/x"), ("PUT", "/models/x"), ("POST", "/models/kept/model.json")],
)
def test_upload_from_a_foreign_origin_is_refused_and_stores_nothing(
    bridge: tuple[str, Path], origin: str, method: str, path: str
) -> None:
    base, root = bridge
    before = files(root)
    body = upload_body(fixture("dense-http-capture"))
    status, headers, data = call(
        base, method, path, body=body, headers={**multipart_headers(body), "Origin": origin}
    )
    assert status == 403
    answer = json.loads(data)
    assert answer["status"] == 403 and "\n" not in answer["error"]
    assert repr(origin) in answer["error"] and "--cors-origin" in answer["error"]
    assert "access-control-allow-origin" not in headers
    assert files(root) == before


def test_delete_from_a_foreign_origin_is_refused(bridge: tuple[str, Path]) -> None:
    base, root = bridge
    before = files(root)
    for origin in (FOREIGN, "null"):
        status, _, data = call(base, "DELETE", "/models/kept", headers={"Origin": origin})
        assert status == 403, data
    assert files(root) == before
    assert call(base, "GET", "/models/kept/model.json")[0] == 200


def test_json_upload_from_a_foreign_origin_is_refused(bridge: tuple[str, Path]) -> None:
    """A JSON body needs a preflight from a page, but a refused preflight does not stop
    a non-browser sender that copies a page's Origin; the check stands on its own."""
    base, root = bridge
    before = files(root)
    status, _, _ = call(
        base,
        "POST",
        "/models/x",
        body=b'{"modelTopology": {}}',
        headers={"Content-Type": "application/json", "Origin": FOREIGN},
    )
    assert status == 403
    assert files(root) == before


def test_writes_from_allowed_and_own_origins_and_without_origin_work(
    bridge: tuple[str, Path],
) -> None:
    base, root = bridge
    body = upload_body(fixture("dense-http-capture"))
    port = _port(base)
    senders = {
        "cors": {"Origin": ALLOWED},
        "own": {"Origin": base},
        "own-localhost": {"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"},
        "none": {},
    }
    for name, origin in senders.items():
        status, headers, data = call(
            base,
            "POST",
            f"/models/{name}",
            body=body,
            headers={**multipart_headers(body), **origin},
        )
        assert status == 200, (name, data)
        if name == "cors":
            assert headers["access-control-allow-origin"] == ALLOWED
        tfjs_store.load(str(root / name))
    for name, origin in senders.items():
        assert call(base, "DELETE", f"/models/{name}", headers=origin)[0] == 200, name
        assert not (root / name / "model.json").exists()


def test_own_origin_is_scheme_host_and_port(bridge: tuple[str, Path]) -> None:
    """An Origin on another port, scheme or host name than the request's Host is foreign."""
    base, root = bridge
    port = _port(base)
    for origin in (
        f"http://127.0.0.1:{int(port) + 1}",
        f"https://127.0.0.1:{port}",
        f"http://localhost:{port}",  # the request says Host: 127.0.0.1:PORT
        f"http://127.0.0.1:{port}/path",
    ):
        assert call(base, "DELETE", "/models/kept", headers={"Origin": origin})[0] == 403, origin
    assert (root / "kept" / "model.json").exists()


def test_any_origin_with_cors_star(tmp_path: Path) -> None:
    body = upload_body(fixture("dense-http-capture"))
    with running_bridge(str(tmp_path), cors_origins=["*"]) as base:
        for origin in (FOREIGN, "null"):
            status, _, _ = call(
                base,
                "POST",
                "/models/m",
                body=body,
                headers={**multipart_headers(body), "Origin": origin},
            )
            assert status == 200, origin
    tfjs_store.load(str(tmp_path / "m"))


def test_reads_and_preflights_are_not_origin_checked(bridge: tuple[str, Path]) -> None:
    base, _ = bridge
    status, headers, _ = call(base, "GET", "/models/kept/model.json", headers={"Origin": FOREIGN})
    assert status == 200 and "access-control-allow-origin" not in headers  # CORS hides it
    preflight = {"Origin": ALLOWED, "Access-Control-Request-Method": "DELETE"}
    assert call(base, "OPTIONS", "/models/kept", headers=preflight)[0] == 200


def test_a_refused_client_waiting_for_100_continue_never_sends_its_body(
    bridge: tuple[str, Path],
) -> None:
    import http.client
    import urllib.parse

    base, root = bridge
    before = files(root)
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:  # headers only: a body of 1 GiB is announced and never sent
        conn.putrequest("POST", "/models/x")
        for key, value in {
            "Content-Type": "multipart/form-data; boundary=b",
            "Content-Length": str(1 << 30),
            "Expect": "100-continue",
            "Origin": FOREIGN,
        }.items():
            conn.putheader(key, value)
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 403
        assert json.loads(response.read())["status"] == 403
    finally:
        conn.close()
    assert files(root) == before


# -- DNS rebinding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/models"),
        ("GET", "/models/kept/model.json"),
        ("GET", "/openapi.json"),
        ("OPTIONS", "/models/kept"),
        ("POST", "/models/x"),
        ("DELETE", "/models/kept"),
    ],
)
def test_a_foreign_host_is_refused_on_every_route(
    bridge: tuple[str, Path], method: str, path: str
) -> None:
    base, root = bridge
    before = files(root)
    body = upload_body(fixture("dense-http-capture")) if method == "POST" else None
    headers = multipart_headers(body) if body else {}
    # the rebinding page is same-origin with itself: its Origin matches its Host
    rebound = f"rebind.example:{_port(base)}"
    headers.update({"Host": rebound, "Origin": f"http://{rebound}"})
    status, _, data = call(base, method, path, body=body, headers=headers)
    assert status == 421
    answer = json.loads(data)
    assert "'rebind.example'" in answer["error"] and "--allowed-host" in answer["error"]
    assert files(root) == before


def test_loopback_names_are_always_served(bridge: tuple[str, Path]) -> None:
    base, _ = bridge
    port = _port(base)
    for host in (
        f"localhost:{port}",
        "localhost",
        f"127.0.0.1:{port}",
        f"[::1]:{port}",
        "LOCALHOST",
        "127.0.0.2",
    ):
        assert call(base, "GET", "/models", headers={"Host": host})[0] == 200, host
    for host in ("localhost.evil.example", "127.0.0.1.evil.example", "[::1", "a b", "a/b"):
        assert call(base, "GET", "/models", headers={"Host": host})[0] in (400, 421), host


def test_allowed_hosts_and_star(tmp_path: Path) -> None:
    body = upload_body(fixture("dense-http-capture"))
    with running_bridge(str(tmp_path), allowed_hosts=["models.example.test", "[fd00::1]"]) as base:
        port = _port(base)
        for host in (f"models.example.test:{port}", "Models.Example.Test", f"[fd00::1]:{port}"):
            assert call(base, "GET", "/models", headers={"Host": host})[0] == 200, host
        assert call(base, "GET", "/models", headers={"Host": "other.example.test"})[0] == 421
        # its own origin under that name may write
        host = f"models.example.test:{port}"
        status, _, _ = call(
            base,
            "POST",
            "/models/m",
            body=body,
            headers={**multipart_headers(body), "Host": host, "Origin": f"http://{host}"},
        )
        assert status == 200
        # behind a TLS proxy on this machine: uvicorn takes the scheme from the proxy
        https = {"Host": "models.example.test", "X-Forwarded-Proto": "https"}
        status, _, _ = call(
            base, "DELETE", "/models/m", headers={**https, "Origin": "http://models.example.test"}
        )
        assert status == 403
        status, _, _ = call(
            base,
            "POST",
            "/models/tls",
            body=body,
            headers={**multipart_headers(body), **https, "Origin": "https://models.example.test"},
        )
        assert status == 200
    with running_bridge(str(tmp_path), allowed_hosts=["*"]) as base:
        assert call(base, "GET", "/models", headers={"Host": "anything.example"})[0] == 200
        # any Host, but still no foreign writes
        status, _, _ = call(
            base,
            "DELETE",
            "/models/m",
            headers={"Host": "anything.example", "Origin": FOREIGN},
        )
        assert status == 403
    assert (tmp_path / "m" / "model.json").exists()


def test_create_app_rejects_malformed_allowed_hosts(tmp_path: Path) -> None:
    for bad in ("http://models.example", "models.example:8000", "models.example/x", ""):
        with pytest.raises(ValueError, match="allowed host"):
            create_app(str(tmp_path), allowed_hosts=[bad])


# -- issue 19: what the bridge says to clients, and what our client understands -----------


def test_bridge_errors_never_name_the_servers_storage(bridge: tuple[str, Path]) -> None:
    base, root = bridge
    status, _headers, data = call(base, "DELETE", "/models/absent")
    message = json.loads(data)["error"]
    assert status == 404
    assert str(root) not in message and "file://" not in message, message
    assert "/models/absent" in message


def test_our_client_follows_the_bridges_model_url(bridge: tuple[str, Path]) -> None:
    base, _root = bridge
    via_name = tfjs_store.load(f"{base}/models/kept")  # GET /models/kept names the modelUrl
    via_json = tfjs_store.load(f"{base}/models/kept/model.json")
    assert via_name.weights().keys() == via_json.weights().keys()
    for name, value in via_json.weights().items():
        assert (via_name.weights()[name] == value).all()


@pytest.mark.s3
def test_bridge_says_at_start_that_its_bucket_does_not_exist(
    s3_server, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from support.servers import s3_storage_options

    options = s3_storage_options(s3_server.url)
    with caplog.at_level(logging.WARNING, logger="tfjs_store.server"):
        create_app("s3://no-such-bucket-for-the-bridge/models", storage_options=options)
    assert any(
        "does not exist" in r.getMessage() and "no-such-bucket-for-the-bridge" in r.getMessage()
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]
