"""Item 1b of issue 9: a process saving in a loop is SIGKILLed at random moments.

Each trial forks a fresh saver (``crash_child.py``: a zygote that has imported
everything once, so a trial costs a fork, not an interpreter start), lets it save
new versions of a multi-shard model over the same URL, and kills it with SIGKILL at a
random moment within its first few saves. After every kill, a plain load must give a
complete model, and it must be the last version whose save returned or the one that
was in flight; an older one would be a lost save, anything else a torn model.

The trials run in two halves. The leftovers of the first half's killed saves are
removed by ``tfjs_store.clean(url, older_than=0)`` run as a command in a new process;
those of the second half by the next save once they are older than
``STALE_AFTER_SECONDS`` (the clock is moved two hours on for that save).
"""

from __future__ import annotations

import collections
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfjs_store import handler as handler_module
from tfjs_store.handlers.fsspec import STALE_AFTER_SECONDS, FsspecHandler

from .common import HEAVY, SHARD_SIZE, check_version, referenced, scaled, strays, versioned_model

CHILD = Path(__file__).with_name("crash_child.py")
TRIALS = {"file": scaled(200, 1000), "s3": scaled(50, 1000)}
"""Kills per backend (a trial on moto's S3 takes ~0.8 s, on file ~0.08 s)."""


class Zygote:
    """The forking parent of the savers (see crash_child.py)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def _readline(self, timeout: float) -> str:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise AssertionError(f"crash_child.py did not answer within {timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"crash_child.py exited ({self.proc.poll()})")
        return line

    def spawn(self, command: dict) -> int:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return int(self._readline(60))

    def reap(self) -> int:
        return int(json.loads(self._readline(60))["status"])

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


def _options(target):
    options = {k: v for k, v in target.storage_options.items() if k != "skip_instance_cache"}
    if target.name == "s3":
        options["use_listings_cache"] = False
    return options


def _wait_ready(progress: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if progress.exists():
            text = progress.read_text()
            if "error" in text:
                raise AssertionError(f"the saver failed before it was killed: {text}")
            if "ready" in text:
                return
        time.sleep(0.0005)
    raise AssertionError("the saver never became ready")


def _parse(progress: Path) -> tuple[list[int], list[int], list[str]]:
    started, done, errors = [], [], []
    for line in progress.read_text().splitlines():
        word, _, rest = line.partition(" ")
        if word == "start":
            started.append(int(rest))
        elif word == "done":
            done.append(int(rest))
        elif word == "error":
            errors.append(rest)
    return started, done, errors


def _clean_in_new_process(url: str, options: dict) -> list[str]:
    code = (
        "import json, sys, tfjs_store; "
        "print(json.dumps(tfjs_store.clean(sys.argv[1], older_than=0, "
        "storage_options=json.loads(sys.argv[2]))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, url, json.dumps(options)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return list(json.loads(out.stdout))


class _LaterClock:
    """``time`` as the handler sees it, two stale periods later."""

    def __getattr__(self, name):
        return getattr(time, name)

    @staticmethod
    def time() -> float:
        return time.time() + 2 * STALE_AFTER_SECONDS


def _run_trials(target, zygote, tmp_path, first, count, window, rng, stats):
    options = _options(target)
    loader = FsspecHandler(target.url, storage_options=options)
    last_done = stats["last_done"]
    for trial in range(first, first + count):
        progress = tmp_path / f"progress-{trial}"
        pid = zygote.spawn({
            "url": target.url, "storage_options": options, "progress": str(progress),
            "first_version": (trial + 1) * 1000, "seconds": 30,
        })
        _wait_ready(progress)
        time.sleep(rng.uniform(0, window))
        os.kill(pid, signal.SIGKILL)
        status = zygote.reap()
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
        started, done, errors = _parse(progress)
        assert errors == [], errors
        in_flight = sorted(set(started) - set(done))
        assert len(in_flight) <= 1
        if done:
            last_done = max(done)
        version = check_version(loader.load())  # complete, not torn
        assert version == last_done or version in in_flight, (
            f"trial {trial}: loaded v{version}, but the last finished save was "
            f"v{last_done} and the one in flight {in_flight}"
        )
        stats["committed_in_flight" if version in in_flight else "kept_last_done"] += 1
        stats["killed_mid_save" if in_flight else "killed_between_saves"] += 1
        stats["saves_finished"] += len(done)
        last_done = version
        stats["trials"] += 1
    stats["last_done"] = last_done


def _save_seconds(target) -> float:
    handler = FsspecHandler(target.url, storage_options=_options(target),
                            shard_size_bytes=SHARD_SIZE)
    handler.save(versioned_model(1))
    start = time.perf_counter()
    for v in (2, 3, 4):
        handler.save(versioned_model(v))
    return (time.perf_counter() - start) / 3


@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", [
    pytest.param("file", id="file"),
    pytest.param("s3", id="s3", marks=pytest.mark.s3),
])
def test_sigkill_at_random_moments_never_loses_or_tears(backend, request, tmp_path, monkeypatch):
    target = request.getfixturevalue(f"{backend}_target")
    options = _options(target)
    rng = random.Random(int(os.environ.get("TFJS_STORE_SEED", "9")))
    window = 2.5 * _save_seconds(target)  # kills land at random points of ~2.5 saves
    stats = collections.Counter(last_done=4)
    zygote = Zygote()
    trials = TRIALS[backend]
    try:
        half = trials // 2
        _run_trials(target, zygote, tmp_path, 0, half, window, rng, stats)
        left = strays(target.fs, target.path)
        assert left, "no kill left anything behind: the kills never landed inside a save"
        removed = _clean_in_new_process(target.url, options)
        assert len(removed) == len(left)
        assert strays(target.fs, target.path) == []
        assert check_version(FsspecHandler(target.url, storage_options=options).load()) == (
            stats["last_done"]
        )

        _run_trials(target, zygote, tmp_path, half, trials - half, window, rng, stats)
        assert strays(target.fs, target.path)
        monkeypatch.setattr(handler_module, "time", _LaterClock())
        FsspecHandler(target.url, storage_options=options,
                      shard_size_bytes=SHARD_SIZE).save(versioned_model(999_999))
        monkeypatch.undo()
        assert strays(target.fs, target.path) == []
        names = set(target.fs.ls(target.path, detail=False))
        assert {n.rsplit("/", 1)[-1] for n in names} == referenced(target.fs, target.path)
        assert check_version(FsspecHandler(target.url, storage_options=options).load()) == 999_999
    finally:
        zygote.close()
    print(f"\nSIGKILL {backend}: {dict(stats)} (window {window * 1000:.1f} ms, heavy={HEAVY})")
    assert stats["trials"] == trials
    # The kills hit both sides of the commit: saves in flight that had and had not
    # committed, and moments between saves.
    assert stats["killed_mid_save"] > trials // 4
    assert stats["kept_last_done"] > 0
