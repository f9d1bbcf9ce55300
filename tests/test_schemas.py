"""Pydantic models of the TF.js format (spec §1): names, aliases, validation, unknown keys."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pytest

from tfjs_store import (
    InvalidModelError,
    ManifestGroup,
    ModelArtifacts,
    ModelArtifactsInfo,
    ModelJSON,
    Quantization,
    SaveResult,
    TfjsStoreError,
    TrainingConfig,
    WeightDataError,
    WeightSpec,
)
from tfjs_store.format.jsonfmt import js_stringify, model_json_object, parse_model_json
from tfjs_store.format.layout import plan_storage


def model(weights: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "modelTopology": {},
        "weightsManifest": [{"paths": ["w.bin"], "weights": weights}],
        **extra,
    }


def w(name: str = "a", shape: Any = (1,), dtype: Any = "float32", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "shape": list(shape) if isinstance(shape, tuple) else shape,
        "dtype": dtype,
        **extra,
    }


# ---------------------------------------------------------------------------------------------
# snake_case in Python, camelCase in JSON

FULL_MODEL_JSON = {
    "modelTopology": {"class_name": "Sequential"},
    "format": "layers-model",
    "generatedBy": "TensorFlow.js tfjs-layers v4.22.0",
    "convertedBy": "TensorFlow.js Converter v4.22.0",
    "weightsManifest": [
        {
            "paths": ["group1-shard1of1.bin"],
            "weights": [
                {"name": "k", "shape": [2, 1], "dtype": "float32"},
                {
                    "name": "q",
                    "shape": [4],
                    "dtype": "float32",
                    "quantization": {"dtype": "uint8", "min": -0.5, "scale": 0.25},
                },
                {"name": "iter", "shape": [], "dtype": "int32", "group": "optimizer"},
            ],
        }
    ],
    "signature": {"inputs": {}},
    "userDefinedMetadata": {"owner": "me"},
    "modelInitializer": {"node": []},
    "initializerSignature": {"outputs": {}},
    "trainingConfig": {"loss": "mean_squared_error", "optimizer_config": {"class_name": "SGD"}},
}


def test_model_json_attributes_are_snake_case() -> None:
    m = ModelJSON.parse(FULL_MODEL_JSON)
    assert m.model_topology == {"class_name": "Sequential"}
    assert m.format == "layers-model"
    assert m.generated_by == "TensorFlow.js tfjs-layers v4.22.0"
    assert m.converted_by == "TensorFlow.js Converter v4.22.0"
    assert m.signature == {"inputs": {}}
    assert m.user_defined_metadata == {"owner": "me"}
    assert m.model_initializer == {"node": []}
    assert m.initializer_signature == {"outputs": {}}
    assert isinstance(m.training_config, TrainingConfig)
    assert m.training_config.loss == "mean_squared_error"
    assert m.training_config.optimizer_config == {"class_name": "SGD"}
    assert m.weights_manifest is not None and isinstance(m.weights_manifest[0], ManifestGroup)
    assert m.weight_paths == ["group1-shard1of1.bin"]
    k, q, it = m.weight_specs
    assert isinstance(k, WeightSpec) and (k.name, k.shape, k.dtype) == ("k", [2, 1], "float32")
    assert k.group is None and k.quantization is None
    assert isinstance(q.quantization, Quantization)
    assert (q.quantization.dtype, q.quantization.min, q.quantization.scale) == ("uint8", -0.5, 0.25)
    assert it.group == "optimizer" and it.shape == []


def test_model_json_writes_camel_case() -> None:
    m = ModelJSON.parse(FULL_MODEL_JSON)
    assert m.to_json_obj() == FULL_MODEL_JSON
    assert list(m.to_json_obj()) == list(FULL_MODEL_JSON)


def test_model_json_built_from_python_names() -> None:
    m = ModelJSON(
        model_topology={"a": 1},
        weights_manifest=[
            ManifestGroup(paths=["x.bin"], weights=[WeightSpec(name="a", shape=[1], dtype="int32")])
        ],
        generated_by="me",
        user_defined_metadata={"k": "v"},
    )
    assert js_stringify(model_json_object(m)) == (
        '{"modelTopology":{"a":1},"generatedBy":"me","weightsManifest":[{"paths":["x.bin"],'
        '"weights":[{"name":"a","shape":[1],"dtype":"int32"}]}],"userDefinedMetadata":{"k":"v"}}'
    )


def test_training_config_keys_stay_snake_case_in_json() -> None:
    raw = {
        "loss": {"out": "mse"},
        "metrics": ["mae"],
        "optimizer_config": {"class_name": "Adam", "config": {"learningRate": 0.01}},
        "weighted_metrics": None,
        "sample_weight_mode": None,
        "loss_weights": {"out": 1},
        "future_key": 1,
    }
    tc = TrainingConfig.model_validate(raw)
    assert tc.loss == {"out": "mse"} and tc.metrics == ["mae"] and tc.loss_weights == {"out": 1}
    assert tc.to_json_obj() == raw
    assert list(tc.to_json_obj()) == list(raw)
    assert TrainingConfig.model_validate({"loss": ["a", "b"]}).loss == ["a", "b"]


def test_model_artifacts_names_and_aliases() -> None:
    by_alias = ModelArtifacts(
        modelTopology={"a": 1},
        weightSpecs=[w("a")],
        weightData=b"\0" * 4,
        generatedBy="g",
        convertedBy=None,
        userDefinedMetadata={"u": 1},
        trainingConfig={"loss": "mse"},
    )
    by_name = ModelArtifacts(
        model_topology={"a": 1},
        weight_specs=[w("a")],
        weight_data=b"\0" * 4,
        generated_by="g",
        converted_by=None,
        user_defined_metadata={"u": 1},
        training_config={"loss": "mse"},
    )
    for art in (by_alias, by_name):
        assert art.model_topology == {"a": 1}
        assert art.weight_specs is not None and art.weight_specs[0].name == "a"
        assert art.generated_by == "g" and art.converted_by is None
        assert art.user_defined_metadata == {"u": 1}
        assert art.training_config is not None and art.training_config.loss == "mse"
        assert art.weight_data_bytes == 4


def test_artifacts_info_and_save_result_names() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    info = ModelArtifactsInfo(
        dateSaved=when, modelTopologyBytes=1, weightSpecsBytes=2, weightDataBytes=3
    )
    assert (info.date_saved, info.model_topology_type) == (when, "JSON")
    assert (info.model_topology_bytes, info.weight_specs_bytes, info.weight_data_bytes) == (1, 2, 3)
    result = SaveResult(model_artifacts_info=info, url="memory://m")
    assert SaveResult(modelArtifactsInfo=info).model_artifacts_info is info
    dumped = result.model_dump(by_alias=True, mode="json")
    assert dumped["modelArtifactsInfo"] == {
        "dateSaved": "2024-05-06T07:08:09.000Z",
        "modelTopologyType": "JSON",
        "modelTopologyBytes": 1,
        "weightSpecsBytes": 2,
        "weightDataBytes": 3,
    }
    assert dumped["responses"] is None and dumped["url"] == "memory://m"
    assert ModelArtifactsInfo(modelTopologyType="GraphDef").model_topology_type == "GraphDef"


def test_weight_spec_properties() -> None:
    plain = WeightSpec(name="a", shape=[2, 3], dtype="complex64")
    assert (plain.size, plain.stored_dtype, plain.byte_length) == (6, "complex64", 48)
    scalar = WeightSpec(name="s", shape=[], dtype="int32")
    assert (scalar.size, scalar.byte_length) == (1, 4)
    text = WeightSpec(name="t", shape=[4], dtype="string")
    assert text.byte_length is None
    quant = WeightSpec.model_validate(
        w("q", (5,), quantization={"dtype": "uint16", "min": 0, "scale": 1})
    )
    assert (quant.stored_dtype, quant.byte_length) == ("uint16", 10)
    half = WeightSpec.model_validate(w("h", (3,), quantization={"dtype": "float16"}))
    assert (half.stored_dtype, half.byte_length) == ("float16", 6)


def test_integral_float_dims_are_integers() -> None:
    # JSON 2.0 and 2 are the same number to TF.js
    spec = ModelJSON.parse(model([w("a", [2.0, 3])])).weight_specs[0]
    assert spec.shape == [2, 3] and all(type(d) is int for d in spec.shape)
    assert WeightSpec(name="a", shape=(np.int64(4),), dtype="bool").shape == [4]


# ---------------------------------------------------------------------------------------------
# validation: errors name the field and the problem

W0 = r"weightsManifest\[0\]\.weights\[0\]"


@pytest.mark.parametrize(
    ("weights", "pattern"),
    [
        ([w(dtype="float64")], W0 + r"\.dtype: unsupported dtype 'float64'"),
        ([w(dtype="uint8")], W0 + r"\.dtype: unsupported dtype 'uint8'"),
        ([w(dtype=None)], W0 + r"\.dtype: unsupported dtype None"),
        ([w(shape=[2, -1])], W0 + r"\.shape: dimension 1 must be a non-negative integer, got -1"),
        ([w(shape=[1.5])], W0 + r"\.shape: dimension 0 must be a non-negative integer, got 1\.5"),
        ([w(shape=["2"])], W0 + r"\.shape: dimension 0 must be a non-negative integer, got '2'"),
        ([w(shape=[True])], W0 + r"\.shape: dimension 0 must be a non-negative integer, got True"),
        ([w(shape=[None])], W0 + r"\.shape: dimension 0 must be a non-negative integer, got None"),
        ([w(shape=[math.inf])], W0 + r"\.shape: dimension 0 .* got inf"),
        ([w(shape=3)], W0 + r"\.shape: shape must be a list of integers, got int"),
        ([w(name=7)], W0 + r"\.name: weight name must be a string, got int"),
        ([{"shape": [1], "dtype": "float32"}], W0 + r"\.name: Field required"),
        (
            [w(quantization={"dtype": "uint8", "min": 0})],
            W0 + r"\.quantization: quantization uint8 needs both 'min' and 'scale'",
        ),
        (
            [w(quantization={"dtype": "uint16", "scale": 0.1})],
            W0 + r"\.quantization: quantization uint16 needs both 'min' and 'scale'",
        ),
        (
            [w(quantization={"dtype": "int8", "min": 0, "scale": 1})],
            W0 + r"\.quantization\.dtype: unknown quantization dtype 'int8'",
        ),
        (
            [w(dtype="int32", quantization={"dtype": "float16"})],
            W0 + r": weight 'a' is quantized with float16, which only supports weights of type "
            r"float32, not int32",
        ),
        (
            [w(dtype="bool", quantization={"dtype": "uint8", "min": 0, "scale": 1})],
            W0 + r": weight 'a' of dtype bool cannot be quantized",
        ),
        (
            [w(dtype="string", quantization={"dtype": "uint8", "min": 0, "scale": 1})],
            W0 + r": weight 'a' of dtype string cannot be quantized",
        ),
        (
            [w(quantization={"dtype": "uint8", "min": math.inf, "scale": 1})],
            W0 + r"\.quantization\.min: quantization min must be finite, got inf",
        ),
        (
            [w(quantization={"dtype": "uint8", "min": 0, "scale": "1"})],
            W0 + r"\.quantization\.scale: quantization scale must be a number, got str",
        ),
        ([w("a"), w("b"), w("a")], r"duplicate weight name 'a'"),
        ([w(group=5)], W0 + r"\.group: Input should be a valid string"),
    ],
)
def test_invalid_weight_specs(weights: list[Any], pattern: str) -> None:
    with pytest.raises(InvalidModelError, match=r"^invalid model\.json: " + pattern) as info:
        ModelJSON.parse(model(weights))
    assert isinstance(info.value, ValueError) and isinstance(info.value, TfjsStoreError)


def test_duplicate_names_across_groups() -> None:
    raw = {
        "modelTopology": {},
        "weightsManifest": [
            {"paths": ["1.bin"], "weights": [w("x")]},
            {"paths": ["2.bin"], "weights": [w("x")]},
        ],
    }
    with pytest.raises(InvalidModelError, match="duplicate weight name 'x'"):
        ModelJSON.parse(raw)


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(InvalidModelError) as info:
        ModelJSON.parse(model([w(dtype="float64"), w("b", shape=[-1])]))
    message = str(info.value)
    assert "weightsManifest[0].weights[0].dtype: unsupported dtype 'float64'" in message
    assert "weightsManifest[0].weights[1].shape: dimension 0" in message


def test_many_problems_are_summarised() -> None:
    with pytest.raises(InvalidModelError, match=r"and \d+ more problem"):
        ModelJSON.parse(model([w(str(i), shape=[-1]) for i in range(30)]))


@pytest.mark.parametrize(
    ("raw", "pattern"),
    [
        ([], r"model JSON must be an object, got list"),
        ("{}", r"model JSON must be an object, got str"),
        ({}, r"model JSON contains neither 'modelTopology' nor 'weightsManifest'"),
        ({"format": "layers-model"}, r"neither 'modelTopology' nor 'weightsManifest'"),
        (
            {"modelTopology": {}, "weightsManifest": {}},
            r"weightsManifest: Input should be a valid list",
        ),
        (
            {"modelTopology": {}, "weightsManifest": [{"paths": "a.bin", "weights": []}]},
            r"weightsManifest\[0\]\.paths: paths must be a list of strings",
        ),
        (
            {"modelTopology": {}, "weightsManifest": [{"paths": [1], "weights": []}]},
            r"paths must be a list of strings",
        ),
        ({"modelTopology": {}, "weightsManifest": [{"paths": []}]}, r"weights: Field required"),
        (
            {"modelTopology": None, "weightsManifest": None},
            r"neither 'modelTopology' nor 'weightsManifest'",
        ),
        (
            {"modelTopology": float("nan"), "weightsManifest": []},
            r"modelTopology must be JSON; nan is not a JSON number",
        ),
        (
            {"modelTopology": {1, 2}, "weightsManifest": []},
            r"modelTopology must be JSON \(an object, array, string, number or boolean\), "
            r"got set",
        ),
        ({"modelTopology": {}, "format": 3}, r"format: Input should be a valid string"),
        ({"modelTopology": {}, "trainingConfig": {"loss": 5}}, r"trainingConfig\.loss"),
    ],
)
def test_invalid_model_json(raw: Any, pattern: str) -> None:
    with pytest.raises(InvalidModelError, match=pattern):
        ModelJSON.parse(raw)


@pytest.mark.parametrize("topology", [[], [1, "a"], "Sequential", "", 0, 2.5, False, {}])
def test_model_json_takes_any_json_topology(topology: Any) -> None:
    """TF.js's loaders treat modelTopology as opaque JSON and refuse only null (issue 19
    item 14, checked against real TF.js in test_upload_shapes): it is kept as it is,
    through ModelArtifacts, the model.json a save writes, and the info's byte count."""
    parsed = ModelJSON.parse({"modelTopology": topology, "weightsManifest": []})
    assert parsed.model_topology == topology and type(parsed.model_topology) is type(topology)
    artifacts = ModelArtifacts.from_model_json(parsed, None)
    assert artifacts.model_topology == topology
    assert type(artifacts.model_topology) is type(topology)
    again = artifacts.to_model_json([])
    assert again.model_topology == topology and type(again.model_topology) is type(topology)
    info = artifacts.info()
    assert info.model_topology_type == "JSON"
    assert info.model_topology_bytes == len(js_stringify(topology).encode())


