"""Fuzz target: loading a model.json plus its weight files.

One input is ``model.json`` bytes, then each weight file's bytes, separated by
``SEP``. The harness writes the files into a fresh in-memory folder (file *i* under
the *i*-th path the manifest names, when that path stays in the folder), puts a
``sentinel.bin`` beside the folder, and loads it with tfjs-store through a
``FaultyFileSystem`` that records every read. It must:

- raise nothing but a ``TfjsStoreError`` subclass;
- read nothing outside the folder;
- when the load succeeds, decode the weights (or refuse with a ``TfjsStoreError``)
  and save and load them again byte for byte;
- then take a known model saved over the folder: it loads whole, and neither the
  sentinel nor a bystander file the old manifest did not name is removed.

Run: ``python fuzz/fuzz_load.py -max_total_time=60 -max_len=16384 WORK_DIR fuzz/corpus``
(libFuzzer options; new crashes are written as ``crash-*`` files, see fuzz/README.md).
``one_input`` runs without atheris too: tests/reliability/test_fuzz.py replays the
seed and crash corpora through it.
"""

from __future__ import annotations

import json
import posixpath
import sys
from typing import Any

import fsspec
import numpy as np

if __name__ == "__main__":  # coverage feedback from tfjs_store's own code only
    import atheris

    with atheris.instrument_imports(include=["tfjs_store"]):
        import tfjs_store.handlers.fsspec
        import tfjs_store.testing  # noqa: F401

from tfjs_store import ModelArtifacts, TfjsStoreError
from tfjs_store.handlers.fsspec import FsspecHandler
from tfjs_store.testing import FaultyFileSystem

SEP = b"\n\x00--weights--\x00\n"
ROOT = "/fuzz"
FOLDER = f"{ROOT}/model"
MEMORY = fsspec.filesystem("memory")


BYSTANDER = f"{FOLDER}/keep.txt"
_KNOWN = ModelArtifacts.from_weights({"k": np.arange(5, dtype=np.float32)})
_KNOWN_BYTES = np.arange(5, dtype=np.float32).tobytes()


def pack(model_json: bytes, weight_files: list[bytes]) -> bytes:
    """An input for ``one_input`` (used to write the seed corpus)."""
    return SEP.join([model_json, *weight_files])


def _manifest_paths(raw: bytes) -> list[Any]:
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return []
    groups = obj.get("weightsManifest") if isinstance(obj, dict) else None
    if not isinstance(groups, list):
        return []
    out: list[Any] = []
    for group in groups:
        paths = group.get("paths") if isinstance(group, dict) else None
        if isinstance(paths, list):
            out.extend(paths)
    return out


def _reset() -> None:
    MEMORY.store.clear()
    MEMORY.pseudo_dirs.clear()
    MEMORY.pseudo_dirs.append("")


def one_input(data: bytes) -> None:
    _reset()
    raw_json, *pieces = data.split(SEP)
    files = {f"{FOLDER}/model.json": raw_json}
    for name, piece in zip(_manifest_paths(raw_json), pieces, strict=False):
        if not isinstance(name, str) or not name or "\x00" in name or len(name) > 200:
            continue
        path = posixpath.normpath(f"{FOLDER}/{name}")
        if path.startswith(FOLDER + "/") and path != f"{FOLDER}/model.json":
            files[path] = piece
    files[f"{ROOT}/sentinel.bin"] = pieces[0] if pieces else b"\0" * 4
    MEMORY.pipe(files)
    spy = FaultyFileSystem(MEMORY)
    try:
        loaded = FsspecHandler(f"memory://{FOLDER}", filesystem=spy).load()
    except TfjsStoreError:
        loaded = None
    for path in spy.reads:
        if not posixpath.normpath(path).startswith(FOLDER + "/"):
            raise AssertionError(f"read {path!r} outside {FOLDER}")
    if loaded is not None:
        _save_again(loaded)
    _replace(raw_json)


def _save_again(loaded: Any) -> None:
    try:
        weights = loaded.weights()
    except TfjsStoreError:
        return
    assert set(weights) == {s.name for s in loaded.weight_specs or []}
    FsspecHandler(f"memory://{ROOT}/again").save(loaded)
    again = FsspecHandler(f"memory://{ROOT}/again").load()
    got = b"".join(bytes(b) for b in again.buffers)
    want = b"".join(bytes(b) for b in loaded.buffers)
    assert got == want, "saving a loaded model changed its weight bytes"


def _replace(raw_json: bytes) -> None:
    """Save a known model over the folder: it must load, and files the old manifest
    did not name (the bystander, the sentinel) must survive."""
    MEMORY.pipe({BYSTANDER: b"a user's file"})
    FsspecHandler(f"memory://{FOLDER}").save(_KNOWN)
    got = FsspecHandler(f"memory://{FOLDER}").load()
    assert b"".join(bytes(b) for b in got.buffers) == _KNOWN_BYTES, "the new model is torn"
    assert MEMORY.exists(f"{ROOT}/sentinel.bin"), "saving removed a file outside the folder"
    if not MEMORY.exists(BYSTANDER):
        assert b"keep.txt" in raw_json, "saving removed a file the old model did not name"


def main() -> None:
    import atheris

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
