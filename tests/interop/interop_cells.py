"""One function per kind of cell. Each runs the cell end to end and raises (AssertionError, or a
TfjsStoreError from tfjs_store) when it fails; ``flip=True`` corrupts one bit of the first
weight file after the save, which every cell must notice."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from interop_matrix import (
    CONVERTER_DIR,
    DOWNLOADS_NAME,
    SHARD_SIZE,
    Folder,
    ModelCase,
    TfjsSave,
    TfjsSaves,
    assert_arrays_equal,
    assert_tensor_lists_equal,
    check_loaded_equals_tfjs,
    check_resumed,
    check_tfjs_loaded,
    flip_one_bit,
    max_ulp_difference,
    numpy_artifacts,
)

import tfjs_store

Tool = Callable[..., dict[str, Any]]
MakeFolder = Callable[[str], Folder]
PINNED_BOUNDARY = "----formdata-undici-031415926535"  # tfjs_tool.js pins undici's boundary


def _opts(folder: Folder) -> dict[str, Any] | None:
    return folder.storage_options or None


def _source(save: TfjsSave, source: str) -> Any:
    if source == "loaded":
        return tfjs_store.load(str(save.dir / save.json_name))
    if source == "numpy":
        return numpy_artifacts(save)
    raise ValueError(source)


def _weight_files(folder: Folder, json_name: str) -> list[str]:
    mj = json.loads(folder.get(json_name))
    return [p for g in mj["weightsManifest"] for p in g["paths"]]


# ---- direction 1: TF.js saves, tfjs_store loads -------------------------------------------------


def tfjs_saves_store_loads(
    place: str,
    layout: str,
    case: ModelCase,
    *,
    saves: TfjsSaves,
    make_folder: MakeFolder,
    tfjs: Tool,
    flip: bool,
) -> None:
    folder = make_folder(place)
    if place == "bridge":
        # TF.js's own model.save('http://…') posts the multipart body into the bridge, which
        # stores it under memory://; tfjs_store then reads that memory store directly.
        assert layout == "http"
        assert folder.http_base is not None
        reported = tfjs("save-url", *case.build_args(), "--url", folder.http_base)
        assert reported["responseStatus"] == 200, reported
        json_name = "model.json"
    else:
        save = saves.get(case, layout)
        folder.put(save.files)  # the files exactly as TF.js wrote them
        reported = save.expected
        json_name = save.json_name
    if flip:
        flip_one_bit(folder, json_name)
    loaded = tfjs_store.load(folder.store_url(json_name), storage_options=_opts(folder))
    check_loaded_equals_tfjs(loaded, reported, case)


# ---- direction 2: tfjs_store saves, TF.js loads --------------------------------------------------


def store_save(artifacts: Any, folder: Folder, layout: str) -> str:
    """Save with tfjs_store in ``layout``; return the model JSON's name in the folder."""
    opts = _opts(folder)
    if layout == "shards":
        tfjs_store.save(artifacts, folder.url, storage_options=opts, shard_size_bytes=SHARD_SIZE)
        n = len(_weight_files(folder, "model.json"))
        want = math.ceil(artifacts.weight_data_bytes / SHARD_SIZE)
        assert n >= want, f"{n} shard files for {artifacts.weight_data_bytes} bytes"
        return "model.json"
    if layout == "tfjs-node":
        tfjs_store.save(artifacts, folder.url, storage_options=opts, layout="tfjs-node")
        return "model.json"
    if layout == "downloads":
        json_name = f"{DOWNLOADS_NAME}.json"
        tfjs_store.save(
            artifacts, folder.store_url(json_name), storage_options=opts, layout="downloads"
        )
        return json_name
    if layout == "http":
        # tfjs_store's http handler posts TF.js's multipart body into the bridge
        assert folder.http_base is not None
        result = tfjs_store.save(artifacts, folder.http_base)
        assert result.responses and result.responses[0].status == 200
        return "model.json"
    raise ValueError(layout)


def store_saves_tfjs_loads(
    place: str,
    layout: str,
    source: str,
    case: ModelCase,
    *,
    saves: TfjsSaves,
    make_folder: MakeFolder,
    tfjs: Tool,
    flip: bool,
) -> None:
    save = saves.get(case, "node")
    artifacts = _source(save, source)
    folder = make_folder(place)
    json_name = store_save(artifacts, folder, layout)
    if flip:
        flip_one_bit(folder, json_name)
    result = tfjs("load-predict", "--url", folder.tfjs_url(json_name), "--model", case.kind)
    check_tfjs_loaded(result, save.expected, case)


# ---- direction 3: save with the optimizer, TF.js resumes training -------------------------------


