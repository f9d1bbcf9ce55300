"""One weight of a big model, read alone: ``open_model`` against the targets of issue 15.

    python bench/partial_read.py                  # 1 GiB models (a few minutes)
    python bench/partial_read.py --size 128MiB    # quicker

1. S3 (moto): one 4 MiB weight that straddles two 4 MiB shards of a SIZE model, through a
   counting proxy: requests and bytes after model.json (target: <= 3, <= weight + 64 KiB).
2. The same model through the bridge over http (the bridge over a local folder), counted
   the same way.
3. Local: ``open_model`` + one 6 MiB weight (touched) against a full ``load`` (weights as
   arrays), each in a fresh child process, best of 3; the child's peak RSS over what it
   held before (target: <= 1/20 of the time, RSS <= weight + 16 MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
MiB = 1024 * 1024


def _size(text: str) -> int:
    units = {"KiB": 1024, "MiB": MiB, "GiB": 1024 * MiB}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def _weights(total: int, each: int) -> dict[str, Any]:
    """A 1 MiB head, then weights of ``each`` bytes up to ``total``: every weight after
    the head straddles two 4 MiB shards."""
    import numpy as np

    rng = np.random.default_rng(0)
    out = {"head": rng.standard_normal(MiB // 4).astype("f4")}
    pos, i = MiB, 0
    while pos + each <= total:
        out[f"layer{i:04d}/kernel"] = rng.standard_normal(each // 4).astype("f4")
        pos += each
        i += 1
    return out


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(task: str, url: str, name: str) -> None:
    """One measurement in this fresh process; prints a JSON line."""
    import numpy as np

    import tfjs_store

    tfjs_store.open_model, tfjs_store.load  # noqa: B018 - imports done before timing
    import tfjs_store.handlers.fsspec
    import tfjs_store.reader

    before = _rss_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak
    start = time.perf_counter()
    if task == "open":
        with tfjs_store.open_model(url) as reader:
            arr = reader[name]
            float(np.sum(arr))  # touch every page
            nbytes = arr.nbytes
            del arr
    else:
        weights = tfjs_store.load(url).weights()
        nbytes = sum(w.nbytes for w in weights.values())
        del weights
    seconds = time.perf_counter() - start
    peak = _rss_kib("VmHWM")
    print(json.dumps({"seconds": seconds, "rss_extra": (peak - before) * 1024,
                      "bytes": nbytes}))


def _run_child(task: str, url: str, name: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, __file__, "--child", task, url, name],
                         capture_output=True, text=True, env=env, timeout=900, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _counted(proxy: Any, read: Any) -> dict[str, Any]:
    mark = len(proxy.exchanges)
    read()
    done = proxy.since(mark)
    return {"requests": len(done), "bytes": sum(e.body_bytes for e in done),
            "ranges": [e.range for e in done]}


def bench_s3(weights: dict[str, Any], name: str, work: Path) -> dict[str, Any]:
    from support.counting_proxy import counting_proxy
    from support.servers import s3_storage_options, start_moto

    import tfjs_store

    server = start_moto(work / "moto")
    try:
        options = s3_storage_options(server.url)
        import fsspec

        fsspec.filesystem("s3", **options).mkdir("bench")
        tfjs_store.save(weights, "s3://bench/m", storage_options=options)
        with counting_proxy(server.url) as proxy:
            via = {**options, "endpoint_url": proxy.url}
            with tfjs_store.open_model("s3://bench/m", storage_options=via) as reader:
                return _counted(proxy, lambda: reader[name])
    finally:
        server.stop()


def bench_bridge(folder: Path, name: str) -> dict[str, Any]:
    from support.browser import running_bridge
    from support.counting_proxy import counting_proxy

    import tfjs_store

    with running_bridge(str(folder.parent)) as base, counting_proxy(base) as proxy:
        url = f"{proxy.url}/models/{folder.name}/model.json"
        with tfjs_store.open_model(url) as reader:
            return _counted(proxy, lambda: reader[name])


def bench_local(url: str, name: str, rounds: int) -> dict[str, Any]:
    opened = [_run_child("open", url, name) for _ in range(rounds)]
    loaded = [_run_child("load", url, name) for _ in range(rounds)]
    best_open = min(opened, key=lambda r: r["seconds"])
    best_load = min(loaded, key=lambda r: r["seconds"])
    return {"open_seconds": best_open["seconds"], "load_seconds": best_load["seconds"],
            "ratio": best_open["seconds"] / best_load["seconds"],
            "open_rss_extra": max(r["rss_extra"] for r in opened),
            "weight_bytes": best_open["bytes"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma list of s3,bridge,local")
    parser.add_argument("--child", nargs=3, metavar=("TASK", "URL", "NAME"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    import tfjs_store

    total, skip = _size(args.size), set(filter(None, args.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="tfjs-partial-"))
    results: dict[str, Any] = {"size": total}
    try:
        w4 = _weights(total, 4 * MiB)
        name4 = "layer0100/kernel" if "layer0100/kernel" in w4 else list(w4)[-1]
        if "s3" not in skip:
            results["s3"] = {**bench_s3(w4, name4, work), "weight_bytes": w4[name4].nbytes}
            print("s3", results["s3"], flush=True)
        if "bridge" not in skip:
            tfjs_store.save(w4, str(work / "http" / "m4"))
            results["bridge"] = {**bench_bridge(work / "http" / "m4", name4),
                                 "weight_bytes": w4[name4].nbytes}
            print("bridge", results["bridge"], flush=True)
        del w4
        if "local" not in skip:
            w6 = _weights(total, 6 * MiB)
            name6 = "layer0100/kernel" if "layer0100/kernel" in w6 else list(w6)[-1]
            tfjs_store.save(w6, str(work / "local" / "m6"))
            del w6
            results["local"] = bench_local(str(work / "local" / "m6"), name6, args.rounds)
            print("local", results["local"], flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
