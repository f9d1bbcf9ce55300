"""Make tests/fixtures/converter/ with the real ``tensorflowjs`` converter.

This script is NOT run by the tests or CI. The tests use only what it wrote (committed) plus
@tensorflow/tfjs from npm. Run it by hand, from the repository root, in its own virtualenv:

    python3 -m venv /tmp/tfjs-conv-venv
    /tmp/tfjs-conv-venv/bin/pip install tensorflowjs==4.22.0   # ~2 min, ~2.9 GiB
    /tmp/tfjs-conv-venv/bin/pip install 'ydf==0.13.0'          # else protobuf VersionError
    /tmp/tfjs-conv-venv/bin/python tests/converter/make_fixtures.py

(made with tensorflowjs 4.22.0, tensorflow 2.19.0, tf_keras 2.19.0; Node 20 and the npm packages
of tests/js for the TF.js reference outputs.)

For each fixture it builds a small model with fixed weights in TensorFlow, converts it with the
converter's own entry point (``tensorflowjs.converters.converter.convert``, the function behind
the ``tensorflowjs_converter`` command) and copies the converter's output unchanged into
``tests/fixtures/converter/<name>/``. Next to it, ``expected.json`` records

* ``converterArgs``: the exact converter command line (paths as ``<INPUT>`` / ``<OUTPUT>``);
* ``inputs``: the fixed input batch;
* ``tfOutputs``: what TensorFlow computed on the float model before conversion (quantized
  fixtures differ from it by the quantization error);
* ``tfjsOutputs``: what real TF.js 4.22.0 (cpu backend, ``tests/js/tfjs_tool.js``) computed when
  loading the converter's output as it is: the bit-for-bit reference for the tests;
* ``tfjsWeights``: the weights of the model TF.js loaded (layers: ``model.weights``, named as
  TF.js names them; graph: ``model.weights``);
* ``tfjsDecoded``: ``tf.io.decodeWeights`` of the converter's files by real TF.js: every
  weight dequantized, named and ordered as in the manifest;
* ``files``: size and SHA-256 of every converter file (the tests check the files are unchanged).

``index.json`` lists the fixtures with what each one exercises.

Re-running it gives the same weight files and outputs; a graph model's model.json may come out
with other generated node names (TensorFlow's tracing counters), so commit a re-run whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault(
    "TF_USE_LEGACY_KERAS", "1"
)  # tf.keras = tf_keras (Keras 2): what the h5 path needs
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import tensorflowjs
from tensorflowjs.converters import converter as tfjs_converter

REPO = Path(__file__).resolve().parents[2]
OUT_ROOT = REPO / "tests" / "fixtures" / "converter"
TOOL = REPO / "tests" / "js" / "tfjs_tool.js"
SCRIPT = "tests/converter/make_fixtures.py"

METADATA = {"author": "tfjs-store converter fixtures", "note": "é ✓", "threshold": 1e-7}


# ---- helpers ----------------------------------------------------------------------------------


def rng_array(
    seed: int, shape: tuple[int, ...], low: float = -0.5, high: float = 0.5
) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(np.float32)


def set_fixed_weights(model: Any, seed: int) -> None:
    """Every weight from a seeded generator; BatchNormalization variances and gammas positive."""
    values = []
    for i, w in enumerate(model.weights):
        shape = tuple(int(d) for d in w.shape)
        if any(k in w.name for k in ("moving_variance", "gamma")):
            values.append(rng_array(seed + i, shape, 0.5, 1.5))
        else:
            values.append(rng_array(seed + i, shape))
    model.set_weights(values)


def tensor_json(name: str | None, arr: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if name is not None:
        out["name"] = name
    out["shape"] = list(arr.shape)
    if arr.dtype == object or arr.dtype.kind in ("U", "S"):
        out["dtype"] = "string"
        out["strings"] = [x.decode() if isinstance(x, bytes) else str(x) for x in arr.reshape(-1)]
        return out
    dtype = {"float32": "float32", "int32": "int32", "int64": "int32", "bool": "bool"}[
        str(arr.dtype)
    ]
    np_dtype = {"float32": "<f4", "int32": "<i4", "bool": "u1"}[dtype]
    data = np.ascontiguousarray(arr.astype(np_dtype))
    out["dtype"] = dtype
    out["hex"] = data.tobytes().hex()
    out["values"] = [float(v) if dtype == "float32" else int(v) for v in data.reshape(-1)]
    return out


def run_tool(command: str, payload: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        ["node", str(TOOL), command, "-"],
        input=json.dumps(payload).encode(),
        capture_output=True,
        cwd=REPO,
        check=False,
    )
    out = json.loads(proc.stdout)
    if proc.returncode != 0 or not out.get("ok"):
        raise RuntimeError(
            f"tfjs_tool.js {command} failed: {out.get('error')}\n{proc.stderr.decode()[-3000:]}"
        )
    return out


def convert(args: list[str], src: Path, dst: Path) -> list[str]:
    """Run the converter; return the argument list with <INPUT>/<OUTPUT> placeholders."""
    if dst.exists():
        shutil.rmtree(dst)
    tfjs_converter.convert([*args, str(src), str(dst)])
    return ["tensorflowjs_converter", *args, "<INPUT>", "<OUTPUT>"]


def file_table(folder: Path) -> dict[str, Any]:
    out = {}
    for p in sorted(folder.iterdir()):
        if p.name == "expected.json":
            continue
        data = p.read_bytes()
        out[p.name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return out


def features(folder: Path) -> dict[str, Any]:
    mj = json.loads((folder / "model.json").read_text("utf-8"))
    groups = mj["weightsManifest"]
    qdtypes = sorted(
        {w["quantization"]["dtype"] for g in groups for w in g["weights"] if "quantization" in w}
    )
    return {
        "format": mj.get("format"),
        "groups": len(groups),
        "shards": sum(len(g["paths"]) for g in groups),
        "quantization": qdtypes,
        "weightDtypes": sorted({w["dtype"] for g in groups for w in g["weights"]}),
        "signature": "signature" in mj,
        "modelInitializer": "modelInitializer" in mj,
        "initializerSignature": "initializerSignature" in mj,
        "userDefinedMetadata": "userDefinedMetadata" in mj,
    }


def tfjs_decoded(folder: Path) -> list[dict[str, Any]]:
    """TF.js's own tf.io.decodeWeights of the converter's files (all groups' files in manifest
    order, specs flattened: what every TF.js loader hands to decodeWeights)."""
    mj = json.loads((folder / "model.json").read_text("utf-8"))
    specs = [w for g in mj["weightsManifest"] for w in g["weights"]]
    buffers = [(folder / p).read_bytes().hex() for g in mj["weightsManifest"] for p in g["paths"]]
    tensors = run_tool("decode", {"specs": specs, "buffers": buffers})["tensors"]
    for t in tensors:
        t.pop("values", None)
    return tensors


def write_expected(folder: Path, entry: dict[str, Any]) -> None:
    text = json.dumps(entry, indent=1, ensure_ascii=False)
    (folder / "expected.json").write_text(text + "\n", encoding="utf-8")


# ---- layers models (Keras HDF5 -> tfjs_layers_model)


def keras_cnn() -> Any:
    k = tf.keras
    model = k.Sequential(
        [
            k.layers.Conv2D(
                3, 3, padding="same", activation="relu", input_shape=(6, 6, 2), name="c1"
            ),
            k.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw1"),
            k.layers.BatchNormalization(name="bn1"),
            k.layers.Flatten(name="flat"),
            k.layers.Dense(4, activation="tanh", name="d1"),
            k.layers.Dense(2, name="out"),
        ],
        name="conv_cnn",
    )
    set_fixed_weights(model, 11)
    return model


def keras_functional_rnn() -> Any:
    k = tf.keras
    tokens = k.Input(shape=(5,), name="tokens")
    feats = k.Input(shape=(3,), name="feats")
    e = k.layers.Embedding(12, 4, name="emb")(tokens)
    h = k.layers.LSTM(6, return_sequences=True, name="lstm")(e)
    h = k.layers.GRU(4, reset_after=False, name="gru")(h)  # TF.js: no reset_after
    f = k.layers.Dense(4, activation="relu", name="fd")(feats)
    c = k.layers.Concatenate(name="cat")([h, f])
    reg = k.layers.Dense(1, name="reg")(c)
    cls = k.layers.Dense(3, activation="softmax", name="cls")(c)
    model = k.Model([tokens, feats], [reg, cls], name="conv_functional")
    set_fixed_weights(model, 23)
    return model


def keras_mlp() -> Any:
    k = tf.keras
    model = k.Sequential(
        [
            k.layers.Dense(16, activation="relu", input_shape=(8,), name="h1"),
            k.layers.Dense(16, activation="relu", name="h2"),
            k.layers.Dense(3, activation="softmax", name="probs"),
        ],
        name="conv_mlp",
    )
    set_fixed_weights(model, 37)
    return model


def layers_inputs(model: Any, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for inp in model.inputs:
        shape = (3, *[int(d) for d in inp.shape[1:]])
        if inp.name.startswith("tokens"):
            out.append(rng.integers(0, 12, size=shape).astype(np.float32))
        else:
            out.append(rng.uniform(-1, 1, size=shape).astype(np.float32))
    return out


LAYERS_FIXTURES = [
    {
        "name": "layers-cnn-uint8-split",
        "build": keras_cnn,
        "args": [
            "--input_format",
            "keras",
            "--output_format",
            "tfjs_layers_model",
            "--split_weights_by_layer",
            "--quantize_uint8",
            "*",
            "--weight_shard_size_bytes",
            "64",
            "--metadata",
            "info:<METADATA>",
        ],
        "exercises": "Conv2D, DepthwiseConv2D, BatchNormalization; uint8; one group per layer; "
        "64-byte shards; userDefinedMetadata",
    },
    {
        "name": "layers-functional-uint16-split",
        "build": keras_functional_rnn,
        "args": [
            "--input_format",
            "keras",
            "--output_format",
            "tfjs_layers_model",
            "--split_weights_by_layer",
            "--quantize_uint16",
            "*",
            "--weight_shard_size_bytes",
            "100",
        ],
        "exercises": "two inputs, two outputs, Embedding, LSTM, GRU; uint16; one group per layer; "
        "100-byte shards",
    },
    {
        "name": "layers-mlp-float16-mixed",
        "build": keras_mlp,
        "args": [
            "--input_format",
            "keras",
            "--output_format",
            "tfjs_layers_model",
            "--quantize_float16",
            "h1/*,h2/kernel",
            "--quantize_uint8",
            "probs/*",
            "--weight_shard_size_bytes",
            "256",
        ],
        "exercises": "float16 and uint8 in one group next to plain float32; 256-byte shards",
    },
]


def make_layers(fx: dict[str, Any], work: Path) -> dict[str, Any]:
    model = fx["build"]()
    h5 = work / f"{fx['name']}.h5"
    model.save(h5, save_format="h5")
    meta = work / "metadata.json"
    meta.write_text(json.dumps(METADATA, ensure_ascii=False), encoding="utf-8")
    args = [a.replace("<METADATA>", str(meta)) for a in fx["args"]]
    dst = OUT_ROOT / fx["name"]
    cmd = convert(args, h5, dst)
    cmd = [a.replace(str(meta), "<METADATA>") for a in cmd]
    inputs = layers_inputs(model, 99)
    tf_out = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    if not isinstance(tf_out, list):
        tf_out = [tf_out]
    in_json = [
        tensor_json(inp.name.split(":")[0], x) for inp, x in zip(model.inputs, inputs, strict=True)
    ]
    res = run_tool("load-predict", {"url": str(dst / "model.json"), "input": in_json})
    return {
        "generatedBy": SCRIPT,
        "name": fx["name"],
        "kind": "layers-model",
        "exercises": fx["exercises"],
        "versions": versions(),
        "converterArgs": cmd,
        "metadataFile": METADATA if "--metadata" in fx["args"] else None,
        "features": features(dst),
        "inputs": in_json,
        "tfOutputs": [tensor_json(None, np.asarray(y)) for y in tf_out],
        "tfjsOutputs": res["predictions"],
        "tfjsWeights": res["weights"],
        "tfjsDecoded": tfjs_decoded(dst),
        "userDefinedMetadata": res["userDefinedMetadata"],
        "files": file_table(dst),
    }


# ---- graph models (SavedModel -> tfjs_graph_model)


class Vocabulary(tf.Module):
    """Words looked up in a hash table (-> modelInitializer), embedded and scored."""

    def __init__(self) -> None:
        super().__init__()
        keys = tf.constant(["cat", "dog", "bird", "fish"])
        values = tf.constant([0, 1, 2, 3], dtype=tf.int64)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, values), default_value=-1
        )
        self.emb = tf.Variable(rng_array(51, (5, 3), -1, 1), name="emb")
        self.w = tf.Variable(rng_array(52, (3, 2), -1, 1), name="w")
        self.b = tf.Variable(rng_array(53, (2,)), name="b")

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="words"),
            tf.TensorSpec([None, 3], tf.float32, name="x"),
        ]
    )
    def serve(self, words: Any, x: Any) -> dict[str, Any]:
        ids = self.table.lookup(words)
        ids = tf.where(ids < 0, tf.constant(4, tf.int64), ids)
        e = tf.gather(self.emb, ids)
        y = tf.matmul(e + x, self.w) + self.b
        return {"scores": tf.nn.softmax(y), "ids": tf.cast(ids, tf.int32)}


class TinyConv(tf.Module):
    """A conv net as a plain tf.function graph (Conv2D, bias, relu, mean, dense)."""

    def __init__(self) -> None:
        super().__init__()
        self.k = tf.Variable(rng_array(61, (3, 3, 2, 4)), name="k")
        self.kb = tf.Variable(rng_array(62, (4,)), name="kb")
        self.w = tf.Variable(rng_array(63, (4, 3)), name="dense_w")
        self.wb = tf.Variable(rng_array(64, (3,)), name="dense_b")

    @tf.function(input_signature=[tf.TensorSpec([None, 6, 6, 2], tf.float32, name="image")])
    def serve(self, image: Any) -> dict[str, Any]:
        h = tf.nn.relu(tf.nn.conv2d(image, self.k, 1, "SAME") + self.kb)
        pooled = tf.reduce_mean(h, axis=[1, 2])
        logits = tf.matmul(pooled, self.w) + self.wb
        return {"logits": logits}


GRAPH_FIXTURES = [
    {
        "name": "graph-hashtable-float16",
        "module": Vocabulary,
        "args": [
            "--input_format",
            "tf_saved_model",
            "--output_format",
            "tfjs_graph_model",
            "--quantize_float16",
            "--weight_shard_size_bytes",
            "32",
        ],
        "inputs": lambda: {
            "words": np.array([b"dog", b"zebra", b"cat"], dtype=object),
            "x": np.random.default_rng(7).uniform(-1, 1, size=(3, 3)).astype(np.float32),
        },
        "exercises": "signature, modelInitializer + initializerSignature (hash table), string and "
        "int32 weights, string input; float16; 32-byte shards",
    },
    {
        "name": "graph-conv-uint8",
        "module": TinyConv,
        "args": [
            "--input_format",
            "tf_saved_model",
            "--output_format",
            "tfjs_graph_model",
            "--quantize_uint8",
            "*",
            "--weight_shard_size_bytes",
            "40",
        ],
        "inputs": lambda: {
            "image": np.random.default_rng(8).uniform(-1, 1, size=(2, 6, 6, 2)).astype(np.float32),
        },
        "exercises": "signature; conv graph; uint8; 40-byte shards",
    },
    {
        "name": "graph-conv-uint16",
        "module": TinyConv,
        "args": [
            "--input_format",
            "tf_saved_model",
            "--output_format",
            "tfjs_graph_model",
            "--quantize_uint16",
            "*",
        ],
        "inputs": lambda: {
            "image": np.random.default_rng(9).uniform(-1, 1, size=(2, 6, 6, 2)).astype(np.float32),
        },
        "exercises": "signature; conv graph; uint16; one shard",
    },
]


def make_graph(fx: dict[str, Any], work: Path) -> dict[str, Any]:
    module = fx["module"]()
    sm = work / fx["name"]
    tf.saved_model.save(module, str(sm), signatures={"serving_default": module.serve})
    dst = OUT_ROOT / fx["name"]
    cmd = convert(fx["args"], sm, dst)
    inputs = fx["inputs"]()
    tf_out = module.serve(**{k: tf.constant(v) for k, v in inputs.items()})
    mj = json.loads((dst / "model.json").read_text("utf-8"))
    feed = {}
    in_json = []
    for key, value in inputs.items():
        name = mj["signature"]["inputs"][key]["name"].split(":")[0]
        t = tensor_json(name, value)
        feed[name] = t
        in_json.append(t)
    res = run_tool("graph-predict", {"url": str(dst / "model.json"), "inputs": feed})
    sig_out = mj["signature"]["outputs"]
    by_tensor = {v["name"].split(":")[0]: k for k, v in sig_out.items()}
    tf_outputs = [
        tensor_json(name, np.asarray(tf_out[by_tensor[name]])) for name in res["outputNames"]
    ]
    return {
        "generatedBy": SCRIPT,
        "name": fx["name"],
        "kind": "graph-model",
        "exercises": fx["exercises"],
        "versions": versions(),
        "converterArgs": cmd,
        "metadataFile": None,
        "features": features(dst),
        "inputs": in_json,
        "outputNames": res["outputNames"],
        "tfOutputs": tf_outputs,
        "tfjsOutputs": res["outputs"],
        "tfjsWeights": res["weights"],
        "tfjsDecoded": tfjs_decoded(dst),
        "userDefinedMetadata": None,
        "files": file_table(dst),
    }


def versions() -> dict[str, str]:
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    pkg = json.loads(
        (REPO / "tests/js/node_modules/@tensorflow/tfjs/package.json").read_text("utf-8")
    )
    return {
        "tensorflowjs": tensorflowjs.__version__,
        "tensorflow": tf.__version__,
        "tfjs": pkg["version"],
        "node": node.stdout.strip(),
    }


def main() -> int:
    OUT_ROOT.mkdir(parents=True, exist_ok=True)
    index = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for fx in LAYERS_FIXTURES:
            entry = make_layers(fx, work)
            write_expected(OUT_ROOT / fx["name"], entry)
            index.append(
                {
                    "dir": fx["name"],
                    "kind": entry["kind"],
                    "exercises": fx["exercises"],
                    "features": entry["features"],
                }
            )
            print("made", fx["name"], entry["features"], file=sys.stderr)
        for fx in GRAPH_FIXTURES:
            entry = make_graph(fx, work)
            write_expected(OUT_ROOT / fx["name"], entry)
            index.append(
                {
                    "dir": fx["name"],
                    "kind": entry["kind"],
                    "exercises": fx["exercises"],
                    "features": entry["features"],
                }
            )
            print("made", fx["name"], entry["features"], file=sys.stderr)
    (OUT_ROOT / "index.json").write_text(
        json.dumps(
            {
                "regenerate": f"<converter venv>/bin/python {SCRIPT}  (see the script's docstring)",
                "fixtures": index,
            },
            indent=1,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