def test_parse_names_where_the_json_came_from() -> None:
    with pytest.raises(InvalidModelError, match=r"^invalid gs://b/m/model\.json: "):
        ModelJSON.parse([], "gs://b/m/model.json")


def test_either_topology_or_manifest_is_enough() -> None:
    assert ModelJSON.parse({"modelTopology": {"a": 1}}).weights_manifest is None
    assert ModelJSON.parse({"weightsManifest": []}).model_topology is None


# ---------------------------------------------------------------------------------------------
# ModelArtifacts: the weight data must match the specs (strings included)


@pytest.mark.parametrize(
    ("specs", "data", "error", "pattern"),
    [
        ([w("a", (2,))], "00" * 7, WeightDataError, r"weight 'a' needs 8 bytes at offset 0"),
        (
            [w("a", (2,))],
            "00" * 9,
            WeightDataError,
            r"the weight data is 9 bytes but the weight specs describe 8",
        ),
        (
            [w("s", (2,), "string")],
            "01000000610200000062",
            WeightDataError,
            r"weight 's': a string of 2 bytes runs past",
        ),
        (
            [w("s", (2,), "string")],
            "010000006102000000626300",
            WeightDataError,
            r"the weight data is 12 bytes but the weight specs describe 11",
        ),
        ([w("s", (1,), "string")], "010000", WeightDataError, r"weight 's' \(string, 1 elements\)"),
        ([w("a", (1,))], None, WeightDataError, r"weight specs describe 1 weights but there is no"),
        (None, "00", InvalidModelError, r"artifacts contain weight data but no weight specs"),
        ([w("a"), w("a")], "00" * 8, InvalidModelError, r"duplicate weight name 'a'"),
        ([w("a", (-1,))], "", InvalidModelError, r"weight_specs\[0\]\.shape: dimension 0"),
    ],
)
def test_artifacts_data_must_match_specs(
    specs: Any, data: str | None, error: type[Exception], pattern: str
) -> None:
    fields = {"weight_specs": specs, "weight_data": None if data is None else bytes.fromhex(data)}
    for build in (
        lambda: ModelArtifacts(**fields),
        lambda: ModelArtifacts.create(**fields),
        lambda: ModelArtifacts.model_validate(fields),
    ):
        with pytest.raises(error, match=r"^invalid model artifacts: " + pattern) as info:
            build()
        assert type(info.value) is error
        assert isinstance(info.value, ValueError)


