"""Checksums in the save record: CRC32C by default, SHA-256 on request, none for TF.js's
layouts; every single-bit flip in a weight file is caught on load."""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path
from typing import Any

import google_crc32c
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfjs_store
from tfjs_store.format.codec import weight_byte_ranges
from tfjs_store.format.integrity import (
    Crc32c,
    check_weight,
    crc32c_b64,
    crc32c_combine,
    crc32c_from_text,
    weight_mismatch,
)
from tfjs_store.format.record import SaveRecord
from tfjs_store.format.shards import CompositeBuffer

# every dtype TF.js stores, and the converter's quantized forms of float32
DTYPES: dict[str, tuple[Any, str | None]] = {
    "float32": (np.linspace(-3, 3, 300, dtype=np.float32), None),
    "int32": (np.arange(-150, 150, dtype=np.int32), None),
    "bool": (np.arange(300) % 3 == 0, None),
    "complex64": (np.arange(150, dtype=np.complex64) * (1 - 2j), None),
    "string": (np.array(["", "a", "ünïcödé", "x" * 70] * 20, dtype=object), None),
    "uint8 (quantized)": (np.linspace(-1, 1, 300, dtype=np.float32), "uint8"),
    "uint16 (quantized)": (np.linspace(-1, 1, 300, dtype=np.float32), "uint16"),
    "float16 (quantized)": (np.linspace(-1, 1, 300, dtype=np.float32), "float16"),
}


def _artifacts(dtype: str) -> tfjs_store.ModelArtifacts:
    array, quantize = DTYPES[dtype]
    return tfjs_store.ModelArtifacts.from_weights(
        {"first": np.arange(7, dtype=np.float32), "w": array, "last": np.ones(3, np.int32)},
        quantize=quantize,
    )


def _record(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "model.json").read_text())["tfjsStore"]  # type: ignore[no-any-return]


def _b64(data: bytes) -> str:
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


# -- the checksum itself -----------------------------------------------------------------


def test_crc32c_is_spelled_as_gcs_and_s3_spell_it() -> None:
    # The check value of CRC-32C (Castagnoli) for "123456789" is 0xE3069283.
    assert crc32c_b64(b"123456789") == base64.b64encode(bytes.fromhex("e3069283")).decode()
    assert crc32c_b64(b"") == "AAAAAA=="
    assert crc32c_from_text(crc32c_b64(b"123456789")) == 0xE3069283
    for not_one in (None, "", "AAAA", "not base64!", "AAAAAAAA"):
        assert crc32c_from_text(not_one) is None


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=5000), st.lists(st.integers(0, 5000), max_size=4))
def test_crc32c_of_any_view_and_in_any_pieces_is_the_reference_value(
    data: bytes, cuts: list[int]
) -> None:
    expected = _b64(data)
    writable = np.frombuffer(bytearray(data), np.uint8)
    assert crc32c_b64(data) == expected
    assert crc32c_b64(memoryview(writable)) == expected
    assert crc32c_b64(bytearray(data)) == expected
    running = Crc32c()
    start = 0
    for cut in [*sorted(c for c in cuts if c <= len(data)), len(data)]:
        running.update(memoryview(data)[start:cut])
        start = cut
    assert running.text() == expected


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=3000), st.binary(max_size=3000), st.binary(max_size=300))
def test_crc32c_combine_gives_the_one_shot_value(a: bytes, b: bytes, c: bytes) -> None:
    def crc(data: bytes) -> int:
        return int(google_crc32c.value(data))

    assert crc32c_combine(crc(a), crc(b), len(b)) == crc(a + b)
    ab = crc32c_combine(crc(a), crc(b), len(b))
    assert crc32c_combine(ab, crc(c), len(c)) == crc(a + b + c)
    assert crc32c_combine(crc(a), crc(b + c), len(b + c)) == crc(a + b + c)


def test_crc32c_combine_over_long_lengths_and_its_bounds() -> None:
    # 515 MiB of zeros after one byte: lengths whose bit count passes 2**32 combine right
    zeros = bytes(1 << 20)
    zeros_crc = google_crc32c.value(zeros)
    x_crc = google_crc32c.value(b"x")
    running, after_x, combined = 0, x_crc, 0
    for _ in range(515):
        running = google_crc32c.extend(running, zeros)
        after_x = google_crc32c.extend(after_x, zeros)
        combined = crc32c_combine(combined, zeros_crc, len(zeros))
    assert combined == running
    assert crc32c_combine(x_crc, running, 515 << 20) == after_x
    assert crc32c_combine(0, zeros_crc, len(zeros)) == zeros_crc  # 0 is the CRC of b""
    assert crc32c_combine(running, google_crc32c.value(b"x"), 1) == google_crc32c.extend(
        running, b"x")
    for wrong in (-1, 1 << 61):
        with pytest.raises(ValueError, match="length_b"):
            crc32c_combine(0, 0, wrong)


