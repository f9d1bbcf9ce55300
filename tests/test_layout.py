"""Cutting weight bytes into shard files and naming them (spec §12.1, §13, §16.4)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from tfjs_store import (
    InvalidModelError,
    ManifestGroup,
    ModelArtifacts,
    ModelJSON,
    UnsafePathError,
    WeightDataError,
    decode_weights,
)
from tfjs_store.format.layout import (
    ShardFile,
    group_files,
    manifest_paths,
    plan_storage,
    safe_relative_path,
)
from tfjs_store.format.shards import DEFAULT_SHARD_SIZE, shard_name, shard_ranges


def strings(*values: str) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def file_bytes(plan: Any, f: ShardFile) -> bytes:
    return b"".join(bytes(v) for v in plan.data.iter_ranges(f.start, f.end))


# ---------------------------------------------------------------------------------------------
# §16.4: the Python writer's shards, shard_size_bytes=8,
# quantization {'uint8': ['q8'], 'float16': 'h'}

SPEC_16_4_FILES = [
    ("group1-shard1of4.bin", "0000c03f000000c0"),
    ("group1-shard2of4.bin", "0100000061020000"),
    ("group1-shard3of4.bin", "00626301000000fe"),
    ("group1-shard4of4.bin", "ffffff010001"),
    ("group2-shard1of2.bin", "005580ff003e00c0"),
    ("group2-shard2of2.bin", "0000007c"),
]
# The manifest of §16.4, key order included (the spec prints it with Python's json.dumps).
SPEC_16_4_MANIFEST = [
    {
        "paths": [
            "group1-shard1of4.bin",
            "group1-shard2of4.bin",
            "group1-shard3of4.bin",
            "group1-shard4of4.bin",
        ],
        "weights": [
            {"name": "f", "shape": [2], "dtype": "float32"},
            {"name": "s", "shape": [2], "dtype": "string"},
            {"name": "i64", "shape": [2], "dtype": "int32"},
            {"name": "b", "shape": [3], "dtype": "bool"},
        ],
    },
    {
        "paths": ["group2-shard1of2.bin", "group2-shard2of2.bin"],
        "weights": [
            {
                "name": "q8",
                "shape": [4],
                "dtype": "float32",
                "quantization": {
                    "dtype": "uint8",
                    "min": -0.5,
                    "scale": 0.0058823529411764705,
                    "original_dtype": "float32",
                },
            },
            {
                "name": "h",
                "shape": [4],
                "dtype": "float32",
                "quantization": {"dtype": "float16", "original_dtype": "float32"},
            },
        ],
    },
]


def spec_16_4_artifacts() -> ModelArtifacts:
    tensors = {
        "f": np.array([1.5, -2], np.float32),
        "s": strings("a", "bc"),
        "i64": np.array([1, -2], np.int64),
        "b": np.array([True, False, True]),
        "q8": np.array([-0.5, 0, 0.25, 1.0], np.float32),
        "h": np.array([1.5, -2, 1e-8, 70000], np.float32),
    }
    flat = ModelArtifacts.from_weights(tensors, quantize={"uint8": ["q8"], "float16": "h"})
    specs = flat.weight_specs
    assert specs is not None
    # two manifest groups, as the converter's write_weights([[group 1], [group 2]]) makes
    partition = [
        ManifestGroup(paths=[], weights=specs[:4]),
        ManifestGroup(paths=[], weights=specs[4:]),
    ]
    return ModelArtifacts(
        weight_specs=specs, weight_data=flat.weight_data, weights_manifest=partition
    )


def test_spec_16_4_shard_bytes() -> None:
    plan = plan_storage(spec_16_4_artifacts(), shard_size_bytes=8, tag=None)
    assert [(f.path, file_bytes(plan, f).hex()) for f in plan.files] == SPEC_16_4_FILES
    assert [f.size for f in plan.files] == [8, 8, 8, 6, 8, 4]


def test_spec_16_4_manifest() -> None:
    plan = plan_storage(spec_16_4_artifacts(), shard_size_bytes=8, tag=None)
    manifest = plan.model_json.to_json_obj()["weightsManifest"]
    assert json.dumps(manifest) == json.dumps(SPEC_16_4_MANIFEST)  # values and key order


def test_spec_16_4_six_buffers_decode() -> None:
    plan = plan_storage(spec_16_4_artifacts(), shard_size_bytes=8, tag=None)
    buffers = [bytes.fromhex(h) for _, h in SPEC_16_4_FILES]
    out = decode_weights(buffers, plan.model_json.weight_specs)
    assert list(out) == ["f", "s", "i64", "b", "q8", "h"]
    assert out["f"].tolist() == [1.5, -2]
    assert out["s"].tolist() == ["a", "bc"]
    assert out["i64"].dtype == np.int32 and out["i64"].tolist() == [1, -2]
    assert out["b"].view(np.uint8).tolist() == [1, 0, 1]
    assert out["q8"].tolist() == [-0.5, 0, 0.25294119119644165, 1]
    assert out["h"].tolist() == [1.5, -2, 0, np.inf]


def test_spec_16_4_with_a_save_tag() -> None:
    plan = plan_storage(spec_16_4_artifacts(), shard_size_bytes=8, tag="k3x9")
    expected = [
        (name.replace(".bin", ".k3x9.bin"), hex_bytes) for name, hex_bytes in SPEC_16_4_FILES
    ]
    assert [(f.path, file_bytes(plan, f).hex()) for f in plan.files] == expected
    assert plan.model_json.weight_paths == [name for name, _ in expected]
    assert plan.files[0].path == "group1-shard1of4.k3x9.bin"


# ---------------------------------------------------------------------------------------------
# shard sizes and names


def test_shard_names() -> None:
    assert shard_name(1, 1, 2) == "group1-shard1of2.bin"
    assert shard_name(3, 12, 12, None) == "group3-shard12of12.bin"
    assert (
        shard_name(1, 2, 2, "20240101T000000-ab12") == "group1-shard2of2.20240101T000000-ab12.bin"
    )


def test_default_shard_size_is_4_mib() -> None:
    assert DEFAULT_SHARD_SIZE == 4 * 1024 * 1024
    n = DEFAULT_SHARD_SIZE // 4
    art = ModelArtifacts.from_weights({"big": np.zeros(n + 1, np.float32)})
    plan = plan_storage(art)
    assert [(f.path, f.start, f.end) for f in plan.files] == [
        ("group1-shard1of2.bin", 0, DEFAULT_SHARD_SIZE),
        ("group1-shard2of2.bin", DEFAULT_SHARD_SIZE, DEFAULT_SHARD_SIZE + 4),
    ]
    exact = plan_storage(ModelArtifacts.from_weights({"big": np.zeros(n, np.float32)}))
    assert [f.path for f in exact.files] == ["group1-shard1of1.bin"]


def test_a_weight_may_straddle_shards() -> None:
    art = ModelArtifacts.from_weights({"a": np.arange(3, dtype=np.float32), "b": np.int32([7])})
    plan = plan_storage(art, shard_size_bytes=5)
    assert [(f.start, f.end) for f in plan.files] == [(0, 5), (5, 10), (10, 15), (15, 16)]
    out = decode_weights([file_bytes(plan, f) for f in plan.files], plan.model_json.weight_specs)
    assert out["a"].tolist() == [0, 1, 2] and out["b"].tolist() == [7]


def test_shard_bytes_are_views_of_the_arrays() -> None:
    a = np.arange(6, dtype=np.float32)
    plan = plan_storage(ModelArtifacts.from_weights({"a": a}), shard_size_bytes=8)
    for f in plan.files:
        for view in plan.data.iter_ranges(f.start, f.end):
            assert np.shares_memory(np.frombuffer(view, np.uint8), a)


@pytest.mark.parametrize("size", [0, -1, True, 1.5, "8"])
def test_shard_size_must_be_a_positive_integer(size: Any) -> None:
    art = ModelArtifacts.from_weights({"a": np.zeros(2, np.float32)})
    with pytest.raises(ValueError, match="shard size must be a positive integer"):
        plan_storage(art, shard_size_bytes=size)


def test_shard_ranges() -> None:
    assert shard_ranges(0, 0, 4) == []
    assert shard_ranges(0, 4, 4) == [(0, 4)]
    assert shard_ranges(10, 19, 4) == [(10, 14), (14, 18), (18, 19)]


def test_no_weights_no_shards() -> None:
    plan = plan_storage(ModelArtifacts(model_topology={"a": 1}))
    assert plan.files == [] and plan.model_json.weights_manifest == []
    empty = plan_storage(ModelArtifacts(model_topology={}, weight_specs=[], weight_data=[]))
    assert empty.files == []


def test_zero_byte_weights_make_no_shard_but_keep_their_spec() -> None:
    art = ModelArtifacts.from_weights({"e": np.zeros((0, 3), np.float32)})
    plan = plan_storage(art)
    assert plan.files == []
    assert plan.model_json.to_json_obj()["weightsManifest"] == [
        {"paths": [], "weights": [{"name": "e", "shape": [0, 3], "dtype": "float32"}]}
    ]


def test_single_file_layout() -> None:
    art = ModelArtifacts.from_weights(
        {"a": np.float32([1, 2]), "s": strings("x")},
        optimizer_weights={"iter": np.int32(3)},
    )
    plan = plan_storage(art, layout="single", single_path="./model.weights.bin")
    assert [(f.path, f.start, f.end) for f in plan.files] == [("./model.weights.bin", 0, 17)]
    assert file_bytes(plan, plan.files[0]).hex() == "0000803f00000040010000007803000000"
    manifest = plan.model_json.to_json_obj()["weightsManifest"]
    assert manifest == [
        {
            "paths": ["./model.weights.bin"],
            "weights": [
                {"name": "a", "shape": [2], "dtype": "float32"},
                {"name": "s", "shape": [1], "dtype": "string"},
                {"name": "iter", "shape": [], "dtype": "int32", "group": "optimizer"},
            ],
        }
    ]


def test_layout_keeps_other_model_json_fields() -> None:
    art = ModelArtifacts.from_weights(
        {"a": np.float32([1])},
        model_topology={"t": 1},
        format="layers-model",
        generated_by="g",
        converted_by=None,
        user_defined_metadata={"u": [1]},
    )
    m = plan_storage(art).model_json
    assert isinstance(m, ModelJSON)
    assert (m.model_topology, m.format, m.generated_by, m.converted_by) == (
        {"t": 1},
        "layers-model",
        "g",
        None,
    )
    assert "convertedBy" in m.to_json_obj()  # set to null explicitly: written as null
    assert m.user_defined_metadata == {"u": [1]}


def test_regrouping_when_the_specs_no_longer_match_the_loaded_manifest() -> None:
    art = spec_16_4_artifacts()
    assert art.weight_specs is not None
    dropped = ModelArtifacts(
        weight_specs=art.weight_specs[:4],
        weight_data=plan_storage(art, layout="single").data.read(0, 30),
        weights_manifest=art.weights_manifest,
    )
    plan = plan_storage(dropped, shard_size_bytes=8)
    assert [f.path for f in plan.files] == [f"group1-shard{i}of4.bin" for i in range(1, 5)]


def test_plan_refuses_data_that_does_not_match() -> None:
    art = ModelArtifacts.from_weights({"a": np.float32([1, 2])})
    broken = art.model_copy(update={"weight_data": [b"\0" * 7]})  # model_copy skips validation
    with pytest.raises(WeightDataError, match="weight 'a' needs 8 bytes"):
        plan_storage(broken)


def test_unknown_layout() -> None:
    with pytest.raises(ValueError, match="unknown layout"):
        plan_storage(ModelArtifacts(model_topology={}), layout="zip")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# manifest paths must stay inside the model's folder


@pytest.mark.parametrize(
    ("path", "normalised"),
    [
        ("group1-shard1of1.bin", "group1-shard1of1.bin"),
        ("./model.weights.bin", "model.weights.bin"),
        ("weights/part 1.bin", "weights/part 1.bin"),
        ("a/../b.bin", "b.bin"),
        ("a//b.bin", "a/b.bin"),
        ("é.bin", "é.bin"),
    ],
)
def test_safe_relative_paths(path: str, normalised: str) -> None:
    assert safe_relative_path(path) == normalised


@pytest.mark.parametrize(
    "path",
    [
        "",
        "   ",
        "/etc/passwd",
        "../x.bin",
        "a/../../x.bin",
        "..",
        ".",
        "./",
        "http://127.0.0.1/x.bin",
        "s3://bucket/x.bin",
        "file:///tmp/x.bin",
        "C:x.bin",
        "c:\\x.bin",
        "a\\b.bin",
        "x\x00.bin",
        "~/x.bin",
        "x.bin?sig=1",
        "x.bin#frag",
    ],
)
def test_unsafe_paths(path: str) -> None:
    with pytest.raises(UnsafePathError) as info:
        safe_relative_path(path)
    assert isinstance(info.value, InvalidModelError)
    assert repr(path) in str(info.value)


def test_manifest_paths_and_group_files() -> None:
    m = ModelJSON.parse(
        {
            "modelTopology": {},
            "weightsManifest": [
                {"paths": ["./a.bin", "b.bin"], "weights": []},
                {"paths": ["sub/c.bin"], "weights": []},
            ],
        }
    )
    assert manifest_paths(m) == ["a.bin", "b.bin", "sub/c.bin"]
    assert [paths for _, paths in group_files(m)] == [["a.bin", "b.bin"], ["sub/c.bin"]]
    bad = ModelJSON.parse(
        {"modelTopology": {}, "weightsManifest": [{"paths": ["../x"], "weights": []}]}
    )
    with pytest.raises(UnsafePathError, match=r"'\.\./x' leaves the model's folder"):
        manifest_paths(bad)
