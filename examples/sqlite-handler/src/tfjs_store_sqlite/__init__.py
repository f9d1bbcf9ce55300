"""``sqlite:///PATH/models.db?model=NAME``: TensorFlow.js models in one SQLite file.

Each model is kept as the files TF.js would read, ``NAME/model.json`` and
``NAME/weights.bin``, as rows of one table (``tfjs_files(path, data)``). Model names
are folder-like (``team/m1``), so ``list_models()`` on ``?model=team`` lists every
model under ``team/``.

A save replaces the model in one transaction: a reader sees the old model or the new
one, never a mix, and a save that fails anywhere leaves the old model as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from tfjs_store import (
    InvalidModelError,
    ManifestGroup,
    ModelArtifacts,
    ModelArtifactsInfo,
    ModelJSON,
    ModelNotFoundError,
    SaveResult,
    StorageError,
    TfjsStoreError,
    UnsafePathError,
    decode_weights,
)
from tfjs_store.format.layout import safe_relative_path

__all__ = ["SQLiteHandler", "parse_url"]

TABLE = "tfjs_files"
WEIGHTS = "weights.bin"
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


class SQLiteHandler:
    """A tfjs-store handler (``save``, ``load``, ``list_models``, ``remove_model``).

    ``on_write`` is called with a description before each statement that changes the
    database; tests use it to make a save fail at any step.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        on_write: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.db, self.model = parse_url(url)
        self.timeout = timeout
        self.on_write = on_write

    # -- the database ------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        if not write and not os.path.exists(self.db):
            raise ModelNotFoundError(f"no model at {self.url}: {self.db} does not exist")
        try:
            conn = sqlite3.connect(self.db, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(f"opening {self.db} failed: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError(f"{self.db}: {exc}") from exc
        finally:
            conn.close()

    def _write(
        self, conn: sqlite3.Connection, what: str, sql: str, params: tuple[Any, ...]
    ) -> None:
        if self.on_write is not None:
            try:
                self.on_write(what)
            except OSError as exc:
                raise StorageError(f"{self.db}: {what} failed: {exc}") from exc
        conn.execute(sql, params)

    def _key(self, rel: str, model: str | None = None) -> str:
        return f"{model or self.model}/{rel}"

    def _get(self, conn: sqlite3.Connection, key: str) -> bytes | None:
        row = conn.execute(f"SELECT data FROM {TABLE} WHERE path = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    # -- reading -----------------------------------------------------------------------

    def _parse(self, raw: bytes, model: str) -> ModelJSON:
        where = f"{self.db}: {model}/model.json"

        def reject(name: str) -> Any:
            raise ValueError(f"{name} is not valid JSON")

        try:
            obj = json.loads(raw.decode("utf-8"), parse_constant=reject)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise InvalidModelError(f"{where} is not valid JSON: {exc}") from None
        return ModelJSON.parse(obj, where)

    def _read(self, conn: sqlite3.Connection, model: str) -> ModelArtifacts:
        raw = self._get(conn, self._key("model.json", model))
        if raw is None:
            raise ModelNotFoundError(f"no model named {model!r} in {self.db}")
        model_json = self._parse(raw, model)
        buffers: list[bytes] = []
        for g, group in enumerate(model_json.weights_manifest or [], start=1):
            group_buffers = []
            for path in group.paths:
                data = self._get(conn, self._key(safe_relative_path(path), model))
                if data is None:
                    raise ModelNotFoundError(
                        f"weight file {path!r} of model {model!r} is missing from {self.db}"
                    )
                group_buffers.append(data)
            # Each group's files must hold exactly its weights (this raises
            # WeightDataError otherwise, without trusting the shapes to allocate).
            try:
                decode_weights(group_buffers, group.weights)
            except TfjsStoreError as exc:
                raise type(exc)(f"{self.db}: model {model!r}, weights group {g}: {exc}") from None
            buffers += group_buffers
        return ModelArtifacts.from_model_json(model_json, buffers)

    def load(self) -> ModelArtifacts:
        with self._transaction(write=False) as conn:
            return self._read(conn, self.model)

    # -- writing -----------------------------------------------------------------------

    def _delete_model(self, conn: sqlite3.Connection, model: str) -> None:
        raw = self._get(conn, self._key("model.json", model))
        if raw is None:
            return
        with contextlib.suppress(InvalidModelError):  # an unreadable old model: json only
            for path in self._parse(raw, model).weight_paths:
                with contextlib.suppress(UnsafePathError):  # never follow an escaping path
                    key = self._key(safe_relative_path(path), model)
                    self._write(
                        conn, f"delete {key}", f"DELETE FROM {TABLE} WHERE path = ?", (key,)
                    )
        key = self._key("model.json", model)
        self._write(conn, f"delete {key}", f"DELETE FROM {TABLE} WHERE path = ?", (key,))

    def save(self, artifacts: ModelArtifacts) -> SaveResult:
        if isinstance(artifacts.model_topology, (bytes, bytearray)):
            raise InvalidModelError("a binary (GraphDef) model topology cannot be saved")
        specs = list(artifacts.weight_specs or [])
        groups = (
            []
            if artifacts.weight_specs is None
            else [ManifestGroup(paths=[WEIGHTS], weights=specs)]
        )
        try:
            body = json.dumps(
                artifacts.to_model_json(groups).to_json_obj(),
                ensure_ascii=False,
                separators=(",", ":"),
                allow_nan=False,
            ).encode("utf-8")
        except ValueError as exc:
            raise InvalidModelError(f"the model cannot be written as JSON: {exc}") from None
        weights = b"".join(bytes(b) for b in artifacts.buffers)
        insert = f"INSERT OR REPLACE INTO {TABLE} (path, data) VALUES (?, ?)"
        with self._transaction(write=True) as conn:
            self._delete_model(conn, self.model)
            if groups:
                key = self._key(WEIGHTS)
                self._write(conn, f"write {key}", insert, (key, weights))
            key = self._key("model.json")
            self._write(conn, f"write {key}", insert, (key, body))
        return SaveResult(model_artifacts_info=artifacts.info())

    # -- management --------------------------------------------------------------------

    def list_models(self) -> dict[str, ModelArtifactsInfo]:
        """Every model named ``NAME`` or ``NAME/...``: its URL -> info."""
        if not os.path.exists(self.db):
            return {}
        out: dict[str, ModelArtifactsInfo] = {}
        with self._transaction(write=False) as conn:
            rows = conn.execute(f"SELECT path FROM {TABLE}").fetchall()
            for (path,) in rows:
                if not path.endswith("/model.json"):
                    continue
                name = path[: -len("/model.json")]
                if name != self.model and not name.startswith(self.model + "/"):
                    continue
                try:
                    info = self._read(conn, name).info()
                except TfjsStoreError:
                    continue  # not a model tfjs-store can read: not listed
                out[f"sqlite://{self.db}?model={name}"] = info
        return out

    def remove_model(self) -> ModelArtifactsInfo:
        if not os.path.exists(self.db):
            raise ModelNotFoundError(f"no model at {self.url}: {self.db} does not exist")
        with self._transaction(write=True) as conn:
            info = self._read(conn, self.model).info()
            self._delete_model(conn, self.model)
        return info
