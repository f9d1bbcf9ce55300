"""The interop matrix: which models, which directions, which places, and the checks.

Every cell of the matrix is one pytest test id; the test modules next to this file
parametrize over the lists below, and ``python tests/interop/interop_matrix.py`` prints the
table of cells that ``docs/interop.md`` holds (a test keeps the two in step).

Real parts only: the TF.js side is @tensorflow/tfjs 4.22.0 from npm, run by
``tests/js/tfjs_tool.js`` in Node (cpu backend); S3 is moto's server on 127.0.0.1; the
bridge is tfjs-store's own HTTP server over a ``memory://`` root.

``TFJS_STORE_INTEROP_FLIP_BIT=1`` makes every cell flip one bit in the first weight file
right after the save and before the other side reads it: every cell must then fail (the
matrix can fail). ``test_interop_can_fail.py`` checks that on a sample without the variable.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FLIP_ENV = "TFJS_STORE_INTEROP_FLIP_BIT"

# A metadata object that stresses JSON byte-compatibility (JS number formatting, escapes).
METADATA: dict[str, Any] = {
    "author": "tfjs-store interop",
    "labels": ["é", "✓", "\u2028", 'say "hi"'],
    "threshold": 1e-7,
    "big": 1e21,
    "exact": 10000000000000000,
    "half": -0.5,
    "nested": {"none": None, "yes": True},
}


@dataclass(frozen=True)
class ModelCase:
    """One model as tests/js/tfjs_tool.js builds it (kind, optimizer, metadata)."""

    kind: str
    optimizer: str | None = None
    metadata: bool = False

    @property
    def id(self) -> str:
        out = self.kind
        if self.optimizer:
            out += "+" + self.optimizer
        if self.metadata:
            out += "+metadata"
        return out

    @property
    def resumable(self) -> bool:
        """Resuming training is bit-comparable: an optimizer and no dropout."""
        return self.optimizer is not None and self.kind != "dropout"

    def build_args(self) -> list[str]:
        args = ["--model", self.kind]
        if self.optimizer:
            args += ["--optimizer", self.optimizer]
        if self.metadata:
            args += ["--metadata", json.dumps(METADATA, ensure_ascii=False)]
        return args


# What each kind holds (tfjs_tool.js KINDS): the docs table says it.
KIND_LAYERS = {
    "dense": "Sequential: Dense",
    "mlp": "Sequential: 3 Dense (relu, tanh, softmax)",
    "conv": "Sequential: Conv2D, DepthwiseConv2D, BatchNormalization (moving stats), Dense",
    "rnn": "Sequential: Embedding, LSTM, GRU, Dense",
    "functional": "functional: 2 inputs, 2 outputs, Concatenate",
    "nested": "functional with a Sequential model as a layer",
    "dropout": "Sequential: Dense, Dropout, Dense",
}

MODELS: list[ModelCase] = [
    ModelCase("dense"),
    ModelCase("mlp"),
    ModelCase("conv"),
    ModelCase("rnn"),
    ModelCase("functional", metadata=True),
    ModelCase("nested"),
    ModelCase("dropout"),
    ModelCase("mlp", "adam"),
    ModelCase("mlp", "rmsprop"),
    # Centered RMSProp in TF.js 4.22 computes sqrt(ms - (mg^2 + eps)): NaN wherever a gradient
    # is ~0, so only the all-linear dense kind trains to finite numbers with it.
    ModelCase("dense", "rmsprop-centered"),
    ModelCase("mlp", "sgd"),
    ModelCase("mlp", "momentum"),
    ModelCase("mlp", "adagrad"),
    ModelCase("mlp", "adadelta"),
    ModelCase("conv", "rmsprop"),
    ModelCase("rnn", "momentum"),
    ModelCase("functional", "adagrad", metadata=True),
    ModelCase("nested", "adadelta"),
    ModelCase("dropout", "sgd"),
]
MODEL_IDS = [m.id for m in MODELS]
RESUMABLE = [m for m in MODELS if m.resumable]

# How TF.js saves (tfjs_tool.js build-and-save --layout) and the files each leaves.
TFJS_LAYOUTS = {
    "node": ("node", "model.json"),  # tfjs-node's file:// handler: model.json + weights.bin
    "http": ("http-capture", "model.json"),  # TF.js's http:// multipart POST, parts as received
    "downloads": ("downloads", "my-model.json"),  # downloads://my-model: the browser's pair
}
DOWNLOADS_NAME = "my-model"

# Where models travel: a local folder, S3 (moto), the tfjs-store bridge over memory://.
PLACES = ["file", "s3", "bridge"]

# How tfjs-store saves for TF.js to read (direction 2): (place, tfjs_store layout).
STORE_SAVES: list[tuple[str, str]] = [
    ("file", "shards"),
    ("file", "tfjs-node"),
    ("file", "downloads"),
    ("s3", "shards"),
    ("s3", "tfjs-node"),
    ("bridge", "shards"),  # tfjs_store.save to memory://, TF.js loads over the bridge
    ("bridge", "http"),  # tfjs_store.save to http:// (multipart into the bridge), TF.js loads back
]
SHARD_SIZE = 700  # bytes: every model but the smallest is cut into several shards

# What the artifacts tfjs-store writes are made from.
SOURCES = {
    "loaded": "tfjs_store.load of TF.js's own save",
    "numpy": "rebuilt with ModelArtifacts.from_weights from the numpy arrays of TF.js's "
    "getWeights() (and the topology/trainingConfig of its model.json)",
}


def flip_requested() -> bool:
    return os.environ.get(FLIP_ENV, "") not in ("", "0")


# ---- places ------------------------------------------------------------------------------------


@dataclass
class Folder:
    """One fresh model folder at a place, seen three ways.

    ``url`` + ``storage_options`` for tfjs_store; ``tfjs_url()`` for TF.js in Node (file:// for
    a local folder; plain http:// for S3 — a public-read bucket served by moto — and for the
    bridge); ``fs``/``path`` as a back door for putting and inspecting raw files.
    """

    place: str
    url: str
    storage_options: dict[str, Any]
    fs: Any
    path: str
    http_base: str | None = None

    def store_url(self, name: str | None = None) -> str:
        return self.url if name is None else f"{self.url}/{name}"

    def tfjs_url(self, json_name: str = "model.json") -> str:
        if self.http_base is None:
            return f"file://{self.path}/{json_name}"
        return f"{self.http_base}/{json_name}"

    def put(self, files: Mapping[str, bytes]) -> None:
        for rel, data in files.items():
            target = f"{self.path}/{rel}"
            if self.place == "file":
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                Path(target).write_bytes(data)
            else:
                self.fs.pipe_file(target, data)

    def get(self, rel: str) -> bytes:
        if self.place == "file":
            return Path(f"{self.path}/{rel}").read_bytes()
        return bytes(self.fs.cat_file(f"{self.path}/{rel}"))

    def names(self) -> list[str]:
        if self.place == "file":
            return sorted(p.name for p in Path(self.path).iterdir())
        return sorted(p.rsplit("/", 1)[-1] for p in self.fs.find(self.path))


def flip_one_bit(folder: Folder, json_name: str = "model.json") -> str:
    """Flip bit 6 of byte 3 (a float32's exponent) of the first weight file; return its name."""
    model_json = json.loads(folder.get(json_name))
    first = model_json["weightsManifest"][0]["paths"][0]
    rel = first[2:] if first.startswith("./") else first
    data = bytearray(folder.get(rel))
    data[min(3, len(data) - 1)] ^= 0x40
    folder.put({rel: bytes(data)})
    return rel


# ---- tensors -----------------------------------------------------------------------------------

NP_DTYPES = {"float32": "<f4", "int32": "<i4", "bool": "u1", "complex64": "<c8"}


def tensor_from_json(t: Mapping[str, Any]) -> np.ndarray:
    """A tfjs_tool.js TENSOR as a numpy array (exact bytes)."""
    if t["dtype"] == "string":
        return np.array(t["strings"], dtype=object).reshape(t["shape"])
    raw = bytes.fromhex(t["hex"])
    return np.frombuffer(raw, dtype=NP_DTYPES[t["dtype"]]).reshape(t["shape"]).copy()


def array_hex(a: np.ndarray, dtype: str) -> str:
    return np.ascontiguousarray(a, dtype=NP_DTYPES[dtype]).tobytes().hex()


def assert_arrays_equal(
    got: Mapping[str, np.ndarray], want: Sequence[Mapping[str, Any]], what: str
) -> None:
    """Same names in the same order, same shapes, dtypes and bytes (bit for bit)."""
    assert list(got) == [w["name"] for w in want], f"{what}: names/order differ"
    for w in want:
        a = got[w["name"]]
        assert list(a.shape) == list(w["shape"]), f"{what}: shape of {w['name']}"
        if w["dtype"] == "string":
            assert [str(x) for x in a.reshape(-1)] == w["strings"], f"{what}: {w['name']}"
            continue
        assert a.dtype == np.dtype(NP_DTYPES[w["dtype"]]), f"{what}: dtype of {w['name']}"
        assert array_hex(a, w["dtype"]) == w["hex"], f"{what}: bytes of {w['name']} differ"


def assert_tensor_lists_equal(
    got: Sequence[Mapping[str, Any]], want: Sequence[Mapping[str, Any]], what: str
) -> None:
    """Two lists of tfjs_tool.js TENSORs: same names (where given), shapes, dtypes, bytes."""
    assert len(got) == len(want), f"{what}: {len(got)} tensors, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        label = f"{what}[{i}] {w.get('name', '')}".rstrip()
        if "name" in w:
            assert g.get("name") == w["name"], f"{label}: name {g.get('name')!r}"
        assert g["shape"] == w["shape"], f"{label}: shape"
        assert g["dtype"] == w["dtype"], f"{label}: dtype"
        if w["dtype"] == "string":
            assert g["bytesHex"] == w["bytesHex"], f"{label}: string bytes differ"
        else:
            assert g["hex"] == w["hex"], f"{label}: bytes differ"


def max_ulp_difference(a_hex: str, b_hex: str) -> int:
    """Largest distance in float32 units in the last place between two float32 buffers."""
    a = np.frombuffer(bytes.fromhex(a_hex), "<i4").astype(np.int64)
    b = np.frombuffer(bytes.fromhex(b_hex), "<i4").astype(np.int64)
    # map the sign-magnitude bit patterns onto a monotonic integer line
    a = np.where(a < 0, -(a & 0x7FFFFFFF), a)
    b = np.where(b < 0, -(b & 0x7FFFFFFF), b)
    return int(np.max(np.abs(a - b))) if a.size else 0


def float32_from_hex_be(h: str) -> float:
    return float(struct.unpack(">f", bytes.fromhex(h))[0])


# ---- the TF.js saves the matrix starts from ---------------------------------------------------


@dataclass
class TfjsSave:
    """What real TF.js wrote for one model in one layout, and what it reported."""

    case: ModelCase
    layout: str
    dir: Path
    json_name: str
    expected: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def model_json(self) -> dict[str, Any]:
        return json.loads(self.files[self.json_name])  # type: ignore[no-any-return]


class TfjsSaves:
    """Builds (once per session) each model with real TF.js and saves it in each layout."""

    def __init__(self, root: Path, run_tfjs: Callable[..., dict[str, Any]]) -> None:
        self.root = root
        self.run_tfjs = run_tfjs
        self._saves: dict[tuple[str, str], TfjsSave] = {}
        self._resumes: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, case: ModelCase, layout: str = "node") -> TfjsSave:
        key = (case.id, layout)
        if key not in self._saves:
            tool_layout, json_name = TFJS_LAYOUTS[layout]
            out = self.root / f"{case.id}-{layout}"
            args = ["build-and-save", *case.build_args(), "--layout", tool_layout, "--out", out]
            if layout == "downloads":
                args += ["--name", DOWNLOADS_NAME]
            self.run_tfjs(*args)
            expected = json.loads((out / "expected.json").read_text("utf-8"))
            weights_file = {
                "node": "weights.bin",
                "http": "model.weights.bin",
                "downloads": f"{DOWNLOADS_NAME}.weights.bin",
            }[layout]
            files = {name: (out / name).read_bytes() for name in (json_name, weights_file)}
            self._saves[key] = TfjsSave(case, layout, out, json_name, expected, files)
        return self._saves[key]

    def uninterrupted(self, case: ModelCase) -> dict[str, Any]:
        """TF.js trains two epochs in one process: the run a resume must reproduce."""
        key = (case.id, "uninterrupted")
        if key not in self._resumes:
            self._resumes[key] = self.run_tfjs(
                "resume-train",
                "--model",
                case.kind,
                "--optimizer",
                str(case.optimizer),
                "--uninterrupted",
                "true",
            )
        return self._resumes[key]

    def resumed_from_tfjs(self, case: ModelCase) -> dict[str, Any]:
        """TF.js resumes from its own file:// save (the reference for Adam)."""
        key = (case.id, "resumed")
        if key not in self._resumes:
            save = self.get(case, "node")
            self._resumes[key] = self.run_tfjs(
                "resume-train", "--model", case.kind, "--url", save.dir / "model.json"
            )
        return self._resumes[key]


