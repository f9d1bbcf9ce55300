"""fsspec's ``memory://`` as a byte store: a put swaps the whole file when it is closed,
and a conditional commit compares and puts under one process-wide lock (there is one
memory filesystem per process). Versions are content hashes."""

from __future__ import annotations

import threading

from .base import check_precondition, content_version
from .fsspec import FsspecStore

__all__ = ["MemoryStore"]

_MEMORY_LOCK = threading.Lock()
"""Serializes commits to memory:// (one filesystem per process)."""


class MemoryStore(FsspecStore):
    """A folder of memory:// (compare-and-put only on fsspec's own ``MemoryFileSystem``
    itself, not under a cache or ``dir::`` wrapper)."""

    own_client = ("memory", "memory", "MemoryFileSystem")
    reads_are_copies = True

    def read_into(self, name: str, out: memoryview) -> int:
        """Copied into ``out`` straight from the stored file's buffer: fsspec's
        ``cat_file`` first makes a copy of the whole file (one per file in flight)."""
        stored = self.fs.store.get(self.fs._strip_protocol(self.path(name)))
        if self.cas_kind != "memory" or not hasattr(stored, "getbuffer"):
            return super().read_into(name, out)  # missing, a folder, or a wrapper
        with stored.getbuffer() as view:
            size = int(view.nbytes)
            if size == len(out):
                out[:] = view
        return size

    def _commit(
        self, name: str, data: bytes, temp_name: str, if_match: str | None, if_none_match: bool
    ) -> str | None:
        if self.cas_kind != "memory":
            return super()._commit(name, data, temp_name, if_match, if_none_match)
        with self._errors("writing", name), _MEMORY_LOCK:
            if if_match is not None or if_none_match:
                check_precondition(self, name, if_match, if_none_match)
            self.fs.pipe_file(self.path(name), data)
        return content_version(data)
