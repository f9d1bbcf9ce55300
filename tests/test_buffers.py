"""The buffers loads read weight bytes into: aligned to a cache line, the kernel copies
into them faster (``tfjs_store/buffers.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tfjs_store
from tfjs_store.buffers import ALIGNMENT, empty_buffer


@pytest.mark.parametrize("nbytes", [0, 1, 63, 64, 65, 4096, (4 << 20) + 3])
def test_an_empty_buffer_is_aligned_contiguous_and_writable(nbytes: int) -> None:
    buf = empty_buffer(nbytes)
    assert buf.dtype == np.uint8 and buf.shape == (nbytes,)
    assert buf.flags.c_contiguous and buf.flags.writeable
    if nbytes:  # zero bytes have no address to speak of
        assert buf.ctypes.data % ALIGNMENT == 0
    buf[:] = 7
    assert memoryview(buf).cast("B").nbytes == nbytes


def test_a_load_reads_each_group_into_an_aligned_buffer(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    # over a MiB: numpy would take it from mmap, 16 bytes past a page boundary
    weights = {f"w{i}": rng.standard_normal(50_000 + i).astype(np.float32) for i in range(6)}
    url = (tmp_path / "m").as_uri()
    tfjs_store.save(weights, url, shard_size_bytes=256 << 10)
    loaded = tfjs_store.load(url).weights()
    assert {k: v.tolist() for k, v in loaded.items()} == {
        k: v.tolist() for k, v in weights.items()
    }
    # the group's first weight starts the buffer its shards were read into
    assert loaded["w0"].ctypes.data % ALIGNMENT == 0
    # one buffer for the group: its weights are views at their offsets in it
    assert loaded["w1"].ctypes.data == loaded["w0"].ctypes.data + weights["w0"].nbytes
