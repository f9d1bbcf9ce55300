"""The save's single checksum pass (``format/checksum_pass.py``): the same record, byte
for byte, as checking each file and each weight apart (the save before the pass), and
each weight byte handed to the CRC32C code once."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfjs_store.format import checksum_pass, integrity
from tfjs_store.format.artifacts import ModelArtifacts
from tfjs_store.format.checksum_pass import PIECE_BYTES, ChecksumPass
from tfjs_store.format.codec import weight_byte_ranges
from tfjs_store.format.integrity import (
    ChecksumKind,
    checksum_text,
    crc32c_b64,
    new_hasher,
    sha256_hex,
)
from tfjs_store.format.jsonfmt import js_stringify, model_json_object
from tfjs_store.format.layout import ShardFile, StoragePlan, name_by_content, plan_storage
from tfjs_store.format.record import RECORD_KEY, FileRecord, SaveRecord, WeightRecord
from tfjs_store.format.schemas import WeightSpec
from tfjs_store.format.shards import CompositeBuffer, shard_ranges
from tfjs_store.handler import ModelHandler
from tfjs_store.options import FileLayout
from tfjs_store.stores.local import LocalStore
from tfjs_store.stores.memory import MemoryStore

KINDS: list[ChecksumKind | None] = ["crc32c", "sha256", None]
LAYOUTS: list[FileLayout] = ["shards", "tfjs-node", "downloads"]


def _strings(*values: Any) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _floats(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


def _models() -> dict[str, tuple[ModelArtifacts, int]]:
    """name -> (artifacts, shard size): weights across shard boundaries, weights longer
    than a piece, short ones in the middle of a file, strings, empty weights, two
    groups, no weights at all."""
    spanning = ModelArtifacts.from_weights(
        {f"dense_{i}/kernel": _floats(700 + 37 * i, i) for i in range(6)}
        | {"bias": _floats(3, 9)}
    )
    big = ModelArtifacts.from_weights({
        "a": _floats(300_000, 1),  # 1.2 MB: several pieces, several shards
        "short": _floats(1000, 2),  # 4 KB in the middle of a file
        "medium": _floats(40_000, 3),  # 160 KB: combined into its file's CRC32C
        "empty": np.zeros((0, 3), np.float32),
        "b": _floats(PIECE_BYTES // 4 + 5, 4),
    })
    strings = ModelArtifacts.from_weights({
        "words": _strings("alpha", "", "é" * 300, "x" * 1000),
        "none": _strings(),
        "k": _floats(500, 5),
        "tail": _strings(*[f"s{i}" for i in range(200)]),
    })
    grouped = ModelArtifacts.from_weights(
        {"w": _floats(2000, 6), "v": _floats(10, 7)},
        optimizer_weights={"w/m": _floats(2000, 8), "iter": np.array([3], np.int32)},
    )
    nothing = ModelArtifacts.from_weights({})
    return {
        "spanning": (spanning, 1000),
        "big": (big, 512 << 10),
        "big-small-shards": (big, 100_000),
        "strings": (strings, 300),
        "grouped": (grouped, 3000),
        "nothing": (nothing, 1000),
    }


MODELS = _models()


def _plan(artifacts: ModelArtifacts, layout: FileLayout, shard: int) -> tuple[StoragePlan, str]:
    if layout == "shards":
        return plan_storage(artifacts, layout="shards", shard_size_bytes=shard), "tfjs"
    if layout == "tfjs-node":
        return plan_storage(artifacts, layout="single", single_path="weights.bin"), "tfjs-node"
    return plan_storage(artifacts, layout="single", single_path="./model.weights.bin"), "tfjs"


def _old_body(
    artifacts: ModelArtifacts, layout: FileLayout, kind: ChecksumKind | None, shard: int,
    save_id: str,
) -> bytes:
    """model.json as the save wrote it before the single pass: each file's bytes
    hashed apart (SHA-256 for its name), each weight's checksum by ``weight_checksums``."""
    plan, order = _plan(artifacts, layout, shard)
    file_bytes = [bytes(plan.data.read(f.start, f.size)) for f in plan.files]
    if layout == "shards":
        plan = name_by_content(plan, [sha256_hex(b) for b in file_bytes])
    extra = None
    if kind is not None:
        files = {f.path: FileRecord(size=f.size, **{kind: checksum_text(kind, b)})
                 for f, b in zip(plan.files, file_bytes, strict=True)}
        weights = weight_checksums(plan.model_json.weight_specs, plan.data, kind)
        record = SaveRecord(save_id=save_id, files=files, weights=weights)
        extra = {RECORD_KEY: record.to_json()}
    body = js_stringify(model_json_object(plan.model_json, order, extra))  # type: ignore[arg-type]
    return body.encode("utf-8", "surrogatepass")


def _joined(artifacts: ModelArtifacts) -> bytes:
    return b"".join(bytes(b) for b in CompositeBuffer(artifacts.weight_data).buffers)


