"""Batches of an ``FsspecStore`` over an async filesystem (object stores), on its loop.

A fixed set of workers (not a task per file) runs on the filesystem's event loop; the
first error cancels the rest. Hashing and other work that releases the GIL goes to
worker threads; a save holds at most ``MAX_INFLIGHT_BYTES`` of request bodies at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .base import WriteJob

if TYPE_CHECKING:
    from .cloud import CloudStore
    from .fsspec import FsspecStore

__all__ = [
    "BODY_COPIES",
    "MAX_FILES_IN_FLIGHT",
    "MAX_INFLIGHT_BYTES",
    "fetch_into",
    "in_range",
    "joined",
    "read_many",
    "read_many_into",
    "read_ranges",
    "run_on_loop",
    "stored_checksums",
    "write_many",
]

MAX_INFLIGHT_BYTES = 32 * 1024 * 1024
"""A save to an object store holds at most this many bytes of shard copies at once; a
bigger shard goes alone. Each request body counts ``BODY_COPIES`` times."""
BODY_COPIES = 2
"""What one request body in flight costs, in copies of it: the joined body itself, and
what the event loop's socket transport buffers of it (asyncio before Python 3.12
copies whatever the socket does not take at once, most of a MiB-sized body)."""
MAX_FILES_IN_FLIGHT = 64
READ_WORKERS = 32
"""Reads in flight at least (more when the store's ``max_concurrency`` says so)."""


def run_on_loop(
    loop: asyncio.AbstractEventLoop,
    one: Callable[[int, asyncio.AbstractEventLoop], Any],
    count: int,
    workers: int,
) -> None:
    """``one(i, loop)`` for each index on ``loop``, from ``workers`` workers; the first
    error cancels the rest."""
    from fsspec.asyn import sync

    async def run_all() -> None:
        running = asyncio.get_running_loop()
        todo = iter(range(count))

        async def worker() -> None:
            for i in todo:
                await one(i, running)

        tasks = [asyncio.ensure_future(worker()) for _ in range(min(count, workers))]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    if count:
        sync(loop, run_all)


def read_many_into(
    store: FsspecStore,
    jobs: Sequence[tuple[str, memoryview]],
    on_file: Callable[[int, int], None],
) -> None:
    async def one(i: int, loop: asyncio.AbstractEventLoop) -> None:
        name, out = jobs[i]
        with store._errors("reading", name):
            size = await store._read_into_async(store.path(name), out)
        # hashing releases the GIL: off the event loop
        await loop.run_in_executor(None, on_file, i, size)

    run_on_loop(store.fs.loop, one, len(jobs), max(store.max_concurrency, READ_WORKERS))


async def fetch_into(fs: Any, path: str, out: memoryview) -> int:
    """The whole file fetched, then copied into ``out`` if it has ``len(out)`` bytes;
    returns its size (what a store without a streaming read does)."""
    # From byte 0: s3fs otherwise sends a HEAD (for the size) before every GET; never a
    # range of an empty object (S3 refuses it).
    data = await (fs._cat_file(path, start=0) if len(out) else fs._cat_file(path))
    size = len(data)
    if size == len(out):
        out[:] = data
    return size


def read_many(
    store: FsspecStore, names: Sequence[str], on_file: Callable[[int, Any], None]
) -> list[Any]:
    out: list[Any] = [None] * len(names)

    async def one(i: int, loop: asyncio.AbstractEventLoop) -> None:
        with store._errors("reading", names[i]):
            out[i] = await store.fs._cat_file(store.path(names[i]))
        await loop.run_in_executor(None, on_file, i, out[i])

    run_on_loop(store.fs.loop, one, len(names), max(store.max_concurrency, READ_WORKERS))
    return out


def read_ranges(store: FsspecStore, jobs: Sequence[tuple[str, int, int]]) -> list[Any]:
    out: list[Any] = [None] * len(jobs)

    async def one(i: int, loop: asyncio.AbstractEventLoop) -> None:
        name, start, end = jobs[i]
        with store._errors("reading", name):  # start and end given: one ranged GET
            data = await store.fs._cat_file(store.path(name), start=start, end=end)
            out[i] = in_range(data, start, end)

    run_on_loop(store.fs.loop, one, len(jobs), max(store.max_concurrency, READ_WORKERS))
    return out


def stored_checksums(store: CloudStore, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """``store._stored_crc32c`` of each file, one request per file; a missing file is
    left out (reading it will say it is missing)."""
    out: dict[str, dict[str, str]] = {}

    async def one(i: int, _loop: asyncio.AbstractEventLoop) -> None:
        try:
            with store._errors("reading", names[i]):
                value = await store._stored_crc32c(store.path(names[i]))
        except FileNotFoundError:
            return
        if value is not None:
            out[names[i]] = {"crc32c": value}

    run_on_loop(store.fs.loop, one, len(names), max(store.max_concurrency, READ_WORKERS))
    return out


def write_many(
    store: FsspecStore, jobs: Sequence[WriteJob], on_file: Callable[[int], None]
) -> None:
    budget = [MAX_INFLIGHT_BYTES]

    async def one(i: int, loop: asyncio.AbstractEventLoop) -> None:
        job = jobs[i]
        need = min(BODY_COPIES * job.size, MAX_INFLIGHT_BYTES)
        async with cond:
            await cond.wait_for(lambda: budget[0] >= need)
            budget[0] -= need
        try:
            chunk = await loop.run_in_executor(None, lambda: joined(job.chunks()))
            with store._errors("writing", job.name):
                await store._upload_async(job, store.path(job.name), chunk)
            del chunk
            on_file(i)
        finally:
            async with cond:
                budget[0] += need
                cond.notify_all()

    cond = _LazyCondition()
    run_on_loop(store.fs.loop, one, len(jobs), max(store.max_concurrency, MAX_FILES_IN_FLIGHT))


def in_range(data: Any, start: int, end: int) -> Any:
    """A client that ignores ``start``/``end`` (sshfs) answers with the whole file: cut
    the range out of it. One that honours them never returns more than ``end - start``."""
    if len(data) > end - start:
        return data[start:end]
    return data


def joined(chunks: Iterable[memoryview]) -> bytes:
    """One request body: the bytes object itself when one view covers all of it (a file
    just read), else one joined copy."""
    views = list(chunks)
    if len(views) == 1 and isinstance(views[0].obj, bytes) and views[0].nbytes == len(
        views[0].obj
    ):
        return views[0].obj
    return b"".join(views)


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
