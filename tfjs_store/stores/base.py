"""The byte store interface: what differs between storage backends, and nothing else.

A ``ByteStore`` holds the files of one model folder. It knows nothing of TF.js:
names are plain relative paths (``model.json``, ``group1-shard1of2.x.bin``) that the
model handler above it has already confined to the folder. The model handler
(``tfjs_store.handler.ModelHandler``) does the format work once for every store: the
commit protocol, the save record, integrity checks, listing info, leftovers, progress.

A backend implements the abstract methods; the batch methods (``read_many_into``,
``read_many``, ``write_many``) have thread-pool defaults that a backend with a faster
way (an event loop, ``readinto``) overrides. What a store can do is declared in its
``supports_*`` flags, never learned from an error.

Errors: a missing file raises ``FileNotFoundError`` (any subclass); every other failure
of the storage raises ``tfjs_store.StorageError`` naming the file.
"""

from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from ..cpu import usable_cores
from ..errors import ConflictError

__all__ = [
    "ByteStore",
    "FileInfo",
    "WriteJob",
    "check_precondition",
    "content_version",
    "map_until_error",
]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class FileInfo:
    """A stored file's size and, where the store tells, when it was last written."""

    size: int
    mtime: datetime | None = None


@dataclass(frozen=True)
class WriteJob:
    """One file to write: its name, its size, and its bytes as views (read once)."""

    name: str
    size: int
    chunks: Callable[[], Iterable[memoryview]]
    crc32c: Callable[[], str | None] | None = None
    """The file's CRC32C (base64, as GCS and S3 spell it), to ask once ``chunks`` has
    been read whole (it is computed as the bytes are cut). A store that
    ``checks_on_arrival`` sends it so the storage refuses a body damaged on the way."""
    temp_name: str | None = None
    """Where a store's writes can be seen part-way (a local file, WebDAV, SFTP, FTP),
    write the bytes under this name first and rename it over ``name``: the file appears
    whole. A content-named file needs that: two saves may write it at once while a
    reader reads it. Stores whose writes are atomic (object stores' PUT) ignore it."""


