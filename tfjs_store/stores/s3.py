"""S3 (s3fs) as a byte store: conditional commits, checksums on arrival, ETag versions.

- A conditional commit is a PutObject with ``IfMatch`` / ``IfNoneMatch``; the ETag is
  the version.
- S3 takes ``ChecksumCRC32C`` on PutObject, refuses a body that does not match it
  (BadDigest), and tells it back on HeadObject with ``ChecksumMode=ENABLED``. The value
  is sent, not asked of botocore (which computes CRC32C only with awscrt). s3fs turns
  bodies of 100 MiB and more into multipart uploads, whose checksum is per part: those
  go without one (``verify(remote=True)`` then reads them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .cloud import CloudStore

__all__ = ["S3Store"]

_S3_SINGLE_PUT_BYTES = 100 * 1024 * 1024
"""s3fs sends bodies below this size in one PutObject (2 x its 50 MiB chunk size)."""


class S3Store(CloudStore):
    """A folder of an S3 bucket (also under a cache or ``dir::`` wrapper, where the
    commit is a plain put: only s3fs's own filesystem takes the conditions)."""

    checksum_store = "s3"

    own_client = ("s3", "s3", "S3FileSystem")

    def _token_key(self) -> str | None:
        return "ETag" if self.cas_kind == "s3" else None

    async def _read_into_async(self, path: str, out: memoryview) -> int:
        """The object's body streamed into ``out`` (no copy of the whole file is held
        on the way); a body of another size than ``len(out)`` is not read."""
        if self.cas_kind != "s3":  # a wrapper: what it wraps is reached through it
            return await super()._read_into_async(path, out)
        bucket, key, version = self.fs.split_path(path)
        options = {"VersionId": version} if version else {}
        resp = await self.fs._call_s3("get_object", Bucket=bucket, Key=key, **options)
        body = resp["Body"]
        try:
            size = int(resp.get("ContentLength", -1))
            if size != len(out):
                return size if size >= 0 else await super()._read_into_async(path, out)
            got = 0
            while got < size:
                n = await body.readinto(out[got:])
                if not n:
                    return got  # the object ended early: the caller says so
                got += n
            return size
        except Exception:  # the body broke off (botocore's ResponseStreamingError...):
            return await super()._read_into_async(path, out)  # again, with s3fs's retries
        finally:
            body.close()

    def _arrival_options(self, crc: str | None, size: int) -> dict[str, Any]:
        if crc is not None and size < _S3_SINGLE_PUT_BYTES:
            return {"ChecksumAlgorithm": "CRC32C", "ChecksumCRC32C": crc}
        return {}

    async def _stored_crc32c(self, path: str) -> str | None:
        bucket, key, _version = self.fs.split_path(path)
        head = await self.fs._call_s3(
            "head_object", Bucket=bucket, Key=key, ChecksumMode="ENABLED"
        )
        value = head.get("ChecksumCRC32C")
        # a multipart upload's checksum ("…-3") is of its parts, not of the bytes
        whole = head.get("ChecksumType") in (None, "FULL_OBJECT")
        return value if isinstance(value, str) and whole and "-" not in value else None

    # -- conditional commit (CloudStore._commit) ---------------------------------------

    def _if_none_match(self) -> dict[str, Any]:
        return {"IfNoneMatch": "*"}

    def _if_match(self, token: str) -> dict[str, Any]:
        return {"IfMatch": f'"{token}"'}

    def _refused(self, exc: BaseException) -> bool:
        return _is_precondition_failure(exc)


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
