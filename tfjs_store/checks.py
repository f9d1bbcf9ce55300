"""Look inside a stored model without loading it, and check it file by file.

``inspect_model(url)`` reads model.json (and, when no sizes are recorded, the sizes of
the weight files) without reading any weight byte: what ``tfjs-store info`` shows.

``verify(url)`` checks everything and reports **every** problem it finds instead of
stopping at the first, as ``load`` does:

- model.json parses and follows the schema;
- every manifest path stays inside the model's folder;
- every weight file is present and readable;
- each file has the size recorded at save time, and each group of files holds exactly
  the bytes its weight specs describe;
- each file's checksum (CRC32C, or SHA-256 for models saved so) matches the one
  recorded at save time (tfjs-store's own ``shards`` layout records them; TF.js's
  layouts do not, so a flipped bit there is not detectable);
- every weight decodes.

``verify(url, remote=True)`` reads no weight byte where the store keeps a checksum of
its own (``ByteStore.keeps_checksums``: GCS's object ``crc32c``, S3's
``ChecksumCRC32C``): each file whose recorded CRC32C the store's equals is proven
intact without reading it; a file whose stored checksum is missing or of another kind
(a model saved with ``checksum="sha256"``, a multipart upload) is read and checked as
above. The report names which files were proven remotely and which were read. Groups
with a file proven remotely are not decoded (their bytes were not read); their sizes
are checked against the weight specs from the record.

Models behind tfjs-store's model handler (every byte store: file, memory, s3, gcs,
az, plugins built on ``ByteStore``) are checked file by file; any other handler (such
as ``http(s)://``) is checked by loading the model, which stops at the first problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from .api import load
from .errors import (
    HandlerError,
    IntegrityError,
    InvalidModelError,
    ModelNotFoundError,
    StorageError,
    UnsafePathError,
    WeightDataError,
)
from .format.codec import decode_weights
from .format.integrity import Mismatch, checksum_label, file_mismatch, size_error
from .format.layout import safe_relative_path
from .format.record import FileRecord, SaveRecord
from .format.schemas import ManifestGroup, ModelJSON
from .handler import ModelHandler
from .registry import get_load_handlers
from .stores.base import map_until_error

__all__ = [
    "ModelInspection",
    "Problem",
    "ProblemKind",
    "VerifyReport",
    "WeightFile",
    "inspect_model",
    "verify",
]

ProblemKind = Literal[
    "schema",
    "unsafe-path",
    "missing-file",
    "unreadable-file",
    "size-mismatch",
    "checksum-mismatch",
    "decode",
]

_READ_THREADS = 8


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a stored model."""

    kind: ProblemKind
    message: str
    path: str | None = None
    """The manifest path (or model JSON name) concerned, when there is one."""

    def to_json_obj(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "message": self.message}


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found. ``ok`` is true when there is no problem."""

    url: str
    problems: tuple[Problem, ...] = ()
    warnings: tuple[str, ...] = ()
    files_checked: int = 0
    """Weight files read (present and readable)."""
    checksums_checked: int = 0
    """Weight files whose checksum was compared with a recorded one."""
    weights_decoded: int = 0
    file_by_file: bool = True
    """False when the handler could only be checked by loading (first problem only)."""
    remote: bool = False
    """Checked with ``remote=True``: the store's own checksums were asked first."""
    proven_remotely: tuple[str, ...] = ()
    """Manifest paths whose recorded CRC32C equals the one the store keeps (not read)."""
    read_files: tuple[str, ...] = ()
    """Manifest paths whose bytes were read to check them."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ok": self.ok,
            "problems": [p.to_json_obj() for p in self.problems],
            "warnings": list(self.warnings),
            "checked": {
                "files": self.files_checked,
                "checksums": self.checksums_checked,
                "weights": self.weights_decoded,
                "fileByFile": self.file_by_file,
            },
            "remote": self.remote,
            "provenRemotely": list(self.proven_remotely),
            "readFiles": list(self.read_files),
        }


@dataclass(frozen=True)
class WeightFile:
    """One weight file of a manifest group."""

    path: str
    group: int
    """1-based index of its manifest group."""
    size: int | None
    """Bytes: as recorded at save time, else as stored; None if unknown or missing."""
    sha256: str | None = None
    """The SHA-256 recorded at save time, if any."""
    missing: bool = False
    crc32c: str | None = None
    """The CRC32C recorded at save time, if any (base64, as GCS and S3 spell it)."""


@dataclass(frozen=True)
class ModelInspection:
    """model.json and where its weights are, read without reading any weight byte."""

    url: str
    """The model JSON's URL."""
    model_json: ModelJSON
    files: tuple[WeightFile, ...] = field(default_factory=tuple)

    @property
    def checksums_recorded(self) -> bool:
        return bool(self.files) and all(
            f.sha256 is not None or f.crc32c is not None for f in self.files
        )


