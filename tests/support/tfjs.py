"""Drive real TensorFlow.js (``tests/js/tfjs_tool.js``) from the Python tests.

Typical use in a test module::

    from support.tfjs import require_tfjs, run_tfjs   # tests/ is on sys.path (see conftest.py)

    @pytest.mark.node
    def test_something(tmp_path):
        require_tfjs()                       # skip without Node; npm ci if node_modules is stale
        out = run_tfjs("build-and-save", "--model", "dense", "--out", str(tmp_path / "m"))
        out = run_tfjs("encode", input={"tensors": [...]})   # a JSON payload goes on stdin

or as a fixture::

    @pytest.fixture(scope="session")
    def tfjs():
        return tfjs_tool()                    # a callable with run_tfjs's signature

The command-line interface and every output shape are documented at the top of
``tests/js/tfjs_tool.js``. Committed fixtures come from
``node tests/js/tfjs_tool.js make-fixtures`` (run from the repository root).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "FIXTURES_DIR",
    "JS_DIR",
    "REPO_ROOT",
    "TOOL",
    "TfjsToolError",
    "ensure_node_modules",
    "node_executable",
    "node_modules_stale",
    "require_tfjs",
    "run_tfjs",
    "tfjs_tool",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
JS_DIR = REPO_ROOT / "tests" / "js"
TOOL = JS_DIR / "tfjs_tool.js"
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures" / "tfjs"
NPM_CI = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"]


class TfjsToolError(RuntimeError):
    """``tfjs_tool.js`` exited non-zero or printed something that is not its JSON answer."""

    def __init__(
        self,
        message: str,
        *,
        cmd: list[str],
        returncode: int | None,
        stdout: str,
        stderr: str,
        result: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.cmd = cmd
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.result = result
        """The tool's ``{"ok": false, "error": ...}`` answer when it printed one."""


def node_executable() -> str | None:
    """Path of ``node`` (``$NODE`` wins), or None."""
    env = os.environ.get("NODE")
    if env:
        return env if Path(env).exists() else shutil.which(env)
    return shutil.which("node")


def node_modules_stale(js_dir: Path = JS_DIR) -> bool:
    """True when ``npm ci`` is needed: no node_modules, or it differs from the lockfile.

    npm ci writes ``node_modules/.package-lock.json`` (the "hidden lockfile") listing what it
    installed; every non-optional package of ``package-lock.json`` must be there at the same
    version, and the packages the tool needs must really exist on disk.
    """
    lock = js_dir / "package-lock.json"
    hidden = js_dir / "node_modules" / ".package-lock.json"
    needed = [
        js_dir / "node_modules" / "@tensorflow" / "tfjs" / "package.json",
        js_dir / "node_modules" / "@tensorflow" / "tfjs-node" / "dist" / "io" / "file_system.js",
    ]
    if not hidden.is_file() or not all(p.is_file() for p in needed):
        return True
    try:
        want = json.loads(lock.read_text("utf-8")).get("packages", {})
        have = json.loads(hidden.read_text("utf-8")).get("packages", {})
    except (OSError, ValueError):
        return True
    for key, meta in want.items():
        if not key:  # the root project
            continue
        got = have.get(key)
        if got is None:
            if meta.get("optional") or meta.get("devOptional") or meta.get("peer"):
                continue
            return True
        if got.get("version") != meta.get("version"):
            return True
    return False