def test_artifacts_data_split_across_buffers_is_checked_as_a_whole() -> None:
    specs = [w("s", (2,), "string"), w("f", (1,))]
    ok = [bytes.fromhex("0100000061"), bytes.fromhex("0200"), bytes.fromhex("0000626300008040")]
    assert ModelArtifacts(weight_specs=specs, weight_data=ok).weights()["f"].tolist() == [4.0]
    with pytest.raises(WeightDataError):
        ModelArtifacts(weight_specs=specs, weight_data=ok[:2])


def test_artifacts_weight_data_must_be_bytes_like() -> None:
    with pytest.raises(TypeError, match="bytes-like"):
        ModelArtifacts(weight_specs=[], weight_data="text")


def test_zero_byte_weights_need_no_data() -> None:
    art = ModelArtifacts(weight_specs=[w("e", (0,)), w("s", (0, 2), "string")])
    assert [a.shape for a in art.weights().values()] == [(0,), (0, 2)]


def test_binary_topology_cannot_be_saved() -> None:
    with pytest.raises(InvalidModelError, match="binary"):
        ModelArtifacts(model_topology=b"\x08\x01").to_model_json([])


# ---------------------------------------------------------------------------------------------
# unknown keys survive a load/save round trip

WITH_UNKNOWN_KEYS = (
    b'{"modelTopology":{"class_name":"Sequential","config":{"layers":[],"newOption":1.5}},'
    b'"format":"layers-model","generatedBy":"g","convertedBy":null,'
    b'"weightsManifest":[{"paths":["group1-shard1of1.bin"],"weights":['
    b'{"name":"a","shape":[2],"dtype":"float32","futureField":{"x":[1,2]}},'
    b'{"name":"q","shape":[2],"dtype":"float32","quantization":{"dtype":"uint8","min":-1,'
    b'"scale":0.5,"original_dtype":"float32"}}]}],'
    b'"userDefinedMetadata":{"note":"\xc3\xa9"},"someTool":{"version":2,"flags":[true,null]},'
    b'"anotherKey":"kept"}'
)