class _ModelFiles:
    """Reads a model's files through the byte store under a model handler."""

    def __init__(self, handler: ModelHandler) -> None:
        self.handler = handler
        self.store = handler.store
        self.json_name = handler.json_name

    def url(self, rel: str) -> str:
        return self.store.file_url(rel)

    @property
    def json_url(self) -> str:
        return self.handler.json_url

    def read_model_json(self) -> ModelJSON:
        return self.handler.read_model_json()

    def read(self, rel: str) -> Any:
        try:
            return self.store.read(rel)
        except FileNotFoundError:
            raise ModelNotFoundError(f"weight file {self.url(rel)} does not exist") from None

    def size(self, rel: str) -> int | None:
        return self.store.size(rel)


def _load_handler(
    url: str, storage_options: Mapping[str, Any] | None, handler_options: Mapping[str, Any]
) -> Any:
    options: dict[str, Any] = dict(handler_options)
    if storage_options is not None:
        options["storage_options"] = storage_options
    handlers = get_load_handlers(url, **options)
    if not handlers:
        raise HandlerError(f"Cannot find any load handlers for URL '{url}'")
    if len(handlers) > 1:
        raise HandlerError(f"Found more than one ({len(handlers)}) load handlers for URL '{url}'")
    return handlers[0]


def _model_files(handler: Any) -> _ModelFiles | None:
    """File access through a model handler's store; None for a handler checked by
    loading it (any other handler, and http(s), whose store reads only the model's
    URLs: its model is loaded whole, as TF.js would)."""
    from .stores.http import HttpStore

    if isinstance(handler, ModelHandler) and not isinstance(handler.store, HttpStore):
        return _ModelFiles(handler)
    return None


def _safe(path: str) -> str | None:
    try:
        return safe_relative_path(path)
    except UnsafePathError:
        return None


# -- inspect -------------------------------------------------------------------------


def inspect_model(
    url: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    file_sizes: bool = True,
    allow_loading: bool = True,
    **handler_options: Any,
) -> ModelInspection:
    """Read model.json and list the weight files, without reading weight bytes.

    Sizes come from the record tfjs-store writes at save time; without one (TF.js's
    layouts) each file's size is asked of the storage when ``file_sizes`` is true.
    A handler without file access (e.g. ``http(s)://``) is inspected by loading the
    whole model, unless ``allow_loading`` is false: then ``HandlerError`` is raised.
    Other keyword arguments go to the handler (e.g. ``request_init`` for http).
    Raises ``ModelNotFoundError`` when there is no model JSON at ``url``.
    """
    handler = _load_handler(url, storage_options, handler_options)
    files = _model_files(handler)
    if files is None:
        if not allow_loading:
            raise HandlerError(
                f"{type(handler).__name__} for {url} cannot read model.json on its own"
            )
        return _inspect_by_loading(url, handler)
    model_json = files.read_model_json()
    record = SaveRecord.of(model_json)
    out: list[WeightFile] = []
    to_stat: list[int] = []
    for g, group in enumerate(model_json.weights_manifest or [], start=1):
        for path in group.paths:
            rel = _safe(path)
            entry = (record.entry(path) if record else None) or FileRecord()
            if entry.size is None and rel is not None and file_sizes:
                to_stat.append(len(out))
            out.append(WeightFile(path, g, entry.size, entry.sha256, crc32c=entry.crc32c))
    if to_stat:
        rels = [safe_relative_path(out[i].path) for i in to_stat]
        with ThreadPoolExecutor(min(_READ_THREADS, len(rels))) as pool:
            sizes = list(pool.map(files.size, rels))
        for i, size in zip(to_stat, sizes, strict=True):
            f = out[i]
            out[i] = WeightFile(f.path, f.group, size, f.sha256, missing=size is None,
                                crc32c=f.crc32c)
    return ModelInspection(files.json_url, model_json, tuple(out))


def _inspect_by_loading(url: str, handler: Any) -> ModelInspection:
    artifacts = load(handler)
    specs = list(artifacts.weight_specs or [])
    groups = artifacts.weights_manifest or [ManifestGroup(paths=[], weights=specs)]
    model_json = artifacts.to_model_json(groups)
    buffers = artifacts.buffers
    paths = model_json.weight_paths
    sizes: Sequence[int | None] = (
        [len(b) for b in buffers] if len(buffers) == len(paths) else [None] * len(paths)
    )
    out = []
    pos = 0
    for g, group in enumerate(groups, start=1):
        for path in group.paths:
            out.append(WeightFile(path, g, sizes[pos]))
            pos += 1
    return ModelInspection(url, model_json, tuple(out))


