"""Checking weight bytes against what model.json says of them, and the checksums used.

Two checks, used by every reader (``load`` on any store, ``load_files``, ``verify``
and the bridge):

- a weight file against its save-record entry: its size, and every checksum recorded
  for it, CRC32C and/or SHA-256 (``file_mismatch`` / ``check_file``); a weight's own
  bytes against its per-weight entry (``weight_mismatch`` / ``check_weight``);
- each manifest group's files against the group's weight specs: together they must hold
  exactly the bytes the specs describe (``check_groups``). Groups are checked one by
  one: a short file in one group and a long one in the next would otherwise cancel out.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy

from ..cpu import usable_cores
from ..errors import IntegrityError, MissingDependencyError, WeightDataError
from .codec import weight_byte_ranges
from .record import FileRecord, WeightRecord
from .schemas import ManifestGroup
from .shards import CompositeBuffer

__all__ = [
    "CHECKSUM_KINDS",
    "DEFAULT_CHECKSUM",
    "ChecksumKind",
    "Crc32c",
    "Hasher",
    "Mismatch",
    "check_file",
    "check_groups",
    "check_weight",
    "checksum_label",
    "checksum_text",
    "crc32c_b64",
    "crc32c_code",
    "crc32c_combine",
    "crc32c_extend",
    "crc32c_from_text",
    "crc32c_text",
    "digest_error",
    "file_mismatch",
    "new_hasher",
    "recorded_checksums",
    "sha256_hex",
    "size_error",
    "weight_mismatch",
]

ChecksumKind = Literal["crc32c", "sha256"]
"""A checksum a save can record: ``crc32c`` (the default) or ``sha256``."""
CHECKSUM_KINDS: tuple[ChecksumKind, ...] = ("crc32c", "sha256")
"""Every kind, in the order a reader checks them (the fast one first)."""
DEFAULT_CHECKSUM: ChecksumKind = "crc32c"

_LABELS = {"crc32c": "CRC32C", "sha256": "SHA-256"}
_GIL_CHUNK = 1 << 20
"""google-crc32c holds the GIL: a buffer is checked in pieces this big with it, so that
the other worker threads get their turn between them."""
_SPLIT_BYTES = 32 << 20
"""A buffer at least this big is checked in pieces on several threads at once (where the
CRC32C code releases the GIL), their CRCs combined: a lone large weight file is not
left to one core while the others wait."""
_POLY = 0x82F63B78
"""CRC-32C's polynomial, bit-reflected (x^0 in the top bit), as the CRC is computed."""


def checksum_label(kind: str) -> str:
    """How messages spell a checksum kind (``CRC32C``, ``SHA-256``)."""
    return _LABELS.get(kind, kind)


