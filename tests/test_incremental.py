"""Issue 17: move only what changed.

Shards are named after their content, so a re-save sends only the files whose bytes
changed, a repeated copy sends only model.json, and a copy that was killed resumes by
sending what is missing. Counted on the wire: a proxy in front of moto's S3 records
every request and the bytes it carried up (``support/counting_proxy.py``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.counting_proxy import CountingProxy, Exchange, counting_proxy
from support.servers import StoreTarget, environ_without_aws, s3_cli_flags

import tfjs_store
from tfjs_store.format.shards import CONTENT_DIGEST_HEX, shard_digest
from tfjs_store.handlers.fsspec import FsspecHandler

HEAVY = os.environ.get("TFJS_STORE_HEAVY", "") not in ("", "0")
MIB = 1024 * 1024
REPO = Path(__file__).resolve().parents[1]


def _layers(count: int, elements: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``count`` float32 kernels after a 1000-byte bias: each kernel straddles two
    shards of its own size, as a real model's weights do."""
    rng = np.random.default_rng(seed)
    out = {"bias": np.arange(250, dtype=np.float32)}
    for i in range(count):
        out[f"layer{i:02d}/kernel"] = rng.standard_normal(elements, dtype=np.float32)
    return out


def _named_in(raw: bytes) -> list[str]:
    """The weight paths a model.json names."""
    return [p for g in json.loads(raw)["weightsManifest"] for p in g["paths"]]


def _named(path: Path) -> list[str]:
    return _named_in(path.read_bytes())


def _proxied(target: StoreTarget, proxy: CountingProxy) -> dict[str, Any]:
    return {**target.storage_options, "endpoint_url": proxy.url}


def _weight_uploads(exchanges: list[Exchange]) -> list[Exchange]:
    return [e for e in exchanges if e.method in ("PUT", "POST") and ".bin" in e.path]


def _weight_files(target: StoreTarget, sub: str = "") -> list[str]:
    prefix = f"{sub}/" if sub else ""
    return [f for f in target.files() if f.startswith(prefix) and f.endswith(".bin")]


def test_names_carry_the_content_digest_and_a_resave_keeps_unchanged_files(
    tmp_path: Path,
) -> None:
    weights = _layers(4, 64 * 1024)
    url = str(tmp_path / "m")
    tfjs_store.save(weights, url, shard_size_bytes=256 * 1024)
    paths = _named(tmp_path / "m" / "model.json")
    assert all(shard_digest(p) is not None for p in paths), paths
    assert all(len(shard_digest(p) or "") == CONTENT_DIGEST_HEX for p in paths)
    stats = {p: os.stat(tmp_path / "m" / p).st_ino for p in paths}
    weights["layer03/kernel"] = weights["layer03/kernel"] + 1
    tfjs_store.save(weights, url, shard_size_bytes=256 * 1024)
    second = tfjs_store.load(url)
    new_paths = _named(tmp_path / "m" / "model.json")
    kept = set(paths) & set(new_paths)
    # layer03 is the last 256 KiB (plus the bias's 1000 bytes): two of five files change
    assert len(kept) == len(paths) - 2, (paths, new_paths)
    assert all(os.stat(tmp_path / "m" / p).st_ino == stats[p] for p in kept)  # untouched
    assert sorted(os.listdir(tmp_path / "m")) == sorted(["model.json", *new_paths])
    got = second.weights()
    assert all(np.array_equal(got[k], v) for k, v in weights.items())


def test_byte_exact_layouts_keep_tfjs_names(tmp_path: Path) -> None:
    weights = _layers(2, 1000)
    tfjs_store.save(weights, str(tmp_path / "n"), layout="tfjs-node")
    assert sorted(os.listdir(tmp_path / "n")) == ["model.json", "weights.bin"]
    tfjs_store.save(weights, str(tmp_path / "d" / "my.json"), layout="downloads")
    assert sorted(os.listdir(tmp_path / "d")) == ["my.json", "my.weights.bin"]


