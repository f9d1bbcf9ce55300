"""The one model handler: TF.js's format work over any byte store, done once.

The commit protocol (why no reader ever sees a torn model):

1. read the current model.json, if any, to know the files of the model being replaced;
2. name each weight file after its content (``group1-shard1of2.<digest>.bin``, the
   digest a SHA-256 prefix: ``format.shards.CONTENT_DIGEST_HEX``), hashing every file
   once, concurrently, with its recorded checksum and each weight's in the same pass
   (``format.checksum_pass``);
3. write the in-flight marker naming those files, then write only the files the
   folder does not already hold whole (same name, same size, and the same CRC32C where
   the storage keeps one): a re-save of a model whose last layer changed sends the
   shards that changed. Just before the commit the reused files are looked for again
   (a ``clean`` may have removed a leftover meanwhile) and written if gone;
4. write model.json last, in one step (``ByteStore.commit``: a single PUT on object
   stores, write-then-rename on a local disk), with the save record;
5. only then remove the replaced model's files it does not share, and stale leftovers
   of crashed saves.

A name always holds the same bytes, so nothing a reader may be reading is ever
rewritten. ``copy_from`` works the same way at the destination: a file already there
whole is not sent again, so a copy that was killed resumes where it stopped.

A conditional save (``if_match=TOKEN`` / ``if_none_match="*"``) checks the model's
version in step 3, in the same step as the write (``ByteStore.commit``); a refused save
removes the weight files it wrote and raises ``ConflictError``.

The cleanup rule: a save writes an in-flight marker ``model.json.<tag>.inflight`` (when,
host, process, and the weight files its model.json will name) before any weight file
and rewrites it every ``INFLIGHT_REFRESH_SECONDS`` while it runs; it removes it once it
has committed or failed. A file is removed (by ``clean``, by the leftovers sweep of
every save, by the removal of a replaced model's files) only when no live marker names
it and the committed model.json, read after the markers, does not name it either;
never a file of a save whose marker is live, however old the save is. Content-named
files are shared by saves, so their removal is announced first (``removing`` in the
remover's own marker) and the markers and model.json are read again before it; a save
that reuses or writes such a file, after writing its own marker, waits out every
announced removal of it. Either the remover reads the save's marker, or the save reads
the announcement: no save commits a model.json naming a file removed under it. A content-named
leftover's age is its stored modification time (a store that tells none keeps it until
an explicit ``clean``). A marker is live while its save runs: written by this process,
the save is still running here; by another process on this host, that process exists
and refreshed the marker within ``INFLIGHT_LEASE_SECONDS``; from another host, it was
refreshed within the lease. A save that died stops refreshing its marker, and its files
(and the marker) become leftovers like any other.

A load reads each manifest group into one buffer, every file straight into its place
and checked as it lands (size, then checksum, in worker threads), and hands out the
weights as views into those buffers: no joins, no second copy. A reader that finds a
weight file gone (a concurrent save just replaced the model) reads model.json again
and retries.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from .buffers import empty_buffer
from .errors import (
    ConflictError,
    InvalidModelError,
    ModelNotFoundError,
    OptionError,
    StorageError,
    WeightDataError,
)
from .format.artifacts import ModelArtifacts
from .format.checksum_pass import ChecksumPass, FileSums
from .format.integrity import (
    ChecksumKind,
    check_file,
    check_groups,
    checksum_text,
    digest_error,
    file_mismatch,
    recorded_checksums,
    size_error,
)
from .format.jsonfmt import (
    KeyOrder,
    js_stringify,
    json_byte_length,
    model_json_object,
    parse_json_bytes,
    parse_model_json,
)
from .format.layout import (
    ShardFile,
    StoragePlan,
    manifest_paths,
    name_by_content,
    plan_storage,
    safe_relative_path,
)
from .format.record import RECORD_KEY, FileRecord, SaveRecord, WeightRecord
from .format.schemas import ModelArtifactsInfo, ModelJSON, SaveResult, json_object
from .format.shards import (
    DEFAULT_SHARD_SIZE,
    CompositeBuffer,
    content_digest,
    shard_digest,
    shard_name,
    shard_save_tag,
)
from .options import (
    HANDLER_OPTIONS,
    FileLayout,
    LoadOptions,
    SaveOptions,
    changed_options,
    handler_options,
)
from .stores.base import ByteStore, FileInfo, WriteJob, content_version, map_until_error

__all__ = [
    "INFLIGHT_LEASE_SECONDS",
    "INFLIGHT_REFRESH_SECONDS",
    "MAX_MODEL_JSON_BYTES",
    "STALE_AFTER_SECONDS",
    "FileLayout",
    "ModelHandler",
    "new_save_tag",
    "tag_age_seconds",
]

STALE_AFTER_SECONDS = 3600.0
"""Leftovers of a save that died are removed by a later save once this old."""
MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024
"""A model.json larger than this is refused unread (real ones are at most a few MB)."""
INFLIGHT_LEASE_SECONDS = 120.0
"""A save's in-flight marker protects its files from cleanup this long after its last
refresh (see the module doc)."""
INFLIGHT_REFRESH_SECONDS = 30.0
"""A running save rewrites its in-flight marker this often."""
_HOST = socket.gethostname()
_RUNNING: set[str] = set()
"""Tags of the saves running in this process (their markers are live)."""
_T = TypeVar("_T")
_LOAD_RETRIES = 20
"""Reads of a model that a concurrent save keeps replacing, before giving up."""


def _pause(attempt: int) -> None:
    """Before reading a replaced model again: at once for the first tries (a fast store
    is read before the next save lands), then a short, growing, jittered wait (a writer
    in a tight loop would otherwise keep replacing the files a slow reader needs)."""
    if attempt >= 3:
        wait = min(0.1, 0.002 * 2 ** (attempt - 3))
        time.sleep(wait * (0.5 + secrets.randbelow(1000) / 1000))


_TEMP_JSON = re.compile(r"^(?:.+\.json|.+\.bin|inflight)\.([0-9a-z]{12})\.(?:tmp|inflight)$")
"""Temporary files of a save (and its marker), by its tag: model.json's, a weight file's
(``WriteJob.temp_name``), the marker's."""
_MARKER = re.compile(r"^(.+\.json)\.([0-9a-z]{12})\.inflight$")
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(number: int, width: int) -> str:
    out = ""
    for _ in range(width):
        number, digit = divmod(number, 36)
        out = _B36[digit] + out
    return out


def new_save_tag() -> str:
    """12 characters: 8 of milliseconds since the epoch (base 36), 4 random."""
    return _b36(int(time.time() * 1000), 8) + _b36(secrets.randbelow(36**4), 4)


def tag_age_seconds(tag: str, now: float | None = None) -> float:
    millis = int(tag[:8], 36)
    return (now if now is not None else time.time()) - millis / 1000.0


class _Steps(Protocol):
    """Told as each file of a transfer completes."""

    def step(self) -> None: ...


