"""Every fsspec URL as an IOHandler: file, memory, s3, gcs, az, chained URLs, plugins.

The commit protocol (why no reader ever sees a torn model):

1. read the current model.json, if any, to know the files of the model being replaced;
2. write the new weight files under names unique to this save (``…​.<tag>.bin``);
3. write model.json last, in one step (a single PUT on object stores, write-then-rename
   on a local disk);
4. only then remove the replaced model's files and stale leftovers of crashed saves.

A reader that finds a weight file gone (a concurrent save just replaced the model)
reads model.json again and retries. Weight files are read and written concurrently,
with bounded concurrency, and streamed: a save holds at most ``max_concurrency``
shard-sized copies on top of the caller's arrays.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import posixpath
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Literal

import numpy

from ..errors import (
    IntegrityError,
    InvalidModelError,
    MissingDependencyError,
    ModelNotFoundError,
    StorageError,
    WeightDataError,
)
from ..format.artifacts import ModelArtifacts
from ..format.codec import weight_byte_ranges
from ..format.jsonfmt import Layout, js_stringify, model_json_object, parse_model_json
from ..format.layout import (
    ShardFile,
    StoragePlan,
    manifest_paths,
    plan_storage,
    safe_relative_path,
)
from ..format.schemas import ModelArtifactsInfo, ModelJSON, SaveResult
from ..format.shards import DEFAULT_SHARD_SIZE, CompositeBuffer, shard_save_tag

__all__ = ["RECORD_KEY", "FsspecHandler", "open_filesystem"]

RECORD_KEY = "tfjsStore"
"""Top-level model.json key where tfjs-store records file sizes and SHA-256 digests.

TF.js ignores unknown top-level keys, so the model stays loadable by TF.js."""

LayoutName = Literal["shards", "tfjs-node", "downloads"]

_TEMP_JSON = re.compile(r"^.+\.json\.([0-9a-z]{12})\.tmp$")
_GLOB_CHARS = re.compile(r"[*?\[]")
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
STALE_AFTER_SECONDS = 3600.0
"""Leftovers of a save that died are removed by a later save once this old."""
_LOAD_RETRIES = 5
MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024
"""A model.json larger than this is refused unread (real ones are at most a few MB)."""


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

    if url.split("://", 1)[0].split("::")[-1] in ("gs", "gcs"):
        # gcsfs probes a gRPC endpoint on first use unless told not to (a ~60 s wait).
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    try:
        fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    except ImportError as exc:
        protocol = url.split("://", 1)[0].split("::")[-1]
        hint = _INSTALL_HINTS.get(protocol)
        extra = f"; install it with: pip install '{hint}'" if hint else ""
        raise MissingDependencyError(
            f"the package for {protocol}:// URLs is not installed ({exc}){extra}"
        ) from None
    except ValueError as exc:
        if "Protocol not known" in str(exc):
            from ..errors import HandlerError

            raise HandlerError(f"no filesystem is known for URL '{url}'") from None
        raise
    return fs, str(path)


def _is_local(fs: Any) -> bool:
    """Paths are OS paths: a LocalFileSystem, or a wrapper that passes paths to one
    unchanged and says so as ``local_filesystem`` (``tfjs_store.testing.FaultyFileSystem``).
    Local writes still go through ``fs`` so that such a wrapper sees every one."""
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem) or isinstance(
        getattr(fs, "local_filesystem", None), LocalFileSystem
    )


def _is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, FileNotFoundError) or (
        isinstance(exc, OSError) and getattr(exc, "errno", None) == 2
    )


def _storage_error(action: str, path: str, exc: BaseException) -> StorageError:
    return StorageError(f"{action} {path} failed: {type(exc).__name__}: {exc}")


def _file_mtime(info: Mapping[str, Any]) -> datetime | None:
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


class _Progress:
    """Calls ``callback(fraction)`` as files complete, as TF.js's ``onProgress`` does."""

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


