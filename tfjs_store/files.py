"""``load_files``: a model from a set of picked files, as TF.js's ``tf.io.browserFiles``.

A user who picks files (a web form, a file dialog, an upload) holds one model JSON and
its weight files, named but not placed: nothing says which folder they came from. TF.js
(docs/tfjs-format.md §9) matches each manifest path to a picked file by **basename** and
refuses a set that does not fit, with these checks, in this order::

    modelTopology field is missing from file <name>
    weightManifest field is missing from file <name>
    Duplicate file basename found in weights manifest: '<b>'
    Weight file with basename '<b>' is not provided.
    Mismatch in the number of files in weights manifest (<m>) and the number of weight
    files provided (<n>).

``load_files`` makes the same checks with the same words (raised as
``InvalidModelError``), then checks each weight group's byte length as every loader does
(``WeightDataError``) and, when the JSON carries tfjs-store's size/SHA-256 record, each
file against it (``IntegrityError``). Files are matched by name before any weight file
is read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .errors import (
    InvalidModelError,
    ModelNotFoundError,
    StorageError,
)
from .format.artifacts import ModelArtifacts
from .format.integrity import check_file, check_groups
from .format.jsonfmt import parse_json_bytes
from .format.record import RECORD_KEY, SaveRecord
from .format.schemas import ModelJSON

__all__ = ["load_files", "tfjs_basename"]

def tfjs_basename(path: str) -> str:
    """TF.js's ``basename``: trimmed, trailing ``/`` removed, the part after the last ``/``."""
    path = path.strip()
    while path.endswith("/"):
        path = path[:-1]
    return path.split("/")[-1]


class _Source:
    """One picked file: its name and where its bytes come from (read on demand)."""

    __slots__ = ("name", "source")

    def __init__(self, name: str | None, source: Any) -> None:
        self.name = name
        self.source = source

    def read(self, what: str) -> Any:
        """The file's bytes (a view, not a copy, when given bytes-like data)."""
        src = self.source
        label = self.name or what
        if isinstance(src, (str, os.PathLike)):
            try:
                with open(src, "rb") as fh:
                    return fh.read()
            except FileNotFoundError:
                raise ModelNotFoundError(f"{what} {os.fspath(src)!r} does not exist") from None
            except IsADirectoryError:
                raise ModelNotFoundError(f"{what} {os.fspath(src)!r} is a folder") from None
            except OSError as exc:
                raise StorageError(f"reading {what} {os.fspath(src)!r} failed: {exc}") from exc
        if hasattr(src, "read"):
            try:
                data = src.read()
            except OSError as exc:
                raise StorageError(f"reading {what} {label!r} failed: {exc}") from exc
            if isinstance(data, str):
                if what != "model JSON":
                    raise TypeError(
                        f"weight file {label!r} was opened in text mode; open it with 'rb'"
                    )
                return data.encode("utf-8", "surrogatepass")
            return memoryview(data).cast("B") if not isinstance(data, bytes) else data
        return memoryview(src).cast("B")


def _source(item: Any, what: str, index: int) -> _Source:
    if isinstance(item, tuple):
        if len(item) != 2 or not isinstance(item[0], str):
            raise TypeError(f"{what} #{index}: a (name, data) pair needs a str name, got {item!r}")
        name, data = item
        _check_data(data, what, index)
        return _Source(name, data)
    if isinstance(item, (str, os.PathLike)):
        return _Source(os.path.basename(os.fspath(item)), item)
    if hasattr(item, "read"):
        name = getattr(item, "name", None)
        return _Source(os.path.basename(name) if isinstance(name, str) else None, item)
    if isinstance(item, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"{what} #{index} is bytes without a name; pass (name, data) so it can be "
            "matched to the weights manifest"
        )
    raise TypeError(
        f"{what} #{index} must be a path, a binary file object or a (name, data) pair, "
        f"got {type(item).__name__}"
    )


def _check_data(data: Any, what: str, index: int) -> None:
    if isinstance(data, (str, os.PathLike)) or hasattr(data, "read"):
        return
    try:
        memoryview(data)
    except TypeError:
        raise TypeError(
            f"{what} #{index}: data must be a path, a binary file object or bytes-like, "
            f"got {type(data).__name__}"
        ) from None


