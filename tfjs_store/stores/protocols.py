"""What each fsspec protocol can do, and opening the filesystem of a URL.

The tables below are the one home of these facts: how model.json is replaced in one
step (an atomic put on object stores, a rename over the old file on local disk, SFTP,
WebDAV and FTP; on anything else a reader may see a partial model.json, and the store
says so with ``atomic_commit = False``), whether folders must be made before files go
in, whether a client can be used from several threads, and whether a filesystem can be
written at all (``zip://``, ``reference://`` cannot), and which ``FsspecStore``
subclass serves it (``STORE_CLASSES``). Cache and ``dir::`` wrappers are seen through
here too.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ..errors import HandlerError, MissingDependencyError, StorageError
from .async_batches import MAX_FILES_IN_FLIGHT

__all__ = [
    "ATOMIC_PUT_PROTOCOLS",
    "MOVE_DELETES_FIRST_PROTOCOLS",
    "ONE_CONNECTION_PROTOCOLS",
    "POOLED_PROTOCOLS",
    "PROTOCOL_ALIASES",
    "READ_ONLY_PROTOCOLS",
    "RENAME_REPLACES_PROTOCOLS",
    "STORE_CLASSES",
    "drop_cached_copies",
    "ensure_protocol_known",
    "info_mtime",
    "is_cache",
    "is_local",
    "is_not_found",
    "one_connection",
    "open_filesystem",
    "protocols",
    "remove_paths",
    "store_class_of",
    "unwrapped",
    "url_of",
]

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
a moment. A read there (model.json, or a content-named weight file two saves wrote at
once) waits out that gap (``renaming.GAP_WAITS``) before saying the file is not found."""
ONE_CONNECTION_PROTOCOLS = frozenset({"ftp"})
"""Clients with one connection that garbles replies when used from several threads."""
POOLED_PROTOCOLS = frozenset({"s3", "s3a"})
"""Clients whose pool of connections is smaller than the files a batch has in flight
(botocore's ``max_pool_connections``, 10): opened with ``MAX_FILES_IN_FLIGHT`` unless the
storage options say otherwise."""
PROTOCOL_ALIASES = {"dav": "webdav"}
"""Protocols a package claims (``WebdavFileSystem.protocol`` names ``dav``) that fsspec's
table does not list: opened with the implementation of the protocol they alias."""

STORE_CLASSES = {
    **dict.fromkeys(("s3", "s3a"), "s3:S3Store"),
    **dict.fromkeys(("gs", "gcs"), "gcs:GcsStore"),
    **dict.fromkeys(("az", "abfs", "abfss"), "azure:AzureStore"),
    "memory": "memory:MemoryStore",
    **dict.fromkeys(RENAME_REPLACES_PROTOCOLS, "renaming:RenamingStore"),
}
"""The store class of a protocol (of the filesystem under any cache or ``dir::``
wrapper), as ``module:Class`` of ``tfjs_store.stores``. A local filesystem
(``is_local``) gets ``local:LocalStore``; a protocol not listed the generic
``fsspec:FsspecStore``."""

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
    if protocol in POOLED_PROTOCOLS and "::" not in url:
        # botocore keeps 10 connections unless told: the 11th file in flight would wait
        # for one (a round trip more for every 10 files over a slow link).
        config = dict(options.get("config_kwargs") or {})
        config.setdefault("max_pool_connections", MAX_FILES_IN_FLIGHT)
        options["config_kwargs"] = config
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
    its paramiko SFTP filesystem (one channel; concurrent opens deadlock), also under a
    wrapper that passes calls to it (a cache, ``dir::``, ``testing.FaultyFileSystem``:
    whatever keeps it as ``.fs``)."""
    for _ in range(8):  # wrappers of wrappers, not a cycle
        inner = unwrapped(fs)
        if protocols(inner) & ONE_CONNECTION_PROTOCOLS:
            return True
        if type(inner).__module__ == "fsspec.implementations.sftp":
            return True
        fs = getattr(inner, "fs", None)
        if fs is None:
            return False
    return False


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


def store_class_of(fs: Any) -> str:
    """The store class (``module:Class``) that serves ``fs``: see ``STORE_CLASSES``."""
    if is_local(fs):
        return "local:LocalStore"
    kinds = sorted(protocols(unwrapped(fs)))
    return next((STORE_CLASSES[p] for p in kinds if p in STORE_CLASSES), "fsspec:FsspecStore")


def drop_cached_copies(fs: Any, folder: str) -> None:
    """A cache (``simplecache::``, ``filecache::``, ``blockcache::``) keys its copies
    by path, so it would serve a removed or replaced model: every load drops the
    folder's cached files first. What a cache saves is then the repeated reads within
    one load and the reads of other clients, never a stale model."""
    direct = fs.fs
    with contextlib.suppress(Exception):
        direct.invalidate_cache(folder)
    try:
        names = direct.find(folder)
    except Exception:
        return
    for path in names:
        with contextlib.suppress(Exception):
            fs.pop_from_cache(path)
        # simplecache keeps no metadata to pop: its copy is the file _check_file finds.
        with contextlib.suppress(Exception):
            copy = fs._check_file(path)
            if isinstance(copy, str) and os.path.isfile(copy):
                os.remove(copy)


def info_mtime(info: Mapping[str, Any]) -> datetime | None:
    """When a file was last written, from what ``fs.info``/``fs.ls`` told of it."""
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


def url_of(fs: Any, protocol: str, path: str) -> str:
    """A URL that opens ``path`` of ``fs`` again: ``dir::`` kept, the archive of a
    ``zip://`` path named."""
    from fsspec.implementations.dirfs import DirFileSystem

    inner = unwrapped(fs)
    if isinstance(fs, DirFileSystem):
        with contextlib.suppress(Exception):
            return f"dir::{fs.fs.unstrip_protocol(fs._join(path))}"
    archive: Any = getattr(inner, "of", None)
    if fs is inner and protocol in READ_ONLY_PROTOCOLS and hasattr(archive, "fs"):
        with contextlib.suppress(Exception):
            source = archive.fs.unstrip_protocol(archive.path)
            return f"{protocol}://{path.lstrip('/')}::{source}"
    try:
        return str(fs.unstrip_protocol(path))
    except Exception:  # pragma: no cover - exotic filesystems
        return path


_GLOB_CHARS = re.compile(r"[*?\[]")


def remove_paths(fs: Any, paths: Sequence[str]) -> None:
    """Remove files by their literal paths, ignoring those already gone (a failure is a
    ``RemovalError`` naming the path). ``fs.rm`` expands ``*``, ``?`` and ``[`` as
    patterns, and a manifest may name ``*``: such paths go one by one (and all of them,
    after a failed batch)."""
    one_by_one = [p for p in paths if _GLOB_CHARS.search(p) or len(paths) == 1]
    try:
        literal = [p for p in paths if p not in one_by_one]
        if literal:
            fs.rm(literal)
    except Exception:
        one_by_one = list(paths)
    for path in one_by_one:
        try:
            fs.rm_file(path)
        except Exception as exc:
            if not is_not_found(exc):
                raise RemovalError(path) from exc


class RemovalError(Exception):
    """``remove_paths`` failed at ``path`` (the cause is the filesystem's error)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path
