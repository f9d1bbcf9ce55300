"""The storage fixtures themselves, checked through real fsspec clients on real servers."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import fsspec
import pytest
from support.servers import (
    STARTUP_SECONDS,
    HttpTarget,
    StoreTarget,
    azurite_connection_string_for,
    start_fake_gcs,
)

ALL_BYTES = bytes(range(256))


def _payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


# ---- every backend -------------------------------------------------------------------


def test_target_is_fresh_and_usable_through_url_to_fs(store: StoreTarget) -> None:
    assert store.url.startswith(f"{store.name}://")
    assert not store.url.endswith("/")
    assert store.files() == []
    assert not store.fs.exists(store.path)

    fs, path = fsspec.url_to_fs(store.url, **store.storage_options)
    assert path == store.path
    assert fs is not store.fs  # skip_instance_cache: no shared instance, no shared cache
    if store.name == "file":
        fs.makedirs(path, exist_ok=True)
    fs.pipe_file(f"{path}/via-url-to-fs.bin", b"front door")
    assert store.read("via-url-to-fs.bin") == b"front door"
    store.write("via-back-door.bin", b"back door")
    assert fs.cat_file(f"{path}/via-back-door.bin") == b"back door"


@pytest.mark.parametrize(
    "data",
    [
        ALL_BYTES + b"\r",
        b"\r",
        b"\r\n",
        ALL_BYTES * 3 + b"\r\n\r",
        b"",
        bytes(reversed(ALL_BYTES)) + b"\x00",
    ],
    ids=["all-bytes-then-CR", "CR", "CRLF", "all-bytes-x3-CRLFCR", "empty", "reversed-NUL"],
)
def test_binary_round_trip_is_exact(store: StoreTarget, data: bytes) -> None:
    store.write("blob.bin", data)
    assert store.read("blob.bin") == data
    assert store.fs.info(store.fs._strip_protocol(store.join("blob.bin")))["size"] == len(data)


def test_five_mib_object(store: StoreTarget) -> None:
    data = _payload(5 * 1024 * 1024, seed=5) + b"\r"
    started = time.perf_counter()
    store.write("big/weights.bin", data)
    written = time.perf_counter()
    back = store.read("big/weights.bin")
    read = time.perf_counter()
    assert back == data
    assert store.fs.size(f"{store.path}/big/weights.bin") == len(data)
    # ranged read of the tail, the way TF.js-style shard readers would use it
    tail = store.fs.cat_file(f"{store.path}/big/weights.bin", start=len(data) - 3, end=len(data))
    assert tail == data[-3:]
    print(f"{store.name}: 5 MiB write {written - started:.3f} s, read {read - written:.3f} s")


def test_find_and_ls_of_a_prefix(store: StoreTarget) -> None:
    store.write_many({
        "model.json": b"{}",
        "group1-shard1of2.bin": b"a",
        "group1-shard2of2.bin": b"b",
        "nested/deeper/x.bin": b"c",
    })
    assert store.files() == [
        "group1-shard1of2.bin",
        "group1-shard2of2.bin",
        "model.json",
        "nested/deeper/x.bin",
    ]
    listed = sorted(p.rstrip("/").rsplit("/", 1)[1]
                    for p in store.fs.ls(store.path, detail=False))
    assert listed == ["group1-shard1of2.bin", "group1-shard2of2.bin", "model.json", "nested"]
    assert store.fs.isdir(f"{store.path}/nested")
    shards = store.fs.glob(f"{store.path}/group1-shard*of2.bin")
    assert len(shards) == 2
    # a sibling whose name merely extends the folder's name is not inside it
    sibling = f"{store.path}-sibling/y.bin"
    if store.name == "file":
        store.fs.makedirs(sibling.rsplit("/", 1)[0], exist_ok=True)
    store.fs.pipe_file(sibling, b"not mine")
    try:
        assert all(p.startswith(store.path + "/") for p in store.fs.find(store.path))
        assert len(store.files()) == 4
    finally:
        store.fs.rm(sibling.rsplit("/", 1)[0], recursive=True)


def test_rm_of_object_and_folder(store: StoreTarget) -> None:
    store.write_many({"keep.bin": b"1", "drop.bin": b"2", "dir/a": b"3", "dir/b": b"4"})
    store.fs.rm(f"{store.path}/drop.bin")
    assert not store.fs.exists(f"{store.path}/drop.bin")
    with pytest.raises(FileNotFoundError):
        store.fs.cat_file(f"{store.path}/drop.bin")
    store.fs.rm(f"{store.path}/dir", recursive=True)
    assert store.files() == ["keep.bin"]


def test_overwrite_replaces_content_and_size(store: StoreTarget) -> None:
    store.write("w.bin", _payload(100_000, seed=1))
    store.write("w.bin", b"short\r")
    assert store.read("w.bin") == b"short\r"
    assert store.fs.size(f"{store.path}/w.bin") == 6
    assert store.files() == ["w.bin"]


def test_concurrent_pipe_and_cat_batches(store: StoreTarget) -> None:
    files = {
        f"batch/group{g}-shard{i}of40.bin": _payload(1000 + 997 * i, seed=g * 100 + i) + b"\r"
        for g in (1, 2)
        for i in range(1, 41)
    }
    files["batch/model.json"] = b'{"format": "layers-model"}'
    started = time.perf_counter()
    store.write_many(files)
    written = time.perf_counter()
    back = store.read_many(list(files))
    read = time.perf_counter()
    assert back == files
    assert store.files() == sorted(files)
    # fs.cat of a list also reports missing objects per path when asked to
    missing = f"{store.path}/batch/nope.bin"
    out = store.fs.cat([missing, f"{store.path}/batch/model.json"], on_error="return")
    assert isinstance(out[missing], FileNotFoundError)
    print(f"{store.name}: {len(files)} files pipe {written - started:.3f} s, "
          f"cat {read - written:.3f} s")


_SEEN_FOLDERS: dict[str, list[str]] = {}


@pytest.mark.parametrize("turn", [1, 2])
def test_two_tests_get_disjoint_empty_folders(store: StoreTarget, turn: int) -> None:
    assert store.files() == []
    earlier = _SEEN_FOLDERS.setdefault(store.name, [])
    for other in earlier:
        assert not store.url.startswith(other + "/") and not other.startswith(store.url + "/")
        assert other != store.url
        # the earlier test's marker is still there (cleanup is per folder), not here
    store.write("marker", str(turn).encode())
    earlier.append(store.url)
    a, b = store.sub("a"), store.sub("b")
    assert a.url != b.url and a.files() == [] and b.files() == []


# ---- endpoints and credentials come only from storage_options --------------------------


CLOUD = [
    pytest.param("s3", marks=pytest.mark.s3),
    pytest.param("gcs", marks=pytest.mark.gcs),
    pytest.param("az", marks=pytest.mark.azure),
]

BOGUS_ENV = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
    "AWS_ACCESS_KEY_ID": "bogus",
    "AWS_SECRET_ACCESS_KEY": "bogus",
    "AWS_DEFAULT_REGION": "eu-central-1",
    "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9",
    "AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string_for("http://127.0.0.1:9"),
}


@pytest.mark.parametrize("backend", CLOUD)
def test_storage_options_win_over_environment(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    target: StoreTarget = request.getfixturevalue(f"{backend}_target")
    for name, value in BOGUS_ENV.items():
        monkeypatch.setenv(name, value)
    fs, path = fsspec.url_to_fs(target.url, **target.storage_options)
    fs.pipe_file(f"{path}/x", b"ok")
    assert fs.cat_file(f"{path}/x") == b"ok"


@pytest.mark.parametrize("backend", CLOUD)
def test_environment_variables_alone_also_work(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """What the module docstring promises for users who configure by environment."""
    target: StoreTarget = request.getfixturevalue(f"{backend}_target")
    target.write("x", b"from the back door")
    options: dict[str, object] = {"skip_instance_cache": True}
    if backend == "s3":
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", request.getfixturevalue("s3_endpoint"))
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    elif backend == "gcs":
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", request.getfixturevalue("gcs_endpoint"))
        options["token"] = "anon"  # FSSPEC_GCS_TOKEN is read only when fsspec is imported
    else:
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING",
                           request.getfixturevalue("azurite_connection_string"))
    fs, path = fsspec.url_to_fs(target.url, **options)
    assert fs.cat_file(f"{path}/x") == b"from the back door"


# ---- static HTTP (read-only) -----------------------------------------------------------


def test_http_static_serves_ranges_and_listings(http_target: HttpTarget) -> None:
    data = ALL_BYTES * 64 + b"\r"
    (http_target.root / "weights.bin").write_bytes(data)
    (http_target.root / "model.json").write_bytes(b'{"weightsManifest": []}')
    (http_target.root / "sub").mkdir()
    (http_target.root / "sub" / "x.bin").write_bytes(b"x")
    fs = http_target.fs
    url = http_target.join("weights.bin")
    assert fs.cat_file(url) == data
    assert fs.info(url)["size"] == len(data)
    # single-byte and mid-file ranges (a server that ignores Range fails these)
    assert fs.cat_file(url, start=0, end=1) == b"\x00"
    assert fs.cat_file(url, start=300, end=302) == data[300:302]
    assert fs.cat_file(url, start=len(data) - 1, end=len(data)) == b"\r"
    with fs.open(url, "rb", block_size=1000) as f:
        f.seek(12_345)
        assert f.read(7) == data[12_345:12_352]
    listed = sorted(p.rstrip("/").rsplit("/", 1)[1]
                    for p in fs.ls(http_target.url + "/", detail=False))
    assert listed == ["model.json", "sub", "weights.bin"]
    both = fs.cat([url, http_target.join("model.json")])
    assert both[url] == data
    with pytest.raises(FileNotFoundError):
        fs.cat_file(http_target.join("missing.bin"))
    # the front door works too
    front, _ = fsspec.url_to_fs(http_target.url, **http_target.storage_options)
    assert front.cat_file(http_target.join("sub/x.bin")) == b"x"


# ---- server lifetime -------------------------------------------------------------------


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_closed(port: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _port_open(port):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.gcs
def test_stop_kills_the_whole_process_group(tmp_path: Path) -> None:
    server = start_fake_gcs(tmp_path)
    try:
        assert _port_open(server.port)
    finally:
        server.stop()
    assert not server.alive()
    assert _wait_closed(server.port)


@pytest.mark.gcs
def test_servers_die_with_a_test_process_killed_without_cleanup(tmp_path: Path) -> None:
    """A session killed hard (SIGKILL, pytest-timeout's os._exit) leaves no server behind."""
    support = Path(__file__).parent
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(support)!r})
        from support.servers import start_fake_gcs, start_moto
        from pathlib import Path
        a = start_fake_gcs(Path({str(tmp_path / 'gcs')!r}))
        b = start_moto(Path({str(tmp_path / 'moto')!r}))
        print(a.port, b.port, flush=True)
        os._exit(0)   # no atexit, no finalizers
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120,
                         text=True, check=True)
    ports = [int(p) for p in out.stdout.split()]
    assert len(ports) == 2
    for port in ports:
        assert _wait_closed(port), f"server on {port} outlived its test process"


@pytest.mark.s3
@pytest.mark.gcs
@pytest.mark.azure
def test_report_startup_times(request: pytest.FixtureRequest,
                              capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("s3_endpoint", "gcs_endpoint", "azurite_connection_string", "http_server"):
        request.getfixturevalue(name)
    with capsys.disabled():
        print("\nserver start-up (spawn to first answer), pid", os.getpid(), ":",
              ", ".join(f"{k} {v:.2f} s" for k, v in sorted(STARTUP_SECONDS.items())))
    for key, value in STARTUP_SECONDS.items():
        request.node.user_properties.append((f"startup_seconds[{key}]", round(value, 3)))