class _Progress:
    """Calls ``callback(fraction)`` as each of ``total`` steps completes (a file; for
    the HTTP handler a file's response or its body), as TF.js's ``onProgress`` does."""

    def __init__(self, callback: Callable[[float], Any] | None, total: int) -> None:
        self._callback = callback
        self._total = max(total, 1)
        self._done = 0
        self._lock = threading.Lock()

    def step(self) -> None:
        if self._callback is None:
            return
        with self._lock:  # report in order, one at a time
            self._done += 1
            self._callback(min(self._done / self._total, 1.0))


class ModelHandler:
    """Saves, loads and manages one model in a ``ByteStore`` (see the module doc).

    Parameters
    ----------
    store:
        The byte store holding the model's folder.
    json_name:
        The model JSON's file name in that folder (``model.json``).
    save_options, load_options:
        The options, typed (``tfjs_store.SaveOptions`` / ``tfjs_store.LoadOptions``), as
        the router hands them; or give them as the keywords below.
    layout, shard_size_bytes, checksum, checksums:
        What a save writes: ``tfjs_store.SaveOptions``.
    verify:
        On load, check recorded checksums (sizes are always checked):
        ``tfjs_store.LoadOptions``.
    on_progress:
        Called with the fraction of weight files written or read so far (0 < f <= 1).

    An option the class does not honour (not in ``OPTIONS``) given in a typed value is
    an ``OptionError``.
    """

    OPTIONS: ClassVar[frozenset[str]] = HANDLER_OPTIONS
    """The options the handler takes (``SaveOptions``' and ``LoadOptions``' fields);
    every other one goes to the store."""

    reports_progress: ClassVar[bool] = True
    """Its ``on_progress`` attribute (or option) is called as weight files are written
    or read: the capability flag callers read (a plugin factory may declare it too)."""

    @classmethod
    def for_store(
        cls,
        store_class: type[ByteStore],
        url: str,
        *,
        save_options: SaveOptions | None = None,
        load_options: LoadOptions | None = None,
        store_options: Mapping[str, Any] | None = None,
    ) -> ModelHandler:
        """The handler over ``store_class.from_url(folder, **store_options)`` for a URL
        naming a folder or a model JSON file in one."""
        save = save_options if save_options is not None else SaveOptions()
        load = load_options if load_options is not None else LoadOptions()
        base, query = url.split("?", 1) if "?" in url else (url, "")
        base = base.rstrip("/")
        if base.endswith(".json") and "/" in base:
            folder, json_name = base.rsplit("/", 1)
        else:
            folder, json_name = base, "model.json"
        folder += f"?{query}" if query else ""  # a store's own parameters stay in its URL
        return cls(
            store_class.from_url(folder, **(store_options or {})),
            json_name=json_name,
            save_options=save,
            load_options=load,
        )

    def __init__(
        self,
        store: ByteStore,
        *,
        json_name: str = "model.json",
        save_options: SaveOptions | None = None,
        load_options: LoadOptions | None = None,
        layout: FileLayout = "shards",
        shard_size_bytes: int = DEFAULT_SHARD_SIZE,
        checksum: ChecksumKind | Literal["default"] | None = "default",
        checksums: bool | None = None,
        verify: bool = True,
        on_progress: Callable[[float], Any] | None = None,
    ) -> None:
        save, load = handler_options(
            save_options, load_options, layout=layout, shard_size_bytes=shard_size_bytes,
            checksum=checksum, checksums=checksums, verify=verify, on_progress=on_progress,
        )
        ignored = sorted(changed_options(save, load) - self.OPTIONS)
        if ignored:  # typed options this handler would not honour
            raise OptionError(
                f"{type(self).__name__} does not take {', '.join(ignored)}",
                options=tuple(ignored),
            )
        self.store = store
        self.json_name = json_name
        self.layout: FileLayout = save.layout
        self.shard_size_bytes = save.shard_size_bytes
        self.checksum: ChecksumKind | None = save.checksum_kind
        self.verify = load.verify
        self.on_progress = save.on_progress or load.on_progress

    @property
    def checksums(self) -> bool:
        """Whether a save records checksums (the older switch)."""
        return self.checksum is not None

    @property
    def json_url(self) -> str:
        return self.store.file_url(self.json_name)

    def _missing(self, exc: FileNotFoundError, what: str) -> ModelNotFoundError:
        return ModelNotFoundError(
            f"weight file {exc.filename or what} named in {self.json_name} does not exist"
        )

    # -- save ------------------------------------------------------------------------

    def _plan(self, artifacts: ModelArtifacts) -> tuple[StoragePlan, KeyOrder]:
        if self.layout == "shards":
            plan = plan_storage(artifacts, layout="shards", shard_size_bytes=self.shard_size_bytes)
            return plan, "tfjs"
        if self.layout == "tfjs-node":
            return plan_storage(artifacts, layout="single", single_path="weights.bin"), "tfjs-node"
        stem = self.json_name[: -len(".json")]
        plan = plan_storage(artifacts, layout="single", single_path=f"./{stem}.weights.bin")
        return plan, "tfjs"

    def save(
        self,
        artifacts: ModelArtifacts,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> SaveResult:
        """Write the weight files, then model.json, then remove what the save replaced.

        ``if_match=TOKEN``: commit only if the model's current version is ``TOKEN``;
        ``if_none_match="*"``: only if there is no model yet. Otherwise ``ConflictError``
        and nothing visible changes."""
        return self._save(artifacts, self._condition(if_match, if_none_match))

    def _save(self, artifacts: ModelArtifacts, condition: Mapping[str, Any]) -> SaveResult:
        """``save`` once its condition is checked (``_condition``): what a handler that
        writes in another way (TF.js's http POST) replaces."""
        tag = new_save_tag()
        plan, key_order = self._plan(artifacts)
        checked = self._checksum_pass(plan)
        sums: list[_Sums] | None = None
        if self.layout == "shards":
            sums = self._sum_files(plan.files, checked)
            plan = name_by_content(plan, [s.sha256 for s in sums])
        self._check_condition(condition)  # fail fast, before any weight is written
        names = [safe_relative_path(f.path) for f in plan.files]
        written: list[str] = []
        with self._replacing(tag, names if sums is not None else ()) as (marker, previous):
            try:
                if sums is None:
                    written += names
                    entries = self._write_files(plan.files, plan.data, checked)
                else:
                    entries = self._write_missing(plan.files, plan.data, sums, written, tag)
                extra = None
                if self.checksum is not None:
                    # Each weight's checksum came from the same pass as its files'.
                    record = SaveRecord(save_id=tag, files=entries, weights=checked.weights())
                    extra = {RECORD_KEY: record.to_json()}
                body = js_stringify(
                    model_json_object(plan.model_json, key_order, extra)
                ).encode("utf-8", "surrogatepass")
                # a conditional commit may be refused: list only once it is not
                with self._listed_meanwhile(not condition) as listing:
                    if condition:
                        version = self._commit_json(body, tag, condition)
                    else:  # the two-argument call a subclass may override
                        version = self._commit_json(body, tag)
            except BaseException:
                if condition:  # a refused writer leaves nothing behind
                    with contextlib.suppress(Exception):
                        unused = self._unreferenced(written, tag)
                        self._remove_announced(unused, set(), marker)
                raise
            keep = set(names)
            self._remove_replaced(previous - keep, keep, marker, listing)
        return SaveResult(model_artifacts_info=artifacts.info(), url=self.json_url,
                          version=version)

    # -- versions, conditional commits, in-flight markers (issue 16) -----------------

    def version(self) -> str | None:
        """The stored model's version token (model.json's), None when there is none."""
        self.store.refresh()
        return self.store.version(self.json_name)

    def _condition(self, if_match: str | None, if_none_match: str | None) -> dict[str, Any]:
        """The keywords of a conditional commit, checked: {} for an unconditional save."""
        if if_none_match is not None and if_none_match != "*":
            raise ValueError(f'if_none_match takes only "*" (no model yet), got {if_none_match!r}')
        if if_match is not None and if_none_match is not None:
            raise ValueError("give if_match or if_none_match, not both")
        if if_match is not None and (not isinstance(if_match, str) or not if_match):
            raise ValueError(f"if_match takes a version token (a string), got {if_match!r}")
        condition: dict[str, Any] = {}
        if if_match is not None:
            condition["if_match"] = if_match
        if if_none_match is not None:
            condition["if_none_match"] = True
        if condition and self.layout != "shards":
            raise OptionError(
                f"a conditional save needs layout='shards': layout={self.layout!r} rewrites "
                "its weight file in place, so a refused save could not leave the model as "
                "it was",
                options=tuple(k for k in ("if_match", "if_none_match") if k in condition),
                url=self.store.url,
            )
        if condition and not self.store.supports_conditional_commit:
            raise OptionError(
                f"{self.store.url}: this store cannot commit conditionally, so "
                f"{'if_match' if if_match is not None else 'if_none_match'} cannot be "
                "honoured (a plain save would overwrite silently)",
                options=tuple(k for k in ("if_match", "if_none_match") if k in condition),
                url=self.store.url,
            )
        return condition

    def _check_condition(self, condition: Mapping[str, Any]) -> None:
        if not condition:
            return
        current = self.version()
        if condition.get("if_none_match") and current is not None:
            raise ConflictError(
                f"{self.json_url} exists (version {current}); the save asked for no model "
                "(if_none_match)",
                current=current,
            )
        wanted = condition.get("if_match")
        if wanted is not None and current != wanted:
            raise ConflictError(
                f"{self.json_url} is at version {current or '(no model)'}, not {wanted} "
                "(if_match)",
                current=current,
            )

    @contextlib.contextmanager
    def _in_flight(self, tag: str, files: Sequence[str] = ()) -> Any:
        """Write this save's in-flight marker naming ``files`` (the weight files its
        model.json will name), refresh it while the save runs, remove it at the end (see
        the module doc). Yields a ``_Marker``: ``protect(names)`` adds names to the marker
        before the caller writes them, ``removing(names)`` announces names the caller is
        about to remove."""
        name = f"{self.json_name}.{tag}.inflight"
        stop = threading.Event()
        named = list(dict.fromkeys(files))
        removing: list[str] = []
        lock = threading.Lock()

        def mark() -> None:
            with lock:
                stamp = json.dumps(
                    {"t": int(time.time() * 1000), "host": _HOST, "pid": os.getpid(),
                     "files": named, **({"removing": removing} if removing else {})}
                ).encode()
                # committed, not written: a marker is never seen half-written
                self.store.commit(name, stamp, temp_name=f"inflight.{tag}.tmp")

        def add(to: list[str], more: Sequence[str]) -> None:
            with lock:
                new = [n for n in more if n not in to]
                to.extend(new)
            if new:
                mark()

        marker = _Marker(tag, lambda more: add(named, more), lambda more: add(removing, more))

        _RUNNING.add(tag)

        self.store.prepare()
        mark()

        def refresh() -> None:
            while not stop.wait(INFLIGHT_REFRESH_SECONDS):
                with contextlib.suppress(Exception):
                    mark()

        thread = threading.Thread(target=refresh, name=f"tfjs-store-inflight-{tag}",
                                  daemon=True)
        thread.start()
        try:
            yield marker
        finally:
            _RUNNING.discard(tag)
            stop.set()
            thread.join()
            for _attempt in range(2):  # once more after a passing failure
                try:
                    self.store.remove([name])
                    break
                except Exception:
                    continue

    def _live(
        self, listed: Mapping[str, FileInfo], now: float, own: str | None = None
    ) -> tuple[set[str], set[str], set[str]]:
        """Tags of saves whose in-flight marker is live (refreshed within the lease), the
        files those markers name, and the files they announce they are removing;
        ``own``'s marker left out."""
        live: set[str] = set()
        files: set[str] = set()
        removing: set[str] = set()
        for name, info in listed.items():
            m = _MARKER.match(name)
            if m is None or m.group(2) == own:
                continue
            tag = m.group(2)
            stamp: float | None = None
            named: Any = ()
            gone: Any = ()
            try:
                marker = json.loads(bytes(self.store.read(name, limit=MAX_MODEL_JSON_BYTES)))
                stamp = float(marker["t"]) / 1000.0
                host, pid = marker.get("host"), marker.get("pid")
                named = marker.get("files") or ()
                gone = marker.get("removing") or ()
            except FileNotFoundError:
                continue  # the save just ended
            except Exception:
                # torn or unreadable: its listed time, else the save's start
                stamp = info.mtime.timestamp() if info.mtime is not None else None
                host = pid = None
            alive = False
            if host == _HOST and isinstance(pid, int) and pid == os.getpid():
                alive = tag in _RUNNING
            elif host == _HOST and isinstance(pid, int) and not _process_exists(pid):
                alive = False
            else:
                if stamp is None:
                    stamp = now - tag_age_seconds(tag, now)
                alive = now - stamp < INFLIGHT_LEASE_SECONDS
            if alive:
                live.add(tag)
                files.update(n for n in named if isinstance(n, str))
                removing.update(n for n in gone if isinstance(n, str))
        return live, files, removing

    def _checksum_pass(self, plan: StoragePlan) -> ChecksumPass:
        """The one pass over the weight bytes that gives every checksum the save needs:
        each file's SHA-256 (its name, in the ``shards`` layout) and recorded checksum,
        its CRC32C where the store checks or keeps one, and each weight's checksum."""
        kind = self.checksum
        shards = self.layout == "shards"
        keeps = shards and self.store.keeps_checksums  # compared with the stored files
        return ChecksumPass(
            plan.files, plan.model_json.weight_specs, plan.data,
            file_sha256=shards or kind == "sha256",
            file_crc32c=kind == "crc32c" or self.store.checks_on_arrival or keeps,
            weight_kind=kind,
        )

    def _file_record(self, f: ShardFile, sums: FileSums) -> FileRecord:
        kind = self.checksum
        return FileRecord(size=f.size, **({kind: sums.text(kind)} if kind is not None else {}))

    def _write_files(
        self, files: Sequence[ShardFile], data: CompositeBuffer, checked: ChecksumPass
    ) -> dict[str, FileRecord]:
        """Write every weight file concurrently, each checked (``checked``) as its bytes
        are cut, a piece at a time, on their way to the store: each file's size and
        recorded checksum (its CRC32C sent along where the store checks one on
        arrival), and the weights' checksums."""
        progress = _Progress(self.on_progress, len(files))
        arrival = self.store.checks_on_arrival
        jobs = [
            WriteJob(safe_relative_path(f.path), f.size, functools.partial(checked.pieces_ahead, i),
                     functools.partial(checked.crc32c_of, i) if arrival else None)
            for i, f in enumerate(files)
        ]
        _beside_outside(checked, lambda: self.store.write_many(jobs, lambda _i: progress.step()))
        return {f.path: self._file_record(f, checked.file_sums(i)) for i, f in enumerate(files)}

    def _sum_files(self, files: Sequence[ShardFile], checked: ChecksumPass) -> list[_Sums]:
        """Each file's SHA-256 (its name), recorded checksum and CRC32C (where the store
        checks or keeps one), with every weight's checksum, in one pass over the bytes
        (``checked``): files on worker threads (hashlib and the CRC32C code work outside
        the GIL), the weights' SHA-256 that no file's walk takes on one more."""
        workers = min(os.cpu_count() or 1, 8)
        _beside_outside(checked, lambda: map_until_error(checked.walk, range(len(files)), workers))
        out = []
        for i, f in enumerate(files):
            sums = checked.file_sums(i)
            out.append(_Sums(sums.sha256 or "", self._file_record(f, sums), sums.crc32c))
        return out

    def _stored_intact(
        self, wanted: Mapping[str, tuple[int, str | None]], listed: Mapping[str, FileInfo]
    ) -> set[str]:
        """Which of ``wanted`` (name -> size, CRC32C) the folder holds whole: the same
        size in ``listed``, and the same CRC32C where the storage keeps one."""
        found = {n for n, (size, _) in wanted.items() if n in listed and listed[n].size == size}
        if found and self.store.keeps_checksums:
            try:
                stored = self.store.stored_checksums(sorted(found))
            except Exception:
                return set()  # cannot tell: write them again
            for n in list(found):
                crc, kept = wanted[n][1], stored.get(n, {}).get("crc32c")
                if crc is not None and kept is not None and kept != crc:
                    found.discard(n)
        return found

    def _listing(self) -> dict[str, FileInfo]:
        """The folder's files, or nothing when it cannot be listed (then every file is
        written)."""
        if not self.store.supports_listing:
            return {}
        try:
            return self.store.list()
        except Exception:
            return {}

    def _write_missing(
        self, files: Sequence[ShardFile], data: CompositeBuffer, sums: Sequence[_Sums],
        written: list[str], tag: str,
    ) -> dict[str, FileRecord]:
        """Write the content-named files the folder does not hold whole; ``written``
        gets the names of the files this save writes (before it writes them). Called
        with this save's marker naming them all, so no other save removes one of them
        from here on (``_remove_announced``)."""
        progress = _Progress(self.on_progress, len(files))
        wanted = {f.path: (f.size, s.crc32c) for f, s in zip(files, sums, strict=True)}
        present = self._stored_intact(wanted, self._listing_after_removals(set(wanted), tag))

        def write(names: set[str]) -> None:
            jobs = []
            for f, s in zip(files, sums, strict=True):
                if f.path in names:
                    jobs.append(WriteJob(f.path, f.size, _chunks(data, f), _told(s.crc32c),
                                         temp_name=f"{f.path}.{tag}.tmp"))
            written.extend(j.name for j in jobs)
            self.store.write_many(jobs, lambda _i: progress.step())

        for _ in present:
            progress.step()
        write(set(wanted) - present)

        if present:
            # A remover that read the markers before this save's existed may have
            # removed a reused file: look again, just before the commit.
            lost = present - self._stored_intact(
                {n: (wanted[n][0], None) for n in present}, self._listing()
            )
            write(lost)
        return {f.path: s.record for f, s in zip(files, sums, strict=True)}

    def _commit_json(
        self,
        body: bytes,
        tag: str,
        condition: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Commit model.json; returns its new version where the store tells it. A refused
        conditional commit removes its temporary file and raises (the save then removes
        the weight files it wrote that nothing else names)."""
        temp = f"{self.json_name}.{tag}.tmp"
        if not condition:
            return self.store.commit(self.json_name, body, temp_name=temp)
        try:
            return self.store.commit(self.json_name, body, temp_name=temp, **condition)
        except BaseException:
            with contextlib.suppress(Exception):
                self.store.remove([temp])
            raise

    def _unreferenced(self, names: Sequence[str], own: str | None) -> list[str]:
        """Those of ``names`` that no live in-flight marker (but ``own``'s) and no
        committed model.json name: a file another save reuses is never removed."""
        return self._doomed(set(), None, names, own)

    def _remove_replaced(
        self, replaced: set[str], keep: set[str], marker: _Marker,
        listing: Callable[[], dict[str, FileInfo]] | None = None,
    ) -> None:
        """Remove the replaced model's files, and leftovers of saves that died (found in
        ``listing``'s answer when given: ``_listed_meanwhile``)."""
        doomed = self._doomed(keep, STALE_AFTER_SECONDS, sorted(replaced), marker.tag,
                              listing)
        self._remove_announced(doomed, keep, marker)

    @contextlib.contextmanager
    def _replacing(
        self, tag: str, files: Sequence[str]
    ) -> Iterator[tuple[_Marker, set[str]]]:
        """A save's frame: its in-flight marker naming ``files`` (``_in_flight``), and the
        weight files of the model it replaces, read while the marker is written (one
        round trip for the two where the store takes requests at once) and so before
        the save commits."""
        with (
            _meanwhile(self._read_previous_paths, self._requests_at_once) as previous,
            self._in_flight(tag, files) as marker,
        ):
            yield marker, previous()

    def _listed_meanwhile(self, wanted: bool = True) -> contextlib.AbstractContextManager[
            Callable[[], dict[str, FileInfo]] | None]:
        """The folder listed while the block runs (a commit): what ``_remove_replaced``
        looks for leftovers in. Listed before the commit lands is as good as after: the
        files it may remove are old or replaced ones, and each is still checked against
        the markers and model.json read after the commit (``_doomed``). Unless
        ``wanted``: then None, and ``_doomed`` lists when it needs to."""
        if not wanted:
            return contextlib.nullcontext(None)
        return _meanwhile(self.store.list, self._requests_at_once)

    @property
    def _requests_at_once(self) -> bool:
        """The store takes requests from two threads at once (not a one-connection
        client such as ftp://)."""
        return self.store.max_concurrency > 1

    def _remove_announced(
        self, doomed: list[str], keep: set[str], marker: _Marker
    ) -> list[str]:
        """Remove ``doomed``. Content-named files are shared by saves: each one is first
        announced in the remover's marker, then the markers and model.json are read
        again, and only files still named by none of them are removed. A save that
        reuses or writes such a file writes its own marker first and then waits out
        every announced removal of it (``_listing_after_removals``): either the remover
        reads that save's marker, or the save reads the announcement."""
        shared = [n for n in doomed if shard_digest(n) is not None]
        if shared:
            marker.removing(shared)
            still = set(self._doomed(keep, None, shared, marker.tag))
            doomed = [n for n in doomed if shard_digest(n) is None or n in still]
        self.store.remove(doomed)
        return doomed

    def _listing_after_removals(self, names: set[str], own: str) -> dict[str, FileInfo]:
        """The folder's files once no other live marker announces the removal of one of
        ``names`` (call it after this save's own marker names them)."""
        deadline = time.monotonic() + INFLIGHT_LEASE_SECONDS
        for attempt in itertools.count():
            listed = self._listing()
            if not listed or not any(shard_digest(n) is not None for n in names):
                return listed
            try:
                removing = self._live(listed, time.time(), own)[2]
            except Exception:
                return listed
            if not removing & names or time.monotonic() > deadline:
                return listed
            _pause(min(attempt, _LOAD_RETRIES - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _doomed(
        self, keep: set[str], older_than: float | None, candidates: Sequence[str] = (),
        own: str | None = None, listing: Callable[[], dict[str, FileInfo]] | None = None,
    ) -> list[str]:
        """``candidates`` and (unless ``older_than`` is None) the leftovers at least
        ``older_than`` seconds old, less every file a live in-flight marker or the
        committed model.json names (read in that order: a save that ends between the
        two reads has committed, so its files are in the model.json read second).
        model.json is read only when something is left to spare: a save that replaces
        nothing ends without that request. ``listing`` gives the folder's listing when it
        was asked for already."""
        try:
            listed = listing() if listing is not None else self.store.list()
        except Exception:
            # No markers to read: only files no content-named save can be reusing.
            return [n for n in candidates if n not in keep and shard_digest(n) is None]
        now = time.time()
        live, live_files, _ = self._live(listed, now, own)
        keep = keep | live_files
        out = [n for n in candidates if n not in keep]
        if older_than is not None:
            chosen = set(out)
            for name, info in listed.items():
                if name in keep or name in chosen:
                    continue
                temp = _TEMP_JSON.match(name)
                tag = shard_save_tag(name) or (temp.group(1) if temp else None)
                if tag:  # a save in flight: never another writer's to remove
                    old = tag not in live and tag_age_seconds(tag, now) >= older_than
                else:  # a content-named file: its stored time tells its age
                    mtime = info.mtime.timestamp() if info.mtime is not None else None
                    old = shard_digest(name) is not None and (
                        older_than <= 0 or (mtime is not None and now - mtime >= older_than)
                    )
                if old:
                    out.append(name)
        if not out:
            return out
        named = self._read_previous_paths()
        return [n for n in out if n not in named]

    def clean(self, older_than: float = 0.0) -> list[str]:
        """Remove weight files and temporary files no committed model.json refers to.

        Only files named by tfjs-store's own save protocol are considered, only those
        older than ``older_than`` seconds, and never those of a save still in flight
        (its in-flight marker is live: see the module doc), however old it is.
        """
        doomed = self._remove_shared(self._leftover_names(older_than))
        return [self.store.file_url(n) for n in doomed]

    def _remove_shared(self, doomed: list[str]) -> list[str]:
        """Remove ``doomed`` under an in-flight marker that announces the content-named
        ones (``_remove_announced``): a save that reuses one of them keeps it. Returns
        what was removed."""
        if not any(shard_digest(n) is not None for n in doomed):
            self.store.remove(doomed)
            return doomed
        self.store.prepare()
        with self._in_flight(new_save_tag()) as marker:
            return self._remove_announced(doomed, set(), marker)

    def leftovers(self, older_than: float = 0.0) -> list[str]:
        """What ``clean(older_than)`` would remove (file URLs), without removing it."""
        return [self.store.file_url(n) for n in self._leftover_names(older_than)]

    def _leftover_names(self, older_than: float) -> list[str]:
        return self._doomed(set(), older_than)

    # -- model.json ------------------------------------------------------------------

    def _cat_json(self) -> bytes:
        """model.json's bytes, reading at most ``MAX_MODEL_JSON_BYTES`` + 1 of them."""
        told = self.store.sizes([self.json_name])  # where a size is cheap: refused unread
        too_big = told is not None and (told[0] or 0) > MAX_MODEL_JSON_BYTES
        raw = b"" if too_big else self.store.read(self.json_name, limit=MAX_MODEL_JSON_BYTES)
        if too_big or len(raw) > MAX_MODEL_JSON_BYTES:
            raise InvalidModelError(
                f"{self.json_url} is larger than {MAX_MODEL_JSON_BYTES} bytes; "
                "a model JSON file that big is refused"
            )
        return bytes(raw)

    def _read_json(self) -> bytes:
        try:
            return self._cat_json()
        except FileNotFoundError:
            raise ModelNotFoundError(
                f"no model at {self.json_url}: {self.json_name} does not exist"
            ) from None

    def _read_previous_paths(self) -> set[str]:
        try:
            old = parse_model_json(self._cat_json(), self.json_url)
            return {safe_relative_path(p) for p in old.weight_paths}
        except (FileNotFoundError, InvalidModelError):
            # none, or an unreadable old model.json: nothing of it to clean up safely
            return set()

    def read_model_json(self) -> ModelJSON:
        """The validated model.json, without reading any weight file."""
        return self._parse_json(self._read_json())

    def _parse_json(self, raw: bytes) -> ModelJSON:
        """model.json's bytes, validated (a subclass may word its errors otherwise)."""
        return parse_model_json(raw, self.json_url)

    def weight_names(self, model_json: ModelJSON) -> list[str]:
        """The store's name of each weight file, in manifest order: the manifest paths
        confined to the folder, none named twice (``manifest_paths``)."""
        return manifest_paths(model_json)

    def _load_progress(self, files: int) -> _Steps:
        """What a load reading ``files`` weight files reports to (``step`` per file)."""
        return _Progress(self.on_progress, files)

    # -- load ------------------------------------------------------------------------

    def load(self) -> ModelArtifacts:
        """Read model.json, then every weight file concurrently, checked as it lands."""
        self.store.refresh()
        # A token told by the storage is read before the bytes: if they differ, a save
        # against it is refused (a needless retry), never a lost update.
        told = None if self.store.versions_by_content else self.store.version(self.json_name)

        def read(raw: bytes) -> ModelArtifacts:
            model_json = self._parse_json(raw)
            artifacts = self._artifacts(model_json, self._read_weights(model_json))
            artifacts.stored_version = content_version(raw) if told is None else told
            return artifacts

        return self._while_replaced(read, "read")

    def _while_replaced(self, step: Callable[[bytes], _T], what: str) -> _T:
        """``step(model.json's bytes)``; when a weight file it needs is gone, or the bytes
        are not JSON at all, and model.json changed meanwhile (a concurrent save replaced
        the model), again on the new one. A storage whose reads are not atomic (WebDAV's
        MOVE replaces a file that a GET streams) can hand out a model.json cut short
        while it is replaced; read again, it is whole."""
        raw = self._read_json()
        for attempt in range(_LOAD_RETRIES):
            try:
                return step(raw)
            except (ModelNotFoundError, InvalidModelError) as exc:
                if not isinstance(exc, ModelNotFoundError) and _is_json(raw):
                    raise  # whole, and invalid as it stands
                latest = self._read_json()
                if latest == raw:
                    raise
                raw = latest
                _pause(attempt)
        raise StorageError(
            f"{self.json_url} kept changing while it was {what} ({_LOAD_RETRIES} tries)"
        )

    def _artifacts(self, model_json: ModelJSON, groups: list[list[Any]]) -> ModelArtifacts:
        manifest = model_json.weights_manifest or []
        names = [[self.store.file_url(p) for p in g.paths] for g in manifest]
        check_groups(manifest, groups, where=self.json_url, names=names)
        flat = [b for group in groups for b in group]
        return ModelArtifacts.from_model_json(model_json, flat, drop_keys=(RECORD_KEY,))

    def _read_weights(self, model_json: ModelJSON) -> list[list[Any]]:
        """The weight bytes of each manifest group (one buffer per group when the file
        sizes are known before reading, else one per file), every file checked."""
        rel_paths = self.weight_names(model_json)
        if not rel_paths:
            return [[] for _ in model_json.weights_manifest or []]
        record = SaveRecord.of(model_json)
        entries = [record.entry(p) if record else None for p in model_json.weight_paths]
        sizes = self._sizes_before_reading(model_json, rel_paths, entries)
        progress = self._load_progress(len(rel_paths))
        bad: list[tuple[str, str]] = []
        try:
            if sizes is not None:
                try:
                    return self._read_into_groups(model_json, rel_paths, entries, sizes,
                                                  progress, bad)
                except MemoryError:
                    pass  # sizes claimed by a hostile record: read what is really there
            return self._read_files(model_json, rel_paths, entries, progress, bad)
        except ModelNotFoundError:
            raise
        except FileNotFoundError as exc:
            raise self._missing(exc, "?") from None

    def _sizes_before_reading(
        self, model_json: ModelJSON, rel_paths: Sequence[str], entries: Sequence[FileRecord | None]
    ) -> list[int] | None:
        """Each file's size, known without reading it (recorded, or a local stat), when
        every group's sizes add up to what its specs describe: the group buffers are
        then bounded by the model itself. Otherwise None (files are read one by one,
        and a short or long one is reported by the group check)."""
        recorded = [e.size if e is not None else None for e in entries]
        if any(s is None for s in recorded):
            told = self.store.sizes(rel_paths)
            if told is None:
                return None
            recorded = told
        sizes = [s for s in recorded if s is not None]
        if len(sizes) != len(recorded):
            return None
        pos = 0
        for group in model_json.weights_manifest or []:
            lengths = [w.byte_length for w in group.weights]
            if any(n is None for n in lengths):
                return None  # string weights: only reading tells their length
            if sum(sizes[pos : pos + len(group.paths)]) != sum(n for n in lengths if n):
                return None
            pos += len(group.paths)
        return sizes

    def _check_landed(
        self, name: str, data: Any, size: int, expected: int, entry: FileRecord | None,
        bad: list[tuple[str, str]],
    ) -> None:
        """Size, then checksums, of one file as it lands (in a worker thread)."""
        if size != expected:
            url = self.store.file_url(name)
            if entry is not None and entry.size is not None:
                raise size_error(url, size, self.json_name, entry.size)
            raise WeightDataError(
                f"weight file {url} is {size} bytes but {expected} bytes were expected "
                "(it changed while the model was read)"
            )
        if entry is None or not self.verify or not entry.has_checksum:
            return
        found = file_mismatch(data, FileRecord(crc32c=entry.crc32c, sha256=entry.sha256))
        if found is not None:
            bad.append((self.store.file_url(name), found.algorithm or ""))

    def _read_into_groups(
        self,
        model_json: ModelJSON,
        rel_paths: Sequence[str],
        entries: Sequence[FileRecord | None],
        sizes: Sequence[int],
        progress: _Steps,
        bad: list[tuple[str, str]],
    ) -> list[list[Any]]:
        views: list[memoryview] = []
        out: list[list[Any]] = []
        pos = 0
        for group in model_json.weights_manifest or []:
            group_sizes = sizes[pos : pos + len(group.paths)]
            pos += len(group.paths)
            buf = empty_buffer(sum(group_sizes))
            whole = buf.data.cast("B")
            offset = 0
            for size in group_sizes:
                views.append(whole[offset : offset + size])
                offset += size
            out.append([buf])

        def landed(i: int, size: int) -> None:
            self._check_landed(rel_paths[i], views[i], size, len(views[i]), entries[i], bad)
            progress.step()

        self.store.read_many_into(list(zip(rel_paths, views, strict=True)), landed)
        if bad:
            raise digest_error(sorted(n for n, _ in bad), self.json_name, [a for _, a in bad])
        return out

    def _read_files(
        self,
        model_json: ModelJSON,
        rel_paths: Sequence[str],
        entries: Sequence[FileRecord | None],
        progress: _Steps,
        bad: list[tuple[str, str]],
    ) -> list[list[Any]]:
        def landed(i: int, data: Any) -> None:
            size = memoryview(data).nbytes
            entry = entries[i]
            expected = entry.size if entry is not None and entry.size is not None else size
            self._check_landed(rel_paths[i], data, size, expected, entry, bad)
            progress.step()

        buffers = self.store.read_many(rel_paths, landed)
        if bad:
            raise digest_error(sorted(n for n, _ in bad), self.json_name, [a for _, a in bad])
        out, pos = [], 0
        for group in model_json.weights_manifest or []:
            out.append(buffers[pos : pos + len(group.paths)])
            pos += len(group.paths)
        return out

    # -- copy ------------------------------------------------------------------------

    def copy_from(self, source: ModelHandler) -> SaveResult | None:
        """Save the model of ``source`` here file by file, never holding more than a few
        weight files in memory: each source file is read, checked against the source's
        record, written under this save's name and dropped. None when that cannot keep
        the files as they are (this handler writes TF.js's byte-exact layouts); the
        caller then loads and saves."""
        if self.layout != "shards":
            return None
        source.store.refresh()
        return source._while_replaced(
            lambda raw: self._copy_files(source, source._parse_json(raw)),
            "copied",
        )

    def _copy_files(self, source: ModelHandler, model_json: ModelJSON) -> SaveResult:
        rel_paths = source.weight_names(model_json)
        record = SaveRecord.of(model_json)
        tag = new_save_tag()
        kind = self.checksum
        groups: list[Any] = []
        slots: list[tuple[int, int, int]] = []  # group, index, count of each file
        sources: list[tuple[str, FileRecord | None]] = []
        for g, group in enumerate(model_json.weights_manifest or [], start=1):
            count = len(group.paths)
            for i, path in enumerate(group.paths, start=1):
                entry = record.entry(path) if record is not None else None
                sources.append((rel_paths[len(sources)], entry))
                slots.append((g, i, count))
        # A source file already named after its content keeps its name, so the files
        # already here are known before any is read: a copy run again (or resumed
        # after a kill) reads and sends only what is missing.
        names: list[str | None] = []
        for (g, i, count), (src_rel, _entry) in zip(slots, sources, strict=True):
            digest = shard_digest(src_rel)
            names.append(src_rel if digest and src_rel == shard_name(g, i, count, digest)
                          else None)
        got: dict[int, FileRecord] = {}
        progress = _Progress(self.on_progress, len(sources))
        arrival = self.store.checks_on_arrival
        written: list[str] = []
        lock = threading.Lock()

        def recorded(entry: FileRecord | None) -> FileRecord | None:
            """The destination's entry for a file, from the source's record alone."""
            if entry is None or entry.size is None or not source.verify:
                return None
            sums = recorded_checksums(entry)
            if kind is not None and kind not in sums:
                return None
            return FileRecord(size=entry.size, **({kind: sums[kind]} if kind else {}))

        skippable = {i: recorded(sources[i][1]) for i, n in enumerate(names) if n is not None}
        wanted = {names[i] or "": (e.size or 0, _crc_of(sources[i][1]))
                  for i, e in skippable.items() if e is not None}
        listed = self._listing()
        present = self._stored_intact(wanted, listed)
        skipped = {i for i, e in skippable.items() if e is not None and names[i] in present}

        def copy_one(i: int) -> None:
            if i in skipped:
                got[i] = skippable[i] or FileRecord()
                progress.step()
                return
            # Read here, write with a plain call: a source read made from inside the
            # destination's event loop could wait on that very loop.
            src_rel, entry = sources[i]
            try:
                data = source.store.read(src_rel)
            except FileNotFoundError as exc:
                raise source._missing(exc, src_rel) from None
            check_file(data, entry, name=source.store.file_url(src_rel),
                       where=source.json_name, check_digest=source.verify)
            # a checksum the source recorded was just checked: no need to compute it
            known = recorded_checksums(entry) if source.verify else {}

            def text(kind: ChecksumKind) -> str:
                return known.get(kind) or checksum_text(kind, data)

            digest = content_digest(text("sha256"))
            name = names[i]
            if name is not None and shard_digest(name) != digest:
                raise WeightDataError(
                    f"weight file {source.store.file_url(src_rel)} is named after content "
                    f"{shard_digest(name)} but its bytes' SHA-256 starts {digest}"
                )
            seen = listed
            if name is None:
                name = shard_name(*slots[i], digest)
                marker.protect([name])  # named in the marker before it is written
                names[i] = name
                seen = self._listing_after_removals({name}, tag)
            view = memoryview(data).cast("B")
            sums = {kind: text(kind)} if kind is not None else {}
            got[i] = FileRecord(size=view.nbytes, **sums)
            crc = text("crc32c") if arrival or self.store.keeps_checksums else None
            if i not in force and self._stored_intact({name: (view.nbytes, crc)}, seen):
                progress.step()
                return
            with lock:
                written.append(name)
            sent = (lambda: crc) if arrival else None
            self.store.write(WriteJob(name, view.nbytes, lambda: iter((view,)), sent,
                                      temp_name=f"{name}.{tag}.tmp"))
            progress.step()

        force: set[int] = set()
        with self._replacing(tag, [n for n in names if n is not None]) as (marker, previous):
            # what is there, once no other save is removing one of these files
            listed = self._listing_after_removals({n for n in names if n is not None}, tag)
            try:
                # A few files in flight, each dropped once written: memory holds a few.
                # Both ends bound it: a source whose client is not thread-safe reads one
                # by one.
                workers = min(self.store.max_concurrency, source.store.max_concurrency, 6)
                map_until_error(copy_one, range(len(sources)), workers)
                if skipped:  # a remover may have removed a reused file meanwhile
                    again = self._stored_intact(
                        {names[i] or "": (got[i].size or 0, None) for i in skipped},
                        listed,
                    )
                    force = {i for i in skipped if names[i] not in again}
                    skipped -= force
                    map_until_error(copy_one, sorted(force), workers)
                new_names = [n or "" for n in names]
                by_name = {new_names[i]: got[i] for i in range(len(new_names))}
                _check_group_sizes(_groups_of(model_json, new_names),
                                   [got[i].size or 0 for i in range(len(new_names))],
                                   source.json_url)
            except BaseException:
                with contextlib.suppress(Exception):
                    self.store.remove(self._unreferenced(written, tag))
                raise
            groups = _groups_of(model_json, new_names)
            with self._listed_meanwhile() as listing:
                version = self._commit_json(self._copied_body(model_json, groups, by_name,
                                                              new_names, tag), tag)
            keep = set(new_names)
            self._remove_replaced(previous - keep, keep, marker, listing)
        sizes = {n: by_name[n].size or 0 for n in new_names}
        copied = model_json.model_copy(update={"weights_manifest": groups})
        return SaveResult(
            model_artifacts_info=info_from_model_json(copied, sizes, None), url=self.json_url,
            version=version,
        )

    def _copied_body(
        self, model_json: ModelJSON, groups: list[Any], got: Mapping[str, FileRecord],
        new_names: Sequence[str], tag: str,
    ) -> bytes:
        extra = model_json.model_extra or {}
        copied = model_json.model_copy(update={"weights_manifest": groups})
        copied.__pydantic_extra__ = {k: v for k, v in extra.items() if k != RECORD_KEY}
        record_json = None
        if self.checksum is not None:
            ordered = {n: got[n] for n in new_names}
            weights = _carried_weights(SaveRecord.of(model_json), self.checksum)
            record_json = {
                RECORD_KEY: SaveRecord(save_id=tag, files=ordered, weights=weights).to_json()
            }
        return js_stringify(model_json_object(copied, "tfjs", record_json)).encode(
            "utf-8", "surrogatepass"
        )

    # -- management ------------------------------------------------------------------

    def remove_model(self) -> ModelArtifactsInfo:
        """Remove model.json first (the model disappears at once), then its files: those a
        save of the same model in flight is reusing stay (announced removal, as ``clean``)."""
        model_json = parse_model_json(self._read_json(), self.json_url)
        rel = []
        for p in model_json.weight_paths:
            try:
                rel.append(safe_relative_path(p))
            except InvalidModelError:
                continue  # never follow an escaping path, not even to delete it
        sizes: dict[str, int] | None = None
        if SaveRecord.of(model_json) is None:  # no recorded sizes: the specs miss strings
            sizes = {}
            for r in rel:
                size = self.store.size(r)
                if size is not None:
                    sizes[r] = size
        info = info_from_model_json(model_json, sizes, None)
        self.store.remove([self.json_name])
        # a save of the same model in flight may be reusing its content-named files
        leftovers = [n for n in self._doomed(set(), 0.0) if n not in set(rel)]
        self._remove_shared(list(dict.fromkeys(rel)) + leftovers)
        self.store.remove_folder()
        return info

    def list_models(self) -> dict[str, ModelArtifactsInfo]:
        """Every model under this URL: folder URL -> info. Folders without model.json
        (a save that never committed) are not models and are not listed."""
        found = self.store.walk()
        json_paths = sorted(p for p in found if p.rsplit("/", 1)[-1] == "model.json")

        def read(path: str) -> Any:
            try:
                return self.store.read(path, limit=MAX_MODEL_JSON_BYTES)
            except Exception as exc:
                return exc

        contents = map_until_error(read, json_paths, self.store.max_concurrency)
        out: dict[str, ModelArtifactsInfo] = {}
        for path, raw in zip(json_paths, contents, strict=True):
            if not isinstance(raw, (bytes, bytearray, memoryview)):
                continue
            try:
                model_json = parse_model_json(raw, path)
            except InvalidModelError:
                continue
            folder = path.rsplit("/", 1)[0] if "/" in path else ""
            prefix = f"{folder}/" if folder else ""
            sizes = {k[len(prefix):]: v.size for k, v in found.items() if k.startswith(prefix)}
            url = self.store.file_url(folder) if folder else self.store.url
            out[url] = info_from_model_json(model_json, sizes, found[path])
        return out


def _is_json(raw: bytes) -> bool:
    """Whether ``raw`` parses as JSON at all (a model.json cut short never does)."""
    try:
        parse_json_bytes(raw)
    except InvalidModelError:
        return False
    return True


def _process_exists(pid: int) -> bool:
    """The process runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # it exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc to ask: it exists
    return state not in (b"Z", b"X")


def _groups_of(model_json: ModelJSON, names: Sequence[str]) -> list[Any]:
    """The manifest groups of ``model_json`` with their files renamed ``names`` (in
    manifest order)."""
    out, pos = [], 0
    for group in model_json.weights_manifest or []:
        out.append(group.model_copy(update={"paths": list(names[pos : pos + len(group.paths)])}))
        pos += len(group.paths)
    return out


def _check_group_sizes(groups: Sequence[Any], sizes: Sequence[int], where: str) -> None:
    """Copied files hold what their groups' specs describe (groups of fixed-size weights;
    a string weight's length is only known by walking its bytes)."""
    pos = 0
    for g, group in enumerate(groups, start=1):
        held = sum(sizes[pos : pos + len(group.paths)])
        pos += len(group.paths)
        lengths = [w.byte_length for w in group.weights]
        if all(n is not None for n in lengths) and held != sum(n or 0 for n in lengths):
            raise WeightDataError(
                f"{where}: weights group {g}: its files hold {held} bytes but its weight "
                f"specs describe {sum(n or 0 for n in lengths)} bytes"
            )


def _beside_outside(checked: ChecksumPass, work: Callable[[], Any]) -> None:
    """``work`` (walking the files), with ``checked.sum_outside`` on one more thread
    meanwhile when it has weights to check."""
    if not checked.has_outside:
        work()
        return
    with _meanwhile(checked.sum_outside, beside=True) as outside:
        work()
        outside()


@contextlib.contextmanager
def _meanwhile(work: Callable[[], _T], beside: bool) -> Iterator[Callable[[], _T]]:
    """``work``, started now: on one more thread while the block runs when ``beside``,
    else here and at once. Yields the call that gives its result (or raises its error)."""
    if beside:
        with ThreadPoolExecutor(1) as pool:
            yield pool.submit(work).result
        return
    done: Future[_T] = Future()
    try:
        done.set_result(work())
    except Exception as exc:
        done.set_exception(exc)
    yield done.result


def _told(value: str | None) -> Callable[[], str | None] | None:
    """A ``WriteJob.crc32c`` that tells a value known in advance."""
    return None if value is None else (lambda: value)


def _crc_of(entry: FileRecord | None) -> str | None:
    return entry.crc32c if entry is not None else None


@dataclass(frozen=True)
class _Marker:
    """A running save's in-flight marker (``ModelHandler._in_flight``)."""

    tag: str
    protect: Callable[[Sequence[str]], None]
    """Name more files the save will write (before it writes them)."""
    removing: Callable[[Sequence[str]], None]
    """Announce files the save is about to remove."""


@dataclass(frozen=True)
class _Sums:
    """What one pass over a weight file's bytes tells: its SHA-256 (hex, the source of
    its name), its save-record entry, and its CRC32C where wanted."""

    sha256: str
    record: FileRecord
    crc32c: str | None


def _chunks(data: CompositeBuffer, f: ShardFile) -> Callable[[], Any]:
    """File ``f``'s bytes, as views (its checksums are known already)."""

    def chunks() -> Any:
        yield from data.iter_ranges(f.start, f.end)

    return chunks


def _carried_weights(record: SaveRecord | None, kind: ChecksumKind) -> dict[str, WeightRecord]:
    """The source's per-weight checksums of ``kind``: a copy keeps every weight's bytes."""
    out: dict[str, WeightRecord] = {}
    for name, entry in (record.weights.items() if record is not None else ()):
        value = recorded_checksums(entry).get(kind)
        if value is not None:
            out[name] = WeightRecord(**{kind: value})
    return out


def info_from_model_json(
    model_json: ModelJSON, sizes: Mapping[str, int] | None, listed: FileInfo | None
) -> ModelArtifactsInfo:
    """``ModelArtifactsInfo`` of a stored model: weight bytes from the record, else from
    the stored sizes (``sizes``: relative path -> size), else what the specs say."""
    record = SaveRecord.of(model_json)
    total = 0
    for p in model_json.weight_paths:
        entry = record.entry(p) if record is not None else None
        if entry is not None and entry.size is not None:
            total += entry.size
        elif sizes is not None:
            with contextlib.suppress(InvalidModelError):
                total += sizes.get(safe_relative_path(p), 0)
    if record is None and sizes is None:  # no sizes at hand: what the specs say
        total = sum(s.byte_length or 0 for s in model_json.weight_specs)
    return ModelArtifactsInfo(
        date_saved=(listed.mtime if listed is not None else None) or datetime.now(timezone.utc),
        model_topology_type="JSON",
        model_topology_bytes=json_byte_length(model_json.model_topology),
        weight_specs_bytes=json_byte_length([json_object(s) for s in model_json.weight_specs])
        if model_json.weights_manifest is not None
        else 0,
        weight_data_bytes=total,
    )