def numpy_artifacts(save: TfjsSave) -> Any:
    """ModelArtifacts rebuilt from scratch: TF.js's getWeights() numbers as numpy arrays, plus
    the topology and training config of its model.json (no bytes of its weight file)."""
    import tfjs_store

    mj = save.model_json
    weights = {w["name"]: tensor_from_json(w) for w in save.expected["weights"]}
    opt = {w["name"]: tensor_from_json(w) for w in save.expected["optimizerWeights"]} or None
    fields: dict[str, Any] = {
        "format": mj.get("format"),
        "generated_by": mj.get("generatedBy"),
        "converted_by": mj.get("convertedBy"),
    }
    if "trainingConfig" in mj:
        fields["training_config"] = mj["trainingConfig"]
    if "userDefinedMetadata" in mj:
        fields["user_defined_metadata"] = mj["userDefinedMetadata"]
    return tfjs_store.ModelArtifacts.from_weights(
        weights, model_topology=mj["modelTopology"], optimizer_weights=opt, **fields
    )


# ---- the checks (each raises AssertionError, or a TfjsStoreError, when the cell fails) ---------


def check_loaded_equals_tfjs(loaded: Any, reported: Mapping[str, Any], case: ModelCase) -> None:
    """tfjs_store's arrays are TF.js's getWeights() (model, then optimizer) bit for bit."""
    weights = loaded.weights()
    assert_arrays_equal(
        weights, [*reported["weights"], *reported["optimizerWeights"]], "tfjs_store.load"
    )
    want_meta = METADATA if case.metadata else None
    assert loaded.user_defined_metadata == want_meta, "userDefinedMetadata"
    assert (loaded.training_config is not None) == (case.optimizer is not None), "trainingConfig"
    if case.optimizer:
        groups = [s.group for s in loaded.weight_specs]
        n_model = len(reported["weights"])
        assert groups[:n_model] == [None] * n_model, "model weights carry no group"
        assert set(groups[n_model:]) == {"optimizer"}, "optimizer weights are group 'optimizer'"
    info = loaded.info()
    want_info = reported["modelArtifactsInfo"]
    assert info.model_topology_bytes == want_info["modelTopologyBytes"], "modelTopologyBytes"
    assert info.weight_specs_bytes == want_info["weightSpecsBytes"], "weightSpecsBytes"
    assert info.weight_data_bytes == want_info["weightDataBytes"], "weightDataBytes"