def _stores(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    yield "memory", MemoryStore.from_url(f"memory://checksum-pass/{tmp_path.name}")
    yield "file", LocalStore.from_url(str(tmp_path / "local"))


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_the_record_is_the_one_the_separate_passes_made(
    tmp_path: Path, model: str, layout: FileLayout, kind: ChecksumKind | None
) -> None:
    artifacts, shard = MODELS[model]
    for name, store in _stores(tmp_path):
        json_name = "model.json"
        handler = ModelHandler(store, json_name=json_name, layout=layout,
                               shard_size_bytes=shard, checksum=kind)
        handler.save(artifacts)
        body = bytes(store.read(json_name))
        save_id = json.loads(body).get(RECORD_KEY, {}).get("saveId", "")
        assert (kind is None) == (save_id == "")
        assert body == _old_body(artifacts, layout, kind, shard, save_id), name
        loaded = handler.load()  # and it loads, checked, to the same bytes
        assert _joined(loaded) == _joined(artifacts)


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("shard", [97, 4096, 1 << 20])
@pytest.mark.parametrize("weight_kind", KINDS, ids=str)
@pytest.mark.parametrize("file_crc32c", [False, True])
def test_the_pass_gives_what_each_checksum_apart_gives(
    model: str, shard: int, weight_kind: ChecksumKind | None, file_crc32c: bool
) -> None:
    artifacts = MODELS[model][0]
    plan = plan_storage(artifacts, layout="shards", shard_size_bytes=shard)
    checked = ChecksumPass(plan.files, plan.model_json.weight_specs, plan.data,
                           file_sha256=True, file_crc32c=file_crc32c, weight_kind=weight_kind)
    for i in reversed(range(len(plan.files))):  # the order files are walked in is free
        checked.walk(i)
    checked.sum_outside()
    _assert_each_checksum_apart_agrees(plan, checked, file_crc32c, weight_kind)


def test_a_retried_write_takes_the_pieces_again_and_the_sums_stay_right() -> None:
    artifacts, _ = MODELS["big"]
    plan = plan_storage(artifacts, layout="single")
    checked = ChecksumPass(plan.files, plan.model_json.weight_specs, plan.data,
                           file_sha256=True, file_crc32c=True, weight_kind="crc32c")
    with pytest.raises(RuntimeError, match="has not been checked yet"):
        checked.file_sums(0)
    first = checked.pieces(0)
    next(first)
    next(first)  # a write that failed part-way
    first.close()
    total = sum(len(p) for p in checked.pieces(0))  # the retry
    assert total == plan.files[0].size
    assert all(len(p) <= 4 * PIECE_BYTES for p in checked.pieces(0))
    data = bytes(plan.data.read(0, total))
    assert checked.file_sums(0).crc32c == crc32c_b64(data)
    assert checked.weights() == weight_checksums(plan.model_json.weight_specs, plan.data,
                                                 "crc32c")


@pytest.mark.parametrize("weight_kind", ["crc32c", "sha256"])
def test_a_name_given_to_two_weights_gets_no_entry(weight_kind: ChecksumKind) -> None:
    """As ``weight_checksums``: the name names no one range (a manifest can hold such
    specs, though the encoder refuses them)."""
    specs = [WeightSpec(name="dup", shape=[300], dtype="float32"),
             WeightSpec(name="one", shape=[50], dtype="int32"),
             WeightSpec(name="dup", shape=[700], dtype="float32")]
    data = CompositeBuffer([_floats(300, 10), bytes(200), _floats(700, 11)])
    files = [ShardFile(f"f{i}", s, e) for i, (s, e) in
             enumerate(shard_ranges(0, data.byte_length, 1024))]
    checked = ChecksumPass(files, specs, data, file_sha256=False, file_crc32c=False,
                           weight_kind=weight_kind)
    for i in range(len(files)):
        checked.walk(i)
    checked.sum_outside()
    assert list(checked.weights()) == ["one"]
    assert checked.weights() == weight_checksums(specs, data, weight_kind)
    for f, sums in zip(files, checked.files_sums(), strict=True):
        data_f = bytes(data.read(f.start, f.size))
        assert sums.crc32c == (crc32c_b64(data_f) if weight_kind == "crc32c" else None)
        assert sums.sha256 is None


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_save_hands_each_weight_byte_to_the_crc32c_code_once(
    monkeypatch: pytest.MonkeyPatch, layout: FileLayout
) -> None:
    """The files' and the weights' CRC32Cs come from one CRC32C of each byte (before the
    single pass: two, one per file and one per weight). Every stretch here is at a
    file's start or long enough to be combined, so no byte is checked twice."""
    artifacts = ModelArtifacts.from_weights(
        {"a": _floats(75_000, 1), "b": _floats(56_072, 2), "c": _floats(93_928, 3)}
    )
    total = plan_storage(artifacts).data.byte_length
    counted = [0]
    real = integrity.crc32c_extend

    def counting(crc: int, data: Any) -> int:
        counted[0] += memoryview(data).nbytes
        return real(crc, data)

    monkeypatch.setattr(integrity, "crc32c_extend", counting)
    monkeypatch.setattr(checksum_pass, "crc32c_extend", counting)
    store = MemoryStore.from_url("memory://checksum-pass/once")
    handler = ModelHandler(store, layout=layout, shard_size_bytes=262_144, checksum="crc32c")
    handler.save(artifacts)
    assert counted[0] == total
    record = json.loads(bytes(store.read("model.json")))[RECORD_KEY]
    assert set(record["weights"]) == {"a", "b", "c"}
    assert len(record["files"]) == (4 if layout == "shards" else 1)


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 150_000), min_size=0, max_size=10),
    shard=st.integers(1, 300_000),
    weight_kind=st.sampled_from(KINDS),
    file_crc32c=st.booleans(),
    single=st.booleans(),
)
def test_any_cut_gives_what_each_checksum_apart_gives(
    sizes: list[int], shard: int, weight_kind: ChecksumKind | None, file_crc32c: bool,
    single: bool,
) -> None:
    """Weights of any byte length (bool: a byte each), cut into shards of any
    size, stretches short and long, at files' starts and inside them."""
    rng = np.random.default_rng(len(sizes) * 7919 + shard)
    artifacts = ModelArtifacts.from_weights(
        {f"w{i}": rng.integers(0, 2, n).astype(bool) for i, n in enumerate(sizes)}
    )
    plan = (plan_storage(artifacts, layout="single") if single
            else plan_storage(artifacts, layout="shards", shard_size_bytes=shard))
    checked = ChecksumPass(plan.files, plan.model_json.weight_specs, plan.data,
                           file_sha256=True, file_crc32c=file_crc32c, weight_kind=weight_kind)
    for i in range(len(plan.files)):
        assert sum(len(p) for p in checked.pieces(i)) == plan.files[i].size
    checked.sum_outside()
    _assert_each_checksum_apart_agrees(plan, checked, file_crc32c, weight_kind)