@contextlib.contextmanager
def _install_lock(js_dir: Path) -> Iterator[None]:
    # One npm ci at a time, also across pytest-xdist workers.
    tag = hashlib.sha256(str(js_dir).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"tfjs-store-npm-ci-{tag}.lock"
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_node_modules(*, force: bool = False, timeout: float = 900) -> Path:
    """Run ``npm ci --ignore-scripts --no-audit --no-fund`` in tests/js if needed; return tests/js.

    ``--ignore-scripts`` matters: tfjs-node's install script downloads a native library from a
    host that is not reachable here; only its pure-JS ``file://`` handler is used.
    Raises RuntimeError (with npm's output) when npm is missing or fails.
    """
    if not force and not node_modules_stale():
        return JS_DIR
    with _install_lock(JS_DIR):
        if not force and not node_modules_stale():  # another worker did it meanwhile
            return JS_DIR
        if shutil.which("npm") is None:
            raise RuntimeError("npm is not installed; cannot install tests/js/node_modules")
        proc = subprocess.run(
            NPM_CI, cwd=JS_DIR, capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(NPM_CI)} failed in {JS_DIR} (exit {proc.returncode}):\n"
                f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
            )
        if node_modules_stale():
            raise RuntimeError(
                f"{' '.join(NPM_CI)} succeeded but {JS_DIR}/node_modules still "
                "does not match package-lock.json"
            )
    return JS_DIR


def require_tfjs() -> None:
    """For tests: pytest.skip when Node.js is missing, else make sure node_modules is installed."""
    if node_executable() is None:
        import pytest

        pytest.skip("Node.js is not installed (needed for real TF.js)")
    ensure_node_modules()


def run_tfjs(
    command: str,
    *args: str | os.PathLike[str],
    input: Any = None,
    timeout: float = 300,
    cwd: str | os.PathLike[str] | None = None,
    check: bool = True,
) -> dict[str, Any]:
    """Run ``node tests/js/tfjs_tool.js COMMAND ARGS...`` and return its JSON answer.

    ``input``: a JSON-serialisable object sent on stdin (the tool is then given ``-``); str or
    bytes are sent as they are. With ``check`` (default) a failure raises TfjsToolError carrying
    the tool's stderr; with ``check=False`` the ``{"ok": false, "error": ...}`` answer is
    returned instead (useful to test error messages).
    """
    node = node_executable()
    if node is None:
        raise TfjsToolError(
            "Node.js is not installed", cmd=[], returncode=None, stdout="", stderr=""
        )
    cmd = [node, str(TOOL), command, *(os.fspath(a) for a in args)]
    data: bytes | None = None
    if input is not None:
        cmd.append("-")
        if isinstance(input, bytes):
            data = input
        elif isinstance(input, str):
            data = input.encode("utf-8")
        else:
            data = json.dumps(input, allow_nan=False).encode("utf-8")
    try:
        proc = subprocess.run(
            cmd,
            input=data,
            capture_output=True,
            timeout=timeout,
            cwd=cwd if cwd is not None else REPO_ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise TfjsToolError(
            f"tfjs_tool.js {command} timed out after {timeout} s",
            cmd=cmd,
            returncode=None,
            stdout=_text(e.stdout),
            stderr=_text(e.stderr),
        ) from e
    stdout, stderr = _text(proc.stdout), _text(proc.stderr)
    try:
        result = json.loads(stdout)
    except ValueError:
        result = None
    if not isinstance(result, dict):
        raise TfjsToolError(
            f"tfjs_tool.js {command} exited {proc.returncode} without a JSON answer\n"
            f"stdout:\n{stdout[-2000:]}\nstderr:\n{stderr[-4000:]}",
            cmd=cmd,
            returncode=proc.returncode,
            stdout=stdout,
            stderr=stderr,
        )
    if check and (proc.returncode != 0 or not result.get("ok")):
        raise TfjsToolError(
            f"tfjs_tool.js {command} failed (exit {proc.returncode}): {result.get('error')}\n"
            f"stderr:\n{stderr[-4000:]}",
            cmd=cmd,
            returncode=proc.returncode,
            stdout=stdout,
            stderr=stderr,
            result=result,
        )
    return result


def tfjs_tool() -> Callable[..., dict[str, Any]]:
    """For a (session) fixture: check Node and node_modules once, then return ``run_tfjs``."""
    require_tfjs()
    return run_tfjs


def _text(b: bytes | str | None) -> str:
    if b is None:
        return ""
    return b if isinstance(b, str) else b.decode("utf-8", "replace")
