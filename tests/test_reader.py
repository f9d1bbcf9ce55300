"""``open_model``: weights read one by one equal ``load``'s, bit for bit, and only their
bytes are read (issue 15).

Real parts only: every store of ``tests/support/servers.py`` (memory, file, moto's S3,
fake-gcs-server, Azurite), the committed TF.js and converter fixtures, a static http
server with ``Range`` and the bridge on a real socket; requests and bytes are counted by
a proxy in front of the server (``support/counting_proxy.py``).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.browser import running_bridge
from support.counting_proxy import counting_proxy
from support.servers import HttpTarget, StoreTarget

import tfjs_store
from tfjs_store import IntegrityError, ModelReader
from tfjs_store.format.integrity import crc32c_b64
from tfjs_store.format.record import SaveRecord

TFJS = Path(__file__).parent / "fixtures" / "tfjs"
CONVERTER = Path(__file__).parent / "fixtures" / "converter"
TFJS_DIRS = sorted(p.parent.name for p in TFJS.glob("*/model.json"))
CONVERTER_DIRS = sorted(p.parent.name for p in CONVERTER.glob("*/model.json"))
MiB = 1024 * 1024


def _model() -> tfjs_store.ModelArtifacts:
    """Every kind of weight: floats, ints, bools, strings (two in one group), empty,
    quantized, and an optimizer group."""
    rng = np.random.default_rng(15)
    weights = {
        "dense/kernel": rng.standard_normal((40, 12)).astype("f4"),
        "vocab": np.array(["a", "bc", "", "déf"], dtype=object),
        "dense/bias": rng.standard_normal(12).astype("f4"),
        "labels": np.array([["x", "yy"], ["zzz", ""]], dtype=object),
        "steps": np.arange(-3, 30, dtype="i4"),
        "mask": np.array([True, False, True]),
        "empty": np.zeros((0, 4), "f4"),
        "q8": rng.standard_normal(300).astype("f4"),
        "tail": rng.standard_normal(70).astype("f4"),
    }
    return tfjs_store.ModelArtifacts.from_weights(
        weights,
        quantize={"uint8": ["q8"]},
        optimizer_weights={"adam/m": rng.standard_normal(33).astype("f4")},
    )


def _same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert list(got) == list(want)
    for name, arr in want.items():
        assert got[name].dtype == arr.dtype and got[name].shape == arr.shape, name
        if arr.dtype == object:
            assert got[name].tolist() == arr.tolist(), name
        else:
            assert got[name].tobytes() == arr.tobytes(), name


def _check_reader(url: str, **options: Any) -> ModelReader:
    """Each weight alone, then all at once, equals ``load(...).weights()``."""
    want = tfjs_store.load(url, **options).weights()
    with tfjs_store.open_model(url, **options) as reader:
        assert isinstance(reader, ModelReader)
        assert list(reader) == list(want) == list(reader.specs)
        _same({name: reader[name] for name in reader}, want)
        _same(reader.read(list(want)), want)
        reverse = list(want)[::-1]
        assert list(reader.read(reverse)) == reverse
    return reader


# -- every store, every layout -------------------------------------------------------------


def test_reader_equals_load_on_every_store(store: StoreTarget) -> None:
    model = _model()
    options = {"storage_options": store.storage_options}
    tfjs_store.save(model, store.join("shards"), shard_size_bytes=256, **options)
    tfjs_store.save(model, store.join("node"), layout="tfjs-node", **options)
    reader = _check_reader(store.join("shards"), **options)
    # saves record a CRC32C per weight: every weight read was checked on its own
    assert reader.warning is None
    assert set(reader.verified.values()) == {"crc32c"}
    _check_reader(store.join("node"), **options)


def test_downloads_layout(tmp_path: Path) -> None:
    tfjs_store.save(_model(), "downloads://m", folder=str(tmp_path))
    _check_reader("downloads://m", folder=str(tmp_path))
    _check_reader(str(tmp_path / "m.json"))


@pytest.mark.parametrize("name", TFJS_DIRS)
def test_tfjs_fixtures(name: str) -> None:
    _check_reader(str(TFJS / name / "model.json"))


@pytest.mark.parametrize("name", CONVERTER_DIRS)
def test_converter_fixtures(name: str) -> None:
    _check_reader(str(CONVERTER / name))


@pytest.mark.parametrize("name", ["graph-hashtable-float16", "layers-cnn-uint8-split",
                                  "layers-mlp-float16-mixed"])
def test_converter_fixtures_over_http(name: str, http_target: HttpTarget) -> None:
    shutil.copytree(CONVERTER / name, http_target.root / name)
    _check_reader(http_target.join(name, "model.json"))


def test_through_the_bridge(tmp_path: Path) -> None:
    tfjs_store.save(_model(), str(tmp_path / "m"), shard_size_bytes=256)
    shutil.copytree(CONVERTER / "graph-hashtable-float16", tmp_path / "conv")
    with running_bridge(str(tmp_path)) as base:
        _check_reader(f"{base}/models/m/model.json")
        _check_reader(f"{base}/models/conv/model.json")


# -- only the weight's bytes -----------------------------------------------------------------


def _big_model() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {
        "head": rng.standard_normal(MiB // 4).astype("f4"),  # 1 MiB
        "table": rng.standard_normal((1024, 1024)).astype("f4"),  # 4 MiB from offset 1 MiB
        "rest": rng.standard_normal(7 * MiB // 4).astype("f4"),
    }


def _assert_only_the_weight(exchanges: list[Any], weight_bytes: int) -> None:
    moved = sum(e.body_bytes for e in exchanges)
    assert len(exchanges) <= 3, exchanges
    assert moved <= weight_bytes + 64 * 1024, (moved, exchanges)
    assert all(e.range for e in exchanges), exchanges  # every one a ranged GET


@pytest.mark.s3
def test_one_weight_from_s3_costs_its_bytes(s3_target: StoreTarget, s3_endpoint: str) -> None:
    weights = _big_model()
    tfjs_store.save(weights, s3_target.url, storage_options=s3_target.storage_options)
    with counting_proxy(s3_endpoint) as proxy:
        options = {**s3_target.storage_options, "endpoint_url": proxy.url}
        with tfjs_store.open_model(s3_target.url, storage_options=options) as reader:
            mark = len(proxy.exchanges)
            table = reader["table"]
            _assert_only_the_weight(proxy.since(mark), weights["table"].nbytes)
    assert table.tobytes() == weights["table"].tobytes()
    # parts of shards 1 and 2, no whole file read: checked by its own CRC32C
    assert reader.verified["table"] == "crc32c"


def test_one_weight_through_the_bridge_costs_its_bytes(tmp_path: Path) -> None:
    weights = _big_model()
    tfjs_store.save(weights, str(tmp_path / "m"))
    with (
        running_bridge(str(tmp_path)) as base,
        counting_proxy(base) as proxy,
        tfjs_store.open_model(f"{proxy.url}/models/m/model.json") as reader,
    ):
        mark = len(proxy.exchanges)
        table = reader["table"]
        _assert_only_the_weight(proxy.since(mark), weights["table"].nbytes)
    assert table.tobytes() == weights["table"].tobytes()


def test_local_arrays_are_read_only_maps(tmp_path: Path) -> None:
    weights = _big_model()
    tfjs_store.save(weights, str(tmp_path / "m"))
    with tfjs_store.open_model(str(tmp_path / "m")) as reader:
        head = reader["head"]
        assert not head.flags.writeable and not head.flags.owndata
        assert head.tobytes() == weights["head"].tobytes()
        assert reader.read(["head", "table"])["table"].tobytes() == weights["table"].tobytes()
    assert head.tobytes() == weights["head"].tobytes()  # still valid after close


def test_mapping_surface(tmp_path: Path) -> None:
    tfjs_store.save(_model(), str(tmp_path / "m"), shard_size_bytes=256)
    reader = tfjs_store.open_model(str(tmp_path / "m"))
    assert "vocab" in reader and "nope" not in reader and len(reader) == 10
    assert reader.model_json.weights_manifest is not None
    assert reader.specs["q8"].quantization is not None
    with pytest.raises(KeyError):
        reader["nope"]
    with pytest.raises(KeyError):
        reader.read(["vocab", "nope"])
    assert reader.get("nope") is None
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader["vocab"]


# -- integrity ---------------------------------------------------------------------------------


def _without_weight_records(folder: Path) -> None:
    """The record as tfjs-store's first release wrote it: per-file checksums only."""
    path = folder / "model.json"
    obj = json.loads(path.read_text())
    del obj["tfjsStore"]["weights"]
    path.write_text(json.dumps(obj))


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def test_flipped_byte_in_a_whole_file_names_the_weight(tmp_path: Path) -> None:
    weights = {"a": np.arange(64, dtype="f4"), "b": np.arange(100, dtype="f4"),
               "c": np.arange(20, dtype="f4")}
    tfjs_store.save(weights, str(tmp_path / "m"), shard_size_bytes=256,  # "a" is shard 1
                    checksum="sha256")
    _without_weight_records(tmp_path / "m")  # as the first release saved: files only
    (shard1,) = tmp_path.glob("m/group1-shard1of*.bin")
    _flip(shard1, 10)
    with tfjs_store.open_model(str(tmp_path / "m")) as reader:
        with pytest.raises(IntegrityError, match=r"'a'.*SHA-256"):
            reader["a"]
        # "b" fills shard 2 and part of shard 3: read, but not checked, and said so
        assert reader["b"].tobytes() == weights["b"].tobytes()
        assert reader.verified["b"] is None and reader.warning is not None
        assert reader.read(["b", "c"])["c"].tobytes() == weights["c"].tobytes()
        assert reader.verified == {"b": "sha256", "c": "sha256"}  # shards 2 and 3 whole
    _flip(shard1, 10)
    (shard3,) = tmp_path.glob("m/group1-shard3of*.bin")
    _flip(shard3, 200)  # in "c"
    with tfjs_store.open_model(str(tmp_path / "m")) as reader:
        assert reader["c"][0] == 0  # part of shard 3 only: not checked
        with pytest.raises(IntegrityError, match=r"'b', 'c'.*shard3of3"):
            reader.read(["b", "c"])