class ByteStore(ABC):
    """The files of one folder on some storage (see the module doc)."""

    supports_writes: ClassVar[bool] = True
    """``write``/``commit`` work (False for read-only stores such as ``zip://``)."""
    supports_deletes: ClassVar[bool] = True
    """``remove`` works."""
    supports_listing: ClassVar[bool] = True
    """``list`` and ``walk`` work."""
    supports_ranges: ClassVar[bool] = False
    """``read_range`` reads a byte range without reading the rest of the file."""
    atomic_commit: ClassVar[bool] = True
    """``commit`` replaces a file in one step: a reader sees the old or the new bytes."""
    checks_on_arrival: bool = False
    """``write`` sends ``WriteJob.crc32c`` and the storage (or the store, against what
    the storage computed) refuses a file whose bytes arrived different, with a
    ``StorageError`` naming it."""
    keeps_checksums: bool = False
    """``stored_checksums`` tells checksums the storage computed of the stored bytes
    itself (no weight byte is read); a rewritten file never keeps its old value."""

    @property
    def supports_conditional_commit(self) -> bool:
        """``commit`` takes ``if_match`` / ``if_none_match`` and checks them in the same
        step as the write (compare-and-swap), raising ``ConflictError``; a store that
        cannot do that says False and a conditional save there is refused before it
        starts."""
        return False

    @property
    def versions_by_content(self) -> bool:
        """``version`` is ``content_version`` of the file's bytes (so the bytes just read
        tell their version); False where the storage gives its own token (ETag,
        generation)."""
        return True

    max_concurrency: int = 16
    """Files in flight at once in the batch methods."""

    reads_are_copies: ClassVar[bool] = False
    """Whether reading a file copies bytes already on this machine (the page cache, this
    process's memory): CPU work, done on one thread a core (``copying_workers``)."""

    @property
    def read_workers(self) -> int:
        """Threads that read files at once in the batch methods: ``max_concurrency``
        where reads wait on a network (their waits overlap), one a core where they are
        copies (``reads_are_copies``)."""
        if self.reads_are_copies:
            return copying_workers(self.max_concurrency)
        return self.max_concurrency

    @classmethod
    def from_url(cls, url: str, /, *args: Any, **options: Any) -> ByteStore:
        """The store of the folder at ``url`` (what the registry calls for a store
        registered by entry point); ``options`` are the user's (``storage_options``...)."""
        raise NotImplementedError(f"{cls.__name__} does not open URLs")

    # -- where ----------------------------------------------------------------------

    @property
    @abstractmethod
    def url(self) -> str:
        """The folder's URL, as a user would write it."""

    @abstractmethod
    def file_url(self, name: str) -> str:
        """The URL of a file (or sub-folder) of the folder."""

    # -- reading --------------------------------------------------------------------

    @abstractmethod
    def read(self, name: str, *, limit: int | None = None) -> Any:
        """A file's bytes (bytes-like). With ``limit``, at most ``limit`` bytes are read
        (a caller that asks for ``limit + 1`` learns the file is larger)."""

    def read_range(self, name: str, start: int, end: int) -> Any:
        """Bytes ``[start, end)`` of a file; only where ``supports_ranges``."""
        raise NotImplementedError(f"{type(self).__name__} does not read byte ranges")

    def read_ranges(self, jobs: Sequence[tuple[str, int, int]]) -> list[Any]:
        """``read_range`` for each ``(name, start, end)``, concurrently, results in order;
        only where ``supports_ranges``. A range past a file's end comes back short."""
        return map_until_error(lambda job: self.read_range(*job), jobs, self.read_workers)

    def mmap(self, name: str) -> Any:
        """A read-only memory map of a file (bytes-like; pages are read as they are
        touched), or None where the store has no such thing (the default)."""
        return None

    def read_into(self, name: str, out: memoryview) -> int:
        """Fill ``out`` with the file's bytes when the file has exactly ``len(out)`` bytes.
        Returns the file's size; a different size means ``out`` was not filled."""
        data = self.read(name)
        size = memoryview(data).nbytes
        if size == len(out):
            out[:] = memoryview(data).cast("B")
        return size

    def read_many_into(
        self, jobs: Sequence[tuple[str, memoryview]], on_file: Callable[[int, int], None]
    ) -> None:
        """``read_into`` for each job, concurrently; ``on_file(index, size)`` runs in a
        worker thread as each file lands. The first error stops what is still to come."""

        def one(i: int) -> None:
            name, out = jobs[i]
            on_file(i, self.read_into(name, out))

        map_until_error(one, range(len(jobs)), self.read_workers)

    def read_many(self, names: Sequence[str], on_file: Callable[[int, Any], None]) -> list[Any]:
        """Whole files, concurrently, in order; ``on_file(index, data)`` runs in a worker
        thread as each lands."""

        def one(i: int) -> Any:
            data = self.read(names[i])
            on_file(i, data)
            return data

        return map_until_error(one, range(len(names)), self.read_workers)

    def stored_checksums(self, names: Sequence[str]) -> dict[str, dict[str, str]]:
        """What the storage keeps of these files, without reading them: name ->
        {kind: value} with kinds and spellings as the save record has them (``crc32c``:
        base64 of the big-endian 4 bytes). A file the storage keeps nothing comparable
        for is left out; by default nothing is known."""
        return {}

    def sizes(self, names: Sequence[str]) -> list[int | None] | None:
        """The files' sizes where the store tells them at no real cost (a local ``stat``),
        else None: the caller then learns them by reading."""
        return None

    def size(self, name: str) -> int | None:
        """One file's size (a request to the storage), or None when it cannot be told."""
        try:
            info = self.list().get(name) if self.supports_listing else None
        except Exception:
            return None
        return info.size if info is not None else None

    def signed_url(self, name: str, expires_s: int) -> str | None:
        """A URL that lets anyone ``GET`` the file's bytes straight from the storage,
        without credentials, for about ``expires_s`` seconds (a presigned URL); None
        where the store cannot make one (the default: no such thing, or credentials
        that cannot sign). Making it reads nothing and does not check the file exists."""
        return None

    # -- writing --------------------------------------------------------------------

    def prepare(self) -> None:
        """Make the folder ready for writes (create it where the storage needs that)."""
        return  # nothing to do by default

    @abstractmethod
    def write(self, job: WriteJob) -> None:
        """Write one file whole (it is new: its name is unique to the save)."""

    def write_many(self, jobs: Sequence[WriteJob], on_file: Callable[[int], None]) -> None:
        """``write`` each job concurrently; ``on_file(index)`` as each completes."""

        def one(i: int) -> None:
            self.write(jobs[i])
            on_file(i)

        map_until_error(one, range(len(jobs)), self.max_concurrency)

    @abstractmethod
    def commit(self, name: str, data: bytes, *, temp_name: str | None = None) -> str | None:
        """Replace (or create) a file in one step where ``atomic_commit``: model.json.
        A store that commits by rename writes ``temp_name`` first. Returns the new
        version token where the store knows exactly which version its write made, else
        None.

        Where ``supports_conditional_commit``, two more keywords are taken (and only
        passed when set): ``if_match=TOKEN`` writes only if the file's current version is
        ``TOKEN``; ``if_none_match=True`` only if there is no such file. Otherwise
        ``tfjs_store.ConflictError`` and nothing is written."""

    def version(self, name: str) -> str | None:
        """The file's current version token, None when there is no such file. The
        default is ``content_version`` of its bytes."""
        try:
            return content_version(self.read(name))
        except FileNotFoundError:
            return None

    @abstractmethod
    def remove(self, names: Sequence[str]) -> None:
        """Remove these files; a file already gone is not an error."""

    def refresh(self) -> None:
        """Forget any cached listing: the next call sees what other clients wrote."""
        return  # nothing to do by default

    def remove_folder(self) -> None:
        """Remove the folder itself if the storage has empty folders and it is empty."""
        return  # nothing to do by default

    # -- listing --------------------------------------------------------------------

    @abstractmethod
    def list(self) -> dict[str, FileInfo]:
        """The files directly in the folder, as seen now (no cached listing)."""

    @abstractmethod
    def walk(self) -> dict[str, FileInfo]:
        """Every file below the folder: relative path -> info. Missing folder: empty."""


