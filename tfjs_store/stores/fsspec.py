"""Any fsspec filesystem as a byte store: file, memory, s3, gcs, az, chained URLs, plugins.

Only what differs between filesystems lives here: local disks read each file straight
into its place (``readinto``) and commit by rename; async filesystems (object stores)
run every batch on their event loop, bounding the bytes in flight; any other
filesystem gets threads.

What each filesystem can do is read from its protocol (the tables below): how model.json
is replaced in one step (an atomic put on object stores, a rename over the old file on
local disk, SFTP, WebDAV and FTP; on anything else a reader may see a partial
model.json, and the store says so with ``atomic_commit = False``), whether folders must
be made before files go in, whether its client can be used from several threads, and
whether it can be written at all (``zip://``, ``reference://`` cannot).
Object stores that keep a CRC32C of every object check each weight file's on
arrival and tell it back for ``verify(remote=True)`` (``_CHECKSUM_STORES``).

"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mmap
import os
import posixpath
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ..errors import ConflictError, HandlerError, MissingDependencyError, StorageError
from .base import ByteStore, FileInfo, WriteJob, content_version, map_until_error

__all__ = ["FsspecStore", "open_filesystem"]

MAX_INFLIGHT_BYTES = 32 * 1024 * 1024
"""A save to an object store holds at most this many bytes of shard copies at once
(each request body is one copy); a bigger shard goes alone."""
MAX_FILES_IN_FLIGHT = 64
_GLOB_CHARS = re.compile(r"[*?\[]")
_log = logging.getLogger("tfjs_store.stores")

# -- what each protocol can do (the one home of these facts) ------------------------------

ATOMIC_PUT_PROTOCOLS = frozenset(
    {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory"}
)
"""A put replaces an object in one step, and there are no folders to make (object stores;
memory:// swaps the whole file when it is closed)."""
RENAME_REPLACES_PROTOCOLS = frozenset({"file", "local", "sftp", "ssh", "webdav", "dav", "ftp"})
"""A rename replaces an existing file in one step: POSIX ``rename``, SFTP's
``posix-rename``, WebDAV ``MOVE`` with ``Overwrite: T``, FTP ``RNFR``/``RNTO`` (on
servers that rename with the OS call, as pyftpdlib and most Unix servers do)."""
READ_ONLY_PROTOCOLS = frozenset({"zip", "tar", "libarchive", "reference", "github", "git"})
"""Filesystems that read an archive or a fixed set of references: no writes, no removes."""
MOVE_DELETES_FIRST_PROTOCOLS = frozenset({"webdav", "dav"})
"""WebDAV's ``MOVE`` with ``Overwrite: T`` deletes the destination first (RFC 4918,
9.9.3; wsgidav does so): a reader never sees a partial model.json, but may find none for
a moment. A model.json read there waits out that gap (``GAP_WAITS``) before saying the
file is not found."""
GAP_WAITS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
ONE_CONNECTION_PROTOCOLS = frozenset({"ftp"})
"""Clients with one connection that garbles replies when used from several threads."""
PROTOCOL_ALIASES = {"dav": "webdav"}
"""Protocols a package claims (``WebdavFileSystem.protocol`` names ``dav``) that fsspec's
table does not list: opened with the implementation of the protocol they alias."""

# Object stores that keep a CRC32C (base64, big-endian) of what they hold, by protocol:
# - S3 takes ``ChecksumCRC32C`` on PutObject, refuses a body that does not match it
#   (BadDigest), and tells it back on HeadObject with ``ChecksumMode=ENABLED``. The
#   value is sent, not asked of botocore (which computes CRC32C only with awscrt).
#   s3fs turns bodies of 100 MiB and more into multipart uploads, whose checksum is
#   per part: those go without one (``verify(remote=True)`` then reads them).
# - GCS computes an object's ``crc32c`` itself and returns it from the upload; gcsfs
#   does not pass one along, so the store compares what came back and removes a file
#   that arrived different. ``info`` tells it later.
# Azure keeps a Content-MD5, which no save records: not listed.
_CHECKSUM_STORES = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}
_S3_SINGLE_PUT_BYTES = 100 * 1024 * 1024
"""s3fs sends bodies below this size in one PutObject (2 x its 50 MiB chunk size)."""

# Install hints for protocols whose implementation lives in another package.
_INSTALL_HINTS = {
    "s3": "tfjs-store[s3]",
    "s3a": "tfjs-store[s3]",
    "gs": "tfjs-store[gcs]",
    "gcs": "tfjs-store[gcs]",
    "az": "tfjs-store[azure]",
    "abfs": "tfjs-store[azure]",
    "abfss": "tfjs-store[azure]",
    "adl": "tfjs-store[azure]",
}