# -- verify --------------------------------------------------------------------------


@dataclass
class _Read:
    rel: str
    data: Any = None
    error: BaseException | None = None
    mismatch: Mismatch | None = None


def verify(
    url: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    remote: bool = False,
    **handler_options: Any,
) -> VerifyReport:
    """Check the model at ``url`` and report every problem found, not only the first.

    Checked: model.json parses and follows the schema; every manifest path stays in the
    model's folder; every weight file is present and readable, has the size recorded at
    save time, and matches its recorded checksum; each group of files holds exactly the
    bytes its weight specs describe; every weight decodes. Weights holding NaN or
    infinite values are warnings. A handler without file access (http) is checked by
    loading the model, which stops at its first problem.

    With ``remote=True``, files whose recorded CRC32C the store keeps too are compared
    with it and not read. Other keyword arguments go to the handler (e.g.
    ``request_init`` for http).

    Raises ``ModelNotFoundError`` when there is no model JSON at ``url`` and
    ``StorageError`` when the model JSON cannot be read; everything wrong with the
    model itself is a ``Problem`` in the report.
    """
    handler = _load_handler(url, storage_options, handler_options)
    files = _model_files(handler)
    if files is None:
        return _verify_by_loading(url, handler)
    try:
        model_json = files.read_model_json()
    except InvalidModelError as exc:
        return VerifyReport(url, (Problem("schema", str(exc), files.json_name),))

    record = SaveRecord.of(model_json)
    problems: list[Problem] = []
    warnings: list[str] = []
    files_checked = checksums_checked = weights_decoded = 0
    unrecorded: list[str] = []
    proven: list[str] = []
    read_paths: list[str] = []
    stored = _stored_checksums(files, model_json, record, warnings) if remote else {}

    for g, group in enumerate(model_json.weights_manifest or [], start=1):
        rels: list[str] = []
        for path in group.paths:
            try:
                rels.append(safe_relative_path(path))
            except UnsafePathError as exc:
                problems.append(Problem("unsafe-path", str(exc), path))
        if len(rels) != len(group.paths):
            continue  # never read outside the folder; the group cannot be decoded
        entries = [record.entry(p) if record else None for p in group.paths]
        kept: dict[int, tuple[str, str]] = {}  # index -> (the store's, recorded)
        for i, (rel, entry) in enumerate(zip(rels, entries, strict=True)):
            if rel in stored and entry is not None and entry.crc32c is not None:
                kept[i] = (stored[rel], entry.crc32c)
        for i, (value, recorded) in kept.items():
            path = group.paths[i]
            checksums_checked += 1
            if value == recorded:
                proven.append(path)
                continue
            problems.append(
                Problem(
                    "checksum-mismatch",
                    f"CRC32C the store keeps for weight file {files.url(rels[i])} is {value}, "
                    f"but {files.json_name} recorded {recorded}: the bytes changed after "
                    "the save",
                    path,
                )
            )
        todo = [i for i in range(len(rels)) if i not in kept]
        reads = _read_all(files, [rels[i] for i in todo], [entries[i] for i in todo])
        read_paths += [group.paths[i] for i in todo]
        group_complete = not kept
        if kept:
            problems += _recorded_group_sizes(g, group, entries, files.json_name)
        for path, got in zip([group.paths[i] for i in todo], reads, strict=True):
            file_url = files.url(got.rel)
            if got.error is not None:
                group_complete = False
                if isinstance(got.error, ModelNotFoundError):
                    problems.append(
                        Problem(
                            "missing-file",
                            f"weight file {file_url} named in {files.json_name} does not exist",
                            path,
                        )
                    )
                else:
                    problems.append(Problem("unreadable-file", str(got.error), path))
                continue
            assert got.data is not None
            files_checked += 1
            entry = record.entry(path) if record else None
            mismatch = got.mismatch
            if mismatch is not None and mismatch.kind == "size":
                group_complete = False
                problems.append(
                    Problem(
                        "size-mismatch",
                        str(size_error(file_url, int(mismatch.actual), files.json_name,
                                       int(mismatch.recorded))),
                        path,
                    )
                )
                continue  # a digest of the wrong number of bytes cannot match either
            if entry is not None and entry.has_checksum:
                checksums_checked += 1
                if mismatch is not None:
                    label = checksum_label(mismatch.algorithm or "")
                    problems.append(
                        Problem(
                            "checksum-mismatch",
                            f"{label} of weight file {file_url} is {mismatch.actual}, but "
                            f"{files.json_name} recorded {mismatch.recorded}: the bytes "
                            "changed after the save",
                            path,
                        )
                    )
            elif record:
                unrecorded.append(path)
        if not group_complete:
            continue  # the file-level problems say it; decoding would only repeat them
        buffers = [r.data for r in reads]  # every file of the group was read
        where = f"weights group {g} ({', '.join(group.paths) or 'no files'})"
        try:
            arrays = decode_weights(buffers, group.weights)
        except WeightDataError as exc:
            last = group.paths[-1] if group.paths else None
            problems.append(Problem("size-mismatch", f"{where}: {exc}", last))
            continue
        except (InvalidModelError, ValueError) as exc:
            problems.append(Problem("decode", f"{where}: {exc}", None))
            continue
        weights_decoded += len(arrays)
        warnings += _non_finite(arrays)

    if not record and model_json.weight_paths:
        warnings.append(
            f"{files.json_name} records no checksums (TF.js's own layouts do not), so a "
            "changed byte that keeps the file size cannot be detected"
        )
    elif unrecorded:
        warnings.append(f"no checksum recorded for {', '.join(unrecorded)}")
    return VerifyReport(
        files.json_url,
        tuple(problems),
        tuple(warnings),
        files_checked,
        checksums_checked,
        weights_decoded,
        remote=remote,
        proven_remotely=tuple(proven),
        read_files=tuple(read_paths),
    )


