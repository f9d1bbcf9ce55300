"""Checking weight bytes against what model.json says of them.

Two checks, used by every reader (``load`` on any store, ``load_files``, ``verify``
and the bridge):

- a weight file against its save-record entry: its size, and its SHA-256 where one was
  recorded (``file_mismatch`` / ``check_file``);
- each manifest group's files against the group's weight specs: together they must hold
  exactly the bytes the specs describe (``check_groups``). Groups are checked one by
  one: a short file in one group and a long one in the next would otherwise cancel out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import IntegrityError, WeightDataError
from .codec import weight_byte_ranges
from .record import FileRecord
from .schemas import ManifestGroup
from .shards import CompositeBuffer

__all__ = [
    "Mismatch",
    "check_file",
    "check_groups",
    "digest_error",
    "file_mismatch",
    "sha256_hex",
    "size_error",
]


def sha256_hex(data: Any) -> str:
    """The SHA-256 of a bytes-like object, in hex (hashlib releases the GIL on it)."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Mismatch:
    """How a weight file differs from its record."""

    kind: Literal["size", "checksum"]
    recorded: int | str
    actual: int | str


def file_mismatch(
    data: Any, entry: FileRecord | None, *, check_digest: bool = True
) -> Mismatch | None:
    """The first way ``data`` differs from ``entry`` (size first: a digest of the wrong
    number of bytes cannot match either); None when it matches or nothing was recorded."""
    if entry is None:
        return None
    length = memoryview(data).nbytes
    if entry.size is not None and entry.size != length:
        return Mismatch("size", entry.size, length)
    if check_digest and entry.sha256 is not None:
        actual = sha256_hex(data)
        if actual != entry.sha256:
            return Mismatch("checksum", entry.sha256, actual)
    return None


def size_error(name: str, actual: int, where: str, recorded: int) -> WeightDataError:
    return WeightDataError(
        f"weight file {name} is {actual} bytes but {where} recorded {recorded} bytes"
    )


def digest_error(names: Sequence[str], where: str) -> IntegrityError:
    return IntegrityError(
        f"SHA-256 of weight file(s) {', '.join(names)} does not match the digest recorded "
        f"in {where}: the bytes changed after the save"
    )


def check_file(
    data: Any, entry: FileRecord | None, *, name: str, where: str, check_digest: bool = True
) -> None:
    """Raise ``WeightDataError`` (size) or ``IntegrityError`` (digest) when ``data``
    differs from its record. ``name`` names the file, ``where`` the model.json."""
    found = file_mismatch(data, entry, check_digest=check_digest)
    if found is None:
        return
    if found.kind == "size":
        raise size_error(name, int(found.actual), where, int(found.recorded))
    raise digest_error([name], where)


def check_groups(
    groups: Sequence[ManifestGroup],
    group_buffers: Sequence[Sequence[Any]],
    *,
    where: str,
    names: Sequence[Sequence[str]] | None = None,
) -> None:
    """Each group's buffers hold exactly what its weight specs describe, else
    ``WeightDataError`` naming the group, its files (``names``, default the manifest
    paths) and their sizes."""
    for g, (group, buffers) in enumerate(zip(groups, group_buffers, strict=True), start=1):
        try:
            weight_byte_ranges(group.weights, CompositeBuffer(list(buffers)))
        except WeightDataError as exc:
            file_names = names[g - 1] if names is not None else group.paths
            sizes = ", ".join(
                f"{n} ({memoryview(b).nbytes} bytes)"
                for n, b in zip(file_names, buffers, strict=False)
            )
            raise WeightDataError(
                f"{where}: weights group {g} ({sizes or 'no files'}): {exc}"
            ) from None
