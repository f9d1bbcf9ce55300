"""Item 4 of issue 9 (Hypothesis part): properties of the loader and the commit protocol.

(tests/test_properties.py covers the codec round trip and junk fed to the schemas;
these are the storage-facing properties.)

- A saved model whose model.json is mutated anywhere in its JSON tree either loads into
  a model that decodes and saves again byte for byte, or raises a ``TfjsStoreError``;
  either way every read stays inside the model's folder.
- Any change to a weight file's bytes is caught (checksums, sizes): never a silent load.
- ``safe_relative_path`` never returns a path that leaves the folder.
- A state machine saves, removes and cleans through a ``FaultyFileSystem`` that fails a
  random step, and checks after every step that the store holds exactly the model of
  the last save (or removal) that reached its commit step.
"""

from __future__ import annotations

import itertools
import json
import posixpath
from typing import Any

import fsspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import tfjs_store
from tfjs_store import ModelNotFoundError, StorageError, TfjsStoreError, UnsafePathError
from tfjs_store.format.layout import safe_relative_path
from tfjs_store.handlers.fsspec import FsspecHandler
from tfjs_store.testing import FaultyFileSystem

from .common import SHARD_SIZE, check_version, model_bytes, scaled, versioned_model

MEMORY = fsspec.filesystem("memory")
_counter = itertools.count()
EXAMPLES = scaled(60, 600)


def _fresh_folder() -> str:
    return f"/hyp-reliability/{next(_counter)}"


def _saved_files() -> dict[str, bytes]:
    folder = _fresh_folder()
    FsspecHandler(f"memory://{folder}", shard_size_bytes=SHARD_SIZE).save(
        versioned_model(7, size=120)
    )
    return {p.rsplit("/", 1)[-1]: MEMORY.cat_file(p) for p in MEMORY.find(folder)}


FILES = _saved_files()
ORIGINAL = json.loads(FILES["model.json"])
SHARDS = sorted(n for n in FILES if n != "model.json")


def _place(files: dict[str, bytes]) -> str:
    """Write files into a fresh folder beside a sentinel; return the folder path."""
    parent = _fresh_folder()
    folder = f"{parent}/model"
    MEMORY.pipe({f"{parent}/sentinel.bin": FILES[SHARDS[0]]})
    MEMORY.pipe({f"{folder}/{name}": data for name, data in files.items()})
    return folder


def _load_tracked(folder: str) -> tuple[Any, BaseException | None, list[str]]:
    spy = FaultyFileSystem(MEMORY)
    try:
        return FsspecHandler(f"memory://{folder}", filesystem=spy).load(), None, spy.reads
    except Exception as exc:
        return None, exc, spy.reads


def _assert_reads_inside(folder: str, reads: list[str]) -> None:
    for path in reads:
        assert posixpath.normpath(path).startswith(folder + "/"), f"read {path} outside {folder}"


json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(),
        st.integers(-(2**70), 2**70), st.sampled_from([0, 1, -1, 2**31, 2**40, 2**53 + 1]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
        st.sampled_from(["../sentinel.bin", "/etc/passwd", "s3://b/x", "float64", "uint8",
                         "string", "group1-shard1of1.bin", "./" + SHARDS[0], SHARDS[-1]]),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=8,
)


