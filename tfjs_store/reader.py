"""Read one weight without reading the model: ``ModelReader``, what ``open_model`` gives.

Where a weight is: model.json's weights manifest lists groups of files; a group's files,
one after the other, hold its weights back to back in manifest order. A weight's byte
range in its group is the sum of the byte lengths before it; the files' sizes (from the
save record; else from the store, asked once) turn that range into ranges of files.
A string weight's length is only known by walking its uint32 length prefixes, so a
string weight is read whole: from its start to the next weight whose start is known, or
to the group's end. Weights after the group's last string are located from the end.

What is read: for ``read(names)``, the byte ranges of the weights asked for, and only
those. Ranges that touch or overlap in one file become one request; the requests go out
concurrently (ranged GETs on object stores, ``Range`` over http(s)). On a local disk, a
file saved under a save's own name (``group1-shard1of4.<tag>.bin``, never rewritten) is
memory-mapped: its arrays are read-only views whose pages are read as they are touched.
Other local files (tfjs-node's ``weights.bin``, rewritten in place by a later save) are
read range by range instead: a mapped file truncated under its arrays would crash the
process.

What is checked: each weight against its CRC32C where the save record holds one
(``IntegrityError`` naming the weight). Without per-weight records a weight file can only
be checked whole: a file whose every byte was read is checked against its recorded size
and SHA-256 (``IntegrityError`` naming the weights read from it). ``reader.verified``
says how each weight read was checked, and ``reader.warning`` says when weights may come
back unchecked.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from .errors import IntegrityError, InvalidModelError, ModelNotFoundError, WeightDataError
from .format.codec import decode_weights
from .format.integrity import checksum_label, file_mismatch, recorded_checksums, weight_mismatch
from .format.record import FileRecord, SaveRecord
from .format.schemas import ModelJSON, WeightSpec
from .format.shards import immutable_name
from .stores.base import ByteStore, map_until_error

__all__ = ["ModelReader"]

Check = Literal["crc32c", "sha256"]


# -- where the bytes come from ------------------------------------------------------------


class _Source(Protocol):
    """The weight files of one model, by their index in the manifest."""

    def name(self, index: int) -> str: ...
    def cheap_sizes(self, indices: Sequence[int]) -> list[int | None]: ...
    def sizes(self, indices: Sequence[int]) -> list[int | None]: ...
    def read_ranges(self, jobs: Sequence[tuple[int, int, int]]) -> list[Any]: ...
    def mmap(self, index: int) -> Any: ...


class _StoreSource:
    """Weight files in a ``ByteStore`` (relative paths already confined)."""

    def __init__(self, store: ByteStore, paths: Sequence[str]) -> None:
        self.store = store
        self.paths = list(paths)

    def name(self, index: int) -> str:
        return self.store.file_url(self.paths[index])

    def cheap_sizes(self, indices: Sequence[int]) -> list[int | None]:
        told = self.store.sizes([self.paths[i] for i in indices])
        return list(told) if told is not None else [None] * len(indices)

    def sizes(self, indices: Sequence[int]) -> list[int | None]:
        def one(i: int) -> int | None:
            size = self.store.size(self.paths[i])
            if size is None:
                self.store.read(self.paths[i], limit=0)  # a missing file: FileNotFoundError
            return size

        return map_until_error(one, indices, self.store.max_concurrency)

    def read_ranges(self, jobs: Sequence[tuple[int, int, int]]) -> list[Any]:
        if self.store.supports_ranges:
            return self.store.read_ranges([(self.paths[i], s, e) for i, s, e in jobs])
        wanted = sorted({i for i, _, _ in jobs})  # no ranged reads: each file once, whole
        whole = dict(zip(wanted, self.store.read_many([self.paths[i] for i in wanted],
                                                      lambda _i, _d: None), strict=True))
        return [memoryview(whole[i])[s:e] for i, s, e in jobs]

    def mmap(self, index: int) -> Any:
        # Only files no later save rewrites: a mapped file truncated under its arrays
        # would crash the process when they are touched.
        if not immutable_name(posixpath.basename(self.paths[index])):
            return None
        return self.store.mmap(self.paths[index])


# -- the reader ---------------------------------------------------------------------------


@dataclass
class _Group:
    number: int  # 1-based, as messages name groups
    files: list[int]
    specs: list[WeightSpec]
    bounds: list[int | None] = field(default_factory=list)
    """``bounds[k]``: where weight ``k`` starts in the group; ``bounds[-1]``: its end."""


class ModelReader(Mapping[str, np.ndarray]):
    """A stored model's weights as a read-only mapping, read weight by weight.

    Made by ``tfjs_store.open_model``. ``reader[name]`` reads one weight,
    ``reader.read(names)`` several at once (their ranges coalesced and fetched
    concurrently); nothing is read until a weight is asked for, and nothing is cached.
    Use it as a context manager (or call ``close``) to release memory maps.

    Attributes
    ----------
    url:
        The model JSON's URL.
    model_json:
        The validated model.json (``ModelJSON``).
    specs:
        Weight name -> ``WeightSpec``, in manifest order.
    verified:
        For each weight read so far, how it was checked: ``"crc32c"`` (its own
        record), ``"sha256"`` (the whole files holding it were read and matched their
        record), or None (not checked).
    warning:
        Why weights may come back unchecked (no per-weight records, or
        ``verify=False``); None when every weight read is checked.
    """

    def __init__(
        self,
        source: _Source,
        model_json: ModelJSON,
        url: str,
        *,
        verify: bool = True,
        strings: Literal["str", "bytes"] = "str",
    ) -> None:
        self.url = url
        self.model_json = model_json
        self._source = source
        self._verify = verify
        self._strings: Literal["str", "bytes"] = strings
        self._closed = False
        self._maps: dict[int, Any] = {}
        self.verified: dict[str, Check | None] = {}
        record = SaveRecord.of(model_json)
        paths = model_json.weight_paths
        self._entries: list[FileRecord | None] = [
            record.entry(p) if record is not None else None for p in paths
        ]
        self._sizes: list[int | None] = [e.size if e is not None else None for e in self._entries]
        self._groups: list[_Group] = []
        self._where: dict[str, tuple[int, int]] = {}
        self.specs: dict[str, WeightSpec] = {}
        pos = 0
        for number, group in enumerate(model_json.weights_manifest or [], start=1):
            files = list(range(pos, pos + len(group.paths)))
            pos += len(group.paths)
            g = _Group(number, files, list(group.weights), [None] * (len(group.weights) + 1))
            g.bounds[0] = 0
            for k, spec in enumerate(group.weights):
                if spec.name in self.specs:
                    raise InvalidModelError(f"{url}: duplicate weight name {spec.name!r}")
                self.specs[spec.name] = spec
                self._where[spec.name] = (len(self._groups), k)
            self._groups.append(g)
        unknown = [i for i, s in enumerate(self._sizes) if s is None]
        if unknown:  # where sizes cost nothing (a local stat)
            for i, size in zip(unknown, source.cheap_sizes(unknown), strict=True):
                self._sizes[i] = size
        for g in self._groups:
            self._fill(g)
        self._crc = {
            name: record.weight(name) if record is not None else None for name in self.specs
        }
        if not verify:
            self.warning: str | None = "checks are off (verify=False): no weight is checked"
        elif record is None or not any(recorded_checksums(e) for e in self._entries):
            self.warning = f"{url} has no save record with checksums: no weight read is checked"
        elif not record.weights:
            self.warning = (
                f"{url} records no per-weight CRC32C: a weight is checked only when every "
                "byte of the files holding it is read (against their recorded size and "
                "SHA-256); see `verified`"
            )
        else:
            self.warning = None

    # -- Mapping ------------------------------------------------------------------------

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.specs:
            raise KeyError(name)
        return self.read([name])[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def __repr__(self) -> str:
        return f"<ModelReader {self.url} ({len(self.specs)} weights)>"

    # -- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Release the memory maps (arrays still using one keep it alive)."""
        self._closed = True
        maps, self._maps = self._maps, {}
        for m in maps.values():
            if m is not None:
                with contextlib.suppress(BufferError):  # arrays still point into it
                    m.close()

    def __enter__(self) -> ModelReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------

    def read(self, names: Iterable[str]) -> dict[str, np.ndarray]:
        """Several weights at once: name -> array, in the order asked."""
        if self._closed:
            raise ValueError(f"{self!r} is closed")
        wanted = list(dict.fromkeys(names))
        for name in wanted:
            if name not in self.specs:
                raise KeyError(name)
        pieces: dict[str, list[tuple[int, int, int]]] = {}
        for name in wanted:
            g, k = self._where[name]
            start, end = self._span(self._groups[g], k)
            pieces[name] = self._pieces(self._groups[g], start, end)
        data, checked = self._fetch(pieces)
        out: dict[str, np.ndarray] = {}
        for name in wanted:
            buf = data[name]
            how: Check | None = None
            entry = self._crc[name] if self._verify else None
            kinds = recorded_checksums(entry)
            if kinds:
                found = weight_mismatch(buf, entry)
                if found is not None:
                    raise IntegrityError(
                        f"weight {name!r} ({self._files_of(pieces[name])}): "
                        f"{checksum_label(found.algorithm or '')} {found.actual} does not "
                        f"match the {found.recorded} recorded in {self.url}: the bytes "
                        "changed after the save"
                    )
                how = "crc32c" if "crc32c" in kinds else "sha256"
            elif pieces[name] and all(f in checked for f, _, _ in pieces[name]):
                how = "sha256"
            out[name] = decode_weights(buf, [self.specs[name]], strings=self._strings)[name]
            self.verified[name] = how
        return out

    # -- where a weight is --------------------------------------------------------------

    def _fill(self, g: _Group) -> None:
        """Every bound that follows from the known ones and the fixed byte lengths."""
        b = g.bounds
        for k, spec in enumerate(g.specs):
            n, start, end = spec.byte_length, b[k], b[k + 1]
            if start is None or n is None:
                continue
            if end is None:
                b[k + 1] = start + n
            elif end != start + n:  # located from both ends: they disagree
                raise WeightDataError(
                    f"{self.url}: weights group {g.number}: weight {spec.name!r} needs "
                    f"bytes {start}-{start + n} but the weights after it start at {end}"
                )
        total = self._group_total(g, ask=False)
        if total is not None and b[-1] is None:
            b[-1] = total
        for k in range(len(g.specs) - 1, -1, -1):
            n = g.specs[k].byte_length
            if b[k + 1] is not None and b[k] is None and n is not None:
                b[k] = b[k + 1] - n  # type: ignore[operator]
        self._check_group(g)

    def _check_group(self, g: _Group) -> None:
        b = g.bounds
        total = self._group_total(g, ask=False)
        fixed = all(s.byte_length is not None for s in g.specs)
        described = b[-1] if fixed else None
        if total is not None and described is not None and total != described:
            sizes = ", ".join(f"{self._source.name(i)} ({self._sizes[i]} bytes)" for i in g.files)
            raise WeightDataError(
                f"{self.url}: weights group {g.number} ({sizes}): the weight data is "
                f"{total} bytes but the weight specs describe {described} bytes"
            )
        if any(x is not None and x < 0 for x in b) or (
            total is not None and any(x is not None and x > total for x in b)
        ):
            raise WeightDataError(
                f"{self.url}: weights group {g.number}: its files hold {total} bytes, "
                "fewer than its weight specs describe"
            )

    def _group_total(self, g: _Group, *, ask: bool) -> int | None:
        sizes = [self._sizes[i] for i in g.files]
        if any(s is None for s in sizes) and ask:
            missing = [i for i in g.files if self._sizes[i] is None]
            try:
                told = self._source.sizes(missing)
            except FileNotFoundError as exc:
                raise self._gone(exc) from None
            for i, size in zip(missing, told, strict=True):
                if size is None:
                    raise WeightDataError(
                        f"{self.url}: the size of weight file {self._source.name(i)} is "
                        "neither recorded nor told by the storage; load the whole model"
                    )
                self._sizes[i] = size
            sizes = [self._sizes[i] for i in g.files]
        if any(s is None for s in sizes):
            return None
        return sum(s for s in sizes if s is not None)

    def _span(self, g: _Group, k: int) -> tuple[int, int]:
        """Weight ``k``'s ``[start, end)`` in its group, walking strings before it."""
        b = g.bounds
        if b[k] is None or b[k + 1] is None:  # from the group's end, once its size is known
            self._group_total(g, ask=True)
            self._fill(g)
        while b[k] is None or b[k + 1] is None:
            s = next(j for j in range(len(g.specs)) if b[j + 1] is None)  # a string weight
            start = b[s]
            assert start is not None  # bounds are filled left to right
            limit = next(x for x in b[s + 1 :] if x is not None)  # the group end is known
            data = self._read_group_range(g, start, limit)
            b[s + 1] = start + _string_length(g.specs[s], data, self.url)
            self._fill(g)
        return b[k], b[k + 1]  # type: ignore[return-value]

    def _pieces(self, g: _Group, start: int, end: int) -> list[tuple[int, int, int]]:
        """Group range ``[start, end)`` as ``(file, start, end)`` ranges of its files."""
        if end <= start:
            return []
        if len(g.files) == 1:
            return [(g.files[0], start, end)]
        self._group_total(g, ask=True)
        out, offset = [], 0
        for i in g.files:
            size = self._sizes[i] or 0
            lo, hi = max(start, offset), min(end, offset + size)
            if lo < hi:
                out.append((i, lo - offset, hi - offset))
            offset += size
        return out

    def _read_group_range(self, g: _Group, start: int, end: int) -> Any:
        data, _ = self._fetch({"": self._pieces(g, start, end)}, check_files=False)
        return data[""]

    # -- fetching -------------------------------------------------------------------------

    def _fetch(
        self, wanted: Mapping[str, list[tuple[int, int, int]]], *, check_files: bool = True
    ) -> tuple[dict[str, Any], set[int]]:
        """The bytes of each entry's file ranges (coalesced per file, fetched at once),
        and the files read whole and found matching their record."""
        merged: dict[int, list[list[int]]] = {}
        for ranges in wanted.values():
            for i, s, e in ranges:
                merged.setdefault(i, []).append([s, e])
        for i, spans in merged.items():
            spans.sort()
            joined = [spans[0]]
            for s, e in spans[1:]:
                if s <= joined[-1][1]:  # touching or overlapping: one request
                    joined[-1][1] = max(joined[-1][1], e)
                else:
                    joined.append([s, e])
            merged[i] = joined
        got: dict[tuple[int, int], Any] = {}  # (file, start) -> bytes of a merged range
        jobs: list[tuple[int, int, int]] = []
        for i, spans in merged.items():
            mapped = self._map(i)
            for s, e in spans:
                if mapped is not None:
                    got[(i, s)] = memoryview(mapped)[s:e]
                else:
                    jobs.append((i, s, e))
        try:
            for (i, s, _e), buf in zip(jobs, self._source.read_ranges(jobs), strict=True):
                got[(i, s)] = buf
        except FileNotFoundError as exc:
            raise self._gone(exc) from None
        checked: set[int] = set()
        for i, spans in merged.items():
            for s, e in spans:
                length = memoryview(got[(i, s)]).nbytes
                if length != e - s:
                    raise WeightDataError(
                        f"weight file {self._source.name(i)} ends at byte {s + length} but "
                        f"{self.url}'s weight specs need bytes up to {e}"
                    )
            if check_files and self._verify and self._check_whole_file(i, spans, got, wanted):
                checked.add(i)
        out = {}
        for name, ranges in wanted.items():
            parts = []
            for i, s, e in ranges:
                base = next(x for x, y in merged[i] if x <= s and e <= y)
                parts.append(memoryview(got[(i, base)]).cast("B")[s - base : e - base])
            out[name] = parts[0] if len(parts) == 1 else b"".join(parts)  # b"" for none
        return out, checked

    def _check_whole_file(
        self,
        i: int,
        spans: list[list[int]],
        got: Mapping[tuple[int, int], Any],
        wanted: Mapping[str, list[tuple[int, int, int]]],
    ) -> bool:
        """A file read whole, against its recorded size and checksums."""
        entry, size = self._entries[i], self._sizes[i]
        if not recorded_checksums(entry) or size is None or spans != [[0, size]]:
            return False
        names = [n for n, ranges in wanted.items() if any(f == i for f, _, _ in ranges)]
        if all(recorded_checksums(self._crc.get(n)) for n in names):
            return False  # each weight has its own checksum: no need to hash the file
        found = file_mismatch(got[(i, 0)], entry)
        if found is not None:
            raise IntegrityError(
                f"weight(s) {', '.join(repr(n) for n in names)}: "
                f"{checksum_label(found.algorithm or 'size')} of weight file "
                f"{self._source.name(i)} does not match the one recorded in {self.url}: "
                "the bytes changed after the save"
            )
        return True

    def _map(self, i: int) -> Any:
        if i not in self._maps:
            try:
                self._maps[i] = self._source.mmap(i)
            except FileNotFoundError as exc:
                raise self._gone(exc) from None
        return self._maps[i]

    def _gone(self, exc: FileNotFoundError) -> ModelNotFoundError:
        return ModelNotFoundError(
            f"weight file {exc.filename or '?'} named in {self.url} does not exist "
            "(if a save replaced the model since it was opened, open it again)"
        )

    def _files_of(self, ranges: Sequence[tuple[int, int, int]]) -> str:
        return ", ".join(f"bytes {s}-{e} of {self._source.name(i)}" for i, s, e in ranges)