def check_tfjs_loaded(
    result: Mapping[str, Any], reference: Mapping[str, Any], case: ModelCase
) -> None:
    """What TF.js loaded (load-predict) is the original model: predictions, weights, optimizer
    state and metadata bit for bit."""
    assert_tensor_lists_equal(result["predictions"], reference["predictions"], "predictions")
    assert_tensor_lists_equal(
        [{k: v for k, v in w.items() if k != "uniqueName"} for w in result["weights"]],
        [{k: v for k, v in w.items() if k != "uniqueName"} for w in reference["weights"]],
        "weights",
    )
    assert result["hasOptimizer"] == (case.optimizer is not None), "TF.js compiled an optimizer"
    assert_tensor_lists_equal(
        result["optimizerWeights"], reference["optimizerWeights"], "optimizer weights"
    )
    assert result["userDefinedMetadata"] == (METADATA if case.metadata else None), "metadata"


def check_resumed(result: Mapping[str, Any], reference: Mapping[str, Any]) -> None:
    """One more epoch after the reload: same loss, weights and optimizer state, bit for bit."""
    assert result["lossHex"] == reference["lossHex"], (
        f"loss {result['loss']} != {reference['loss']}"
    )
    assert_tensor_lists_equal(result["weights"], reference["weights"], "weights after the epoch")
    assert_tensor_lists_equal(
        result["optimizerWeights"], reference["optimizerWeights"], "optimizer state after the epoch"
    )


