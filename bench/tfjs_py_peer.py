"""The ``tensorflowjs`` Python package as a peer: ``write_weights`` then ``read_weights``
on the harness's weights, timed, with peak RSS per operation.

Runs with the interpreter of a separate virtualenv that has ``tensorflowjs`` (never the
project's own environment; see BENCHMARKS.md):

    VENV/bin/python bench/tfjs_py_peer.py --raw W --specs S --dir D [--reps 3]

Prints one line: ``BENCH-RESULT {json}``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _weights import read_raw

MARKER = "BENCH-RESULT "


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _measure(op):  # type: ignore[no-untyped-def]
    os.sync()
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    base = _status("VmRSS")
    t0 = time.perf_counter()
    result = op()
    seconds = time.perf_counter() - t0
    return seconds, base, _status("VmHWM"), reset, result


def _summary(runs):  # type: ignore[no-untyped-def]
    return {
        "times": [r[0] for r in runs],
        "best": min(r[0] for r in runs),
        "rss_base": [r[1] for r in runs],
        "rss_peak": [r[2] for r in runs],
        "rss_extra": max(r[2] - r[1] for r in runs),
        "peak_reset": all(r[3] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw", required=True)
    parser.add_argument("--specs", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--shard-size", type=int, default=4 * 1024 * 1024)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    t0 = time.perf_counter()
    from tensorflowjs import __version__ as version
    from tensorflowjs.read_weights import read_weights
    from tensorflowjs.write_weights import write_weights

    import_seconds = time.perf_counter() - t0
    weights = read_raw(Path(args.raw), Path(args.specs))
    size = sum(a.nbytes for a in weights.values())
    group = [{"name": n, "data": a} for n, a in weights.items()]
    save, load = [], []
    for rep in range(args.reps):
        folder = Path(args.dir) / f"tensorflowjs-{rep}-{os.getpid()}"
        folder.mkdir(parents=True)
        s = _measure(lambda f=folder: write_weights([group], str(f), args.shard_size))
        manifest = s[4]
        save.append(s[:4])
        r = _measure(lambda f=folder, m=manifest: read_weights(m, str(f)))
        loaded = r[4]
        if rep == 0:
            got = sum(e["data"].nbytes for g in loaded for e in g)
            if got != size:
                raise AssertionError(f"read_weights gave {got} bytes, expected {size}")
        del loaded
        load.append(r[:4])
        s = r = None  # type: ignore[assignment]
        shutil.rmtree(folder, ignore_errors=True)
    out = {"ok": True, "version": version, "import_seconds": import_seconds, "bytes": size,
           "save": _summary(save), "load": _summary(load)}
    sys.stdout.write(MARKER + json.dumps(out) + "\n")


if __name__ == "__main__":
    try:
        main()
    except BaseException as exc:
        import traceback

        traceback.print_exc()
        sys.stdout.write(MARKER + json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
                         + "\n")
        sys.exit(1)