def test_unknown_keys_survive_model_json_round_trip() -> None:
    m = parse_model_json(WITH_UNKNOWN_KEYS)
    assert m.model_extra == {
        "someTool": {"version": 2, "flags": [True, None]},
        "anotherKey": "kept",
    }
    assert js_stringify(model_json_object(m)).encode("utf-8") == WITH_UNKNOWN_KEYS


def test_unknown_keys_survive_load_and_save_of_artifacts() -> None:
    m = parse_model_json(WITH_UNKNOWN_KEYS)
    data = np.array([1.5, -2], "<f4").tobytes() + bytes([0, 4])
    artifacts = ModelArtifacts.from_model_json(m, [data])
    assert artifacts.model_extra is not None
    assert artifacts.model_extra["someTool"] == {"version": 2, "flags": [True, None]}
    # saving again (new shard plan) keeps every key, the spec's own unknown field included
    plan = plan_storage(artifacts, shard_size_bytes=4, tag=None)
    again = plan.model_json.to_json_obj()
    original = m.to_json_obj()
    for key in ("someTool", "anotherKey", "userDefinedMetadata", "modelTopology", "convertedBy"):
        assert again[key] == original[key], key
    assert again["weightsManifest"][0]["weights"] == original["weightsManifest"][0]["weights"]
    assert again["weightsManifest"][0]["paths"] == [
        "group1-shard1of3.bin",
        "group1-shard2of3.bin",
        "group1-shard3of3.bin",
    ]
    reread = parse_model_json(js_stringify(model_json_object(plan.model_json)).encode("utf-8"))
    assert reread.model_extra == m.model_extra
    assert ModelArtifacts.from_model_json(reread, [data]).weights()["q"].tolist() == [-1.0, 1.0]