def content_version(data: Any) -> str:
    """A version token made from a file's bytes: 32 hex digits of their SHA-256."""
    return hashlib.sha256(memoryview(data).cast("B")).hexdigest()[:32]


def check_precondition(
    store: ByteStore, name: str, if_match: str | None, if_none_match: bool
) -> None:
    """``ConflictError`` unless the file's current version meets the condition: for a
    store that compares and writes under a lock of its own (local disk, memory)."""
    current = store.version(name)
    if if_none_match and current is not None:
        raise ConflictError(
            f"{store.file_url(name)} exists (version {current}); "
            "the save asked for no model (if_none_match)",
            current=current,
        )
    if if_match is not None and current != if_match:
        raise ConflictError(
            f"{store.file_url(name)} is at version {current or '(none)'}, "
            f"not {if_match} (if_match)",
            current=current,
        )


def copying_workers(limit: int) -> int:
    """Threads for reads that are copies within this machine (out of the page cache, out
    of a buffer in this process): the copy is CPU work, so one thread per core does all
    there is and more only contend (a cold local read of a whole file still queues its
    whole extent in one call). At most ``limit``, at least 2 (a read from disk overlaps
    a copy)."""
    return max(1, min(limit, max(2, usable_cores())))


def map_until_error(fn: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """``fn`` over ``items`` on a few threads, results in order. The first error stops
    the calls still to come (a manifest of 20 000 missing files fails at once)."""
    todo_items = list(items)
    if len(todo_items) <= 1:
        return [fn(item) for item in todo_items]
    out: list[Any] = [None] * len(todo_items)
    todo = iter(enumerate(todo_items))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        while not errors:
            with lock:
                job = next(todo, None)
            if job is None:
                return
            try:
                out[job[0]] = fn(job[1])
            except BaseException as exc:
                errors.append(exc)
                return

    count = max(1, min(workers, len(todo_items)))
    with ThreadPoolExecutor(count) as pool:
        for _ in range(count):
            pool.submit(worker)
    if errors:
        raise errors[0]
    return out

