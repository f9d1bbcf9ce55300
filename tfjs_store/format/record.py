"""The save record: what tfjs-store writes into model.json beside TF.js's keys.

TF.js ignores unknown top-level keys, so a model with a record stays loadable by TF.js.
The record sits under one key, ``tfjsStore``::

    "tfjsStore": {"version": 1, "saveId": "lx2k9q0a8c3z",
                  "files": {"group1-shard1of2.lx2k9q0a8c3z.bin": {"size": 4194304,
                                                                 "crc32c": "Xf+c6Q=="}},
                  "weights": {"dense/kernel": {"crc32c": "KwzDbw=="}}}

- ``version``: the record's own format version (1).
- ``saveId``: the tag unique to the save that wrote model.json (weight files are named
  after their content; saves before content names put the tag in their names).
- ``files``: manifest path -> the file's ``size`` in bytes and its checksum: ``crc32c``
  (the default: the standard base64 of the big-endian 4-byte CRC32C, exactly as GCS's
  object ``crc32c`` and S3's ``ChecksumCRC32C`` spell it) or ``sha256`` (hex).
- ``weights``: weight name -> the checksum (same kinds and spelling) of that weight's
  own bytes: the ``byteLength`` bytes (a string weight: its length prefixes and
  strings) that start where the weights before it in its manifest group end, in the
  group's files read one after the other. Quantized weights: the quantized bytes as
  stored. A name given to two weights of a model has no entry.

Records written before CRC32C hold ``sha256`` per file and no ``weights``; readers
check whatever an entry holds.

A record is read leniently: a model.json is the user's file, and an entry that is not
an object, or a size that is not a non-negative integer, is as if not recorded (the
weight specs still bound what is read). This module is the only place that spells the
key or reads its fields.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RECORD_KEY", "RECORD_VERSION", "FileRecord", "SaveRecord", "WeightRecord"]

RECORD_KEY = "tfjsStore"
"""The top-level model.json key of the save record."""

RECORD_VERSION = 1


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class _Checksums(BaseModel):
    """The checksums recorded of some bytes: ``crc32c`` and/or ``sha256`` (see the
    module doc for their spelling)."""

    model_config = ConfigDict(frozen=True)

    crc32c: str | None = None
    sha256: str | None = None

    @classmethod
    def from_json(cls: type[_Entry], value: Any) -> _Entry | None:
        """An entry as found in a model.json; None if it is not an object."""
        if not isinstance(value, Mapping):
            return None
        return cls(**cls._fields_from_json(value))

    @classmethod
    def _fields_from_json(cls, value: Mapping[str, Any]) -> dict[str, Any]:
        return {"crc32c": _text(value.get("crc32c")), "sha256": _text(value.get("sha256"))}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.crc32c is not None:
            out["crc32c"] = self.crc32c
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        return out

    @property
    def has_checksum(self) -> bool:
        return self.crc32c is not None or self.sha256 is not None


_Entry = TypeVar("_Entry", bound=_Checksums)


def _entries(table: Any, kind: type[_Entry]) -> dict[str, _Entry]:
    """The entries of a record's ``files`` or ``weights`` object; one that is not an
    object is as if not recorded."""
    out: dict[str, _Entry] = {}
    for key, value in table.items() if isinstance(table, Mapping) else ():
        entry = kind.from_json(value)
        if entry is not None:
            out[str(key)] = entry
    return out


class WeightRecord(_Checksums):
    """What was recorded of one weight's own bytes at save time (see the module doc)."""


class FileRecord(_Checksums):
    """What was recorded of one weight file at save time: its size and checksums."""

    size: int | None = None

    @classmethod
    def _fields_from_json(cls, value: Mapping[str, Any]) -> dict[str, Any]:
        size = value.get("size")
        valid = isinstance(size, int) and not isinstance(size, bool) and size >= 0
        return {"size": size if valid else None, **super()._fields_from_json(value)}

    def to_json(self) -> dict[str, Any]:
        size = {} if self.size is None else {"size": self.size}
        return {**size, **super().to_json()}


class SaveRecord(BaseModel):
    """The save record of one model.json (see the module doc)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    version: int = RECORD_VERSION
    save_id: str | None = Field(default=None, alias="saveId")
    files: dict[str, FileRecord] = Field(default_factory=dict)
    weights: dict[str, WeightRecord] = Field(default_factory=dict)

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
        version = raw.get("version")
        save_id = raw.get("saveId")
        return cls(
            version=version if isinstance(version, int) else RECORD_VERSION,
            save_id=save_id if isinstance(save_id, str) else None,
            files=_entries(raw.get("files"), FileRecord),
            weights=_entries(raw.get("weights"), WeightRecord),
        )

    def entry(self, path: str) -> FileRecord | None:
        """The entry for a manifest path, as written or with ``./`` and ``a/../`` undone."""
        found = self.files.get(path)
        if found is None:
            found = self.files.get(posixpath.normpath(path))
        return found

    def weight(self, name: str) -> WeightRecord | None:
        """The per-weight entry of the weight called ``name``, if one was recorded."""
        return self.weights.get(name)

    def to_json(self) -> dict[str, Any]:
        """The record's JSON object, in the key order tfjs-store has always written."""
        out: dict[str, Any] = {"version": self.version}
        if self.save_id is not None:
            out["saveId"] = self.save_id
        out["files"] = {path: entry.to_json() for path, entry in self.files.items()}
        if self.weights:
            out["weights"] = {name: entry.to_json() for name, entry in self.weights.items()}
        return out

