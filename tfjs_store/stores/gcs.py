"""Google Cloud Storage (gcsfs) as a byte store: conditional commits, checksums checked
on arrival, generations as versions.

- A conditional commit is a one-request (multipart) upload with ``ifGenerationMatch``;
  the generation is the version (0: no object yet).
- GCS computes an object's ``crc32c`` itself and returns it from the upload; gcsfs does
  not pass one along, so the store compares what came back and removes a file that
  arrived different. ``info`` tells it later (``stored_checksums``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from ..errors import StorageError
from .cloud import CloudStore

__all__ = ["GcsStore"]


class GcsStore(CloudStore):
    """A folder of a GCS bucket (also under a cache or ``dir::`` wrapper, where the
    commit is a plain put: only gcsfs's own filesystem takes the condition)."""

    checksum_store = "gcs"

    own_client = ("gcs", "gs", "GCSFileSystem")

    def _sign_options(self) -> dict[str, Any] | None:
        if self.cas_kind != "gcs":
            return None
        if getattr(getattr(self.fs, "credentials", None), "credentials", None) is None:
            return None  # anonymous: google-auth would look for default credentials
        return {"version": "v4"}

    def _token_key(self) -> str | None:
        if self.cas_kind == "gcs" or {"gs", "gcs"} & set(self._fs_protocols()):
            return "generation"
        return None

    async def _read_into_async(self, path: str, out: memoryview) -> int:
        """The object's body streamed into ``out`` (gcsfs's ``_cat_file`` holds the whole
        body, then a joined copy of it). Anything but a plain 200 answer (an error, a
        transcoded body) goes gcsfs's own way, with its retries and errors."""
        fs = self.fs
        if self.cas_kind != "gcs" or not len(out):
            return await super()._read_into_async(path, out)
        await fs._set_session()
        async with fs.session.request(
            "GET", fs.url(path), params=fs._get_params({}), headers=fs._get_headers(None),
            timeout=fs.requests_timeout,
        ) as r:
            told = r.headers.get("Content-Length")
            plain = r.headers.get("Content-Encoding", "identity") == "identity"
            if r.status == 200 and told is not None and plain:
                size = int(told)
                if size != len(out):
                    return size
                try:
                    got = 0
                    while got < size:  # what aiohttp has buffered: a bounded chunk
                        chunk = await r.content.read(size - got)
                        if not chunk:
                            return got  # the body ended early: the caller says so
                        out[got : got + len(chunk)] = chunk
                        got += len(chunk)
                    return size
                except Exception:  # the body broke off: again, gcsfs's way
                    pass
        return await super()._read_into_async(path, out)

    # -- checksums --------------------------------------------------------------------

    def _check_arrival(self, name: str, path: str, crc: str, out: Any) -> None:
        if not isinstance(out, Mapping):
            out = self.direct.info(path)
        error = self._arrival_error(name, crc, out)
        if error is not None:
            with contextlib.suppress(Exception):
                self.direct.rm_file(path)
            raise error

    async def _check_arrival_async(self, name: str, path: str, crc: str, out: Any) -> None:
        if not isinstance(out, Mapping):  # a resumable upload's URL
            out = await self.fs._info(path)
        error = self._arrival_error(name, crc, out)
        if error is not None:
            with contextlib.suppress(Exception):
                await self.fs._rm_file(path)
            raise error

    def _arrival_error(self, name: str, crc: str, stored: Mapping[str, Any]) -> StorageError | None:
        """The error when the CRC32C the storage computed of what it got differs from the
        one sent. The caller removes the file (no model.json names it yet) and raises it."""
        got = stored.get("crc32c")
        if got is None or got == crc:
            return None
        return StorageError(
            f"writing {self.file_url(name)} failed: the storage computed CRC32C {got} "
            f"of the bytes it received, but {crc} was sent: they were damaged on the "
            "way (the file was removed)"
        )

    async def _stored_crc32c(self, path: str) -> str | None:
        # the object's metadata alone (``_info`` also lists the prefix in case it is a
        # folder: a second request per file)
        get = getattr(self.fs, "_get_object", None) or self.fs._info
        value = (await get(path)).get("crc32c")
        return value if isinstance(value, str) and "-" not in value else None

    # -- conditional commit -------------------------------------------------------------

    def _commit(
        self, name: str, data: bytes, temp_name: str, if_match: str | None, if_none_match: bool
    ) -> str | None:
        """The upload gcsfs makes for a small file, with the generation precondition
        that its ``pipe_file`` does not take (only ``mode="create"``, i.e. 0)."""
        if self.cas_kind != "gcs":
            return super()._commit(name, data, temp_name, if_match, if_none_match)
        from urllib.parse import quote

        from fsspec.asyn import sync

        path = self.path(name)
        bucket, key, _generation = self.fs.split_path(path)
        expected = "0" if if_none_match else if_match
        condition = {"ifGenerationMatch": expected} if expected is not None else {}
        head = (
            "--==0==\nContent-Type: application/json; charset=UTF-8\n\n"
            + json.dumps({"name": key})
            + "\n--==0==\nContent-Type: application/octet-stream\n\n"
        ).encode()
        body = head + bytes(data) + b"\n--==0==--"

        async def upload() -> Any:
            return await self.fs._call(
                "POST",
                f"{self.fs._location}/upload/storage/v1/b/{quote(bucket)}/o",
                uploadType="multipart",
                headers={"Content-Type": 'multipart/related; boundary="==0=="'},
                data=body,
                json_out=True,
                **condition,
            )

        try:
            with self._errors("writing", name):
                out = sync(self.fs.loop, upload)
        except StorageError as exc:
            if condition and isinstance(exc.__cause__, FileExistsError):  # gcsfs: 412
                raise self._stale(name, if_match, if_none_match) from None
            raise
        finally:
            with contextlib.suppress(Exception):
                self.fs.invalidate_cache(path)
        generation = out.get("generation") if isinstance(out, Mapping) else None
        return str(generation) if generation is not None else None
