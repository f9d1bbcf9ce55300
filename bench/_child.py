"""One benchmark measurement, in a process of its own (fresh RSS, nothing cached).

``python bench/_child.py '<json spec>'`` prints one line ``BENCH-RESULT {json}``.
The spec's ``task`` picks what is measured; every timed operation is preceded by an
untimed warm-up of the same filesystem instance (client created, connection open),
and peak RSS is reset (``/proc/self/clear_refs``) right before it, so ``rss_extra``
is what the operation itself added on top of the process as it stood. Dirty pages are
flushed (``os.sync``) before each timed operation.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _weights import layer_shapes, make_weights, read_raw

MARKER = "BENCH-RESULT "
CLOUD_MODULES = (
    "s3fs", "gcsfs", "adlfs", "botocore", "aiobotocore", "boto3", "google", "azure", "aiohttp",
)


# -- memory ---------------------------------------------------------------------------


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Recorder:
    """Times and peak-RSS deltas of repeated operations."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.rss_base: list[int] = []
        self.rss_peak: list[int] = []
        self.peak_reset = True

    def run(self, op: Callable[[], Any], check: Callable[[Any], None] | None = None) -> None:
        # Start from clean page cache: otherwise the writeback of the previous operation's
        # files (dirty pages) throttles this one's writes, and the order decides the result.
        os.sync()
        gc.collect()
        self.peak_reset = _reset_peak() and self.peak_reset
        base = _status("VmRSS")
        t0 = time.perf_counter()
        result = op()
        elapsed = time.perf_counter() - t0
        peak = _status("VmHWM")
        if check is not None and not self.times:
            check(result)
        del result
        self.times.append(elapsed)
        self.rss_base.append(base)
        self.rss_peak.append(peak)

    def report(self, **extra: Any) -> dict[str, Any]:
        return {
            "ok": True,
            "times": self.times,
            "best": min(self.times) if self.times else None,
            "rss_base": self.rss_base,
            "rss_peak": self.rss_peak,
            "rss_extra": max(
                (p - b for p, b in zip(self.rss_peak, self.rss_base, strict=True)), default=0
            ),
            "peak_reset": self.peak_reset,
            **extra,
        }


# -- helpers --------------------------------------------------------------------------


def _fs(url: str, storage_options: dict[str, Any]) -> tuple[Any, str]:
    import fsspec.core

    fs, path = fsspec.core.url_to_fs(url, **storage_options)
    return fs, str(path).rstrip("/")


def _shard_paths(fs: Any, folder: str) -> tuple[str, list[str]]:
    json_path = f"{folder}/model.json"
    model_json = json.loads(fs.cat_file(json_path))
    paths = [f"{folder}/{p}" for g in model_json["weightsManifest"] for p in g["paths"]]
    return json_path, paths


def _expect_weights(size: int) -> Callable[[dict[str, np.ndarray]], None]:
    shapes = layer_shapes(size)

    def check(weights: dict[str, np.ndarray]) -> None:
        got = {n: a.shape for n, a in weights.items()}
        want = {n: tuple(s) for n, s in shapes}
        if got != want or sum(a.nbytes for a in weights.values()) != size:
            raise AssertionError(f"loaded weights differ from the saved model: {len(got)} weights")

    return check


def _expect_bytes(size: int) -> Callable[[dict[str, bytes]], None]:
    def check(files: dict[str, bytes]) -> None:
        total = sum(len(v) for k, v in files.items() if not k.endswith(".json"))
        if total != size:
            raise AssertionError(f"raw read gave {total} weight bytes, expected {size}")

    return check


def _weight_bytes_under(fs: Any, folder: str) -> int:
    found = fs.find(folder, detail=True)
    return sum(int(i["size"]) for p, i in found.items() if p.endswith(".bin"))


