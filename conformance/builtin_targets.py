"""Test classes for tfjs-store's handlers that are not plain fsspec URLs.

``DownloadsHandlerTests``: ``downloads://NAME`` saves ``NAME.json`` and
``NAME.weights.bin`` into a downloads folder (``$TFJS_STORE_DOWNLOADS``), as a browser
does. Each check gets a fresh folder; the back door is that folder.

``HTTPBridgeTests``: the http(s) handler (TF.js's ``tf.io.http``) against a real
``tfjs-store serve ROOT`` process on 127.0.0.1; the back door is ROOT on disk.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from .fsspec_target import FsspecHandlerTests
from .suite import Location

__all__ = ["DownloadsHandlerTests", "HTTPBridgeTests", "running_serve"]

_DOWNLOADS = "downloads://"


class DownloadsHandlerTests(FsspecHandlerTests):
    """The suite for ``downloads://NAME`` over a fresh downloads folder per check."""

    downloads_root: ClassVar[str | None] = None
    """Folder (path or fsspec URL) the fresh downloads folders are made in; default:
    a temporary folder."""
    sharding_options = None  # one NAME.weights.bin, as browsers download it
    supports_listing = False
    capability_notes: ClassVar[dict[str, str]] = {
        "listing": "a downloads folder holds NAME.json files, not folders of models"
    }
    known_failures: ClassVar[dict[str, str]] = {
        "test_interrupted_save_keeps_previous_model": "the downloads layout rewrites "
        "NAME.weights.bin in place before NAME.json, as a browser download would",
        "test_concurrent_saves_and_loads_never_torn": "a reader can see the new "
        "NAME.weights.bin with the old NAME.json (in-place layout)",
    }

    @pytest.fixture
    def container(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[Location]:
        root = self.downloads_root or self.base_url
        if root and root.startswith(_DOWNLOADS):
            root = None  # `tfjs-store conformance downloads://` names no folder
        with tempfile.TemporaryDirectory(prefix="tfjs-store-downloads-") as tmp:
            folder = f"{(root or tmp).rstrip('/')}/{os.urandom(6).hex()}"
            monkeypatch.setenv("TFJS_STORE_DOWNLOADS", folder)
            location = Location(folder, {})
            fs, path = self.filesystem(location)
            fs.makedirs(path, exist_ok=True)
            try:
                yield location
            finally:
                self.remove_container(location)

    def location_in(self, container: Location, name: str) -> Location:
        name = name.replace("/", "-")  # a downloads name is a file name prefix
        return Location(f"{_DOWNLOADS}{name}", {}, f"{name}.json")

    def escape_plant(self, container: Location, location: Location) -> tuple[Location, str]:
        return container, "../escape.bin"  # manifest paths are relative to the folder

    # -- the back door: the downloads folder ------------------------------------------------

    def filesystem(self, location: Location) -> tuple[Any, str]:
        if location.url.startswith(_DOWNLOADS):
            folder = os.environ["TFJS_STORE_DOWNLOADS"]
            return super().filesystem(Location(folder, location.options))
        return super().filesystem(location)

    def backdoor_list(self, location: Location) -> list[str]:
        files = super().backdoor_list(location)
        if not location.url.startswith(_DOWNLOADS):
            return files
        stem = location.json_name[: -len(".json")] + "."
        return [f for f in files if posixpath.basename(f).startswith(stem)]

    def same_location(self, listed: str, location: Location) -> bool:
        return listed.rstrip("/") == location.url.rstrip("/")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_serve(root: str, *args: str, timeout: float = 60) -> Iterator[str]:
    """``tfjs-store serve ROOT ARGS`` in a child process on 127.0.0.1; yields its URL."""
    port = _free_port()
    argv = [
        sys.executable,
        "-c",
        "from tfjs_store.cli import main; raise SystemExit(main())",
        "serve",
        root,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *args,
    ]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(
                        f"tfjs-store serve exited ({proc.returncode}): {log.read()[-2000:]!r}"
                    )
                try:
                    with urllib.request.urlopen(f"{url}/models", timeout=2):
                        break
                except (urllib.error.URLError, OSError):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"tfjs-store serve did not answer on {url}") from None
                    time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


class HTTPBridgeTests(FsspecHandlerTests):
    """The http(s) handler saving to and loading from ``tfjs-store serve``.

    Model ``NAME`` lives at ``BRIDGE/models/NAME/model.json`` (TF.js POSTs there to save
    and GETs it to load); the bridge stores it in ``ROOT/NAME`` on disk, cut into 64-byte
    shards (``--shard-size 64``): that folder is the back door. A container is a name
    prefix (``c1234-``): the models of one check are ``c1234-NAME``.
    """

    serve_args: ClassVar[tuple[str, ...]] = ("--shard-size", "64")
    sharding_options = None  # the bridge cuts shards; the handler sends one weight part
    supports_listing = False
    supports_removal = False
    capability_notes: ClassVar[dict[str, str]] = {
        "listing": "TF.js's http handler only saves and loads (the bridge lists at GET /models)",
        "removal": "TF.js's http handler only saves and loads (the bridge removes with DELETE)",
    }

    @pytest.fixture(scope="class")
    @classmethod
    def bridge(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
        root = str(tmp_path_factory.mktemp("bridge-root"))
        with running_serve(root, *cls.serve_args) as url:
            yield url, root

    @pytest.fixture
    def container(self, bridge: tuple[str, str]) -> Iterator[Location]:
        self._bridge = bridge
        location = Location(f"{bridge[0]}/models/c{os.urandom(6).hex()}")
        try:
            yield location
        finally:
            self.remove_container(location)

    def location_in(self, container: Location, name: str) -> Location:
        return Location(f"{container.url}-{name.replace('/', '-')}/model.json")

    def _name(self, location: Location) -> str:
        base = self._bridge[0]
        return location.url[len(f"{base}/models/") :].removesuffix("/model.json")

    def filesystem(self, location: Location) -> tuple[Any, str]:
        from fsspec.implementations.local import LocalFileSystem

        name = self._name(location)
        root = self._bridge[1]
        return LocalFileSystem(), root if "-" not in name else f"{root}/{name}"

    def backdoor_list(self, location: Location) -> list[str]:
        files = super().backdoor_list(location)
        name = self._name(location)
        if "-" in name:
            return files
        return [f for f in files if f.startswith(f"{name}-")]  # the container's models

    def remove_container(self, container: Location) -> None:
        fs, root = self.filesystem(container)
        prefix = self._name(container) + "-"
        for path in fs.ls(root, detail=False):
            if posixpath.basename(path).startswith(prefix):
                fs.rm(path, recursive=True)

    def open_faulty_handler(self, location: Location, fail_at: int | None) -> None:
        return None  # the storage is in the tfjs-store serve process
