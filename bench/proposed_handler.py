"""A prototype of a proposed change to ``FsspecHandler``'s load path, kept here so the
numbers in BENCHMARKS.md can be reproduced side by side with the current handler:

    python bench/run.py --handler bench/proposed_handler.py:GroupBufferHandler ...

What it changes (load only; saving is untouched):

1. One buffer per manifest group, each weight file read *into its place* in it (local
   files with ``readinto``; other filesystems copy each file's bytes into place and drop
   them). Weights never straddle two buffers, so ``decode_weights`` returns views for all
   of them: no second copy of the weights at decode (today every weight that crosses a
   4 MiB shard boundary is joined into a new array while the shards stay referenced).
   Used when the file sizes are known before reading (local ``stat``, or the sizes
   tfjs-store records in model.json) and add up to what the group's weight specs say;
   otherwise the current per-file path runs unchanged.
   Recorded SHA-256 digests are checked by the reader of each file as soon as its bytes
   land (in cache, overlapping the other reads) instead of in one pass after all reads.
2. With a recorded size, remote reads ask for ``start=0``: s3fs then sends one ranged GET
   instead of a HEAD (for the size) plus a GET per file, halving round trips on S3.
3. Saves to async (object-store) filesystems bound the bytes in flight instead of only
   the file count: at most ``MAX_INFLIGHT_BYTES`` (32 MiB) of shard copies at once, and up
   to ``MAX_FILES_IN_FLIGHT`` (64) files when shards are small. Today 16 copies of 4 MiB
   are in flight (64 MiB, and the client holds its own copy of each request body), while
   a 64-shard model of small shards goes out in 4 waves instead of one.

Not part of the package; delete this file once the change lands (or is refused).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Sequence
from typing import Any

import numpy

from tfjs_store.errors import IntegrityError, WeightDataError
from tfjs_store.format.artifacts import ModelArtifacts
from tfjs_store.format.codec import weight_byte_ranges
from tfjs_store.format.layout import manifest_paths
from tfjs_store.format.schemas import ModelJSON
from tfjs_store.format.shards import CompositeBuffer
from tfjs_store.handlers import fsspec as base
from tfjs_store.handlers.fsspec import RECORD_KEY, FsspecHandler

MiB = 1024 * 1024
MAX_INFLIGHT_BYTES = 32 * MiB
MAX_FILES_IN_FLIGHT = 64


class GroupBufferHandler(FsspecHandler):
    """``FsspecHandler`` reading each manifest group into one buffer (see module doc)."""

    def _read_weights(self, model_json: ModelJSON) -> list[Any]:  # list of per-group lists
        groups = model_json.weights_manifest or []
        rel_paths = manifest_paths(model_json)
        paths = [self._path(p) for p in rel_paths]
        record = self._record(model_json)
        sizes = self._sizes_before_reading(model_json, rel_paths, paths, record)
        if sizes is None:
            flat = super()._read_weights(model_json)
            out, pos = [], 0
            for group in groups:
                out.append(flat[pos : pos + len(group.paths)])
                pos += len(group.paths)
            return out
        views: list[memoryview] = []
        group_buffers: list[list[Any]] = []
        pos = 0
        for group in groups:
            group_sizes = sizes[pos : pos + len(group.paths)]
            pos += len(group.paths)
            buf = numpy.empty(sum(group_sizes), numpy.uint8)  # no zero-fill pass
            whole = buf.data
            offset = 0
            for size in group_sizes:
                views.append(whole[offset : offset + size])
                offset += size
            group_buffers.append([buf])
        # Digests are checked by the reader of each file right after its bytes land (still
        # in cache, and overlapping the reads of other files), not in a pass at the end.
        expected = [self._recorded_digest(record, mp, rel) if self.verify else None
                    for mp, rel in zip(model_json.weight_paths, rel_paths, strict=True)]
        jobs = list(zip(paths, views, expected, rel_paths, strict=True))
        bad: list[str] = []
        if base._is_local(self.fs):
            base._map_until_error(lambda job: self._read_local_into(*job, bad), jobs, 8)
        elif getattr(self.fs, "async_impl", False):
            self._read_async_into(jobs, bad)
        else:
            base._map_until_error(lambda job: self._read_one_into(*job, bad), jobs,
                                  self.max_concurrency)
        if bad:
            raise IntegrityError(
                f"SHA-256 of weight file(s) {', '.join(sorted(bad))} in "
                f"{self._url(self.folder)} does not match the digest recorded in "
                f"{self.json_name}: the bytes changed after the save"
            )
        sizes_only = {k: ({n: v for n, v in e.items() if n != "sha256"}
                          if isinstance(e, dict) else e) for k, e in record.items()}
        self._check_files(model_json.weight_paths, rel_paths, views, sizes_only)
        return group_buffers

    @staticmethod
    def _recorded_digest(record: dict[str, Any], manifest_path: str, rel: str) -> str | None:
        entry = record.get(manifest_path) or record.get(rel)
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        return digest if isinstance(digest, str) else None

    @staticmethod
    def _verify(view: memoryview, digest: str | None, rel: str, bad: list[str]) -> None:
        if digest is not None and hashlib.sha256(view).hexdigest() != digest:
            bad.append(rel)

    def _artifacts(self, model_json: ModelJSON, buffers: list[Any]) -> ModelArtifacts:
        for g, (group, group_buffers) in enumerate(
            zip(model_json.weights_manifest or [], buffers, strict=True), start=1
        ):
            try:
                weight_byte_ranges(group.weights, CompositeBuffer(group_buffers))
            except WeightDataError as exc:
                raise WeightDataError(
                    f"{self._url(self.json_path)}: weights group {g} "
                    f"({', '.join(group.paths) or 'no files'}): {exc}"
                ) from None
        flat = [b for group_buffers in buffers for b in group_buffers]
        return ModelArtifacts.from_model_json(model_json, flat, drop_keys=(RECORD_KEY,))

    # -- save: bytes in flight bounded ------------------------------------------------

    def _write_files(self, files: Sequence[Any], data: CompositeBuffer) -> dict[str, str]:
        if base._is_local(self.fs) or not getattr(self.fs, "async_impl", False):
            return super()._write_files(files, data)
        from fsspec.asyn import sync

        from tfjs_store.format.layout import safe_relative_path

        digests: dict[str, str] = {}
        want_digest = self.checksums

        def prepare(f: Any) -> tuple[bytes, str]:
            chunk = b"".join(data.iter_ranges(f.start, f.end))
            return chunk, (hashlib.sha256(chunk).hexdigest() if want_digest else "")

        async def write_all() -> None:
            available = [MAX_INFLIGHT_BYTES]
            budget = asyncio.Condition()
            files_in_flight = asyncio.Semaphore(max(self.max_concurrency, MAX_FILES_IN_FLIGHT))
            loop = asyncio.get_running_loop()

            async def one(f: Any) -> None:
                need = min(f.size, MAX_INFLIGHT_BYTES)  # a bigger shard goes alone
                async with files_in_flight:
                    async with budget:
                        await budget.wait_for(lambda: available[0] >= need)
                        available[0] -= need
                    try:
                        chunk, hexdigest = await loop.run_in_executor(None, prepare, f)
                        path = self._path(safe_relative_path(f.path))
                        try:
                            await self.fs._pipe_file(path, chunk)
                        except Exception as exc:
                            raise base._storage_error("writing", self._url(path), exc) from exc
                        del chunk
                        digests[f.path] = hexdigest
                    finally:
                        async with budget:
                            available[0] += need
                            budget.notify_all()

            await asyncio.gather(*(one(f) for f in files))

        sync(self.fs.loop, write_all)
        return digests

    # -- sizes known before reading --------------------------------------------------

    def _sizes_before_reading(
        self, model_json: ModelJSON, rel_paths: Sequence[str], paths: Sequence[str],
        record: dict[str, Any],
    ) -> list[int] | None:
        if not paths:
            return None
        if base._is_local(self.fs):
            sizes = []
            for path in paths:
                try:
                    sizes.append(os.stat(path).st_size)
                except FileNotFoundError:
                    raise self._missing(path) from None
                except OSError:
                    return None
        else:
            sizes = []
            for manifest_path, rel in zip(model_json.weight_paths, rel_paths, strict=True):
                entry = record.get(manifest_path) or record.get(rel)
                size = entry.get("size") if isinstance(entry, dict) else None
                if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                    return None
                sizes.append(size)
        # Only when the sizes add up to what the specs say: the allocation is then bounded
        # by the model itself, and a short or long file is still reported by the old path.
        pos = 0
        for group in model_json.weights_manifest or []:
            lengths = [w.byte_length for w in group.weights]
            if any(n is None for n in lengths):
                return None
            if sum(sizes[pos : pos + len(group.paths)]) != sum(n for n in lengths if n):
                return None
            pos += len(group.paths)
        return sizes

    def _wrong_size(self, path: str, got: int, want: int) -> WeightDataError:
        return WeightDataError(
            f"weight file {self._url(path)} is {got} bytes but {want} bytes were expected "
            "(it changed while the model was read)"
        )

    # -- reading into place ----------------------------------------------------------

    def _read_local_into(self, path: str, view: memoryview, digest: str | None, rel: str,
                         bad: list[str]) -> None:
        try:
            with open(path, "rb", buffering=0) as f:
                size = os.fstat(f.fileno()).st_size
                if size != len(view):
                    raise self._wrong_size(path, size, len(view))
                got = 0
                while got < size:
                    n = f.readinto(view[got:])
                    if not n:
                        raise self._wrong_size(path, got, len(view))
                    got += n
            self._verify(view, digest, rel, bad)
        except (FileNotFoundError, IsADirectoryError):
            raise self._missing(path) from None
        except WeightDataError:
            raise
        except OSError as exc:
            raise base._storage_error("reading", path, exc) from exc

    def _read_one_into(self, path: str, view: memoryview, digest: str | None, rel: str,
                       bad: list[str]) -> None:
        data = self._read_one(path)
        if len(data) != len(view):
            raise self._wrong_size(path, len(data), len(view))
        view[:] = data
        self._verify(view, digest, rel, bad)

    def _read_async_into(self, jobs: Sequence[tuple[str, memoryview, str | None, str]],
                         bad: list[str]) -> None:
        from fsspec.asyn import sync

        async def read_all() -> None:
            todo = iter(jobs)
            loop = asyncio.get_running_loop()

            async def worker() -> None:
                for path, view, digest, rel in todo:
                    try:
                        # start=0: s3fs skips its HEAD; never a range on an empty object
                        data = await (self.fs._cat_file(path, start=0) if len(view)
                                      else self.fs._cat_file(path))
                    except Exception as exc:
                        if base._is_not_found(exc):
                            raise self._missing(path) from None
                        raise base._storage_error("reading", self._url(path), exc) from exc
                    if len(data) != len(view):
                        raise self._wrong_size(path, len(data), len(view))
                    view[:] = data
                    del data
                    if digest is not None:  # hashing releases the GIL: off the event loop
                        await loop.run_in_executor(None, self._verify, view, digest, rel, bad)

            workers = [asyncio.ensure_future(worker())
                       for _ in range(min(len(jobs), max(self.max_concurrency, 32)))]
            try:
                await asyncio.gather(*workers)
            except BaseException:
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                raise

        sync(self.fs.loop, read_all)


def make_handler(url: str, **options: Any) -> GroupBufferHandler:
    return GroupBufferHandler(url, **options)
