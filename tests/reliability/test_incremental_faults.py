"""Issue 17 (Hypothesis part): content-named files under saves, copies, kills and cleans.

A state machine drives one folder with models that share most of their shards (a
fine-tuning loop: the base changes every third version, the head every version), so
saves and copies reuse files already stored. Every save, copy and clean runs through a
``FaultyFileSystem`` that may fail one step, alone (a hiccup) or for good (the process
died there). After every step the folder's model loads whole and is either the model
before the step or the one the step wrote; after every clean that ran to its end, and
at the end of every run, the folder holds exactly model.json and the files it names.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile

import fsspec
import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import tfjs_store
from tfjs_store import ModelArtifacts, StorageError
from tfjs_store.handlers.fsspec import FsspecHandler
from tfjs_store.testing import FaultyFileSystem

from .common import folder_names, referenced, scaled

SHARD = 256
_counter = itertools.count()


def tuned_model(version: int) -> ModelArtifacts:
    """A 300-float base that changes every third version, then a 20-float head that
    changes every version: most shards are shared with the previous version."""
    base = np.random.default_rng(version // 3).standard_normal(300, dtype=np.float32)
    head = np.random.default_rng(10**6 + version).standard_normal(20, dtype=np.float32)
    return ModelArtifacts.from_weights(
        {"base": base, "head": head}, user_defined_metadata={"version": version}
    )


def _version(url: str, options: dict) -> int | None:
    """The version of the folder's model, after checking every byte of it."""
    try:
        loaded = tfjs_store.load(url, storage_options=options)
    except tfjs_store.ModelNotFoundError:
        return None
    version = (loaded.user_defined_metadata or {})["version"]
    want = tuned_model(version)
    assert b"".join(bytes(b) for b in loaded.buffers) == b"".join(
        bytes(b) for b in want.buffers
    ), f"v{version}: weight bytes differ"
    return int(version)


class IncrementalFolder(RuleBasedStateMachine):
    protocol = "memory"

    def __init__(self) -> None:
        super().__init__()
        if self.protocol == "memory":
            self.path = f"/hyp-incremental/{next(_counter)}"
            self.fs = fsspec.filesystem("memory")
            self.root = None
        else:
            self.root = tempfile.mkdtemp(prefix="hyp-incremental-")
            self.path = f"{self.root}/model"
            self.fs = fsspec.filesystem("file")
        self.url = f"{self.protocol}://{self.path}"
        self.source_url = f"{self.url}-source"
        self.current: int | None = None
        self.next_version = 0

    def teardown(self) -> None:
        try:
            if self.current is not None:
                tfjs_store.clean(self.url)
                self._holds_exactly_its_files()
        finally:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
            else:
                for path in (self.path, f"{self.path}-source"):
                    if self.fs.exists(path):
                        self.fs.rm(path, recursive=True)

    def _faulty(self, fail_at: int | None, kill: bool) -> FaultyFileSystem:
        return FaultyFileSystem(self.fs, fail_at=fail_at, kill=kill)

    def _after(self, before: int | None, wrote: int, faulty: FaultyFileSystem) -> None:
        now = _version(self.url, {})
        if faulty.failed is None:
            assert now == wrote
        else:
            assert now in (before, wrote), (before, wrote, now)
        self.current = now

    def _holds_exactly_its_files(self) -> None:
        names = folder_names(self.fs, self.path)
        assert set(names) == referenced(self.fs, self.path), names

    @rule(step=st.integers(1, 3), fail_at=st.none() | st.integers(1, 12), kill=st.booleans())
    def save(self, step: int, fail_at: int | None, kill: bool) -> None:
        self.next_version += step
        version = self.next_version
        faulty = self._faulty(fail_at, kill)
        before = self.current
        try:
            FsspecHandler(self.url, filesystem=faulty, shard_size_bytes=SHARD).save(
                tuned_model(version)
            )
        except StorageError:
            assert faulty.failed is not None
        self._after(before, version, faulty)

    @rule(step=st.integers(0, 2), fail_at=st.none() | st.integers(1, 12), kill=st.booleans())
    def copy_in(self, step: int, fail_at: int | None, kill: bool) -> None:
        """A model saved elsewhere is copied over this one (``copy_model``'s streaming
        path), maybe killed part-way: the next copy reuses what landed."""
        version = self.next_version + step
        self.next_version = version
        FsspecHandler(self.source_url, shard_size_bytes=SHARD).save(tuned_model(version))
        faulty = self._faulty(fail_at, kill)
        before = self.current
        target = FsspecHandler(self.url, filesystem=faulty)
        try:
            target.copy_from(FsspecHandler(self.source_url))
        except StorageError:
            assert faulty.failed is not None
        self._after(before, version, faulty)

    @precondition(lambda self: self.current is not None)
    @rule(fail_at=st.none() | st.integers(1, 4), kill=st.booleans())
    def clean(self, fail_at: int | None, kill: bool) -> None:
        faulty = self._faulty(fail_at, kill)
        try:
            FsspecHandler(self.url, filesystem=faulty).clean()
        except StorageError:
            assert faulty.failed is not None
        if faulty.failed is None:
            self._holds_exactly_its_files()

    @invariant()
    def loads_whole(self) -> None:
        assert _version(self.url, {}) == self.current


class IncrementalFolderOnDisk(IncrementalFolder):
    protocol = "file"


TestIncrementalMemory = IncrementalFolder.TestCase
TestIncrementalMemory.settings = settings(
    max_examples=scaled(30, 300), stateful_step_count=12, deadline=None
)
TestIncrementalDisk = IncrementalFolderOnDisk.TestCase
TestIncrementalDisk.settings = settings(
    max_examples=scaled(15, 150), stateful_step_count=10, deadline=None
)


def test_the_machine_shares_files_between_versions(tmp_path) -> None:
    """The state machine exercises reuse: consecutive versions share shards."""
    url = str(tmp_path / "m")
    tfjs_store.save(tuned_model(3), url, shard_size_bytes=SHARD)
    first = set(folder_names(fsspec.filesystem("file"), url))
    tfjs_store.save(tuned_model(4), url, shard_size_bytes=SHARD)
    second = set(folder_names(fsspec.filesystem("file"), url))
    shared = {n for n in first & second if n.endswith(".bin")}
    assert len(shared) >= 3, (first, second)
