"""Weight bytes as a list of buffers: reading across buffer boundaries, cutting into shards.

TF.js's ``CompositeArrayBuffer`` (spec §2.5) reads a list of buffers as one byte range;
``CompositeBuffer`` does the same and hands out views wherever a range lies inside one
buffer, copying only a range that spans two or more.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterator
from typing import Any

__all__ = [
    "CONTENT_DIGEST_HEX",
    "DEFAULT_SHARD_SIZE",
    "CompositeBuffer",
    "as_buffers",
    "content_digest",
    "immutable_name",
    "shard_digest",
    "shard_name",
    "shard_ranges",
    "shard_save_tag",
]

DEFAULT_SHARD_SIZE = 4 * 1024 * 1024
"""The converter's default shard size: 4 MiB (spec §12.1)."""


def _as_view(obj: Any) -> memoryview:
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError(
            f"weight data must be bytes-like (bytes, bytearray, memoryview, numpy array), "
            f"got {type(obj).__name__}"
        ) from None
    if not view.c_contiguous:
        raise TypeError("weight data buffers must be C-contiguous")
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def as_buffers(weight_data: Any) -> list[memoryview]:
    """Normalise ``weight_data`` (one buffer or a list of them) to a list of byte views.

    No bytes are copied.
    """
    if weight_data is None:
        return []
    if isinstance(weight_data, (list, tuple)):
        return [_as_view(b) for b in weight_data]
    return [_as_view(weight_data)]


class CompositeBuffer:
    """Several byte buffers read as one range, without joining them."""

    __slots__ = ("_buffers", "_starts", "byte_length")

    def __init__(self, weight_data: Any) -> None:
        self._buffers = [b for b in as_buffers(weight_data) if len(b)]
        self._starts: list[int] = []
        total = 0
        for buf in self._buffers:
            self._starts.append(total)
            total += len(buf)
        self.byte_length = total

    @property
    def buffers(self) -> list[memoryview]:
        return list(self._buffers)

    def read(self, start: int, length: int) -> memoryview:
        """Bytes ``[start, start + length)``: a view when they lie in one buffer, else a copy."""
        if length == 0:
            return memoryview(b"")
        if start < 0 or length < 0 or start + length > self.byte_length:
            raise IndexError(
                f"range [{start}, {start + length}) is outside the {self.byte_length} bytes"
            )
        i = bisect.bisect_right(self._starts, start) - 1
        offset = start - self._starts[i]
        buf = self._buffers[i]
        if offset + length <= len(buf):
            return buf[offset : offset + length]
        out = bytearray(length)
        filled = 0
        while filled < length:
            buf = self._buffers[i]
            take = min(len(buf) - offset, length - filled)
            out[filled : filled + take] = buf[offset : offset + take]
            filled += take
            i += 1
            offset = 0
        return memoryview(out)

    def read_uint32(self, start: int) -> int:
        return int.from_bytes(self.read(start, 4), "little")

    def iter_ranges(self, start: int, end: int) -> Iterator[memoryview]:
        """The views that together make up ``[start, end)``, with no copy."""
        if start >= end:
            return
        i = bisect.bisect_right(self._starts, start) - 1
        offset = start - self._starts[i]
        remaining = end - start
        while remaining > 0:
            buf = self._buffers[i]
            take = min(len(buf) - offset, remaining)
            yield buf[offset : offset + take]
            remaining -= take
            i += 1
            offset = 0


def shard_ranges(start: int, end: int, shard_size: int) -> list[tuple[int, int]]:
    """Cut ``[start, end)`` into consecutive shards of ``shard_size`` bytes (the last shorter).

    An empty range gives no shard, as the converter's ``ceil(total / size)`` does.
    """
    if not isinstance(shard_size, int) or isinstance(shard_size, bool) or shard_size <= 0:
        raise ValueError(f"shard size must be a positive integer, got {shard_size!r}")
    count = math.ceil((end - start) / shard_size)
    return [(start + k * shard_size, min(start + (k + 1) * shard_size, end)) for k in range(count)]


def shard_name(group: int, index: int, count: int, tag: str | None = None) -> str:
    """The converter's shard file name, ``group{g}-shard{i}of{n}.bin`` (1-based).

    With a ``tag`` the name is ``group{g}-shard{i}of{n}.{tag}.bin``: the tag is the
    file's ``content_digest`` (tfjs-store's saves), or a save tag unique to one save
    (older tfjs-store saves).
    """
    middle = f".{tag}" if tag else ""
    return f"group{group}-shard{index}of{count}{middle}.bin"


_TAGGED_SHARD = re.compile(r"^group\d+-shard\d+of\d+\.([0-9a-z]{12})\.bin$")

CONTENT_DIGEST_HEX = 40
"""Hex digits of SHA-256 in a content-named file: 160 bits. SHA-256 because hashlib's
runs on the CPU's SHA instructions (1.7 GB/s here against BLAKE2b's 0.9 GB/s); 160
bits because a name stands for its bytes: two different files share one only by a
collision, ~2**80 hashes of chosen data away (CRC32C, which the record keeps, is 32
bits and linear: anyone can make two files with one CRC)."""

_CONTENT_SHARD = re.compile(
    rf"^group\d+-shard\d+of\d+\.([0-9a-f]{{{CONTENT_DIGEST_HEX}}})\.bin$"
)


def content_digest(sha256_hex: str) -> str:
    """The digest a content-named file carries, from the hex SHA-256 of its bytes."""
    return sha256_hex[:CONTENT_DIGEST_HEX]


def shard_save_tag(name: str) -> str | None:
    """The save tag in a file name ``shard_name`` made with one, else None.

    Such a name is never reused by another save: its bytes never change.
    """
    m = _TAGGED_SHARD.match(name)
    return m.group(1) if m else None


def shard_digest(name: str) -> str | None:
    """The content digest in a file name ``shard_name`` made with one, else None.

    Such a name always holds the same bytes (those whose SHA-256 starts with it): a
    save that finds it already stored need not write it again.
    """
    m = _CONTENT_SHARD.match(name)
    return m.group(1) if m else None


def immutable_name(name: str) -> bool:
    """Whether a file name's bytes never change: named after its content, or after the
    one save that wrote it (a cache may keep it for good; a reader may map it)."""
    return shard_digest(name) is not None or shard_save_tag(name) is not None
