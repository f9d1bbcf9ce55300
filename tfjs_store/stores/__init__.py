"""Byte stores: one module per backend, holding only what differs between them.

``base.ByteStore`` is the interface (with ``supports_*`` flags); ``fsspec.FsspecStore``
serves every fsspec filesystem, through one subclass per backend (``local``,
``memory``, ``s3``, ``gcs``, ``azure``, ``renaming``) picked by protocol
(``protocols.STORE_CLASSES``); ``http.HttpStore`` is the read side of http(s) URLs
(TF.js's URL rules; its requests and retries in ``http_client`` and ``http_retry``).
A model handler (``tfjs_store.handler``) sits on top.
"""

from __future__ import annotations

from .base import ByteStore, FileInfo, WriteJob

__all__ = ["ByteStore", "FileInfo", "WriteJob"]
