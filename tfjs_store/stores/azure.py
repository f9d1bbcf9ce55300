"""Azure Blob Storage (adlfs) as a byte store: conditional commits, ETags as versions.

A conditional commit is a Put Blob with ``If-Match`` (the ETag is the version) or
``If-None-Match: *``. Azure keeps a Content-MD5, which no save records: no checksums
are told (``checksum_store`` stays None).
"""

from __future__ import annotations

from typing import Any

from .cloud import CloudStore

__all__ = ["AzureStore"]


class AzureStore(CloudStore):
    """A folder of an Azure container (also under a cache or ``dir::`` wrapper, where
    the commit is a plain put: only adlfs's own filesystem takes the conditions)."""

    own_client = ("az", "az", "AzureBlobFileSystem")

    def _token_key(self) -> str | None:
        return "etag" if {"az", "abfs", "abfss"} & set(self._fs_protocols()) else None

    # -- conditional commit (CloudStore._commit) ---------------------------------------

    def _if_none_match(self) -> dict[str, Any]:
        return {"overwrite": False}  # If-None-Match: *

    def _if_match(self, token: str) -> dict[str, Any]:
        from azure.core import MatchConditions

        return {"etag": f'"{token}"', "match_condition": MatchConditions.IfNotModified}

    def _refused(self, exc: BaseException) -> bool:
        cause = exc.__cause__
        status = getattr(cause, "status_code", None)
        return isinstance(cause, FileExistsError) or status in (409, 412)
