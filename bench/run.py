"""tfjs-store's benchmark harness: tfjs-store against the storage's own limit and its peers,
side by side, in one run, printed as markdown tables of ratios (GitHub issue 8).

    python bench/run.py                                  # everything (takes a while)
    python bench/run.py --sizes 1MiB,100MiB --stores file,memory
    python bench/run.py --smoke                          # CI: 1 MiB, file+memory+s3, tiny slow link

Sections
--------
1. speed: ``tfjs_store.load(url).weights()`` (to numpy arrays) against ``fs.cat`` of the same
   files, and ``tfjs_store.save(arrays, url)`` against ``fs.pipe`` of the same shard bytes,
   on file, memory, S3 (moto) and GCS (fake-gcs-server); with defaults (CRC32C recorded on
   save, verified on load) and with ``checksums=False`` / ``verify=False``.
2. memory: peak RSS each operation added over the process as it stood (weights already in
   arrays for a save), against the targets.
3. slow link: a 64-shard model behind a proxy on 127.0.0.1 that delays every request
   (``bench/delay_proxy.py``), loaded over HTTP and S3 and saved to S3, against the same
   files fetched one by one.
4. peers: TF.js 4.22.0 in Node (tfjs-node's ``file://`` handler) and the ``tensorflowjs``
   Python package (in its own virtualenv, ``--tfjs-py-venv``), same weights, same machine.
5. start-up: ``tfjs-store --help``, ``tfjs-store info``, and which cloud SDKs get imported.

Every measurement runs in a fresh child process (``bench/_child.py``); times are the best
of N rounds (rounds interleave the variants, alternating their order), peak RSS the worst.
Raw results go to ``--out`` (default ``bench/results/<time>/``: results.json, results.md).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CHILD = BENCH / "_child.py"
MARKER = "BENCH-RESULT "
MiB = 1024 * 1024
GiB = 1024 * MiB
DEFAULT_SHARD = 4 * MiB
DEFAULT_VENV = Path("/tmp/tfjs-py-venv")
IMPLS = ("raw", "tfjs", "tfjs_nocheck")

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


# -- small utilities ------------------------------------------------------------------


def parse_size(text: str) -> int:
    t = text.strip().lower().replace(" ", "")
    for suffix, factor in (("gib", GiB), ("mib", MiB), ("kib", 1024), ("b", 1)):
        if t.endswith(suffix):
            return int(float(t[: -len(suffix)]) * factor)
    return int(t)


def size_label(n: int) -> str:
    if n >= GiB and n % GiB == 0:
        return f"{n // GiB} GiB"
    if n >= MiB and n % MiB == 0:
        return f"{n // MiB} MiB"
    if n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} B"


def mib(n: float | None) -> str:
    return "—" if n is None else f"{n / MiB:,.0f}"


def secs(t: float | None) -> str:
    if t is None:
        return "—"
    return f"{t:.3f}" if t < 10 else f"{t:.1f}"


def ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den <= 0:
        return None
    return num / den


def times_x(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}×"


def load_by_path(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_json(argv: list[str], timeout: float, env: dict[str, str] | None = None,
             cwd: Path = REPO) -> dict[str, Any]:
    """Run a child that prints ``BENCH-RESULT {json}``; errors come back as ok=False."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=env, cwd=str(cwd), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            out: dict[str, Any] = json.loads(line[len(MARKER):])
            if not out.get("ok"):
                out["stderr"] = proc.stderr[-3000:]
            return out
    return {"ok": False, "error": f"exit {proc.returncode}, no result line",
            "stderr": (proc.stderr or proc.stdout)[-3000:]}


HANDLER: str | None = None
"""``--handler FILE.py:NAME``: the handler the children register for the fsspec schemes."""


def child(spec: Any, timeout: float) -> dict[str, Any]:
    if HANDLER:
        for one in spec if isinstance(spec, list) else [spec]:
            one["handler"] = HANDLER
    return run_json([sys.executable, str(CHILD), json.dumps(spec)], timeout)


ISOLATE = True
"""One process per measurement; ``--smoke`` turns it off and batches (start-up dominates)."""


def children(specs: dict[str, dict[str, Any]], timeout: float) -> dict[str, dict[str, Any]]:
    """Run each spec in a fresh child (or, with ISOLATE off, all in one child, in order)."""
    if ISOLATE:
        out = {}
        for key, spec in specs.items():
            log(f"  {spec['task']} {key}")
            out[key] = child(spec, timeout)
        return out
    log(f"  {', '.join(sorted({s['task'] for s in specs.values()}))} {', '.join(specs)} (batched)")
    result = child(list(specs.values()), timeout * len(specs))
    if not result.get("ok"):
        return {key: result for key in specs}
    return dict(zip(specs, result["batch"], strict=True))


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- stores ---------------------------------------------------------------------------


