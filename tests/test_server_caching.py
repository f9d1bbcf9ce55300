"""The bridge's answers to caches: ETag, 304 on If-None-Match, Cache-Control.

The bridge runs on a real uvicorn socket in this process, over a real local folder; its
filesystem is wrapped in ``tfjs_store.testing.FaultyFileSystem`` (no faults) only to
read the log of the paths it read, which proves that a 304 reads no weight byte.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from support.browser import serving_asgi

import tfjs_store
from tfjs_store.server import create_app
from tfjs_store.server.caching import IMMUTABLE_MAX_AGE
from tfjs_store.testing import FaultyFileSystem

TOKEN = "caching-token"


def _weights(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"k": rng.standard_normal((32, 8)).astype(np.float32), "b": np.ones(8, np.float32)}


@contextlib.contextmanager
def _client(root: Path, **options: Any) -> Iterator[tuple[httpx.Client, FaultyFileSystem]]:
    """A client of the bridge over ``root`` (uvicorn in a thread), and its counting fs."""
    app = create_app(str(root), **options)
    bridge = app.state.bridge
    counting = FaultyFileSystem(bridge.fs)
    bridge.fs = counting
    with (
        serving_asgi(app, timeout_keep_alive=5) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        yield client, counting


def _shards(root: Path, name: str) -> list[str]:
    obj = json.loads((root / name / "model.json").read_bytes())
    return [p for group in obj["weightsManifest"] for p in group["paths"]]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    tfjs_store.save(_weights(1), str(tmp_path / "m"), shard_size_bytes=256)
    assert len(_shards(tmp_path, "m")) >= 3
    return tmp_path


def test_headers_of_model_json_and_tagged_weight_files(root: Path) -> None:
    with _client(root) as (client, _):
        got = client.get("/models/m/model.json")
        assert got.status_code == 200
        assert got.headers["cache-control"] == "public, no-cache"
        etag = got.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"') and len(etag) > 20
        head = client.head("/models/m/model.json")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["etag"] == etag
        assert head.headers["content-length"] == str(len(got.content))
        tags = set()
        for path in _shards(root, "m"):
            resp = client.get(f"/models/m/{path}")
            assert resp.status_code == 200
            assert resp.headers["cache-control"] == (
                f"public, max-age={IMMUTABLE_MAX_AGE}, immutable"
            )
            tags.add(resp.headers["etag"])
            head = client.head(f"/models/m/{path}")
            assert head.headers["etag"] == resp.headers["etag"]
            assert head.headers["cache-control"] == resp.headers["cache-control"]
            assert head.headers["content-length"] == str(len(resp.content))
        assert len(tags) == len(_shards(root, "m"))  # one per file


def test_1000_conditional_gets_of_an_unchanged_model_read_no_weight_byte(root: Path) -> None:
    paths = ["model.json", *_shards(root, "m")]
    with _client(root) as (client, counting):
        etags = {p: client.get(f"/models/m/{p}").headers["etag"] for p in paths}
        assert any(r.endswith(".bin") for r in counting.reads)  # plain GETs do read them
        counting.reads.clear()
        statuses = []
        for i in range(1000):
            p = paths[i % len(paths)]
            resp = client.get(f"/models/m/{p}", headers={"If-None-Match": etags[p]})
            statuses.append(resp.status_code)
            assert resp.content == b""
            assert resp.headers["etag"] == etags[p]
        assert statuses == [304] * 1000
        assert [r for r in counting.reads if not r.endswith("/model.json")] == []
        # a list of tags, a weak tag, or "*" match as well; a range asked with a
        # matching tag is still a 304
        p = paths[1]
        for header in (f'"x", {etags[p]}', f"W/{etags[p]}", "*"):
            assert (
                client.get(f"/models/m/{p}", headers={"If-None-Match": header}).status_code == 304
            )
        ranged = client.get(
            f"/models/m/{p}", headers={"If-None-Match": etags[p], "Range": "bytes=0-3"}
        )
        assert ranged.status_code == 304
        assert [r for r in counting.reads if not r.endswith("/model.json")] == []


def test_a_changed_model_is_200_with_a_new_etag(root: Path) -> None:
    with _client(root) as (client, _):
        first = client.get("/models/m/model.json")
        old_shards = _shards(root, "m")
        old_bytes = {n: (root / "m" / n).read_bytes() for n in old_shards}
        tfjs_store.save(_weights(2), str(root / "m"), shard_size_bytes=256)
        again = client.get("/models/m/model.json", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 200
        assert again.headers["etag"] != first.headers["etag"]
        assert again.content == (root / "m" / "model.json").read_bytes()
        new_shards = _shards(root, "m")
        # changed files get new names, and a name kept holds the very same bytes (files
        # are named after their content): whatever a cache holds stays valid
        assert set(old_shards) != set(new_shards)
        for name in set(old_shards) & set(new_shards):
            assert (root / "m" / name).read_bytes() == old_bytes[name]
        resp = client.get(f"/models/m/{new_shards[0]}", headers={"If-None-Match": '"stale"'})
        assert resp.status_code == 200 and len(resp.content) > 0


def test_files_without_a_record_use_size_and_mtime_and_revalidate(tmp_path: Path) -> None:
    tfjs_store.save(_weights(1), str(tmp_path / "n"), layout="tfjs-node")
    weights = tmp_path / "n" / "weights.bin"
    with _client(tmp_path) as (client, counting):
        resp = client.get("/models/n/weights.bin")
        assert resp.status_code == 200
        assert resp.headers["cache-control"] == "public, no-cache"  # rewritten in place
        etag = resp.headers["etag"]
        counting.reads.clear()
        assert (
            client.get("/models/n/weights.bin", headers={"If-None-Match": etag}).status_code == 304
        )
        assert counting.reads == ["/".join([str(tmp_path), "n", "model.json"])]
        data = bytearray(weights.read_bytes())
        data[0] ^= 1
        weights.write_bytes(bytes(data))
        stat = weights.stat()
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
        changed = client.get("/models/n/weights.bin", headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.content == bytes(data)
        assert changed.headers["etag"] != etag


def test_models_behind_the_token_are_private_to_caches(root: Path) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with _client(root, token=TOKEN) as (client, _):
        assert client.get("/models/m/model.json", headers=auth).headers["cache-control"] == (
            "private, no-cache"
        )
        shard = _shards(root, "m")[0]
        resp = client.get(f"/models/m/{shard}", headers=auth)
        assert resp.headers["cache-control"].startswith("private, max-age=")
        # the token is checked before any conditional answer
        assert (
            client.get(
                f"/models/m/{shard}", headers={"If-None-Match": resp.headers["etag"]}
            ).status_code
            == 401
        )
    with _client(root, token=TOKEN, public_read=True) as (client, _):
        resp = client.get("/models/m/model.json")
        assert resp.headers["cache-control"] == "public, no-cache"
