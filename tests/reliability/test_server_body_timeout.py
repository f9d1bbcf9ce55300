"""Issue 18, part 3: stalled uploads are cut off, clients that leave are one log line.

The bridge runs in a second process (``bridge.py``) with ``body_timeout=1`` and its own
spool folder; clients are raw sockets that send part of TF.js's upload and then stall,
hang up, or trickle the rest. Every test checks that nothing was stored and that the
bridge holds no spooled upload open afterwards, and reads the bridge's stderr.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

import tfjs_store

from .bridge import AUTH, TOKEN, bridge_process, call, tfjs_upload
from .common import check_version, versioned_model

BODY_TIMEOUT = 1.0


@pytest.fixture
def served(tmp_path: Path):
    """(bridge, root, spool): a bridge of its own per test (its log is the test's)."""
    root, spool = tmp_path / "root", tmp_path / "spool"
    spool.mkdir()
    tfjs_store.save(versioned_model(1), str(root / "m"))
    with bridge_process(str(root), token=TOKEN, body_timeout=BODY_TIMEOUT,
                        spool_dir=str(spool), log_level="info") as bridge:
        yield bridge, root, spool


def _start_upload(bridge, name: str, fraction: float = 0.5) -> tuple[socket.socket, int]:
    """Open a connection, send the headers and part of a TF.js upload; return it."""
    body, headers = tfjs_upload(versioned_model(3, size=20_000))
    sock = socket.create_connection((bridge.host, bridge.port), timeout=30)
    head = f"POST /models/{name} HTTP/1.1\r\nHost: {bridge.host}\r\n"
    for key, value in {**headers, **AUTH}.items():
        head += f"{key}: {value}\r\n"
    sock.sendall(head.encode() + b"\r\n" + body[: int(len(body) * fraction)])
    return sock, len(body)


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _nothing_stored(bridge, root: Path, spool: Path, name: str) -> None:
    assert _wait_for(lambda: bridge.spooled() == [], 5), bridge.spooled()
    assert list(spool.iterdir()) == []
    assert not (root / name).exists()
    status, _, _ = call(bridge, "GET", f"/models/{name}/model.json", headers=AUTH)
    assert status == 404
    assert check_version(tfjs_store.load(str(root / "m"))) == 1


def test_a_stalled_upload_is_cut_off_within_the_body_timeout(served):
    bridge, root, spool = served
    sock, _ = _start_upload(bridge, "stalled")
    with sock:
        sent = time.monotonic()
        # the upload is under way: its weights are spooled in the spool folder
        assert _wait_for(lambda: any(str(spool) in f for f in bridge.spooled()), 0.8)
        answer = sock.recv(65536)  # blocks until the bridge answers or closes
        waited = time.monotonic() - sent
        rest = b""
        while chunk := sock.recv(65536):  # then the bridge closes the connection
            rest += chunk
    assert waited < BODY_TIMEOUT + 1.0, waited
    assert waited >= BODY_TIMEOUT * 0.9, waited
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"the upload stalled" in answer + rest
    _nothing_stored(bridge, root, spool, "stalled")
    log = bridge.log.read_text()
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]


def test_a_client_that_leaves_mid_upload_is_one_info_line(served):
    bridge, root, spool = served
    sock, _ = _start_upload(bridge, "left")
    assert _wait_for(lambda: any(str(spool) in f for f in bridge.spooled()), 0.8)
    sock.close()
    _nothing_stored(bridge, root, spool, "left")
    assert _wait_for(lambda: "disconnected" in bridge.log.read_text(), 5)
    log = bridge.log.read_text()
    lines = [line for line in log.splitlines() if "disconnected" in line]
    assert len(lines) == 1 and lines[0].startswith("INFO:"), log[-3000:]
    assert "'left'" in lines[0] and "nothing stored" in lines[0]
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]


def test_a_slow_upload_that_keeps_sending_is_stored(served):
    """The limit is on silence, not on the whole upload: one that takes longer than
    the timeout in total but never pauses that long is stored."""
    bridge, root, _ = served
    body, headers = tfjs_upload(versioned_model(4, size=2000))
    sock = socket.create_connection((bridge.host, bridge.port), timeout=30)
    head = f"POST /models/slow HTTP/1.1\r\nHost: {bridge.host}\r\nConnection: close\r\n"
    for key, value in {**headers, **AUTH}.items():
        head += f"{key}: {value}\r\n"
    pieces = 6
    step = -(-len(body) // pieces)
    with sock:
        sock.sendall(head.encode() + b"\r\n")
        start = time.monotonic()
        for i in range(0, len(body), step):
            time.sleep(BODY_TIMEOUT * 0.4)
            sock.sendall(body[i : i + step])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert time.monotonic() - start > BODY_TIMEOUT * 2
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert check_version(tfjs_store.load(str(root / "slow"))) == 4