class FsspecHandler:
    """Saves and loads a model at an fsspec URL (a folder, or a model JSON file in one).

    Parameters
    ----------
    url:
        ``s3://bucket/models/m1``, ``file:///data/m1``, ``/data/m1/model.json``,
        ``memory://m1``, ``simplecache::gs://b/m1`` …
    storage_options:
        Passed to fsspec (credentials, endpoints), as in pandas, xarray and zarr.
    layout:
        ``"shards"`` (default): the converter's ``groupN-shardIofM`` files, cut at
        ``shard_size_bytes``, named uniquely per save, with sizes and SHA-256 digests
        recorded in model.json. ``"tfjs-node"``: one ``weights.bin`` and model.json
        bytes exactly as tfjs-node's ``file://`` writes them. ``"downloads"``: the
        browser's ``NAME.json`` + ``NAME.weights.bin`` pair.
    checksums:
        Record SHA-256 digests (default: on for ``shards``, off for the byte-exact
        TF.js layouts).
    verify:
        On load, check recorded digests (sizes are always checked).
    max_concurrency:
        Weight files in flight at once.
    on_progress:
        Called with the fraction of weight files written or read so far (0 < f <= 1).
    """

    def __init__(
        self,
        url: str,
        *,
        storage_options: Mapping[str, Any] | None = None,
        layout: LayoutName = "shards",
        shard_size_bytes: int = DEFAULT_SHARD_SIZE,
        checksums: bool | None = None,
        verify: bool = True,
        max_concurrency: int = 16,
        filesystem: Any = None,
        on_progress: Callable[[float], Any] | None = None,
    ) -> None:
        if layout not in ("shards", "tfjs-node", "downloads"):
            raise ValueError(
                f"unknown layout {layout!r}; choose 'shards', 'tfjs-node' or 'downloads'"
            )
        if not isinstance(shard_size_bytes, int) or shard_size_bytes <= 0:
            raise ValueError(
                f"shard_size_bytes must be a positive integer, got {shard_size_bytes!r}"
            )
        self.url = url
        if filesystem is not None:
            self.fs, path = filesystem, filesystem._strip_protocol(url)
        else:
            self.fs, path = open_filesystem(url, storage_options)
        path = path.rstrip("/") or "/"
        if path.endswith(".json"):
            self.folder, self.json_name = posixpath.split(path)
        else:
            self.folder, self.json_name = path, "model.json"
        self.layout: LayoutName = layout
        if layout == "downloads" and self.json_name == "model.json" and not path.endswith(".json"):
            self.json_name = "model.json"
        self.shard_size_bytes = shard_size_bytes
        self.checksums = (layout == "shards") if checksums is None else checksums
        self.verify = verify
        self.max_concurrency = max(1, int(max_concurrency))
        self.on_progress = on_progress
        self._progress: _Progress | None = None

    # -- paths -----------------------------------------------------------------------

    def _path(self, name: str) -> str:
        return f"{self.folder.rstrip('/')}/{name}" if self.folder != "/" else f"/{name}"

    @property
    def json_path(self) -> str:
        return self._path(self.json_name)

    def _url(self, path: str) -> str:
        try:
            return str(self.fs.unstrip_protocol(path))
        except Exception:  # pragma: no cover - exotic filesystems
            return path

    # -- save ------------------------------------------------------------------------

    def _plan(self, artifacts: ModelArtifacts, tag: str) -> tuple[StoragePlan, Layout]:
        if self.layout == "shards":
            plan = plan_storage(
                artifacts, layout="shards", shard_size_bytes=self.shard_size_bytes, tag=tag
            )
            return plan, "tfjs"
        if self.layout == "tfjs-node":
            return plan_storage(artifacts, layout="single", single_path="weights.bin"), "tfjs-node"
        stem = self.json_name[: -len(".json")]
        plan = plan_storage(artifacts, layout="single", single_path=f"./{stem}.weights.bin")
        return plan, "tfjs"

    def save(self, artifacts: ModelArtifacts) -> SaveResult:
        """Write the weight files, then model.json, then remove what the save replaced."""
        tag = new_save_tag()
        plan, key_order = self._plan(artifacts, tag)
        previous = self._read_previous_paths()
        self._ensure_folder()
        digests = self._write_files(plan.files, plan.data)
        record = None
        if self.checksums:
            record = {
                RECORD_KEY: {
                    "version": 1,
                    "saveId": tag,
                    "files": {
                        f.path: {"size": f.size, "sha256": digests[f.path]} for f in plan.files
                    },
                }
            }
        body = js_stringify(model_json_object(plan.model_json, key_order, record)).encode(
            "utf-8", "surrogatepass"
        )
        self._commit_json(body, tag)
        keep = {safe_relative_path(f.path) for f in plan.files}
        self._remove_replaced(previous - keep, keep)
        info = artifacts.info()
        return SaveResult(model_artifacts_info=info, url=self._url(self.json_path))

    def _ensure_folder(self) -> None:
        if _is_local(self.fs):
            try:
                self.fs.makedirs(self.folder, exist_ok=True)
            except FileExistsError:
                raise StorageError(
                    f"path {self.folder} exists as a file; it must be absent or a folder"
                ) from None
            except OSError as exc:
                raise _storage_error("creating folder", self.folder, exc) from exc

    def _cat_json(self) -> bytes:
        """model.json's bytes, reading at most ``MAX_MODEL_JSON_BYTES`` + 1 of them."""
        limit = MAX_MODEL_JSON_BYTES
        if _is_local(self.fs):  # a ranged read would allocate the whole range first
            with open(self.json_path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                raw = f.read(size + 1) if size <= limit else b""
            if size > limit or len(raw) > limit:
                raise InvalidModelError(
                    f"{self._url(self.json_path)} is larger than {limit} bytes; "
                    "a model JSON file that big is refused"
                )
            return raw
        try:
            raw = self.fs.cat_file(self.json_path, start=0, end=limit + 1)
        except OSError as exc:
            if _is_not_found(exc) or isinstance(exc, IsADirectoryError):
                raise
            raw = self.fs.cat_file(self.json_path)  # S3 refuses a range of an empty object
        if len(raw) > limit:
            raise InvalidModelError(
                f"{self._url(self.json_path)} is larger than {limit} bytes; "
                "a model JSON file that big is refused"
            )
        return bytes(raw)

    def _read_previous_paths(self) -> set[str]:
        try:
            raw = self._cat_json()
        except InvalidModelError:
            return set()
        except Exception as exc:
            if _is_not_found(exc):
                return set()
            raise _storage_error("reading", self.json_path, exc) from exc
        try:
            old = parse_model_json(raw, self._url(self.json_path))
            return {safe_relative_path(p) for p in old.weight_paths}
        except InvalidModelError:
            return set()  # an unreadable old model.json: nothing of it to clean up safely

    def _write_files(self, files: Sequence[ShardFile], data: CompositeBuffer) -> dict[str, str]:
        self._progress = _Progress(self.on_progress, len(files))
        digests: dict[str, str] = {}
        want_digest = self.checksums

        if _is_local(self.fs):

            def write_local(f: ShardFile) -> tuple[str, str]:
                path = self._path(safe_relative_path(f.path))
                parent = posixpath.dirname(path)
                h = hashlib.sha256() if want_digest else None
                try:
                    if parent != self.folder:
                        self.fs.makedirs(parent, exist_ok=True)
                    with self.fs.open(path, "wb") as out:
                        for view in data.iter_ranges(f.start, f.end):
                            out.write(view)
                            if h is not None:
                                h.update(view)
                except OSError as exc:
                    raise _storage_error("writing", path, exc) from exc
                self._step()
                return f.path, h.hexdigest() if h is not None else ""

            with ThreadPoolExecutor(min(self.max_concurrency, 8)) as pool:
                digests.update(pool.map(write_local, files))
            return digests

        def prepare(f: ShardFile) -> tuple[bytes, str]:
            # One copy: read() would join a range that spans buffers, then bytes() copy it again
            chunk = b"".join(data.iter_ranges(f.start, f.end))
            return chunk, (hashlib.sha256(chunk).hexdigest() if want_digest else "")

        if getattr(self.fs, "async_impl", False):
            from fsspec.asyn import sync

            async def write_all() -> None:
                sem = asyncio.Semaphore(self.max_concurrency)
                loop = asyncio.get_running_loop()

                async def one(f: ShardFile) -> None:
                    async with sem:
                        chunk, hexdigest = await loop.run_in_executor(None, prepare, f)
                        path = self._path(safe_relative_path(f.path))
                        try:
                            await self.fs._pipe_file(path, chunk)
                        except Exception as exc:
                            raise _storage_error("writing", self._url(path), exc) from exc
                        digests[f.path] = hexdigest
                        self._step()

                await asyncio.gather(*(one(f) for f in files))

            sync(self.fs.loop, write_all)
            return digests

        def write_sync(f: ShardFile) -> tuple[str, str]:
            chunk, hexdigest = prepare(f)
            path = self._path(safe_relative_path(f.path))
            try:
                self.fs.pipe_file(path, chunk)
            except Exception as exc:
                raise _storage_error("writing", self._url(path), exc) from exc
            self._step()
            return f.path, hexdigest

        with ThreadPoolExecutor(self.max_concurrency) as pool:
            digests.update(pool.map(write_sync, files))
        return digests

    def _commit_json(self, body: bytes, tag: str) -> None:
        target = self.json_path
        try:
            if _is_local(self.fs):
                temp = f"{target}.{tag}.tmp"
                with self.fs.open(temp, "wb") as out:
                    out.write(body)
                if self.fs.isdir(target):  # mv would move the file into it
                    raise IsADirectoryError(f"{target} is a folder")
                self.fs.mv(temp, target)  # a rename: atomic
            else:
                self.fs.pipe_file(target, body)
        except Exception as exc:
            raise _storage_error("writing", self._url(target), exc) from exc

    def _remove_replaced(self, replaced: set[str], keep: set[str]) -> None:
        """Remove the replaced model's files, and leftovers of saves that died."""
        doomed = [self._path(p) for p in sorted(replaced)]
        doomed += self._stale_leftovers(keep, STALE_AFTER_SECONDS)
        self._remove_paths(doomed)

    def _stale_leftovers(self, keep: set[str], older_than: float) -> list[str]:
        try:
            self._forget_listing()
            names = [posixpath.basename(p) for p in self.fs.ls(self.folder, detail=False)]
        except Exception:
            return []
        now = time.time()
        out = []
        for name in names:
            temp = _TEMP_JSON.match(name)
            tag = shard_save_tag(name) or (temp.group(1) if temp else None)
            if tag and name not in keep and tag_age_seconds(tag, now) >= older_than:
                out.append(self._path(name))
        return out

    def _remove_paths(self, paths: Sequence[str]) -> None:
        """Remove exactly these files. ``fs.rm`` expands ``*``, ``?`` and ``[`` as
        patterns, and a manifest may name ``*``: such names go one by one."""
        if not paths:
            return
        one_by_one = [p for p in paths if _GLOB_CHARS.search(p)]
        try:
            literal = [p for p in paths if not _GLOB_CHARS.search(p)]
            if literal:
                self.fs.rm(literal)
        except Exception:
            one_by_one = list(paths)
        for path in one_by_one:  # ignoring files already gone
            try:
                self.fs.rm_file(path)
            except Exception as exc:
                if not _is_not_found(exc):
                    raise _storage_error("removing", self._url(path), exc) from exc

    def clean(self, older_than: float = 0.0) -> list[str]:
        """Remove weight files and temporary files no committed model.json refers to.

        Only files named by tfjs-store's own save protocol are considered, and only
        those older than ``older_than`` seconds (a save in progress is younger).
        """
        keep = self._read_previous_paths()
        doomed = self._stale_leftovers(keep, older_than)
        self._remove_paths(doomed)
        return [self._url(p) for p in doomed]

    # -- load ------------------------------------------------------------------------

    def _forget_listing(self) -> None:
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache(self.folder)

    def _read_json(self) -> bytes:
        try:
            raw = self._cat_json()
        except InvalidModelError:
            raise
        except Exception as exc:
            if _is_not_found(exc) or isinstance(exc, IsADirectoryError):
                raise ModelNotFoundError(
                    f"no model at {self._url(self.json_path)}: {self.json_name} does not exist"
                ) from None
            raise _storage_error("reading", self._url(self.json_path), exc) from exc
        return bytes(raw)

    def read_model_json(self) -> ModelJSON:
        """The validated model.json, without reading any weight file."""
        return parse_model_json(self._read_json(), self._url(self.json_path))

    def load(self) -> ModelArtifacts:
        """Read model.json, then every weight file concurrently; check sizes (and digests)."""
        # Another client may have written these files since this (possibly shared,
        # cached) filesystem instance last listed the folder: never trust that listing.
        self._forget_listing()
        raw = self._read_json()
        for _attempt in range(_LOAD_RETRIES):
            model_json = parse_model_json(raw, self._url(self.json_path))
            try:
                buffers = self._read_weights(model_json)
            except ModelNotFoundError:
                latest = self._read_json()
                if latest == raw:
                    raise
                raw = latest  # replaced by a concurrent save: read the new model
                continue
            return self._artifacts(model_json, buffers)
        raise StorageError(
            f"{self._url(self.json_path)} kept changing while it was read ({_LOAD_RETRIES} tries)"
        )

    def _artifacts(self, model_json: ModelJSON, buffers: list[Any]) -> ModelArtifacts:
        # Check every group on its own: a short shard in one group and a long one in
        # the next would otherwise cancel out.
        pos = 0
        for g, group in enumerate(model_json.weights_manifest or [], start=1):
            group_buffers = buffers[pos : pos + len(group.paths)]
            pos += len(group.paths)
            try:
                weight_byte_ranges(group.weights, CompositeBuffer(group_buffers))
            except WeightDataError as exc:
                raise WeightDataError(
                    f"{self._url(self.json_path)}: weights group {g} "
                    f"({', '.join(group.paths) or 'no files'}): {exc}"
                ) from None
        return ModelArtifacts.from_model_json(model_json, buffers, drop_keys=(RECORD_KEY,))

    def _record(self, model_json: ModelJSON) -> dict[str, Any]:
        record = (model_json.model_extra or {}).get(RECORD_KEY)
        files = record.get("files") if isinstance(record, dict) else None
        return files if isinstance(files, dict) else {}

    def _read_weights(self, model_json: ModelJSON) -> list[Any]:
        rel_paths = manifest_paths(model_json)
        record = self._record(model_json)
        paths = [self._path(p) for p in rel_paths]
        if not paths:
            return []
        self._progress = _Progress(self.on_progress, len(paths))
        if _is_local(self.fs):
            buffers = self._read_local(paths)
        elif getattr(self.fs, "async_impl", False):
            nonempty = [
                _recorded_size(record, manifest_path, rel) > 0
                for manifest_path, rel in zip(model_json.weight_paths, rel_paths, strict=True)
            ]
            buffers = self._read_async(paths, nonempty)
        else:
            buffers = _map_until_error(self._read_one, paths, self.max_concurrency)
        self._check_files(model_json.weight_paths, rel_paths, buffers, record)
        return buffers

    def _missing(self, path: str) -> ModelNotFoundError:
        return ModelNotFoundError(
            f"weight file {self._url(path)} named in {self.json_name} does not exist"
        )

    def _step(self) -> None:
        if self._progress is not None:
            self._progress.step()

    def _read_one(self, path: str) -> bytes:
        try:
            data = bytes(self.fs.cat_file(path))
            self._step()
            return data
        except Exception as exc:
            if _is_not_found(exc):
                raise self._missing(path) from None
            raise _storage_error("reading", self._url(path), exc) from exc

    def _read_local(self, paths: Sequence[str]) -> list[Any]:
        def read(path: str) -> numpy.ndarray[Any, Any]:
            try:
                with open(path, "rb", buffering=0) as f:
                    size = os.fstat(f.fileno()).st_size
                    # Not bytearray(size): it zero-fills every page before the read
                    # overwrites it (~0.6 s per GiB here); numpy.empty leaves them untouched.
                    buf = numpy.empty(size, numpy.uint8)
                    view = buf.data
                    got = 0
                    while got < size:
                        n = f.readinto(view[got:])
                        if not n:
                            break
                        got += n
                    self._step()
                    return buf if got == size else buf[:got]
            except FileNotFoundError:
                raise self._missing(path) from None
            except IsADirectoryError:
                raise self._missing(path) from None
            except OSError as exc:
                raise _storage_error("reading", path, exc) from exc

        return _map_until_error(read, paths, min(self.max_concurrency, 8))

    def _read_async(self, paths: Sequence[str], nonempty: Sequence[bool]) -> list[Any]:
        from fsspec.asyn import sync

        async def cat_whole(path: str, ranged: bool) -> Any:
            if ranged:
                # A read "from byte 0": s3fs otherwise sends a HEAD (for the size) before
                # every GET, doubling the round trips per shard.
                try:
                    return await self.fs._cat_file(path, start=0)
                except Exception as exc:
                    if _is_not_found(exc):
                        raise
                    # e.g. S3 refuses a range of an object that is now empty: read it plainly
            return await self.fs._cat_file(path)

        async def read_all() -> list[Any]:
            out: list[Any] = [None] * len(paths)
            todo = iter(enumerate(paths))

            async def worker() -> None:  # a fixed set of workers, not a task per file
                for i, path in todo:
                    try:
                        out[i] = await cat_whole(path, nonempty[i])
                        self._step()
                    except Exception as exc:
                        if _is_not_found(exc):
                            raise self._missing(path) from None
                        raise _storage_error("reading", self._url(path), exc) from exc

            workers = [
                asyncio.ensure_future(worker())
                for _ in range(min(len(paths), max(self.max_concurrency, 32)))
            ]
            try:
                await asyncio.gather(*workers)
            except BaseException:  # the first error stops the reads still to come
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                raise
            return out

        result: list[Any] = sync(self.fs.loop, read_all)
        return result

    def _check_files(
        self,
        manifest_paths: Sequence[str],
        rel_paths: Sequence[str],
        buffers: Sequence[Any],
        record: Mapping[str, Any],
    ) -> None:
        digest_jobs: list[tuple[str, Any, str]] = []
        for manifest_path, rel, buf in zip(manifest_paths, rel_paths, buffers, strict=False):
            entry = record.get(manifest_path) or record.get(rel)
            if not isinstance(entry, dict):
                continue
            size = entry.get("size")
            if isinstance(size, int) and size != len(buf):
                raise WeightDataError(
                    f"weight file {self._url(self._path(rel))} is {len(buf)} bytes but "
                    f"{self.json_name} recorded {size} bytes"
                )
            digest = entry.get("sha256")
            if self.verify and isinstance(digest, str):
                digest_jobs.append((rel, buf, digest))
        if not digest_jobs:
            return

        def check(job: tuple[str, Any, str]) -> str | None:
            rel, buf, digest = job
            if hashlib.sha256(buf).hexdigest() != digest:
                return rel
            return None

        with ThreadPoolExecutor(min(4, len(digest_jobs))) as pool:
            bad = [r for r in pool.map(check, digest_jobs) if r is not None]
        if bad:
            raise IntegrityError(
                f"SHA-256 of weight file(s) {', '.join(bad)} in {self._url(self.folder)} "
                f"does not match the digest recorded in {self.json_name}: "
                "the bytes changed after the save"
            )

    # -- management ------------------------------------------------------------------

    def remove_model(self) -> ModelArtifactsInfo:
        """Remove model.json first (the model disappears at once), then its files."""
        raw = self._read_json()
        model_json = parse_model_json(raw, self._url(self.json_path))
        rel = []
        for p in model_json.weight_paths:
            try:
                rel.append(safe_relative_path(p))
            except InvalidModelError:
                continue  # never follow an escaping path, not even to delete it
        sizes: dict[str, int] | None = None
        if not self._record(model_json):  # no recorded sizes: the specs miss string bytes
            sizes = {}
            for r in rel:
                with contextlib.suppress(Exception):
                    sizes[self._path(r)] = int(self.fs.size(self._path(r)))
        info = self._info_from_json(model_json, sizes, None)
        try:
            self.fs.rm_file(self.json_path)
        except Exception as exc:
            raise _storage_error("removing", self._url(self.json_path), exc) from exc
        self._remove_paths([self._path(p) for p in rel])
        self._remove_paths(self._stale_leftovers(set(), 0.0))
        if _is_local(self.fs):
            with contextlib.suppress(OSError):
                os.rmdir(self.folder)
        return info

    def _info_from_json(
        self,
        model_json: ModelJSON,
        sizes: Mapping[str, int] | None,
        mtime: datetime | None,
        folder: str | None = None,
    ) -> ModelArtifactsInfo:
        from ..format.jsonfmt import json_byte_length
        from ..format.schemas import json_object

        record = self._record(model_json)
        total = 0
        for p in model_json.weight_paths:
            entry = record.get(p)
            if isinstance(entry, dict) and isinstance(entry.get("size"), int):
                total += entry["size"]
            elif sizes is not None:
                with contextlib.suppress(InvalidModelError):
                    rel = safe_relative_path(p)  # relative to the model's own folder
                    total += sizes.get(f"{folder}/{rel}" if folder else self._path(rel), 0)
        if not record and sizes is None:  # no sizes at hand: what the specs say
            total = sum(s.byte_length or 0 for s in model_json.weight_specs)
        return ModelArtifactsInfo(
            date_saved=mtime or datetime.now(timezone.utc),
            model_topology_type="JSON",
            model_topology_bytes=json_byte_length(model_json.model_topology),
            weight_specs_bytes=json_byte_length([json_object(s) for s in model_json.weight_specs])
            if model_json.weights_manifest is not None
            else 0,
            weight_data_bytes=total,
        )

    def list_models(self) -> dict[str, ModelArtifactsInfo]:
        """Every model under this URL: folder URL -> info. Folders without model.json
        (a save that never committed) are not models and are not listed."""
        try:
            found = self.fs.find(self.folder, detail=True)
        except FileNotFoundError:
            return {}
        except Exception as exc:
            raise _storage_error("listing", self._url(self.folder), exc) from exc
        sizes = {p: int(i.get("size") or 0) for p, i in found.items()}
        json_paths = [p for p in found if posixpath.basename(p) == "model.json"]
        if not json_paths:
            return {}
        if getattr(self.fs, "async_impl", False):
            contents = self.fs.cat(json_paths, on_error="return")
        else:
            contents = {}
            for p in json_paths:
                try:
                    contents[p] = self.fs.cat_file(p)
                except Exception as exc:
                    contents[p] = exc
        out: dict[str, ModelArtifactsInfo] = {}
        for path in sorted(json_paths):
            raw = contents.get(path)
            if not isinstance(raw, (bytes, bytearray)):
                continue
            try:
                model_json = parse_model_json(raw, path)
            except InvalidModelError:
                continue
            folder = posixpath.dirname(path)
            out[self._url(folder)] = self._info_from_json(
                model_json, sizes, _file_mtime(found[path]), folder
            )
        return out


def _recorded_size(record: Mapping[str, Any], manifest_path: str, rel: str) -> int:
    """The size tfjs-store recorded for a weight file, or -1 when none was recorded."""
    entry = record.get(manifest_path) or record.get(rel)
    size = entry.get("size") if isinstance(entry, dict) else None
    return size if isinstance(size, int) and not isinstance(size, bool) else -1


def _map_until_error(fn: Callable[[str], Any], items: Sequence[str], workers: int) -> list[Any]:
    """``fn`` over ``items`` on a few threads, results in order. The first error stops
    the calls still to come (a manifest of 20 000 missing files fails at once)."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    out: list[Any] = [None] * len(items)
    todo = iter(enumerate(items))
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

    with ThreadPoolExecutor(min(workers, len(items))) as pool:
        for _ in range(min(workers, len(items))):
            pool.submit(worker)
    if errors:
        raise errors[0]
    return out
