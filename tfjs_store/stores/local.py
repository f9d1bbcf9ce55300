"""Local files as a byte store: each file read straight into its place, mapped, or read
in ranges; model.json committed by rename under a lock on the folder.

Versions are content hashes. A conditional commit holds an exclusive ``flock`` on the
folder itself around compare-and-rename; every local commit takes it, so an
unconditional writer never slips between a conditional writer's compare and its rename.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import posixpath
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import ConflictError
from .base import WriteJob, check_precondition, content_version, map_until_error
from .fsspec import FsspecStore

__all__ = ["LocalStore"]

LOCAL_WRITERS = 8
"""Files written at once on a local disk: more threads only queue on the disk."""


class LocalStore(FsspecStore):
    """A folder of a ``LocalFileSystem`` (or of a wrapper that passes paths to one
    unchanged: ``protocols.is_local``). Writes still go through ``fs`` so that such a
    wrapper sees every one."""

    @property
    def cas_kind(self) -> str | None:
        return "local"

    # -- reading --------------------------------------------------------------------

    reads_are_copies = True

    def _read(self, path: str, limit: int | None) -> Any:
        # a ranged read would allocate the whole range first
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if limit is not None and size > limit:
                return f.read(limit + 1)
            return f.read()

    def read_into(self, name: str, out: memoryview) -> int:
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

    def sizes(self, names: Sequence[str]) -> list[int | None] | None:
        out: list[int | None] = []
        for name in names:
            try:
                out.append(os.stat(self.path(name)).st_size)
            except OSError:
                out.append(None)
        return out

    def read_range(self, name: str, start: int, end: int) -> Any:
        with self._errors("reading", name):  # only the range is read and allocated
            return _read_local_range(self.path(name), start, end)

    def mmap(self, name: str) -> Any:
        """A read-only map of the file; None for an empty file (which cannot be mapped)."""
        with self._errors("reading", name), open(self.path(name), "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return None
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    # -- writing --------------------------------------------------------------------

    def write(self, job: WriteJob) -> None:
        path = self.path(job.name)
        with self._errors("writing", job.name):
            parent = posixpath.dirname(path)
            if parent != self.folder:
                self.fs.makedirs(parent, exist_ok=True)
            temp = self.path(job.temp_name) if job.temp_name else path
            with self.fs.open(temp, "wb") as out:
                for view in job.chunks():
                    out.write(view)
            if temp != path:
                os.replace(temp, path)  # the file appears whole (issue 17)

    def write_many(self, jobs: Sequence[WriteJob], on_file: Callable[[int], None]) -> None:
        def one(i: int) -> None:
            self.write(jobs[i])
            on_file(i)

        map_until_error(one, range(len(jobs)), min(self.max_concurrency, LOCAL_WRITERS))

    def _commit(
        self, name: str, data: bytes, temp_name: str, if_match: str | None, if_none_match: bool
    ) -> str | None:
        target, temp = self.path(name), self.path(temp_name)
        with self._errors("writing", name):
            with self.fs.open(temp, "wb") as out:
                out.write(data)
            if self.fs.isdir(target):  # mv would move the file into it
                raise IsADirectoryError(f"{target} is a folder")
            with self._commit_lock():  # compare and rename in one step
                if if_match is not None or if_none_match:
                    try:
                        check_precondition(self, name, if_match, if_none_match)
                    except ConflictError:
                        with contextlib.suppress(OSError):
                            os.unlink(temp)
                        raise
                self.fs.mv(temp, target)  # a rename: atomic
            return content_version(data)

    @contextlib.contextmanager
    def _commit_lock(self) -> Iterator[None]:
        import fcntl

        fd = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the last descriptor releases the lock

    def remove_folder(self) -> None:
        with contextlib.suppress(OSError):
            os.rmdir(self.folder)


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
