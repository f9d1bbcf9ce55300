""""Any fsspec URL", proven on backends nobody here wrote, each against a real server the
tests start: WebDAV (wsgidav + webdav4), SFTP (Debian's OpenSSH + sshfs), FTP (pyftpdlib
+ fsspec's ftp://), caches (simplecache:: over S3 and local disk), dir::file:// and
zip:// (read side). The conformance suite runs on each read-write one; the table in
conformance/README.md says what each declares and passes."""

from __future__ import annotations

import json
import posixpath
import shutil
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from reliability.common import HEAVY, TORN_SAVES_PER_WRITER
from support.servers import (
    FTP_PASSWORD,
    FTP_USER,
    RunningServer,
    SshServer,
    start_ftp,
    start_sshd,
    start_webdav,
)

import tfjs_store
from tfjs_store.conformance import FsspecHandlerTests, Location, ReadOnlyHandlerTests
from tfjs_store.errors import StorageError
from tfjs_store.registry import url_scheme
from tfjs_store.stores.fsspec import FsspecStore


def _unique() -> str:
    return uuid.uuid4().hex[:10]


def _weights(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"dense/kernel": rng.standard_normal((4, 5)).astype(np.float32),
            "dense/bias": np.arange(5, dtype=np.int32) * seed}


def _same(loaded: Any, expected: dict[str, np.ndarray]) -> None:
    got = loaded.weights()
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value)


def _round_trip(url: str, options: dict[str, Any]) -> None:
    """Save, load, replace with another model, load it, list it by a key that loads
    again, remove it."""
    first, second = _weights(1), _weights(2)
    tfjs_store.save(first, url, shard_size_bytes=32, **options)
    _same(tfjs_store.load(url, **options), first)
    tfjs_store.save(second, url, shard_size_bytes=32, **options)
    _same(tfjs_store.load(url, **options), second)
    parent = url.rsplit("/", 1)[0]
    listed = tfjs_store.list_models(parent, **options)
    assert len(listed) == 1, listed
    _same(tfjs_store.load(next(iter(listed)), **options), second)
    tfjs_store.remove_model(url, **options)
    assert tfjs_store.list_models(parent, **options) == {}


# -- servers, one per module -------------------------------------------------------------