def _with_crc_records(folder: Path, names: dict[str, bytes]) -> None:
    """Per-weight CRC32C records in the shape the record will hold them."""
    path = folder / "model.json"
    obj = json.loads(path.read_text())
    obj["tfjsStore"]["weights"] = {
        name: {"crc32c": crc32c_b64(data)}
        for name, data in names.items()
    }
    path.write_text(json.dumps(obj))


def test_per_weight_crc32c(tmp_path: Path) -> None:
    weights = {"a": np.arange(64, dtype="f4"), "b": np.arange(100, dtype="f4")}
    tfjs_store.save(weights, str(tmp_path / "m"), shard_size_bytes=256)
    _with_crc_records(tmp_path / "m", {n: w.tobytes() for n, w in weights.items()})
    with tfjs_store.open_model(str(tmp_path / "m")) as reader:
        record = SaveRecord.of(reader.model_json)
        assert record is not None and record.weight("a") is not None
        assert record.weight("a").crc32c == crc32c_b64(weights["a"].tobytes())
        assert reader.warning is None
        assert reader["b"].tobytes() == weights["b"].tobytes()
        assert reader.verified == {"b": "crc32c"}
    (shard2,) = tmp_path.glob("m/group1-shard2of*.bin")
    _flip(shard2, 1)  # inside "b", in a file "b" only partly covers
    with tfjs_store.open_model(str(tmp_path / "m")) as reader:
        assert reader["a"].tobytes() == weights["a"].tobytes()
        with pytest.raises(IntegrityError, match=r"weight 'b'.*CRC32C"):
            reader["b"]
    with tfjs_store.open_model(str(tmp_path / "m"), verify=False) as reader:
        reader["b"]
        assert reader.verified == {"b": None} and "verify=False" in (reader.warning or "")