# ---- the table of cells -------------------------------------------------------------------------

# (test module, test function, what the cell proves, the parameter axes)
DIRECTIONS = [
    (
        "test_interop_tfjs_to_store.py",
        "test_tfjs_saves_store_loads",
        "TF.js saves → `tfjs_store.load` → arrays equal TF.js's `getWeights()` bit for bit "
        "(plus metadata, trainingConfig, ModelArtifactsInfo byte counts)",
    ),
    (
        "test_interop_store_to_tfjs.py",
        "test_store_saves_tfjs_loads",
        "`tfjs_store.save` → TF.js `loadLayersModel` → predictions, weights, optimizer state "
        "and metadata equal the original's bit for bit (cpu backend)",
    ),
    (
        "test_interop_resume.py",
        "test_resume_training",
        "`tfjs_store.save` with optimizer → TF.js reloads and trains one more epoch → loss, "
        "weights and optimizer state equal the uninterrupted run (Adam: equal TF.js resuming "
        "from its own save)",
    ),
    (
        "test_interop_bytes.py",
        "test_bytes_identical",
        "files written by tfjs-store are byte-identical to TF.js's for the same model",
    ),
]


def cell_ids() -> dict[str, list[str]]:
    """Every cell id, by test function (what pytest prints in brackets)."""
    out: dict[str, list[str]] = {}
    out["test_tfjs_saves_store_loads"] = [
        f"{place}-{layout}-{m.id}"
        for place in PLACES
        for layout in (["http"] if place == "bridge" else list(TFJS_LAYOUTS))
        for m in MODELS
    ]
    out["test_store_saves_tfjs_loads"] = [
        f"{place}-{layout}-{source}-{m.id}"
        for place, layout in STORE_SAVES
        for source in (["loaded", "numpy"] if (place, layout) == ("file", "shards") else ["loaded"])
        for m in MODELS
    ]
    out["test_resume_training"] = [
        f"{place}-{source}-{m.id}"
        for place in PLACES
        for source in (["loaded", "numpy"] if place == "file" else ["loaded"])
        for m in RESUMABLE
    ]
    out["test_bytes_identical"] = [
        f"{what}-{source}-{m.id}" for what in BYTE_CELLS for source in SOURCES for m in MODELS
    ]
    return out