def test_a_damaged_file_under_its_name_is_written_again(tmp_path: Path) -> None:
    """A file of the right name but the wrong size (a torn upload) is not trusted."""
    weights = _layers(2, 64 * 1024)
    url = str(tmp_path / "m")
    tfjs_store.save(weights, url, shard_size_bytes=128 * 1024)
    names = sorted(n for n in os.listdir(tmp_path / "m") if n.endswith(".bin"))
    torn = tmp_path / "m" / names[0]
    torn.write_bytes(torn.read_bytes()[:1000])
    tfjs_store.save(weights, url, shard_size_bytes=128 * 1024)
    got = tfjs_store.load(url).weights()  # checked against the record as it is read
    assert all(np.array_equal(got[k], v) for k, v in weights.items())


def test_a_copy_refuses_a_source_file_whose_bytes_do_not_match_its_name(
    tmp_path: Path,
) -> None:
    """A content name is a promise: a source that breaks it is not copied under it
    (a later save would otherwise trust the wrong bytes)."""
    src = tmp_path / "src"
    tfjs_store.save(_layers(1, 1000), str(src), checksum=None)
    name = next(n for n in os.listdir(src) if n.endswith(".bin"))
    data = bytearray((src / name).read_bytes())
    data[0] ^= 1
    (src / name).write_bytes(bytes(data))
    with pytest.raises(tfjs_store.WeightDataError, match="named after content"):
        tfjs_store.copy_model(str(src), str(tmp_path / "dst"))
    assert not (tmp_path / "dst" / name).exists()


def test_clean_and_a_save_keep_files_named_by_a_live_save(tmp_path: Path) -> None:
    """A file a save in flight will name (its marker says so) survives ``clean`` even
    when no committed model.json names it: the save may be reusing it."""
    from tfjs_store.handler import _RUNNING

    url = str(tmp_path / "m")
    weights = _layers(2, 64 * 1024)
    tfjs_store.save(weights, url, shard_size_bytes=128 * 1024)
    handler = FsspecHandler(url, shard_size_bytes=128 * 1024)
    leftover = "group1-shard1of9." + "0" * CONTENT_DIGEST_HEX + ".bin"
    (tmp_path / "m" / leftover).write_bytes(b"x" * 10)
    with handler._in_flight("zzzzzzzzabcd", [leftover]):
        assert "zzzzzzzzabcd" in _RUNNING
        assert tfjs_store.clean(url) == []
        tfjs_store.save(_layers(2, 64 * 1024, seed=5), url, shard_size_bytes=128 * 1024)
        assert (tmp_path / "m" / leftover).exists()
    assert tfjs_store.clean(url) == [(tmp_path / "m" / leftover).as_uri()]


@pytest.mark.s3
def test_a_save_waits_out_an_announced_removal_of_a_file_it_reuses(tmp_path: Path) -> None:
    """Another save (or clean) has announced that it removes this model's files and is
    about to: a save of the same model must not trust them because they are still
    there. It waits until the removal is over, then writes them again (without the
    wait, it reused them, committed, and the removal left a model naming lost files)."""
    import threading

    from tfjs_store.handler import new_save_tag

    url = str(tmp_path / "m")
    model = tfjs_store.ModelArtifacts.from_weights(_layers(2, 64))
    tfjs_store.save(model, FsspecHandler(url, shard_size_bytes=256))
    shards = sorted(n for n in os.listdir(url) if shard_digest(n))
    remover = FsspecHandler(url, shard_size_bytes=256)
    saving = threading.Thread(
        target=tfjs_store.save, args=(model, FsspecHandler(url, shard_size_bytes=256))
    )
    with remover._in_flight(new_save_tag()) as marker:
        marker.removing(shards)
        saving.start()
        time.sleep(0.6)
        assert saving.is_alive()  # it waits for the announced removal to end
        remover.store.remove(shards)
    saving.join(30)
    assert not saving.is_alive()
    assert sorted(_named(Path(url) / "model.json")) == shards
    assert all((Path(url) / n).exists() for n in shards)
    loaded = tfjs_store.load(url)
    assert loaded.weight_data is not None


