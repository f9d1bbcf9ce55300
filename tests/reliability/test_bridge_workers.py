"""Issue 16, the bridge: ``tfjs-store serve --workers 4`` over one root, and 8 HTTP
clients doing read-modify-write with ETags (``If-Match``, 412 on a stale one): no
update is lost, and every model stored is whole."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import tfjs_store

from .bridge import Bridge, call, tfjs_upload
from .common import HEAVY, scaled, strays
from .test_conditional_save import counter_model, read_count

WORKERS = 4
CLIENTS = 8
INCREMENTS = scaled(4, 50)
"""Successful increments per client (CI: 8 x 4; TFJS_STORE_HEAVY=1: 8 x 50)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def workers_bridge(tmp_path):
    root = tmp_path / "root"
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]))
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfjs_store", "serve", str(root), "--port", str(port),
         "--workers", str(WORKERS), "--shard-size", "512"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    bridge = Bridge(f"http://127.0.0.1:{port}", "127.0.0.1", port, proc, tmp_path / "serve.log")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if call(bridge, "GET", "/models", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the bridge did not start"
            time.sleep(0.2)
        yield bridge, root
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)
        log.close()


def _pids(bridge: Bridge) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(bridge.pid)], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


@pytest.mark.timeout(600)
def test_clients_through_many_workers_lose_no_update(workers_bridge):
    bridge, root = workers_bridge
    assert len(_pids(bridge)) >= WORKERS  # the workers (and uvicorn's helper, if any)
    body, headers = tfjs_upload(tfjs_store.ModelArtifacts.from_weights(counter_model(0)))
    status, got, _ = call(bridge, "PUT", "/models/m", body=body,
                          headers={**headers, "If-None-Match": "*"})
    assert status == 200, _
    first_etag = got["etag"]
    # a second "create" is refused, the model stays
    status, _, answer = call(bridge, "PUT", "/models/m", body=body,
                             headers={**headers, "If-None-Match": "*"})
    assert status == 412, answer
    status, got, _ = call(bridge, "GET", "/models/m/model.json")
    assert status == 200 and got["etag"] == first_etag

    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def client() -> None:
        done = refused = 0
        try:
            while done < INCREMENTS:
                status, got, raw = call(bridge, "GET", "/models/m/model.json")
                assert status == 200, raw
                count = json.loads(raw)["userDefinedMetadata"]["count"]
                artifacts = tfjs_store.ModelArtifacts.from_weights(
                    counter_model(count + 1), user_defined_metadata={"count": count + 1})
                body, headers = tfjs_upload(artifacts)
                status, _, answer = call(bridge, "PUT", "/models/m", body=body,
                                         headers={**headers, "If-Match": got["etag"]})
                if status == 412:
                    refused += 1
                    continue
                assert status == 200, answer
                done += 1
            results.append((done, refused))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    # the first model had no count in its metadata: give it one, conditionally
    status, got, _ = call(bridge, "GET", "/models/m/model.json")
    artifacts = tfjs_store.ModelArtifacts.from_weights(counter_model(0),
                                                       user_defined_metadata={"count": 0})
    body, headers = tfjs_upload(artifacts)
    assert call(bridge, "PUT", "/models/m", body=body,
                headers={**headers, "If-Match": got["etag"]})[0] == 200

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    assert not errors, errors
    successes = sum(d for d, _ in results)
    refused = sum(r for _, r in results)
    loaded = tfjs_store.load(str(root / "m"))
    final = read_count(loaded)
    print(f"\nbridge --workers {WORKERS}, {CLIENTS} clients x {INCREMENTS}: final={final} "
          f"successes={successes} refused(412)={refused} in {seconds:.1f} s (heavy={HEAVY})")
    assert successes == CLIENTS * INCREMENTS
    assert final == successes
    assert loaded.user_defined_metadata == {"count": final}
    tfjs_store.clean(str(root / "m"))
    import fsspec

    assert strays(fsspec.filesystem("file"), str(root / "m")) == []