@pytest.mark.parametrize("weight_kind", KINDS, ids=str)
def test_checking_ahead_of_the_writer_hands_out_the_same_bytes_and_sums(
    weight_kind: ChecksumKind | None,
) -> None:
    artifacts, _ = MODELS["big"]
    plan = plan_storage(artifacts, layout="single")
    data = bytes(plan.data.read(0, plan.files[0].size))
    checked = ChecksumPass(plan.files, plan.model_json.weight_specs, plan.data,
                           file_sha256=weight_kind is not None, file_crc32c=False,
                           weight_kind=weight_kind)
    stopped = checked.pieces_ahead(0)
    next(stopped)
    stopped.close()  # a write that failed part-way: the thread ahead stops with it
    assert b"".join(checked.pieces_ahead(0)) == data
    checked.sum_outside()
    sums = checked.file_sums(0)
    assert sums.sha256 == (sha256_hex(data) if weight_kind is not None else None)
    assert sums.crc32c == (crc32c_b64(data) if weight_kind == "crc32c" else None)
    expected = (weight_checksums(plan.model_json.weight_specs, plan.data, weight_kind)
                if weight_kind is not None else {})
    assert checked.weights() == expected


def _assert_each_checksum_apart_agrees(
    plan: Any, checked: ChecksumPass, file_crc32c: bool, weight_kind: ChecksumKind | None
) -> None:
    """Every sum of the pass equals the checksum of the same bytes taken apart: each
    file's SHA-256 and (when asked) CRC32C, and each weight's, in the specs' order."""
    for f, sums in zip(plan.files, checked.files_sums(), strict=True):
        data = bytes(plan.data.read(f.start, f.size))
        assert sums.sha256 == sha256_hex(data)
        want_crc = file_crc32c or weight_kind == "crc32c"
        assert sums.crc32c == (crc32c_b64(data) if want_crc else None)
    expected = (weight_checksums(plan.model_json.weight_specs, plan.data, weight_kind)
                if weight_kind is not None else {})
    got = checked.weights()
    assert list(got) == list(expected)
    assert got == expected


def weight_checksums(
    specs: Sequence[WeightSpec], data: CompositeBuffer, kind: ChecksumKind
) -> dict[str, WeightRecord]:
    """The reference the pass is held to (the save's separate per-weight pass before
    ``checksum_pass``): each weight's checksum over its own bytes in the concatenated
    weight data (what ``weight_byte_ranges`` gives it: quantized bytes as stored, a
    string weight's length prefixes included). A name given to two weights is left out:
    it names no one range."""
    names = [s.name for s in specs]
    twice = {n for n in names if names.count(n) > 1} if len(set(names)) != len(names) else set()
    out: dict[str, WeightRecord] = {}
    for spec, (start, end) in zip(specs, weight_byte_ranges(specs, data), strict=True):
        if spec.name in twice:
            continue
        h = new_hasher(kind)
        for view in data.iter_ranges(start, end):
            h.update(view)
        out[spec.name] = WeightRecord(**{kind: h.text()})
    return out