def open_filesystem(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """``fsspec.url_to_fs`` with tfjs-store's errors: (filesystem, path)."""
    import fsspec.core

    protocol = url.split("://", 1)[0].split("::")[-1]
    for part in url.split("::"):
        if "://" in part:
            ensure_protocol_known(part.split("://", 1)[0].lower())
    if protocol in ("gs", "gcs"):
        # gcsfs probes a gRPC endpoint on first use unless told not to (a ~60 s wait).
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    options = dict(storage_options or {})
    if protocol in ONE_CONNECTION_PROTOCOLS:
        # fsspec would share one instance (one connection) between every handler of
        # the process, used from many threads at once: a connection of its own instead.
        options.setdefault("skip_instance_cache", True)
    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:
        hint = _INSTALL_HINTS.get(protocol)
        extra = f"; install it with: pip install '{hint}'" if hint else ""
        raise MissingDependencyError(
            f"the package for {protocol}:// URLs is not installed ({exc}){extra}"
        ) from None
    except ValueError as exc:
        if "Protocol not known" in str(exc):
            raise HandlerError(f"no filesystem is known for URL '{url}'") from None
        raise
    except OSError as exc:  # a client that connects when made (ftp://): refused, unreachable
        raise StorageError(f"opening {url} failed: {type(exc).__name__}: {exc}") from exc
    return _dir_at_parent(fs, str(path))


def _dir_at_parent(fs: Any, path: str) -> tuple[Any, str]:
    """``dir::file:///data/m1`` makes a DirFileSystem rooted at /data/m1 and hands back
    the whole path again (which would land at /data/m1/data/m1): root it at the parent
    and use the last name, so the URL names the same folder as without ``dir::``."""
    from fsspec.implementations.dirfs import DirFileSystem

    root = str(getattr(fs, "path", "")).rstrip("/")
    if isinstance(fs, DirFileSystem) and root and path.rstrip("/") == root:
        parent, name = posixpath.split(root)
        if name:
            return DirFileSystem(path=parent or "/", fs=fs.fs), name
    return fs, path


def ensure_protocol_known(protocol: str) -> bool:
    """True when fsspec can open ``protocol``; an alias in ``PROTOCOL_ALIASES`` is
    registered first, when the implementation it aliases claims it."""
    from fsspec.registry import known_implementations, register_implementation, registry

    if protocol in registry or protocol in known_implementations:
        return True
    target = PROTOCOL_ALIASES.get(protocol)
    if target is None:
        return False
    try:
        from fsspec.registry import get_filesystem_class

        cls = get_filesystem_class(target)
    except (ImportError, ValueError):
        return False
    claimed = cls.protocol if isinstance(cls.protocol, (tuple, list)) else (cls.protocol,)
    if protocol not in claimed:
        return False
    register_implementation(protocol, cls)
    return True


def unwrapped(fs: Any) -> Any:
    """The filesystem underneath cache (``simplecache::``…) and ``dir::`` wrappers."""
    from fsspec.implementations.cached import CachingFileSystem
    from fsspec.implementations.dirfs import DirFileSystem

    while isinstance(fs, (CachingFileSystem, DirFileSystem)):
        fs = fs.fs
    return fs


def is_cache(fs: Any) -> bool:
    from fsspec.implementations.cached import CachingFileSystem

    return isinstance(fs, CachingFileSystem)


def protocols(fs: Any) -> frozenset[str]:
    """The protocols a filesystem serves: what its class declares, or (for a class that
    declares none, as sshfs's ``abstract``) the names fsspec registered it under."""
    value = getattr(fs, "protocol", ())
    declared = frozenset(value if isinstance(value, (tuple, list)) else (value,))
    if declared - {"abstract"}:
        return declared
    from fsspec.registry import registry

    return frozenset(name for name, cls in registry.items() if cls is type(fs)) or declared


def one_connection(fs: Any) -> bool:
    """A client that must not be used from several threads at once: fsspec's ftp:// and
    its paramiko SFTP filesystem (one channel; concurrent opens deadlock)."""
    inner = unwrapped(fs)
    if protocols(inner) & ONE_CONNECTION_PROTOCOLS:
        return True
    return type(inner).__module__ == "fsspec.implementations.sftp"


def is_local(fs: Any) -> bool:
    """Paths are OS paths: a LocalFileSystem, or a wrapper that passes paths to one
    unchanged and says so as ``local_filesystem`` (``tfjs_store.testing.FaultyFileSystem``).
    Local writes still go through ``fs`` so that such a wrapper sees every one."""
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem) or isinstance(
        getattr(fs, "local_filesystem", None), LocalFileSystem
    )


def is_not_found(exc: BaseException) -> bool:
    if isinstance(exc, FileNotFoundError) or (
        isinstance(exc, OSError) and getattr(exc, "errno", None) == 2
    ):
        return True
    # Clients that let the server's answer through: webdav4 (httpx's 404), ftplib (550).
    response = getattr(exc, "response", None)
    if getattr(response, "status_code", None) == 404:
        return True
    return type(exc).__name__ == "error_perm" and "No such file" in str(exc)