def _remove(fs: Any, folder: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        fs.rm(folder, recursive=True)


def _raw_shards(
    weights: dict[str, np.ndarray], shard_size: int
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The files a tfjs-store save of ``weights`` holds (untagged names), as bytes."""
    from tfjs_store import ModelArtifacts
    from tfjs_store.format.jsonfmt import js_stringify, model_json_object
    from tfjs_store.format.layout import plan_storage

    plan = plan_storage(ModelArtifacts.from_weights(weights), shard_size_bytes=shard_size)
    body = js_stringify(model_json_object(plan.model_json, "tfjs", None)).encode()
    return body, [(f.path, bytes(plan.data.read(f.start, f.size))) for f in plan.files]


def _http_load_handler(url: str, storage_options: dict[str, Any]) -> tuple[Any, str]:
    """tfjs-store's own http handler when it exists, else its fsspec handler over
    fsspec's ``http`` filesystem (named explicitly: the registry maps http:// to
    ``tfjs_store.handlers.http``)."""
    import importlib.util

    if importlib.util.find_spec("tfjs_store.handlers.http") is not None:
        return url, "tfjs_store.handlers.http"
    from tfjs_store.handlers.fsspec import FsspecHandler

    return FsspecHandler(url, storage_options=storage_options), "FsspecHandler over fsspec http"


# -- tasks ----------------------------------------------------------------------------


def _warm_tfjs_store(url: str, so: dict[str, Any], *, load: bool) -> None:
    """The warm-up of tfjs-store's side: registry and imports, and the filesystem instance
    its handler opens (client made, a connection open). That instance is not always the
    raw side's: tfjs-store opens S3 with a larger connection pool, so fsspec's cache
    keys it apart."""
    import tfjs_store

    find = tfjs_store.get_load_handlers if load else tfjs_store.get_save_handlers
    handler = find(url, storage_options=so)[0]
    fs = getattr(handler, "fs", None)
    if fs is not None:
        fs.exists(handler.json_path)


def _warm_checksum_code() -> None:
    """The CRC32C code is imported and chosen on first use (awscrt's import alone takes
    tens of ms): in every tfjs-store variant's warm-up, checked or not, so that the timed
    operation measures the checking, not a one-time import."""
    from tfjs_store.format.integrity import crc32c_b64

    crc32c_b64(b"warm-up")


def task_prepare(spec: dict[str, Any]) -> dict[str, Any]:
    import tfjs_store

    weights = make_weights(spec["size"], spec.get("seed", 0))
    result = tfjs_store.save(
        weights, spec["url"], storage_options=spec["storage_options"],
        shard_size_bytes=spec["shard_size"],
    )
    fs, folder = _fs(spec["url"], spec["storage_options"])
    _, paths = _shard_paths(fs, folder)
    return {"ok": True, "json_url": result.url, "files": len(paths)}


def task_load(spec: dict[str, Any]) -> dict[str, Any]:
    import tfjs_store

    url, so, size = spec["url"], spec["storage_options"], spec["size"]
    if spec.get("self_prepare"):  # memory://: the store lives in this process
        weights = make_weights(size, spec.get("seed", 0))
        tfjs_store.save(weights, url, storage_options=so, shard_size_bytes=spec["shard_size"])
        del weights
    fs, folder = _fs(url, so)
    json_path, paths = _shard_paths(fs, folder)  # also the warm-up: client and connection
    impl = spec["impl"]
    rec = Recorder()
    if impl == "raw":
        every = [json_path, *paths]
        for _ in range(spec["reps"]):
            rec.run(lambda: fs.cat(every), _expect_bytes(size))
    elif impl in ("tfjs", "tfjs_nocheck"):
        verify = impl == "tfjs"
        _warm_tfjs_store(url, so, load=True)
        _warm_checksum_code()
        for _ in range(spec["reps"]):
            rec.run(
                lambda: tfjs_store.load(url, storage_options=so, verify=verify).weights(),
                _expect_weights(size),
            )
    else:
        raise ValueError(f"unknown impl {impl!r}")
    return rec.report(files=len(paths))


def task_save(spec: dict[str, Any]) -> dict[str, Any]:
    import tfjs_store

    base, so, size, shard = spec["url"], spec["storage_options"], spec["size"], spec["shard_size"]
    fs, base_path = _fs(base, so)
    is_local = "file" in ((fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol)
    warm = f"{base_path}/warmup-{uuid.uuid4().hex[:8]}"
    if is_local:
        fs.makedirs(base_path, exist_ok=True)
    fs.pipe_file(warm, b"x")
    fs.rm_file(warm)
    weights = make_weights(size, spec.get("seed", 0))
    impl = spec["impl"]
    rec = Recorder()
    files = 0
    if impl == "raw":
        body, shards = _raw_shards(weights, shard)
        del weights
        files = len(shards)
        for rep in range(spec["reps"]):
            folder = f"{base_path}/raw-{rep}-{uuid.uuid4().hex[:8]}"
            if is_local:
                fs.makedirs(folder, exist_ok=True)
            batch = {f"{folder}/{name}": data for name, data in shards}
            batch[f"{folder}/model.json"] = body
            rec.run(lambda b=batch: fs.pipe(b))
            del batch
            if rep == 0 and _weight_bytes_under(fs, folder) != size:
                raise AssertionError("raw pipe stored the wrong number of bytes")
            _remove(fs, folder)
    elif impl in ("tfjs", "tfjs_nocheck"):
        options: dict[str, Any] = {"shard_size_bytes": shard}
        if impl == "tfjs_nocheck":
            options["checksums"] = False
        _warm_tfjs_store(fs.unstrip_protocol(base_path), so, load=False)
        _warm_checksum_code()
        for rep in range(spec["reps"]):
            folder = f"{base_path}/tfjs-{rep}-{uuid.uuid4().hex[:8]}"
            url = fs.unstrip_protocol(folder)
            rec.run(lambda u=url: tfjs_store.save(weights, u, storage_options=so, **options))
            if rep == 0:
                if _weight_bytes_under(fs, folder) != size:
                    raise AssertionError("tfjs-store stored the wrong number of bytes")
                files = len(_shard_paths(fs, folder)[1])
            _remove(fs, folder)
    else:
        raise ValueError(f"unknown impl {impl!r}")
    return rec.report(files=files)


def task_slow_load(spec: dict[str, Any]) -> dict[str, Any]:
    """Load a many-shard model through the delaying proxy."""
    import tfjs_store

    url, so = spec["url"], spec["storage_options"]
    fs, folder = _fs(url.rsplit("/", 1)[0] if url.endswith(".json") else url, so)
    json_path, paths = _shard_paths(fs, folder)  # warm-up
    impl = spec["impl"]
    rec = Recorder()
    via = "fsspec"
    if impl == "one_by_one":

        def op() -> int:
            total = len(fs.cat_file(json_path))
            for p in paths:
                total += len(fs.cat_file(p))
            return total

        for _ in range(spec["reps"]):
            rec.run(op)
    elif impl == "raw_concurrent":
        every = [json_path, *paths]
        for _ in range(spec["reps"]):
            rec.run(lambda: fs.cat(every))
    elif impl == "tfjs":
        if url.startswith(("http://", "https://")):
            target, via = _http_load_handler(url, so)
            if not isinstance(target, str):  # a handler object: reuse the warm fs
                target.fs = fs
            else:
                tfjs_store.get_load_handlers(target)  # warm-up: registry, imports
            for _ in range(spec["reps"]):
                rec.run(lambda: tfjs_store.load(target).weights())
        else:
            via = "tfjs_store.load"
            _warm_tfjs_store(url, so, load=True)
            for _ in range(spec["reps"]):
                rec.run(lambda: tfjs_store.load(url, storage_options=so).weights())
    else:
        raise ValueError(f"unknown impl {impl!r}")
    return rec.report(files=len(paths), via=via)


def task_slow_save(spec: dict[str, Any]) -> dict[str, Any]:
    """Save a many-shard model through the delaying proxy (S3 in front of moto)."""
    import tfjs_store

    base, so, size, shard = spec["url"], spec["storage_options"], spec["size"], spec["shard_size"]
    fs, base_path = _fs(base, so)
    direct_fs, _ = _fs(base, spec["cleanup_storage_options"])
    warm = f"{base_path}/warmup-{uuid.uuid4().hex[:8]}"
    fs.pipe_file(warm, b"x")
    direct_fs.rm_file(warm)
    weights = make_weights(size, spec.get("seed", 0))
    tfjs_store.get_save_handlers(fs.unstrip_protocol(base_path), storage_options=so)
    impl = spec["impl"]
    rec = Recorder()
    files = 0
    if impl == "one_by_one":
        body, shards = _raw_shards(weights, shard)
        files = len(shards)

        def op(folder: str) -> None:
            for name, data in shards:
                fs.pipe_file(f"{folder}/{name}", data)
            fs.pipe_file(f"{folder}/model.json", body)

        for rep in range(spec["reps"]):
            folder = f"{base_path}/one-{rep}-{uuid.uuid4().hex[:8]}"
            rec.run(lambda f=folder: op(f))
            _remove(direct_fs, folder)
    elif impl == "raw_concurrent":  # every file in one fs.pipe batch: the link's own limit
        body, shards = _raw_shards(weights, shard)
        files = len(shards)
        for rep in range(spec["reps"]):
            folder = f"{base_path}/all-{rep}-{uuid.uuid4().hex[:8]}"
            batch = {f"{folder}/{name}": data for name, data in shards}
            batch[f"{folder}/model.json"] = body
            rec.run(lambda b=batch: fs.pipe(b))
            _remove(direct_fs, folder)
    elif impl == "tfjs":
        _warm_tfjs_store(fs.unstrip_protocol(base_path), so, load=False)
        for rep in range(spec["reps"]):
            folder = f"{base_path}/tfjs-{rep}-{uuid.uuid4().hex[:8]}"
            url = fs.unstrip_protocol(folder)
            rec.run(lambda u=url: tfjs_store.save(
                weights, u, storage_options=so, shard_size_bytes=shard))
            if rep == 0:
                files = len(_shard_paths(direct_fs, folder)[1])
                if _weight_bytes_under(direct_fs, folder) != size:
                    raise AssertionError("tfjs-store stored the wrong number of bytes")
            _remove(direct_fs, folder)
    else:
        raise ValueError(f"unknown impl {impl!r}")
    return rec.report(files=files)


def task_peer_ours(spec: dict[str, Any]) -> dict[str, Any]:
    """tfjs-store's save then load on file://, from the peers' weight file."""
    import tfjs_store

    weights = read_raw(Path(spec["raw"]), Path(spec["specs"]))
    size = sum(a.nbytes for a in weights.values())
    options: dict[str, Any] = dict(spec.get("options", {}))
    load_options: dict[str, Any] = dict(spec.get("load_options", {}))
    save_rec, load_rec = Recorder(), Recorder()
    root = Path(spec["dir"])
    check = _expect_weights(size) if spec.get("check_shapes", True) else None
    for rep in range(spec["reps"]):
        folder = root / f"ours-{rep}-{uuid.uuid4().hex[:8]}"
        url = folder.as_uri()
        save_rec.run(lambda u=url: tfjs_store.save(weights, u, **options))
        load_rec.run(lambda u=url: tfjs_store.load(u, **load_options).weights(), check)
        _remove_tree(folder)
    return {
        "ok": True,
        "save": save_rec.report(),
        "load": load_rec.report(),
        "bytes": size,
    }


def _remove_tree(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def task_modules(spec: dict[str, Any]) -> dict[str, Any]:
    """Which cloud SDKs ``import tfjs_store`` plus a file:// load pull in."""
    t0 = time.perf_counter()
    import tfjs_store

    imported = time.perf_counter() - t0
    after_import = sorted({m.split(".")[0] for m in sys.modules} & set(CLOUD_MODULES))
    tfjs_store.load(spec["url"]).weights()
    after_load = sorted({m.split(".")[0] for m in sys.modules} & set(CLOUD_MODULES))
    return {"ok": True, "import_seconds": imported, "after_import": after_import,
            "after_load": after_load}


def task_write_raw(spec: dict[str, Any]) -> dict[str, Any]:
    """The peers' input: the benchmark weights as one raw file plus a spec list."""
    from _weights import write_raw

    weights = make_weights(spec["size"], spec.get("seed", 0))
    data, specs = write_raw(weights, Path(spec["dir"]))
    return {"ok": True, "raw": str(data), "specs": str(specs), "weights": len(weights)}


TASKS = {
    "write_raw": task_write_raw,
    "prepare": task_prepare,
    "load": task_load,
    "save": task_save,
    "slow_load": task_slow_load,
    "slow_save": task_slow_save,
    "peer_ours": task_peer_ours,
    "modules": task_modules,
}


def _install_handler(target: str | None) -> None:
    """``--handler FILE.py:NAME``: benchmark another handler for the fsspec schemes."""
    if not target:
        return
    import importlib.util

    import tfjs_store

    path, _, name = target.rpartition(":")
    module_spec = importlib.util.spec_from_file_location("bench_handler", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    for scheme in ("file", "memory", "s3", "gs", "gcs"):
        tfjs_store.register_handler(scheme, getattr(module, name), source="bench --handler")


def run_task(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        _install_handler(spec.get("handler"))
        return TASKS[spec["task"]](spec)
    except BaseException as exc:  # report, don't hide: the harness prints it in the table
        traceback.print_exc()
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    """One spec (a fresh process per measurement), or a list of specs run one after the
    other in this process (``--smoke``: no timing matters, start-up time does)."""
    spec = json.loads(sys.argv[1])
    out: Any
    if isinstance(spec, list):
        out = {"ok": True, "batch": [run_task(s) for s in spec]}
    else:
        out = run_task(spec)
    sys.stdout.write(MARKER + json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0 if out.get("ok") else 1)


if __name__ == "__main__":
    main()
