"""Every checksum a save needs, in one pass over the weight bytes.

A save names each weight file after its SHA-256 (the ``shards`` layout), records a
checksum per file and per weight (CRC32C by default, or SHA-256), and sends each file's
CRC32C along where the storage checks one on arrival. ``ChecksumPass`` walks a file's
bytes once, in pieces of at most ``PIECE_BYTES`` (they stay in the core's cache) cut at
weight boundaries, and hands each piece to every checksum that covers it while it is
there:

- the file's SHA-256, and a weight's SHA-256 when the weight lies in that file;
- one CRC32C per piece, run on through the stretch of a weight that lies in the file.
  The file's CRC32C and the CRC32C of a weight that spans files are made from those
  stretches' CRCs with ``crc32c_combine``, without their bytes. A stretch shorter than
  ``_COMBINE_MIN`` is checked into the file's CRC32C straight from the cache instead:
  that costs less than the combination's arithmetic.

Files are walked on worker threads (hashlib and the CRC32C code release the GIL). A
weight's SHA-256 that no single file's walk can take (it spans files, or there is one
file and so no other walk to share the cores with) is taken by ``sum_outside`` on one
more thread, at the same time. The results are the same bytes, record for record, as
checking each file and each weight apart (``tests/test_checksum_pass.py`` holds the pass
to that).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .codec import weight_byte_ranges
from .integrity import ChecksumKind, crc32c_combine, crc32c_extend, crc32c_text, new_hasher
from .layout import ShardFile
from .record import WeightRecord
from .schemas import WeightSpec
from .shards import CompositeBuffer

__all__ = ["PIECE_BYTES", "ChecksumPass", "FileSums"]

PIECE_BYTES = 256 << 10
"""The most bytes handed to the checksums at once: a piece stays in a core's L2 cache
from the first checksum over it to the last."""
_HANDED_BYTES = 4 * PIECE_BYTES
"""The most bytes ``pieces`` hands out at once (checked a piece at a time just before):
a local write of 256 KiB at a time costs about 10 % more than of 1 MiB, and 1 MiB is
still in the cache when the write copies it."""
_AHEAD_BYTES = 4 << 20
"""How far ``pieces_ahead`` checks ahead of the writer: one hand-over per this many bytes."""
_COMBINE_MIN = 64 << 10
"""A weight's stretch in a file at least this long enters the file's CRC32C by
``crc32c_combine``; a shorter one is checked again from the cache (that is cheaper)."""


@dataclass(frozen=True)
class FileSums:
    """What the pass tells of one file: its SHA-256 (hex) and CRC32C (base64), each
    None when not asked for."""

    sha256: str | None
    crc32c: str | None

    def text(self, kind: ChecksumKind) -> str | None:
        return self.crc32c if kind == "crc32c" else self.sha256


@dataclass(frozen=True)
class _Stretch:
    """The bytes ``[start, end)`` of weight ``weight`` that lie in one file."""

    weight: int
    start: int
    end: int
    crc: bool
    """The weight's CRC32C is recorded: this stretch's CRC is kept for it."""
    sha: bool
    """The weight's SHA-256 is recorded and taken by this file's walk."""


class ChecksumPass:
    """The checksums of ``files`` (in plan order, over ``data``) and of the weights
    ``specs`` describes: ``file_sha256`` / ``file_crc32c`` per file, ``weight_kind`` per
    weight (None: none). Walk every file once (``walk`` or ``pieces``) and run
    ``sum_outside`` once, then read ``files_sums`` and ``weights``."""

    def __init__(
        self,
        files: Sequence[ShardFile],
        specs: Sequence[WeightSpec],
        data: CompositeBuffer,
        *,
        file_sha256: bool,
        file_crc32c: bool,
        weight_kind: ChecksumKind | None,
    ) -> None:
        self._files = list(files)
        self._specs = list(specs)
        self._data = data
        self._file_sha256 = file_sha256
        self._file_crc32c = file_crc32c or weight_kind == "crc32c"
        self._weight_kind = weight_kind
        self._ranges = weight_byte_ranges(self._specs, data)
        counts = Counter(s.name for s in self._specs)
        # A name given to two weights is left out: it names no one range.
        self._recorded = [weight_kind is not None and counts[s.name] == 1 for s in self._specs]
        self._stretches = self._cut()
        inside = {st.weight for stretches in self._stretches for st in stretches if st.sha}
        self._outside = [
            w for w, on in enumerate(self._recorded)
            if on and weight_kind == "sha256" and w not in inside
        ]
        self._sums: list[FileSums | None] = [None] * len(self._files)
        self._weight_crcs: list[list[tuple[int, int, int]]] = [[] for _ in self._files]
        """Per file: (weight, CRC32C of its stretch, length), in file order."""
        self._weight_shas: dict[int, str] = {}

    def _cut(self) -> list[list[_Stretch]]:
        """Each file's weight stretches; a weight's SHA-256 is taken by a file's walk
        when the weight lies in that file and other files' walks share the cores."""
        crc = self._weight_kind == "crc32c"
        sha_inside = self._weight_kind == "sha256" and len(self._files) > 1
        out: list[list[_Stretch]] = []
        k = 0
        for f in self._files:
            stretches: list[_Stretch] = []
            while k < len(self._ranges) and self._ranges[k][1] <= f.start:
                k += 1
            j = k
            while j < len(self._ranges) and self._ranges[j][0] < f.end:
                start, end = self._ranges[j]
                if end > start:
                    on = self._recorded[j]
                    whole = start >= f.start and end <= f.end
                    stretches.append(_Stretch(j, max(start, f.start), min(end, f.end),
                                              crc and on, sha_inside and on and whole))
                if end > f.end:
                    break
                j += 1
            out.append(stretches)
        return out

    def walk(self, i: int) -> None:
        """Check file ``i`` (its bytes go nowhere else)."""
        for _ in self.pieces(i):
            pass

    def _unchecked(self, i: int) -> bool:
        """No checksum covers file ``i``'s bytes."""
        return not (self._file_sha256 or self._file_crc32c
                    or any(st.sha for st in self._stretches[i]))

    def pieces(self, i: int) -> Generator[memoryview, None, None]:
        """File ``i``'s bytes, as views (of at most ``4 * PIECE_BYTES``) checked as they
        are handed out. The file's sums
        are known once they have all been taken; taken again (a retried write), they
        are checked again from the start."""
        f = self._files[i]
        file_sha = hashlib.sha256() if self._file_sha256 else None
        want_crc = self._file_crc32c
        if self._unchecked(i):
            yield from self._data.iter_ranges(f.start, f.end)
            self._sums[i] = FileSums(None, None)
            return
        file_crc = 0
        weight_crcs: list[tuple[int, int, int]] = []
        for st in self._stretches[i]:
            weight_sha = hashlib.sha256() if st.sha else None
            length = st.end - st.start
            apart = st.crc and st.start > f.start and length < _COMBINE_MIN
            crc = 0 if st.crc else file_crc
            for view in self._data.iter_ranges(st.start, st.end):
                for handed in range(0, len(view), _HANDED_BYTES):
                    block = view[handed : handed + _HANDED_BYTES]
                    for at in range(0, len(block), PIECE_BYTES):
                        piece = block[at : at + PIECE_BYTES]
                        if file_sha is not None:
                            file_sha.update(piece)
                        if weight_sha is not None:
                            weight_sha.update(piece)
                        if want_crc:
                            crc = crc32c_extend(crc, piece)
                            if apart:
                                file_crc = crc32c_extend(file_crc, piece)
                    yield block
            if weight_sha is not None:
                self._weight_shas[st.weight] = weight_sha.hexdigest()
            if not st.crc:
                file_crc = crc  # it ran on from the file's CRC
                continue
            weight_crcs.append((st.weight, crc, length))
            if st.start == f.start:
                file_crc = crc
            elif not apart:
                file_crc = crc32c_combine(file_crc, crc, length)
        self._weight_crcs[i] = weight_crcs
        self._sums[i] = FileSums(
            file_sha.hexdigest() if file_sha is not None else None,
            crc32c_text(file_crc) if want_crc else None,
        )

    @property
    def has_outside(self) -> bool:
        """Whether ``sum_outside`` has weights to check (else it returns at once)."""
        return bool(self._outside)

    def pieces_ahead(self, i: int) -> Generator[memoryview, None, None]:
        """``pieces(i)``, checked a step ahead on one more thread: the checksums of the
        next few MiB run while the caller writes the last ones (one file alone would
        otherwise check and write on one core)."""
        blocks = self.pieces(i)
        if self._unchecked(i):
            yield from blocks
            return

        def step() -> list[memoryview]:
            out: list[memoryview] = []
            size = 0
            for block in blocks:
                out.append(block)
                size += len(block)
                if size >= _AHEAD_BYTES:
                    break
            return out

        with ThreadPoolExecutor(1) as ahead:
            got = ahead.submit(step)
            while batch := got.result():
                got = ahead.submit(step)
                yield from batch

    def sum_outside(self) -> None:
        """The SHA-256 of the recorded weights no file's walk takes."""
        for w in self._outside:
            h = hashlib.sha256()
            for view in self._data.iter_ranges(*self._ranges[w]):
                h.update(view)
            self._weight_shas[w] = h.hexdigest()

    def file_sums(self, i: int) -> FileSums:
        """File ``i``'s sums (once it has been walked)."""
        sums = self._sums[i]
        if sums is None:
            raise RuntimeError(f"file {self._files[i].path} has not been checked yet")
        return sums

    def crc32c_of(self, i: int) -> str | None:
        """File ``i``'s CRC32C, where it was asked for (once it has been walked)."""
        return self.file_sums(i).crc32c

    def files_sums(self) -> list[FileSums]:
        return [self.file_sums(i) for i in range(len(self._files))]

    def weights(self) -> dict[str, WeightRecord]:
        """Each recorded weight's checksum, in spec order; a name given to two weights is left
        out (it names no one range)."""
        kind = self._weight_kind
        if kind is None:
            return {}
        crcs: dict[int, int] = {}
        if kind == "crc32c":
            for i in range(len(self._files)):
                self.file_sums(i)  # every file was walked
                for w, crc, length in self._weight_crcs[i]:
                    crcs[w] = crc32c_combine(crcs[w], crc, length) if w in crcs else crc
        empty = new_hasher(kind).text()
        out: dict[str, WeightRecord] = {}
        for w, spec in enumerate(self._specs):
            if not self._recorded[w]:
                continue
            if kind == "crc32c":
                text = crc32c_text(crcs[w]) if w in crcs else empty
            else:
                start, end = self._ranges[w]
                text = self._weight_shas[w] if end > start else empty
            out[spec.name] = WeightRecord(**{kind: text})
        return out
