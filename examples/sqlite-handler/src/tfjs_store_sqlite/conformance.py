"""The conformance suite for ``sqlite://``: the handler plus a back door in raw SQL.

Registered under the entry point group ``tfjs_store.conformance`` as ``sqlite``, so
``tfjs-store conformance sqlite:///tmp/scratch.db`` runs it; subclassed in this
package's ``tests/test_conformance.py`` to run it with pytest.
"""

from __future__ import annotations

import posixpath
import sqlite3
from typing import Any

from tfjs_store.conformance import FaultyHandler, HandlerTests, Location

from . import _SCHEMA, TABLE, SQLiteHandler, parse_url

__all__ = ["SQLiteHandlerTests"]


class SQLiteHandlerTests(HandlerTests):
    """Every check of tfjs-store's conformance suite, for ``SQLiteHandler``."""

    # Capabilities: SQLiteHandler lists, removes, overwrites and copies, and its
    # transactions make concurrent saves and loads safe: every flag stays True.

    def container_url(self, unique: str) -> str:
        assert self.base_url is not None
        if "?model=" in self.base_url:  # sqlite:///x.db?model=prefix -> prefix/unique
            return f"{self.base_url.rstrip('/')}/{unique}"
        return f"{self.base_url}?model={unique}"

    def remove_container(self, container: Location) -> None:
        db, model = parse_url(container.url)
        with self._connect(db) as conn:
            conn.execute(
                f"DELETE FROM {TABLE} WHERE substr(path, 1, ?) = ?", (len(model) + 1, model + "/")
            )

    # -- the back door: the rows themselves, without the handler --------------------------

    def _connect(self, db: str) -> sqlite3.Connection:
        conn = sqlite3.connect(db, timeout=30)
        conn.execute(_SCHEMA)
        return conn

    def _key(self, location: Location, path: str) -> tuple[str, str]:
        db, model = parse_url(location.url)
        return db, posixpath.normpath(f"{model}/{path}")

    def backdoor_read(self, location: Location, path: str) -> bytes:
        db, key = self._key(location, path)
        with self._connect(db) as conn:
            row = conn.execute(f"SELECT data FROM {TABLE} WHERE path = ?", (key,)).fetchone()
        if row is None:
            raise FileNotFoundError(key)
        return bytes(row[0])

    def backdoor_write(self, location: Location, path: str, data: bytes) -> None:
        db, key = self._key(location, path)
        with self._connect(db) as conn:
            conn.execute(f"INSERT OR REPLACE INTO {TABLE} (path, data) VALUES (?, ?)", (key, data))

    def backdoor_list(self, location: Location) -> list[str]:
        db, model = parse_url(location.url)
        with self._connect(db) as conn:
            rows = conn.execute(f"SELECT path FROM {TABLE}").fetchall()
        prefix = model + "/"
        return sorted(p[len(prefix) :] for (p,) in rows if p.startswith(prefix))

    # -- fault injection: fail the N-th write statement and every one after --------------

    def open_faulty_handler(self, location: Location, fail_at: int | None) -> FaultyHandler:
        from tfjs_store.testing import InjectedFault

        steps: list[str] = []

        def on_write(what: str) -> None:
            steps.append(what)
            if fail_at is not None and len(steps) >= fail_at:
                raise InjectedFault(5, f"injected fault at write {len(steps)}: {what}")

        handler: Any = SQLiteHandler(location.url, on_write=on_write)

        def describe(n: int) -> str:
            return steps[n - 1] if n <= len(steps) else f"write {n}"

        return FaultyHandler(handler, lambda: len(steps), describe)