def resume_training(
    place: str,
    source: str,
    case: ModelCase,
    *,
    saves: TfjsSaves,
    make_folder: MakeFolder,
    tfjs: Tool,
    flip: bool,
) -> dict[str, Any]:
    """Returns measured facts (Adam: how far resuming is from the uninterrupted run)."""
    save = saves.get(case, "node")
    artifacts = _source(save, source)
    folder = make_folder(place)
    json_name = store_save(artifacts, folder, "http" if place == "bridge" else "shards")
    if flip:
        flip_one_bit(folder, json_name)
    result = tfjs("resume-train", "--model", case.kind, "--url", folder.tfjs_url(json_name))
    assert result["mode"] == "resumed"
    facts: dict[str, Any] = {"loss": result["loss"]}
    if case.optimizer == "adam":
        # TF.js 4.22's Adam.setWeights recomputes accBeta2 = pow(beta2, iter + 1) while training
        # keeps multiplying, so even TF.js resuming from its own save differs from the
        # uninterrupted run. The exact reference is TF.js resuming from its own save.
        check_resumed(result, saves.resumed_from_tfjs(case))
        straight = saves.uninterrupted(case)
        facts["uninterrupted_loss"] = straight["loss"]
        facts["loss_equal_to_uninterrupted"] = result["lossHex"] == straight["lossHex"]
        facts["max_weight_ulp_vs_uninterrupted"] = max(
            max_ulp_difference(a["hex"], b["hex"])
            for a, b in zip(result["weights"], straight["weights"], strict=True)
        )
    else:
        check_resumed(result, saves.uninterrupted(case))
    return facts


# ---- byte identity


def _parts(body: bytes, boundary: str) -> dict[str, tuple[bytes, bytes]]:
    """name -> (part headers, content) of a multipart/form-data body."""
    delim = b"--" + boundary.encode()
    out = {}
    for chunk in body.split(delim)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk[2:].partition(b"\r\n\r\n")
        m = re.search(rb'name="([^"]*)"', head)
        assert m, head
        assert content.endswith(b"\r\n")
        out[m.group(1).decode()] = (head, content[:-2])
    return out


def bytes_identical(
    what: str,
    source: str,
    case: ModelCase,
    *,
    saves: TfjsSaves,
    make_folder: MakeFolder,
    capture: Any,
    flip: bool,
) -> None:
    # The source is always the tfjs-node save of the model; each comparison is against the
    # files TF.js itself wrote for the same model in that layout.
    artifacts = _source(saves.get(case, "node"), source)
    if what in ("file-tfjs-node", "s3-tfjs-node"):
        want = saves.get(case, "node").files
        folder = make_folder(what.split("-", 1)[0])
        tfjs_store.save(artifacts, folder.url, storage_options=_opts(folder), layout="tfjs-node")
        if flip:
            flip_one_bit(folder)
        assert folder.names() == sorted(want)
        for name, data in want.items():
            assert folder.get(name) == data, f"{name} differs from tfjs-node's"
        return
    if what == "file-downloads":
        want = saves.get(case, "downloads").files
        folder = make_folder("file")
        tfjs_store.save(
            artifacts,
            folder.store_url(f"{DOWNLOADS_NAME}.json"),
            storage_options=_opts(folder),
            layout="downloads",
        )
        if flip:
            flip_one_bit(folder, f"{DOWNLOADS_NAME}.json")
        assert folder.names() == sorted(want)
        for name, data in want.items():
            assert folder.get(name) == data, f"{name} differs from TF.js's downloads:// file"
        return
    if what == "http-body":
        tf_save = saves.get(case, "http")
        want_body = (tf_save.dir / "request.body").read_bytes()
        want_type = (tf_save.dir / "request.content-type").read_text()
        path = f"/upload/{source}/{case.id}"
        result = tfjs_store.save(artifacts, capture.url + path)
        assert result.responses and result.responses[0].status == 200
        got = capture.requests[path]
        m = re.fullmatch(r"multipart/form-data; boundary=(.+)", got.headers["content-type"])
        assert m, got.headers["content-type"]
        boundary = m.group(1)
        body = got.body
        if flip:
            start = body.index(b'name="model.weights.bin"')
            start = body.index(b"\r\n\r\n", start) + 4
            body = body[: start + 3] + bytes([body[start + 3] ^ 0x40]) + body[start + 4 :]
        parts = _parts(body, boundary)
        want_parts = _parts(want_body, PINNED_BOUNDARY)
        assert list(parts) == ["model.json", "model.weights.bin"]
        assert parts["model.json"][1] == tf_save.files["model.json"], "model.json part differs"
        assert parts["model.weights.bin"][1] == tf_save.files["model.weights.bin"], (
            "weights part differs"
        )
        assert [h for h, _ in parts.values()] == [h for h, _ in want_parts.values()], (
            "part headers differ"
        )
        # The whole body, once each side's random boundary is replaced by one constant.
        assert body.replace(boundary.encode(), b"BOUNDARY") == want_body.replace(
            PINNED_BOUNDARY.encode(), b"BOUNDARY"
        ), "request body differs from TF.js's"
        assert got.headers["content-type"].replace(boundary, "BOUNDARY") == want_type.replace(
            PINNED_BOUNDARY, "BOUNDARY"
        )
        assert int(got.headers["content-length"]) == len(got.body)
        return
    raise ValueError(what)


