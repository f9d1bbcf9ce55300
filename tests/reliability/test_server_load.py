"""Item 5 of issue 9: a bounded load test of the bridge from a second process.

The bridge runs in its own process (``bridge_child.py``, uvicorn on 127.0.0.1); this
process is the client: 25 threads, each with its own keep-alive connection, upload 500
models in TF.js's multipart form (20 each, alternating between two names that thread
owns, so the last acknowledged version of every name is known) and, after every upload,
read another thread's model the way ``tf.loadLayersModel`` does. Every response must be
what it should be (zero failed requests), every read a whole version, every name must
end holding its last acknowledged version, and the server's memory and open files must
stay flat after the warm-up.
"""

from __future__ import annotations

import collections
import http.client
import random
import threading
import time

import pytest

import tfjs_store

from .bridge import AUTH, TOKEN, bridge_process, call, fetch_model, tfjs_upload
from .common import HEAVY, check_version, scaled, versioned_model

WORKERS = 25
UPLOADS = scaled(500, 2000)
WARMUP = 100
SIZE = 30_000  # ~220 KB of weights per model
RSS_GROWTH_LIMIT = 48 * 1024 * 1024


@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", [
    pytest.param("file", id="file"),
    pytest.param("s3", id="s3", marks=[pytest.mark.s3, pytest.mark.slow,
                                       pytest.mark.skipif(not HEAVY,
                                                          reason="TFJS_STORE_HEAVY=1 only")]),
])
def test_500_uploads_25_at_a_time_lose_nothing(backend, request):
    target = request.getfixturevalue(f"{backend}_target")
    options = {k: v for k, v in target.storage_options.items() if k != "skip_instance_cache"}
    per_worker = UPLOADS // WORKERS
    bodies = {}  # version -> (body, headers), built before the clock starts
    for w in range(WORKERS):
        for i in range(per_worker):
            version = (w + 1) * 1000 + i
            bodies[version] = tfjs_upload(versioned_model(version, size=SIZE))
    acknowledged: dict[str, int] = {}
    stats: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    lock = threading.Lock()
    done_uploads = threading.Semaphore(0)
    samples: dict[str, tuple[int, int]] = {}

    with bridge_process(target.url, storage_options=options, token=TOKEN,
                        shard_size_bytes=64 * 1024) as bridge:
        start = time.perf_counter()

        def worker(w: int) -> None:
            rng = random.Random(w)
            conn = http.client.HTTPConnection(bridge.host, bridge.port, timeout=120)
            try:
                for i in range(per_worker):
                    name = f"w{w}-{'ab'[i % 2]}"
                    version = (w + 1) * 1000 + i
                    body, headers = bodies[version]
                    status, _, data = call(bridge, "POST", f"/models/{name}", body=body,
                                           headers={**headers, **AUTH}, conn=conn)
                    if status != 200:
                        failures.append(f"upload {name} v{version}: {status} {data[:200]!r}")
                        return
                    with lock:
                        acknowledged[name] = version
                        stats["uploads"] += 1
                    done_uploads.release()
                    other = f"w{rng.randrange(WORKERS)}-{rng.choice('ab')}"
                    state, model = fetch_model(bridge, other, conn=conn)
                    with lock:
                        if state == "missing":
                            stats["reads before the first upload"] += 1
                        else:
                            version_read = check_version(model)
                            stats["reads"] += 1
                            assert other.startswith(f"w{version_read // 1000 - 1}-")
            except Exception as exc:
                failures.append(f"worker {w}: {type(exc).__name__}: {exc}")
            finally:
                conn.close()

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
        for t in threads:
            t.start()
        for _ in range(WARMUP):
            assert done_uploads.acquire(timeout=600), failures
        samples["warm"] = (bridge.rss_bytes(), len(bridge.open_files()))
        for t in threads:
            t.join(timeout=800)
        elapsed = time.perf_counter() - start
        samples["end"] = (bridge.rss_bytes(), len(bridge.open_files()))
        assert failures == [], failures[:5]
        assert stats["uploads"] == per_worker * WORKERS
        # Every name holds its last acknowledged version, whole; nothing else is there.
        status, _, listing = call(bridge, "GET", "/models", headers=AUTH)
        assert status == 200
        import json

        names = {m["name"] for m in json.loads(listing)["models"]}
        assert names == set(acknowledged)
        for name, version in sorted(acknowledged.items()):
            loaded = tfjs_store.load(target.join(name), storage_options=options)
            assert check_version(loaded) == version, name
        spooled = bridge.spooled()

    rss_growth = samples["end"][0] - samples["warm"][0]
    print(
        f"\nload {backend}: {dict(stats)} in {elapsed:.1f} s; server RSS "
        f"{samples['warm'][0] / 2**20:.0f} -> {samples['end'][0] / 2**20:.0f} MiB, "
        f"open files {samples['warm'][1]} -> {samples['end'][1]}"
    )
    assert rss_growth < RSS_GROWTH_LIMIT, f"server memory grew by {rss_growth / 2**20:.0f} MiB"
    assert samples["end"][1] <= samples["warm"][1] + 5, "the server leaks open files"
    assert spooled == [], spooled
    assert stats["reads"] > UPLOADS // 2
