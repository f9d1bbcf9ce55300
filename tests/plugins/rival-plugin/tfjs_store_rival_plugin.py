"""A second claimant of ``zip://``: it refuses every save, so a test can tell which won."""

from __future__ import annotations

from tfjs_store import StorageError


class RivalHandler:
    def __init__(self, url: str, **options: object) -> None:
        self.url = url

    def save(self, artifacts: object) -> object:
        raise StorageError("rival plugin: saving is not implemented")