@dataclass
class Store:
    name: str
    base_url: str
    storage_options: dict[str, Any]
    fs: Any = None

    def url(self, *parts: str) -> str:
        return "/".join([self.base_url.rstrip("/"), *parts])

    def remove(self, url: str) -> None:
        if self.fs is None:
            return
        with contextlib.suppress(Exception):
            self.fs.rm(self.fs._strip_protocol(url), recursive=True)


@dataclass
class Servers:
    """moto / fake-gcs-server: the caller's (``--s3-endpoint``) or started here."""

    workdir: Path
    s3_endpoint: str | None = None
    gcs_endpoint: str | None = None
    started: list[Any] = field(default_factory=list)
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    _mod: Any = None

    @property
    def mod(self) -> Any:
        if self._mod is None:
            self._mod = load_by_path("tfjs_bench_servers",
                                     REPO / "tests" / "support" / "servers.py")
        return self._mod

    def s3(self) -> str:
        if self.s3_endpoint is None:
            log("starting moto (S3) on 127.0.0.1")
            server = self.mod.start_moto(self.workdir / "moto")
            self.started.append(server)
            self.s3_endpoint = server.url
        return self.s3_endpoint

    def gcs(self) -> str:
        if self.gcs_endpoint is None:
            log("starting fake-gcs-server on 127.0.0.1")
            server = self.mod.start_fake_gcs(self.workdir / "fake-gcs")
            self.started.append(server)
            self.gcs_endpoint = server.url
        return self.gcs_endpoint

    def s3_options(self, endpoint: str | None = None) -> dict[str, Any]:
        options = dict(self.mod.s3_storage_options(endpoint or self.s3()))
        options.pop("skip_instance_cache", None)  # users get fsspec's cached instances
        return options

    def gcs_options(self) -> dict[str, Any]:
        options = dict(self.mod.gcs_storage_options(self.gcs()))
        options.pop("skip_instance_cache", None)
        return options

    def store(self, name: str) -> Store:
        import fsspec

        bucket = f"tfjs-bench-{self.token}"
        if name == "file":
            root = self.workdir / "file-store"
            root.mkdir(parents=True, exist_ok=True)
            return Store("file", root.as_uri(), {}, fsspec.filesystem("file"))
        if name == "memory":
            return Store("memory", f"memory://tfjs-bench-{self.token}", {}, None)
        if name == "s3":
            options = self.s3_options()
            fs = fsspec.filesystem("s3", **options, skip_instance_cache=True)
            if not fs.exists(bucket):
                fs.mkdir(bucket)
            return Store("s3", f"s3://{bucket}", options, fs)
        if name == "gcs":
            options = self.gcs_options()
            fs = fsspec.filesystem("gcs", **options, skip_instance_cache=True)
            if not fs.exists(bucket):
                fs.mkdir(bucket)
            return Store("gcs", f"gcs://{bucket}", options, fs)
        raise SystemExit(f"unknown store {name!r}; choose file, memory, s3, gcs")

    def stop(self) -> None:
        for server in self.started:
            server.stop()


@contextlib.contextmanager
def delay_proxy(upstream: str, delay: float, workdir: Path) -> Iterator[str]:
    """``bench/delay_proxy.py`` in front of ``upstream``; yields its URL."""
    port_file = workdir / f"proxy-{uuid.uuid4().hex[:8]}.port"
    log_path = workdir / (port_file.stem + ".log")
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(BENCH / "delay_proxy.py"), "--upstream", upstream,
             "--delay", str(delay), "--port-file", str(port_file),
             *(["--log-requests"] if os.environ.get("TFJS_BENCH_LOG_REQUESTS") else [])],
            stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"delay proxy did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text().strip()}"
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# -- 1 + 2: speed and memory against raw fsspec ----------------------------------------


def child_timeout(size: int) -> float:
    return 180 + 0.4 * size / MiB


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in runs if r.get("ok")]
    bad = [r for r in runs if not r.get("ok")]
    if bad:
        return {"ok": False, "error": bad[0].get("error"), "stderr": bad[0].get("stderr", "")}
    times = [t for r in good for t in r["times"]]
    return {
        "ok": True,
        "best": min(times),
        "times": times,
        "rss_extra": max(r["rss_extra"] for r in good),
        "rss_base": max(b for r in good for b in r["rss_base"]),
        "rss_peak": max(p for r in good for p in r["rss_peak"]),
        "files": good[0].get("files"),
        "peak_reset": all(r.get("peak_reset", False) for r in good),
    }