def test_crc32c_known_value() -> None:
    # the CRC-32C check value 0xE3069283, as the record spells it (base64, big-endian)
    assert crc32c_b64(b"123456789") == base64.b64encode(bytes.fromhex("e3069283")).decode()


def test_a_short_file_is_a_weight_data_error(
    file_target: StoreTarget, memory_target: StoreTarget
) -> None:
    weights = {"a": np.arange(64, dtype="f4")}
    for target in (file_target, memory_target):
        tfjs_store.save(weights, target.url, layout="tfjs-node")
        target.write("weights.bin", b"\0" * 100)
    with pytest.raises(tfjs_store.WeightDataError, match="100 bytes"):  # a stat tells
        tfjs_store.open_model(file_target.url)
    with tfjs_store.open_model(memory_target.url) as reader, pytest.raises(
        tfjs_store.WeightDataError, match=r"weights.bin ends at byte 100"
    ):
        reader["a"]  # no size without a request: the short read tells


# -- the command ------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tfjs_store", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def test_cli_get(tmp_path: Path) -> None:
    model = _model()
    tfjs_store.save(model, str(tmp_path / "m"), shard_size_bytes=256)
    want = model.weights()
    proc = _cli("get", str(tmp_path / "m"), "dense/kernel", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "dense_kernel.npy" in proc.stdout
    assert np.load(tmp_path / "dense_kernel.npy").tobytes() == want["dense/kernel"].tobytes()
    proc = _cli("get", str(tmp_path / "m"), "vocab", "q8", "-o", "out.npz", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "out.npz") as got:
        assert got["vocab"].tolist() == want["vocab"].tolist()
        assert got["q8"].tobytes() == want["q8"].tobytes()
    proc = _cli("get", str(tmp_path / "m"), "nope", cwd=tmp_path)
    assert proc.returncode == 2 and "no weight named 'nope'" in proc.stderr
    proc = _cli("get", str(tmp_path / "m"), "vocab", "q8", "-o", "x.npy", cwd=tmp_path)
    assert proc.returncode == 2 and not (tmp_path / "x.npy").exists()


# -- the bridge's Range answers ---------------------------------------------------------------


def test_bridge_range_edge_cases(tmp_path: Path) -> None:
    import httpx

    tfjs_store.save({"w": np.arange(64, dtype="f4"), "e": np.zeros(0, "f4")},
                    str(tmp_path / "m"), shard_size_bytes=100)
    (shard,) = [p.name for p in (tmp_path / "m").glob("group1-shard1of*.bin")]
    data = (tmp_path / "m" / shard).read_bytes()
    size = len(data)
    with running_bridge(str(tmp_path)) as base, httpx.Client(base_url=base) as client:
        def get(value: str) -> httpx.Response:
            return client.get(f"/models/m/{shard}", headers={"Range": value})

        for value, start, end in [("bytes=2-5", 2, 6), ("bytes=90-", 90, size),
                                  ("bytes=-7", size - 7, size), ("bytes=0-9999", 0, size),
                                  ("BYTES=1-1", 1, 2), ("bytes=-9999", 0, size)]:
            resp = get(value)
            assert resp.status_code == 206, value
            assert resp.headers["content-range"] == f"bytes {start}-{end - 1}/{size}", value
            assert resp.content == data[start:end], value
        # several ranges, another unit, malformed: the Range is ignored, the file sent whole
        for value in ("bytes=0-1,5-9", "bytes=0-1, 4-", "items=0-1", "bytes=5-2",
                      "bytes=x-1", "bytes=-", "bytes=1-2-3"):
            resp = get(value)
            assert resp.status_code == 200 and resp.content == data, value
            assert "content-range" not in resp.headers, value
        for value in (f"bytes={size}-", "bytes=-0", f"bytes={size + 5}-{size + 9}"):
            resp = get(value)
            assert resp.status_code == 416, value
            assert resp.headers["content-range"] == f"bytes */{size}", value


# -- local: a mapped weight costs its pages -----------------------------------------------------

HEAVY = os.environ.get("TFJS_STORE_HEAVY", "") not in ("", "0")
BENCH = Path(__file__).resolve().parent.parent / "bench" / "partial_read.py"


def _measure(task: str, url: str, name: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(BENCH.parent.parent)}
    out = subprocess.run([sys.executable, str(BENCH), "--child", task, url, name],
                         capture_output=True, text=True, env=env, timeout=600, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_local_weight_costs_its_pages(tmp_path: Path) -> None:
    """open_model + one 6 MiB weight, in a fresh process: RSS <= weight + 16 MiB; under
    TFJS_STORE_HEAVY=1 on a 1 GiB model, also <= 1/20 of a full load's time."""
    total = 1024 * MiB if HEAVY else 64 * MiB
    rng = np.random.default_rng(3)
    weights = {"head": rng.standard_normal(MiB // 4).astype("f4")}
    for i in range((total - MiB) // (6 * MiB)):
        weights[f"w{i}"] = rng.standard_normal(6 * MiB // 4).astype("f4")
    tfjs_store.save(weights, str(tmp_path / "m"))
    del weights
    name = "w5"
    opened = min((_measure("open", str(tmp_path / "m"), name) for _ in range(2)),
                 key=lambda r: r["seconds"])
    assert opened["bytes"] == 6 * MiB
    assert opened["rss_extra"] <= 6 * MiB + 16 * MiB, opened
    if HEAVY:
        loaded = min((_measure("load", str(tmp_path / "m"), name) for _ in range(2)),
                     key=lambda r: r["seconds"])
        assert opened["seconds"] <= loaded["seconds"] / 20, (opened, loaded)


def test_a_missing_file_is_model_not_found(memory_target: StoreTarget) -> None:
    weights = {"a": np.arange(64, dtype="f4"), "b": np.arange(100, dtype="f4")}
    tfjs_store.save(weights, memory_target.url, shard_size_bytes=256)
    (gone,) = [p for p in memory_target.files() if "shard2of" in p]
    memory_target.fs.rm_file(f"{memory_target.path}/{gone}")
    with tfjs_store.open_model(memory_target.url) as reader:
        assert reader["a"].tobytes() == weights["a"].tobytes()  # its file is still there
        with pytest.raises(tfjs_store.ModelNotFoundError, match=gone):
            reader["b"]
