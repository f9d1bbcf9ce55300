"""Stores that commit model.json by renaming a temporary file over it: SFTP (its
``posix-rename``), WebDAV (``MOVE`` with ``Overwrite: T``), FTP (``RNFR``/``RNTO``), and
a local disk reached through a wrapper (``dir::file://``). See
``protocols.RENAME_REPLACES_PROTOCOLS``.

Two clients need more than fsspec gives: FTP reads a whole file with ``RETR`` (fsspec's
reads stop at the size a listing told), and a WebDAV ``MOVE`` deletes the destination
first, so a model.json read waits out that gap (``GAP_WAITS``).
"""

from __future__ import annotations

import contextlib
import posixpath
import time
from typing import Any

from .async_batches import joined
from .base import WriteJob
from .fsspec import FsspecStore
from .protocols import MOVE_DELETES_FIRST_PROTOCOLS, is_not_found, unwrapped

__all__ = ["GAP_WAITS", "RenamingStore"]

GAP_WAITS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
"""Seconds between the reads of a model.json that a WebDAV ``MOVE`` may have removed
for a moment (see ``protocols.MOVE_DELETES_FIRST_PROTOCOLS``)."""


class RenamingStore(FsspecStore):
    """A folder on a server (or disk) where a rename replaces a file in one step."""

    # -- where ----------------------------------------------------------------------

    def _unstrip(self, path: str) -> str:
        """With the host and port of the server (``ftp://``, ``sftp://``)."""
        inner = unwrapped(self.fs)
        if self.fs is inner and self.protocol in ("ftp", "sftp", "ssh"):
            host = (
                getattr(inner, "host", None)
                or inner.storage_options.get("host")
                or next(iter(inner.storage_args), None)
            )
            port = getattr(inner, "port", None) or inner.storage_options.get("port")
            if host:
                where = f"{host}:{port}" if port else str(host)
                return f"{self.protocol}://{where}/{path.lstrip('/')}"
        return super()._unstrip(path)

    # -- reading --------------------------------------------------------------------

    def _read(self, path: str, limit: int | None) -> Any:
        if self.protocol == "ftp" and not self.cached:
            return _ftp_retrieve(self.fs, path, limit)
        if self.protocol in MOVE_DELETES_FIRST_PROTOCOLS:
            return self._read_across_move_gap(path, limit)
        return super()._read(path, limit)

    def _read_across_move_gap(self, path: str, limit: int | None) -> Any:
        """See ``MOVE_DELETES_FIRST_PROTOCOLS``: model.json, and a content-named weight
        file that two saves wrote at once (the second MOVE deletes the first's copy)."""
        for wait in (*GAP_WAITS, None):
            try:
                return super()._read(path, limit)
            except Exception as exc:
                # wsgidav may also answer 500 for a file that vanishes while it is read
                status = getattr(getattr(exc, "response", None), "status_code", 0)
                in_gap = is_not_found(exc) or (isinstance(status, int) and status >= 500)
                if wait is None or not in_gap:
                    raise
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- commit by rename -------------------------------------------------------------

    def write(self, job: WriteJob) -> None:
        """A job with a ``temp_name`` (a file two saves may write at once, issue 17)
        appears whole: written there, then renamed over its name."""
        if job.temp_name and self.rename_replaces and not self.atomic_put:
            self._commit(job.name, joined(job.chunks()), job.temp_name, None, False)
            return
        super().write(job)

    def _commit(
        self, name: str, data: bytes, temp_name: str, if_match: str | None, if_none_match: bool
    ) -> str | None:
        """Write ``temp_name``, then rename it over ``name``: a reader sees the old file
        or the new one, never a partial one."""
        if not self.rename_replaces or self.atomic_put:
            return super()._commit(name, data, temp_name, if_match, if_none_match)
        fs = self.direct
        target, temp = self.path(name), self.path(temp_name)
        with self._errors("writing", name):
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
        return None

    def _rename_over(self, temp: str, target: str) -> None:
        fs = self.direct
        client: Any = getattr(fs, "client", None)
        if self.protocol in ("webdav", "dav") and hasattr(client, "move"):
            # webdav4's fs.mv of a file is a copy and a delete; MOVE is the rename.
            client.move(temp, target, overwrite=True)
            return
        fs.mv(temp, target)


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
