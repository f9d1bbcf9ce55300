"""How cheap could checking a local load get? The ceiling, measured outside the package.

    python bench/copy_check_ceiling.py [--size 100MiB] [--rounds 40]

Issue 14 asks a checked local load to take at most 1/0.95 of the unchecked one. This
models the load's inner loop alone (one file of ``--size`` in page cache, read in 4 MiB
pieces on 2 threads into one buffer, as ``ModelHandler._read_into_groups`` does) and
times ways of filling the buffer, with and without a CRC32C of every byte:

- ``read``: ``os.preadv`` into numpy's own allocation (16 bytes past a page boundary);
- ``read, aligned``: the same into a buffer aligned to 64 bytes (``tfjs_store.buffers``);
- ``+ crc32c`` / ``+ fold``: then the CRC32C of each piece (the ``crc32c`` package, or
  the AVX-512 fold of ``copy_check_ceiling.c``);
- ``mmap + memcpy``: the file mapped and copied by glibc's ``memcpy``;
- ``mmap + fold copy``: mapped, and copied by a loop that folds the CRC32C as it copies.

The C file is compiled here with gcc (x86-64 with AVX-512 VPCLMULQDQ; the rows that need
it are skipped elsewhere). It is a measurement, not a code path: mapped files raise
SIGBUS when truncated under the copy, which a load must not do.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import mmap
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
PIECE = 4 << 20
THREADS = 2
POLY = 0x82F63B78  # CRC32C, reflected


def x_power_mod(e: int) -> int:
    """x^e mod P, reflected (bit i = coefficient of x^(31-i))."""
    r = 0x80000000
    for _ in range(e):
        r = (r >> 1) ^ (POLY if r & 1 else 0)
    return r


def build(tmp: str) -> ctypes.CDLL | None:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if not all(f in flags.split() for f in ("avx512f", "vpclmulqdq", "sse4_2")):
        return None
    out = os.path.join(tmp, "ceiling.so")
    subprocess.run(["gcc", "-O3", "-shared", "-fPIC", "-o", out,
                    str(HERE / "copy_check_ceiling.c")], check=True)
    lib = ctypes.CDLL(out)
    lib.fold_copy.restype = ctypes.c_uint32
    lib.fold_copy.argtypes = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    lib.plain_copy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    lib.set_fold_constants.argtypes = [ctypes.c_uint64, ctypes.c_uint64]
    lib.set_fold_constants(x_power_mod(8 * 256 + 64 - 33), x_power_mod(8 * 256 - 33))
    return lib


def self_test(lib: ctypes.CDLL) -> None:
    import crc32c

    rng = np.random.default_rng(0)
    for n in [*range(0, 1100, 7), 4096 + 256, (1 << 20) + 333]:
        data = rng.integers(0, 256, n, np.uint8)
        out = np.zeros(n, np.uint8)
        seed = int(rng.integers(0, 2**32))
        got = lib.fold_copy(seed, data.ctypes.data, out.ctypes.data, n)
        assert got == crc32c.crc32c(data, seed) and (out == data).all(), n


def main() -> None:
    import crc32c
    from run import parse_size

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="100MiB")
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    size = parse_size(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        lib = build(tmp)
        if lib is not None:
            self_test(lib)
        path = os.path.join(tmp, "weights.bin")
        with open(path, "wb") as f:
            f.write(np.random.default_rng(1).integers(0, 256, size, np.uint8).tobytes())
        os.sync()
        fd = os.open(path, os.O_RDONLY)

        def aligned() -> np.ndarray:
            raw = np.empty(size + 64, np.uint8)
            skip = -raw.ctypes.data % 64
            return raw[skip : skip + size]

        def read(buf: np.ndarray, lo: int, hi: int) -> None:
            os.preadv(fd, [memoryview(buf)[lo:hi]], lo)

        def mapped(copy: Callable[[int, int, int], object]) -> Callable[..., None]:
            def fill(buf: np.ndarray, lo: int, hi: int) -> None:
                with mmap.mmap(fd, hi - lo, offset=lo, prot=mmap.PROT_READ) as m:
                    src = np.frombuffer(m, np.uint8)
                    copy(src.ctypes.data, buf.ctypes.data + lo, hi - lo)
                    del src
            return fill

        variants: dict[str, tuple[Callable[[], np.ndarray], Callable[..., None]]] = {
            "read": (lambda: np.empty(size, np.uint8), read),
            "read, aligned": (aligned, read),
            "read, aligned + crc32c": (
                aligned, lambda b, lo, hi: (read(b, lo, hi), crc32c.crc32c(b[lo:hi]))),
        }
        if lib is not None:
            variants["read, aligned + fold"] = (
                aligned,
                lambda b, lo, hi: (read(b, lo, hi),
                                   lib.fold_copy(0, b.ctypes.data + lo, None, hi - lo)))
            variants["mmap + memcpy"] = (aligned, mapped(lib.plain_copy))
            variants["mmap + fold copy"] = (
                aligned, mapped(lambda s, d, n: lib.fold_copy(0, s, d, n)))

        def once(alloc: Callable[[], np.ndarray], fill: Callable[..., None]) -> tuple[float, float]:
            c0, t0 = time.process_time(), time.perf_counter()
            buf = alloc()
            step = -(-size // THREADS)

            def work(lo: int, hi: int) -> None:
                for pos in range(lo, hi, PIECE):
                    fill(buf, pos, min(hi, pos + PIECE))

            threads = [threading.Thread(target=work, args=(lo, min(size, lo + step)))
                       for lo in range(0, size, step)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return time.perf_counter() - t0, time.process_time() - c0

        names = list(variants)
        times: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
        for r in range(args.rounds):
            for name in names if r % 2 else names[::-1]:
                gc.collect()
                times[name].append(once(*variants[name]))
        os.close(fd)
    base = statistics.median(t for t, _ in times["read, aligned"])
    print(f"{args.size}, {args.rounds} rounds, {THREADS} threads, {PIECE >> 20} MiB pieces"
          + ("" if lib else " (no AVX-512 VPCLMULQDQ here: fold rows skipped)"))
    print("| variant | best ms | median ms | CPU ms (best) | median vs `read, aligned` |")
    print("|---|---|---|---|---|")
    for name in names:
        wall = [t for t, _ in times[name]]
        cpu = [c for _, c in times[name]]
        print(f"| {name} | {min(wall) * 1e3:.1f} | {statistics.median(wall) * 1e3:.1f} | "
              f"{min(cpu) * 1e3:.1f} | {base / statistics.median(wall):.2f}× |")


if __name__ == "__main__":
    main()
