"""Local saves of two source trees, A and B, in interleaved rounds (for a machine that
others are loading: each round runs both, in alternating order, so a busy moment hits
both sides alike). Reports wall and CPU time (all threads) per save, and B/A.

    python bench/ab_save.py --a /tmp/old-tree --b . --size 100MiB --rounds 12 --reps 7

Each side runs in its own process with ``PYTHONPATH`` set to its tree; weights are
``_weights.make_weights`` (the harness's model), saved with 4 MiB shards to a fresh
folder per save, after ``os.sync()``; the first save of each process is a warm-up.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _size(text: str) -> int:
    units = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def child(size: int, reps: int, layout: str, checksum: str, workdir: str) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from _weights import make_weights

    import tfjs_store

    weights = make_weights(size)
    options: dict[str, Any] = {"shard_size_bytes": 4 << 20, "layout": layout}
    if checksum != "default":
        options["checksum"] = None if checksum == "none" else checksum
    base = Path(workdir) / f"ab-{uuid.uuid4().hex[:8]}"
    wall: list[float] = []
    cpu: list[float] = []
    for rep in range(reps + 1):
        folder = base / str(rep)
        folder.mkdir(parents=True)
        os.sync()
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        tfjs_store.save(weights, folder.as_uri(), **options)
        t1, c1 = time.perf_counter(), time.process_time()
        if rep:
            wall.append(t1 - t0)
            cpu.append(c1 - c0)
        shutil.rmtree(folder)
    shutil.rmtree(base, ignore_errors=True)
    return {"wall": wall, "cpu": cpu, "tree": tfjs_store.__file__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="source tree A (the baseline)")
    parser.add_argument("--b", required=True, help="source tree B")
    parser.add_argument("--size", default="100MiB")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--reps", type=int, default=5, help="saves per process and round")
    parser.add_argument("--layout", default="shards")
    parser.add_argument("--checksum", default="default", help="crc32c, sha256, none")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = _size(args.size)
    workdir = args.workdir or tempfile.gettempdir()
    if args.child:
        print(json.dumps(child(size, args.reps, args.layout, args.checksum, workdir)))
        return 0
    trees = {"A": str(Path(args.a).resolve()), "B": str(Path(args.b).resolve())}
    runs: dict[str, dict[str, list[float]]] = {s: {"wall": [], "cpu": []} for s in trees}
    ratios: dict[str, list[float]] = {"wall": [], "cpu": []}
    for rnd in range(args.rounds):
        medians: dict[str, dict[str, float]] = {}
        for side in ("A", "B") if rnd % 2 == 0 else ("B", "A"):
            env = dict(os.environ, PYTHONPATH=trees[side])
            argv_child = [sys.executable, str(Path(__file__).resolve()), "--child",
                          "--a", trees["A"], "--b", trees["B"], "--size", str(size),
                          "--reps", str(args.reps), "--layout", args.layout,
                          "--checksum", args.checksum, "--workdir", workdir]
            out = subprocess.run(argv_child, env=env, capture_output=True, text=True,
                                 timeout=3600, check=False)
            if out.returncode:
                print(out.stdout[-2000:], out.stderr[-4000:], file=sys.stderr)
                return 1
            result = json.loads(out.stdout.strip().splitlines()[-1])
            if not result["tree"].startswith(trees[side]):
                print(f"side {side} imported {result['tree']}", file=sys.stderr)
                return 1
            medians[side] = {}
            for key in ("wall", "cpu"):
                runs[side][key] += result[key]
                medians[side][key] = statistics.median(result[key])
        for key in ratios:
            ratios[key].append(medians["B"][key] / medians["A"][key])
        print(f"round {rnd + 1}: wall A {medians['A']['wall']:.4f} B {medians['B']['wall']:.4f}"
              f" | cpu A {medians['A']['cpu']:.4f} B {medians['B']['cpu']:.4f}", flush=True)
    for side in trees:
        cells = " | ".join(
            f"{k} min {min(v):.4f} median {statistics.median(v):.4f}" for k, v in runs[side].items()
        )
        print(f"{side} ({trees[side]}): {cells} (n={len(runs[side]['wall'])})")
    print("B/A, median of the rounds' median ratios: "
          + ", ".join(f"{k} {statistics.median(v):.3f}" for k, v in ratios.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