def load_files(
    json_file: Any,
    *weight_files: Any,
    require_weights: bool = False,
    verify: bool = True,
) -> ModelArtifacts:
    """Load a model from its model JSON and weight files, matched by basename.

    What ``tf.loadLayersModel(tf.io.browserFiles([jsonFile, ...weightFiles]))`` reads
    (docs/tfjs-format.md §9): each path in the JSON's ``weightsManifest`` names, by its
    basename, one of ``weight_files``; folders in the paths and in the files' names do not
    matter.

    Parameters
    ----------
    json_file:
        The model JSON (``model.json``, ``my-model.json``…).
    weight_files:
        The weight files, in any order. Each of these arguments may be a local path, a
        binary file object (its ``name`` is used) or a ``(name, data)`` pair, where
        ``data`` is a path, a file object or bytes-like (used without a copy).
    require_weights:
        Without weight files, TF.js's ``browserFiles`` loads only the topology.
        ``load_files`` does the same (the JSON's fields without ``weight_specs`` and
        ``weight_data``) unless ``require_weights`` is set; then the files are matched
        to the manifest as always (a manifest naming files needs them).
    verify:
        When the JSON carries tfjs-store's size/SHA-256 record (it was saved by
        tfjs-store), check each weight file against it.

    Returns
    -------
    ModelArtifacts
        One weight buffer per manifest path, in manifest order.

    Raises
    ------
    InvalidModelError
        The JSON is not a model JSON, or the files do not fit its manifest (TF.js's
        messages); ``WeightDataError`` when a weight group's bytes do not match its
        specs; ``IntegrityError`` when a file differs from the recorded digest.
    ModelNotFoundError, StorageError
        A path does not exist, or reading failed.

    Examples
    --------
    >>> artifacts = tfjs_store.load_files(                       # doctest: +SKIP
    ...     "downloads/my-model.json", "downloads/my-model.weights.bin")
    >>> with open("model.json", "rb") as j, open("group1-shard1of1.bin", "rb") as w:
    ...     artifacts = tfjs_store.load_files(j, w)              # doctest: +SKIP
    """
    json_source = _source(json_file, "model JSON", 0)
    json_name = json_source.name or "the model JSON"
    sources = [_source(item, "weight file", i) for i, item in enumerate(weight_files, start=1)]
    for i, src in enumerate(sources, start=1):
        if not src.name:
            raise TypeError(
                f"weight file #{i} has no name to match against the weights manifest; "
                "pass it as (name, file)"
            )

    obj = parse_json_bytes(json_source.read("model JSON"), json_name)
    if not isinstance(obj, dict):
        raise InvalidModelError(f"{json_name} is not a JSON object")
    if obj.get("modelTopology") is None:
        raise InvalidModelError(f"modelTopology field is missing from file {json_name}")
    if obj.get("weightsManifest") is None:
        raise InvalidModelError(f"weightManifest field is missing from file {json_name}")
    # TF.js's order: the files are matched to the manifest's paths before anything else of
    # the JSON is looked at (modelTopology is opaque JSON to browserFiles).
    wanted = bool(sources) or require_weights
    names = [src.name or "" for src in sources]
    paths = _manifest_paths(obj["weightsManifest"])
    order = _match_paths(paths, names) if wanted and paths is not None else None
    model_json = ModelJSON.parse(obj, json_name)

    if not wanted:
        topology_only = model_json.model_copy(update={"weights_manifest": None})
        return ModelArtifacts.from_model_json(topology_only, None, drop_keys=(RECORD_KEY,))

    if order is None:
        order = match_files(model_json, names)
    buffers = [sources[i].read("weight file") for i in order]
    _check_groups(model_json, buffers, json_name)
    if verify:
        _check_record(model_json, buffers, json_name)
    return ModelArtifacts.from_model_json(model_json, buffers, drop_keys=(RECORD_KEY,))


def _manifest_paths(manifest: Any) -> list[str] | None:
    """The paths of a raw ``weightsManifest`` in order, as TF.js walks them; None when it
    is not shaped like one (the schema check then names what is wrong)."""
    if not isinstance(manifest, list):
        return None
    paths: list[str] = []
    for group in manifest:
        group_paths = group.get("paths") if isinstance(group, dict) else None
        if not isinstance(group_paths, list) or not all(isinstance(p, str) for p in group_paths):
            return None
        paths.extend(group_paths)
    return paths


def match_files(model_json: ModelJSON, file_names: Sequence[str]) -> list[int]:
    """For each manifest path in order, the index in ``file_names`` of its file.

    TF.js's ``checkManifestAndWeightFiles``: paths and names are compared by basename;
    a basename the manifest names twice, a path without a file and a count that differs
    are ``InvalidModelError`` with TF.js's messages. Of several files with one basename
    the first is taken (and the count check then fails, as in TF.js).
    """
    return _match_paths(model_json.weight_paths, file_names)


def _match_paths(paths: Sequence[str], file_names: Sequence[str]) -> list[int]:
    names = [tfjs_basename(n) for n in file_names]
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        first.setdefault(name, i)
    seen: set[str] = set()
    order = []
    for path in paths:
        base = tfjs_basename(path)
        if base in seen:
            raise InvalidModelError(f"Duplicate file basename found in weights manifest: '{base}'")
        seen.add(base)
        if base not in first:
            raise InvalidModelError(f"Weight file with basename '{base}' is not provided.")
        order.append(first[base])
    if len(order) != len(names):
        raise InvalidModelError(
            f"Mismatch in the number of files in weights manifest ({len(order)}) and the "
            f"number of weight files provided ({len(names)})."
        )
    return order


def _check_groups(model_json: ModelJSON, buffers: Sequence[Any], where: str) -> None:
    groups = model_json.weights_manifest or []
    per_group, names, pos = [], [], 0
    for group in groups:
        per_group.append(list(buffers[pos : pos + len(group.paths)]))
        names.append([tfjs_basename(p) for p in group.paths])
        pos += len(group.paths)
    check_groups(groups, per_group, where=where, names=names)


def _check_record(model_json: ModelJSON, buffers: Sequence[Any], where: str) -> None:
    record = SaveRecord.of(model_json)
    if record is None:
        return
    for path, buf in zip(model_json.weight_paths, buffers, strict=True):
        check_file(buf, record.entry(path), name=repr(tfjs_basename(path)), where=where)
