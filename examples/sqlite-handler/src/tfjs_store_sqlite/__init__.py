"""``sqlite:///PATH/models.db?model=NAME``: TensorFlow.js models in one SQLite file.

The plugin is a byte store (``tfjs_store.stores.ByteStore``): it only keeps files, as
rows of one table ``tfjs_files(path, data)`` keyed ``NAME/FILE``. tfjs-store's model
handler on top does the rest: shards named per save, the save record with checksums,
integrity checks on load, model.json committed last (here: in its own transaction, so
a reader sees the old model or the new one, never a mix), ``clean`` and listing.

Model names are folder-like (``team/m1``), so ``list_models`` on ``?model=team`` lists
every model under ``team/``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tfjs_store import StorageError, UnsafePathError
from tfjs_store.handler import ModelHandler
from tfjs_store.stores import ByteStore, FileInfo, WriteJob

__all__ = ["SQLiteHandler", "SQLiteStore", "parse_url"]

TABLE = "tfjs_files"
_SCHEMA = f"CREATE TABLE IF NOT EXISTS {TABLE} (path TEXT PRIMARY KEY, data BLOB NOT NULL)"


def parse_url(url: str) -> tuple[str, str]:
    """``sqlite://PATH?model=NAME`` -> (database file, model name)."""
    if not url.startswith("sqlite://"):
        raise ValueError(f"not a sqlite:// URL: {url!r}")
    path, _, query = url[len("sqlite://") :].partition("?")
    if not path:
        raise ValueError(f"no database file in {url!r}: use sqlite:///PATH/models.db?model=NAME")
    model = urllib.parse.parse_qs(query).get("model", ["model"])[0].strip("/")
    segments = model.split("/")
    if not model or any(s in ("", ".", "..") for s in segments):
        raise UnsafePathError(f"invalid model name {model!r} in {url!r}")
    return path, model


class SQLiteStore(ByteStore):
    """The files of one model folder (``NAME/...`` rows) of a SQLite database.

    ``on_write`` is called with a description before each statement that changes the
    database; tests use it to make a save fail at any step.
    """

    supports_ranges = True  # substr() on a BLOB reads only the range

    def __init__(
        self, db: str, model: str, *, timeout: float = 30.0,
        on_write: Callable[[str], None] | None = None,
    ) -> None:
        self.db, self.model = db, model
        self.timeout = timeout
        self.on_write = on_write
        self.max_concurrency = 4  # SQLite serialises writers anyway

    @classmethod
    def from_url(
        cls, url: str, /, *, timeout: float = 30.0,
        on_write: Callable[[str], None] | None = None,
    ) -> SQLiteStore:
        return cls(*parse_url(url), timeout=timeout, on_write=on_write)

    @property
    def url(self) -> str:
        return f"sqlite://{self.db}?model={self.model}"

    def file_url(self, name: str) -> str:
        return f"sqlite://{self.db}?model={self.model}/{name}"

    def _key(self, name: str) -> str:
        return f"{self.model}/{name}"

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.db, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(f"opening {self.db} failed: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
            yield conn
        except sqlite3.Error as exc:
            raise StorageError(f"{self.db}: {exc}") from exc
        finally:
            conn.close()

    def _change(self, what: str, sql: str, params: tuple[Any, ...]) -> None:
        """One statement that changes the database, in a transaction of its own."""
        if self.on_write is not None:
            try:
                self.on_write(what)
            except OSError as exc:
                raise StorageError(f"{self.db}: {what} failed: {exc}") from exc
        with self._connection() as conn:
            conn.execute(sql, params)

    # -- reading -----------------------------------------------------------------------

    def _select(self, sql: str, params: tuple[Any, ...], name: str) -> bytes:
        if not os.path.exists(self.db):
            raise FileNotFoundError(2, "No such database", self.file_url(name))
        with self._connection() as conn:
            row = conn.execute(sql, params).fetchone()
        if row is None:
            raise FileNotFoundError(2, "No such file", self.file_url(name))
        return bytes(row[0] or b"")  # substr() of an empty BLOB is NULL

    def read(self, name: str, *, limit: int | None = None) -> bytes:
        if limit is None:
            return self._select(f"SELECT data FROM {TABLE} WHERE path = ?",
                                (self._key(name),), name)
        return self._select(f"SELECT substr(data, 1, ?) FROM {TABLE} WHERE path = ?",
                            (limit + 1, self._key(name)), name)

    def read_range(self, name: str, start: int, end: int) -> bytes:
        return self._select(f"SELECT substr(data, ?, ?) FROM {TABLE} WHERE path = ?",
                            (start + 1, max(0, end - start), self._key(name)), name)

    # -- writing -----------------------------------------------------------------------

    def write(self, job: WriteJob) -> None:
        key = self._key(job.name)
        self._change(f"write {key}", f"INSERT OR REPLACE INTO {TABLE} (path, data) VALUES (?, ?)",
                     (key, b"".join(job.chunks())))

    def commit(self, name: str, data: bytes, *, temp_name: str | None = None) -> None:
        self.write(WriteJob(name, len(data), lambda: iter((memoryview(data),))))

    def remove(self, names: Sequence[str]) -> None:
        for name in names:
            key = self._key(name)
            self._change(f"delete {key}", f"DELETE FROM {TABLE} WHERE path = ?", (key,))

    # -- listing -----------------------------------------------------------------------

    def walk(self) -> dict[str, FileInfo]:
        if not os.path.exists(self.db):
            return {}
        prefix = self.model + "/"
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT path, length(data) FROM {TABLE} WHERE substr(path, 1, ?) = ?",
                (len(prefix), prefix),
            ).fetchall()
        return {path[len(prefix):]: FileInfo(int(size)) for path, size in rows}

    def list(self) -> dict[str, FileInfo]:
        return {name: info for name, info in self.walk().items() if "/" not in name}


class SQLiteHandler(ModelHandler):
    """tfjs-store's model handler over a ``SQLiteStore`` (what the entry point names)."""

    def __init__(
        self, url: str, *, timeout: float = 30.0,
        on_write: Callable[[str], None] | None = None, **options: Any,
    ) -> None:
        self.url = url
        super().__init__(SQLiteStore.from_url(url, timeout=timeout, on_write=on_write), **options)