@pytest.fixture(scope="module")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("dav-root")
    server = start_webdav(root, tmp_path_factory.mktemp("dav-server"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ftp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("ftp-root")
    server = start_ftp(root, tmp_path_factory.mktemp("ftp-server"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


def _dav_options(dav: RunningServer) -> dict[str, Any]:
    return {"storage_options": {"base_url": dav.url}}


def _ftp_options() -> dict[str, Any]:
    return {"storage_options": {"username": FTP_USER, "password": FTP_PASSWORD}}


# -- round trips and capabilities ---------------------------------------------------------


def test_webdav_round_trip_and_rename_commit(dav: RunningServer) -> None:
    url = f"webdav://rt-{_unique()}/m1"
    _round_trip(url, _dav_options(dav))
    store = FsspecStore.from_url(url, {"base_url": dav.url})
    assert (store.atomic_commit, store.rename_replaces, store.atomic_put) == (True, True, False)
    assert store.needs_folders and store.supports_writes


def test_dav_scheme_is_webdav4s_too(dav: RunningServer) -> None:
    """webdav4 claims dav:// (WebdavFileSystem.protocol) though fsspec's table lists only
    webdav://: both open it."""
    url = f"dav://rt-{_unique()}/m1"
    tfjs_store.save(_weights(3), url, **_dav_options(dav))
    _same(tfjs_store.load(url.replace("dav://", "webdav://"), **_dav_options(dav)), _weights(3))


def test_ftp_round_trip_with_folders_made_and_one_connection(ftp: RunningServer) -> None:
    url = f"{ftp.url}/rt-{_unique()}/deeper/m1"
    _round_trip(url, _ftp_options())
    store = FsspecStore.from_url(url, _ftp_options()["storage_options"], max_concurrency=16)
    assert store.max_concurrency == 1  # ftplib garbles replies used from several threads
    assert store.atomic_commit and store.rename_replaces


def test_ftp_listing_keys_keep_host_and_port(ftp: RunningServer) -> None:
    base = f"{ftp.url}/keys-{_unique()}"
    tfjs_store.save(_weights(4), f"{base}/m1", **_ftp_options())
    (key,) = tfjs_store.list_models(base, **_ftp_options())
    assert key == f"{base}/m1"


def test_ftp_connection_refused_is_a_storage_error(ftp: RunningServer) -> None:
    dead = f"ftp://127.0.0.1:{_closed_port()}/m1"
    with pytest.raises(StorageError, match="ConnectionRefusedError"):
        tfjs_store.load(dead, **_ftp_options())


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sftp_round_trip_sshfs(sshd: SshServer, tmp_path: Path) -> None:
    url = sshd.url(str(tmp_path / "deep" / "m1"))
    _round_trip(url, {"storage_options": sshd.storage_options()})
    store = FsspecStore.from_url(url, sshd.storage_options())
    assert store.protocol == "sftp" and store.atomic_commit and store.rename_replaces


def test_sftp_round_trip_paramiko_one_channel(sshd: SshServer, tmp_path: Path) -> None:
    """fsspec's paramiko SFTPFileSystem has one channel (concurrent opens deadlocked):
    the store uses it from one thread, and saves and loads."""
    from fsspec.implementations.sftp import SFTPFileSystem

    fs = SFTPFileSystem("127.0.0.1", port=sshd.port, username=sshd.user,
                        key_filename=str(sshd.client_key), look_for_keys=False,
                        allow_agent=False, skip_instance_cache=True)
    folder = str(tmp_path / "p" / "m1")
    store = FsspecStore(fs, folder, max_concurrency=16)
    assert store.max_concurrency == 1
    handler_options = {"filesystem": fs, "shard_size_bytes": 32}
    tfjs_store.save(_weights(5), f"sftp://{folder}", **handler_options)
    _same(tfjs_store.load(f"sftp://{folder}", filesystem=fs), _weights(5))
    assert sorted(p.name for p in (tmp_path / "p" / "m1").iterdir())[-1] == "model.json"
    # under a wrapper that passes calls to it, too: a save there would otherwise use the
    # channel from two threads (reading the replaced model while writing its marker)
    from tfjs_store.testing import FaultyFileSystem

    wrapped = FaultyFileSystem(fs)
    assert FsspecStore(wrapped, folder, max_concurrency=16).max_concurrency == 1
    tfjs_store.save(_weights(4), f"sftp://{folder}", filesystem=wrapped, shard_size_bytes=32)
    _same(tfjs_store.load(f"sftp://{folder}", filesystem=fs), _weights(4))


def test_dir_wrapper_over_a_sync_filesystem(tmp_path: Path) -> None:
    """dir:: says it is async over any filesystem; over file:// it is not."""
    url = f"dir::{(tmp_path / 'models' / 'm1').as_uri()}"
    _round_trip(url, {})
    tfjs_store.save(_weights(6), url)
    assert (tmp_path / "models" / "m1" / "model.json").is_file()  # where the URL says
    store = FsspecStore.from_url(url)
    assert not store.is_async


def test_url_scheme_is_the_storage_under_the_wrappers() -> None:
    assert url_scheme("simplecache::s3://b/m") == "s3"
    assert url_scheme("zip://m1::file:///data/a.zip") == "file"
    assert url_scheme("filecache::/data/m") == "file"
    assert url_scheme("dir::gs://b/m") == "gs"


# -- caches never serve a removed or replaced model ---------------------------------------


@pytest.mark.parametrize("layout", ["shards", "tfjs-node"])
@pytest.mark.parametrize("cache", ["simplecache", "filecache", "blockcache"])
def test_cache_never_serves_a_replaced_or_removed_model(
    cache: str, layout: str, tmp_path: Path
) -> None:
    """model.json is read past the cache; weight files through it, dropped on each load
    (tfjs-node's layout rewrites weights.bin under the same name)."""
    plain = (tmp_path / "m1").as_uri()
    cached = f"{cache}::{plain}"
    options = {"storage_options": {cache: {"cache_storage": str(tmp_path / "cache")}}}
    tfjs_store.save(_weights(7), plain, layout=layout)
    _same(tfjs_store.load(cached, **options), _weights(7))
    for seed in (8, 9):  # replaced by another client
        tfjs_store.save(_weights(seed), plain, layout=layout)
        _same(tfjs_store.load(cached, **options), _weights(seed))
    tfjs_store.remove_model(plain)
    with pytest.raises(FileNotFoundError):
        tfjs_store.load(cached, **options)


@pytest.mark.s3
def test_simplecache_over_s3_round_trip(s3_target: Any) -> None:
    url = f"simplecache::{s3_target.join('cached', 'm1')}"
    options = {k: v for k, v in s3_target.storage_options.items()
               if k != "skip_instance_cache"}
    _round_trip(url, {"storage_options": {"s3": options}})
    store = FsspecStore.from_url(url, {"s3": options})
    assert store.cached and store.atomic_commit and not store.needs_folders


# -- read-only stores ---------------------------------------------------------------------


def _zipped_models(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    tfjs_store.save(_weights(10), src / "m1")
    tfjs_store.save(_weights(11), src / "m2")
    archive = tmp_path / "models.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(src).as_posix())
    shutil.rmtree(src)
    return archive


def test_zip_is_read_only_and_its_listing_keys_load_again(tmp_path: Path) -> None:
    archive = _zipped_models(tmp_path)
    url = f"zip://m1::{archive.as_uri()}"
    _same(tfjs_store.load(url), _weights(10))
    listed = tfjs_store.list_models(f"zip://::{archive.as_uri()}")
    assert len(listed) == 2, listed
    for key in listed:
        assert archive.as_uri() in key
        tfjs_store.load(key)
    with pytest.raises(StorageError, match=r"zip:// is read-only"):
        tfjs_store.save(_weights(12), url)
    with pytest.raises(StorageError, match=r"zip:// is read-only"):
        tfjs_store.remove_model(url)
    _same(tfjs_store.load(url), _weights(10))  # untouched
    store = FsspecStore.from_url(url)
    assert not store.supports_writes and not store.supports_deletes


class TestZipReadOnlyConformance(ReadOnlyHandlerTests):
    """zip:// through the read side of the suite: TF.js's layouts, hostile files and
    listings go into a fresh archive through the back door (``zipfile``), and load
    through ``zip://NAME::file:///ARCHIVE.zip``. Each test has an archive of its own
    (fsspec keeps a zip:// filesystem per archive, read once)."""

    @pytest.fixture
    def container(self, tmp_path: Path) -> Location:
        archive = tmp_path / "models.zip"
        zipfile.ZipFile(archive, "w").close()
        return Location(f"zip://c::{archive.as_uri()}")

    def location_in(self, container: Location, name: str) -> Location:
        inside, source = container.url.split("::", 1)
        return Location(f"{inside.rstrip('/')}/{name}::{source}", container.options)

    def _member(self, location: Location, rel: str) -> tuple[Path, str]:
        inside, source = location.url.split("::", 1)
        folder = inside.removeprefix("zip://").strip("/")
        return Path(source.removeprefix("file://")), posixpath.join(folder, rel)

    def backdoor_write(self, location: Location, path: str, data: bytes) -> None:
        archive, member = self._member(location, path)
        with zipfile.ZipFile(archive, "a") as zf:
            zf.writestr(member, data)

    def backdoor_read(self, location: Location, path: str) -> bytes:
        archive, member = self._member(location, path)
        with zipfile.ZipFile(archive) as zf:
            try:
                return zf.read(member)
            except KeyError:
                raise FileNotFoundError(member) from None

    def backdoor_list(self, location: Location) -> list[str]:
        archive, folder = self._member(location, "")
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
        return sorted(n[len(folder):] for n in names if n.startswith(folder))

    def test_writes_are_refused_and_change_nothing(self, location: Location) -> None:
        """Not a check of the shipped suite: save, remove_model and copy into the
        archive are refused with "zip:// is read-only", and the archive is unchanged."""
        from tfjs_store.conformance.corpus import layout_files

        self._write_files(location, layout_files("browser"))
        archive, _ = self._member(location, "")
        before = archive.read_bytes()
        with pytest.raises(StorageError, match=r"^zip:// is read-only"):
            tfjs_store.save(_weights(12), location.url)
        with pytest.raises(StorageError, match=r"^zip:// is read-only"):
            tfjs_store.remove_model(location.url)
        tfjs_store.load(location.url)  # still there
        assert archive.read_bytes() == before


class TestReferenceReadOnlyConformance(ReadOnlyHandlerTests):
    """reference:// through the read side of the suite: the back door keeps a reference
    file (kerchunk's form: name -> [URL of the bytes]) that each handler opens as ``fo=``
    (``skip_instance_cache``: a filesystem reads its references once, when made). Inline
    ``base64:`` references are not used: fsspec sizes them by their encoded text."""

    @pytest.fixture
    def container(self, tmp_path: Path) -> Location:
        refs = tmp_path / "refs.json"
        refs.write_text("{}")
        (tmp_path / "blobs").mkdir()
        options = {"fo": str(refs), "remote_protocol": "file", "skip_instance_cache": True}
        return Location("reference://c", {"storage_options": options})

    def _refs(self, location: Location) -> tuple[Path, dict[str, list[str]], str]:
        path = Path(location.options["storage_options"]["fo"])
        folder = location.url.removeprefix("reference://").strip("/")
        return path, json.loads(path.read_text()), folder

    def backdoor_write(self, location: Location, path: str, data: bytes) -> None:
        refs_path, refs, folder = self._refs(location)
        blob = refs_path.parent / "blobs" / f"{_unique()}.bin"
        blob.write_bytes(data)
        refs[posixpath.join(folder, path)] = [blob.as_uri()]
        refs_path.write_text(json.dumps(refs))

    def backdoor_read(self, location: Location, path: str) -> bytes:
        _, refs, folder = self._refs(location)
        try:
            (uri,) = refs[posixpath.join(folder, path)]
        except KeyError:
            raise FileNotFoundError(path) from None
        return Path(uri.removeprefix("file://")).read_bytes()

    def backdoor_list(self, location: Location) -> list[str]:
        _, refs, folder = self._refs(location)
        return sorted(k[len(folder) + 1:] for k in refs if k.startswith(folder + "/"))


# -- the conformance suite on each read-write backend -------------------------------------


class TestWebdavConformance(FsspecHandlerTests):
    concurrent_saves_per_writer = TORN_SAVES_PER_WRITER

    @pytest.fixture
    def container(self, dav: RunningServer) -> Location:
        return Location(f"webdav://c{_unique()}", _dav_options(dav))


class TestFtpConformance(FsspecHandlerTests):
    concurrent_saves_per_writer = TORN_SAVES_PER_WRITER

    @pytest.fixture
    def container(self, ftp: RunningServer) -> Location:
        return Location(f"{ftp.url}/c{_unique()}", _ftp_options())


class TestSftpConformance(FsspecHandlerTests):
    concurrent_saves_per_writer = TORN_SAVES_PER_WRITER

    @pytest.fixture
    def container(self, sshd: SshServer, tmp_path: Path) -> Location:
        return Location(sshd.url(str(tmp_path / "c")),
                        {"storage_options": sshd.storage_options()})


class TestDirFileConformance(FsspecHandlerTests):
    """The back door is the local disk under the dir:: wrapper."""

    concurrent_saves_per_writer = TORN_SAVES_PER_WRITER

    @pytest.fixture
    def container(self, tmp_path: Path) -> Location:
        return Location(f"dir::{(tmp_path / 'c').as_uri()}")

    def filesystem(self, location: Location) -> tuple[Any, str]:
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem(), location.url.removeprefix("dir::file://").rstrip("/")

    def open_handler(self, location: Location, **options: Any) -> Any:
        faulty = options.pop("filesystem", None)
        if faulty is None:
            return super().open_handler(location, **options)
        # Fault injection: the dir:: wrapper over the fault-injecting local disk.
        from fsspec.implementations.dirfs import DirFileSystem

        parent, name = posixpath.split(self.filesystem(location)[1])
        options["filesystem"] = DirFileSystem(path=parent, fs=faulty)
        return super().open_handler(
            Location(name, location.options, location.json_name), **options
        )

    def same_location(self, listed: str, location: Location) -> bool:
        return listed.startswith("dir::") and super().same_location(
            listed.removeprefix("dir::"), location
        )


@pytest.mark.s3
@pytest.mark.skipif(not HEAVY, reason="TFJS_STORE_HEAVY=1 only (simplecache over S3)")
class TestSimplecacheS3Conformance(FsspecHandlerTests):
    """simplecache:: over moto's S3. The back door is S3 itself (a cache of its own would
    serve the back door stale bytes); fault injection wraps S3 under the same URL without
    the cache (writes go past the cache anyway).

    Heavy only (~40 s): the default run has the whole suite over S3 (TestS3 in
    test_conformance_builtin.py) and simplecache over S3 in
    test_simplecache_over_s3_round_trip, test_cache_never_serves_a_replaced_or_removed_model
    (over file) and test_every_backend_of_the_table_declares_atomic_commits."""

    concurrent_saves_per_writer = TORN_SAVES_PER_WRITER

    @pytest.fixture
    def container(self, s3_target: Any) -> Location:
        options = {k: v for k, v in s3_target.storage_options.items()
                   if k != "skip_instance_cache"}
        options["use_listings_cache"] = False
        return Location(f"simplecache::{s3_target.url}", {"storage_options": {"s3": options}})

    def _plain(self, location: Location) -> Location:
        if not location.url.startswith("simplecache::"):
            return location
        options = dict(location.options)
        options["storage_options"] = options["storage_options"]["s3"]
        return Location(location.url.removeprefix("simplecache::"), options,
                        location.json_name)

    def filesystem(self, location: Location) -> tuple[Any, str]:
        return super().filesystem(self._plain(location))

    def same_location(self, listed: str, location: Location) -> bool:
        return super().same_location(listed, self._plain(location))

    def open_faulty_handler(self, location: Location, fail_at: int | None) -> Any:
        return super().open_faulty_handler(self._plain(location), fail_at)


# -- concurrency reaches both ends of a copy -----------------------------------------------


def test_copy_model_gives_max_concurrency_to_both_ends(
    ftp: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int]] = []
    original = FsspecStore._configure

    def spy(self: FsspecStore, max_concurrency: int | None) -> None:
        original(self, max_concurrency)
        seen.append((self.protocol, self.max_concurrency))

    monkeypatch.setattr(FsspecStore, "_configure", spy)
    src = f"{ftp.url}/copy-{_unique()}/m1"
    tfjs_store.save(_weights(13), src, shard_size_bytes=32, **_ftp_options())
    seen.clear()
    dst = tmp_path / "copied"
    tfjs_store.copy_model(src, str(dst), src_storage_options=_ftp_options()["storage_options"],
                          max_concurrency=3)
    assert ("ftp", 1) in seen and ("file", 3) in seen, seen  # ftp stays at one connection
    _same(tfjs_store.load(str(dst)), _weights(13))
    seen.clear()
    back = f"{ftp.url}/copy-{_unique()}/m2"
    tfjs_store.copy_model(str(dst), back, dst_storage_options=_ftp_options()["storage_options"],
                          max_concurrency=5)
    assert ("file", 5) in seen and ("ftp", 1) in seen, seen
    _same(tfjs_store.load(back, **_ftp_options()), _weights(13))


# -- a store that can neither put atomically nor rename over a file ------------------------


def test_a_store_without_atomic_commit_says_so_and_the_suite_skips_the_torn_check() -> None:
    from fsspec.implementations.memory import MemoryFileSystem
    from fsspec.registry import register_implementation

    class PlainFileSystem(MemoryFileSystem):  # a protocol no table knows
        protocol = "plainmem"
        store: ClassVar[dict[str, Any]] = {}
        pseudo_dirs: ClassVar[list[str]] = [""]

    register_implementation("plainmem", PlainFileSystem, clobber=True)
    store = FsspecStore.from_url("plainmem://x/m1")
    assert store.atomic_commit is False and store.supports_writes
    tfjs_store.save(_weights(14), "plainmem://x/m1")  # a plain overwrite, still saved
    _same(tfjs_store.load("plainmem://x/m1"), _weights(14))

    class Plain(FsspecHandlerTests):
        base_url = "plainmem://suite"

    outcome = _run_one(Plain, "test_concurrent_saves_and_loads_never_torn")
    assert outcome == "skipped: atomic_commit = False", outcome


def _run_one(cls: type, name: str) -> str:
    """Run one check of a suite class in-process and say how it ended."""
    test = cls()
    location = test.location_in(test.new_container(), "model")
    try:
        getattr(test, name)(location)
    except pytest.skip.Exception as exc:
        return "skipped: atomic_commit = False" if "atomic_commit = False" in str(exc) else str(exc)
    return "ran"


def test_reference_filesystem_is_read_only(tmp_path: Path) -> None:
    """reference:// maps names to bytes (kerchunk): it loads, and refuses writes."""
    tfjs_store.save(_weights(15), tmp_path / "m1")
    refs = {f"m1/{p.name}": (p.as_uri(),) for p in (tmp_path / "m1").iterdir()}
    options = {"storage_options": {"fo": refs, "remote_protocol": "file"}}
    _same(tfjs_store.load("reference://m1", **options), _weights(15))
    with pytest.raises(StorageError, match=r"reference:// is read-only"):
        tfjs_store.save(_weights(16), "reference://m1", **options)


def test_conformance_cli_judges_dav_and_ftp_urls(dav: RunningServer, ftp: RunningServer) -> None:
    """`tfjs-store conformance` takes these URLs as users write them (dav:// too) and the
    torn-read check runs and passes on both."""
    import subprocess
    import sys

    runs = {
        "dav://cli-models": ["-o", f"base_url={dav.url}"],
        f"{ftp.url}/cli-models": ["-o", f"username={FTP_USER}", "-o", f"password={FTP_PASSWORD}"],
    }
    for url, flags in runs.items():
        proc = subprocess.run(
            [sys.executable, "-m", "tfjs_store.conformance", url, *flags,
             "-k", "never_torn or roundtrip_every_dtype"],
            capture_output=True, text=True, timeout=300,
        )
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        assert "PASS  concurrent_saves_and_loads_never_torn" in proc.stdout, proc.stdout


# -- SFTP through fsspec's paramiko client: the whole suite --------------------------------


@pytest.fixture
def paramiko_sftp() -> Iterator[None]:
    """sftp:// opened with fsspec's own paramiko SFTPFileSystem, as for a user without
    sshfs (which claims sftp:// here); sshfs is back after the test."""
    from fsspec.implementations.sftp import SFTPFileSystem
    from fsspec.registry import _registry

    before = _registry.get("sftp")
    _registry["sftp"] = SFTPFileSystem
    try:
        yield
    finally:
        if before is None:
            _registry.pop("sftp", None)
        else:
            _registry["sftp"] = before


def _paramiko_options(sshd: SshServer) -> dict[str, Any]:
    return {"username": sshd.user, "key_filename": str(sshd.client_key),
            "look_for_keys": False, "allow_agent": False}


class TestSftpParamikoConformance(FsspecHandlerTests):
    """sftp://host:port/… through paramiko (one SFTP channel per client, used from one
    thread at a time): URLs and storage options as a user writes them."""

    concurrent_saves_per_writer = TORN_SAVES_PER_WRITER

    @pytest.fixture
    def container(self, sshd: SshServer, tmp_path: Path, paramiko_sftp: None) -> Location:
        return Location(sshd.url(str(tmp_path / "c")),
                        {"storage_options": _paramiko_options(sshd)})


# -- the torn-read check runs on every backend that promises atomic commits ----------------


def _store_of(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> FsspecStore:
    """The store each backend's conformance class saves through, opened the same way."""
    if backend in ("memory", "file", "s3", "gcs", "az"):
        target = request.getfixturevalue(f"{backend}_target")
        return FsspecStore.from_url(target.url, target.storage_options)
    if backend == "simplecache::s3":
        target = request.getfixturevalue("s3_target")
        return FsspecStore.from_url(f"simplecache::{target.url}", {"s3": target.storage_options})
    if backend == "dir::file":
        return FsspecStore.from_url(f"dir::{(tmp_path / 'm').as_uri()}")
    if backend == "webdav":
        dav = request.getfixturevalue("dav")
        return FsspecStore.from_url("webdav://m", _dav_options(dav)["storage_options"])
    if backend == "ftp":
        ftp = request.getfixturevalue("ftp")
        return FsspecStore.from_url(f"{ftp.url}/m", _ftp_options()["storage_options"])
    sshd = request.getfixturevalue("sshd")
    if backend == "sftp-sshfs":
        return FsspecStore.from_url(sshd.url(str(tmp_path / "m")), sshd.storage_options())
    assert backend == "sftp-paramiko"
    request.getfixturevalue("paramiko_sftp")
    store = FsspecStore.from_url(sshd.url(str(tmp_path / "m")), _paramiko_options(sshd))
    assert type(store.fs).__module__ == "fsspec.implementations.sftp"
    return store


@pytest.mark.parametrize("backend", [
    "memory", "file", "dir::file", "webdav", "ftp", "sftp-sshfs", "sftp-paramiko",
    pytest.param("s3", marks=pytest.mark.s3),
    pytest.param("simplecache::s3", marks=pytest.mark.s3),
    pytest.param("gcs", marks=pytest.mark.gcs),
    pytest.param("az", marks=pytest.mark.azure),
])
def test_every_backend_of_the_table_declares_atomic_commits(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The torn-read check skips only where a store declares atomic_commit = False: every
    backend of conformance/README.md's table declares it, so the check runs on each
    (and the suite fails it unless loads overlapped the saves)."""
    store = _store_of(backend, request, tmp_path)
    assert store.atomic_commit, backend
    assert store.atomic_put or store.rename_replaces