def test_removing_a_model_keeps_the_files_a_save_in_flight_reuses(tmp_path: Path) -> None:
    """A save of the same model has found every shard already stored and is about to
    commit when the model is removed: the removal must leave the shards the save's
    marker names (without the announced removal, the save committed a model.json that
    named removed files)."""
    import threading

    url = str(tmp_path / "m")
    model = tfjs_store.ModelArtifacts.from_weights(_layers(2, 64))
    tfjs_store.save(model, FsspecHandler(url, shard_size_bytes=256))
    shards = sorted(n for n in os.listdir(url) if shard_digest(n))
    saver = FsspecHandler(url, shard_size_bytes=256)
    about_to_commit, go_on = threading.Event(), threading.Event()
    commit = saver._commit_json

    def paused_commit(*args: Any) -> Any:
        about_to_commit.set()
        assert go_on.wait(30)
        return commit(*args)

    saver._commit_json = paused_commit  # type: ignore[method-assign]
    saving = threading.Thread(target=tfjs_store.save, args=(model, saver))
    saving.start()
    assert about_to_commit.wait(30)
    FsspecHandler(url).remove_model()
    assert all((Path(url) / n).exists() for n in shards)  # the save's marker names them
    go_on.set()
    saving.join(30)
    assert not saving.is_alive()
    assert sorted(_named(Path(url) / "model.json")) == shards
    loaded = tfjs_store.load(url)
    assert loaded.weight_data is not None


def test_resaving_64_mib_after_one_4_mib_weight_changed_sends_its_shards(
    s3_target: StoreTarget, s3_endpoint: str
) -> None:
    weights = _layers(16, MIB)  # 16 x 4 MiB kernels
    tfjs_store.save(weights, s3_target.url, storage_options=s3_target.storage_options)
    assert len(_weight_files(s3_target)) == 17  # 64 MiB + 1000 bytes in 4 MiB shards
    weights["layer07/kernel"] = weights["layer07/kernel"] * 2
    with counting_proxy(s3_endpoint) as proxy:
        tfjs_store.save(weights, s3_target.url, storage_options=_proxied(s3_target, proxy))
        exchanges = list(proxy.exchanges)
    uploads = _weight_uploads(exchanges)
    # layer07 straddles shards 8 and 9: those two, nothing else
    assert len(uploads) <= 2, uploads
    assert sum(e.sent_bytes for e in uploads) <= 2 * 4 * MIB
    model_json = s3_target.read("model.json")
    json_puts = [e for e in exchanges if e.method == "PUT" and e.path.endswith("/model.json")]
    assert len(json_puts) == 1
    sent = sum(e.sent_bytes for e in exchanges)
    markers = sum(e.sent_bytes for e in exchanges if ".inflight" in e.path)
    assert markers <= 8 * 1024  # the in-flight marker: the 17 names, twice at most
    # and the request removing the two replaced shards (S3's DeleteObjects body)
    deletes = sum(e.sent_bytes for e in exchanges if e.method == "POST" and "delete" in e.path)
    assert deletes <= 1024
    assert sent <= 2 * 4 * MIB + len(model_json) + markers + deletes, (sent, exchanges)
    assert not any(e.method == "GET" and ".bin" in e.path for e in exchanges)  # none read
    # the folder holds exactly the new model's files
    loaded = tfjs_store.load(s3_target.url, storage_options=s3_target.storage_options)
    assert set(_weight_files(s3_target)) == set(_named_in(model_json))
    got = loaded.weights()
    assert np.array_equal(got["layer07/kernel"], weights["layer07/kernel"])


@pytest.mark.s3
def test_a_repeated_copy_sends_only_model_json(
    s3_target: StoreTarget, s3_endpoint: str, tmp_path: Path
) -> None:
    src = s3_target.join("src")
    dst = s3_target.join("dst")
    options = s3_target.storage_options
    weights = _layers(6, 256 * 1024)
    tfjs_store.save(weights, src, storage_options=options, shard_size_bytes=MIB)
    tfjs_store.copy_model(src, dst, storage_options=options)
    before = {f: s3_target.fs.info(f"{s3_target.path}/{f}")["LastModified"]
              for f in _weight_files(s3_target, "dst")}
    with counting_proxy(s3_endpoint) as proxy:
        tfjs_store.copy_model(src, dst, storage_options=_proxied(s3_target, proxy))
        exchanges = list(proxy.exchanges)
    assert _weight_uploads(exchanges) == []
    assert not any(e.method == "GET" and ".bin" in e.path for e in exchanges)  # none read
    json_puts = [e for e in exchanges if e.method == "PUT" and e.path.endswith("/model.json")]
    assert len(json_puts) == 1
    others = [e for e in exchanges if e.method in ("PUT", "POST") and e not in json_puts]
    assert all(".inflight" in e.path for e in others), others  # the marker, and no more
    assert sum(e.sent_bytes for e in others) <= 4096
    after = {f: s3_target.fs.info(f"{s3_target.path}/{f}")["LastModified"]
             for f in _weight_files(s3_target, "dst")}
    assert after == before
    got = tfjs_store.load(dst, storage_options=options).weights()
    assert all(np.array_equal(got[k], v) for k, v in weights.items())


