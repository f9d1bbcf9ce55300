"""Savers to be SIGKILLed: a zygote that forks one saving process per trial.

Started as ``python crash_child.py``. It imports numpy, tfjs_store and the storage
libraries once, then reads one JSON command a line from stdin::

    {"url": ..., "storage_options": {...}, "first_version": 3000,
     "progress": "/tmp/.../progress-3", "seconds": 20}

and hands it to a forked child that saves ``versioned_model(first_version)``,
``versioned_model(first_version + 1)``, … to ``url`` in a loop, appending
``ready``, ``start V`` and ``done V`` lines to the progress file (one ``write`` each,
``O_APPEND``). The zygote prints the child's pid, waits for it to end (the test kills
it with SIGKILL) and prints ``{"pid": P, "status": S}``. The child was forked during
the previous trial and has already connected to the storage (a new S3 client costs
~0.1 s), so the trial starts at once. Every child stops by itself after ``seconds``;
the zygote stops when its stdin closes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fsspec

import tfjs_store  # noqa: F401
from reliability.common import SHARD_SIZE, versioned_model
from tfjs_store.handlers.fsspec import FsspecHandler

for _module in ("s3fs", "aiobotocore.session"):  # imported once here, not in every child
    with contextlib.suppress(ImportError):
        __import__(_module)


def _saver(setup: dict, go_fd: int) -> None:
    handler = FsspecHandler(
        setup["url"], storage_options=setup["storage_options"], shard_size_bytes=SHARD_SIZE
    )
    handler.fs.exists(handler.json_path)  # open the connections before the trial starts
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(go_fd, 65536)
        if not chunk:  # the zygote is done with this spare
            return
        line += chunk
    command = json.loads(line)
    fd = os.open(command["progress"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    deadline = time.monotonic() + float(command.get("seconds", 20))
    version = int(command["first_version"])
    model = versioned_model(version)
    os.write(fd, b"ready\n")
    while time.monotonic() < deadline:
        os.write(fd, f"start {version}\n".encode())
        handler.save(model)
        os.write(fd, f"done {version}\n".encode())
        version += 1
        model = versioned_model(version)


def _fork_spare(setup: dict) -> tuple[int, int]:
    """A child that connects to the storage, then waits for its trial on a pipe."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(write_fd)
        code = 1
        try:
            _saver(setup, read_fd)
            code = 0
        except BaseException as exc:  # reported through the progress file, if it has one
            sys.stderr.write(f"saver {os.getpid()}: {type(exc).__name__}: {exc}\n")
        finally:
            os._exit(code)
    os.close(read_fd)
    return pid, write_fd


def main() -> None:
    fsspec.filesystem("file")
    spare: tuple[str, int, int] | None = None  # (setup key, pid, go pipe)
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        setup = {"url": command["url"], "storage_options": command["storage_options"]}
        key = json.dumps(setup, sort_keys=True)
        if spare is None or spare[0] != key:
            if spare is not None:
                os.close(spare[2])
                os.waitpid(spare[1], 0)
            spare = (key, *_fork_spare(setup))
        _, pid, go = spare
        os.write(go, (json.dumps(command) + "\n").encode())
        os.close(go)
        print(pid, flush=True)
        spare = (key, *_fork_spare(setup))  # warms up while this trial runs
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"pid": pid, "status": status}), flush=True)
    if spare is not None:
        os.close(spare[2])
        os.waitpid(spare[1], 0)


if __name__ == "__main__":
    main()
