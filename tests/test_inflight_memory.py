"""What a load or a save holds in memory besides the weights, on the stores that fetch
and send over HTTP (moto S3, fake-gcs-server) and on memory://: bodies stream into their
place in the group buffer, and a save's bodies in flight stay within the budget."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from support.servers import StoreTarget

import tfjs_store
from tfjs_store.stores import async_batches

MiB = 1024 * 1024


@pytest.fixture(params=["s3", "gcs", "memory"])
def target(request: pytest.FixtureRequest) -> StoreTarget:
    return request.getfixturevalue(f"{request.param}_target")  # type: ignore[no-any-return]


@pytest.fixture(params=["s3", "gcs"])
def object_target(request: pytest.FixtureRequest) -> StoreTarget:
    return request.getfixturevalue(f"{request.param}_target")  # type: ignore[no-any-return]


def _weights(size: int) -> dict[str, Any]:
    return {"w": np.random.default_rng(size).standard_normal(size // 4).astype(np.float32)}


def _options(target: StoreTarget) -> dict[str, Any]:
    """The target's options with fsspec's instance cache: the warm-up's client (and the
    service descriptions botocore loads for it) serves the measured call too."""
    return {k: v for k, v in target.storage_options.items() if k != "skip_instance_cache"}


def _peak(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Peak bytes Python and numpy allocated while ``fn`` ran (every thread)."""
    tracemalloc.start()
    try:
        out = fn()
        return tracemalloc.get_traced_memory()[1], out
    finally:
        tracemalloc.stop()


def test_a_load_holds_no_whole_file_copies(target: StoreTarget) -> None:
    size, shard = 16 * MiB, 2 * MiB
    weights = _weights(size)
    options = _options(target)
    tfjs_store.save(weights, target.url, storage_options=options, shard_size_bytes=shard)
    tfjs_store.load(target.url, storage_options=options).weights()  # warm: clients, imports
    peak, got = _peak(lambda: tfjs_store.load(target.url, storage_options=options).weights())
    np.testing.assert_array_equal(got["w"], weights["w"])
    # 8 files in flight at once: a copy of each would add 16 MiB (two on aiohttp); what
    # streams holds only what each connection has buffered (a few hundred KiB), and
    # memory:// copies from the stored bytes themselves (not one whole-file copy)
    bound = 1 * MiB if target.name == "memory" else 8 * MiB
    assert peak - size < bound, f"a load of {size} bytes peaked at {peak} bytes"


def test_a_save_counts_each_body_and_its_transport_copy(
    object_target: StoreTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = object_target
    monkeypatch.setattr(async_batches, "MAX_INFLIGHT_BYTES", 4 * MiB)
    size, shard = 16 * MiB, 1 * MiB
    weights = _weights(size)
    options = _options(target)
    tfjs_store.save(weights, f"{target.url}-warm", storage_options=options)
    peak, _ = _peak(lambda: tfjs_store.save(weights, target.url, storage_options=options,
                                            shard_size_bytes=shard))
    got = tfjs_store.load(target.url, storage_options=options).weights()
    np.testing.assert_array_equal(got["w"], weights["w"])
    # bodies and their copies within the 4 MiB budget, plus the client's own bits
    assert peak < 4 * MiB + 2 * MiB, f"a save with a 4 MiB budget peaked at {peak} bytes"