def _stored_checksums(
    files: _ModelFiles, model_json: ModelJSON, record: SaveRecord | None, warnings: list[str]
) -> dict[str, str]:
    """relative path -> the CRC32C the store keeps, for files with one recorded."""
    if not files.store.keeps_checksums:
        warnings.append(
            f"{files.store.url} keeps no checksum tfjs-store can compare: every file was read"
        )
        return {}
    wanted = []
    for path in model_json.weight_paths:
        entry = record.entry(path) if record else None
        rel = _safe(path)
        if entry is not None and entry.crc32c is not None and rel is not None:
            wanted.append(rel)
    kept = files.store.stored_checksums(wanted)
    return {rel: sums["crc32c"] for rel, sums in kept.items() if "crc32c" in sums}


def _recorded_group_sizes(
    g: int, group: ManifestGroup, entries: Sequence[FileRecord | None], json_name: str
) -> list[Problem]:
    """A group not read whole: its recorded sizes against what its specs describe."""
    lengths = [w.byte_length for w in group.weights]
    sizes = [e.size if e is not None else None for e in entries]
    if any(n is None for n in lengths) or any(n is None for n in sizes):
        return []  # string weights, or sizes not recorded: only reading tells
    held, want = sum(n or 0 for n in sizes), sum(n or 0 for n in lengths)
    if held == want:
        return []
    return [
        Problem(
            "size-mismatch",
            f"weights group {g} ({', '.join(group.paths)}): {json_name} records {held} "
            f"bytes of files but the weight specs describe {want} bytes",
            group.paths[-1] if group.paths else None,
        )
    ]


def _read_all(
    files: _ModelFiles, rels: Sequence[str], entries: Sequence[FileRecord | None]
) -> list[_Read]:
    def one(i: int) -> _Read:
        try:
            data = files.read(rels[i])
        except (ModelNotFoundError, StorageError) as exc:
            return _Read(rels[i], error=exc)
        return _Read(rels[i], data, mismatch=file_mismatch(data, entries[i]))

    return map_until_error(one, range(len(rels)), _READ_THREADS)


def _non_finite(arrays: Mapping[str, Any]) -> list[str]:
    import numpy as np

    out = []
    for name, arr in arrays.items():
        if arr.dtype.kind in "fc" and arr.size and not bool(np.isfinite(arr).all()):
            out.append(f"weight {name!r} holds NaN or infinite values")
    return out


def _verify_by_loading(url: str, handler: Any) -> VerifyReport:
    note = (
        f"{type(handler).__name__} cannot be checked file by file; the model was loaded "
        "whole, so only the first problem is reported"
    )
    try:
        artifacts = load(handler)
    except InvalidModelError as exc:
        kind: ProblemKind = "schema"
        if isinstance(exc, WeightDataError):
            kind = "size-mismatch"
        elif isinstance(exc, UnsafePathError):
            kind = "unsafe-path"
        elif isinstance(exc, IntegrityError):
            kind = "checksum-mismatch"
        return VerifyReport(url, (Problem(kind, str(exc)),), (note,), file_by_file=False)
    try:
        arrays = artifacts.weights()
    except (InvalidModelError, ValueError) as exc:
        return VerifyReport(url, (Problem("decode", str(exc)),), (note,), file_by_file=False)
    return VerifyReport(
        url,
        (),
        (note, *_non_finite(arrays)),
        files_checked=len(artifacts.buffers),
        weights_decoded=len(arrays),
        file_by_file=False,
    )