def _string_length(spec: WeightSpec, data: Any, where: str) -> int:
    """How many bytes of ``data`` a string weight takes: its length prefixes walked."""
    view = memoryview(data).cast("B")
    pos = 0
    for _ in range(spec.size):
        if pos + 4 > len(view):
            raise WeightDataError(
                f"{where}: weight {spec.name!r}: string length prefix at offset {pos} runs "
                f"past the end of its group's data"
            )
        pos += 4 + int.from_bytes(view[pos : pos + 4], "little")
        if pos > len(view):
            raise WeightDataError(
                f"{where}: weight {spec.name!r}: a string runs past the end of its "
                "group's data"
            )
    return pos


def reader_for(handler: Any) -> ModelReader:
    """The reader over a handler tfjs-store knows how to read ranges through: the model
    handler over any byte store (http(s) included: its store reads with ``Range``)."""
    from .handler import ModelHandler

    if isinstance(handler, ModelHandler):
        handler.store.refresh()
        model_json = handler.read_model_json()
        source: _Source = _StoreSource(handler.store, handler.weight_names(model_json))
        return ModelReader(source, model_json, handler.json_url, verify=handler.verify)
    from .errors import HandlerError

    raise HandlerError(
        f"open_model() reads through tfjs-store's own handlers; {type(handler).__name__} "
        "only loads whole models (use load())"
    )
