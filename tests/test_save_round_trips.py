"""What a save asks of an object store over a slow link, and what it asks at once.

On a real link every request costs a round trip. A save's weight files go up together,
and its fixed requests overlap where the protocol allows: the replaced model's model.json
is read while the in-flight marker is written, the folder is listed while model.json is
committed, and model.json is read again after the commit only when something is left to
remove. Measured on the wire: a proxy in front of moto's S3 delays every request and
records when each one was in flight (``support/counting_proxy.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from support.counting_proxy import Exchange, counting_proxy
from support.servers import StoreTarget

import tfjs_store

DELAY = 0.05
"""Seconds the proxy holds each request: long enough that requests sent together are
seen together."""
SHARD = 64 * 1024


def _weights(shards: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"w{i:02d}": rng.standard_normal(SHARD // 4, dtype=np.float32)
            for i in range(shards)}


def _save_through_slow_link(
    target: StoreTarget, endpoint: str, weights: dict[str, np.ndarray], **options: Any
) -> tuple[list[Exchange], int]:
    """Save ``weights`` to ``target`` through the delaying proxy: what went over it,
    and the most requests it held at once."""
    with counting_proxy(endpoint, delay=DELAY) as proxy:
        storage_options = {**target.storage_options, "endpoint_url": proxy.url, **options}
        tfjs_store.save(weights, target.url, storage_options=storage_options,
                        shard_size_bytes=SHARD)
        return list(proxy.exchanges), proxy.peak


def _weight_puts(exchanges: list[Exchange]) -> list[Exchange]:
    return [e for e in exchanges if e.method == "PUT" and e.path.endswith(".bin")]


@pytest.mark.s3
def test_a_save_sends_more_files_at_once_than_botocores_ten_connections(
    s3_target: StoreTarget, s3_endpoint: str
) -> None:
    exchanges, peak = _save_through_slow_link(s3_target, s3_endpoint, _weights(32))
    assert len(_weight_puts(exchanges)) == 32
    # botocore keeps 10 connections unless told more: 32 files would go up 10 at a time
    assert peak >= 20, peak


@pytest.mark.s3
def test_a_pool_size_in_the_storage_options_is_kept(
    s3_target: StoreTarget, s3_endpoint: str
) -> None:
    exchanges, peak = _save_through_slow_link(
        s3_target, s3_endpoint, _weights(16), config_kwargs={"max_pool_connections": 3}
    )
    assert len(_weight_puts(exchanges)) == 16
    assert peak <= 3, peak


@pytest.mark.s3
def test_a_save_overlaps_its_fixed_round_trips(
    s3_target: StoreTarget, s3_endpoint: str
) -> None:
    exchanges, _ = _save_through_slow_link(s3_target, s3_endpoint, _weights(4))
    json_reads = [e for e in exchanges if e.method == "GET" and e.path.endswith("/model.json")]
    markers = [e for e in exchanges if e.method == "PUT" and ".inflight" in e.path]
    commits = [e for e in exchanges if e.method == "PUT" and e.path.endswith("/model.json")]
    listings = [e for e in exchanges if e.method == "GET" and "list-type=" in e.path]
    # nothing was replaced: model.json is read once (for the model it replaces), not again
    # after the commit
    assert len(json_reads) == 1, exchanges
    assert len(markers) == 1 and len(commits) == 1, exchanges
    assert json_reads[0].overlaps(markers[0])
    assert any(listing.overlaps(commits[0]) for listing in listings), exchanges
    # and the protocol's order holds: the marker before every weight file, every weight
    # file before the commit
    for put in _weight_puts(exchanges):
        assert markers[0].ended <= put.started and put.ended <= commits[0].started


@pytest.mark.s3
def test_a_resave_still_removes_what_it_replaced(
    s3_target: StoreTarget, s3_endpoint: str
) -> None:
    first = _weights(4, seed=1)
    _save_through_slow_link(s3_target, s3_endpoint, first)
    before = {f for f in s3_target.files() if f.endswith(".bin")}
    second = {**first, "w00": first["w00"] + 1}
    exchanges, _ = _save_through_slow_link(s3_target, s3_endpoint, second)
    after = {f for f in s3_target.files() if f.endswith(".bin")}
    assert len(_weight_puts(exchanges)) == 1  # the one shard that changed
    assert len(before - after) == 1 and len(after - before) == 1
    # model.json is read again after the commit, before anything is removed: what the
    # committed model names is spared
    commit = next(e for e in exchanges if e.method == "PUT" and e.path.endswith("/model.json"))
    removals = [e for e in exchanges
                if e.method in ("DELETE", "POST") and ".inflight" not in e.path]
    assert removals, exchanges
    assert any(e.method == "GET" and e.path.endswith("/model.json")
               and commit.ended <= e.started and e.ended <= removals[0].started
               for e in exchanges), exchanges
    got = tfjs_store.load(s3_target.url, storage_options=s3_target.storage_options).weights()
    assert np.array_equal(got["w00"], second["w00"])
