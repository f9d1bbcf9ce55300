"""Peak memory and time of ``copy_model`` between stores (issue 13's copy target).

    python bench/copy_memory.py [--size 1GiB] [--pairs file:file,file:s3,s3:file]

A model of ``--size`` (float32 dense layers, 4 MiB shards, as in ``bench/run.py``) is
saved to the source store; then, in a fresh child process per pair, ``copy_model`` runs
with the peak RSS reset right before it (``/proc/self/clear_refs``). The table shows the
RSS the copy added over the process as it stood, and its time; the target is 128 MiB.
moto (S3) is started on 127.0.0.1 by ``tests/support/servers.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

MiB = 1024 * 1024
TARGET_MIB = 128
_CHILD = r"""
import json, os, sys, time
import tfjs_store

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)

spec = json.loads(sys.argv[1])
tfjs_store.list_models(spec["src"], storage_options=spec["src_options"])  # warm clients
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS")
start = time.perf_counter()
info = tfjs_store.copy_model(spec["src"], spec["dst"], src_storage_options=spec["src_options"],
                             dst_storage_options=spec["dst_options"])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rss_extra": status("VmHWM") - before,
                  "bytes": info.weight_data_bytes}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--pairs", default="file:file,file:s3,s3:file")
    args = parser.parse_args()
    from run import parse_size

    size = parse_size(args.size)
    pairs = [tuple(p.split(":")) for p in args.pairs.split(",")]

    from _weights import make_weights

    import tfjs_store

    work = Path(tempfile.mkdtemp(prefix="copy-bench-"))
    urls: dict[str, tuple[str, dict[str, object]]] = {"file": (str(work / "src"), {})}
    moto = None
    if any("s3" in p for p in pairs):
        from tests.support.servers import start_moto

        moto = start_moto(work / "moto")
        s3_options = {"key": "k", "secret": "s", "client_kwargs": {"endpoint_url": moto.url}}
        import fsspec

        fsspec.filesystem("s3", **s3_options).mkdir("bench-copy")
        urls["s3"] = ("s3://bench-copy/src", s3_options)
    weights = make_weights(size, 0)
    for kind in {p[0] for p in pairs}:
        url, options = urls[kind]
        tfjs_store.save(weights, url, storage_options=options)
    del weights
    rows = []
    for n, (src_kind, dst_kind) in enumerate(pairs):
        src, src_options = urls[src_kind]
        dst_base = str(work / f"dst{n}") if dst_kind == "file" else f"s3://bench-copy/dst{n}"
        dst_options = urls[dst_kind][1] if dst_kind in urls else {}
        spec = {"src": src, "dst": dst_base, "src_options": src_options,
                "dst_options": dst_options}
        out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(spec)], check=True,
                             capture_output=True, text=True, env={**os.environ})
        result = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append((src_kind, dst_kind, result))
    print(f"copy_model of {args.size} ({time.strftime('%Y-%m-%d %H:%M')}, "
          f"{os.cpu_count()} cores)\n")
    print("| source | destination | seconds | RSS added (MiB) | target | met |")
    print("|---|---|---|---|---|---|")
    for src_kind, dst_kind, r in rows:
        rss = r["rss_extra"] / MiB
        print(f"| {src_kind} | {dst_kind} | {r['seconds']:.2f} | {rss:.0f} | "
              f"≤ {TARGET_MIB} MiB | {'yes' if rss <= TARGET_MIB else '**no**'} |")
    if moto is not None:
        moto.stop()


if __name__ == "__main__":
    main()
