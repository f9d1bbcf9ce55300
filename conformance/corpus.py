"""The models every handler must keep intact, and TF.js's own files to load.

Two kinds of corpus:

- **Generated models** (``corpus_model(name)``): ``ModelArtifacts`` built here from
  numpy arrays, deterministic, each stressing one thing (every dtype, strings,
  quantization, optimizer weights, zero-byte weights, many small buffers, a weight
  straddling buffers, unicode names, every optional model.json field). A handler must
  give each back byte for byte.
- **TF.js layouts** (``layout_files(name)``, in ``corpus/``): files written by real
  TF.js 4.22.0 (tfjs-node ``file://``, the browser's ``downloads://``) and by the real
  ``tensorflowjs`` converter (shards, several groups, quantized), with the weights TF.js
  itself decodes from them (``layout_expected(name)``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from tfjs_store import ModelArtifacts, Quantization, WeightSpec

__all__ = [
    "LARGE_MODEL_BYTES",
    "LAYOUTS",
    "MODELS",
    "CorpusModel",
    "corpus_model",
    "large_model",
    "layout_expected",
    "layout_files",
]


@dataclass(frozen=True)
class CorpusModel:
    name: str
    description: str
    build: Callable[[], ModelArtifacts]


def _topology(name: str, layers: list[str]) -> dict[str, Any]:
    # Integers and strings only: its JSON is the same in Python and JavaScript, so the
    # suite can compute TF.js's byte counts on its own.
    return {
        "class_name": "Sequential",
        "config": {
            "name": name,
            "layers": [
                {"class_name": "Dense", "config": {"name": layer, "units": 2, "use_bias": True}}
                for layer in layers
            ],
        },
        "keras_version": "tfjs-layers 4.22.0",
        "backend": "tensor_flow.js",
    }


def _f32_bits(*bits: int) -> np.ndarray:
    return np.array(bits, dtype="<u4").view("<f4")


def _every_dtype() -> ModelArtifacts:
    specials = _f32_bits(
        0x00000000,  # 0
        0x80000000,  # -0
        0x3FC00000,  # 1.5
        0xC0000000,  # -2
        0x7F800000,  # inf
        0xFF800000,  # -inf
        0x7FC00000,  # NaN
        0x7FC00001,  # NaN with a payload
        0xFFA00001,  # negative signalling NaN
        0x00000001,  # smallest subnormal
        0x7F7FFFFF,  # largest finite
    )
    return ModelArtifacts.from_weights(
        {
            "float32/specials": specials,
            "float32/matrix": np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7,
            "float32/scalar": np.float32(-3.25),
            "int32/extremes": np.array([-(2**31), -1, 0, 1, 2**31 - 1], dtype=np.int32),
            "bool/mask": np.array([[True, False, True], [False, False, True]]),
            "complex64/values": np.array([1.5 - 2j, 3 + 0.25j, -0.0 + 1j], dtype=np.complex64),
            "string/words": np.array(["a", "bc"], dtype=object),
        },
        model_topology=_topology("every_dtype", ["d1"]),
        format="layers-model",
        generated_by="tfjs-store conformance",
    )


def _strings() -> ModelArtifacts:
    weights: list[tuple[str, Any]] = [
        ("empty", np.array(["", "", ""], dtype=object)),
        ("unicode", np.array(["é", "中文", "🙂 emoji", "\u2028"], dtype=object)),
        ("controls", np.array(["a\x00b", '\n\t"\\'], dtype=object)),
        ("zero-element", np.empty((0,), dtype=object)),
        # TF.js reads this right; the Python reader shifts the next weight by 4 bytes.
        ("after-zero-element", np.array([7.0], dtype=np.float32)),
        ("zero-by-two", np.empty((2, 0), dtype=object)),
        ("scalar", np.array("scalar", dtype=object)),
        ("raw-bytes", np.array([b"\xff\xfe\x00", b""], dtype=object)),
        ("matrix", np.array([["x", "yy"], ["zzz", ""]], dtype=object)),
    ]
    return ModelArtifacts.from_weights(
        weights, model_topology=_topology("strings", ["s"]), format="layers-model"
    )


def _quantized() -> ModelArtifacts:
    rng = np.random.default_rng(5)
    base = ModelArtifacts.from_weights(
        {
            "q/uint8": np.array([-0.5, 0.0, 0.25, 1.0], dtype=np.float32),
            "q/uint16": rng.standard_normal(33).astype(np.float32),
            "q/float16": np.array([1.5, -2, 1e-8, 70000, -0.0], dtype=np.float32),
            "q/constant": np.array([2.0, 2.0], dtype=np.float32),
            "plain": np.array([1.0, 2.0], dtype=np.float32),
        },
        quantize={"uint8": ["q/uint8", "q/constant"], "uint16": "q/uint16", "float16": "q/float16"},
    )
    # int32 weights quantized to uint8, including TF.js's half-up rounding trap
    # (scale 0.5, min -1.5, q = 0, 2, 4 gives -1, 0, 1 in TF.js).
    int_specs = [
        WeightSpec(
            name="q/int32",
            shape=[4],
            dtype="int32",
            quantization=Quantization(dtype="uint8", min=-2, scale=0.5),
        ),
        WeightSpec(
            name="q/int32-rounding",
            shape=[3],
            dtype="int32",
            quantization=Quantization(dtype="uint8", min=-1.5, scale=0.5),
        ),
    ]
    int_data = [memoryview(bytes([0, 1, 3, 5])), memoryview(bytes([0, 2, 4]))]
    return ModelArtifacts.create(
        model_topology=_topology("quantized", ["q"]),
        weight_specs=list(base.weight_specs or []) + int_specs,
        weight_data=base.buffers + int_data,
        format="layers-model",
    )


_TRAINING_CONFIG = {
    "loss": "mean_squared_error",
    "metrics": ["mae"],
    "optimizer_config": {
        "class_name": "Adam",
        "config": {"learningRate": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7},
    },
}


def _optimizer() -> ModelArtifacts:
    kernel = np.array([[1.5], [-2.0]], dtype=np.float32)
    bias = np.array([0.5], dtype=np.float32)
    return ModelArtifacts.from_weights(
        {"d1/kernel": kernel, "d1/bias": bias},
        optimizer_weights={
            "iter": np.int32(7),
            "d1/kernel/m": kernel * 0.1,
            "d1/bias/m": bias * 0.1,
            "d1/kernel/v": kernel * 0.01,
            "d1/bias/v": bias * 0.01,
        },
        model_topology=_topology("optimizer", ["d1"]),
        training_config=_TRAINING_CONFIG,
        format="layers-model",
        generated_by="TensorFlow.js tfjs-layers v4.22.0",
        converted_by=None,
    )


def _zero_byte() -> ModelArtifacts:
    return ModelArtifacts.from_weights(
        {
            "empty/float32": np.zeros((0,), np.float32),
            "empty/int32": np.zeros((3, 0), np.int32),
            "empty/bool": np.zeros((0, 2), bool),
            "empty/string": np.empty((0,), dtype=object),
            "empty/complex64": np.zeros((0,), np.complex64),
        },
        model_topology=_topology("zero_byte", ["z"]),
    )


def _zero_byte_mixed() -> ModelArtifacts:
    return ModelArtifacts.from_weights(
        {
            "empty/first": np.zeros((0,), np.float32),
            "one": np.array([1.25], np.float32),
            "empty/middle": np.zeros((0, 4), np.int32),
            "two": np.array([3, 4], np.int32),
            "empty/last": np.zeros((0,), np.float32),
        },
        model_topology=_topology("zero_byte_mixed", ["z"]),
    )


def _no_weights() -> ModelArtifacts:
    return ModelArtifacts.create(
        model_topology=_topology("no_weights", []), weight_specs=[], weight_data=[]
    )


def _many_shards() -> ModelArtifacts:
    # 40 weights of odd sizes (4 to 160 bytes), 3,280 bytes in all: cut into 64-byte
    # shards that is 52 files, and most weights straddle two of them.
    rng = np.random.default_rng(40)
    weights = {f"layer{i:02d}/w": rng.standard_normal(i + 1).astype(np.float32) for i in range(40)}
    return ModelArtifacts.from_weights(
        weights, model_topology=_topology("many_shards", [f"layer{i:02d}" for i in range(40)])
    )


def _straddle() -> ModelArtifacts:
    # One 4,000-byte weight handed over as three buffers cut in the middle of elements,
    # between a 3-byte bool weight and a 2-element int32 one: nothing is aligned.
    big = np.arange(1000, dtype=np.float32) * np.float32(0.5) - np.float32(3)
    head = np.array([True, False, True])
    tail = np.array([-7, 9], dtype=np.int32)
    raw = head.tobytes() + big.tobytes() + tail.tobytes()
    cuts = [0, 1, 5, 1001, 3998, len(raw)]
    buffers = [memoryview(raw[a:b]) for a, b in itertools.pairwise(cuts)]
    specs = [
        WeightSpec(name="head", shape=[3], dtype="bool"),
        WeightSpec(name="big", shape=[10, 100], dtype="float32"),
        WeightSpec(name="tail", shape=[2], dtype="int32"),
    ]
    return ModelArtifacts.create(
        model_topology=_topology("straddle", ["big"]), weight_specs=specs, weight_data=buffers
    )


def _unicode_names() -> ModelArtifacts:
    names = [
        "dense/核/kernel",
        "é",
        "🙂",
        "space name",
        'quote"name',
        "back\\slash",
        "a/b/c/d",
        "ünïcödé/bias",
        "line\u2028separator",
    ]
    weights = {n: np.full(i + 1, i, dtype=np.float32) for i, n in enumerate(names)}
    topology = _topology("ユニコード", ["核", "é"])
    return ModelArtifacts.from_weights(
        weights,
        model_topology=topology,
        format="layers-model",
        user_defined_metadata={"说明": "模型", "emoji": "🙂", "nested": {"ключ": ["значение"]}},
    )


def _metadata() -> ModelArtifacts:
    return ModelArtifacts.from_weights(
        {"w": np.array([1.0, -1.0], np.float32)},
        model_topology=_topology("metadata", ["w"]),
        training_config=_TRAINING_CONFIG,
        format="graph-model",
        generated_by="2.19.0",
        converted_by="TensorFlow.js Converter v4.22.0",
        signature={"inputs": {"x:0": {"name": "x:0", "dtype": "DT_FLOAT"}}},
        user_defined_metadata={"threshold": 0.25, "labels": ["cat", "dog"]},
        model_initializer={"node": [{"name": "init", "op": "NoOp"}]},
        initializer_signature={"outputs": {"table:0": {"name": "table:0"}}},
    )


MODELS: dict[str, CorpusModel] = {
    m.name: m
    for m in [
        CorpusModel(
            "every-dtype",
            "float32 (NaN payloads, -0, inf, subnormal), int32 extremes, "
            "bool, complex64, string, scalars and 3-D shapes",
            _every_dtype,
        ),
        CorpusModel(
            "strings",
            "empty, unicode, NUL and control characters, raw bytes, "
            "zero-element string tensors followed by a float",
            _strings,
        ),
        CorpusModel(
            "quantized",
            "uint8, uint16, float16 quantized float32 weights and uint8 quantized int32 weights",
            _quantized,
        ),
        CorpusModel(
            "optimizer",
            "model weights plus group 'optimizer' weights and a "
            "trainingConfig, as includeOptimizer saves them",
            _optimizer,
        ),
        CorpusModel(
            "zero-byte", "every weight has zero elements: no weight bytes at all", _zero_byte
        ),
        CorpusModel("zero-byte-mixed", "zero-element weights between others", _zero_byte_mixed),
        CorpusModel("no-weights", "a topology with an empty weight list", _no_weights),
        CorpusModel(
            "many-shards", "40 weights of odd sizes: dozens of shards when cut small", _many_shards
        ),
        CorpusModel(
            "straddle",
            "a weight handed over in pieces cut mid-element, between unaligned weights",
            _straddle,
        ),
        CorpusModel(
            "unicode-names",
            "unicode, quotes, backslashes and slashes in weight names, topology and metadata",
            _unicode_names,
        ),
        CorpusModel(
            "metadata",
            "trainingConfig, format, generatedBy, convertedBy, signature, "
            "userDefinedMetadata, modelInitializer, initializerSignature",
            _metadata,
        ),
    ]
}


def corpus_model(name: str) -> ModelArtifacts:
    """A fresh copy of the generated corpus model ``name`` (see ``MODELS``)."""
    return MODELS[name].build()


LARGE_MODEL_BYTES = (1 << 30) + 12_345
"""The large tier: just over 1 GiB of weights."""


def large_model() -> ModelArtifacts:
    """Over 1 GiB of float32 weights in five tensors (opt-in: ``--conformance-large``).

    The values are an index pattern, so any misplaced byte range shows.
    """
    count = LARGE_MODEL_BYTES // 4
    sizes = [count // 5] * 4 + [count - 4 * (count // 5)]
    weights = {}
    start = 0
    for i, n in enumerate(sizes):
        weights[f"large/w{i}"] = np.arange(start, start + n, dtype=np.uint32).view(np.float32)
        start += n
    weights["large/tail"] = np.array([1, 2, 3], dtype=np.int32)
    return ModelArtifacts.from_weights(weights, model_topology=_topology("large", ["l"]))


# -- TF.js layouts ------------------------------------------------------------------------

LAYOUTS: dict[str, str] = {
    "tfjs-node": "tfjs-node file:// save: model.json + weights.bin, optimizer weights, "
    "trainingConfig",
    "browser": "browser downloads:// save: manifest path './model.weights.bin'",
    "converter-shards": "tensorflowjs converter: 4 shards, float16 quantization, "
    "converter key order and spacing",
    "several-groups": "tensorflowjs converter: 5 groups, 7 shards in one, uint8 quantization",
}


def _corpus_dir(name: str) -> Any:
    if name not in LAYOUTS:
        raise KeyError(f"unknown layout {name!r}; choose from {sorted(LAYOUTS)}")
    return resources.files(__package__).joinpath("corpus", name)


def layout_expected(name: str) -> dict[str, Any]:
    """What TF.js decodes from layout ``name``: weights (hex of TF.js's values) and,
    where TF.js reported it, its ``modelArtifactsInfo``."""
    result: dict[str, Any] = json.loads(_corpus_dir(name).joinpath("expected.json").read_bytes())
    return result


def layout_files(name: str) -> dict[str, bytes]:
    """The files of layout ``name``: ``{"model.json": ..., "<manifest path>": ...}``.

    Weight files are keyed by their manifest path (``./`` removed).
    """
    folder = _corpus_dir(name)
    model_json = folder.joinpath("model.json").read_bytes()
    files = {"model.json": model_json}
    for group in json.loads(model_json)["weightsManifest"]:
        for path in group["paths"]:
            rel = path.removeprefix("./")
            files[rel] = folder.joinpath(rel).read_bytes()
    return files
