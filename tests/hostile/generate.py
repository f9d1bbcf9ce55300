"""Write the hostile-model corpus: ``python tests/hostile/generate.py``.

Each case is a folder ``tests/hostile/<case-id>/`` holding a model.json (and the
weight files it needs) that is wrong in exactly one way; ``cases.json`` says, for
each case, what is wrong, which ``TfjsStoreError`` subclass loading it must raise and
a substring its message must contain. ``_outside/`` holds the files the test puts
*next to* every case folder: ``sentinel.bin`` and ``sibling/sentinel.bin`` are valid
weight data for the corpus's base specs (36 bytes), so a case whose manifest path
escapes to them would load successfully if the loader followed it.

Cases under ``"accepted"`` look wrong but are models TF.js loads (a ``modelTopology``
that is an array or a string: TF.js's loaders treat the topology as opaque JSON and
refuse only a null one); loading them must give the topology back unchanged.

Placeholders in a model.json, filled in by the test when it copies a case:
``{PARENT_PATH}`` the folder around the case as a filesystem path (absolute),
``{PARENT_URL}`` the same as a URL (``file://…``, ``s3://…``).

Cases under ``"synthesized"`` in cases.json are too big to keep in a repository
(a sparse 1 GiB model.json); the test makes them at run time as described there.
Running this script rewrites every case folder and cases.json; it is deterministic.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# The base model: w float32 [2, 3] (24 bytes) then b int32 [3] (12 bytes).
BASE_SPECS: list[dict[str, Any]] = [
    {"name": "w", "shape": [2, 3], "dtype": "float32"},
    {"name": "b", "shape": [3], "dtype": "int32"},
]
BASE_DATA = struct.pack("<6f", 0.5, -1.0, 2.0, 3.25, -4.5, 6.0) + struct.pack("<3i", 7, -8, 9)
SHARD = "group1-shard1of1.bin"
TOPOLOGY = {"class_name": "Sequential", "config": {"name": "hostile", "layers": []}}

CASES: list[dict[str, Any]] = []
ACCEPTED: list[dict[str, Any]] = []


def case(
    case_id: str,
    what: str,
    error: str,
    message: str,
    model_json: Any = None,
    *,
    raw: bytes | None = None,
    files: dict[str, bytes] | None = None,
) -> None:
    """Register a case; ``model_json`` is written with json.dumps unless ``raw`` is given."""
    if raw is None:
        raw = json.dumps(model_json, ensure_ascii=False).encode("utf-8")
    CASES.append(
        {"id": case_id, "what": what, "error": error, "message": message, "raw": raw,
         "files": files if files is not None else {}}
    )


def accepted(case_id: str, what: str, model_json: dict[str, Any]) -> None:
    """Register a model that looks wrong but that TF.js loads (its topology is opaque
    JSON to TF.js's loaders): loading it must give that topology back, unchanged."""
    ACCEPTED.append({"id": case_id, "what": what, "model_json": model_json})


def manifest(paths: list[str] | None = None, weights: list[dict[str, Any]] | None = None,
             **top: Any) -> dict[str, Any]:
    """A model.json with the base topology and one manifest group."""
    group = {"paths": [SHARD] if paths is None else paths,
             "weights": BASE_SPECS if weights is None else weights}
    out: dict[str, Any] = {"modelTopology": TOPOLOGY, "format": "layers-model",
                           "weightsManifest": [group]}
    out.update(top)
    return out


def spec(**changes: Any) -> list[dict[str, Any]]:
    """The base specs with the first one changed (keys set to None are removed)."""
    first = dict(BASE_SPECS[0])
    for key, value in changes.items():
        if value is None:
            first.pop(key, None)
        else:
            first[key] = value
    return [first, BASE_SPECS[1]]


OK = {SHARD: BASE_DATA}


def build() -> None:
    # -- not JSON, not UTF-8 ---------------------------------------------------------
    case("json-empty-file", "model.json is empty", "InvalidModelError", "not valid JSON",
         raw=b"")
    case("json-truncated", "model.json ends in the middle of an object", "InvalidModelError",
         "not valid JSON", raw=b'{"modelTopology": {"class_name": "Seq')
    case("json-trailing-garbage", "a valid object followed by more text", "InvalidModelError",
         "not valid JSON", raw=json.dumps(manifest()).encode() + b" trailing")
    case("json-nan-literal", "NaN is not JSON (JSON.parse refuses it)", "InvalidModelError",
         "NaN is not valid JSON",
         raw=json.dumps(manifest()).encode()[:-1] + b', "x": NaN}', files=OK)
    case("json-infinity-literal", "-Infinity is not JSON", "InvalidModelError",
         "-Infinity is not valid JSON",
         raw=json.dumps(manifest()).encode()[:-1] + b', "x": -Infinity}', files=OK)
    case("json-single-quotes", "single-quoted strings", "InvalidModelError", "not valid JSON",
         raw=b"{'modelTopology': {}}")
    case("json-comment", "a // comment", "InvalidModelError", "not valid JSON",
         raw=b"// saved by hand\n" + json.dumps(manifest()).encode(), files=OK)
    case("json-deeply-nested-arrays", "100 000 nested arrays", "InvalidModelError",
         "not valid JSON", raw=b"[" * 100_000 + b"]" * 100_000)
    case("json-deeply-nested-topology", "a topology nested 50 000 objects deep",
         "InvalidModelError", "not valid JSON",
         raw=b'{"modelTopology": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}")
    case("utf8-invalid-byte", "a 0xFF byte inside a string", "InvalidModelError",
         "not valid UTF-8",
         raw=b'{"modelTopology": {"name": "\xff"}, "weightsManifest": []}')
    case("utf8-overlong-slash", "an overlong encoding of '/' (0xC0 0xAF)", "InvalidModelError",
         "not valid UTF-8",
         raw=json.dumps(manifest(paths=["PLACEHOLDER"])).encode().replace(
             b"PLACEHOLDER", b"..\xc0\xafsentinel.bin"))
    case("utf8-encoded-surrogate", "a surrogate encoded as UTF-8 bytes (CESU-8)",
         "InvalidModelError", "not valid UTF-8",
         raw=b'{"modelTopology": {"name": "\xed\xa0\x80"}, "weightsManifest": []}')
    case("utf8-truncated-sequence", "a multi-byte sequence cut short at the end",
         "InvalidModelError", "not valid UTF-8", raw=b'{"modelTopology": {"n": "\xe6\x97')
    case("utf16-file", "model.json saved as UTF-16 with a BOM", "InvalidModelError",
         "not valid UTF-8", raw=json.dumps(manifest()).encode("utf-16"), files=OK)

    # -- wrong top-level shape -------------------------------------------------------
    case("top-level-array", "the JSON is an array", "InvalidModelError",
         "must be an object", raw=b"[]")
    case("top-level-string", "the JSON is a string", "InvalidModelError",
         "must be an object", raw=b'"model"')
    case("top-level-null", "the JSON is null", "InvalidModelError", "must be an object",
         raw=b"null")
    case("top-level-empty-object", "neither modelTopology nor weightsManifest",
         "InvalidModelError", "neither 'modelTopology' nor 'weightsManifest'", {})
    case("manifest-is-object", "weightsManifest is an object", "InvalidModelError",
         "weightsManifest", {"modelTopology": TOPOLOGY, "weightsManifest": {"paths": []}})
    case("manifest-group-is-number", "a manifest group is a number", "InvalidModelError",
         "weightsManifest[0]", {"modelTopology": TOPOLOGY, "weightsManifest": [1]})
    case("group-missing-paths", "a group without 'paths'", "InvalidModelError", "paths",
         {"modelTopology": TOPOLOGY, "weightsManifest": [{"weights": BASE_SPECS}]})
    case("group-missing-weights", "a group without 'weights'", "InvalidModelError",
         "weights", {"modelTopology": TOPOLOGY, "weightsManifest": [{"paths": [SHARD]}]},
         files=OK)
    case("paths-is-string", "'paths' is a string, not a list", "InvalidModelError",
         "paths must be a list of strings", manifest(paths=SHARD), files=OK)  # type: ignore[arg-type]
    case("paths-has-number", "a path is a number", "InvalidModelError",
         "paths must be a list of strings", manifest(paths=[1]), files=OK)  # type: ignore[list-item]
    case("weights-is-object", "'weights' is an object", "InvalidModelError", "weights",
         manifest(weights={"name": "w"}), files=OK)  # type: ignore[arg-type]
    # TF.js's loaders take any JSON topology but null (browserFiles, http, file://): these
    # two load there, so they load here (under "accepted"); only a null one is refused.
    accepted("topology-is-array", "modelTopology is an array",
             {"modelTopology": [1, 2], "weightsManifest": []})
    accepted("topology-is-string", "modelTopology is a string",
             {"modelTopology": "Sequential", "weightsManifest": []})
    case("topology-and-manifest-null", "modelTopology and weightsManifest are both null",
         "InvalidModelError", "neither 'modelTopology' nor 'weightsManifest'",
         {"modelTopology": None, "weightsManifest": None})
    case("format-is-number", "'format' is a number", "InvalidModelError", "format",
         manifest(format=5), files=OK)
    case("generated-by-is-object", "'generatedBy' is an object", "InvalidModelError",
         "generatedBy", manifest(generatedBy={"v": 1}), files=OK)
    case("training-config-is-list", "'trainingConfig' is a list", "InvalidModelError",
         "trainingConfig", manifest(trainingConfig=[1]), files=OK)
    case("metadata-is-list", "'userDefinedMetadata' is a list", "InvalidModelError",
         "userDefinedMetadata", manifest(userDefinedMetadata=["a"]), files=OK)
    case("signature-is-string", "'signature' is a string", "InvalidModelError", "signature",
         manifest(signature="serving_default"), files=OK)

    # -- weight specs ----------------------------------------------------------------
    case("spec-missing-name", "a weight without a name", "InvalidModelError", "name",
         manifest(weights=spec(name=None)), files=OK)
    case("spec-missing-shape", "a weight without a shape", "InvalidModelError", "shape",
         manifest(weights=spec(shape=None)), files=OK)
    case("spec-missing-dtype", "a weight without a dtype", "InvalidModelError", "dtype",
         manifest(weights=spec(dtype=None)), files=OK)
    case("spec-name-is-number", "a weight name that is a number", "InvalidModelError",
         "weight name must be a string", manifest(weights=spec(name=7)), files=OK)
    case("spec-is-string", "a weight spec that is a string", "InvalidModelError",
         "weights[0]", manifest(weights=["w"]), files=OK)  # type: ignore[list-item]
    case("shape-is-number", "shape 6 instead of [6]", "InvalidModelError",
         "shape must be a list", manifest(weights=spec(shape=6)), files=OK)
    case("shape-negative", "a dimension of -1", "InvalidModelError",
         "must be a non-negative integer", manifest(weights=spec(shape=[-2, -3])), files=OK)
    case("shape-fraction", "a dimension of 2.5", "InvalidModelError",
         "must be a non-negative integer", manifest(weights=spec(shape=[2.5, 3])), files=OK)
    case("shape-string-dim", "a dimension written \"2\"", "InvalidModelError",
         "must be a non-negative integer", manifest(weights=spec(shape=["2", 3])), files=OK)
    case("shape-bool-dim", "a dimension written true", "InvalidModelError",
         "must be a non-negative integer", manifest(weights=spec(shape=[True, 6])), files=OK)
    case("shape-null-dim", "a dimension written null", "InvalidModelError",
         "must be a non-negative integer", manifest(weights=spec(shape=[None, 6])), files=OK)
    case("shape-1e400-dim", "a dimension of 1e400 (infinite as a double)",
         "InvalidModelError", "must be a non-negative integer",
         raw=json.dumps(manifest(weights=spec(shape=[999, 1]))).encode().replace(
             b"[999, 1]", b"[1e400, 1]"), files=OK)
    case("shape-2pow40-float32", "2^40 float32 elements (4 TiB) described, 36 bytes stored",
         "WeightDataError", "needs 4398046511104 bytes",
         manifest(weights=spec(shape=[1 << 20, 1 << 20])), files=OK)
    case("shape-2pow40-string", "2^40 string elements described, 36 bytes stored",
         "WeightDataError", "1099511627776 elements",
         manifest(weights=[{"name": "s", "shape": [1 << 20, 1 << 20], "dtype": "string"}]),
         files=OK)
    case("shape-2pow80-int32", "2^80 int32 elements described", "WeightDataError",
         "needs 4835703278458516698824704 bytes",
         manifest(weights=[{"name": "b", "shape": [1 << 40, 1 << 40], "dtype": "int32"}]),
         files=OK)
    case("shape-2pow40-quantized", "2^40 uint8-quantized float32 elements described",
         "WeightDataError", "needs 1099511627776 bytes",
         manifest(weights=[{"name": "q", "shape": [1 << 40], "dtype": "float32",
                            "quantization": {"dtype": "uint8", "min": 0, "scale": 1}}]),
         files=OK)
    case("dtype-float64", "dtype float64 (not a TF.js dtype)", "InvalidModelError",
         "unsupported dtype 'float64'", manifest(weights=spec(dtype="float64")), files=OK)
    case("dtype-int64", "dtype int64", "InvalidModelError", "unsupported dtype 'int64'",
         manifest(weights=spec(dtype="int64")), files=OK)
    case("dtype-number", "dtype 1", "InvalidModelError", "unsupported dtype 1",
         manifest(weights=spec(dtype=1)), files=OK)
    case("dtype-upper-case", "dtype FLOAT32", "InvalidModelError",
         "unsupported dtype 'FLOAT32'", manifest(weights=spec(dtype="FLOAT32")), files=OK)
    case("duplicate-name-in-group", "two weights named w in one group", "InvalidModelError",
         "duplicate weight name 'w'",
         manifest(weights=[BASE_SPECS[0], {"name": "w", "shape": [3], "dtype": "int32"}]),
         files=OK)
    case("duplicate-name-across-groups", "weight w in two groups", "InvalidModelError",
         "duplicate weight name 'w'",
         {"modelTopology": TOPOLOGY, "weightsManifest": [
             {"paths": ["a.bin"], "weights": [BASE_SPECS[0]]},
             {"paths": ["b.bin"], "weights": [{"name": "w", "shape": [3], "dtype": "int32"}]}]},
         files={"a.bin": BASE_DATA[:24], "b.bin": BASE_DATA[24:]})

    # -- quantization ----------------------------------------------------------------
    def quant(**q: Any) -> dict[str, Any]:
        return manifest(weights=[{"name": "q", "shape": [4], "dtype": "float32",
                                  "quantization": q}])

    q_files = {SHARD: bytes([0, 1, 2, 255])}
    case("quant-unknown-dtype", "quantization dtype int8", "InvalidModelError",
         "unknown quantization dtype 'int8'", quant(dtype="int8", min=0, scale=1),
         files=q_files)
    case("quant-min-infinite", "quantization min of 1e400 (infinity)", "InvalidModelError",
         "must be finite",
         raw=json.dumps(quant(dtype="uint8", min=12345, scale=1)).encode().replace(
             b"12345", b"1e400"), files=q_files)
    case("quant-scale-negative-infinite", "quantization scale of -1e400", "InvalidModelError",
         "must be finite",
         raw=json.dumps(quant(dtype="uint8", min=0, scale=12345)).encode().replace(
             b"12345", b"-1e400"), files=q_files)
    case("quant-scale-nan-literal", "quantization scale NaN", "InvalidModelError",
         "NaN is not valid JSON",
         raw=json.dumps(quant(dtype="uint8", min=0, scale=12345)).encode().replace(
             b"12345", b"NaN"), files=q_files)
    case("quant-min-nan-string", "quantization min \"NaN\" (a string)", "InvalidModelError",
         "must be a number", quant(dtype="uint8", min="NaN", scale=1), files=q_files)
    case("quant-missing-scale", "uint8 quantization without a scale", "InvalidModelError",
         "needs both 'min' and 'scale'", quant(dtype="uint8", min=0), files=q_files)
    case("quant-float16-int32", "float16 quantization of an int32 weight",
         "InvalidModelError", "only supports weights of type float32",
         manifest(weights=[{"name": "q", "shape": [2], "dtype": "int32",
                            "quantization": {"dtype": "float16"}}]), files=q_files)
    case("quant-on-bool", "a quantized bool weight", "InvalidModelError",
         "cannot be quantized",
         manifest(weights=[{"name": "q", "shape": [4], "dtype": "bool",
                            "quantization": {"dtype": "uint8", "min": 0, "scale": 1}}]),
         files=q_files)
    case("quant-is-string", "quantization is a string", "InvalidModelError", "quantization",
         manifest(weights=[{"name": "q", "shape": [4], "dtype": "float32",
                            "quantization": "uint8"}]), files=q_files)

    # -- weight files ----------------------------------------------------------------
    case("shard-missing", "the one weight file does not exist", "ModelNotFoundError",
         "does not exist", manifest())
    case("shard-second-missing", "the second of two weight files does not exist",
         "ModelNotFoundError", "b.bin",
         manifest(paths=["a.bin", "b.bin"]), files={"a.bin": BASE_DATA[:20]})
    case("shard-short", "the weight file is 4 bytes short", "WeightDataError",
         "needs 12 bytes", manifest(), files={SHARD: BASE_DATA[:-4]})
    case("shard-long", "the weight file has 4 bytes too many", "WeightDataError",
         "the weight data is 40 bytes but the weight specs describe 36 bytes",
         manifest(), files={SHARD: BASE_DATA + b"\0\0\0\0"})
    case("shard-empty", "the weight file is empty", "WeightDataError", "needs 24 bytes",
         manifest(), files={SHARD: b""})
    case("shards-short-then-long", "group 1 is 4 bytes short and group 2 4 bytes long",
         "WeightDataError", "weights group 1",
         {"modelTopology": TOPOLOGY, "weightsManifest": [
             {"paths": ["a.bin"], "weights": [BASE_SPECS[0]]},
             {"paths": ["b.bin"], "weights": [BASE_SPECS[1]]}]},
         files={"a.bin": BASE_DATA[:20], "b.bin": BASE_DATA[20:]})
    case("weights-without-paths", "weights described, no weight file named",
         "WeightDataError", "needs 24 bytes", manifest(paths=[]))
    case("paths-without-weights", "a 36-byte weight file and no weights",
         "WeightDataError", "the weight data is 36 bytes but the weight specs describe 0",
         manifest(weights=[]), files=OK)
    case("shard-is-folder", "the weight file is a folder", "ModelNotFoundError",
         "does not exist", manifest(), files={f"{SHARD}/inner.bin": BASE_DATA})
    case("string-length-overflow", "a string length prefix of 2^32-1", "WeightDataError",
         "runs past the end",
         manifest(weights=[{"name": "s", "shape": [1], "dtype": "string"}]),
         files={SHARD: b"\xff\xff\xff\xff" + b"abc"})
    case("string-prefix-cut", "a string tensor whose length prefix is cut short",
         "WeightDataError", "needs at least 8 bytes",
         manifest(weights=[{"name": "s", "shape": [2], "dtype": "string"}]),
         files={SHARD: b"\x01\x00\x00\x00a\x00\x00"})
    case("duplicate-paths", "one 36-byte file named 20 000 times (a memory multiplier)",
         "InvalidModelError", "more than once",
         manifest(paths=[SHARD] * 20_000,
                  weights=[{"name": "w", "shape": [180_000], "dtype": "float32"}]),
         files=OK)
    case("duplicate-paths-spelled-differently", "a.bin and ./a.bin", "InvalidModelError",
         "more than once", manifest(paths=["a.bin", "./a.bin"],
                                    weights=[{"name": "w", "shape": [18], "dtype": "float32"}]),
         files={"a.bin": BASE_DATA})
    case("many-missing-paths", "20 000 weight files named, none exists", "ModelNotFoundError",
         "does not exist",
         manifest(paths=[f"group1-shard{i}of20000.bin" for i in range(1, 20_001)],
                  weights=[{"name": "w", "shape": [20_000], "dtype": "float32"}]))
    case("record-size-mismatch", "the tfjsStore record says the file has 99 bytes",
         "WeightDataError", "recorded 99 bytes",
         manifest(tfjsStore={"version": 1, "files": {SHARD: {"size": 99}}}), files=OK)
    case("record-digest-mismatch", "the recorded SHA-256 is not the file's",
         "IntegrityError", "SHA-256",
         manifest(tfjsStore={"version": 1, "files": {SHARD: {"size": 36, "sha256": "0" * 64}}}),
         files=OK)

    # -- paths that leave the folder (each would load if followed: they name valid data) -
    def escape(case_id: str, path: str, what: str, message: str,
               error: str = "UnsafePathError") -> None:
        case(case_id, what, error, message, manifest(paths=[path]))

    escape("path-parent", "../sentinel.bin", "a file next to the model's folder",
           "leaves the model's folder")
    escape("path-sibling", "../sibling/sentinel.bin", "a file in a sibling folder",
           "leaves the model's folder")
    escape("path-inner-dotdot", "sub/../../sentinel.bin", "climbs out through a sub-folder",
           "leaves the model's folder")
    escape("path-out-and-back", "../case/../sentinel.bin", "leaves and comes back elsewhere",
           "leaves the model's folder")
    escape("path-dotdot-only", "..", "the parent folder itself", "leaves the model's folder")
    escape("path-dot-only", ".", "the model's folder itself", "leaves the model's folder")
    escape("path-empty", "", "an empty path", "is empty")
    escape("path-blank", "   ", "a blank path", "is empty")
    escape("path-absolute", "{PARENT_PATH}/sentinel.bin", "an absolute path to the sentinel",
           "is absolute or a URL")
    escape("path-absolute-sibling", "{PARENT_PATH}/sibling/sentinel.bin",
           "an absolute path into the sibling folder", "is absolute or a URL")
    escape("path-store-url", "{PARENT_URL}/sentinel.bin",
           "a URL of the sentinel on the same store", "is absolute or a URL")
    escape("path-file-url", "file://{PARENT_PATH}/sentinel.bin", "a file:// URL",
           "is absolute or a URL")
    escape("path-http-url", "http://127.0.0.1:9/sentinel.bin", "an http:// URL",
           "is absolute or a URL")
    escape("path-other-bucket", "s3://another-bucket/sentinel.bin", "an s3:// URL elsewhere",
           "is absolute or a URL")
    escape("path-gcs-url", "gs://another-bucket/sentinel.bin", "a gs:// URL",
           "is absolute or a URL")
    escape("path-chained-url", "simplecache::file://{PARENT_PATH}/sentinel.bin",
           "a chained fsspec URL", "is absolute or a URL")
    escape("path-protocol-relative", "//127.0.0.1/sentinel.bin", "a protocol-relative URL",
           "is absolute or a URL")
    escape("path-home", "~/sentinel.bin", "a home-folder path", "is absolute or a URL")
    escape("path-windows-drive", "C:/sentinel.bin", "a Windows drive path",
           "is absolute or a URL")
    escape("path-backslash", "..\\sentinel.bin", "a Windows-style parent path",
           "backslash")
    escape("path-nul-byte", "group1-shard1of1.bin\u0000../../sentinel.bin", "a NUL byte",
           "NUL")
    escape("path-query", "../sentinel.bin?x=1", "a query string", "leaves the model's folder")
    escape("path-fragment", "group1-shard1of1.bin#../sentinel.bin", "a fragment", "'#'")
    case("path-percent-encoded", "..%2Fsentinel.bin: a literal name, never decoded",
         "ModelNotFoundError", "does not exist", manifest(paths=["..%2Fsentinel.bin"]))
    case("path-one-bad-of-two", "a good path, then ../sentinel.bin", "UnsafePathError",
         "leaves the model's folder",
         manifest(paths=[SHARD, "../sentinel.bin"],
                  weights=[{"name": "w", "shape": [18], "dtype": "float32"}]), files=OK)

    # -- big --------------------------------------------------------------------------
    big = [{"name": f"layer{i}/kernel", "shape": [3, 3], "dtype": "float32"}
           for i in range(10_000)]
    case("huge-manifest-short-data", "10 000 weight specs (a 0.5 MB model.json), 36 bytes",
         "WeightDataError", "needs 36 bytes",
         manifest(weights=big), files=OK)
    case("huge-string-name", "a 1 MB weight name", "WeightDataError", "needs",
         manifest(weights=[{"name": "n" * 1_000_000, "shape": [100], "dtype": "float32"}]),
         files=OK)


SYNTHESIZED = {
    "huge-sparse-model-json": {
        "what": "a 1 GiB model.json (sparse file: '{\"modelTopology\": \"' then zeros)",
        "error": "InvalidModelError",
        "message": "larger than",
        "backends": ["file"],
    },
}


def main() -> None:
    build()
    ids = [c["id"] for c in CASES + ACCEPTED]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    for old in HERE.iterdir():
        if old.is_dir() and old.name not in ("__pycache__",):
            shutil.rmtree(old)
    index: dict[str, Any] = {}
    for c in CASES:
        folder = HERE / c["id"]
        folder.mkdir()
        (folder / "model.json").write_bytes(c["raw"])
        for name, data in c["files"].items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        index[c["id"]] = {"what": c["what"], "error": c["error"], "message": c["message"],
                          "template": b"{PARENT_" in c["raw"]}
    accepted_index: dict[str, Any] = {}
    for a in ACCEPTED:
        folder = HERE / a["id"]
        folder.mkdir()
        (folder / "model.json").write_text(json.dumps(a["model_json"], ensure_ascii=False))
        accepted_index[a["id"]] = {"what": a["what"],
                                   "modelTopology": a["model_json"]["modelTopology"]}
    outside = HERE / "_outside"
    (outside / "sibling").mkdir(parents=True)
    (outside / "sentinel.bin").write_bytes(BASE_DATA)
    (outside / "sibling" / "sentinel.bin").write_bytes(BASE_DATA)
    (outside / "sibling" / "model.json").write_text(
        json.dumps(manifest(paths=["sentinel.bin"])))
    doc = {
        "about": "Hostile model corpus; see generate.py. error: the TfjsStoreError subclass "
                 "loading must raise; message: a substring of its message. accepted: "
                 "models TF.js loads though they look wrong; loading gives modelTopology "
                 "back.",
        "base_specs": BASE_SPECS,
        "sentinel_bytes": len(BASE_DATA),
        "cases": index,
        "accepted": accepted_index,
        "synthesized": SYNTHESIZED,
    }
    (HERE / "cases.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(CASES)} cases to {HERE}")


if __name__ == "__main__":
    main()