def _cp_child(src: str, dst: str, endpoint: str) -> subprocess.Popen[bytes]:
    flags = s3_cli_flags(endpoint)
    env = environ_without_aws()
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-m", "tfjs_store", "cp", src, dst, "--no-progress", *flags],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


@pytest.mark.s3
def test_a_killed_cp_resumes_sending_only_what_is_missing(
    s3_target: StoreTarget, s3_endpoint: str, tmp_path: Path
) -> None:
    """``tfjs-store cp`` SIGKILLed once about half the shards landed; run again, it
    sends at most what was missing plus one shard (1 GiB under TFJS_STORE_HEAVY=1)."""
    shard = 4 * MIB if HEAVY else 128 * 1024
    count = 256 if HEAVY else 48
    src = tmp_path / "src"
    weights = {f"w{i:03d}": np.random.default_rng(i).standard_normal(shard // 4, np.float32)
               for i in range(count)}
    tfjs_store.save(weights, str(src), shard_size_bytes=shard)
    dst = s3_target.join("copy")
    with counting_proxy(s3_endpoint, delay=0.02 if HEAVY else 0.05) as slow:
        child = _cp_child(str(src), dst, slow.url)
        try:
            deadline = time.monotonic() + (600 if HEAVY else 120)
            while time.monotonic() < deadline and child.poll() is None:
                done = [e for e in slow.since(0) if e.status == 200]
                if len(_weight_uploads(done)) >= count // 2:
                    break
                time.sleep(0.01)
            assert child.poll() is None, child.communicate()
            child.send_signal(signal.SIGKILL)
        finally:
            child.wait(30)
    landed = _weight_files(s3_target, "copy")
    assert count // 2 <= len(landed) < count, len(landed)
    assert not s3_target.fs.exists(f"{s3_target.path}/copy/model.json")
    missing_bytes = (count - len(landed)) * shard
    with counting_proxy(s3_endpoint) as proxy:
        again = _cp_child(str(src), dst, proxy.url)
        _out, err = again.communicate(timeout=600)
        assert again.returncode == 0, err.decode()
        uploads = _weight_uploads(list(proxy.exchanges))
    assert sum(e.sent_bytes for e in uploads) <= missing_bytes + shard, (
        len(uploads), count - len(landed))
    got = tfjs_store.load(dst, storage_options=s3_target.storage_options).weights()
    assert all(np.array_equal(got[k], v) for k, v in weights.items())
    named = set(_named_in(s3_target.read("copy/model.json")))
    leftovers = {f.removeprefix("copy/") for f in _weight_files(s3_target, "copy")} - named
    assert leftovers == set()  # the killed copy's files were all reused


@pytest.mark.s3
@pytest.mark.timeout(300)
def test_fine_tune_bench_runs_and_incremental_sends_less(tmp_path: Path, s3_endpoint: str) -> None:
    out = tmp_path / "ft.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "fine_tune.py"), "--size", "8MiB", "--saves", "3",
         "--s3-endpoint", s3_endpoint, "--json", str(out)],
        capture_output=True, text=True, timeout=280, cwd=REPO, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(out.read_text())
    full, inc = result["full"], result["incremental"]
    assert full["bytes_sent_total"] >= 3 * 8 * MIB
    # after the first save, only the changed last layer's shards (+ model.json, marker)
    assert inc["bytes_sent_median"] <= result["changed_bytes_per_save"] + 4 * MIB
    assert inc["bytes_sent_total"] < full["bytes_sent_total"]
    assert "| incremental (content-named) |" in proc.stdout
