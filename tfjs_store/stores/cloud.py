"""What the object stores share (S3, GCS, Azure): a version token the storage keeps of
every object (ETag, generation), the conflict a conditional commit reports, and, where
the storage keeps a CRC32C of each object (``checksum_store``: S3, GCS), each weight
file checked on arrival and the stored checksum told back for ``verify(remote=True)``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConflictError, StorageError
from . import async_batches
from .base import WriteJob
from .fsspec import FsspecStore

__all__ = ["CloudStore"]

_log = logging.getLogger("tfjs_store.stores")


class CloudStore(FsspecStore):
    """An object store's folder; the subclasses say what their storage keeps."""

    checksum_store: str | None = None
    """The object store whose CRC32C of each object this store checks and tells."""

    def __init__(self, fs: Any, folder: str, *, max_concurrency: int | None = None) -> None:
        super().__init__(fs, folder, max_concurrency=max_concurrency)
        self.checks_on_arrival = self.keeps_checksums = self.checksum_store is not None

    # -- presigned URLs (the bridge's --redirect-weights) ----------------------------

    def signed_url(self, name: str, expires_s: int) -> str | None:
        """A presigned GET URL signed with the credentials the filesystem holds: S3
        (s3fs ``sign``), GCS (gcsfs ``sign``, V4, with a service account key), Azure (a
        read-only SAS from the account key). None when they cannot sign (anonymous GCS,
        Azure without an account key) or under a wrapper."""
        options = self._sign_options()
        if options is None:
            return None
        try:
            return str(self.fs.sign(self.path(name), expiration=int(expires_s), **options))
        except Exception as exc:  # no key to sign with: the caller streams instead
            _log.debug("cannot sign a URL for %s: %s: %s", self.file_url(name),
                       type(exc).__name__, exc)
            return None

    def _sign_options(self) -> dict[str, Any] | None:
        """The keywords of the filesystem's ``sign``; None: it cannot sign."""
        return {} if self.cas_kind is not None else None

    # -- versions -------------------------------------------------------------------

    @property
    def versions_by_content(self) -> bool:
        return self._token_key() is None

    def _token_key(self) -> str | None:
        """The key of ``fs.info`` that holds the storage's own version token."""
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

    # -- conditional commit -------------------------------------------------------------

    def _commit(
        self, name: str, data: bytes, temp_name: str, if_match: str | None, if_none_match: bool
    ) -> str | None:
        """One put carrying the storage's own preconditions, returning the version token
        it answers with (under the same key ``info`` tells it); under a wrapper, the
        plain commit. GCS, whose ``pipe_file`` takes no generation, overrides it."""
        if self.cas_kind is None:
            return super()._commit(name, data, temp_name, if_match, if_none_match)
        condition: dict[str, Any] = {}
        if if_none_match:
            condition.update(self._if_none_match())
        if if_match is not None:
            condition.update(self._if_match(if_match))
        try:
            with self._errors("writing", name):
                out = self.fs.pipe_file(self.path(name), data, **condition)
        except (StorageError, FileExistsError) as exc:
            if condition and self._refused(exc):
                raise self._stale(name, if_match, if_none_match) from None
            raise
        token = out.get(self._token_key()) if isinstance(out, Mapping) else None
        return str(token).strip('"') if token else None

    def _if_none_match(self) -> dict[str, Any]:
        """The ``pipe_file`` keywords of "only if there is no such object"."""
        raise NotImplementedError

    def _if_match(self, token: str) -> dict[str, Any]:
        """The ``pipe_file`` keywords of "only if the object is at version ``token``"."""
        raise NotImplementedError

    def _refused(self, exc: BaseException) -> bool:
        """``exc``, raised by a conditional put, says the storage refused the condition."""
        raise NotImplementedError

    def _stale(self, name: str, if_match: str | None, if_none_match: bool) -> ConflictError:
        condition = "if_none_match" if if_none_match else f"if_match {if_match}"
        return ConflictError(
            f"{self.file_url(name)} is not at the version the save was made against "
            f"({condition})"
        )

    # -- checksums ------------------------------------------------------------------

    def _upload(self, job: WriteJob, path: str, body: bytes) -> None:
        crc = self._crc_to_send(job)
        out = self.direct.pipe_file(path, body, **self._arrival_options(crc, len(body)))
        if crc is not None:
            self._check_arrival(job.name, path, crc, out)

    async def _upload_async(self, job: WriteJob, path: str, body: bytes) -> None:
        crc = self._crc_to_send(job)
        out = await self.fs._pipe_file(path, body, **self._arrival_options(crc, len(body)))
        if crc is not None:
            await self._check_arrival_async(job.name, path, crc, out)

    def _crc_to_send(self, job: WriteJob) -> str | None:
        return job.crc32c() if self.checks_on_arrival and job.crc32c is not None else None

    def _arrival_options(self, crc: str | None, size: int) -> dict[str, Any]:
        """What the upload call takes so that the storage checks the bytes it gets."""
        return {}

    def _check_arrival(self, name: str, path: str, crc: str, out: Any) -> None:
        """After an upload that sent ``crc``: where the storage told what it computed
        (GCS), compare; by default the storage refused a body that did not match."""

    async def _check_arrival_async(self, name: str, path: str, crc: str, out: Any) -> None:
        """``_check_arrival`` on the filesystem's loop."""

    def stored_checksums(self, names: Sequence[str]) -> dict[str, dict[str, str]]:
        """One request per file: GCS's object ``crc32c``, S3's ``ChecksumCRC32C``."""
        if self.checksum_store is None or not names:
            return {}
        self.refresh()
        return async_batches.stored_checksums(self, names)

    async def _stored_crc32c(self, path: str) -> str | None:
        """The CRC32C the storage keeps of the whole file at ``path``, if any."""
        return None
