"""Issue 19 item 9: ``clean`` on a prefix reaches the model folders below it.

Leftovers are made the way real ones are: saves killed mid-way (a ``FaultyFileSystem``
that dies at the model.json commit, and a process SIGKILLed after its first weight
file), over committed models and as first saves that never committed, in folders at
several depths. ``clean(prefix)`` must remove exactly those, report them first with
``dry_run``, and still never touch the files of a save in flight (paused in a thread)
nor those of a model whose JSON is not named ``model.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import fsspec
import pytest

import tfjs_store
from tfjs_store.handlers.fsspec import FsspecHandler
from tfjs_store.testing import FaultyFileSystem

from .common import (
    BACKENDS,
    SHARD_SIZE,
    TAGGED,
    check_version,
    folder_names,
    pause_after_first_file,
    referenced,
    strays,
    versioned_model,
)
from .common import (
    shared_options as _options,
)


@pytest.fixture(params=BACKENDS)
def target(request):
    return request.getfixturevalue(f"{request.param}_target")


def _handler(target, sub, **kwargs):
    return FsspecHandler(f"{target.url}/{sub}", storage_options=_options(target),
                         shard_size_bytes=SHARD_SIZE, **kwargs)


def _killed_at_commit(target, sub, version):
    """A save to ``sub`` that dies (for good) at the step that publishes model.json."""
    inner = fsspec.filesystem(target.name, **_options(target))
    counter = FaultyFileSystem(inner)
    FsspecHandler(f"{target.url}/counting", filesystem=counter,
                  shard_size_bytes=SHARD_SIZE).save(versioned_model(version))
    if target.name == "file":  # the rename of model.json's temporary file
        commit = next(c.number for c in counter.calls
                      if c.kind == "rename" and "/model.json." in c.path)
    else:
        commit = next(c.number for c in counter.calls
                      if c.kind == "write" and c.path.endswith("/model.json"))
    inner.rm(f"{target.path}/counting", recursive=True)
    faulty = FaultyFileSystem(inner, fail_at=commit, kill=True)
    with pytest.raises(tfjs_store.StorageError):
        FsspecHandler(f"{target.url}/{sub}", filesystem=faulty,
                      shard_size_bytes=SHARD_SIZE).save(versioned_model(version))


_SIGKILLED_SAVE = textwrap.dedent("""
    import json, os, signal, sys
    sys.path.insert(0, sys.argv[3])
    from reliability.common import SHARD_SIZE, versioned_model
    from tfjs_store.handlers.fsspec import FsspecHandler

    handler = FsspecHandler(sys.argv[1], storage_options=json.loads(sys.argv[2]),
                            shard_size_bytes=SHARD_SIZE)

    def write_many(jobs, on_file):  # the first weight file lands, then the process dies
        handler.store.write(jobs[0])
        os.kill(os.getpid(), signal.SIGKILL)

    handler.store.write_many = write_many
    handler.save(versioned_model(9))
""")


def _sigkilled_save(target, sub):
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(
        [sys.executable, "-c", _SIGKILLED_SAVE, f"{target.url}/{sub}",
         json.dumps(_options(target)), tests],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == -9, proc.stderr


def _paused_save(target, sub):
    """A save to ``sub`` stopped after its first weight file, in a thread."""
    handler = _handler(target, sub)
    paused, resume = pause_after_first_file(handler)
    outcome: list[object] = []

    def run():
        try:
            outcome.append(handler.save(versioned_model(7)))
        except BaseException as exc:  # pragma: no cover - reported by the test
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert paused.wait(60)
    return thread, resume, outcome


def _all_strays(target, subs):
    out = set()
    for sub in subs:
        out |= {f"{sub}/{n}" for n in strays(target.fs, f"{target.path}/{sub}")}
    return out


@pytest.mark.timeout(240)
def test_clean_on_a_prefix_reaches_every_folder_below_it(target):
    fs, root, options = target.fs, target.path, _options(target)
    _handler(target, "a").save(versioned_model(1))
    _killed_at_commit(target, "a", 2)                    # over a committed model
    _handler(target, "deep/er/b").save(versioned_model(1))
    _killed_at_commit(target, "deep/er/b", 3)            # two levels down
    _killed_at_commit(target, "never", 4)                # a first save that never committed
    dead = ["a", "deep/er/b", "never"]
    if target.name != "memory":  # memory:// ends with its process
        _sigkilled_save(target, "killed")                # a process SIGKILLed mid-save
        dead.append("killed")
    FsspecHandler(f"{target.url}/other/custom.json", storage_options=options,
                  shard_size_bytes=SHARD_SIZE).save(versioned_model(5))
    other_files = folder_names(fs, f"{root}/other")
    assert [n for n in other_files if TAGGED.match(n)]  # its shards carry save-unique names
    thread, resume, outcome = _paused_save(target, "flying")
    try:
        flying = folder_names(fs, f"{root}/flying")
        assert [n for n in flying if n.endswith(".inflight")] and len(flying) >= 2, flying

        expected = _all_strays(target, dead)
        assert len(expected) >= 2 * len(dead), expected  # shards and markers of dead saves
        assert {s.split("/")[0] for s in expected} == {d.split("/")[0] for d in dead}

        def rel(urls):
            return {u.split(root + "/", 1)[1] for u in urls}

        listed = tfjs_store.clean(target.url, dry_run=True, storage_options=options)
        assert rel(listed) == expected
        assert _all_strays(target, dead) == expected

        removed = tfjs_store.clean(target.url, storage_options=options)
        assert sorted(rel(removed)) == sorted(expected)
        assert _all_strays(target, dead) == set()
        assert folder_names(fs, f"{root}/other") == other_files   # another JSON's model
        assert set(flying) <= set(folder_names(fs, f"{root}/flying"))  # in flight
        assert tfjs_store.clean(target.url, storage_options=options) == []
    finally:
        resume.set()
        thread.join(60)
    assert not isinstance(outcome[0], BaseException), outcome
    for sub, version in (("a", 1), ("deep/er/b", 1), ("flying", 7)):
        assert check_version(_handler(target, sub).load()) == version
        assert set(folder_names(fs, f"{root}/{sub}")) == referenced(fs, f"{root}/{sub}")
    assert check_version(tfjs_store.load(f"{target.url}/other/custom.json",
                                          storage_options=options)) == 5


def test_clean_of_a_json_url_stays_in_its_folder(memory_target):
    """``clean(…/model.json)`` names one model: folders below it are not reached."""
    url = memory_target.url
    _killed_at_commit(memory_target, "m/sub", 2)
    tfjs_store.save(versioned_model(1), f"{url}/m", shard_size_bytes=SHARD_SIZE)
    assert tfjs_store.clean(f"{url}/m/model.json") == []
    assert len(tfjs_store.clean(f"{url}/m")) >= 2