# byte-identity cells: tfjs-store writes X, compared with what TF.js wrote
BYTE_CELLS = {
    "file-tfjs-node": '`layout="tfjs-node"` on a local folder vs tfjs-node\'s `file://` '
    "(model.json and weights.bin)",
    "s3-tfjs-node": '`layout="tfjs-node"` on S3 vs tfjs-node\'s `file://`',
    "http-body": '`tfjs_store.save(…, "http://…")`: the whole multipart request body (boundary '
    "aside) and both parts vs TF.js's `model.save('http://…')` in Node",
    "file-downloads": '`layout="downloads"` vs TF.js\'s `downloads://my-model` pair',
}


# ---- converter fixtures (tests/fixtures/converter, made by tests/converter/make_fixtures.py)

CONVERTER_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "converter"
CONVERTER_INDEX: dict[str, Any] = json.loads((CONVERTER_DIR / "index.json").read_text("utf-8"))
CONVERTER_FIXTURES = [f["dir"] for f in CONVERTER_INDEX["fixtures"]]
CONVERTER_CHECKS = {
    "load": "`tfjs_store.load` of the converter's files: every weight equals what TF.js decoded "
    "(dequantized) from them, bit for bit; metadata, signature, modelInitializer kept",
    "resave-file": "`tfjs_store.save` to a local folder, then: lossless (same JSON keys and "
    "values, "
    "same groups, specs and quantization, same bytes per group) and TF.js runs the re-saved "
    "model (`loadLayersModel` / `loadGraphModel`) to the recorded outputs bit for bit",
    "resave-s3": "the same through S3 (TF.js reads over http from the public-read bucket)",
    "resave-bridge": "the same through memory:// and the bridge (TF.js loads over http)",
}