def test_a_large_buffer_checked_on_several_threads_gives_the_one_shot_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tfjs_store.format.integrity as integrity

    data = np.random.default_rng(3).integers(0, 256, (32 << 20) + 12345, dtype=np.uint8)
    expected = _b64(data.tobytes())
    assert len(data) >= integrity._SPLIT_BYTES
    assert crc32c_b64(data) == expected
    running = Crc32c()
    running.update(data[:5])
    running.update(data[5:])
    assert running.text() == expected
    monkeypatch.setattr(integrity, "usable_cores", lambda: 3)  # pieces of unequal length
    assert crc32c_b64(memoryview(data)[1:]) == _b64(data[1:].tobytes())


@pytest.mark.parametrize("package", ["awscrt", "crc32c", "google_crc32c"])
def test_each_crc32c_code_gives_the_reference_value(
    package: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader picks the fastest code installed; whichever it is, the values agree."""
    import builtins
    import importlib.util

    import tfjs_store.format.integrity as integrity

    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed here")
    faster = ["awscrt", "crc32c", "google_crc32c"]
    hidden = set(faster[: faster.index(package)])
    real_import = builtins.__import__

    def without_faster(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] in hidden:
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_faster)
    code = integrity._crc32c_code()
    monkeypatch.setattr(builtins, "__import__", real_import)
    monkeypatch.setattr(integrity, "_code", code)
    data = np.random.default_rng(4).integers(0, 256, (1 << 20) + 7, dtype=np.uint8)
    assert code.free_threads == (package != "google_crc32c")
    assert code.name == package.replace("_", "-")
    assert crc32c_b64(data) == _b64(data.tobytes())
    assert crc32c_b64(b"123456789") == base64.b64encode(bytes.fromhex("e3069283")).decode()


# -- what a save records --------------------------------------------------------------------


def test_the_default_save_records_crc32c_per_file_and_per_weight(tmp_path: Path) -> None:
    artifacts = _artifacts("string")
    tfjs_store.save(artifacts, str(tmp_path), shard_size_bytes=256)
    record = _record(tmp_path)
    for path, entry in record["files"].items():
        data = (tmp_path / path).read_bytes()
        assert entry == {"size": len(data), "crc32c": _b64(data)}
    # each weight's entry covers its own bytes in the group's concatenated files
    manifest = json.loads((tmp_path / "model.json").read_text())["weightsManifest"]
    joined = b"".join((tmp_path / p).read_bytes() for g in manifest for p in g["paths"])
    specs = tfjs_store.load(str(tmp_path)).weight_specs or []
    ranges = weight_byte_ranges(specs, CompositeBuffer([joined]))
    assert list(record["weights"]) == ["first", "w", "last"]
    for spec, (start, end) in zip(specs, ranges, strict=True):
        assert record["weights"][spec.name] == {"crc32c": _b64(joined[start:end])}
    parsed = SaveRecord.of(json.loads((tmp_path / "model.json").read_text()))
    assert parsed is not None and parsed.weight("w") is not None
    check_weight(joined[ranges[1][0] : ranges[1][1]], parsed.weight("w"), name="w", where="m")
    with pytest.raises(tfjs_store.IntegrityError, match="CRC32C of weight 'w'"):
        check_weight(joined[ranges[0][0] : ranges[0][1]], parsed.weight("w"), name="w",
                     where="m")


@pytest.mark.parametrize(
    ("options", "kinds"),
    [
        ({}, {"crc32c"}),
        ({"checksum": "crc32c"}, {"crc32c"}),
        ({"checksum": "sha256"}, {"sha256"}),
        ({"checksums": True}, {"crc32c"}),
        ({"checksum": None}, None),
        ({"checksums": False}, None),
        ({"layout": "tfjs-node"}, None),
        ({"layout": "tfjs-node", "checksum": "sha256"}, {"sha256"}),
    ],
)
def test_checksum_option_chooses_what_is_recorded(
    tmp_path: Path, options: dict[str, Any], kinds: set[str] | None
) -> None:
    tfjs_store.save(_artifacts("float32"), str(tmp_path), shard_size_bytes=500, **options)
    stored = json.loads((tmp_path / "model.json").read_text())
    if kinds is None:
        assert "tfjsStore" not in stored
    else:
        record = stored["tfjsStore"]
        assert all(set(e) == {"size"} | kinds for e in record["files"].values()), record
        assert all(set(e) == kinds for e in record["weights"].values()), record
    assert np.array_equal(tfjs_store.load(str(tmp_path)).weights()["w"], DTYPES["float32"][0])


def test_checksum_option_refuses_unknown_kinds_and_contradictions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown checksum 'md5'"):
        tfjs_store.save(_artifacts("int32"), str(tmp_path), checksum="md5")
    with pytest.raises(ValueError, match="disagree"):
        tfjs_store.save(_artifacts("int32"), str(tmp_path), checksum="sha256", checksums=False)
    with pytest.raises(tfjs_store.OptionError, match="checksum"):
        tfjs_store.load(str(tmp_path), checksum="sha256")


def test_a_model_saved_with_sha256_records_keeps_loading_and_verifying(tmp_path: Path) -> None:
    # the record as tfjs-store wrote it before CRC32C: sha256 per file, no "weights"
    tfjs_store.save(_artifacts("int32"), str(tmp_path), shard_size_bytes=400, checksum="sha256")
    record = _record(tmp_path)
    assert "weights" in record
    stored = json.loads((tmp_path / "model.json").read_text())
    del stored["tfjsStore"]["weights"]
    (tmp_path / "model.json").write_text(json.dumps(stored))
    assert np.array_equal(tfjs_store.load(str(tmp_path)).weights()["w"], DTYPES["int32"][0])
    report = tfjs_store.verify(str(tmp_path))
    assert report.ok and report.checksums_checked == len(record["files"])
    victim = tmp_path / next(iter(record["files"]))
    data = bytearray(victim.read_bytes())
    data[3] ^= 0x10
    victim.write_bytes(bytes(data))
    with pytest.raises(tfjs_store.IntegrityError, match="SHA-256 of weight file"):
        tfjs_store.load(str(tmp_path))
    assert [p.kind for p in tfjs_store.verify(str(tmp_path)).problems] == ["checksum-mismatch"]


def test_copy_keeps_or_converts_the_checksums(tmp_path: Path) -> None:
    tfjs_store.save(_artifacts("bool"), str(tmp_path / "a"), shard_size_bytes=100)
    tfjs_store.copy_model(str(tmp_path / "a"), str(tmp_path / "b"))
    before, after = _record(tmp_path / "a"), _record(tmp_path / "b")
    assert list(before["files"].values()) == list(after["files"].values())
    assert before["weights"] == after["weights"]
    tfjs_store.copy_model(str(tmp_path / "a"), str(tmp_path / "c"), checksum="sha256")
    for path, entry in _record(tmp_path / "c")["files"].items():
        assert set(entry) == {"size", "sha256"}, path
    assert tfjs_store.verify(str(tmp_path / "c")).ok


def test_a_per_weight_entry_names_the_weight_whose_bytes_changed() -> None:
    record = SaveRecord.of({"tfjsStore": {"weights": {"w": {"crc32c": crc32c_b64(b"abc")},
                                                      "bad": "not an object"}}})
    assert record is not None and set(record.weights) == {"w"}
    assert weight_mismatch(b"abc", record.weight("w")) is None
    found = weight_mismatch(b"abd", record.weight("w"))
    assert found is not None and found.algorithm == "crc32c"
    assert weight_mismatch(b"anything", record.weight("missing")) is None


# -- every single-bit flip is caught ---------------------------------------------------------


def _saved(dtype: str, folder: Path) -> list[Path]:
    tfjs_store.save(_artifacts(dtype), str(folder), shard_size_bytes=333)
    manifest = json.loads((folder / "model.json").read_text())["weightsManifest"]
    return [folder / p for g in manifest for p in g["paths"]]


@pytest.mark.parametrize("dtype", list(DTYPES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_single_bit_flip_in_any_weight_file_is_caught_on_load(
    dtype: str, data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = _saved(dtype, Path(tmp))
        victim = data.draw(st.sampled_from(files), label="file")
        raw = bytearray(victim.read_bytes())
        bit = data.draw(st.integers(0, len(raw) * 8 - 1), label="bit")
        raw[bit // 8] ^= 1 << (bit % 8)
        victim.write_bytes(bytes(raw))
        with pytest.raises(tfjs_store.IntegrityError, match=victim.name):
            tfjs_store.load(tmp)
        problems = tfjs_store.verify(tmp).problems
        # a flipped string length prefix also breaks decoding: verify says both
        assert problems[0].kind == "checksum-mismatch" and victim.name in problems[0].message