# ---- converter fixtures


def _converter_expected(fixture: str) -> dict[str, Any]:
    return json.loads((CONVERTER_DIR / fixture / "expected.json").read_text("utf-8"))  # type: ignore[no-any-return]


def _group_bytes(folder_get: Callable[[str], bytes], model_json: dict[str, Any]) -> list[bytes]:
    out = []
    for group in model_json["weightsManifest"]:
        out.append(b"".join(folder_get(p[2:] if p.startswith("./") else p) for p in group["paths"]))
    return out


def _check_tfjs_weights(loaded: Any, expected: dict[str, Any]) -> None:
    """tfjs_store's decoding (dequantization included) is TF.js's decodeWeights, bit for bit,
    in manifest order. (TF.js's result is a JS object: integer-like names such as "2437" come
    first in its key order, so its order is not the manifest's.)"""
    weights = loaded.weights()
    manifest_order = [s.name for s in loaded.weight_specs]
    assert list(weights) == manifest_order, "weights are not in manifest order"
    by_name = {w["name"]: w for w in expected["tfjsDecoded"]}
    assert set(by_name) == set(manifest_order), "TF.js and tfjs_store decode different names"
    assert_arrays_equal(weights, [by_name[n] for n in manifest_order], "dequantized weights")


def converter_load(fixture: str, *, make_folder: MakeFolder, flip: bool) -> None:
    import hashlib

    expected = _converter_expected(fixture)
    folder = make_folder("file")  # a copy of the converter's files, so a flip touches no fixture
    folder.put({name: (CONVERTER_DIR / fixture / name).read_bytes() for name in expected["files"]})
    if flip:
        flip_one_bit(folder)
    for name, meta in expected["files"].items():
        data = folder.get(name)
        assert len(data) == meta["size"] and hashlib.sha256(data).hexdigest() == meta["sha256"], (
            f"{name} is not the file the converter wrote"
        )
    loaded = tfjs_store.load(folder.store_url("model.json"))
    _check_tfjs_weights(loaded, expected)
    original = json.loads(folder.get("model.json"))
    assert loaded.user_defined_metadata == original.get("userDefinedMetadata")
    assert loaded.signature == original.get("signature")
    assert loaded.model_initializer == original.get("modelInitializer")
    assert loaded.initializer_signature == original.get("initializerSignature")
    assert loaded.format == original["format"]
    assert [[w.name for w in g.weights] for g in loaded.weights_manifest] == [
        [w["name"] for w in g["weights"]] for g in original["weightsManifest"]
    ]


def converter_resave(
    place: str, fixture: str, *, make_folder: MakeFolder, tfjs: Tool, flip: bool
) -> None:
    src = CONVERTER_DIR / fixture
    expected = _converter_expected(fixture)
    original = json.loads((src / "model.json").read_text("utf-8"))
    loaded = tfjs_store.load(str(src / "model.json"))
    folder = make_folder(place)
    tfjs_store.save(loaded, folder.url, storage_options=_opts(folder), shard_size_bytes=SHARD_SIZE)
    if flip:
        flip_one_bit(folder)
    resaved = json.loads(folder.get("model.json"))

    # lossless: every key but the manifest's file names (and tfjs-store's own digest record)
    skip = {"weightsManifest", "tfjsStore"}
    assert {k: v for k, v in resaved.items() if k not in skip} == {
        k: v for k, v in original.items() if k not in skip
    }, "model.json content changed"
    assert [g["weights"] for g in resaved["weightsManifest"]] == [
        g["weights"] for g in original["weightsManifest"]
    ], "groups, weight specs or quantization changed"
    assert _group_bytes(folder.get, resaved) == _group_bytes(
        lambda p: (src / p).read_bytes(), original
    ), "weight bytes changed"
    again = tfjs_store.load(folder.url, storage_options=_opts(folder))
    _check_tfjs_weights(again, expected)

    # real TF.js runs the re-saved model
    url = folder.tfjs_url("model.json")
    if expected["kind"] == "layers-model":
        result = tfjs("load-predict", "--url", url, input={"input": expected["inputs"]})
        assert_tensor_lists_equal(result["predictions"], expected["tfjsOutputs"], "predictions")
        assert_tensor_lists_equal(
            [{k: v for k, v in w.items() if k != "uniqueName"} for w in result["weights"]],
            expected["tfjsWeights"],
            "weights TF.js loaded",
        )
        assert result["userDefinedMetadata"] == expected["userDefinedMetadata"]
    else:
        feed = {t["name"]: t for t in expected["inputs"]}
        result = tfjs("graph-predict", "--url", url, input={"inputs": feed})
        assert result["outputNames"] == expected["outputNames"]
        assert_tensor_lists_equal(result["outputs"], expected["tfjsOutputs"], "outputs")
        assert_tensor_lists_equal(result["weights"], expected["tfjsWeights"], "graph weights")