def measure_matrix(servers: Servers, store_names: list[str], sizes: list[int],
                   rounds_for: dict[int, int], shard: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for size in sizes:
        rounds = rounds_for[size]
        for name in store_names:
            store = servers.store(name)
            run_id = uuid.uuid4().hex[:8]
            # load: one prepared model, read by every variant
            model_url = store.url(f"load-{size_label(size).replace(' ', '')}-{run_id}")
            prepare_error = None
            if name != "memory":
                log(f"prepare {size_label(size)} model on {name}")
                out = child({"task": "prepare", "url": model_url,
                             "storage_options": store.storage_options, "size": size,
                             "shard_size": shard}, child_timeout(size))
                if not out.get("ok"):
                    prepare_error = out
            for op in ("load", "save"):
                runs: dict[str, list[dict[str, Any]]] = {impl: [] for impl in IMPLS}
                for rnd in range(rounds):
                    order = IMPLS if rnd % 2 == 0 else tuple(reversed(IMPLS))
                    if op == "load" and prepare_error is not None:
                        for impl in order:
                            runs[impl].append(prepare_error)
                        continue
                    log(f"{op} {name} {size_label(size)} round {rnd + 1}/{rounds}")
                    specs = {impl: {"task": op, "impl": impl, "size": size, "shard_size": shard,
                                    "storage_options": store.storage_options, "reps": 1,
                                    "url": model_url if op == "load"
                                    else store.url(f"save-{run_id}"),
                                    "self_prepare": name == "memory"} for impl in order}
                    for impl, out in children(specs, child_timeout(size)).items():
                        runs[impl].append(out)
                results = {impl: aggregate(r) for impl, r in runs.items()}
                rows.append(speed_row(op, name, size, shard, results))
            store.remove(model_url)
            store.remove(store.url(f"save-{run_id}"))
    return rows


def speed_row(op: str, store: str, size: int, shard: int,
              results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    best = {impl: (r["best"] if r.get("ok") else None) for impl, r in results.items()}
    rss = {impl: (r["rss_extra"] if r.get("ok") else None) for impl, r in results.items()}
    errors = {impl: r["error"] for impl, r in results.items() if not r.get("ok")}
    files = next((r.get("files") for r in results.values() if r.get("ok")), None)
    row = {
        "id": f"speed/{op}/{store}/{size_label(size).replace(' ', '')}",
        "section": "speed", "op": op, "store": store, "size": size_label(size), "bytes": size,
        "shard_size": shard, "files": files,
        "seconds": best, "rss_extra": rss,
        "rss_base": {i: r.get("rss_base") for i, r in results.items()},
        "rss_peak": {i: r.get("rss_peak") for i, r in results.items()},
        "all_times": {i: r.get("times") for i, r in results.items()},
        "ratio": ratio(best["raw"], best["tfjs"]),
        "ratio_nocheck": ratio(best["raw"], best["tfjs_nocheck"]),
        "errors": errors,
        "peak_reset": all(r.get("peak_reset", False) for r in results.values() if r.get("ok")),
    }
    row["target"], row["met"], row["met_nocheck"] = speed_target(row)
    row["rss_bound"], row["rss_met"], row["rss_met_nocheck"] = rss_target(row)
    for impl, err in errors.items():
        log(f"ERROR {row['id']} {impl}: {err}\n{results[impl].get('stderr', '')[-1500:]}")
    return row


def speed_target(row: dict[str, Any]) -> tuple[str, bool | None, bool | None]:
    if row["bytes"] < 100 * MiB:
        return "—", None, None
    goal = 1.0 if row["store"] in ("file", "memory") else 0.8
    text = "≥ 1.0× (never < 0.9×)" if goal == 1.0 else "≥ 0.8×"

    def met(r: float | None) -> bool | None:
        return None if r is None else r >= goal

    return text, met(row["ratio"]), met(row["ratio_nocheck"])


def rss_target(row: dict[str, Any]) -> tuple[int, bool | None, bool | None]:
    w, shard = row["bytes"], row["shard_size"]
    if row["op"] == "load":
        bound = int(w * 1.1) + 100 * MiB
    else:
        # the arrays are already in the process; a save may add one shard + 100 MiB.
        # memory:// keeps what it stores in this same process: that copy is the destination.
        bound = shard + 100 * MiB + (w if row["store"] == "memory" else 0)

    def met(x: int | None) -> bool | None:
        return None if x is None else x <= bound

    return bound, met(row["rss_extra"]["tfjs"]), met(row["rss_extra"]["tfjs_nocheck"])


# -- 3: slow link ---------------------------------------------------------------------


def measure_slow_link(servers: Servers, workdir: Path, shards: int, shard_size: int,
                      delay: float, reps: int) -> list[dict[str, Any]]:
    rows = []
    size = shards * shard_size
    log(f"slow link: {shards} shards of {size_label(shard_size)}, "
        f"+{delay * 1000:.0f} ms per request")
    # HTTP: a static folder behind the delaying proxy
    root = workdir / "http-root"
    root.mkdir(parents=True, exist_ok=True)
    model_dir = root / "m"
    out = child({"task": "prepare", "url": model_dir.as_uri(), "storage_options": {},
                 "size": size, "shard_size": shard_size}, 300)
    static = servers.mod.start_http_static(root, workdir / "http-static")
    try:
        with delay_proxy(static.url, delay, workdir) as proxy:
            url = f"{proxy}/m/model.json"  # TF.js's http rule: the URL names model.json
            impls = ("one_by_one", "tfjs", "raw_concurrent")
            results = {impl: out for impl in impls} if not out.get("ok") else children(
                {impl: {"task": "slow_load", "impl": impl, "url": url, "storage_options": {},
                        "reps": reps} for impl in impls}, 300)
            rows.append(slow_row("load", "http", shards, shard_size, delay, results))
    finally:
        static.stop()
    # S3: moto behind the delaying proxy
    s3 = servers.store("s3")
    direct = servers.s3_options()
    with delay_proxy(servers.s3(), delay, workdir) as proxy:
        slow_options = servers.s3_options(proxy)
        model_url = s3.url(f"slow-{uuid.uuid4().hex[:8]}")
        out = child({"task": "prepare", "url": model_url, "storage_options": direct,
                     "size": size, "shard_size": shard_size}, 300)
        impls = ("one_by_one", "tfjs", "raw_concurrent")
        results = {impl: out for impl in impls} if not out.get("ok") else children(
            {impl: {"task": "slow_load", "impl": impl, "url": model_url,
                    "storage_options": slow_options, "reps": reps} for impl in impls}, 300)
        rows.append(slow_row("load", "s3", shards, shard_size, delay, results))
        s3.remove(model_url)
        base = s3.url(f"slow-save-{uuid.uuid4().hex[:8]}")
        results = children(
            {impl: {"task": "slow_save", "impl": impl, "url": base,
                    "storage_options": slow_options, "cleanup_storage_options": direct,
                    "size": size, "shard_size": shard_size, "reps": reps}
             for impl in ("one_by_one", "tfjs", "raw_concurrent")}, 300)
        rows.append(slow_row("save", "s3", shards, shard_size, delay, results))
        s3.remove(base)
    return rows


def slow_row(op: str, store: str, shards: int, shard_size: int, delay: float,
             results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    best = {impl: (r["best"] if r.get("ok") else None) for impl, r in results.items()}
    errors = {impl: r.get("error") for impl, r in results.items() if not r.get("ok")}
    for impl, err in errors.items():
        log(f"ERROR slow/{op}/{store} {impl}: {err}\n{results[impl].get('stderr', '')[-1500:]}")
    speedup = ratio(best.get("one_by_one"), best.get("tfjs"))
    return {
        "id": f"slow/{op}/{store}", "section": "slow", "op": op, "store": store,
        "files": shards, "shard_size": shard_size, "delay": delay, "seconds": best,
        "all_times": {i: r.get("times") for i, r in results.items()},
        "speedup": speedup,
        "vs_raw_concurrent": ratio(best.get("raw_concurrent"), best.get("tfjs")),
        "via": results.get("tfjs", {}).get("via"), "errors": errors,
        # the target is stated for 64 shards at +50 ms; smaller cases only report
        "met": None if speedup is None or shards < 64 or delay < 0.05 else speedup >= 8.0,
    }


# -- 4: peers -------------------------------------------------------------------------


def ensure_node_modules() -> str | None:
    """None when TF.js is importable from tests/js/node_modules, else why not."""
    if shutil.which("node") is None:
        return "node is not installed"
    tfjs_dir = REPO / "tests" / "js" / "node_modules" / "@tensorflow"
    if (tfjs_dir / "tfjs").is_dir() and (tfjs_dir / "tfjs-node").is_dir():
        return None
    try:
        tfjs_support = load_by_path("tfjs_bench_support_tfjs",
                                    REPO / "tests" / "support" / "tfjs.py")
        tfjs_support.ensure_node_modules()
    except Exception as exc:
        return f"tests/js/node_modules could not be installed: {exc}"
    return None


def dir_size(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        with contextlib.suppress(OSError):
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
    return total


def own_install_bytes() -> tuple[int, list[str]]:
    """Installed size of tfjs-store's required dependencies (not the cloud extras)."""
    from importlib import metadata

    names = ["fsspec", "numpy", "pydantic", "pydantic-core", "annotated-types",
             "typing-extensions", "typing-inspection", "google-crc32c"]
    total, found = 0, []
    for name in names:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(f"{name} {dist.version}")
        for f in dist.files or []:
            with contextlib.suppress(OSError):
                total += Path(str(dist.locate_file(f))).stat().st_size
    total += dir_size(REPO / "tfjs_store")
    return total, found


def measure_peers(workdir: Path, size: int, reps: int, venv: Path | None,
                  shard: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    peer_dir = workdir / "peers"
    peer_dir.mkdir(parents=True, exist_ok=True)
    log(f"peers: writing the {size_label(size)} weights once")
    raw = child({"task": "write_raw", "size": size, "dir": str(peer_dir / "input")}, 600)
    if not raw.get("ok"):
        return [peer_row("tfjs-store (shards, SHA-256)", "tfjs-store", size, raw)]
    common = {"task": "peer_ours", "raw": raw["raw"], "specs": raw["specs"], "reps": reps}
    log("peers: tfjs-store")
    ours = child({**common, "dir": str(peer_dir / "ours"),
                  "options": {"shard_size_bytes": shard}}, child_timeout(size) * reps)
    rows.append(peer_row("tfjs-store, defaults (4 MiB shards, CRC32C written and checked)",
                         "ours", size, ours))
    ours_node = child({**common, "dir": str(peer_dir / "ours-node"),
                       "options": {"layout": "tfjs-node"}}, child_timeout(size) * reps)
    rows.append(peer_row("tfjs-store, layout=\"tfjs-node\" (one weights.bin, as TF.js writes)",
                         "ours_node", size, ours_node))
    # TF.js in Node
    why = ensure_node_modules()
    if why is None:
        log("peers: TF.js in Node")
        (peer_dir / "tfjs-node").mkdir(exist_ok=True)
        node = run_json(["node", "--expose-gc", "--max-old-space-size=8192",
                         str(BENCH / "tfjs_node_bench.js"), "--raw", raw["raw"], "--specs",
                         raw["specs"], "--dir", str(peer_dir / "tfjs-node"), "--reps", str(reps)],
                        child_timeout(size) * reps)
    else:
        node = {"ok": False, "error": why}
    label = f"TF.js {node.get('tfjs', '4.22.0')} in Node {node.get('node', '')} " \
            "(encodeWeights + file:// save; file:// load + decodeWeights)"
    rows.append(peer_row(label.replace("  ", " "), "tfjs_node", size, node))
    # tensorflowjs in its own virtualenv
    python = (venv / "bin" / "python") if venv is not None else None
    if python is not None and python.exists():
        log("peers: tensorflowjs (Python) in its virtualenv")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        env.pop("PYTHONPATH", None)
        (peer_dir / "tensorflowjs").mkdir(exist_ok=True)
        py = run_json([str(python), str(BENCH / "tfjs_py_peer.py"), "--raw", raw["raw"],
                       "--specs", raw["specs"], "--dir", str(peer_dir / "tensorflowjs"),
                       "--reps", str(reps), "--shard-size", str(shard)],
                      child_timeout(size) * reps + 120, env=env)
        site = next(iter((venv / "lib").glob("python*/site-packages")), venv)
        py["install_bytes"] = dir_size(site)
    else:
        py = {"ok": False, "error": f"no virtualenv with tensorflowjs at {venv} "
              "(create it: see BENCHMARKS.md)"}
    label = f"tensorflowjs {py.get('version', '')} (Python): write_weights / read_weights"
    rows.append(peer_row(label.replace("  ", " "), "tensorflowjs", size, py))
    install, dists = own_install_bytes()
    rows[0]["install_bytes"] = install
    rows[0]["install_note"] = ", ".join(dists)
    base = rows[0]
    for row in rows:
        row["vs_ours"] = ratio(row["total"], base["total"])
    shutil.rmtree(peer_dir / "input", ignore_errors=True)
    return rows


def peer_row(label: str, key: str, size: int, out: dict[str, Any]) -> dict[str, Any]:
    ok = bool(out.get("ok"))
    save = out.get("save", {}) if ok else {}
    load = out.get("load", {}) if ok else {}
    total = (save["best"] + load["best"]) if ok else None
    if not ok:
        log(f"ERROR peer {key}: {out.get('error')}\n{out.get('stderr', '')[-1500:]}")
    return {
        "id": f"peer/{key}", "section": "peer", "label": label, "size": size_label(size),
        "bytes": size, "save_s": save.get("best"), "load_s": load.get("best"), "total": total,
        "save_rss_extra": save.get("rss_extra"), "load_rss_extra": load.get("rss_extra"),
        "save_times": save.get("times"), "load_times": load.get("times"),
        "import_seconds": out.get("import_seconds"), "install_bytes": out.get("install_bytes"),
        "error": None if ok else out.get("error"),
    }


# -- 5: start-up ----------------------------------------------------------------------


def console_script() -> Path | None:
    candidate = Path(sys.executable).parent / "tfjs-store"
    if candidate.exists():
        return candidate
    found = shutil.which("tfjs-store")
    return Path(found) if found else None


def time_command(argv: list[str], runs: int) -> dict[str, Any]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=str(REPO),
                              stdin=subprocess.DEVNULL, timeout=120)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
            return {"ok": False, "error": f"exit {proc.returncode}: {tail[0][:300]}",
                    "times": times}
    return {"ok": True, "median": statistics.median(times), "times": times}


def measure_startup(runs: int) -> list[dict[str, Any]]:
    example = REPO / "tfjs_store" / "data" / "example"
    script = console_script()
    commands: list[tuple[str, str, list[str] | None, float | None]] = [
        ("python", "`python -c pass` (interpreter floor)", [sys.executable, "-c", "pass"], None),
        ("import", "`python -c 'import tfjs_store'` (lazy: errors only)",
         [sys.executable, "-c", "import tfjs_store"], None),
        ("import-api", "`python -c 'import tfjs_store; tfjs_store.load'` (numpy, pydantic, "
         "fsspec)", [sys.executable, "-c", "import tfjs_store; tfjs_store.load"], None),
        ("help", "`tfjs-store --help`", [str(script), "--help"] if script else None, 0.35),
        ("info", "`tfjs-store info` (bundled example model)",
         [str(script), "info", str(example)] if script else None, None),
    ]
    rows = []
    for key, label, argv, target in commands:
        log(f"start-up: {label}")
        out = time_command(argv, runs) if argv else {"ok": False,
                                                   "error": "tfjs-store console script not found"}
        median = out.get("median")
        rows.append({
            "id": f"startup/{key}", "section": "startup", "label": label, "median": median,
            "times": out.get("times"), "target": target, "error": out.get("error"),
            "met": None if (target is None or median is None) else median <= target,
        })
    mods = child({"task": "modules", "url": example.as_uri()}, 120)
    after = mods.get("after_load") if mods.get("ok") else None
    rows.append({
        "id": "startup/cloud-sdks", "section": "startup",
        "label": "cloud SDKs imported by `import tfjs_store` + a file:// load",
        "modules": after, "error": mods.get("error"),
        "met": None if after is None else not after,
    })
    return rows


# -- report ---------------------------------------------------------------------------


def verdict(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "—"}[met]


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(), "platform": platform.platform(),
        "cores": os.cpu_count(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory"] = f"{int(line.split()[1]) // 1024 // 1024} GiB"
    with contextlib.suppress(Exception):
        info["load_average"] = os.getloadavg()
    from importlib import metadata

    versions = {}
    for name in ("tfjs-store", "fsspec", "s3fs", "gcsfs", "numpy", "pydantic", "moto", "aiohttp"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    info["versions"] = versions
    with contextlib.suppress(Exception):
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                        capture_output=True, text=True).stdout.strip()
    return info


def render(results: dict[str, Any]) -> str:
    out: list[str] = []
    info = results["machine"]
    out.append(f"Machine: {info.get('cpu', '?')}, {info.get('cores')} cores, "
               f"{info.get('memory', '?')}; Python {info['python']}; "
               + ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
               + f"; commit {info.get('commit', '?')}; {info['date']}; "
               f"load average at start {tuple(round(x, 2) for x in info.get('load_average', ()))}")
    out.append(f"Command: `{results['command']}`")
    if results.get("handler"):
        out.append(f"Handler for file/memory/s3/gcs: `{results['handler']}` (not tfjs-store's own)")
    speed = [r for r in results["rows"] if r["section"] == "speed"]
    if speed:
        out.append("")
        out.append("### 1. Speed against raw fsspec (ratio = raw time / tfjs-store time; "
                   "> 1 means tfjs-store is faster)")
        out.append("")
        out.append("| op | store | size | files | raw `fs.cat`/`fs.pipe` s | tfjs-store s "
                   "| ratio | tfjs-store, no checksums s | ratio | target | met (default / "
                   "no checksums) |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in speed:
            s = r["seconds"]
            out.append(
                f"| {r['op']} | {r['store']} | {r['size']} | {r['files'] or '—'} "
                f"| {secs(s['raw'])} | {secs(s['tfjs'])} | {times_x(r['ratio'])} "
                f"| {secs(s['tfjs_nocheck'])} | {times_x(r['ratio_nocheck'])} | {r['target']} "
                f"| {verdict(r['met'])} / {verdict(r['met_nocheck'])} |")
        out.append("")
        out.append("### 2. Peak memory: RSS added by the operation (MiB) over the process as "
                   "it stood (weights already in arrays for a save)")
        out.append("")
        out.append("| op | store | size | weights MiB | raw fsspec | tfjs-store | tfjs-store, no "
                   "checksums | bound | met (default / no checksums) |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for r in speed:
            x = r["rss_extra"]
            out.append(
                f"| {r['op']} | {r['store']} | {r['size']} | {mib(r['bytes'])} | {mib(x['raw'])} "
                f"| {mib(x['tfjs'])} | {mib(x['tfjs_nocheck'])} | {mib(r['rss_bound'])} "
                f"| {verdict(r['rss_met'])} / {verdict(r['rss_met_nocheck'])} |")
    slow = [r for r in results["rows"] if r["section"] == "slow"]
    if slow:
        r0 = slow[0]
        out.append("")
        out.append(f"### 3. Slow link: {r0['files']} shards of {size_label(r0['shard_size'])}, "
                   f"+{r0['delay'] * 1000:.0f} ms on every request (speed-up = one-by-one time "
                   "/ tfjs-store time)")
        out.append("")
        out.append("| op | store | one by one s | tfjs-store s | speed-up | all files in one "
                   "`fs.cat`/`fs.pipe` batch s | target ≥ 8× | tfjs-store path |")
        out.append("|---|---|---|---|---|---|---|---|")
        for r in slow:
            s = r["seconds"]
            out.append(f"| {r['op']} | {r['store']} | {secs(s.get('one_by_one'))} "
                       f"| {secs(s.get('tfjs'))} | {times_x(r['speedup'])} "
                       f"| {secs(s.get('raw_concurrent'))} | {verdict(r['met'])} "
                       f"| {r.get('via') or 'tfjs_store.save'} |")
    peers = [r for r in results["rows"] if r["section"] == "peer"]
    if peers:
        out.append("")
        out.append(f"### 4. Peers, {peers[0]['size']} model, file:// on local disk "
                   "(vs tfjs-store = peer save+load time / tfjs-store defaults' save+load time)")
        out.append("")
        out.append("| peer | save s | load s | save + load s | vs tfjs-store | save peak RSS "
                   "added MiB | load peak RSS added MiB | import s | installed MiB |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for r in peers:
            if r["error"]:
                out.append(f"| {r['label']} | not measured: {r['error']} | | | | | | | |")
                continue
            imp = "—" if r["import_seconds"] is None else f"{r['import_seconds']:.2f}"
            out.append(f"| {r['label']} | {secs(r['save_s'])} | {secs(r['load_s'])} "
                       f"| {secs(r['total'])} | {times_x(r['vs_ours'])} "
                       f"| {mib(r['save_rss_extra'])} | {mib(r['load_rss_extra'])} | {imp} "
                       f"| {mib(r['install_bytes'])} |")
    startup = [r for r in results["rows"] if r["section"] == "startup"]
    if startup:
        out.append("")
        out.append("### 5. Start-up (median wall time of fresh processes)")
        out.append("")
        out.append("| command | median s | target | met |")
        out.append("|---|---|---|---|")
        for r in startup:
            if "modules" in r:
                value = ("error: " + str(r["error"])) if r["error"] else (
                    ", ".join(r["modules"]) or "none")
                out.append(f"| {r['label']} | {value} | none | {verdict(r['met'])} |")
                continue
            value = secs(r["median"]) if r["median"] is not None else f"fails: {r['error']}"
            target = "—" if r["target"] is None else f"≤ {r['target']} s"
            out.append(f"| {r['label']} | {value} | {target} | {verdict(r['met'])} |")
    errors = [(r["id"], r.get("errors") or r.get("error")) for r in results["rows"]
              if r.get("errors") or r.get("error")]
    if errors:
        out.append("")
        out.append("Errors:")
        for rid, err in errors:
            out.append(f"- {rid}: {err}")
    return "\n".join(out) + "\n"


# -- main -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="tfjs-store benchmarks (see BENCHMARKS.md)")
    parser.add_argument("--smoke", action="store_true",
                        help="CI smoke run: 1 MiB, file+memory+s3, one round, tiny slow link, "
                             "no peers")
    parser.add_argument("--sizes", default="1MiB,100MiB,1GiB")
    parser.add_argument("--stores", default="file,memory,s3,gcs")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds per variant (default 3; 2 for sizes of 1 GiB and more)")
    parser.add_argument("--shard-size", default="4MiB")
    parser.add_argument("--sections", default="speed,slow,peers,startup")
    parser.add_argument("--slow-shards", type=int, default=64)
    parser.add_argument("--slow-shard-size", default="256KiB")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds added per request")
    parser.add_argument("--peer-size", default="100MiB")
    parser.add_argument("--tfjs-py-venv", default=str(DEFAULT_VENV),
                        help="virtualenv with the tensorflowjs package (peer)")
    parser.add_argument("--startup-runs", type=int, default=9)
    parser.add_argument("--s3-endpoint", help="use this S3 server instead of starting moto")
    parser.add_argument("--gcs-endpoint", help="use this GCS server instead of fake-gcs-server")
    parser.add_argument("--handler", metavar="FILE.py:NAME",
                        help="benchmark this handler factory for file/memory/s3/gcs instead of "
                             "tfjs-store's own (FILE.py:NAME, called as NAME(url, **options))")
    parser.add_argument("--out", help="folder for results.json and results.md")
    parser.add_argument("--workdir", help="scratch folder (default: a new temporary folder)")
    args = parser.parse_args(argv)

    global ISOLATE, HANDLER
    if args.handler:
        path, _, name = args.handler.rpartition(":")
        HANDLER = f"{Path(path).resolve()}:{name}"
    sections = set(args.sections.split(","))
    if args.smoke:
        ISOLATE = False
        sizes, stores = [MiB], ["file", "memory", "s3"]
        sections -= {"peers"}
        rounds_for = {MiB: args.rounds or 1}
        slow_shards, slow_shard_size, delay, slow_reps = 16, 16 * 1024, 0.02, 1
        startup_runs = 1
    else:
        sizes = [parse_size(s) for s in args.sizes.split(",") if s]
        stores = [s for s in args.stores.split(",") if s]
        rounds_for = {s: args.rounds or (2 if s >= GiB else 3) for s in sizes}
        slow_shards, slow_shard_size = args.slow_shards, parse_size(args.slow_shard_size)
        delay, slow_reps, startup_runs = args.delay, 3, args.startup_runs
    shard = parse_size(args.shard_size)
    out_dir = Path(args.out) if args.out else (
        BENCH / "results" / time.strftime("%Y%m%d-%H%M%S"))
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="tfjs-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)

    results: dict[str, Any] = {
        "command": "python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(), "rows": [], "handler": HANDLER,
        "settings": {"sizes": [size_label(s) for s in sizes], "stores": stores,
                     "rounds": {size_label(k): v for k, v in rounds_for.items()},
                     "shard_size": shard, "sections": sorted(sections)},
    }
    servers = Servers(workdir, args.s3_endpoint, args.gcs_endpoint)
    started = time.perf_counter()
    try:
        if "speed" in sections:
            results["rows"] += measure_matrix(servers, stores, sizes, rounds_for, shard)
        if "slow" in sections:
            results["rows"] += measure_slow_link(servers, workdir, slow_shards, slow_shard_size,
                                                 delay, slow_reps)
        if "peers" in sections:
            venv = Path(args.tfjs_py_venv) if args.tfjs_py_venv else None
            results["rows"] += measure_peers(workdir, parse_size(args.peer_size), 3, venv, shard)
        if "startup" in sections:
            results["rows"] += measure_startup(startup_runs)
    finally:
        servers.stop()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    results["seconds"] = time.perf_counter() - started
    text = render(results)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (out_dir / "results.md").write_text(text)
    print(text, end="")
    log(f"done in {results['seconds']:.0f} s; results in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