def sha256_hex(data: Any) -> str:
    """The SHA-256 of a bytes-like object, in hex (hashlib releases the GIL on it)."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class _Crc32cCode:
    extend: Callable[[int, Any], int]
    """``extend(crc, view) -> crc``."""
    free_threads: bool
    """Whether it releases the GIL on large buffers (then pieces run side by side)."""
    name: str
    """The package (and path) it comes from, as ``crc32c_code`` tells it."""


def _crc32c_code() -> _Crc32cCode:
    """The fastest CRC32C at hand. ``awscrt`` (AVX-512 where the CPU has it: 30+ GB/s a
    core here) and the ``crc32c`` package (SSE 4.2, ~16 GB/s) release the GIL, so worker
    threads check files on every core at once; google-crc32c's C extension (~13 GB/s)
    holds it; its pure-Python fallback is slow, but right."""
    with contextlib.suppress(ImportError):
        from awscrt import checksums as awscrt_checksums  # type: ignore[import-not-found,unused-ignore]

        aws = awscrt_checksums.crc32c
        return _Crc32cCode(lambda crc, view: int(aws(view, crc)), True, "awscrt")
    crc32c_package: Any = None
    with contextlib.suppress(ImportError):
        import crc32c as crc32c_package  # type: ignore[import-not-found,no-redef,unused-ignore]
    if crc32c_package is not None and getattr(crc32c_package, "hardware_based", False):
        fast = crc32c_package.crc32c
        return _Crc32cCode(lambda crc, view: int(fast(view, crc)), True, "crc32c")
    google_crc32c: Any = None
    with contextlib.suppress(ImportError):
        import google_crc32c
    if google_crc32c is not None and google_crc32c.implementation == "c":
        extend = google_crc32c.extend
        try:
            # Its argument parser takes objects exporting a buffer with nothing to
            # release: numpy arrays, not memoryviews. A view as an array is no copy.
            extend(0, numpy.frombuffer(bytearray(1), numpy.uint8))
        except TypeError:  # a numpy that releases buffers: hand it bytes instead
            return _Crc32cCode(
                lambda crc, view: int(extend(crc, bytes(view))), False, "google-crc32c"
            )
        return _Crc32cCode(
            lambda crc, view: int(extend(crc, numpy.frombuffer(view, numpy.uint8))), False,
            "google-crc32c",
        )
    if crc32c_package is not None:  # its software fallback is still C
        software = crc32c_package.crc32c
        return _Crc32cCode(
            lambda crc, view: int(software(view, crc)), True, "crc32c (software)"
        )
    if google_crc32c is not None:
        slow = google_crc32c.extend
        return _Crc32cCode(
            lambda crc, view: int(slow(crc, bytes(view))), False, "google-crc32c (Python)"
        )
    raise MissingDependencyError(
        "CRC32C checksums need the google-crc32c package (or crc32c, or awscrt): "
        "pip install google-crc32c"
    )


_code: _Crc32cCode | None = None


def _chosen_code() -> _Crc32cCode:
    global _code
    if _code is None:
        _code = _crc32c_code()
    return _code


def crc32c_code() -> str:
    """Which CRC32C code checks here: ``awscrt``, ``crc32c``, ``google-crc32c`` (the
    fastest installed; see ``docs/integrity.md``). Chooses it, if not yet chosen."""
    return _chosen_code().name


def crc32c_extend(crc: int, data: Any) -> int:
    """The CRC32C of the bytes ``crc`` is the CRC32C of followed by ``data`` (0 starts)."""
    code = _chosen_code()
    view = memoryview(data).cast("B")
    if not code.free_threads:
        for start in range(0, len(view), _GIL_CHUNK):
            crc = code.extend(crc, view[start : start + _GIL_CHUNK])
        return crc
    threads = min(usable_cores(), 8)
    if len(view) < _SPLIT_BYTES or threads < 2:
        return code.extend(crc, view)
    return _crc32c_split(crc, view, threads, code.extend)


def _crc32c_split(
    crc: int, view: memoryview, threads: int, extend: Callable[[int, Any], int]
) -> int:
    """``extend(crc, view)``, with ``view`` cut in ``threads`` pieces checked at once."""
    step = -(-len(view) // threads)
    pieces = [view[i : i + step] for i in range(0, len(view), step)]
    with ThreadPoolExecutor(len(pieces) - 1) as pool:
        rest = list(pool.map(lambda piece: extend(0, piece), pieces[1:]))
    crc = extend(crc, pieces[0])  # meanwhile, on this thread
    for piece, piece_crc in zip(pieces[1:], rest, strict=True):
        crc = crc32c_combine(crc, piece_crc, len(piece))
    return crc


def _times_x(a: int) -> int:
    """a * x modulo the polynomial (bit-reflected: x^31 drops out of the bottom bit)."""
    return (a >> 1) ^ _POLY if a & 1 else a >> 1


def _times_x4_table() -> list[int]:
    """For each low nibble v of a reflected value: (v's part) * x^4 mod P."""
    out = []
    for v in range(16):
        for _ in range(4):
            v = _times_x(v)
        out.append(v)
    return out


_TIMES_X4 = _times_x4_table()


def _times_mod_poly(a: int, b: int) -> int:
    """a * b modulo CRC-32C's polynomial, both in the CRC's bit-reflected form: GF(2)
    polynomials (addition is XOR) whose top bit is the coefficient of x^0.

    Horner's rule over a's nibbles, highest powers (the low bits) first: the product so
    far times x^4 (a table lookup), plus the nibble times b (one of 16 multiples)."""
    b1 = _times_x(b)
    b2 = _times_x(b1)
    b3 = _times_x(b2)
    low = [0, b3, b2, b2 ^ b3, b1, b1 ^ b3, b1 ^ b2, b1 ^ b2 ^ b3]
    multiples = low + [b ^ m for m in low]  # nibble bit 3 is x^0, bit 0 is x^3
    product = 0
    for shift in (0, 4, 8, 12, 16, 20, 24, 28):
        product = (product >> 4) ^ _TIMES_X4[product & 15] ^ multiples[(a >> shift) & 15]
    return product


def _x_to_the_power_of_2_to_the(k: int) -> int:
    """x^(2^k) mod P (reflected), by squaring x (x^1 is bit 30) k times."""
    power = 1 << 30
    for _ in range(k):
        power = _times_mod_poly(power, power)
    return power


_X_POWERS = [_x_to_the_power_of_2_to_the(k) for k in range(64)]


def crc32c_combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """The CRC32C of ``A + B`` from the CRC32Cs of ``A`` and of ``B`` (``length_b``
    bytes long), without their bytes: so pieces of one buffer can be checked apart.

    A CRC with its initial and final inversions is linear over GF(2) in this way:
    crc(A + B) = crc(A) * x^(8 * len(B)) mod P  XOR  crc(B), where P is the polynomial
    and the inversions of the two cancel out. x^(8n) is assembled from the powers
    x^(2^k) (a bit of 8n set -> one multiplication by that power)."""
    if not 0 <= length_b < 1 << 61:
        raise ValueError(f"length_b must be from 0 to 2**61 - 1, got {length_b}")
    return _times_mod_poly(_shift_for(length_b), crc_a) ^ crc_b


@functools.lru_cache(maxsize=4096)
def _shift_for(length: int) -> int:
    """x^(8 * length) mod P: the same lengths come back (shard sizes, weight sizes)."""
    shift = 1 << 31  # x^0
    bits, k = length * 8, 0
    while bits:
        if bits & 1:
            table = _power_table(k)
            shift = (table[shift & 15] ^ table[16 | (shift >> 4) & 15]
                     ^ table[32 | (shift >> 8) & 15] ^ table[48 | (shift >> 12) & 15]
                     ^ table[64 | (shift >> 16) & 15] ^ table[80 | (shift >> 20) & 15]
                     ^ table[96 | (shift >> 24) & 15] ^ table[112 | shift >> 28])
        bits >>= 1
        k += 1
    return shift


@functools.lru_cache(maxsize=64)
def _power_table(k: int) -> tuple[int, ...]:
    """Multiplication by x^(2^k): entry 16 * j + v is (v placed at bits 4j..4j+3) times
    x^(2^k) mod P, so a product is the XOR of eight lookups (made on first use)."""
    column = _X_POWERS[k]  # bit 31 (x^0) times it
    by_bit = [0] * 32
    for bit in range(31, -1, -1):  # bit b stands for x^(31 - b)
        by_bit[bit] = column
        column = _times_x(column)
    table = []
    for j in range(8):
        for v in range(16):
            entry = 0
            for i in range(4):
                if v >> i & 1:
                    entry ^= by_bit[4 * j + i]
            table.append(entry)
    return tuple(table)


def crc32c_text(crc: int) -> str:
    """The standard base64 of the big-endian 4 bytes: how GCS's ``crc32c`` and S3's
    ``ChecksumCRC32C`` spell a CRC32C, so the recorded value compares with theirs."""
    return base64.b64encode(crc.to_bytes(4, "big")).decode("ascii")


def crc32c_from_text(text: str | None) -> int | None:
    """The CRC32C a recorded (base64) text stands for; None if it is not one."""
    try:
        raw = base64.b64decode(text or "", validate=True)
    except ValueError:
        return None
    return int.from_bytes(raw, "big") if len(raw) == 4 else None


def crc32c_b64(data: Any) -> str:
    """The CRC32C (Castagnoli) of a bytes-like object, as GCS and S3 spell it."""
    return crc32c_text(crc32c_extend(0, data))


class Hasher(Protocol):
    """A running checksum: ``update`` with each piece, then ``text`` (as recorded)."""

    def update(self, data: Any) -> None: ...

    def text(self) -> str: ...


class Crc32c:
    """A running CRC32C, hashlib style."""

    __slots__ = ("_crc",)

    def __init__(self) -> None:
        self._crc = 0

    def update(self, data: Any) -> None:
        self._crc = crc32c_extend(self._crc, data)

    def text(self) -> str:
        return crc32c_text(self._crc)


class _Sha256:
    __slots__ = ("_h",)

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def update(self, data: Any) -> None:
        self._h.update(data)

    def text(self) -> str:
        return self._h.hexdigest()


def new_hasher(kind: ChecksumKind) -> Hasher:
    """A running checksum of ``kind``."""
    if kind == "crc32c":
        return Crc32c()
    if kind == "sha256":
        return _Sha256()
    raise ValueError(f"unknown checksum kind {kind!r}; choose one of {CHECKSUM_KINDS}")


def checksum_text(kind: ChecksumKind, data: Any) -> str:
    """The checksum of ``kind`` of a bytes-like object, as the record spells it."""
    return crc32c_b64(data) if kind == "crc32c" else sha256_hex(data)


def recorded_checksums(entry: FileRecord | WeightRecord | None) -> dict[ChecksumKind, str]:
    """The checksums an entry records: kind -> text, the fast kind first."""
    if entry is None:
        return {}
    found = {"crc32c": entry.crc32c, "sha256": entry.sha256}
    return {k: v for k in CHECKSUM_KINDS if (v := found[k]) is not None}


@dataclass(frozen=True)
class Mismatch:
    """How a weight file (or one weight's bytes) differs from its record."""

    kind: Literal["size", "checksum"]
    recorded: int | str
    actual: int | str
    algorithm: str | None = None
    """For a checksum: which one (``crc32c``, ``sha256``)."""


def _checksum_mismatch(data: Any, entry: FileRecord | WeightRecord | None) -> Mismatch | None:
    for kind, recorded in recorded_checksums(entry).items():
        actual = checksum_text(kind, data)
        if actual != recorded:
            return Mismatch("checksum", recorded, actual, kind)
    return None


def file_mismatch(
    data: Any, entry: FileRecord | None, *, check_digest: bool = True
) -> Mismatch | None:
    """The first way ``data`` differs from ``entry`` (size first: a checksum of the wrong
    number of bytes cannot match either, then each recorded checksum); None when it
    matches or nothing was recorded."""
    if entry is None:
        return None
    length = memoryview(data).nbytes
    if entry.size is not None and entry.size != length:
        return Mismatch("size", entry.size, length)
    return _checksum_mismatch(data, entry) if check_digest else None


def weight_mismatch(data: Any, entry: WeightRecord | None) -> Mismatch | None:
    """How one weight's bytes differ from their per-weight record, or None."""
    return _checksum_mismatch(data, entry)


def check_weight(data: Any, entry: WeightRecord | None, *, name: str, where: str) -> None:
    """Raise ``IntegrityError`` when a weight's bytes (``name``: the weight's name)
    differ from the checksum recorded for them in ``where`` (a model.json)."""
    found = weight_mismatch(data, entry)
    if found is not None:
        raise IntegrityError(
            f"{checksum_label(found.algorithm or '')} of weight {name!r} is {found.actual}, "
            f"but {where} recorded {found.recorded}: the bytes changed after the save"
        )


def size_error(name: str, actual: int, where: str, recorded: int) -> WeightDataError:
    return WeightDataError(
        f"weight file {name} is {actual} bytes but {where} recorded {recorded} bytes"
    )


def digest_error(
    names: Sequence[str], where: str, algorithms: Iterable[str] = ("sha256",)
) -> IntegrityError:
    label = "/".join(checksum_label(a) for a in sorted(set(algorithms))) or "checksum"
    return IntegrityError(
        f"{label} of weight file(s) {', '.join(names)} does not match the checksum "
        f"recorded in {where}: the bytes changed after the save"
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
    raise digest_error([name], where, [found.algorithm or ""])


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
