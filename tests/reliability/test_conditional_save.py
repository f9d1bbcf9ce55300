"""Issue 16: many writers, one truth.

Conditional saves (``if_match`` / ``if_none_match``) against real stores, the version
tokens (``SaveResult.version``, ``model_version``, ``ModelArtifacts.stored_version``),
read-modify-write races of 8 writers (threads on memory and S3, processes on local
files) that must lose no update, and the cleanup rule: a save in flight keeps its files
whatever another writer cleans.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import tfjs_store
from tfjs_store import ConflictError, OptionError
from tfjs_store.handler import INFLIGHT_LEASE_SECONDS
from tfjs_store.handlers.fsspec import FsspecHandler

from .common import HEAVY, folder_names, pause_after_first_file, scaled, strays
from .common import fresh_options as _options

WRITERS = 8
INCREMENTS = {"memory": scaled(5, 50), "file": scaled(5, 50), "s3": scaled(2, 50),
              "gcs": scaled(2, 50), "az": scaled(2, 50)}
"""Successful increments per writer (CI: 8 x 5, 8 x 2 on the cloud servers, where each
takes ~0.7 s; TFJS_STORE_HEAVY=1: 8 x 50)."""

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("file", id="file"),
    pytest.param("s3", id="s3", marks=pytest.mark.s3),
    pytest.param("gcs", id="gcs", marks=pytest.mark.gcs),
    pytest.param("az", id="az", marks=pytest.mark.azure),
]


def counter_model(count: int) -> dict[str, np.ndarray]:
    """A model whose every weight byte follows from ``count`` (a torn one cannot pass)."""
    return {
        "count": np.array([count], np.int32),
        "kernel": np.full(300, count, np.float32),
        "bias": np.arange(count, count + 200, dtype=np.int32),
    }


def read_count(artifacts) -> int:
    weights = artifacts.weights()
    count = int(weights["count"][0])
    assert np.array_equal(weights["kernel"], np.full(300, count, np.float32)), "torn kernel"
    assert np.array_equal(weights["bias"], np.arange(count, count + 200, dtype=np.int32))
    return count


# -- the tokens and the refusals ---------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_versions_and_refused_saves(backend, request):
    target = request.getfixturevalue(f"{backend}_target")
    options = _options(target)
    url = target.url
    assert tfjs_store.model_version(url, storage_options=options) is None

    first = tfjs_store.save(counter_model(1), url, storage_options=options,
                            if_none_match="*", shard_size_bytes=512)
    assert first.version
    assert tfjs_store.model_version(url, storage_options=options) == first.version
    loaded = tfjs_store.load(url, storage_options=options)
    assert loaded.stored_version == first.version
    files_v1 = target.files()

    # if_none_match="*" when there is a model: refused, nothing changes
    with pytest.raises(ConflictError) as info:
        tfjs_store.save(counter_model(2), url, storage_options=options,
                        if_none_match="*", shard_size_bytes=512)
    assert info.value.current == first.version
    assert target.files() == files_v1

    second = tfjs_store.save(counter_model(2), url, storage_options=options,
                             if_match=first.version, shard_size_bytes=512)
    assert second.version and second.version != first.version
    assert read_count(tfjs_store.load(url, storage_options=options)) == 2
    files_v2 = target.files()

    # a stale token: refused, nothing visible changes, no weight file left behind
    with pytest.raises(ConflictError, match="if_match"):
        tfjs_store.save(counter_model(3), url, storage_options=options,
                        if_match=first.version, shard_size_bytes=512)
    assert target.files() == files_v2
    assert read_count(tfjs_store.load(url, storage_options=options)) == 2
    assert tfjs_store.model_version(url, storage_options=options) == second.version


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_conflict_found_at_commit_removes_the_weights_written(backend, request):
    """The early check passes, another writer commits while the weights are written:
    the commit itself (the storage's precondition) refuses, and the refused save's
    weight files are gone."""
    target = request.getfixturevalue(f"{backend}_target")
    options = _options(target)
    url = target.url
    first = tfjs_store.save(counter_model(1), url, storage_options=options,
                            shard_size_bytes=512)
    assert first.version  # an unconditional save tells the version it made too
    handler = FsspecHandler(url, storage_options=options, shard_size_bytes=512)
    write_many = handler.store.write_many
    fired = []

    def interfering_write_many(jobs, on_file):
        fired.append(tfjs_store.save(counter_model(7), url, storage_options=options,
                                     shard_size_bytes=512))
        write_many(jobs, on_file)

    handler.store.write_many = interfering_write_many  # type: ignore[method-assign]
    with pytest.raises(ConflictError):
        tfjs_store.save(counter_model(2), handler, if_match=first.version)
    assert len(fired) == 1
    assert read_count(tfjs_store.load(url, storage_options=options)) == 7
    assert strays(target.fs, target.path) == []


def test_bad_conditions_are_clear_errors(memory_target):
    url = memory_target.url
    with pytest.raises(ValueError, match='only "\\*"'):
        tfjs_store.save(counter_model(1), url, if_none_match="abc")
    with pytest.raises(ValueError, match="not both"):
        tfjs_store.save(counter_model(1), url, if_match="x", if_none_match="*")
    assert memory_target.files() == []


def test_a_store_that_cannot_compare_refuses_a_conditional_save(tmp_path):
    """A cache wrapper cannot compare and write in one step: the conditional save is an
    OptionError before anything is written, never a silent unconditional write."""
    url = f"simplecache::memory://cas-refused-{os.getpid()}/m"
    with pytest.raises(OptionError, match="cannot commit conditionally"):
        tfjs_store.save(counter_model(1), url, if_none_match="*")
    with pytest.raises(OptionError):
        tfjs_store.save(counter_model(1), url, if_match="abc")
    assert tfjs_store.model_version(f"memory://cas-refused-{os.getpid()}/m") is None


# -- read-modify-write races ----------------------------------------------------------


def increment_until(url: str, options: dict, successes: int) -> tuple[int, int]:
    """Read, add one, save with if_match; retry on conflict. (successes, conflicts)"""
    handler = FsspecHandler(url, storage_options=options, shard_size_bytes=512)
    done = conflicts = 0
    while done < successes:
        artifacts = tfjs_store.load(handler)
        count = read_count(artifacts)
        try:
            tfjs_store.save(counter_model(count + 1), handler,
                            if_match=artifacts.stored_version)
        except ConflictError:
            conflicts += 1
            continue
        done += 1
    return done, conflicts


_CHILD = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[3])
    from reliability.test_conditional_save import increment_until
    done, conflicts = increment_until(sys.argv[1], {}, int(sys.argv[2]))
    print(json.dumps({"done": done, "conflicts": conflicts}))
    """
)