def _mtime(info: Mapping[str, Any]) -> datetime | None:
    for key in ("mtime", "LastModified", "last_modified", "updated", "modified", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(float(value), timezone.utc)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


class FsspecStore(ByteStore):
    """The files of one folder of an fsspec filesystem.

    ``FsspecStore(fs, folder)`` takes a filesystem instance;
    ``FsspecStore.from_url(url, storage_options)`` opens one as pandas, xarray and zarr
    do.
    """

    supports_ranges = True  # cat_file(start=, end=); where a client ignores it, _in_range

    def __init__(self, fs: Any, folder: str, *, max_concurrency: int | None = None) -> None:
        self.fs = fs
        self.folder = folder.rstrip("/") or "/"
        self.local = is_local(fs)
        self._configure(max_concurrency)
        found = {_CHECKSUM_STORES.get(p) for p in protocols(unwrapped(fs))} - {None}
        self.checksum_store: str | None = found.pop() if len(found) == 1 else None
        self.checks_on_arrival = self.keeps_checksums = self.checksum_store is not None

    # -- what this filesystem can do (see the tables at the top) -----------------------

    def _configure(self, max_concurrency: int | None) -> None:
        inner = unwrapped(self.fs)
        kinds = protocols(inner)
        named = getattr(self.fs, "protocol", ())
        named = [named] if isinstance(named, str) else list(named)
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

    def signed_url(self, name: str, expires_s: int) -> str | None:
        """A presigned GET URL where the filesystem signs one with the credentials it
        holds: S3 (s3fs ``sign``), GCS (gcsfs ``sign``, V4, with a service account key),
        Azure (a read-only SAS from the account key). None for any other filesystem, or
        when the credentials cannot sign (anonymous GCS, Azure without an account key)."""
        kind = self.cas_kind
        if kind not in ("s3", "gcs", "az"):
            return None
        options: dict[str, Any] = {}
        if kind == "gcs":
            if getattr(getattr(self.fs, "credentials", None), "credentials", None) is None:
                return None  # anonymous: google-auth would look for default credentials
            options["version"] = "v4"
        try:
            return str(self.fs.sign(self.path(name), expiration=int(expires_s), **options))
        except Exception as exc:  # no key to sign with: the caller streams instead
            _log.debug("cannot sign a URL for %s: %s: %s", self.file_url(name),
                       type(exc).__name__, exc)
            return None

    def _unstrip(self, path: str) -> str:
        """A URL that opens ``path`` again: with the host and port of a server
        (``ftp://``, ``sftp://``), the archive of a ``zip://`` path."""
        from fsspec.implementations.dirfs import DirFileSystem

        inner = unwrapped(self.fs)
        if isinstance(self.fs, DirFileSystem):
            with contextlib.suppress(Exception):
                return f"dir::{self.fs.fs.unstrip_protocol(self.fs._join(path))}"
        if self.fs is inner:
            if self.protocol in ("ftp", "sftp", "ssh"):
                host = (
                    getattr(inner, "host", None)
                    or inner.storage_options.get("host")
                    or next(iter(inner.storage_args), None)
                )
                port = getattr(inner, "port", None) or inner.storage_options.get("port")
                if host:
                    where = f"{host}:{port}" if port else str(host)
                    return f"{self.protocol}://{where}/{path.lstrip('/')}"
            archive: Any = getattr(inner, "of", None)
            if self.protocol in READ_ONLY_PROTOCOLS and hasattr(archive, "fs"):
                with contextlib.suppress(Exception):
                    source = archive.fs.unstrip_protocol(archive.path)
                    return f"{self.protocol}://{path.lstrip('/')}::{source}"
        try:
            return str(self.fs.unstrip_protocol(path))
        except Exception:  # pragma: no cover - exotic filesystems
            return path

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
            self._drop_cached_copies()

    def _drop_cached_copies(self) -> None:
        """A cache (``simplecache::``, ``filecache::``, ``blockcache::``) keys its copies
        by path, so it would serve a removed or replaced model: every load drops the
        folder's cached files first. What a cache saves is then the repeated reads within
        one load and the reads of other clients, never a stale model."""
        with contextlib.suppress(Exception):
            self.direct.invalidate_cache(self.folder)
        try:
            names = self.direct.find(self.folder)
        except Exception:
            return
        for path in names:
            with contextlib.suppress(Exception):
                self.fs.pop_from_cache(path)
            # simplecache keeps no metadata to pop: its copy is the file _check_file finds.
            with contextlib.suppress(Exception):
                copy = self.fs._check_file(path)
                if isinstance(copy, str) and os.path.isfile(copy):
                    os.remove(copy)

    def read(self, name: str, *, limit: int | None = None) -> Any:
        path = self.path(name)
        with self._errors("reading", name):
            if self.local:  # a ranged read would allocate the whole range first
                with open(path, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    if limit is not None and size > limit:
                        return f.read(limit + 1)
                    return f.read()
            if self.protocol == "ftp" and not self.cached:
                return _ftp_retrieve(self.fs, path, limit)
            if limit is None:
                return self.fs.cat_file(path)
            # A limited read is a model JSON: never from a cache, always the stored one.
            if self.protocol in MOVE_DELETES_FIRST_PROTOCOLS:
                return self._read_across_move_gap(path, limit)
            return self._read_limited(path, limit)

    def _read_limited(self, path: str, limit: int) -> Any:
        fs = self.direct
        try:
            return fs.cat_file(path, start=0, end=limit + 1)
        except OSError as exc:
            if is_not_found(exc) or isinstance(exc, IsADirectoryError):
                raise
            return fs.cat_file(path)  # S3 refuses a range of an empty object

    def _read_across_move_gap(self, path: str, limit: int) -> Any:
        """See ``MOVE_DELETES_FIRST_PROTOCOLS``."""
        import time

        for wait in (*GAP_WAITS, None):
            try:
                return self._read_limited(path, limit)
            except Exception as exc:
                # wsgidav may also answer 500 for a file that vanishes while it is read
                status = getattr(getattr(exc, "response", None), "status_code", 0)
                in_gap = is_not_found(exc) or (isinstance(status, int) and status >= 500)
                if wait is None or not in_gap:
                    raise
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def read_into(self, name: str, out: memoryview) -> int:
        if not self.local:
            return super().read_into(name, out)
        with self._errors("reading", name), open(self.path(name), "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            if size != len(out):
                return size
            got = 0
            while got < size:
                n = f.readinto(out[got:])
                if not n:
                    return got  # the file shrank while it was read
                got += n
            return size

    def read_many_into(
        self, jobs: Sequence[tuple[str, memoryview]], on_file: Callable[[int, int], None]
    ) -> None:
        if not self.is_async:
            return super().read_many_into(jobs, on_file)

        async def one(i: int, loop: asyncio.AbstractEventLoop) -> None:
            name, out = jobs[i]
            with self._errors("reading", name):
                # From byte 0: s3fs otherwise sends a HEAD (for the size) before every GET;
                # never a range of an empty object (S3 refuses it).
                data = await (
                    self.fs._cat_file(self.path(name), start=0) if len(out)
                    else self.fs._cat_file(self.path(name))
                )
            size = len(data)
            if size == len(out):
                out[:] = data
            del data
            # hashing releases the GIL: off the event loop
            await loop.run_in_executor(None, on_file, i, size)

        self._run_async(one, len(jobs), max(self.max_concurrency, 32))

    def read_many(self, names: Sequence[str], on_file: Callable[[int, Any], None]) -> list[Any]:
        if not self.is_async:
            return super().read_many(names, on_file)
        out: list[Any] = [None] * len(names)

        async def one(i: int, loop: asyncio.AbstractEventLoop) -> None:
            with self._errors("reading", names[i]):
                out[i] = await self.fs._cat_file(self.path(names[i]))
            await loop.run_in_executor(None, on_file, i, out[i])

        self._run_async(one, len(names), max(self.max_concurrency, 32))
        return out

    def sizes(self, names: Sequence[str]) -> list[int | None] | None:
        if not self.local:
            return None
        out: list[int | None] = []
        for name in names:
            try:
                out.append(os.stat(self.path(name)).st_size)
            except OSError:
                out.append(None)
        return out

    def size(self, name: str) -> int | None:
        try:
            return int(self.direct.size(self.path(name)))
        except Exception:
            return None

    def read_range(self, name: str, start: int, end: int) -> Any:
        with self._errors("reading", name):
            if self.local:  # only the range is read and allocated
                return _read_local_range(self.path(name), start, end)
            return _in_range(self.fs.cat_file(self.path(name), start=start, end=end), start, end)

    def read_ranges(self, jobs: Sequence[tuple[str, int, int]]) -> list[Any]:
        if not self.is_async:
            return super().read_ranges(jobs)
        out: list[Any] = [None] * len(jobs)

        async def one(i: int, loop: asyncio.AbstractEventLoop) -> None:
            name, start, end = jobs[i]
            with self._errors("reading", name):  # start and end given: one ranged GET
                data = await self.fs._cat_file(self.path(name), start=start, end=end)
                out[i] = _in_range(data, start, end)

        self._run_async(one, len(jobs), max(self.max_concurrency, 32))
        return out

    def mmap(self, name: str) -> Any:
        """A read-only map of a local file; None elsewhere, and for an empty file (which
        cannot be mapped)."""
        if not self.local:
            return None
        with self._errors("reading", name), open(self.path(name), "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return None
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    def _run_async(
        self, one: Callable[[int, asyncio.AbstractEventLoop], Any], count: int, workers: int
    ) -> None:
        """``one(i)`` for each index on the filesystem's loop, a fixed set of workers
        (not a task per file); the first error cancels the rest."""
        from fsspec.asyn import sync

        async def run_all() -> None:
            loop = asyncio.get_running_loop()
            todo = iter(range(count))

            async def worker() -> None:
                for i in todo:
                    await one(i, loop)

            tasks = [asyncio.ensure_future(worker()) for _ in range(min(count, workers))]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise

        if count:
            sync(self.fs.loop, run_all)

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
            if self.local:
                parent = posixpath.dirname(path)
                if parent != self.folder:
                    self.fs.makedirs(parent, exist_ok=True)
                temp = self.path(job.temp_name) if job.temp_name else path
                with self.fs.open(temp, "wb") as out:
                    for view in job.chunks():
                        out.write(view)
                if temp != path:
                    os.replace(temp, path)  # the file appears whole (issue 17)
            elif job.temp_name and not self.atomic_put and self.rename_replaces:
                self._commit_by_rename(job.name, _joined(job.chunks()), job.temp_name)
            else:
                self._make_parent(path)
                body = _joined(job.chunks())
                crc = self._crc_to_send(job)
                out = self.direct.pipe_file(path, body, **self._arrival_options(crc, len(body)))
                if crc is not None and self.checksum_store == "gcs":
                    if not isinstance(out, Mapping):
                        out = self.direct.info(path)
                    error = self._arrival_error(job.name, crc, out)
                    if error is not None:
                        with contextlib.suppress(Exception):
                            self.direct.rm_file(path)
                        raise error

    def _make_parent(self, path: str) -> None:
        """Folders made where the store has them (ftp://, sftp://, webdav://…): the
        model folder by ``prepare``, deeper ones here."""
        parent = posixpath.dirname(path)
        if self.needs_folders and parent != self.folder:
            with contextlib.suppress(NotImplementedError):
                self.direct.makedirs(parent, exist_ok=True)

    def write_many(self, jobs: Sequence[WriteJob], on_file: Callable[[int], None]) -> None:
        if self.local:  # more threads only queue on the disk

            def one_local(i: int) -> None:
                self.write(jobs[i])
                on_file(i)

            map_until_error(one_local, range(len(jobs)), min(self.max_concurrency, 8))
            return
        if not self.is_async:
            return super().write_many(jobs, on_file)
        budget = [MAX_INFLIGHT_BYTES]

        async def one(i: int, loop: asyncio.AbstractEventLoop) -> None:
            job = jobs[i]
            need = min(job.size, MAX_INFLIGHT_BYTES)
            async with cond:
                await cond.wait_for(lambda: budget[0] >= need)
                budget[0] -= need
            try:
                chunk = await loop.run_in_executor(None, lambda: _joined(job.chunks()))
                crc = self._crc_to_send(job)
                path = self.path(job.name)
                with self._errors("writing", job.name):
                    out = await self.fs._pipe_file(
                        path, chunk, **self._arrival_options(crc, len(chunk))
                    )
                    if crc is not None and self.checksum_store == "gcs":
                        if not isinstance(out, Mapping):  # a resumable upload's URL
                            out = await self.fs._info(path)
                        error = self._arrival_error(job.name, crc, out)
                        if error is not None:
                            with contextlib.suppress(Exception):
                                await self.fs._rm_file(path)
                            raise error
                del chunk
                on_file(i)
            finally:
                async with cond:
                    budget[0] += need
                    cond.notify_all()

        cond = _LazyCondition()
        self._run_async(one, len(jobs), max(self.max_concurrency, MAX_FILES_IN_FLIGHT))

    def _crc_to_send(self, job: WriteJob) -> str | None:
        return job.crc32c() if self.checks_on_arrival and job.crc32c is not None else None

    def _arrival_options(self, crc: str | None, size: int) -> dict[str, Any]:
        """What the upload call takes so that the storage checks the bytes it gets."""
        if crc is not None and self.checksum_store == "s3" and size < _S3_SINGLE_PUT_BYTES:
            return {"ChecksumAlgorithm": "CRC32C", "ChecksumCRC32C": crc}
        return {}

    def _arrival_error(self, name: str, crc: str, stored: Mapping[str, Any]) -> StorageError | None:
        """Where the storage computed the CRC32C of what it got (GCS): the error when it
        differs from the one sent. The caller removes the file (no model.json names it
        yet) and raises it."""
        got = stored.get("crc32c")
        if got is None or got == crc:
            return None
        return StorageError(
            f"writing {self.file_url(name)} failed: the storage computed CRC32C {got} "
            f"of the bytes it received, but {crc} was sent: they were damaged on the "
            "way (the file was removed)"
        )

    def stored_checksums(self, names: Sequence[str]) -> dict[str, dict[str, str]]:
        """One request per file: GCS's object ``crc32c``, S3's ``ChecksumCRC32C``."""
        if self.checksum_store is None or not names:
            return {}
        out: dict[str, dict[str, str]] = {}
        self.refresh()

        async def one(i: int, _loop: asyncio.AbstractEventLoop) -> None:
            path = self.path(names[i])
            try:
                with self._errors("reading", names[i]):
                    if self.checksum_store == "s3":
                        bucket, key, _version = self.fs.split_path(path)
                        head = await self.fs._call_s3(
                            "head_object", Bucket=bucket, Key=key, ChecksumMode="ENABLED"
                        )
                        value = head.get("ChecksumCRC32C")
                        whole = head.get("ChecksumType") in (None, "FULL_OBJECT")
                    else:
                        # the object's metadata alone (``_info`` also lists the prefix
                        # in case it is a folder: a second request per file)
                        get = getattr(self.fs, "_get_object", None) or self.fs._info
                        info = await get(path)
                        value, whole = info.get("crc32c"), True
            except FileNotFoundError:
                return  # reading it will say it is missing
            # a multipart upload's checksum ("…-3") is of its parts, not of the bytes
            if isinstance(value, str) and whole and "-" not in value:
                out[names[i]] = {"crc32c": value}

        self._run_async(one, len(names), max(self.max_concurrency, 32))
        return out

    def commit(
        self,
        name: str,
        data: bytes,
        *,
        temp_name: str | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str | None:
        self._refuse_if_read_only()
        target = self.path(name)
        conditional = if_match is not None or if_none_match
        if conditional and not self.supports_conditional_commit:
            raise StorageError(
                f"{self.file_url(name)}: this store cannot commit conditionally"
            )
        if self.cas_kind == "s3":
            return self._commit_s3(name, data, if_match, if_none_match)
        if self.cas_kind == "gcs":
            return self._commit_gcs(name, data, if_match, if_none_match)
        if self.cas_kind == "az":
            return self._commit_az(name, data, if_match, if_none_match)
        with self._errors("writing", name):
            if self.local:
                temp = self.path(temp_name or f"{name}.tmp")
                with self.fs.open(temp, "wb") as out:
                    out.write(data)
                if self.fs.isdir(target):  # mv would move the file into it
                    raise IsADirectoryError(f"{target} is a folder")
                with self._commit_lock():  # compare and rename in one step
                    if conditional:
                        try:
                            self._check_precondition(name, if_match, if_none_match)
                        except ConflictError:
                            with contextlib.suppress(OSError):
                                os.unlink(temp)
                            raise
                    self.fs.mv(temp, target)  # a rename: atomic
                return content_version(data)
            if self.cas_kind == "memory":
                with self._commit_lock():
                    if conditional:
                        self._check_precondition(name, if_match, if_none_match)
                    self.fs.pipe_file(target, data)
                return content_version(data)
            if self.rename_replaces and not self.atomic_put:
                self._commit_by_rename(name, data, temp_name or f"{name}.tmp")
                return None
            # an atomic put; or, where atomic_commit is False, a plain overwrite
            self._make_parent(target)
            self.direct.pipe_file(target, data)
            return None

    # -- commit by rename (sftp, webdav, ftp; see RENAME_REPLACES_PROTOCOLS) -------------

    def _commit_by_rename(self, name: str, data: bytes, temp_name: str) -> None:
        """Write ``temp_name``, then rename it over ``name``: a reader sees the old file
        or the new one, never a partial one."""
        fs = self.direct
        target, temp = self.path(name), self.path(temp_name)
        self._make_parent(target)
        fs.pipe_file(temp, data)
        try:
            if fs.isdir(target):  # a rename would move the file into it
                raise IsADirectoryError(f"{target} is a folder")
            self._rename_over(temp, target)
        except BaseException:
            with contextlib.suppress(Exception):
                fs.rm_file(temp)
            raise
        with contextlib.suppress(Exception):
            fs.invalidate_cache(self.folder)

    def _rename_over(self, temp: str, target: str) -> None:
        fs = self.direct
        client: Any = getattr(fs, "client", None)
        if self.protocol in ("webdav", "dav") and hasattr(client, "move"):
            # webdav4's fs.mv of a file is a copy and a delete; MOVE is the rename.
            client.move(temp, target, overwrite=True)
            return
        fs.mv(temp, target)

    # -- versions and conditional commits (issue 16) ---------------------------------
    #
    # local files: an exclusive ``flock`` on the folder itself around compare-and-rename
    # (every local commit takes it, so an unconditional writer never slips between a
    # conditional writer's compare and its rename); versions are content hashes.
    # memory: one process-wide lock around compare-and-put; content hashes.
    # s3: PutObject with ``IfMatch`` / ``IfNoneMatch`` (the ETag is the version).
    # gcs: a one-request (multipart) upload with ``ifGenerationMatch`` (the generation is
    # the version; 0: no object yet).
    # az: Put Blob with ``If-Match`` (the ETag is the version) or ``If-None-Match: *``.
    # Anything else (cache wrappers, plugins): versions are told, but a
    # conditional commit is refused (``supports_conditional_commit`` is False).

    @property
    def cas_kind(self) -> str | None:
        """How this store commits conditionally: "local", "memory", "s3", "gcs", "az",
        or None."""
        if self.local:
            return "local"
        protocols = getattr(self.fs, "protocol", ())
        protocols = (protocols,) if isinstance(protocols, str) else tuple(protocols)
        if "memory" in protocols and type(self.fs).__name__ == "MemoryFileSystem":
            return "memory"
        if "s3" in protocols and type(self.fs).__name__ == "S3FileSystem":
            return "s3"
        if "gs" in protocols and type(self.fs).__name__ == "GCSFileSystem":
            return "gcs"
        if "az" in protocols and type(self.fs).__name__ == "AzureBlobFileSystem":
            return "az"
        return None

    @property
    def supports_conditional_commit(self) -> bool:
        return self.cas_kind is not None

    @property
    def versions_by_content(self) -> bool:
        return self.cas_kind in ("local", "memory") or self._token_key() is None

    def _token_key(self) -> str | None:
        """The key of ``fs.info`` that holds the storage's own version token."""
        protocols = getattr(self.fs, "protocol", ())
        protocols = (protocols,) if isinstance(protocols, str) else tuple(protocols)
        if self.cas_kind == "s3":
            return "ETag"
        if self.cas_kind == "gcs" or {"gs", "gcs"} & set(protocols):
            return "generation"
        if {"az", "abfs", "abfss"} & set(protocols):
            return "etag"
        return None

    def version(self, name: str) -> str | None:
        key = self._token_key()
        if key is None:
            return super().version(name)
        path = self.path(name)
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache(path)
        try:
            with self._errors("reading", name):
                info = self.fs.info(path)
        except FileNotFoundError:
            return None
        token = info.get(key)
        if token is None:
            raise StorageError(f"{self.file_url(name)}: the storage told no {key}")
        return str(token).strip('"')

    @contextlib.contextmanager
    def _commit_lock(self) -> Iterator[None]:
        if not self.local:
            with _MEMORY_LOCK:
                yield
            return
        import fcntl

        fd = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the last descriptor releases the lock

    def _check_precondition(self, name: str, if_match: str | None, if_none_match: bool) -> None:
        current = self.version(name)
        if if_none_match and current is not None:
            raise ConflictError(
                f"{self.file_url(name)} exists (version {current}); "
                "the save asked for no model (if_none_match)",
                current=current,
            )
        if if_match is not None and current != if_match:
            raise ConflictError(
                f"{self.file_url(name)} is at version {current or '(none)'}, "
                f"not {if_match} (if_match)",
                current=current,
            )

    def _commit_gcs(
        self, name: str, data: bytes, if_match: str | None, if_none_match: bool
    ) -> str | None:
        """The upload gcsfs makes for a small file, with the generation precondition
        that its ``pipe_file`` does not take (only ``mode="create"``, i.e. 0)."""
        from urllib.parse import quote

        from fsspec.asyn import sync

        path = self.path(name)
        bucket, key, _generation = self.fs.split_path(path)
        expected = "0" if if_none_match else if_match
        condition = {"ifGenerationMatch": expected} if expected is not None else {}
        head = (
            "--==0==\nContent-Type: application/json; charset=UTF-8\n\n"
            + json.dumps({"name": key})
            + "\n--==0==\nContent-Type: application/octet-stream\n\n"
        ).encode()
        body = head + bytes(data) + b"\n--==0==--"

        async def upload() -> Any:
            return await self.fs._call(
                "POST",
                f"{self.fs._location}/upload/storage/v1/b/{quote(bucket)}/o",
                uploadType="multipart",
                headers={"Content-Type": 'multipart/related; boundary="==0=="'},
                data=body,
                json_out=True,
                **condition,
            )

        try:
            with self._errors("writing", name):
                out = sync(self.fs.loop, upload)
        except StorageError as exc:
            if condition and isinstance(exc.__cause__, FileExistsError):  # gcsfs: 412
                raise ConflictError(
                    f"{self.file_url(name)} is not at the version the save was made "
                    f"against ({'if_none_match' if if_none_match else f'if_match {expected}'})"
                ) from None
            raise
        finally:
            with contextlib.suppress(Exception):
                self.fs.invalidate_cache(path)
        generation = out.get("generation") if isinstance(out, Mapping) else None
        return str(generation) if generation is not None else None

    def _commit_az(
        self, name: str, data: bytes, if_match: str | None, if_none_match: bool
    ) -> str | None:
        condition: dict[str, Any] = {}
        if if_none_match:
            condition["overwrite"] = False  # If-None-Match: *
        if if_match is not None:
            from azure.core import MatchConditions

            condition["etag"] = f'"{if_match}"'
            condition["match_condition"] = MatchConditions.IfNotModified
        try:
            with self._errors("writing", name):
                out = self.fs.pipe_file(self.path(name), data, **condition)
        except StorageError as exc:
            cause = exc.__cause__
            status = getattr(cause, "status_code", None)
            if condition and (isinstance(cause, FileExistsError) or status in (409, 412)):
                raise self._stale(name, if_match, if_none_match) from None
            raise
        etag = out.get("etag") if isinstance(out, Mapping) else None
        return str(etag).strip('"') if etag else None

    def _stale(self, name: str, if_match: str | None, if_none_match: bool) -> ConflictError:
        condition = "if_none_match" if if_none_match else f"if_match {if_match}"
        return ConflictError(
            f"{self.file_url(name)} is not at the version the save was made against "
            f"({condition})"
        )

    def _commit_s3(
        self, name: str, data: bytes, if_match: str | None, if_none_match: bool
    ) -> str | None:
        condition: dict[str, str] = {}
        if if_none_match:
            condition["IfNoneMatch"] = "*"
        if if_match is not None:
            condition["IfMatch"] = f'"{if_match}"'
        try:
            with self._errors("writing", name):
                out = self.fs.pipe_file(self.path(name), data, **condition)
        except (StorageError, FileExistsError) as exc:
            if condition and _is_precondition_failure(exc):
                raise self._stale(name, if_match, if_none_match) from None
            raise
        etag = out.get("ETag") if isinstance(out, Mapping) else None
        return str(etag).strip('"') if etag else None

    def remove(self, names: Sequence[str]) -> None:
        """``fs.rm`` expands ``*``, ``?`` and ``[`` as patterns, and a manifest may name
        ``*``: such names go one by one."""
        paths = [self.path(n) for n in names]
        if not paths:
            return
        self._refuse_if_read_only()
        one_by_one = [p for p in paths if _GLOB_CHARS.search(p) or len(paths) == 1]
        try:
            literal = [p for p in paths if p not in one_by_one]
            if literal:
                self.direct.rm(literal)
        except Exception:
            one_by_one = paths
        for path in one_by_one:  # ignoring files already gone
            try:
                self.direct.rm_file(path)
            except Exception as exc:
                if not is_not_found(exc):
                    raise StorageError(
                        f"removing {self._unstrip(path)} failed: {type(exc).__name__}: {exc}"
                    ) from exc

    def remove_folder(self) -> None:
        if self.local:
            with contextlib.suppress(OSError):
                os.rmdir(self.folder)

    # -- listing --------------------------------------------------------------------

    def list(self) -> dict[str, FileInfo]:
        self.refresh()
        with self._errors("listing", ""):
            entries = self.direct.ls(self.folder, detail=True)
        return {
            posixpath.basename(e["name"].rstrip("/")): FileInfo(int(e.get("size") or 0), _mtime(e))
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
            out[rel] = FileInfo(int(size or 0), _mtime(info))
        return out


def _in_range(data: Any, start: int, end: int) -> Any:
    """A client that ignores ``start``/``end`` (sshfs) answers with the whole file: cut
    the range out of it. One that honours them never returns more than ``end - start``."""
    if len(data) > end - start:
        return data[start:end]
    return data


def _ftp_retrieve(fs: Any, path: str, limit: int | None) -> bytes:
    """A whole file over FTP, to its end: fsspec's ftp:// reads as many bytes as a
    listing said the file had, and a file replaced since comes back cut (or padded)."""
    import ftplib

    out = bytearray()
    fs.invalidate_cache(posixpath.dirname(path))
    try:
        fs.ftp.retrbinary(f"RETR {path}", out.extend, blocksize=1 << 16)
    except ftplib.error_perm as exc:
        if "550" in str(exc):
            raise FileNotFoundError(2, "No such file", path) from None
        raise
    if limit is not None and len(out) > limit + 1:
        del out[limit + 1 :]
    return bytes(out)

_MEMORY_LOCK = threading.Lock()
"""Serializes commits to memory:// (one filesystem per process)."""


def _is_precondition_failure(exc: BaseException) -> bool:
    """S3 answered 412 Precondition Failed (or 409 ConditionalRequestConflict: another
    conditional write to the key was in flight)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, FileExistsError):
            return True
        response = getattr(seen, "response", None)
        if isinstance(response, Mapping):
            error = response.get("Error") or {}
            code = str(error.get("Code", ""))
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (
                409,
                412,
            ):
                return True
        seen = seen.__cause__ or seen.__context__
    return False


def _joined(chunks: Iterable[memoryview]) -> bytes:
    """One request body: the bytes object itself when one view covers all of it (a file
    just read), else one joined copy."""
    views = list(chunks)
    if len(views) == 1 and isinstance(views[0].obj, bytes) and views[0].nbytes == len(
        views[0].obj
    ):
        return views[0].obj
    return b"".join(views)


def _read_local_range(path: str, start: int, end: int) -> bytearray:
    """Bytes ``[start, end)`` of a local file; fewer when the file ends before ``end``."""
    out = bytearray(max(0, end - start))
    view = memoryview(out)
    got = 0
    with open(path, "rb", buffering=0) as f:
        f.seek(start)
        while got < len(out):
            n = f.readinto(view[got:])
            if not n:
                break
            got += n
    del view
    if got < len(out):
        del out[got:]
    return out


class _LazyCondition:
    """An ``asyncio.Condition`` made on first use, inside the loop that waits on it."""

    def __init__(self) -> None:
        self._cond: asyncio.Condition | None = None

    def _get(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    async def __aenter__(self) -> None:
        await self._get().acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._get().release()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        await self._get().wait_for(predicate)

    def notify_all(self) -> None:
        self._get().notify_all()
