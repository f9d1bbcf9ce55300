"""model.json bytes as TF.js writes them, and TF.js's byte counts.

Spec §1.6, §2.4, §10, §14 and §16.5.

The §16.5 Dense model is rebuilt here from the spec's text; the committed TF.js 4.22.0
fixtures (tests/fixtures/tfjs/) are then used as a second, independent witness.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from support.tfjs import FIXTURES_DIR

from tfjs_store import InvalidModelError, ModelArtifacts, ModelArtifactsInfo, ModelJSON
from tfjs_store.format.jsonfmt import (
    artifacts_info,
    js_number,
    js_stringify,
    json_byte_length,
    model_json_object,
    parse_json_bytes,
    parse_model_json,
)
from tfjs_store.format.layout import plan_storage
from tfjs_store.format.schemas import TrainingConfig

# ---------------------------------------------------------------------------------------------
# §14 number formatting


@pytest.mark.parametrize(
    ("value", "text"),
    [
        # the table of §14
        (1.0, "1"),
        (1e-7, "1e-7"),
        (1e21, "1e+21"),
        (1e16, "10000000000000000"),
        (0.00001, "0.00001"),
        (-0.0, "0"),
        (math.nan, "null"),
        (math.inf, "null"),
        (-math.inf, "null"),
        # the rule around it: exponents only for >= 1e21 or < 1e-6, never zero-padded
        (1e-6, "0.000001"),
        (1.5e-7, "1.5e-7"),
        (0.000001234, "0.000001234"),
        (123e-20, "1.23e-18"),
        (1e20, "100000000000000000000"),
        (9.999999999999999e20, "999999999999999900000"),
        (1.25e21, "1.25e+21"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
        (-2.5e-8, "-2.5e-8"),
        (0.1, "0.1"),
        (1 / 3, "0.3333333333333333"),
        (-1.5, "-1.5"),
        (100.0, "100"),
        (123456789.125, "123456789.125"),
        (0.9, "0.9"),
        (0.999, "0.999"),
        (0.01, "0.01"),
        # integers: exact below 2**53, else as the double JS would hold
        (0, "0"),
        (-7, "-7"),
        (2**53 - 1, "9007199254740991"),
        (2**53 + 1, "9007199254740992"),
        (10**21, "1e+21"),
        (12345678901234567890, "12345678901234567000"),
        (10**400, "null"),  # JSON.parse gives Infinity, which JSON.stringify writes as null
        # numpy scalars behave as the Python number they hold
        (np.float64(1e-7), "1e-7"),
        (np.float64(2.0), "2"),
        (np.float32(0.1), "0.10000000149011612"),
        (np.float32(1.5), "1.5"),
        (np.int64(3), "3"),
        (np.int32(-7), "-7"),
        (np.uint64(2**64 - 1), "18446744073709552000"),
    ],
)
def test_js_number(value: Any, text: str) -> None:
    assert js_number(value) == text


def test_js_number_refuses_bool() -> None:
    with pytest.raises(TypeError):
        js_number(True)


def test_python_json_would_differ() -> None:
    # The reason js_number exists: these are the §14 differences.
    assert json.dumps([1.0, 1e-7, 1e16, 0.00001, -0.0]) == "[1.0, 1e-07, 1e+16, 1e-05, -0.0]"
    assert js_stringify([1.0, 1e-7, 1e16, 0.00001, -0.0]) == "[1,1e-7,10000000000000000,0.00001,0]"


# ---------------------------------------------------------------------------------------------
# JSON.stringify


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"a": "é"}, '{"a":"é"}'),
        ('\x00\x1f\b\f\n\r\t"\\', '"\\u0000\\u001f\\b\\f\\n\\r\\t\\"\\\\"'),
        ("\x7f\u2028\u2029/", '"\x7f\u2028\u2029/"'),  # JS escapes none of these
        ("\ud800", '"\\ud800"'),  # a lone surrogate (well-formed JSON.stringify)
        ("a\udfffb", '"a\\udfffb"'),
        ("😀", '"😀"'),
        ([1, [2, [3, []]], {}], "[1,[2,[3,[]]],{}]"),
        ((1, 2), "[1,2]"),
        (
            {"z": 1, "a": 2, "m": {"y": None, "b": True, "c": False}},
            '{"z":1,"a":2,"m":{"y":null,"b":true,"c":false}}',
        ),
        ([math.nan, math.inf, -0.0], "[null,null,0]"),
        (np.array([[1.5, 2.0]], np.float32), "[[1.5,2]]"),
        (np.bool_(True), "true"),
        ({"k": np.int64(5)}, '{"k":5}'),
        (None, "null"),
    ],
)
def test_js_stringify(value: Any, text: str) -> None:
    assert js_stringify(value) == text


def test_js_stringify_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError, match="set"):
        js_stringify({"a": {1, 2}})


def test_byte_length_is_utf8_of_the_js_text() -> None:
    assert json_byte_length({"a": "é"}) == 10  # spec §1.6 [verified]; not 14 (ASCII-escaped)
    assert json_byte_length("😀") == 6
    assert json_byte_length("\ud800") == 8  # escaped as \ud800, so ASCII
    assert json_byte_length(None) == 0
    assert json_byte_length([]) == 2


# ---------------------------------------------------------------------------------------------
# §16.5: a complete LayersModel save (Dense(1), input [2], name d1)

TOPOLOGY_TEXT = (
    '{"class_name":"Sequential","config":{"name":"sequential_1","layers":[{"class_name":"Dense",'
    '"config":{"units":1,"activation":"linear","use_bias":true,"kernel_initializer":'
    '{"class_name":"VarianceScaling","config":{"scale":1,"mode":"fan_avg","distribution":"normal",'
    '"seed":null}},"bias_initializer":{"class_name":"Zeros","config":{}},"kernel_regularizer":null,'
    '"bias_regularizer":null,"activity_regularizer":null,"kernel_constraint":null,'
    '"bias_constraint":null,"name":"d1","trainable":true,"batch_input_shape":[null,2],'
    '"dtype":"float32"}}]},"keras_version":"tfjs-layers 4.22.0","backend":"tensor_flow.js"}'
)
SPECS_TEXT = (
    '[{"name":"d1/kernel","shape":[2,1],"dtype":"float32"},'
    '{"name":"d1/bias","shape":[1],"dtype":"float32"}]'
)
HEAD_TEXT = (
    '"format":"layers-model","generatedBy":"TensorFlow.js tfjs-layers v4.22.0","convertedBy":null'
)


def dense_topology() -> dict[str, Any]:
    """The §16.5 topology as a Python object, with Python floats where JS has integers."""
    dense_config = {
        "units": 1,
        "activation": "linear",
        "use_bias": True,
        "kernel_initializer": {
            "class_name": "VarianceScaling",
            "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "normal", "seed": None},
        },
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
        "name": "d1",
        "trainable": True,
        "batch_input_shape": [None, 2],
        "dtype": "float32",
    }
    return {
        "class_name": "Sequential",
        "config": {
            "name": "sequential_1",
            "layers": [{"class_name": "Dense", "config": dense_config}],
        },
        "keras_version": "tfjs-layers 4.22.0",
        "backend": "tensor_flow.js",
    }


def dense_artifacts(**extra: Any) -> ModelArtifacts:
    return ModelArtifacts.from_weights(
        {
            "d1/kernel": np.array([[1.5], [-2]], np.float32),
            "d1/bias": np.array([0.5], np.float32),
        },
        model_topology=dense_topology(),
        format="layers-model",
        generated_by="TensorFlow.js tfjs-layers v4.22.0",
        converted_by=None,
        **extra,
    )


def test_spec_16_5_topology_text() -> None:
    assert js_stringify(dense_topology()) == TOPOLOGY_TEXT


def test_spec_16_5_byte_counts() -> None:
    artifacts = dense_artifacts()
    assert json_byte_length(dense_topology()) == 601
    assert js_stringify(artifacts.weight_specs) == SPECS_TEXT
    assert b"".join(bytes(b) for b in artifacts.buffers).hex() == "0000c03f000000c00000003f"
    before = datetime.now(timezone.utc)
    info = artifacts.info()
    assert isinstance(info, ModelArtifactsInfo)
    assert info.model_topology_type == "JSON"
    assert (info.model_topology_bytes, info.weight_specs_bytes, info.weight_data_bytes) == (
        601,
        103,
        12,
    )
    assert before - timedelta(seconds=1) <= info.date_saved <= datetime.now(timezone.utc)


def test_spec_16_5_http_model_json() -> None:
    plan = plan_storage(dense_artifacts(), layout="single", single_path="./model.weights.bin")
    text = js_stringify(model_json_object(plan.model_json, "tfjs"))
    expected = (
        '{"modelTopology":' + TOPOLOGY_TEXT + "," + HEAD_TEXT + ","
        '"weightsManifest":[{"paths":["./model.weights.bin"],"weights":' + SPECS_TEXT + "}]}"
    )
    assert text == expected
    assert len(text.encode("utf-8")) == 880
    assert [(f.path, f.start, f.end) for f in plan.files] == [("./model.weights.bin", 0, 12)]


def test_spec_16_5_node_model_json() -> None:
    plan = plan_storage(dense_artifacts(), layout="single", single_path="weights.bin")
    text = js_stringify(model_json_object(plan.model_json, "tfjs-node"))
    expected = (
        '{"modelTopology":' + TOPOLOGY_TEXT + ","
        '"weightsManifest":[{"paths":["weights.bin"],"weights":'
        + SPECS_TEXT
        + "}],"
        + HEAD_TEXT
        + "}"
    )
    assert text == expected
    assert len(text.encode("utf-8")) == 872


ADAM_TRAINING_CONFIG = (
    '{"loss":"mean_squared_error","metrics":["mae"],"optimizer_config":{"class_name":"Adam",'
    '"config":{"learningRate":0.01,"beta1":0.9,"beta2":0.999,"epsilon":1e-7}}}'
)


def test_spec_16_5_adam_training_config_and_optimizer_specs() -> None:
    training_config = TrainingConfig.model_validate(
        {
            "loss": "mean_squared_error",
            "metrics": ["mae"],
            "optimizer_config": {
                "class_name": "Adam",
                "config": {"learningRate": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7},
            },
        }
    )
    assert js_stringify(training_config) == ADAM_TRAINING_CONFIG
    zeros = np.zeros((2, 1), np.float32)
    artifacts = dense_artifacts(
        optimizer_weights=[
            ("iter", np.int32(1)),
            ("d1/kernel/m", zeros),
            ("d1/bias/m", np.zeros(1, np.float32)),
            ("d1/kernel/v", zeros),
            ("d1/bias/v", np.zeros(1, np.float32)),
        ],
        training_config=training_config,
    )
    specs = json.loads(js_stringify(artifacts.weight_specs))
    assert specs[2] == {"name": "iter", "shape": [], "dtype": "int32", "group": "optimizer"}
    assert [s.get("group") for s in specs] == [None, None] + ["optimizer"] * 5
    assert list(specs[3]) == ["name", "shape", "dtype", "group"]
    plan = plan_storage(artifacts, layout="single", single_path="weights.bin")
    text = js_stringify(model_json_object(plan.model_json, "tfjs-node"))
    assert text.endswith(HEAD_TEXT + ',"trainingConfig":' + ADAM_TRAINING_CONFIG + "}")
    # the committed real-TF.js save of the same model with Adam has exactly these bytes
    assert text.encode("utf-8") == (FIXTURES_DIR / "dense-node-adam" / "model.json").read_bytes()


@pytest.mark.parametrize(
    ("fixture", "layout", "path"),
    [
        ("dense-node", "tfjs-node", "weights.bin"),
        ("dense-http-capture", "tfjs", "./model.weights.bin"),
        ("dense-downloads", "tfjs", "./model.weights.bin"),
    ],
)
def test_spec_16_5_matches_real_tfjs_fixture(fixture: str, layout: Any, path: str) -> None:
    plan = plan_storage(dense_artifacts(), layout="single", single_path=path)
    text = js_stringify(model_json_object(plan.model_json, layout))
    assert text.encode("utf-8") == (FIXTURES_DIR / fixture / "model.json").read_bytes()


# ---------------------------------------------------------------------------------------------
# every committed TF.js fixture: byte counts and a byte-identical model.json round trip

FIXTURE_INDEX = json.loads((FIXTURES_DIR / "index.json").read_text("utf-8"))["fixtures"]


def _layout_of(entry: dict[str, Any]) -> Any:
    return "tfjs-node" if entry["layout"] == "node" else "tfjs"


@pytest.mark.parametrize("entry", FIXTURE_INDEX, ids=[f["dir"] for f in FIXTURE_INDEX])
def test_fixture_model_json_round_trips_byte_for_byte(entry: dict[str, Any]) -> None:
    raw = (FIXTURES_DIR / entry["dir"] / "model.json").read_bytes()
    model = parse_model_json(raw)
    assert js_stringify(model_json_object(model, _layout_of(entry))).encode("utf-8") == raw


@pytest.mark.parametrize("entry", FIXTURE_INDEX, ids=[f["dir"] for f in FIXTURE_INDEX])
def test_fixture_artifacts_info_matches_tfjs(entry: dict[str, Any]) -> None:
    folder = FIXTURES_DIR / entry["dir"]
    expected = json.loads((folder / "expected.json").read_text("utf-8"))["modelArtifactsInfo"]
    model = parse_model_json((folder / "model.json").read_bytes())
    weights_file = "weights.bin" if entry["layout"] == "node" else "model.weights.bin"
    artifacts = ModelArtifacts.from_model_json(model, [(folder / weights_file).read_bytes()])
    info = artifacts.info()
    assert info.model_dump(by_alias=True, exclude={"date_saved"}) == expected


# ---------------------------------------------------------------------------------------------
# key order (§2.4 for http/downloads, §10 for tfjs-node)

ALL_KEYS_SCRAMBLED = {
    "initializerSignature": {"i": 1},
    "trainingConfig": {"loss": "mse"},
    "modelInitializer": {"m": 1},
    "userDefinedMetadata": {"u": 1},
    "signature": {"s": 1},
    "weightsManifest": [],
    "convertedBy": "c",
    "generatedBy": "g",
    "format": "f",
    "modelTopology": {"t": 1},
}


def test_tfjs_key_order() -> None:
    model = ModelJSON.parse(ALL_KEYS_SCRAMBLED)
    assert list(model_json_object(model, "tfjs")) == [
        "modelTopology",
        "format",
        "generatedBy",
        "convertedBy",
        "weightsManifest",
        "signature",
        "userDefinedMetadata",
        "modelInitializer",
        "initializerSignature",
        "trainingConfig",
    ]


def test_tfjs_node_key_order() -> None:
    model = ModelJSON.parse(ALL_KEYS_SCRAMBLED)
    assert list(model_json_object(model, "tfjs-node")) == [
        "modelTopology",
        "weightsManifest",
        "format",
        "generatedBy",
        "convertedBy",
        "trainingConfig",
        "signature",
        "userDefinedMetadata",
        "modelInitializer",  # tfjs-node drops these two; tfjs-store keeps them, last
        "initializerSignature",
    ]


def test_null_handling_as_json_stringify() -> None:
    model = ModelJSON.parse(
        {"modelTopology": {}, "weightsManifest": [], "convertedBy": None, "signature": None}
    )
    # convertedBy: null is kept (TF.js writes it), an absent format is not written,
    # and a null signature is dropped (TF.js copies optional fields only when non-null)
    assert js_stringify(model_json_object(model)) == (
        '{"modelTopology":{},"convertedBy":null,"weightsManifest":[]}'
    )


def test_missing_manifest_is_written_as_empty_in_place() -> None:
    model = ModelJSON.parse({"modelTopology": {"a": 1}, "format": "graph-model"})
    assert js_stringify(model_json_object(model, "tfjs")) == (
        '{"modelTopology":{"a":1},"format":"graph-model","weightsManifest":[]}'
    )
    assert js_stringify(model_json_object(model, "tfjs-node")) == (
        '{"modelTopology":{"a":1},"weightsManifest":[],"format":"graph-model"}'
    )


def test_unknown_keys_follow_the_known_ones_then_extra() -> None:
    model = ModelJSON.parse(
        {"zeta": [1.0], "modelTopology": {}, "weightsManifest": [], "alpha": {"k": 2.5}}
    )
    obj = model_json_object(model, "tfjs", extra={"tfjsStore": {"v": 1}})
    assert js_stringify(obj) == (
        '{"modelTopology":{},"weightsManifest":[],"zeta":[1],"alpha":{"k":2.5},"tfjsStore":{"v":1}}'
    )


def test_spec_and_quantization_keys_keep_their_input_order() -> None:
    raw = (
        b'{"modelTopology":null,"weightsManifest":[{"weights":[{"dtype":"float32","shape":[1],'
        b'"name":"a","quantization":{"scale":0.5,"original_dtype":"float32","min":-1,'
        b'"dtype":"uint8"},"extra":1}],"paths":["x.bin"]}]}'
    )
    text = js_stringify(model_json_object(parse_model_json(raw), "tfjs"))
    assert text == (
        '{"modelTopology":null,"weightsManifest":[{"weights":[{"dtype":"float32","shape":[1],'
        '"name":"a","quantization":{"scale":0.5,"original_dtype":"float32","min":-1,'
        '"dtype":"uint8"},"extra":1}],"paths":["x.bin"]}]}'
    )


# ---------------------------------------------------------------------------------------------
# reading JSON as JSON.parse would


def test_parse_json_bytes() -> None:
    assert parse_json_bytes(b'{"a":[1,2.5,"\\u00e9"]}') == {"a": [1, 2.5, "é"]}
    assert parse_json_bytes("\ufeff{}".encode()) == {}  # a BOM is tolerated


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff{}", r"model\.json is not valid UTF-8"),
        (b'{"a":NaN}', "not valid JSON"),
        (b'{"a":Infinity}', "not valid JSON"),
        (b'{"a":-Infinity}', "not valid JSON"),
        (b'{"a":1} x', "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_parse_json_bytes_errors(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidModelError, match=message):
        parse_json_bytes(raw)


def test_parse_errors_name_the_source() -> None:
    with pytest.raises(InvalidModelError, match=r"^s3://b/m/model\.json is not valid JSON"):
        parse_model_json(b"{", "s3://b/m/model.json")
    with pytest.raises(InvalidModelError, match=r"^invalid s3://b/m/model\.json: "):
        parse_model_json(b"[]", "s3://b/m/model.json")


# ---------------------------------------------------------------------------------------------
# ModelArtifactsInfo


def test_artifacts_info_of_missing_parts_is_zero() -> None:
    info = artifacts_info(None, None, 0)
    assert (info.model_topology_bytes, info.weight_specs_bytes, info.weight_data_bytes) == (0, 0, 0)


def test_artifacts_info_refuses_binary_topology() -> None:
    with pytest.raises(InvalidModelError, match=r"^Expected JSON model topology, received"):
        artifacts_info(b"\x08\x01", [], 0)


def test_artifacts_info_json_uses_camel_case_and_js_dates() -> None:
    info = ModelArtifactsInfo(
        date_saved=datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc),
        model_topology_bytes=601,
        weight_specs_bytes=103,
        weight_data_bytes=12,
    )
    assert info.model_dump(by_alias=True, mode="json") == {
        "dateSaved": "2024-01-02T03:04:05.678Z",
        "modelTopologyType": "JSON",
        "modelTopologyBytes": 601,
        "weightSpecsBytes": 103,
        "weightDataBytes": 12,
    }
    plus_two = timezone(timedelta(hours=2))
    other_zone = info.model_copy(
        update={"date_saved": datetime(2024, 1, 2, 5, 4, 5, 678000, tzinfo=plus_two)}
    )
    dumped = other_zone.model_dump(by_alias=True, mode="json")
    assert dumped["dateSaved"] == "2024-01-02T03:04:05.678Z"
