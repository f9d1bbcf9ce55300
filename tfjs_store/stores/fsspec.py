"""Any fsspec filesystem as a byte store: file, memory, s3, gcs, az, chained URLs, plugins.

``FsspecStore`` holds what every fsspec filesystem shares: reads, writes, listings and
removes through fsspec; async filesystems (object stores) run every batch on their event
loop, bounding the bytes in flight; any other filesystem gets threads. What differs lives
in one subclass per backend, picked by protocol (``protocols.STORE_CLASSES``): local disks
(``local.py``: ``readinto``, maps, commit by rename under a lock), memory
(``memory.py``), S3, GCS and Azure (``s3.py``, ``gcs.py``, ``azure.py``: conditional
commits, checksums on arrival, version tokens), and the stores that commit by renaming
(``renaming.py``: SFTP, WebDAV, FTP). What each protocol can do is in ``protocols.py``.
"""

from __future__ import annotations

import contextlib
import importlib
import posixpath
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from ..errors import ConflictError, StorageError
from . import async_batches
from .async_batches import in_range, joined
from .base import ByteStore, FileInfo, WriteJob
from .protocols import (
    ATOMIC_PUT_PROTOCOLS,
    READ_ONLY_PROTOCOLS,
    RENAME_REPLACES_PROTOCOLS,
    RemovalError,
    drop_cached_copies,
    info_mtime,
    is_cache,
    is_local,
    is_not_found,
    one_connection,
    protocols,
    remove_paths,
    store_class_of,
    unwrapped,
    url_of,
)
from .protocols import ensure_protocol_known as ensure_protocol_known
from .protocols import open_filesystem as open_filesystem

__all__ = ["FsspecStore", "open_filesystem"]

