"""What checking costs a local load (issue 14's target: checked >= 0.95x unchecked).

    python bench/check_cost.py [--size 100MiB] [--rounds 30] [--max-concurrency N] [--cold]

A model of ``--size`` (float32 dense layers, 4 MiB shards, as in ``bench/run.py``) is
saved to a temporary folder; then, in this one process, ``load(url).weights()`` runs
with ``verify=True`` and ``verify=False`` in turn, ``--rounds`` pairs, alternating which
goes first, ``os.sync()`` before each. Interleaved pairs in one process see the same
machine: on a shared one, best-of-many and the median of the pairs' ratios say more than
a few fresh processes (``bench/run.py``'s way). Also printed: the process's CPU time per
load (all threads, ``time.process_time``). When the unchecked load already keeps every
core busy, wall ratio ~ CPU ratio: the checked load can only be as fast as its extra CPU
work (the CRC32C pass) allows.

``--cold`` empties the page cache before every load (``/proc/sys/vm/drop_caches``, root
only), so the files come from the disk: the load the first time after a boot, or of a
model larger than the memory the page cache has.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    from _weights import make_weights
    from run import parse_size

    import tfjs_store
    from tfjs_store.format import integrity

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="100MiB")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--max-concurrency", type=int, default=None)
    parser.add_argument("--cold", action="store_true",
                        help="empty the page cache before every load (root only)")
    args = parser.parse_args()
    size = parse_size(args.size)
    options = {"max_concurrency": args.max_concurrency} if args.max_concurrency else {}
    with tempfile.TemporaryDirectory() as tmp:
        url = Path(tmp, "model").as_uri()
        tfjs_store.save(make_weights(size), url, shard_size_bytes=4 << 20)
        integrity.crc32c_b64(b"warm-up")  # the CRC32C code is chosen on first use
        tfjs_store.load(url, **options).weights()
        times: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        for r in range(args.rounds):
            for verify in ((True, False) if r % 2 == 0 else (False, True)):
                os.sync()
                if args.cold:
                    drop_page_cache()
                gc.collect()
                c0, t0 = time.process_time(), time.perf_counter()
                weights = tfjs_store.load(url, verify=verify, **options).weights()
                times[verify].append(time.perf_counter() - t0)
                cpu[verify].append(time.process_time() - c0)
                del weights
    pairs = [n / v for v, n in zip(times[True], times[False], strict=True)]
    best_v, best_n = min(times[True]), min(times[False])
    cpu_v, cpu_n = min(cpu[True]), min(cpu[False])
    print(f"{args.size}, {args.rounds} pairs, CRC32C code: {integrity.crc32c_code()}, "
          f"{len(os.sched_getaffinity(0))} cores" + (", page cache emptied before each load"
                                                     if args.cold else ""))
    print(f"checked   best {best_v * 1e3:7.1f} ms   CPU {cpu_v * 1e3:7.1f} ms")
    print(f"unchecked best {best_n * 1e3:7.1f} ms   CPU {cpu_n * 1e3:7.1f} ms")
    print(f"ratio (unchecked / checked): best {best_n / best_v:.3f}, median of pairs "
          f"{statistics.median(pairs):.3f}, CPU {cpu_n / cpu_v:.3f}")


def drop_page_cache() -> None:
    """Empty the page cache (clean pages only: ``os.sync()`` comes first)."""
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
    except OSError as exc:
        raise SystemExit(f"--cold needs root (writing /proc/sys/vm/drop_caches: {exc})") from None


if __name__ == "__main__":
    main()
