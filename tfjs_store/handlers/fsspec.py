"""Every fsspec URL as an IOHandler: file, memory, s3, gcs, az, chained URLs, plugins.

``FsspecHandler(url)`` is the model handler (``tfjs_store.handler.ModelHandler``: the
commit protocol, the save record, integrity) over an ``FsspecStore`` of the URL's
folder. The URL names a folder, or a model JSON file in one.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any, ClassVar

from ..handler import MAX_MODEL_JSON_BYTES, STALE_AFTER_SECONDS, ModelHandler
from ..stores.fsspec import FsspecStore, open_filesystem

__all__ = [
    "MAX_MODEL_JSON_BYTES",
    "STALE_AFTER_SECONDS",
    "FsspecHandler",
    "open_filesystem",
]


class FsspecHandler(ModelHandler):
    """Saves and loads a model at an fsspec URL (a folder, or a model JSON file in one).

    Parameters
    ----------
    url:
        ``s3://bucket/models/m1``, ``file:///data/m1``, ``/data/m1/model.json``,
        ``memory://m1``, ``simplecache::gs://b/m1`` …
    storage_options:
        Passed to fsspec (credentials, endpoints), as in pandas, xarray and zarr.
    filesystem:
        An fsspec filesystem instance to use instead of opening one from the URL.
    max_concurrency:
        Weight files in flight at once (16 when not given). A filesystem whose client is
        not thread-safe (fsspec's ``ftp://``, its paramiko SFTP) is used from one thread.
    save_options, load_options, layout, shard_size_bytes, checksum, checksums, verify,
    on_progress:
        As for ``ModelHandler``: the router hands the options typed
        (``takes_typed_options``); callers may give them as keywords.
    """

    takes_typed_options: ClassVar[bool] = True
    """The registry hands this class ``save_options=`` / ``load_options=`` (see
    ``tfjs_store.registry``)."""

    def __init__(
        self,
        url: str,
        *,
        storage_options: Mapping[str, Any] | None = None,
        max_concurrency: int = 16,
        filesystem: Any = None,
        **options: Any,
    ) -> None:
        if filesystem is not None:
            fs, path = filesystem, filesystem._strip_protocol(url)
        else:
            fs, path = open_filesystem(url, storage_options)
        path = path.rstrip("/") or "/"
        folder, json_name = (
            posixpath.split(path) if path.endswith(".json") else (path, "model.json")
        )
        self.url = url
        super().__init__(
            FsspecStore(fs, folder, max_concurrency=max_concurrency),
            json_name=json_name,
            **options,
        )

    @property
    def fs(self) -> Any:
        """The fsspec filesystem underneath."""
        assert isinstance(self.store, FsspecStore)
        return self.store.fs

    @property
    def folder(self) -> str:
        """The model folder's path on that filesystem."""
        assert isinstance(self.store, FsspecStore)
        return self.store.folder

    @property
    def json_path(self) -> str:
        assert isinstance(self.store, FsspecStore)
        return self.store.path(self.json_name)
