"""Helpers for testing stores and handlers, shipped with the package.

``FaultyFileSystem`` wraps any fsspec filesystem instance and makes the N-th call that
changes storage fail, to prove that a save interrupted at any step loses nothing::

    import fsspec
    from tfjs_store.handlers.fsspec import FsspecHandler
    from tfjs_store.testing import FaultyFileSystem

    inner = fsspec.filesystem("s3", ...)
    counter = FaultyFileSystem(inner)                      # no fault: count the steps
    FsspecHandler("s3://b/m", filesystem=counter).save(model)
    for n in range(1, counter.count + 1):
        faulty = FaultyFileSystem(inner, fail_at=n, kill=True)
        try:
            FsspecHandler("s3://b/m", filesystem=faulty).save(other_model)
        except Exception:
            pass
        ...  # load with a plain handler: the old or the new model, complete

Calls that change storage are counted by kind: ``"write"`` (``pipe_file``, ``pipe``,
``put_file``, ``touch``, ``makedirs``, ``open`` in a writing mode, and their async
``_``-twins), ``"rename"`` (``mv``, ``rename``), ``"copy"`` (``copy``, ``cp_file``) and
``"delete"`` (``rm``, ``rm_file``, ``rmdir``). The failing call raises ``InjectedFault``
(an ``OSError``) *before* it reaches the wrapped filesystem. With ``kill=True`` every
later call of any kind fails too, as if the process had died at that step. Reads and
everything else pass through unchanged; the paths of reads (``cat_file``, ``cat``,
``open`` for reading, ``get_file``, … and their async twins) are recorded in ``reads``,
so that a test can check a loader stayed inside its folder.

A wrapper around a ``LocalFileSystem`` exposes it as ``local_filesystem``, so that the
fsspec handler keeps its local-disk commit protocol (write a temporary file, rename)
while sending each of those steps through the wrapper.
"""

from __future__ import annotations

import errno
import functools
import inspect
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FAULT_KINDS", "FaultKind", "FaultyFileSystem", "InjectedFault", "StorageCall"]

FaultKind = Literal["write", "rename", "copy", "delete"]
FAULT_KINDS: tuple[FaultKind, ...] = ("write", "rename", "copy", "delete")

_METHODS: dict[FaultKind, str] = {
    "write": "pipe_file pipe put_file put touch makedirs mkdir",
    "rename": "mv rename move",
    "copy": "copy cp_file cp",
    "delete": "rm rm_file rmdir delete",
}
_KINDS: dict[str, FaultKind] = {
    prefix + name: kind
    for kind, names in _METHODS.items()
    for name in names.split()
    for prefix in ("", "_")
}
_READS = frozenset(
    prefix + name
    for name in ("cat_file", "cat", "cat_ranges", "read_block", "head", "tail", "get_file", "get")
    for prefix in ("", "_")
)
_WRITE_MODES = frozenset("wax+")


class InjectedFault(OSError):
    """The error a ``FaultyFileSystem`` raises on purpose."""


@dataclass(frozen=True)
class StorageCall:
    """One counted call: its 1-based number, kind, method name and first path."""

    number: int
    kind: FaultKind
    method: str
    path: str


def _paths(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    value = args[0] if args else kwargs.get("path", kwargs.get("path1", ""))
    if isinstance(value, (list, tuple, dict)):
        return [str(v) for v in value]
    return [str(value)]


def _first_path(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    value = args[0] if args else kwargs.get("path", kwargs.get("path1", ""))
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(str(v) for v in value)
    return str(value)


class FaultyFileSystem:
    """An fsspec filesystem that fails its ``fail_at``-th storage-changing call.

    Parameters
    ----------
    fs:
        The fsspec filesystem instance to wrap (any protocol, sync or async).
    fail_at:
        1-based number of the counted call that fails; ``None`` counts without failing.
    kinds:
        Which kinds of call are counted (default: all of ``FAULT_KINDS``).
    kill:
        After the failing call, fail every later call of any kind (a dead process).

    Attributes
    ----------
    calls:
        Every counted call, in the order they were made (the failed one included).
    reads:
        Every path read (a call reading several adds each), in order.
    """

    def __init__(
        self,
        fs: Any,
        *,
        fail_at: int | None = None,
        kinds: Collection[FaultKind] = FAULT_KINDS,
        kill: bool = False,
    ) -> None:
        if fail_at is not None and (not isinstance(fail_at, int) or fail_at < 1):
            raise ValueError(f"fail_at must be a positive integer or None, got {fail_at!r}")
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {FAULT_KINDS}")
        self.fs = fs
        self.fail_at = fail_at
        self.kinds = frozenset(kinds)
        self.kill = kill
        self.calls: list[StorageCall] = []
        self.reads: list[str] = []
        self.failed: StorageCall | None = None
        self._lock = threading.Lock()

    # -- what the handler asks about ------------------------------------------------

    @property
    def local_filesystem(self) -> Any:
        """The wrapped ``LocalFileSystem`` (paths pass through unchanged), else ``None``."""
        from fsspec.implementations.local import LocalFileSystem

        return self.fs if isinstance(self.fs, LocalFileSystem) else None

    @property
    def count(self) -> int:
        """How many storage-changing calls were counted so far."""
        return len(self.calls)

    @property
    def dead(self) -> bool:
        """True once a ``kill=True`` wrapper has failed its call."""
        return self.kill and self.failed is not None

    def __repr__(self) -> str:
        return f"FaultyFileSystem({self.fs!r}, fail_at={self.fail_at}, kill={self.kill})"

    # -- the fault ------------------------------------------------------------------

    def _check_alive(self, method: str) -> None:
        if self.dead:
            raise InjectedFault(errno.EIO, f"injected fault: storage is gone (called {method})")

    def _count(self, kind: FaultKind, method: str, path: str) -> None:
        with self._lock:
            self._check_alive(method)
            if kind not in self.kinds:
                return
            call = StorageCall(len(self.calls) + 1, kind, method, path)
            self.calls.append(call)
            if call.number == self.fail_at:
                self.failed = call
                raise InjectedFault(
                    errno.EIO, f"injected fault at call {call.number}: {kind} {method}({path})"
                )

    def _wrap(self, method: str, target: Callable[..., Any], kind: FaultKind | None) -> Any:
        if inspect.iscoroutinefunction(target):

            @functools.wraps(target)
            async def call_async(*args: Any, **kwargs: Any) -> Any:
                self._before(method, kind, args, kwargs)
                return await target(*args, **kwargs)

            return call_async

        @functools.wraps(target)
        def call(*args: Any, **kwargs: Any) -> Any:
            self._before(method, kind, args, kwargs)
            return target(*args, **kwargs)

        return call

    def _before(
        self, method: str, kind: FaultKind | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        if method in ("open", "_open"):
            mode = args[1] if len(args) > 1 else kwargs.get("mode", "rb")
            kind = "write" if _WRITE_MODES & set(str(mode)) else None
            if kind is None:
                method = "open-read"
        if kind is None:
            self._check_alive(method)
            if method in _READS or method == "open-read":
                with self._lock:
                    self.reads.extend(_paths(args, kwargs))
        else:
            self._count(kind, method, _first_path(args, kwargs))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "fs":
            raise AttributeError(name)
        value = getattr(self.fs, name)
        if not callable(value):
            return value
        return self._wrap(name, value, _KINDS.get(name))
