"""save/load/list/copy/move/remove through real stores: file, memory, S3 (moto),
GCS (fake-gcs-server) and Azure (Azurite), each started on 127.0.0.1 by the fixtures."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from reliability.common import HEAVY

import tfjs_store
from tfjs_store import (
    HandlerError,
    ModelArtifacts,
    ModelNotFoundError,
    UnsafePathError,
    WeightDataError,
)
from tfjs_store.format.codec import encode_weights


def _model(seed: int = 0, n: int = 5000) -> ModelArtifacts:
    rng = np.random.default_rng(seed)
    return ModelArtifacts.from_weights(
        {
            "dense/kernel": rng.standard_normal((n // 50, 50)).astype(np.float32),
            "dense/bias": rng.standard_normal(50).astype(np.float32),
            "emb/ids": rng.integers(-(2**31), 2**31 - 1, size=37, dtype=np.int64).astype(np.int32),
            "mask": rng.integers(0, 2, size=13).astype(bool),
            "c": (rng.standard_normal(7) + 1j * rng.standard_normal(7)).astype(np.complex64),
            "vocab": np.array(["", "é", "hello", "日本語"], dtype=object),
            "nothing": np.zeros((0, 3), np.float32),
            "ünïcode/naмe": np.float32(seed),
        },
        optimizer_weights={"iter": np.int32(seed), "dense/kernel/m": np.ones(3, np.float32) * seed},
        model_topology={"class_name": "Sequential", "config": {"name": f"m{seed}", "scale": 1.0}},
        format="layers-model",
        generated_by="tfjs-store tests",
        converted_by=None,
        user_defined_metadata={"seed": seed},
    )


def _joined(artifacts: ModelArtifacts) -> bytes:
    return b"".join(bytes(b) for b in artifacts.buffers)


def _assert_same_model(loaded: ModelArtifacts, original: ModelArtifacts) -> None:
    assert _joined(loaded) == _joined(original)
    assert [s.to_json_obj() for s in loaded.weight_specs or []] == [
        s.to_json_obj() for s in original.weight_specs or []
    ]
    assert loaded.model_topology == original.model_topology
    assert loaded.user_defined_metadata == original.user_defined_metadata
    assert loaded.format == original.format
    got, want = loaded.weights(strings="bytes"), original.weights(strings="bytes")
    assert got.keys() == want.keys()
    for name in want:
        if want[name].dtype == object:
            assert got[name].tolist() == want[name].tolist()
        else:
            assert got[name].dtype == want[name].dtype
            assert got[name].tobytes() == want[name].tobytes()


def _save(model, target, **options):
    return tfjs_store.save(model, target.url, storage_options=target.storage_options, **options)


def _load(target, url=None, **options):
    return tfjs_store.load(url or target.url, storage_options=target.storage_options, **options)


def test_round_trip_is_byte_exact(store):
    model = _model(1)
    result = _save(model, store, shard_size_bytes=4096)
    total = len(_joined(model))
    assert result.model_artifacts_info.weight_data_bytes == total
    # The back door: the files on the storage are the converter layout, in manifest order.
    manifest = json.loads(store.read("model.json"))["weightsManifest"]
    paths = [p for g in manifest for p in g["paths"]]
    assert len(paths) == -(-total // 4096)
    assert sorted(store.files()) == sorted(["model.json", *paths])
    assert b"".join(store.read_many(paths)[p] for p in paths) == _joined(model)
    _assert_same_model(_load(store), model)
    # The model JSON file's own URL loads the same model.
    _assert_same_model(_load(store, store.join("model.json")), model)


def test_second_save_replaces_the_first_completely(store):
    _save(_model(1), store, shard_size_bytes=2048)
    first = set(store.files())
    second = _model(2, n=1000)
    _save(second, store, shard_size_bytes=2048)
    files = set(store.files())
    assert "model.json" in files
    assert not (first - {"model.json"}) & files, "shards of the replaced model were left behind"
    _assert_same_model(_load(store), second)


def test_list_copy_move_remove(store):
    a, b = store.sub("a"), store.sub("b")
    _save(_model(3), a)
    listed = tfjs_store.list_models(store.url, storage_options=store.storage_options)
    assert len(listed) == 1
    (url, info), = listed.items()
    assert url.rstrip("/").endswith("/a")
    assert info.weight_data_bytes == len(_joined(_model(3)))

    tfjs_store.copy_model(
        a.url, b.url, src_storage_options=store.storage_options,
        dst_storage_options=store.storage_options, shard_size_bytes=1000,
    )
    _assert_same_model(_load(b), _model(3))
    _assert_same_model(_load(a), _model(3))
    assert len(tfjs_store.list_models(store.url, storage_options=store.storage_options)) == 2

    c = store.sub("c")
    tfjs_store.move_model(
        b.url, c.url, src_storage_options=store.storage_options,
        dst_storage_options=store.storage_options,
    )
    _assert_same_model(_load(c), _model(3))
    with pytest.raises(ModelNotFoundError):
        _load(b)
    removed = tfjs_store.remove_model(c.url, storage_options=store.storage_options)
    assert removed.weight_data_bytes == len(_joined(_model(3)))
    with pytest.raises(ModelNotFoundError):
        _load(c)
    assert [u.rstrip("/").rsplit("/", 1)[-1] for u in
            tfjs_store.list_models(store.url, storage_options=store.storage_options)] == ["a"]
    assert not [f for f in store.files() if f.startswith(("b/", "c/"))]


def test_half_written_folder_is_not_a_model(store):
    store.write("ghost/group1-shard1of1.abcdefghijkl.bin", b"\0" * 16)
    _save(_model(4), store.sub("real"))
    listed = tfjs_store.list_models(store.url, storage_options=store.storage_options)
    assert [u.rstrip("/").rsplit("/", 1)[-1] for u in listed] == ["real"]
    with pytest.raises(ModelNotFoundError, match=r"model\.json does not exist"):
        _load(store.sub("ghost"))


def _tfjs_layout_files(layout: str, specs, data: bytes):
    """Files as TF.js writers lay them out, written through the back door."""
    spec_objs = [s.to_json_obj() for s in specs]
    if layout == "tfjs-node":
        return {"weights.bin": data}, [{"paths": ["weights.bin"], "weights": spec_objs}]
    if layout == "browser":
        return {"model.weights.bin": data}, [
            {"paths": ["./model.weights.bin"], "weights": spec_objs}
        ]
    if layout == "converter-groups":
        # two groups; 10 shards in group 1 so listing order (shard10 < shard2) differs
        half = len(spec_objs) // 2
        cut = sum(s.byte_length for s in specs[:half])
        g1, g2 = data[:cut], data[cut:]
        size1 = -(-len(g1) // 10)
        files, paths1 = {}, []
        for i in range(10):
            name = f"group1-shard{i + 1}of10.bin"
            files[name] = g1[i * size1:(i + 1) * size1]
            paths1.append(name)
        files["sub/group2-shard1of1.bin"] = g2
        return files, [
            {"paths": paths1, "weights": spec_objs[:half]},
            {"paths": ["./sub/group2-shard1of1.bin"], "weights": spec_objs[half:]},
        ]
    raise AssertionError(layout)


@pytest.mark.parametrize("layout", ["tfjs-node", "browser", "converter-groups"])
def test_load_reads_every_tfjs_layout(store, layout):
    rng = np.random.default_rng(7)
    weights = {f"w{i}": rng.standard_normal(100 + i).astype(np.float32) for i in range(6)}
    specs, data = encode_weights(weights)
    files, manifest = _tfjs_layout_files(layout, specs, data)
    files["model.json"] = json.dumps(
        {"modelTopology": {"x": 1}, "weightsManifest": manifest, "format": "layers-model"}
    ).encode()
    store.write_many(files)
    loaded = _load(store)
    assert _joined(loaded) == data
    for name, arr in loaded.weights().items():
        assert arr.tobytes() == weights[name].tobytes()
    if layout == "converter-groups":
        # re-saving keeps the two groups
        out = store.sub("resaved")
        _save(loaded, out, shard_size_bytes=100)
        again = _load(out)
        assert [len(g.weights) for g in again.weights_manifest] == [3, 3]
        assert _joined(again) == data


@pytest.mark.parametrize(
    "bad_path",
    ["../outside.bin", "a/../../outside.bin", "/etc/passwd", "file:///etc/passwd",
     "http://127.0.0.1:9/x.bin", "s3://other-bucket/x.bin", "..\\x.bin", ""],
)
def test_manifest_paths_that_escape_are_refused(store, bad_path):
    specs, data = encode_weights({"w": np.ones(4, np.float32)})
    model = store.sub("m")
    store.write_many({
        "outside.bin": data,
        "m/model.json": json.dumps({"modelTopology": {}, "weightsManifest": [
            {"paths": [bad_path], "weights": [s.to_json_obj() for s in specs]}]}).encode(),
    })
    before = {f: store.read(f) for f in store.files()}
    with pytest.raises(UnsafePathError):
        _load(model)
    assert {f: store.read(f) for f in store.files()} == before


@pytest.mark.parametrize("defect", ["short", "long", "missing"])
def test_damaged_shards_give_typed_errors(store, defect):
    _save(_model(5), store, shard_size_bytes=4096, checksums=False)
    manifest = json.loads(store.read("model.json"))["weightsManifest"]
    victim = manifest[0]["paths"][1]
    if defect == "missing":
        store.fs.rm_file(f"{store.path}/{victim}")
        with pytest.raises(ModelNotFoundError, match=victim.replace(".", r"\.")):
            _load(store)
        return
    data = store.read(victim)
    store.write(victim, data[:-1] if defect == "short" else data + b"\0")
    with pytest.raises(WeightDataError):
        _load(store)


@pytest.mark.parametrize(("checksum", "label"), [("sha256", "SHA-256"), ("crc32c", "CRC32C")])
def test_recorded_digest_catches_a_flipped_bit(store, checksum, label):
    _save(_model(6), store, shard_size_bytes=4096, checksum=checksum)
    manifest = json.loads(store.read("model.json"))["weightsManifest"]
    victim = manifest[0]["paths"][0]
    data = bytearray(store.read(victim))
    data[100] ^= 0x01
    store.write(victim, bytes(data))
    with pytest.raises(tfjs_store.IntegrityError, match=label):
        _load(store)
    # Without verification the bytes load (sizes are still checked).
    _load(store, verify=False)


def test_tfjs_node_and_downloads_layouts(store):
    model = _model(8, n=500)
    _save(model, store.sub("node"), layout="tfjs-node")
    assert store.sub("node").files() == ["model.json", "weights.bin"]
    raw = json.loads(store.sub("node").read("model.json"))
    assert list(raw)[:5] == [
        "modelTopology", "weightsManifest", "format", "generatedBy", "convertedBy"
    ]
    assert raw["weightsManifest"][0]["paths"] == ["weights.bin"]
    assert "tfjsStore" not in raw
    _assert_same_model(_load(store.sub("node")), model)

    tfjs_store.save(model, "downloads://my-model", folder=store.join("dl"),
                    storage_options=store.storage_options)
    assert store.sub("dl").files() == ["my-model.json", "my-model.weights.bin"]
    raw = json.loads(store.sub("dl").read("my-model.json"))
    assert raw["weightsManifest"][0]["paths"] == ["./my-model.weights.bin"]
    _assert_same_model(_load(store, store.join("dl", "my-model.json")), model)


def test_readers_never_see_a_torn_model(store):
    """A writer replaces the model over and over; every concurrent load is one whole
    version (all weights equal to the same seed)."""
    if store.name == "s3" and not HEAVY:
        pytest.skip("TFJS_STORE_HEAVY=1 only on S3 (~13 s): torn reads on S3 are checked by "
                    "TestS3::test_concurrent_saves_and_loads_never_torn and "
                    "reliability/test_concurrency.py[s3] in the default run")
    def version(seed: int) -> ModelArtifacts:
        return ModelArtifacts.from_weights(
            {f"w{i}": np.full(700, seed, np.float32) for i in range(4)},
            model_topology={"seed": seed},
        )

    _save(version(0), store, shard_size_bytes=1024)
    errors: list[BaseException] = []
    seen: set[int] = set()
    done = threading.Event()

    def writer() -> None:
        try:
            for seed in range(1, 9):
                _save(version(seed), store, shard_size_bytes=1024)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    def reader() -> None:
        try:
            while not done.is_set() or len(seen) < 2:
                loaded = _load(store)
                seed = loaded.model_topology["seed"]
                values = {float(v) for a in loaded.weights().values() for v in np.unique(a)}
                assert values == {float(seed)}, f"torn model: topology {seed}, weights {values}"
                seen.add(seed)
                if len(seen) > 8:
                    break
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert _load(store).model_topology == {"seed": 8}


def test_no_handler_and_same_path_errors_keep_tfjs_wording(tmp_path):
    with pytest.raises(HandlerError, match="Cannot find any save handlers for URL 'nosuchscheme://x'"):
        tfjs_store.save(_model(), "nosuchscheme://x")
    with pytest.raises(HandlerError, match="Cannot find any load handlers"):
        tfjs_store.load("nosuchscheme://x")
    with pytest.raises(HandlerError, match="Old path and new path are the same"):
        tfjs_store.copy_model(str(tmp_path), str(tmp_path))


def test_move_keeps_the_source_when_the_destination_fails(tmp_path):
    src = tmp_path / "src"
    tfjs_store.save(_model(9), str(src))
    blocker = tmp_path / "file-not-folder"
    blocker.write_bytes(b"x")
    with pytest.raises(tfjs_store.TfjsStoreError):
        tfjs_store.move_model(str(src), str(blocker / "dst"))
    _assert_same_model(tfjs_store.load(str(src)), _model(9))


def test_missing_fsspec_package_names_what_to_install():
    import importlib.util

    if importlib.util.find_spec("dropboxdrivefs") is not None:  # pragma: no cover
        pytest.fail(
            "this test needs a protocol whose package is absent; dropboxdrivefs is installed"
        )
    with pytest.raises(tfjs_store.MissingDependencyError, match="dropbox"):
        tfjs_store.load("dropbox://folder/model.json")


def test_an_object_with_save_and_load_is_a_handler():
    class DictHandler:
        def __init__(self) -> None:
            self.saved: ModelArtifacts | None = None

        def save(self, artifacts):
            self.saved = artifacts
            return tfjs_store.SaveResult(model_artifacts_info=artifacts.info())

        def load(self):
            assert self.saved is not None
            return self.saved

    handler = DictHandler()
    result = tfjs_store.save(_model(10), handler)
    assert result.model_artifacts_info.weight_data_bytes == len(_joined(_model(10)))
    _assert_same_model(tfjs_store.load(handler), _model(10))
    with pytest.raises(HandlerError, match="does not have the `save` attribute"):
        tfjs_store.save(_model(10), object())


def test_progress_is_reported_per_weight_file(store):
    model = _model(11)
    written: list[float] = []
    _save(model, store, shard_size_bytes=4096, on_progress=written.append)
    files = len(json.loads(store.read("model.json"))["weightsManifest"][0]["paths"])
    assert files > 2
    assert sorted(written) == written and written[-1] == 1.0 and len(written) == files
    read: list[float] = []
    _load(store, on_progress=read.append)
    assert read == [pytest.approx((i + 1) / files) for i in range(files)]