def _mutate(tree: Any, data: st.DataObject, depth: int = 0) -> Any:
    """Copy of ``tree`` with one random node replaced, removed or duplicated."""
    children = (
        list(tree.keys()) if isinstance(tree, dict)
        else list(range(len(tree))) if isinstance(tree, list) else []
    )
    if not children or data.draw(st.integers(0, 3), label=f"stop@{depth}") == 0:
        return data.draw(json_values, label="replacement")
    key = data.draw(st.sampled_from(children), label=f"key@{depth}")
    action = data.draw(st.sampled_from(["descend", "descend", "delete", "duplicate"]))
    if isinstance(tree, dict):
        out: Any = dict(tree)
        if action == "delete":
            del out[key]
        elif action == "duplicate":
            out[key + "_copy"] = tree[key]
        else:
            out[key] = _mutate(tree[key], data, depth + 1)
        return out
    out = list(tree)
    if action == "delete":
        del out[key]
    elif action == "duplicate":
        out.insert(key, tree[key])
    else:
        out[key] = _mutate(tree[key], data, depth + 1)
    return out


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_model_json_loads_whole_or_fails_typed(data):
    mutated = _mutate(ORIGINAL, data)
    folder = _place({**FILES, "model.json": json.dumps(mutated).encode()})
    loaded, error, reads = _load_tracked(folder)
    _assert_reads_inside(folder, reads)
    if error is not None:
        assert isinstance(error, TfjsStoreError), repr(error)
        event(f"refused: {type(error).__name__}")
        return
    try:
        weights = loaded.weights()
    except TfjsStoreError:
        event("loaded, weights refused")
        return  # e.g. a shape numpy cannot hold: refused with a typed error
    event("loaded and saved again")
    assert set(weights) == {s.name for s in loaded.weight_specs or []}
    again_folder = _fresh_folder()
    FsspecHandler(f"memory://{again_folder}").save(loaded)
    again = FsspecHandler(f"memory://{again_folder}").load()
    assert model_bytes(again) == model_bytes(loaded)
    assert [s.to_json_obj() for s in again.weight_specs or []] == [
        s.to_json_obj() for s in loaded.weight_specs or []
    ]


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    shard=st.sampled_from(SHARDS),
    change=st.sampled_from(["flip", "truncate", "extend", "replace"]),
    position=st.integers(0, 10**6),
    byte=st.integers(1, 255),
)
def test_changed_weight_bytes_never_load_silently(shard, change, position, byte):
    data = bytearray(FILES[shard])
    i = position % len(data)
    if change == "flip":
        data[i] ^= byte
    elif change == "truncate":
        del data[i:]
    elif change == "extend":
        data += bytes([byte]) * (1 + position % 9)
    else:
        data = bytearray(FILES[SHARDS[(SHARDS.index(shard) + 1) % len(SHARDS)]])
        if bytes(data) == FILES[shard]:
            return
    folder = _place({**FILES, shard: bytes(data)})
    loaded, error, reads = _load_tracked(folder)
    _assert_reads_inside(folder, reads)
    assert loaded is None, f"{change} of {shard} at {i} loaded silently"
    assert isinstance(error, (tfjs_store.IntegrityError, tfjs_store.WeightDataError)), error


@settings(max_examples=scaled(400, 4000), deadline=None)
@given(st.lists(st.sampled_from([*"./\\:~%?#ab_-\x00 ", "..", "://", "é"]), max_size=16)
       .map("".join))
def test_safe_relative_path_never_leaves_the_folder(path):
    try:
        rel = safe_relative_path(path)
    except UnsafePathError:
        return
    assert rel and "\x00" not in rel and "\\" not in rel and "://" not in rel
    joined = posixpath.normpath(posixpath.join("/root/model", rel))
    assert joined.startswith("/root/model/"), (path, rel)


class CommitProtocol(RuleBasedStateMachine):
    """Saves, removals and cleans with random faults; the model on the store is always
    the last one whose commit step ran."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = _fresh_folder()
        self.url = f"memory://{self.folder}"
        self.current: int | None = None

    def _faulty(self, fail_at: int | None, kill: bool) -> FaultyFileSystem:
        return FaultyFileSystem(MEMORY, fail_at=fail_at, kill=kill)

    @rule(version=st.integers(1, 10**6), fail_at=st.none() | st.integers(1, 10),
          kill=st.booleans(), size=st.sampled_from([0, 40, 300]))
    def save(self, version, fail_at, kill, size):
        faulty = self._faulty(fail_at, kill)
        try:
            FsspecHandler(self.url, filesystem=faulty, shard_size_bytes=SHARD_SIZE).save(
                versioned_model(version, size=size)
            )
        except StorageError:
            assert faulty.failed is not None
        json_path = f"{self.folder}/model.json"
        committed = any(
            c.path == json_path and c.kind == "write"
            and (faulty.failed is None or c.number < faulty.failed.number)
            for c in faulty.calls
        )
        if committed:
            self.current = version

    @rule(fail_at=st.none() | st.integers(1, 4), kill=st.booleans())
    def remove(self, fail_at, kill):
        faulty = self._faulty(fail_at, kill)
        try:
            FsspecHandler(self.url, filesystem=faulty).remove_model()
        except ModelNotFoundError:
            assert self.current is None
            return
        except StorageError:
            assert faulty.failed is not None
        json_path = f"{self.folder}/model.json"
        if any(c.method == "rm_file" and c.path == json_path
               and (faulty.failed is None or c.number < faulty.failed.number)
               for c in faulty.calls):
            self.current = None

    @rule()
    def clean(self):
        tfjs_store.clean(self.url, older_than=0)

    @invariant()
    def holds_the_last_committed_model(self):
        handler = FsspecHandler(self.url)
        if self.current is None:
            with pytest.raises(ModelNotFoundError):
                handler.load()
            assert tfjs_store.list_models(self.url) == {}
        else:
            assert check_version(handler.load()) == self.current
            assert len(tfjs_store.list_models(self.url)) == 1


TestCommitProtocol = CommitProtocol.TestCase
TestCommitProtocol.settings = settings(
    max_examples=scaled(25, 300), stateful_step_count=12, deadline=None
)
