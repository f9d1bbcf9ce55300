"""Azure Blob Storage (adlfs) as a byte store: conditional commits, ETags as versions.

A conditional commit is a Put Blob with ``If-Match`` (the ETag is the version) or
``If-None-Match: *``. Azure keeps a Content-MD5, which no save records: no checksums
are told (``checksum_store`` stays None).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import StorageError
from .cloud import CloudStore

__all__ = ["AzureStore"]


class AzureStore(CloudStore):
    """A folder of an Azure container (also under a cache or ``dir::`` wrapper, where
    the commit is a plain put: only adlfs's own filesystem takes the conditions)."""

    @property
    def cas_kind(self) -> str | None:
        return "az" if self._is_client("az", "AzureBlobFileSystem") else None

    def _token_key(self) -> str | None:
        return "etag" if {"az", "abfs", "abfss"} & set(self._fs_protocols()) else None

    def _commit(
        self, name: str, data: bytes, temp_name: str, if_match: str | None, if_none_match: bool
    ) -> str | None:
        if self.cas_kind != "az":
            return super()._commit(name, data, temp_name, if_match, if_none_match)
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
