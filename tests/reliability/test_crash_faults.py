"""Item 1a of issue 9: a save interrupted at every step loses nothing.

For every N, a save of a multi-shard model over an existing one runs on a
``FaultyFileSystem`` that fails its N-th write, rename or delete, either alone
(``kill=False``: the storage hiccups once) or for good (``kill=True``: the process
died there). Then, through a plain handler: the model loads complete, and it is the
old model exactly when the fault came at or before the commit step (the model.json
write on object stores, the rename on a local disk), the new one after; list_models
shows that one whole model; and the next save plus ``clean`` leave only its files.
"""

from __future__ import annotations

import fsspec
import pytest

import tfjs_store
from tfjs_store import StorageError
from tfjs_store.handlers.fsspec import FsspecHandler
from tfjs_store.testing import FaultyFileSystem, InjectedFault

from .common import (
    BACKENDS,
    SHARD_SIZE,
    check_version,
    folder_names,
    referenced,
    strays,
    versioned_model,
)
from .common import shared_options as _options


@pytest.fixture(params=BACKENDS)
def target(request):
    return request.getfixturevalue(f"{request.param}_target")


def _inner(target):
    return fsspec.filesystem(target.name, **_options(target))


def _plain(target):
    return FsspecHandler(target.url, storage_options=_options(target), shard_size_bytes=SHARD_SIZE)


def _reset(target, version):
    """The folder holds exactly one committed model, ``version``."""
    if target.fs.exists(target.path):
        target.fs.rm(target.path, recursive=True)
    _plain(target).save(versioned_model(version))
    assert strays(target.fs, target.path) == []


def _faulty_save(target, version, fail_at, kill, kinds=("write", "rename", "copy", "delete")):
    faulty = FaultyFileSystem(_inner(target), fail_at=fail_at, kill=kill, kinds=kinds)
    handler = FsspecHandler(target.url, filesystem=faulty, shard_size_bytes=SHARD_SIZE)
    error = None
    try:
        handler.save(versioned_model(version))
    except Exception as exc:  # checked below: only our typed error may come out
        error = exc
    return faulty, error


def _commit_call(faulty, target):
    """The number of the call that publishes model.json."""
    for call in faulty.calls:
        if target.name == "file" and call.kind == "rename" and "model.json" in call.path:
            return call.number
        if target.name != "file" and call.kind == "write" and call.path.endswith("/model.json"):
            return call.number
    raise AssertionError(f"no commit step among {faulty.calls}")


def _assert_whole_model(target, expected_version):
    loaded = _plain(target).load()
    assert check_version(loaded) == expected_version
    listed = tfjs_store.list_models(target.url, storage_options=_options(target))
    assert len(listed) == 1, listed
    (info,) = listed.values()
    assert info.weight_data_bytes == loaded.weight_data_bytes


@pytest.mark.parametrize("kill", [True, False], ids=["killed", "one-fault"])
def test_save_interrupted_at_every_step_keeps_old_or_new(target, kill):
    _reset(target, 1)
    counter, error = _faulty_save(target, 2, None, kill=False)
    assert error is None and counter.failed is None
    total = counter.count
    commit = _commit_call(counter, target)
    kinds = {c.kind for c in counter.calls}
    assert {"write", "delete"} <= kinds, counter.calls
    if target.name == "file":
        assert "rename" in kinds
    assert total >= 7  # several shards in two groups, model.json, the removal
    outcomes = []
    for n in range(1, total + 2):
        _reset(target, 1)
        faulty, error = _faulty_save(target, 2, n, kill)
        hit = faulty.failed
        if n > total:
            assert hit is None and error is None
        else:
            assert hit is not None and hit.number == n
        if error is not None:
            assert isinstance(error, StorageError), repr(error)
            assert isinstance(error.__cause__, InjectedFault), repr(error.__cause__)
        expected = 1 if hit is not None and hit.number <= commit else 2
        if hit is not None and hit.number <= commit:
            assert error is not None, f"save reported success though call {n} failed"
        _assert_whole_model(target, expected)
        outcomes.append((n, hit.kind if hit else None, expected, error is not None))
        # The next save and clean leave exactly the new model's files.
        _plain(target).save(versioned_model(3))
        tfjs_store.clean(target.url, older_than=0, storage_options=_options(target))
        assert check_version(_plain(target).load()) == 3
        names = folder_names(target.fs, target.path)
        assert set(names) == referenced(target.fs, target.path), names
    # Every step was attacked, both sides of the commit were seen.
    assert {o[2] for o in outcomes} == {1, 2}
    assert len(outcomes) == total + 1


@pytest.mark.parametrize("kill", [True, False], ids=["killed", "one-fault"])
def test_first_save_interrupted_leaves_no_model_or_a_whole_one(target, kill):
    counter, _ = _faulty_save(target, 2, None, kill=False)
    total = counter.count
    commit = _commit_call(counter, target)
    for n in range(1, total + 1):
        if target.fs.exists(target.path):
            target.fs.rm(target.path, recursive=True)
        faulty, error = _faulty_save(target, 2, n, kill)
        if faulty.failed is not None and faulty.failed.number <= commit:
            assert isinstance(error, StorageError), repr(error)
            with pytest.raises(tfjs_store.ModelNotFoundError):
                _plain(target).load()
            assert tfjs_store.list_models(target.url, storage_options=_options(target)) == {}
        else:
            _assert_whole_model(target, 2)


@pytest.mark.parametrize("kill", [True, False], ids=["killed", "one-fault"])
def test_remove_interrupted_at_every_step_leaves_model_or_nothing(target, kill):
    _reset(target, 1)
    counter = FaultyFileSystem(_inner(target))
    FsspecHandler(target.url, filesystem=counter).remove_model()
    total = counter.count
    assert total >= 2
    for n in range(1, total + 1):
        _reset(target, 1)
        faulty = FaultyFileSystem(_inner(target), fail_at=n, kill=kill)
        try:
            FsspecHandler(target.url, filesystem=faulty).remove_model()
        except StorageError as exc:
            assert isinstance(exc.__cause__, InjectedFault)
        listed = tfjs_store.list_models(target.url, storage_options=_options(target))
        try:
            loaded = _plain(target).load()
        except tfjs_store.ModelNotFoundError:
            assert listed == {}, f"call {n}: a removed model is still listed"
        else:
            assert check_version(loaded) == 1
            assert len(listed) == 1
        tfjs_store.clean(target.url, older_than=0, storage_options=_options(target))
        left = folder_names(target.fs, target.path)
        assert left == [] or set(left) == referenced(target.fs, target.path), left


def test_wrapper_fails_only_the_chosen_kind(memory_target):
    """Counting only deletes: the save goes through and only the removal fails."""
    _reset(memory_target, 1)
    faulty, error = _faulty_save(memory_target, 2, 1, kill=False, kinds=("delete",))
    assert faulty.failed is not None and faulty.failed.kind == "delete"
    assert error is None  # the handler removed the old files one by one instead
    _assert_whole_model(memory_target, 2)
    assert strays(memory_target.fs, memory_target.path) == []


def test_killed_wrapper_refuses_everything_after(memory_target):
    faulty = FaultyFileSystem(_inner(memory_target), fail_at=1, kill=True)
    with pytest.raises(InjectedFault):
        faulty.pipe_file(f"{memory_target.path}/a", b"x")
    assert faulty.dead
    with pytest.raises(InjectedFault):
        faulty.cat_file(f"{memory_target.path}/a")
    with pytest.raises(InjectedFault):
        faulty.ls(memory_target.path)
    assert not memory_target.fs.exists(f"{memory_target.path}/a")
