"""Buffers that weight bytes are read into.

A read into a buffer is a copy by the kernel (``readinto`` from a file or a socket), and
the kernel copies much faster into a destination aligned to a cache line: on the machines
this was measured on (x86-64, ``rep movsb``), a local load of 100 MiB took 24 ms of CPU
into numpy's own allocation (16 bytes past a page boundary) and 18.5 ms into one aligned
to 64 bytes. The group buffers a load fills (every weight file read straight into its
place) come from here.
"""

from __future__ import annotations

import numpy

__all__ = ["ALIGNMENT", "empty_buffer"]

ALIGNMENT = 64
"""The start of every buffer is a multiple of this many bytes (a cache line)."""


def empty_buffer(nbytes: int) -> numpy.ndarray:
    """``nbytes`` uninitialised bytes (no zero-fill pass) starting at an address that is a
    multiple of ``ALIGNMENT``: a contiguous, writable uint8 array. Arrays viewing it keep
    the allocation alive as numpy arrays do."""
    raw = numpy.empty(nbytes + ALIGNMENT, numpy.uint8)
    skip = -raw.ctypes.data % ALIGNMENT
    return raw[skip : skip + nbytes]
