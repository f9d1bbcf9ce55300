"""Object stores' own checksums: sent on upload (checked on arrival), and compared by
``verify(remote=True)`` without reading weight bytes. Real servers: moto (S3, with the
``crc32c`` package so that it computes real CRC32Cs) and fake-gcs-server."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from support.counting_proxy import CountingProxy, counting_proxy
from support.servers import StoreTarget, gcs_storage_options, s3_storage_options

import tfjs_store
from tfjs_store.format.integrity import crc32c_b64
from tfjs_store.stores.base import WriteJob
from tfjs_store.stores.fsspec import FsspecStore


def _model(shards: int = 4, shard: int = 64) -> dict[str, Any]:
    rng = np.random.default_rng(shards)
    return {"w": rng.standard_normal(shards * shard // 4).astype(np.float32)}


def _record(target: StoreTarget) -> dict[str, Any]:
    return json.loads(target.read("model.json"))["tfjsStore"]  # type: ignore[no-any-return]


def _store(target: StoreTarget) -> FsspecStore:
    return FsspecStore.from_url(target.url, target.storage_options)


def _flip_and_rewrite(target: StoreTarget, rel: str) -> None:
    """One bit flipped, written back through the storage's own client, so that the
    storage computes the new object's checksum itself."""
    data = bytearray(target.read(rel))
    data[len(data) // 2] ^= 0x04
    path = f"{target.path}/{rel}"
    if target.name == "s3":
        # A PutObject asking moto for a CRC32C but sending none: moto computes it (a real
        # one only with the crc32c package). botocore refuses to ask for one without
        # awscrt, so the request header is added after botocore built the request.
        import boto3

        client = boto3.client("s3", endpoint_url=target.storage_options["endpoint_url"],
                              aws_access_key_id="testing", aws_secret_access_key="testing",
                              region_name="us-west-2")

        def ask_for_crc32c(request: Any, **_kwargs: Any) -> None:
            request.headers["x-amz-sdk-checksum-algorithm"] = "CRC32C"

        client.meta.events.register("before-sign.s3.PutObject", ask_for_crc32c)
        bucket, key = path.split("/", 1)
        client.put_object(Bucket=bucket, Key=key, Body=bytes(data))
        head = target.fs.call_s3("head_object", Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        assert head["ChecksumCRC32C"] == crc32c_b64(bytes(data))  # moto's own, and right
    else:
        target.fs.pipe_file(path, bytes(data))  # GCS computes crc32c of every object


@pytest.fixture(params=["s3", "gcs"])
def object_target(request: pytest.FixtureRequest) -> StoreTarget:
    return request.getfixturevalue(f"{request.param}_target")  # type: ignore[no-any-return]


def _proxied(target: StoreTarget, proxy: CountingProxy) -> dict[str, Any]:
    if target.name == "s3":
        return {**s3_storage_options(proxy.url), "skip_instance_cache": True}
    return {**gcs_storage_options(proxy.url), "skip_instance_cache": True}


def _log(proxy: CountingProxy) -> list[tuple[str, str, int]]:
    """What passed the proxy: (method, path with query, response body bytes)."""
    return [(e.method, e.path, e.body_bytes) for e in proxy.exchanges]


def _weight_reads(target: StoreTarget, log: list[tuple[str, str, int]]) -> list[Any]:
    """Requests that downloaded weight bytes (S3 GET of an object; GCS alt=media)."""
    out = []
    for method, path, size in log:
        if ".bin" not in path:
            continue
        if (target.name == "s3" and method == "GET") or "alt=media" in path:
            out.append((method, path, size))
    return out


# -- the flags ------------------------------------------------------------------------------


def test_which_stores_keep_checksums(memory_target: StoreTarget, file_target: StoreTarget,
                                     object_target: StoreTarget) -> None:
    assert not _store(memory_target).keeps_checksums
    assert not _store(file_target).checks_on_arrival
    store = _store(object_target)
    assert store.keeps_checksums and store.checks_on_arrival


# -- checked on arrival ---------------------------------------------------------------------


def test_each_file_is_stored_with_the_crc32c_the_record_holds(object_target: StoreTarget
                                                              ) -> None:
    tfjs_store.save(_model(), object_target.url, storage_options=object_target.storage_options,
                    shard_size_bytes=64)
    files = _record(object_target)["files"]
    assert len(files) == 4
    kept = _store(object_target).stored_checksums(list(files))
    assert kept == {name: {"crc32c": entry["crc32c"]} for name, entry in files.items()}
    if object_target.name == "s3":  # the value was sent (moto keeps what it is sent)
        bucket, key = f"{object_target.path}/{next(iter(files))}".split("/", 1)
        head = object_target.fs.call_s3("head_object", Bucket=bucket, Key=key,
                                        ChecksumMode="ENABLED")
        assert head["ChecksumCRC32C"] == next(iter(files.values()))["crc32c"]


@pytest.mark.parametrize("batch", [False, True])
def test_gcs_a_body_that_arrives_different_is_refused_and_removed(
    gcs_target: StoreTarget, batch: bool
) -> None:
    store = _store(gcs_target)
    body = b"weights as they left" * 50
    # the checksum of other bytes: as if the body had been damaged on the way
    job = WriteJob("g1.bin", len(body), lambda: [memoryview(body)],
                   lambda: crc32c_b64(body[:-1] + b"?"))
    with pytest.raises(tfjs_store.StorageError, match=r"g1\.bin.*damaged on the way"):
        if batch:
            store.write_many([job], lambda _i: None)
        else:
            store.write(job)
    assert gcs_target.files() == []
    good = WriteJob("g2.bin", len(body), lambda: [memoryview(body)], lambda: crc32c_b64(body))
    store.write_many([good], lambda _i: None)
    assert gcs_target.read("g2.bin") == body


def test_s3_sends_the_crc32c_on_put(s3_target: StoreTarget) -> None:
    """moto keeps the value it is sent without checking it (real S3 refuses a body that
    does not match, BadDigest, a StorageError naming the file): what can be shown here
    is that the value travels with the PutObject."""
    store = _store(s3_target)
    body = b"abc" * 1000
    sent = crc32c_b64(body)
    store.write_many([WriteJob("s.bin", len(body), lambda: [memoryview(body)], lambda: sent)],
                     lambda _i: None)
    assert store.stored_checksums(["s.bin", "absent.bin"]) == {"s.bin": {"crc32c": sent}}


def test_moto_keeps_a_crc32c_that_does_not_match_the_body_without_refusing(
    s3_target: StoreTarget,
) -> None:
    """Why no test here shows S3 refusing a body damaged on the way: moto (5.2) takes
    the value sent (header ``x-amz-checksum-crc32c``, or an aws-chunked trailer) as the
    object's checksum and never compares it with the body (``S3Response._get_checksum``
    in moto/s3/responses.py computes one only when none is sent; moto has no BadDigest).
    With the ``crc32c`` package it computes right ones, but only for a PutObject that
    names the algorithm and sends no value. So on moto a shard damaged in transit is
    found by reading it (load, verify), not on arrival nor by ``verify(remote=True)``
    (which trusts the storage to have checked what it keeps, as AWS S3 does). If moto
    starts refusing, this test fails: then write the refusal test (a StorageError
    naming the file, the stored model untouched)."""
    tfjs_store.save(_model(2), s3_target.url, storage_options=s3_target.storage_options,
                    shard_size_bytes=64)
    name, entry = next(iter(_record(s3_target)["files"].items()))
    good = s3_target.read(name)
    damaged = bytes([good[0] ^ 0x01]) + good[1:]
    store = _store(s3_target)
    # the recorded CRC32C (of the bytes that left) sent with bytes that differ from them
    store.write_many([WriteJob(name, len(damaged), lambda: [memoryview(damaged)],
                               lambda: entry["crc32c"])], lambda _i: None)
    assert s3_target.read(name) == damaged  # accepted, not refused
    assert crc32c_b64(damaged) != entry["crc32c"]
    assert store.stored_checksums([name]) == {name: {"crc32c": entry["crc32c"]}}
    with pytest.raises(tfjs_store.IntegrityError, match=name.replace(".", r"\.")):
        tfjs_store.load(s3_target.url, storage_options=s3_target.storage_options)
    report = tfjs_store.verify(s3_target.url, storage_options=s3_target.storage_options)
    assert [(p.kind, p.path) for p in report.problems] == [("checksum-mismatch", name)]


# -- verify(remote=True) ---------------------------------------------------------------------


@pytest.mark.parametrize("shards", [256])
def test_remote_verify_reads_no_weight_byte_and_names_a_flipped_shard(
    object_target: StoreTarget, shards: int
) -> None:
    tfjs_store.save(_model(shards, 256), object_target.url,
                    storage_options=object_target.storage_options, shard_size_bytes=256)
    paths = list(_record(object_target)["files"])
    assert len(paths) == shards
    server = object_target.storage_options["endpoint_url"]
    with counting_proxy(server) as proxy:
        report = tfjs_store.verify(object_target.url, remote=True,
                                   storage_options=_proxied(object_target, proxy))
        assert report.ok, report.problems
        assert report.remote and sorted(report.proven_remotely) == sorted(paths)
        assert report.read_files == () and report.files_checked == 0
        assert report.checksums_checked == shards
        log = _log(proxy)
        assert _weight_reads(object_target, log) == []
        per_file = [sum(1 for _m, p, _s in log if name in p) for name in paths]
        assert max(per_file) <= 1, log
        assert len(log) <= shards + 4  # model.json: a size and a read, at most

        victim = paths[137]
        _flip_and_rewrite(object_target, victim)
        proxy.clear()
        report = tfjs_store.verify(object_target.url, remote=True,
                                   storage_options=_proxied(object_target, proxy))
        assert [(p.kind, p.path) for p in report.problems] == [("checksum-mismatch", victim)]
        message = report.problems[0].message
        assert victim in message and "CRC32C the store keeps" in message
        assert _weight_reads(object_target, _log(proxy)) == []


def test_remote_verify_reads_the_files_the_store_keeps_no_crc32c_for(
    object_target: StoreTarget,
) -> None:
    options = object_target.storage_options
    tfjs_store.save(_model(3), object_target.url, storage_options=options,
                    shard_size_bytes=64, checksum="sha256")
    report = tfjs_store.verify(object_target.url, storage_options=options, remote=True)
    assert report.ok and report.proven_remotely == ()
    assert len(report.read_files) == 3 and report.files_checked == 3
    assert report.weights_decoded == 1 and report.checksums_checked == 3

    # one file rewritten without a CRC32C the store keeps: only that one is read
    tfjs_store.save(_model(3), object_target.url, storage_options=options, shard_size_bytes=64)
    paths = list(_record(object_target)["files"])
    if object_target.name == "s3":
        bucket, key = f"{object_target.path}/{paths[1]}".split("/", 1)
        body = object_target.read(paths[1])
        object_target.fs.call_s3("put_object", Bucket=bucket, Key=key, Body=body,
                                 ChecksumAlgorithm="SHA256")
        report = tfjs_store.verify(object_target.url, storage_options=options, remote=True)
        assert report.ok, report.problems
        assert report.read_files == (paths[1],)
        assert sorted(report.proven_remotely) == sorted([paths[0], paths[2]])


def test_remote_verify_on_a_store_without_checksums_reads_everything(
    file_target: StoreTarget,
) -> None:
    tfjs_store.save(_model(2), file_target.url, shard_size_bytes=64)
    report = tfjs_store.verify(file_target.url, remote=True)
    assert report.ok and report.proven_remotely == () and len(report.read_files) == 2
    assert any("keeps no checksum" in w for w in report.warnings)


def test_cli_verify_remote(gcs_target: StoreTarget) -> None:
    tfjs_store.save(_model(2), gcs_target.url, storage_options=gcs_target.storage_options,
                    shard_size_bytes=64)
    endpoint = gcs_target.storage_options["endpoint_url"]
    argv = [sys.executable, "-m", "tfjs_store", "verify", gcs_target.url, "--remote",
            "-o", f"endpoint_url={endpoint}", "-o", "token=anon"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 files read" in proc.stdout and "2 proven by the store's own checksums" in proc.stdout
    proc = subprocess.run([*argv, "--json"], capture_output=True, text=True, timeout=120)
    report = json.loads(proc.stdout)
    assert report["remote"] is True and len(report["provenRemotely"]) == 2
    assert report["readFiles"] == []
