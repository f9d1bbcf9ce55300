"""``FsspecHandlerTests``: the suite for any handler over an fsspec URL.

The back door is an fsspec filesystem opened on the same URL with the same
``storage_options`` (an instance of its own, its listings cache dropped before every
use, no option added that the filesystem might refuse); fault injection wraps that
filesystem in ``tfjs_store.testing.FaultyFileSystem`` and hands it to the handler as
``filesystem=``. This is what ``tfjs-store conformance memory://x`` (or ``s3://…``, or
a third-party fsspec protocol) runs.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
from collections.abc import Mapping
from typing import Any, ClassVar

from .suite import FaultyHandler, HandlerTests, Location

__all__ = ["FsspecHandlerTests"]


class FsspecHandlerTests(HandlerTests):
    """The suite over an fsspec URL; set ``base_url`` (and ``storage_options``)."""

    storage_options: ClassVar[Mapping[str, Any]] = {}
    sharding_options: ClassVar[Mapping[str, Any] | None] = {"shard_size_bytes": 64}

    def new_container(self) -> Location:
        location = super().new_container()
        options = dict(location.options)
        if self.storage_options:
            options["storage_options"] = dict(self.storage_options)
        return Location(location.url, options, location.json_name)

    def remove_container(self, container: Location) -> None:
        fs, path = self.filesystem(container)
        with contextlib.suppress(Exception):
            if fs.exists(path):
                fs.rm(path, recursive=True)

    # -- the back door --------------------------------------------------------------------

    def filesystem(self, location: Location) -> tuple[Any, str]:
        """(fsspec filesystem, path) for ``location``, cached per test."""
        import fsspec.core

        storage = dict(location.options.get("storage_options") or {})
        key = (location.url.split("://", 1)[0], json.dumps(storage, sort_keys=True, default=repr))
        cache: dict[Any, Any] = self.__dict__.setdefault("_fs_cache", {})
        fs = cache.get(key)
        if fs is None:
            # An instance apart from the handlers' (fsspec's instance cache would share
            # theirs). skip_instance_cache is taken by fsspec itself, not the filesystem's
            # constructor, so every backend accepts it; use_listings_cache=False is not
            # (webdav4 and sshfs refuse it), so stale listings are dropped below instead.
            storage["skip_instance_cache"] = True
            fs, _ = fsspec.core.url_to_fs(location.url, **storage)
            cache[key] = fs
        fs.invalidate_cache()  # the back door never sees stale listings
        return fs, str(fs._strip_protocol(location.url)).rstrip("/")

    def _abs(self, location: Location, rel: str) -> tuple[Any, str]:
        # Store paths are opaque strings: joined, never normalised, so a store whose
        # paths hold "//" or other URL-shaped parts is read where the handler wrote.
        fs, root = self.filesystem(location)
        return fs, f"{root}/{rel}"

    def _is_local(self, fs: Any) -> bool:
        protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        return "file" in protocol or "local" in protocol

    def backdoor_read(self, location: Location, path: str) -> bytes:
        fs, full = self._abs(location, path)
        try:
            return bytes(fs.cat_file(full))
        except (FileNotFoundError, IsADirectoryError):
            raise FileNotFoundError(full) from None

    def backdoor_write(self, location: Location, path: str, data: bytes) -> None:
        from tfjs_store.stores.fsspec import FsspecStore

        fs, full = self._abs(location, path)
        parent = full.rpartition("/")[0]
        if self._is_local(fs) or FsspecStore(fs, parent).needs_folders:
            fs.makedirs(parent, exist_ok=True)  # local disk, ftp://, sftp://, webdav://…
        fs.pipe_file(full, data)

    def backdoor_list(self, location: Location) -> list[str]:
        fs, root = self.filesystem(location)
        try:
            found = fs.find(root)
        except FileNotFoundError:
            return []
        prefix = root + "/"
        return sorted(p[len(prefix) :] for p in found if p.startswith(prefix))

    def same_location(self, listed: str, location: Location) -> bool:
        # Compare paths as the filesystem sees them: a listing may name the protocol by
        # another of its aliases (abfs:// for az://, gs:// for gcs://).
        fs, path = self.filesystem(location)
        key = str(fs._strip_protocol(listed)).rstrip("/")
        if key.endswith("/" + location.json_name):
            key = key[: -len(location.json_name) - 1]
        return key == path

    # -- faults ---------------------------------------------------------------------------

    def open_faulty_handler(self, location: Location, fail_at: int | None) -> FaultyHandler | None:
        from tfjs_store.testing import FaultyFileSystem

        fs, _ = self.filesystem(location)
        faulty = FaultyFileSystem(fs, fail_at=fail_at, kill=True)
        try:
            handler = self.open_handler(location, filesystem=faulty)
        except TypeError:
            return None  # a handler that does not take filesystem=

        def describe(n: int) -> str:
            calls = faulty.calls
            if n <= len(calls):
                call = calls[n - 1]
                return f"{call.kind} {call.method}({posixpath.basename(call.path)})"
            return f"step {n}"

        return FaultyHandler(handler, lambda: faulty.count, describe)
