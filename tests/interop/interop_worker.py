"""One long-lived Node process (``tfjs_tool.js serve``) for the matrix's many model loads.

Starting Node and requiring TF.js costs about as much as loading and running a small model,
so the load-predict / graph-predict / resume-train --url calls of the whole session go to one
worker, one JSON line each way. Anything that builds a model (build-and-save, save-url,
resume-train --uninterrupted) still runs in a fresh process (``run_tfjs``): a second build in
one process would get uniquified variable names.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from support.tfjs import REPO_ROOT, TOOL, TfjsToolError, node_executable, run_tfjs

WORKER_COMMANDS = {"load-predict", "graph-predict", "resume-train"}


def _camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _options(args: tuple[Any, ...]) -> dict[str, Any]:
    """``--name value`` pairs as tfjs_tool.js's parseArgs reads them."""
    out: dict[str, Any] = {}
    items = [os.fspath(a) for a in args]
    if len(items) % 2:
        raise ValueError(f"options must be --name value pairs: {items}")
    for name, value in zip(items[::2], items[1::2], strict=True):
        if not name.startswith("--"):
            raise ValueError(f"unexpected argument {name!r}")
        out[_camel(name[2:])] = value
    return out


class TfjsWorker:
    """Callable like ``run_tfjs(command, *args, input=...)``; answers as run_tfjs does."""

    def __init__(self, fallback: Callable[..., dict[str, Any]] = run_tfjs) -> None:
        self.fallback = fallback
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._next_id = 0

    def _start(self) -> subprocess.Popen[bytes]:
        node = node_executable()
        if node is None:
            raise TfjsToolError(
                "Node.js is not installed", cmd=[], returncode=None, stdout="", stderr=""
            )
        proc = subprocess.Popen(
            [node, str(TOOL), "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=REPO_ROOT,
        )
        lines: queue.Queue[bytes | None] = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in iter(proc.stdout.readline, b""):
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        self._proc, self._lines = proc, lines
        return proc

    def _stderr_tail(self) -> str:
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - 4000))
        return self._stderr.read().decode("utf-8", "replace")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait(10)
            # let the reader thread reach end-of-file before closing its pipe
            for _ in range(1000):
                try:
                    if self._lines.get(timeout=10) is None:
                        break
                except queue.Empty:
                    break
            if proc.stdout is not None:
                proc.stdout.close()
        self._stderr.close()

    def __call__(
        self, command: str, *args: Any, input: Any = None, timeout: float = 300
    ) -> dict[str, Any]:
        options = _options(args)
        if command not in WORKER_COMMANDS or (command == "resume-train" and "url" not in options):
            return self.fallback(command, *args, input=input, timeout=timeout)
        if input is not None:
            options.update({_camel(k): v for k, v in input.items()})
        with self._lock:
            proc = self._proc if self._proc is not None and self._proc.poll() is None else None
            if proc is None:
                proc = self._start()
            self._next_id += 1
            request = {"id": self._next_id, "command": command, "options": options}
            cmd = [str(TOOL), "serve", command]
            try:
                assert proc.stdin is not None
                proc.stdin.write(json.dumps(request, allow_nan=False).encode() + b"\n")
                proc.stdin.flush()
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                proc.kill()
                self._proc = None
                raise TfjsToolError(
                    f"tfjs_tool.js serve: {command} timed out after {timeout} s",
                    cmd=cmd,
                    returncode=None,
                    stdout="",
                    stderr=self._stderr_tail(),
                ) from None
            except OSError as exc:
                line = None
                cause: BaseException | None = exc
            else:
                cause = None
            if line is None:
                self._proc = None
                raise TfjsToolError(
                    f"tfjs_tool.js serve died during {command}\nstderr:\n{self._stderr_tail()}",
                    cmd=cmd,
                    returncode=proc.poll(),
                    stdout="",
                    stderr=self._stderr_tail(),
                ) from cause
        answer = json.loads(line)
        if answer.get("id") != request["id"]:
            raise TfjsToolError(
                f"tfjs_tool.js serve answered request {answer.get('id')}, not {request['id']}",
                cmd=cmd,
                returncode=None,
                stdout=line.decode(),
                stderr="",
            )
        if not answer.get("ok"):
            raise TfjsToolError(
                f"tfjs_tool.js {command} failed: {answer.get('error')}\n"
                f"stderr:\n{self._stderr_tail()}",
                cmd=cmd,
                returncode=None,
                stdout=line.decode(),
                stderr=self._stderr_tail(),
                result=answer,
            )
        answer.pop("id", None)
        return answer  # type: ignore[no-any-return]
