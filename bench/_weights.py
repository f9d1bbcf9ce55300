"""The benchmark model: float32 weights of an exact total size, generated the same way
in every process that needs them (the harness's children, the ``tensorflowjs`` peer in
its own virtualenv). Needs only numpy and the standard library."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

MiB = 1024 * 1024


def layer_shapes(total_bytes: int) -> list[tuple[str, tuple[int, ...]]]:
    """Dense layers (kernel + bias) filling exactly ``total_bytes`` of float32.

    Kernels are 4 MiB (1024 x 1024) for models of 16 MiB and more, smaller below;
    a final 1-D ``head/kernel`` takes whatever is left. Biases shift every kernel off
    the 4 MiB shard grid, so most kernels straddle two shards, as in real models.
    """
    if total_bytes <= 0 or total_bytes % 4:
        raise ValueError(f"total_bytes must be a positive multiple of 4, got {total_bytes}")
    width = 1024 if total_bytes >= 16 * MiB else 256
    rows = max(1, min(1024, total_bytes // 8 // (width * 4)))
    layer = rows * width * 4 + width * 4
    shapes: list[tuple[str, tuple[int, ...]]] = []
    remaining = total_bytes
    i = 0
    while remaining >= layer + 4:
        shapes.append((f"dense_{i}/kernel", (rows, width)))
        shapes.append((f"dense_{i}/bias", (width,)))
        remaining -= layer
        i += 1
    if remaining:
        shapes.append(("head/kernel", (remaining // 4,)))
    return shapes


def make_weights(total_bytes: int, seed: int = 0) -> dict[str, np.ndarray]:
    """name -> float32 array, each allocated on its own (as a framework's tensors are)."""
    rng = np.random.default_rng(seed)
    return {
        name: rng.random(shape, dtype=np.float32) for name, shape in layer_shapes(total_bytes)
    }


def write_raw(weights: dict[str, np.ndarray], folder: Path) -> tuple[Path, Path]:
    """The weights as one little-endian file plus a JSON list of {name, shape, dtype},
    for peers that are not Python (TF.js in Node) or run in another environment."""
    folder.mkdir(parents=True, exist_ok=True)
    data_path, specs_path = folder / "weights.raw", folder / "specs.json"
    with open(data_path, "wb") as out:
        for arr in weights.values():
            out.write(memoryview(np.ascontiguousarray(arr, "<f4")).cast("B"))
    specs = [{"name": n, "shape": list(a.shape), "dtype": "float32"} for n, a in weights.items()]
    specs_path.write_text(json.dumps(specs))
    return data_path, specs_path


def read_raw(data_path: Path, specs_path: Path) -> dict[str, np.ndarray]:
    """``write_raw``'s files back as separate arrays."""
    specs = json.loads(Path(specs_path).read_text())
    out: dict[str, np.ndarray] = {}
    with open(data_path, "rb") as f:
        for spec in specs:
            count = int(np.prod(spec["shape"], dtype=np.int64))
            arr = np.empty(spec["shape"], dtype="<f4")
            got = f.readinto(memoryview(arr.reshape(-1)).cast("B"))
            if got != count * 4:
                raise ValueError(f"{data_path} ends inside weight {spec['name']!r}")
            out[spec["name"]] = arr
    return out
