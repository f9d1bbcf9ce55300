"""Any fsspec filesystem as a byte store: file, memory, s3, gcs, az, chained URLs, plugins.

Only what differs between filesystems lives here: local disks read each file straight
into its place (``readinto``) and commit by rename; async filesystems (object stores)
run every batch on their event loop, bounding the bytes in flight; any other
filesystem gets threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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
    if protocol in ("gs", "gcs"):
        # gcsfs probes a gRPC endpoint on first use unless told not to (a ~60 s wait).
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    try:
        fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
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
    return fs, str(path)


def is_local(fs: Any) -> bool:
    """Paths are OS paths: a LocalFileSystem, or a wrapper that passes paths to one
    unchanged and says so as ``local_filesystem`` (``tfjs_store.testing.FaultyFileSystem``).
    Local writes still go through ``fs`` so that such a wrapper sees every one."""
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem) or isinstance(
        getattr(fs, "local_filesystem", None), LocalFileSystem
    )


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, FileNotFoundError) or (
        isinstance(exc, OSError) and getattr(exc, "errno", None) == 2
    )


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

    supports_ranges = True  # every fsspec filesystem takes cat_file(start=, end=)

    def __init__(self, fs: Any, folder: str, *, max_concurrency: int = 16) -> None:
        self.fs = fs
        self.folder = folder.rstrip("/") or "/"
        self.max_concurrency = max(1, int(max_concurrency))
        self.local = is_local(fs)
        self.is_async = bool(getattr(fs, "async_impl", False)) and not self.local

    @classmethod
    def from_url(
        cls,
        url: str,
        /,
        storage_options: Mapping[str, Any] | None = None,
        *,
        filesystem: Any = None,
        max_concurrency: int = 16,
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

    def read(self, name: str, *, limit: int | None = None) -> Any:
        path = self.path(name)
        with self._errors("reading", name):
            if self.local:  # a ranged read would allocate the whole range first
                with open(path, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    if limit is not None and size > limit:
                        return f.read(limit + 1)
                    return f.read()
            if limit is None:
                return self.fs.cat_file(path)
            try:
                return self.fs.cat_file(path, start=0, end=limit + 1)
            except OSError as exc:
                if is_not_found(exc) or isinstance(exc, IsADirectoryError):
                    raise
                return self.fs.cat_file(path)  # S3 refuses a range of an empty object

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
            return int(self.fs.size(self.path(name)))
        except Exception:
            return None

    def read_range(self, name: str, start: int, end: int) -> Any:
        with self._errors("reading", name):
            if self.local:  # only the range is read and allocated
                return _read_local_range(self.path(name), start, end)
            return self.fs.cat_file(self.path(name), start=start, end=end)

    def read_ranges(self, jobs: Sequence[tuple[str, int, int]]) -> list[Any]:
        if not self.is_async:
            return super().read_ranges(jobs)
        out: list[Any] = [None] * len(jobs)

        async def one(i: int, loop: asyncio.AbstractEventLoop) -> None:
            name, start, end = jobs[i]
            with self._errors("reading", name):  # start and end given: one ranged GET
                out[i] = await self.fs._cat_file(self.path(name), start=start, end=end)

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
        if not self.local:
            return  # object stores have no folders to make
        try:
            self.fs.makedirs(self.folder, exist_ok=True)
        except FileExistsError:
            raise StorageError(
                f"path {self.folder} exists as a file; it must be absent or a folder"
            ) from None
        except OSError as exc:
            raise StorageError(f"creating folder {self.folder} failed: {exc}") from exc

    def write(self, job: WriteJob) -> None:
        path = self.path(job.name)
        with self._errors("writing", job.name):
            if self.local:
                parent = posixpath.dirname(path)
                if parent != self.folder:
                    self.fs.makedirs(parent, exist_ok=True)
                with self.fs.open(path, "wb") as out:
                    for view in job.chunks():
                        out.write(view)
            else:
                self.fs.pipe_file(path, _joined(job.chunks()))

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
                with self._errors("writing", job.name):
                    await self.fs._pipe_file(self.path(job.name), chunk)
                del chunk
                on_file(i)
            finally:
                async with cond:
                    budget[0] += need
                    cond.notify_all()

        cond = _LazyCondition()
        self._run_async(one, len(jobs), max(self.max_concurrency, MAX_FILES_IN_FLIGHT))

    def commit(
        self,
        name: str,
        data: bytes,
        *,
        temp_name: str | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str | None:
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
            if self.cas_kind != "memory":
                self.fs.pipe_file(target, data)
                return None
            with self._commit_lock():
                if conditional:
                    self._check_precondition(name, if_match, if_none_match)
                self.fs.pipe_file(target, data)
            return content_version(data)

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
                raise ConflictError(
                    f"{self.file_url(name)} is not at the version the save was made "
                    f"against ({'if_none_match' if if_none_match else f'if_match {if_match}'})"
                ) from None
            raise
        etag = out.get("etag") if isinstance(out, Mapping) else None
        return str(etag).strip('"') if etag else None

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
                raise ConflictError(
                    f"{self.file_url(name)} is not at the version the save was made "
                    f"against ({'if_none_match' if if_none_match else 'if_match ' + str(if_match)})"
                ) from None
            raise
        etag = out.get("ETag") if isinstance(out, Mapping) else None
        return str(etag).strip('"') if etag else None

    def remove(self, names: Sequence[str]) -> None:
        """``fs.rm`` expands ``*``, ``?`` and ``[`` as patterns, and a manifest may name
        ``*``: such names go one by one."""
        paths = [self.path(n) for n in names]
        if not paths:
            return
        one_by_one = [p for p in paths if _GLOB_CHARS.search(p) or len(paths) == 1]
        try:
            literal = [p for p in paths if p not in one_by_one]
            if literal:
                self.fs.rm(literal)
        except Exception:
            one_by_one = paths
        for path in one_by_one:  # ignoring files already gone
            try:
                self.fs.rm_file(path)
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
            entries = self.fs.ls(self.folder, detail=True)
        return {
            posixpath.basename(e["name"].rstrip("/")): FileInfo(int(e.get("size") or 0), _mtime(e))
            for e in entries
            if e.get("type", "file") == "file"
        }

    def walk(self) -> dict[str, FileInfo]:
        try:
            found = self.fs.find(self.folder, detail=True)
        except FileNotFoundError:
            return {}
        except Exception as exc:
            raise StorageError(
                f"listing {self.url} failed: {type(exc).__name__}: {exc}"
            ) from exc
        prefix = self.folder.rstrip("/") + "/"
        out = {}
        for path, info in found.items():
            rel = path[len(prefix):] if path.startswith(prefix) else posixpath.basename(path)
            out[rel] = FileInfo(int(info.get("size") or 0), _mtime(info))
        return out


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
