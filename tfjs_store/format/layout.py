"""Where each weight byte goes on storage: manifest groups, shard files, and paths.

A *layout* decides file names and how the weight bytes are cut; it knows nothing of
the storage the files end up on.

- ``shards``: the converter's layout, ``group{g}-shard{i}of{n}.bin`` cut at
  ``shard_size_bytes`` (a weight may straddle two shards), one manifest group per group
  of the source model. ``name_by_content`` then puts each file's content digest in
  its name (``group1-shard1of2.<digest>.bin``): a name always holds the same bytes,
  so a save never rewrites a file a reader may be reading, and finds the files it
  shares with the model it replaces already stored.
- ``single``: every weight in one file (tfjs-node's ``weights.bin``, the browser's
  ``./model.weights.bin``), in one manifest group, as TF.js writes it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidModelError, UnsafePathError
from .artifacts import ModelArtifacts
from .codec import weight_byte_ranges
from .schemas import ManifestGroup, ModelJSON
from .shards import (
    DEFAULT_SHARD_SIZE,
    CompositeBuffer,
    content_digest,
    shard_name,
    shard_ranges,
)

__all__ = ["ShardFile", "StoragePlan", "name_by_content", "plan_storage", "safe_relative_path"]


@dataclass(frozen=True)
class ShardFile:
    """One weight file: its manifest path and its byte range in the concatenated data."""

    path: str
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class StoragePlan:
    """The model.json to write and the weight files that go with it."""

    model_json: ModelJSON
    files: list[ShardFile]
    data: CompositeBuffer


def plan_storage(
    artifacts: ModelArtifacts,
    *,
    layout: Literal["shards", "single"] = "shards",
    shard_size_bytes: int = DEFAULT_SHARD_SIZE,
    tag: str | None = None,
    single_path: str = "weights.bin",
) -> StoragePlan:
    """Plan the files for ``artifacts``; raises ``WeightDataError`` if data and specs differ."""
    data = CompositeBuffer(artifacts.weight_data)
    specs = list(artifacts.weight_specs or [])
    ranges = weight_byte_ranges(specs, data)
    files: list[ShardFile] = []
    groups: list[ManifestGroup] = []
    if layout == "single":
        if artifacts.weight_specs is not None:
            files.append(ShardFile(single_path, 0, data.byte_length))
            groups.append(ManifestGroup(paths=[single_path], weights=specs))
    elif layout == "shards":
        pos = 0
        for g, group_specs in enumerate(artifacts.group_partition(), start=1):
            start = ranges[pos][0] if group_specs else 0
            end = ranges[pos + len(group_specs) - 1][1] if group_specs else 0
            pos += len(group_specs)
            cuts = shard_ranges(start, end, shard_size_bytes)
            names = [shard_name(g, i, len(cuts), tag) for i in range(1, len(cuts) + 1)]
            files += [ShardFile(n, s, e) for n, (s, e) in zip(names, cuts, strict=True)]
            groups.append(ManifestGroup(paths=names, weights=list(group_specs)))
    else:
        raise ValueError(f"unknown layout {layout!r}; choose 'shards' or 'single'")
    return StoragePlan(artifacts.to_model_json(groups), files, data)


def name_by_content(plan: StoragePlan, sha256_hexes: Sequence[str]) -> StoragePlan:
    """The ``shards`` plan (made without a tag) with each file named after its bytes:
    ``group{g}-shard{i}of{n}.<digest>.bin``, ``sha256_hexes`` giving each file's
    SHA-256 in plan order."""
    renamed: dict[str, str] = {}
    files = []
    for f, hexdigest in zip(plan.files, sha256_hexes, strict=True):
        stem = f.path.removesuffix(".bin")
        renamed[f.path] = f"{stem}.{content_digest(hexdigest)}.bin"
        files.append(ShardFile(renamed[f.path], f.start, f.end))
    manifest = plan.model_json.weights_manifest
    if manifest is None:
        return plan
    groups = [g.model_copy(update={"paths": [renamed[p] for p in g.paths]}) for g in manifest]
    model_json = plan.model_json.model_copy(update={"weights_manifest": groups})
    return StoragePlan(model_json, files, plan.data)


def safe_relative_path(path: str) -> str:
    """A manifest path made relative to the model's folder, or ``UnsafePathError``.

    ``./x`` and ``x`` are the same file; sub-folders are allowed. Absolute paths, any
    ``..`` that climbs out, URLs (``file://``, ``http://``, ``s3://``…), backslashes and
    empty names are refused: a manifest must not make a loader read elsewhere.
    """
    if not isinstance(path, str) or not path.strip():
        raise UnsafePathError(f"weight path {path!r} is empty")
    if "\\" in path or "\x00" in path:
        raise UnsafePathError(f"weight path {path!r} contains a backslash or NUL byte")
    if "://" in path or path.startswith(("/", "~")) or (len(path) > 1 and path[1] == ":"):
        raise UnsafePathError(
            f"weight path {path!r} is absolute or a URL; weight files must lie in the "
            "model's folder"
        )
    norm = posixpath.normpath(path)
    if norm == "." or norm == ".." or norm.startswith("../"):
        raise UnsafePathError(f"weight path {path!r} leaves the model's folder")
    if "?" in norm or "#" in norm:
        raise UnsafePathError(f"weight path {path!r} contains '?' or '#'")
    return norm


def manifest_paths(model_json: ModelJSON) -> list[str]:
    """All weight paths of a model.json, checked and normalised, in manifest order.

    A file named twice (``a.bin`` and ``./a.bin`` too) is refused: no writer does that,
    and a reader would hold one copy of the file per mention.
    """
    paths = [safe_relative_path(p) for p in model_json.weight_paths]
    if len(set(paths)) != len(paths):
        seen: set[str] = set()
        for path in paths:
            if path in seen:
                raise InvalidModelError(
                    f"weight file {path!r} is named more than once in the weights manifest"
                )
            seen.add(path)
    return paths


def group_files(model_json: ModelJSON) -> Sequence[tuple[ManifestGroup, list[str]]]:
    groups = model_json.weights_manifest or []
    return [(g, [safe_relative_path(p) for p in g.paths]) for g in groups]