def test_drop_keys_on_load() -> None:
    m = parse_model_json(WITH_UNKNOWN_KEYS)
    artifacts = ModelArtifacts.from_model_json(m, [bytes(10)], drop_keys=("someTool",))
    assert artifacts.model_extra == {"anotherKey": "kept"}


def test_from_model_json_without_manifest() -> None:
    artifacts = ModelArtifacts.from_model_json(ModelJSON.parse({"modelTopology": {"a": 1}}), None)
    assert artifacts.weight_specs is None and artifacts.weight_data is None
    assert artifacts.weights() == {}


def test_group_partition_follows_the_loaded_manifest_while_it_fits() -> None:
    raw = {
        "modelTopology": {},
        "weightsManifest": [
            {"paths": ["1.bin"], "weights": [w("a"), w("b")]},
            {"paths": ["2.bin"], "weights": [w("c")]},
        ],
    }
    m = ModelJSON.parse(raw)
    artifacts = ModelArtifacts.from_model_json(m, [bytes(12)])
    assert [[s.name for s in g] for g in artifacts.group_partition()] == [["a", "b"], ["c"]]
    changed = artifacts.model_copy(update={"weight_specs": m.weight_specs[:2]})
    assert [[s.name for s in g] for g in changed.group_partition()] == [["a", "b"]]
    assert ModelArtifacts(model_topology={}).group_partition() == []
