"""What the bridge tells browsers and CDNs about caching what it serves.

- ``model.json`` changes with every save: ``Cache-Control: no-cache`` (keep it, but ask
  first), with an ``ETag`` that is a hash of its bytes, so asking costs a ``304``.
- A weight file whose name carries its content's digest
  (``group1-shard1of2.<digest>.bin``, what the ``shards`` layout writes) or an older
  save's tag never changes under that name: it may be kept a year without asking
  (``max-age=31536000, immutable``). Any other weight file (the ``single``
  upload form rewrites ``model.weights.bin`` in place) is ``no-cache``.
- A weight file's ``ETag`` comes from the SHA-256 that tfjs-store recorded for it in
  model.json when there is one, else from its size and modification time in storage:
  either way, no weight byte is read to answer a conditional ``GET``.

- A redirect to a presigned URL (``redirect_weights``) is ``private`` (the URL is a
  credential for as long as it lives): for a save-tagged file it may be kept for half
  the signature's life, so a kept redirect still leads to a URL that works; any other
  one is ``no-store``, so every load signs anew and reads the file as it is now.

When reads need the bearer token, ``private`` replaces ``public``: a shared cache must
not hand a protected model to someone without the token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ..format.shards import immutable_name

__all__ = [
    "DEFAULT_REDIRECT_EXPIRES",
    "IMMUTABLE_MAX_AGE",
    "MAX_REDIRECT_EXPIRES",
    "bytes_etag",
    "cache_control",
    "not_modified",
    "redirect_cache_control",
    "stored_file_etag",
]

IMMUTABLE_MAX_AGE = 31_536_000
"""One year in seconds: the longest ``max-age`` caches are expected to honour."""
DEFAULT_REDIRECT_EXPIRES = 300
"""Seconds a presigned weight URL (``redirect_weights``) stays valid by default."""
MAX_REDIRECT_EXPIRES = 7 * 24 * 3600
"""The longest-lived presigned URL S3 (SigV4) and GCS (V4) sign: seven days."""

_MTIME_KEYS = ("mtime", "LastModified", "last_modified", "updated", "modified", "created")
_VERSION_KEYS = ("ETag", "etag", "md5Hash", "generation", "version_id", "VersionId")


def _quote(tag: str) -> str:
    return f'"{tag}"'


def bytes_etag(data: bytes) -> str:
    """A strong ETag for a body the bridge holds whole (model.json)."""
    return _quote(hashlib.sha256(data).hexdigest()[:32])


def stored_file_etag(recorded: str | None, info: Mapping[str, Any] | None) -> str | None:
    """A weight file's ETag: from its recorded checksum (``recorded``, a seed such as
    ``sha256-<hex>``), else from its storage info (size plus modification time or the
    store's own version), else None."""
    if recorded:
        return _quote(recorded)
    if not info:
        return None
    stamp = next((info[k] for k in _MTIME_KEYS if info.get(k) is not None), None)
    if stamp is None:
        stamp = next((info[k] for k in _VERSION_KEYS if info.get(k) is not None), None)
    if stamp is None:
        return None
    seed = f"{info.get('size')}|{stamp}".encode()
    return _quote(f"s-{hashlib.sha256(seed).hexdigest()[:24]}")


def not_modified(if_none_match: str | None, etag: str | None) -> bool:
    """Whether an ``If-None-Match`` header matches ``etag`` (weak comparison, RFC 9110
    §13.1.2: ``W/`` prefixes are ignored; ``*`` matches any current file)."""
    if not if_none_match or etag is None:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


def cache_control(file_name: str | None, *, private: bool) -> str:
    """``Cache-Control`` for model.json (``file_name`` None) or a weight file."""
    scope = "private" if private else "public"
    if file_name is not None and immutable_name(file_name):
        return f"{scope}, max-age={IMMUTABLE_MAX_AGE}, immutable"
    return f"{scope}, no-cache"


def redirect_cache_control(file_name: str, expires_s: int) -> str:
    """``Cache-Control`` of a ``307`` to a weight file's presigned URL that lives
    ``expires_s`` seconds (see the module doc)."""
    keep = expires_s // 2
    if immutable_name(file_name) and keep > 0:
        return f"private, max-age={keep}"
    return "no-store"
