"""Write the seed corpus ``fuzz/corpus/``: ``python fuzz/make_seeds.py``.

Seeds are valid models (several layouts, dtypes, quantization, two groups, strings,
a recorded-checksum model.json) and every hostile-corpus case small enough for the
fuzzer's ``-max_len``, each packed as ``fuzz_load.pack(model.json, weight files)``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import fsspec  # noqa: E402
from fuzz_load import pack  # noqa: E402

from tfjs_store import ModelArtifacts  # noqa: E402
from tfjs_store.handlers.fsspec import FsspecHandler  # noqa: E402

MAX_LEN = 16384


def _weights_in_order(folder: Path, raw: bytes) -> list[bytes]:
    try:
        groups = json.loads(raw).get("weightsManifest") or []
        paths = [p for g in groups for p in g.get("paths", [])]
    except (ValueError, AttributeError, TypeError, RecursionError):
        return []
    out = []
    for p in paths:
        f = folder / str(p)
        if isinstance(p, str) and f.is_file():
            out.append(f.read_bytes())
    return out


def _saved(name: str, artifacts: ModelArtifacts, **options: object) -> tuple[str, bytes]:
    fs = fsspec.filesystem("memory")
    folder = f"/seeds/{name}"
    FsspecHandler(f"memory://{folder}", **options).save(artifacts)  # type: ignore[arg-type]
    raw = fs.cat_file(f"{folder}/model.json")
    groups = json.loads(raw)["weightsManifest"]
    shards = [fs.cat_file(f"{folder}/{p.removeprefix('./')}") for g in groups for p in g["paths"]]
    return name, pack(raw, shards)


def main() -> None:
    rng = np.random.default_rng(0)
    seeds: dict[str, bytes] = {}
    small = ModelArtifacts.from_weights(
        {"w": rng.standard_normal((3, 4)).astype(np.float32), "b": np.arange(4, dtype=np.int32),
         "m": np.array([True, False]), "c": np.array([1 + 2j], np.complex64),
         "s": np.array(["a", "é", ""], dtype=object)},
        optimizer_weights={"iter": np.int32(3)},
        model_topology={"class_name": "Sequential", "config": {"layers": []}},
        format="layers-model", generated_by="seed",
    )
    quantized = ModelArtifacts.from_weights(
        {"q8": rng.standard_normal(16).astype(np.float32),
         "q16": rng.standard_normal(8).astype(np.float32),
         "h": rng.standard_normal(8).astype(np.float32)},
        quantize={"uint8": ["q8"], "uint16": ["q16"], "float16": ["h"]},
        model_topology={"node": []}, format="graph-model",
    )
    for name, data in (
        _saved("valid-shards", small, shard_size_bytes=16),
        _saved("valid-tfjs-node", small, layout="tfjs-node"),
        _saved("valid-downloads", small, layout="downloads"),
        _saved("valid-quantized", quantized, shard_size_bytes=24),
    ):
        seeds[name] = data
    for folder in sorted((REPO / "tests" / "fixtures" / "tfjs").iterdir()):
        if (folder / "model.json").is_file():
            raw = (folder / "model.json").read_bytes()
            seeds[f"tfjs-{folder.name}"] = pack(raw, _weights_in_order(folder, raw))
    hostile = REPO / "tests" / "hostile"
    for folder in sorted(hostile.iterdir()):
        if folder.is_dir() and not folder.name.startswith(("_", "__")):
            raw = (folder / "model.json").read_bytes()
            seeds[f"hostile-{folder.name}"] = pack(raw, _weights_in_order(folder, raw))
    out = HERE / "corpus"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    kept = 0
    for name, data in seeds.items():
        if len(data) <= MAX_LEN:
            (out / name).write_bytes(data)
            kept += 1
    print(f"wrote {kept} seeds to {out} ({len(seeds) - kept} longer than {MAX_LEN} bytes left out)")


if __name__ == "__main__":
    main()
