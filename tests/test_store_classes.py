"""Which FsspecStore subclass serves which filesystem (protocols.STORE_CLASSES): the
split per backend keeps what each store does, whoever makes it."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pytest

from tfjs_store.stores.fsspec import FsspecStore
from tfjs_store.stores.local import LocalStore
from tfjs_store.stores.memory import MemoryStore
from tfjs_store.stores.renaming import RenamingStore


@pytest.mark.parametrize(
    ("url", "cls", "cas_kind"),
    [
        ("memory://classes/m1", MemoryStore, "memory"),
        ("dir::memory://classes/m1", MemoryStore, None),  # a wrapper: a plain put
        ("simplecache::memory://classes/m1", MemoryStore, None),
        ("zip://m1::memory://classes/a.zip", FsspecStore, None),
    ],
)
def test_the_store_class_follows_the_protocol_under_any_wrapper(
    url: str, cls: type[FsspecStore], cas_kind: str | None
) -> None:
    if url.startswith("zip://"):
        fsspec.filesystem("memory").pipe_file("/classes/a.zip", _empty_zip())
    store = FsspecStore.from_url(url)
    assert type(store) is cls
    assert store.cas_kind == cas_kind
    assert store.supports_conditional_commit is (cas_kind is not None)


def test_local_disk_and_dir_over_it(tmp_path: Path) -> None:
    local = FsspecStore.from_url(str(tmp_path / "m1"))
    assert type(local) is LocalStore and local.cas_kind == "local"
    assert local.mmap is not FsspecStore.mmap
    wrapped = FsspecStore.from_url(f"dir::file://{tmp_path}/m1")
    assert type(wrapped) is RenamingStore and wrapped.rename_replaces
    assert not wrapped.supports_conditional_commit


def test_a_subclass_is_made_as_itself() -> None:
    class Mine(FsspecStore):
        pass

    fs = fsspec.filesystem("memory")
    assert type(Mine(fs, "/classes/mine")) is Mine
    assert type(FsspecStore(fs, "/classes/mine")) is MemoryStore


def _empty_zip() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("m1/model.json", "{}")
    return buf.getvalue()


@pytest.mark.parametrize("cores", [1, 2, 8, 64])
def test_copies_in_memory_read_on_one_thread_a_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cores: int
) -> None:
    """Reading local files (out of the page cache) and memory:// files is CPU work: one
    thread a core (at least 2, at most ``max_concurrency``); a network store keeps
    ``max_concurrency`` reads waiting at once."""
    import tfjs_store.stores.base as base

    monkeypatch.setattr(base, "usable_cores", lambda: cores)
    local = FsspecStore.from_url(str(tmp_path / "m1"))
    memory = FsspecStore.from_url("memory://classes/workers")
    for store in (local, memory):
        assert store.max_concurrency == 16
        assert store.read_workers == min(16, max(2, cores))
        store.max_concurrency = 1
        assert store.read_workers == 1
    fsspec.filesystem("memory").pipe_file("/classes/a.zip", _empty_zip())
    zipped = FsspecStore.from_url("zip://m1::memory://classes/a.zip")
    assert type(zipped) is FsspecStore and zipped.read_workers == zipped.max_concurrency