def converter_cell_ids() -> list[str]:
    return [f"{check}-{fx}" for check in CONVERTER_CHECKS for fx in CONVERTER_FIXTURES]


def _grid(
    title: str,
    ids: list[str],
    columns: list[tuple[str, Callable[[str], list[str]]]],
    rows: list[str],
    row_title: str = "model",
) -> list[str]:
    """A table: one row per model, one column per variant; each mark is one pytest id."""
    known = set(ids)
    lines = [title, "", f"| {row_title} | " + " | ".join(c for c, _ in columns) + " |"]
    lines.append("|---|" + "---|" * len(columns))
    used = 0
    for row in rows:
        marks = []
        for _, make_ids in columns:
            cell = [i for i in make_ids(row) if i in known]
            used += len(cell)
            marks.append(" ".join("✓" for _ in cell) or "—")
        lines.append(f"| `{row}` | " + " | ".join(marks) + " |")
    assert used == len(ids), f"{title}: the grid shows {used} of {len(ids)} cells"
    return [*lines, ""]


def markdown() -> str:  # pragma: no cover - exercised by test_docs_table_is_current
    ids = cell_ids()
    total = sum(len(v) for v in ids.values()) + len(converter_cell_ids())
    lines = [
        "<!-- generated by `python tests/interop/interop_matrix.py`; "
        "tests/interop/test_interop_can_fail.py checks it is current -->",
        "",
        f"**{total} cells.** Each ✓ is one pytest test (its id is shown above each table); "
        "a cell with two ✓ runs once per source (`loaded`, `numpy`, see below); — means no "
        "such cell.",
        "",
        "Places: **file** (a local folder; TF.js uses tfjs-node's `file://` handler), **s3** "
        "(moto's S3 server; tfjs-store uses `s3://`, TF.js reads the public-read bucket over "
        "plain `http://`), **bridge** (tfjs-store's HTTP server over a `memory://` root, in "
        "the test process; TF.js saves and loads over `http://`).",
        "",
        "Sources of what tfjs-store writes: "
        + "; ".join(f"`{k}` = {v}" for k, v in SOURCES.items())
        + ".",
        "",
        "### Models",
        "",
        "| model | what it holds | optimizer (saved with `includeOptimizer: true`) |",
        "|---|---|---|",
    ]
    for m in MODELS:
        extra = " + `userDefinedMetadata`" if m.metadata else ""
        lines.append(f"| `{m.id}` | {KIND_LAYERS[m.kind]}{extra} | {m.optimizer or '—'} |")
    lines.append("")
    rows = MODEL_IDS
    both = ("loaded", "numpy")

    d1 = [
        (f"{place} · {layout}", lambda m, p=place, lay=layout: [f"{p}-{lay}-{m}"])
        for place in PLACES
        for layout in (["http"] if place == "bridge" else list(TFJS_LAYOUTS))
    ]
    lines += _grid(
        "### 1. TF.js saves → `tfjs_store.load` equals TF.js's `getWeights()` bit for bit\n\n"
        "`test_interop_tfjs_to_store.py::test_tfjs_saves_store_loads[PLACE-LAYOUT-MODEL]`. "
        "TF.js layouts: `node` = tfjs-node's `file://` (model.json + weights.bin), `http` = "
        "TF.js's `model.save('http://…')` multipart body, its two parts stored as received "
        "(on the bridge: posted into the bridge itself), `downloads` = `downloads://my-model` "
        "(my-model.json + my-model.weights.bin). Also checked: userDefinedMetadata, "
        "trainingConfig, the optimizer group, ModelArtifactsInfo byte counts.",
        ids["test_tfjs_saves_store_loads"],
        d1,
        rows,
    )
    d2 = [
        (
            f"{place} · {layout}",
            lambda m, p=place, lay=layout: [
                f"{p}-{lay}-{src}-{m}"
                for src in (both if (p, lay) == ("file", "shards") else ("loaded",))
            ],
        )
        for place, layout in STORE_SAVES
    ]
    lines += _grid(
        "### 2. `tfjs_store.save` → TF.js `loadLayersModel` predicts as the original, bit for "
        "bit\n\n`test_interop_store_to_tfjs.py::test_store_saves_tfjs_loads"
        "[PLACE-LAYOUT-SOURCE-MODEL]`. tfjs-store layouts: `shards` (cut at "
        f"{SHARD_SIZE} bytes, so most models span several files), `tfjs-node`, `downloads`, "
        "`http` (`tfjs_store.save` to `http://…` posts into the bridge). Also checked: the "
        "weights, optimizer state and metadata TF.js holds after loading.",
        ids["test_store_saves_tfjs_loads"],
        d2,
        rows,
    )
    d3 = [
        (
            place,
            lambda m, p=place: [f"{p}-{src}-{m}" for src in (both if p == "file" else ("loaded",))],
        )
        for place in PLACES
    ]
    lines += _grid(
        "### 3. Saved with the optimizer by tfjs-store, TF.js resumes training\n\n"
        "`test_interop_resume.py::test_resume_training[PLACE-SOURCE-MODEL]`: one more epoch "
        "(cpu backend, shuffle off) gives the loss, weights and optimizer state of the "
        "uninterrupted run bit for bit; for Adam, of TF.js resuming from its own save (see "
        "below). tfjs-store saves `shards` (file, s3) or over `http://` into the bridge. "
        "Models with dropout or without an optimizer have no resume cell.",
        ids["test_resume_training"],
        d3,
        rows,
    )
    d4 = [(what, lambda m, w=what: [f"{w}-{src}-{m}" for src in SOURCES]) for what in BYTE_CELLS]
    lines += _grid(
        "### 4. Byte identity with TF.js\n\n"
        "`test_interop_bytes.py::test_bytes_identical[WHAT-SOURCE-MODEL]`: "
        + "; ".join(f"`{k}` = {v}" for k, v in BYTE_CELLS.items())
        + ".",
        ids["test_bytes_identical"],
        d4,
        rows,
    )
    conv_rows = CONVERTER_FIXTURES
    conv_cols = [(c, lambda fx, c=c: [f"{c}-{fx}"]) for c in CONVERTER_CHECKS]
    lines += _grid(
        "### 5. Converter output\n\n"
        "`test_interop_converter.py::test_converter[CHECK-FIXTURE]`, fixtures made once by "
        "the real `tensorflowjs` converter (`tests/converter/make_fixtures.py`): "
        + "; ".join(f"`{k}` = {v}" for k, v in CONVERTER_CHECKS.items())
        + ".",
        converter_cell_ids(),
        conv_cols,
        conv_rows,
        "fixture",
    )
    lines += ["| fixture | what it exercises |", "|---|---|"]
    for f in CONVERTER_INDEX["fixtures"]:
        lines.append(f"| `{f['dir']}` | {f['exercises']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    print(markdown(), end="")
