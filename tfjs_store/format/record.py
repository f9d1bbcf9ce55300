"""The save record: what tfjs-store writes into model.json beside TF.js's keys.

TF.js ignores unknown top-level keys, so a model with a record stays loadable by TF.js.
The record sits under one key, ``tfjsStore``::

    "tfjsStore": {"version": 1, "saveId": "lx2k9q0a8c3z",
                  "files": {"group1-shard1of2.lx2k9q0a8c3z.bin": {"size": 4194304,
                                                                 "sha256": "9f86…"}}}

- ``version``: the record's own format version (1).
- ``saveId``: the tag unique to the save that wrote the files (also in their names).
- ``files``: manifest path -> the file's ``size`` in bytes and its ``sha256`` (hex).

A record is read leniently: a model.json is the user's file, and an entry that is not
an object, or a size that is not a non-negative integer, is as if not recorded (the
weight specs still bound what is read). This module is the only place that spells the
key or reads its fields.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RECORD_KEY", "RECORD_VERSION", "FileRecord", "SaveRecord"]

RECORD_KEY = "tfjsStore"
"""The top-level model.json key of the save record."""

RECORD_VERSION = 1


class FileRecord(BaseModel):
    """What was recorded of one weight file at save time."""

    model_config = ConfigDict(frozen=True)

    size: int | None = None
    sha256: str | None = None

    @classmethod
    def from_json(cls, value: Any) -> FileRecord | None:
        """An entry as found in a model.json; None if it is not an object."""
        if not isinstance(value, Mapping):
            return None
        size = value.get("size")
        digest = value.get("sha256")
        return cls(
            size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0
            else None,
            sha256=digest if isinstance(digest, str) else None,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.size is not None:
            out["size"] = self.size
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        return out


class SaveRecord(BaseModel):
    """The save record of one model.json (see the module doc)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    version: int = RECORD_VERSION
    save_id: str | None = Field(default=None, alias="saveId")
    files: dict[str, FileRecord] = Field(default_factory=dict)

    @classmethod
    def of(cls, model_json: Any) -> SaveRecord | None:
        """The record of a parsed model.json (a ``ModelJSON``, or its JSON object);
        None when it has none."""
        if isinstance(model_json, Mapping):
            raw = model_json.get(RECORD_KEY)
        else:
            raw = (getattr(model_json, "model_extra", None) or {}).get(RECORD_KEY)
        if not isinstance(raw, Mapping):
            return None
        files = raw.get("files")
        entries: dict[str, FileRecord] = {}
        for path, value in (files.items() if isinstance(files, Mapping) else ()):
            entry = FileRecord.from_json(value)
            if entry is not None:
                entries[str(path)] = entry
        version = raw.get("version")
        save_id = raw.get("saveId")
        return cls(
            version=version if isinstance(version, int) else RECORD_VERSION,
            save_id=save_id if isinstance(save_id, str) else None,
            files=entries,
        )

    def entry(self, path: str) -> FileRecord | None:
        """The entry for a manifest path, as written or with ``./`` and ``a/../`` undone."""
        found = self.files.get(path)
        if found is None:
            found = self.files.get(posixpath.normpath(path))
        return found

    def to_json(self) -> dict[str, Any]:
        """The record's JSON object, in the key order tfjs-store has always written."""
        out: dict[str, Any] = {"version": self.version}
        if self.save_id is not None:
            out["saveId"] = self.save_id
        out["files"] = {path: entry.to_json() for path, entry in self.files.items()}
        return out