class FsspecStore(ByteStore):
    """The files of one folder of an fsspec filesystem.

    ``FsspecStore(fs, folder)`` takes a filesystem instance and makes the store of the
    backend that serves it (``protocols.STORE_CLASSES``), as ``pathlib.Path`` makes a
    ``PosixPath``; ``FsspecStore.from_url(url, storage_options)`` opens one as pandas,
    xarray and zarr do.
    """

    supports_ranges = True  # cat_file(start=, end=); where a client ignores it, in_range

    def __new__(cls, fs: Any, folder: str, *, max_concurrency: int | None = None) -> FsspecStore:
        if cls is FsspecStore:
            module, name = store_class_of(fs).split(":")
            cls = getattr(importlib.import_module(f".{module}", __package__), name)
        return super().__new__(cls)

    def __init__(self, fs: Any, folder: str, *, max_concurrency: int | None = None) -> None:
        self.fs = fs
        self.folder = folder.rstrip("/") or "/"
        self.local = is_local(fs)
        self._configure(max_concurrency)

    # -- what this filesystem can do (see the tables in protocols.py) -----------------

    def _configure(self, max_concurrency: int | None) -> None:
        inner = unwrapped(self.fs)
        kinds = protocols(inner)
        named = self._fs_protocols()
        self.protocol = next((p for p in (*named, *sorted(kinds)) if p in kinds), "?")
        # Writes, removes, listings and model.json reads go to the filesystem under a cache
        # (a cache serves only weight files, and is dropped for the folder on each load).
        self.cached = is_cache(self.fs)
        self.direct = self.fs.fs if self.cached else self.fs
        # dir:: says it is async over any filesystem: async only when what it wraps is.
        self.is_async = (
            bool(getattr(self.fs, "async_impl", False))
            and bool(getattr(inner, "async_impl", False))
            and not self.local
        )
        self.supports_writes = not kinds & READ_ONLY_PROTOCOLS  # type: ignore[misc]
        self.supports_deletes = self.supports_writes  # type: ignore[misc]
        self.atomic_put = bool(kinds & ATOMIC_PUT_PROTOCOLS) and not self.local
        self.rename_replaces = self.local or bool(kinds & RENAME_REPLACES_PROTOCOLS)
        self.atomic_commit = self.atomic_put or self.rename_replaces  # type: ignore[misc]
        self.needs_folders = self.local or not kinds & ATOMIC_PUT_PROTOCOLS
        if one_connection(self.fs):
            self.max_concurrency = 1
        else:
            self.max_concurrency = max(1, int(max_concurrency or 16))

    def _fs_protocols(self) -> tuple[str, ...]:
        """The protocols ``fs`` itself declares (a wrapper's own: ``dir``, ``simplecache``)."""
        named = getattr(self.fs, "protocol", ())
        return (named,) if isinstance(named, str) else tuple(named)

    def _is_client(self, protocol: str, class_name: str) -> bool:
        """``fs`` is itself the client ``class_name`` of ``protocol``, not a wrapper over
        it: only that client takes the conditions of a conditional commit."""
        return protocol in self._fs_protocols() and type(self.fs).__name__ == class_name

    def _refuse_if_read_only(self) -> None:
        if not self.supports_writes:
            raise StorageError(
                f"{self.protocol}:// is read-only: {self.url} cannot be written or removed"
            )

    @classmethod
    def from_url(
        cls,
        url: str,
        /,
        storage_options: Mapping[str, Any] | None = None,
        *,
        filesystem: Any = None,
        max_concurrency: int | None = None,
    ) -> FsspecStore:
        if filesystem is not None:
            fs, path = filesystem, filesystem._strip_protocol(url)
        else:
            fs, path = open_filesystem(url, storage_options)
        return cls(fs, path, max_concurrency=max_concurrency)

    # -- where ----------------------------------------------------------------------

    def path(self, name: str) -> str:
        return f"{self.folder}/{name}" if self.folder != "/" else f"/{name}"

    @property
    def url(self) -> str:
        return self._unstrip(self.folder)

    def file_url(self, name: str) -> str:
        return self._unstrip(self.path(name))

    def _unstrip(self, path: str) -> str:
        return url_of(self.fs, self.protocol, path)

    @contextlib.contextmanager
    def _errors(self, action: str, name: str) -> Iterator[None]:
        """Foreign errors as ours: not-found stays a ``FileNotFoundError``, the rest
        becomes a ``StorageError`` naming the file."""
        try:
            yield
        except (StorageError, ConflictError):
            raise
        except Exception as exc:
            if is_not_found(exc) or (action == "reading" and isinstance(exc, IsADirectoryError)):
                raise FileNotFoundError(2, "No such file", self.file_url(name)) from None
            raise StorageError(
                f"{action} {self.file_url(name)} failed: {type(exc).__name__}: {exc}"
            ) from exc

    # -- reading --------------------------------------------------------------------

    def refresh(self) -> None:
        # Another client may have written files since this (possibly shared, cached)
        # filesystem instance last listed the folder: never trust that listing.
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache(self.folder)
        if self.cached:
            drop_cached_copies(self.fs, self.folder)

    def read(self, name: str, *, limit: int | None = None) -> Any:
        with self._errors("reading", name):
            return self._read(self.path(name), limit)

    def _read(self, path: str, limit: int | None) -> Any:
        if limit is None:
            return self.fs.cat_file(path)
        # A limited read is a model JSON: never from a cache, always the stored one.
        return self._read_limited(path, limit)

    def _read_limited(self, path: str, limit: int) -> Any:
        fs = self.direct
        try:
            return fs.cat_file(path, start=0, end=limit + 1)
        except OSError as exc:
            if is_not_found(exc) or isinstance(exc, IsADirectoryError):
                raise
            return fs.cat_file(path)  # S3 refuses a range of an empty object

    def size(self, name: str) -> int | None:
        try:
            return int(self.direct.size(self.path(name)))
        except Exception:
            return None

    def read_range(self, name: str, start: int, end: int) -> Any:
        with self._errors("reading", name):
            return in_range(self.fs.cat_file(self.path(name), start=start, end=end), start, end)

    def read_many_into(
        self, jobs: Sequence[tuple[str, memoryview]], on_file: Callable[[int, int], None]
    ) -> None:
        if not self.is_async:
            return super().read_many_into(jobs, on_file)
        async_batches.read_many_into(self, jobs, on_file)

    async def _read_into_async(self, path: str, out: memoryview) -> int:
        """``read_into`` on the filesystem's loop (``async_batches.read_many_into``)."""
        return await async_batches.fetch_into(self.fs, path, out)

    def read_many(self, names: Sequence[str], on_file: Callable[[int, Any], None]) -> list[Any]:
        if not self.is_async:
            return super().read_many(names, on_file)
        return async_batches.read_many(self, names, on_file)

    def read_ranges(self, jobs: Sequence[tuple[str, int, int]]) -> list[Any]:
        if not self.is_async:
            return super().read_ranges(jobs)
        return async_batches.read_ranges(self, jobs)

    # -- writing --------------------------------------------------------------------

    def prepare(self) -> None:
        self._refuse_if_read_only()
        if not self.needs_folders:
            return  # object stores have no folders to make
        try:
            self.direct.makedirs(self.folder, exist_ok=True)
        except FileExistsError:
            raise StorageError(
                f"path {self.folder} exists as a file; it must be absent or a folder"
            ) from None
        except NotImplementedError:
            self.needs_folders = False  # a plugin filesystem without folders
        except Exception as exc:
            raise StorageError(f"creating folder {self.folder} failed: {exc}") from exc

    def write(self, job: WriteJob) -> None:
        path = self.path(job.name)
        with self._errors("writing", job.name):
            self._make_parent(path)
            self._upload(job, path, joined(job.chunks()))

    def _upload(self, job: WriteJob, path: str, body: bytes) -> None:
        self.direct.pipe_file(path, body)

    async def _upload_async(self, job: WriteJob, path: str, body: bytes) -> None:
        """``_upload`` on the filesystem's loop (``async_batches.write_many``)."""
        await self.fs._pipe_file(path, body)

    def _make_parent(self, path: str) -> None:
        """Folders made where the store has them (ftp://, sftp://, webdav://…): the
        model folder by ``prepare``, deeper ones here."""
        parent = posixpath.dirname(path)
        if self.needs_folders and parent != self.folder:
            with contextlib.suppress(NotImplementedError):
                self.direct.makedirs(parent, exist_ok=True)

    def write_many(self, jobs: Sequence[WriteJob], on_file: Callable[[int], None]) -> None:
        if not self.is_async:
            return super().write_many(jobs, on_file)
        async_batches.write_many(self, jobs, on_file)

    # -- committing model.json (issue 16) -----------------------------------------------
    # A subclass that can compare and write in one step says how (``cas_kind``); cache
    # wrappers and plugins tell versions but refuse a conditional commit.

    own_client: ClassVar[tuple[str, str, str] | None] = None
    """``(cas_kind, protocol, filesystem class name)``: the one client that commits
    conditionally (``fs`` itself, not a cache or ``dir::`` wrapper over it)."""

    @property
    def cas_kind(self) -> str | None:
        """How this store commits conditionally: "local", "memory", "s3", "gcs", "az",
        or None."""
        client = self.own_client
        return client[0] if client and self._is_client(client[1], client[2]) else None

    @property
    def supports_conditional_commit(self) -> bool:
        return self.cas_kind is not None

    def commit(
        self, name: str, data: bytes, *, temp_name: str | None = None,
        if_match: str | None = None, if_none_match: bool = False,
    ) -> str | None:
        self._refuse_if_read_only()
        if (if_match is not None or if_none_match) and not self.supports_conditional_commit:
            raise StorageError(f"{self.file_url(name)}: this store cannot commit conditionally")
        return self._commit(name, data, temp_name or f"{name}.tmp", if_match, if_none_match)

    def _commit(
        self, name: str, data: bytes, temp_name: str, if_match: str | None, if_none_match: bool
    ) -> str | None:
        """An atomic put; or, where ``atomic_commit`` is False, a plain overwrite."""
        target = self.path(name)
        with self._errors("writing", name):
            self._make_parent(target)
            self.direct.pipe_file(target, data)
        return None

    # -- removing and listing -----------------------------------------------------------

    def remove(self, names: Sequence[str]) -> None:
        paths = [self.path(n) for n in names]
        if not paths:
            return
        self._refuse_if_read_only()
        try:
            remove_paths(self.direct, paths)
        except RemovalError as exc:
            cause = exc.__cause__
            raise StorageError(f"removing {self._unstrip(exc.path)} failed: "
                               f"{type(cause).__name__}: {cause}") from cause

    def list(self) -> dict[str, FileInfo]:
        self.refresh()
        with self._errors("listing", ""):
            entries = self.direct.ls(self.folder, detail=True)
        return {
            posixpath.basename(e["name"].rstrip("/")):
                FileInfo(int(e.get("size") or 0), info_mtime(e))
            for e in entries
            if e.get("type", "file") == "file"
        }

    def walk(self) -> dict[str, FileInfo]:
        try:
            found = self.direct.find(self.folder, detail=True)
        except FileNotFoundError:
            return {}
        except Exception as exc:
            raise StorageError(
                f"listing {self.url} failed: {type(exc).__name__}: {exc}"
            ) from exc
        prefix = self.folder.rstrip("/") + "/"
        out = {}
        for path, info in found.items():
            if path.startswith(prefix):
                rel = path[len(prefix):]
            elif self.folder == "/":  # a root whose paths have no leading "/" (zip://)
                rel = path.lstrip("/")
            else:
                rel = posixpath.basename(path)
            size = info.get("size")
            if size is None:  # a listing that leaves sizes out (reference:// to URLs)
                with contextlib.suppress(Exception):
                    size = self.direct.size(path)
            out[rel] = FileInfo(int(size or 0), info_mtime(info))
        return out