def _race_threads(url: str, options: dict, increments: int) -> list[tuple[int, int]]:
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            results.append(increment_until(url, options, increments))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def _race_processes(url: str, increments: int) -> list[tuple[int, int]]:
    tests_dir = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]))
    procs = [
        subprocess.Popen([sys.executable, "-c", _CHILD, url, str(increments), tests_dir],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(WRITERS)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        got = json.loads(out.strip().splitlines()[-1])
        results.append((got["done"], got["conflicts"]))
    return results


@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", BACKENDS)
def test_writers_lose_no_update(backend, request):
    """8 writers (threads; separate processes on file) x INCREMENTS read-modify-write
    increments with if_match: the final count is every successful increment, every load
    was whole, and nothing is left after clean."""
    target = request.getfixturevalue(f"{backend}_target")
    options = _options(target)
    url = target.url
    tfjs_store.save(counter_model(0), url, storage_options=options, if_none_match="*",
                    shard_size_bytes=512)
    increments = INCREMENTS[backend]
    start = time.perf_counter()
    results = (_race_processes(url, increments) if backend == "file"
               else _race_threads(url, options, increments))
    seconds = time.perf_counter() - start
    successes = sum(done for done, _ in results)
    conflicts = sum(c for _, c in results)
    final = read_count(tfjs_store.load(url, storage_options=options))
    print(f"\nCAS race {backend}: {WRITERS} writers x {increments}: final={final} "
          f"successes={successes} conflicts={conflicts} in {seconds:.1f} s (heavy={HEAVY})")
    assert successes == WRITERS * increments
    assert final == successes
    tfjs_store.clean(url, storage_options=options)
    assert strays(target.fs, target.path) == []


# -- the cleanup rule -----------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", BACKENDS)
def test_cleanup_never_removes_a_save_in_flight(backend, request):
    """A save paused mid-write while another writer saves and cleans (older_than=0):
    its files stay, and it then commits a whole model."""
    target = request.getfixturevalue(f"{backend}_target")
    options = _options(target)
    url = target.url
    tfjs_store.save(counter_model(1), url, storage_options=options, shard_size_bytes=512)
    outcome: list[object] = []
    handler = FsspecHandler(url, storage_options=options, shard_size_bytes=512)
    # the first weight file lands, then the save stalls (outside any event loop)
    paused, resume = pause_after_first_file(handler)
    before = set(folder_names(target.fs, target.path))

    def slow_save() -> None:
        try:
            outcome.append(tfjs_store.save(counter_model(5), handler))
        except BaseException as exc:  # pragma: no cover - reported below
            outcome.append(exc)

    thread = threading.Thread(target=slow_save)
    thread.start()
    try:
        assert paused.wait(60)
        names = folder_names(target.fs, target.path)
        markers = [n for n in names if n.endswith(".inflight")]
        assert len(markers) == 1, names
        # the paused save's files: what appeared since it started (weight files are
        # named after their content, and model 5 shares no bytes with model 1)
        written = sorted(set(names) - before)
        assert len(written) >= 2  # the marker and at least one weight file
        tfjs_store.save(counter_model(2), url, storage_options=options, shard_size_bytes=512)
        removed = tfjs_store.clean(url, storage_options=options, older_than=0)
        assert not [r for r in removed if r.rsplit("/", 1)[-1] in written], removed
        still = folder_names(target.fs, target.path)
        assert set(written) <= set(still), (written, still)
    finally:
        resume.set()
        thread.join(60)
    assert not isinstance(outcome[0], BaseException), outcome
    assert read_count(tfjs_store.load(url, storage_options=options)) == 5
    # the save that committed in between was replaced unseen: its files are leftovers
    tfjs_store.clean(url, storage_options=options)
    assert strays(target.fs, target.path) == []


def _marker(at: float, host: str = "another-host", pid: int = 1) -> bytes:
    return json.dumps({"t": int(at * 1000), "host": host, "pid": pid}).encode()


def test_a_dead_saves_marker_expires(memory_target):
    """A marker from another host not refreshed within the lease, or from a process of
    this host that is gone, protects nothing: the dead save's files and its marker are
    leftovers like any other. A fresh marker from another host protects its files."""
    url = memory_target.url
    tfjs_store.save(counter_model(1), url, shard_size_bytes=512)
    expired, gone, live = "0000000aaaaa", "0000000bbbbb", "0000000ccccc"
    memory_target.write(f"model.json.{expired}.inflight",
                        _marker(time.time() - INFLIGHT_LEASE_SECONDS - 5))
    memory_target.write(f"group1-shard1of1.{expired}.bin", b"left by a dead save")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    memory_target.write(f"model.json.{gone}.inflight",
                        _marker(time.time(), socket.gethostname(), int(dead.stdout)))
    memory_target.write(f"group1-shard1of1.{gone}.bin", b"left by a killed process")
    memory_target.write(f"model.json.{live}.inflight", _marker(time.time()))
    memory_target.write(f"group1-shard1of1.{live}.bin", b"a save in flight elsewhere")
    removed = sorted(r.rsplit("/", 1)[-1] for r in tfjs_store.clean(url))
    assert removed == sorted([
        f"group1-shard1of1.{expired}.bin", f"model.json.{expired}.inflight",
        f"group1-shard1of1.{gone}.bin", f"model.json.{gone}.inflight",
    ])
    left = folder_names(memory_target.fs, memory_target.path)
    assert {f"group1-shard1of1.{live}.bin", f"model.json.{live}.inflight"} <= set(left)


def test_a_handler_whose_save_takes_no_condition_is_refused(memory_target):
    """A ModelHandler subclass that overrode save() without the keywords: OptionError,
    not a TypeError and not an unconditional save."""

    class OldSave(FsspecHandler):
        def save(self, artifacts):  # type: ignore[override]
            return super().save(artifacts)

    handler = OldSave(memory_target.url)
    with pytest.raises(OptionError, match="cannot save conditionally"):
        tfjs_store.save(counter_model(1), handler, if_none_match="*")
    assert memory_target.files() == []
