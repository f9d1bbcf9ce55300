"""The ``tfjs-store`` command, driven through its real entry points.

Every command runs as a user runs it: the installed ``tfjs-store`` script or
``python -m tfjs_store`` in a fresh process, against real storage (local folders,
moto's S3 server, the HTTP bridge), checking output and exit status. A few in-process
tests cover the command line's own parsing logic.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import google_crc32c
import numpy as np
import pytest
from support.servers import environ_without_aws, s3_cli_flags

import tfjs_store
from tfjs_store.cli import (
    EXIT_DEPENDENCY,
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_STORAGE,
    EXIT_USAGE,
    main,
)

EXAMPLE = Path(tfjs_store.__file__).parent / "data" / "example"
PLUGINS = Path(__file__).parent / "plugins"


def _script() -> str:
    """The installed console script itself (not a version manager's shim)."""
    beside = Path(sys.executable).parent / "tfjs-store"
    if beside.exists():
        return str(beside)
    found = shutil.which("tfjs-store")
    assert found, "the tfjs-store console script is not installed (pip install -e .)"
    return found


ENTRY_POINTS = {
    "script": [_script()],
    "module": [sys.executable, "-m", "tfjs_store"],
}


def run(
    *args: str,
    entry: str = "script",
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **(env or {})}
    return subprocess.run(
        [*ENTRY_POINTS[entry], *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def run_json(*args: str, expect: int = 0, **kwargs: Any) -> Any:
    proc = run(*args, **kwargs)
    assert proc.returncode == expect, proc.stderr + proc.stdout
    return json.loads(proc.stdout)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """User errors are one ``tfjs-store: error:`` line plus a hint, never a traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines and lines[0].startswith("tfjs-store: error: "), proc.stderr
    assert all(line.startswith("  hint: ") for line in lines[1:]), proc.stderr
    return lines[0]


# -- models to work on -----------------------------------------------------------------


def _weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "dense/kernel": rng.standard_normal((40, 30)).astype(np.float32),
        "dense/bias": rng.standard_normal(30).astype(np.float32),
        "out/kernel": rng.standard_normal((30, 5)).astype(np.float32),
        "steps": np.arange(4, dtype=np.int32),
    }


TOPOLOGY = {
    "class_name": "Model",
    "config": {
        "name": "two",
        "layers": [
            {
                "class_name": "InputLayer",
                "name": "x",
                "config": {"batch_input_shape": [None, 40], "dtype": "float32", "name": "x"},
                "inbound_nodes": [],
            },
            {"class_name": "Dense", "name": "dense", "config": {"units": 30, "name": "dense"}},
            {"class_name": "Dense", "name": "out", "config": {"units": 5, "name": "out"}},
        ],
        "input_layers": [["x", 0, 0]],
        "output_layers": [["out", 0, 0]],
    },
}


def save_model(path: Path, **options: Any) -> Path:
    artifacts = tfjs_store.ModelArtifacts.from_weights(
        _weights(), model_topology=TOPOLOGY, format="layers-model", generated_by="test"
    )
    tfjs_store.save(artifacts, str(path), **options)
    return path


@pytest.fixture
def sharded(tmp_path: Path) -> Path:
    """tfjs-store's own layout: 1000-byte shards, SHA-256 of each recorded."""
    return save_model(tmp_path / "sharded", shard_size_bytes=1000, checksum="sha256")


@pytest.fixture
def sharded_crc(tmp_path: Path) -> Path:
    """tfjs-store's own layout as saved by default: CRC32C of each file recorded."""
    return save_model(tmp_path / "sharded-crc", shard_size_bytes=1000)


@pytest.fixture
def node_layout(tmp_path: Path) -> Path:
    """TF.js's tfjs-node layout: one weights.bin, no checksums."""
    return save_model(tmp_path / "node", layout="tfjs-node")


def shards_of(model: Path) -> list[Path]:
    manifest = json.loads((model / "model.json").read_text())["weightsManifest"]
    return [model / p for group in manifest for p in group["paths"]]


def flip_bit(path: Path, offset: int = 17) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


# -- help, version, usage errors -------------------------------------------------------


@pytest.mark.parametrize("entry", ["script", "module"])
def test_help_lists_every_command_and_the_exit_codes(entry: str) -> None:
    proc = run("--help", entry=entry)
    assert proc.returncode == EXIT_OK, proc.stderr
    for command in ("info", "verify", "get", "ls", "cp", "mv", "rm", "serve", "conformance",
                    "plugins"):
        assert f"\n    {command}" in proc.stdout
    assert "Exit status: 0 ok" in proc.stdout
    version = run("--version", entry=entry)
    assert (
        version.returncode == 0 and version.stdout.strip() == f"tfjs-store {tfjs_store.__version__}"
    )


@pytest.mark.parametrize("entry", ["script", "module"])
def test_usage_errors_exit_2(entry: str, tmp_path: Path) -> None:
    assert run(entry=entry).returncode == EXIT_USAGE  # no command
    bogus = run("bogus", entry=entry)
    assert bogus.returncode == EXIT_USAGE and "invalid choice" in bogus.stderr
    missing_arg = run("info", entry=entry)
    assert missing_arg.returncode == EXIT_USAGE
    shard = run("cp", "example", str(tmp_path / "x"), "--shard-size", "4XB", entry=entry)
    assert shard.returncode == EXIT_USAGE
    assert "--shard-size" in one_error_line(shard)
    option = run("info", "example", "-o", "no-equals-sign", entry=entry)
    assert option.returncode == EXIT_USAGE
    assert "KEY=VALUE" in one_error_line(option)
    assert not (tmp_path / "x").exists()


def test_unknown_scheme_is_a_usage_error_naming_plugins() -> None:
    proc = run("info", "nope://bucket/model")
    assert proc.returncode == EXIT_USAGE
    assert "nope://bucket/model" in one_error_line(proc)
    assert "tfjs-store plugins" in proc.stderr


def test_missing_package_for_a_scheme_exits_4_naming_it() -> None:
    import importlib.util

    candidates = [
        ("oss", "ossfs"),
        ("sftp", "paramiko"),
        ("webdav", "webdav4"),
        ("dropbox", "dropboxdrivefs"),
    ]
    absent = [(s, pkg) for s, pkg in candidates if importlib.util.find_spec(pkg) is None]
    assert absent, "every candidate package is installed; add a scheme whose package is not"
    scheme, package = absent[0]
    proc = run("info", f"{scheme}://somewhere/models/m")
    assert proc.returncode == EXIT_DEPENDENCY
    assert package in one_error_line(proc)


def test_unreachable_storage_exits_5() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run("info", f"http://127.0.0.1:{port}/m/model.json")
    assert proc.returncode == EXIT_STORAGE
    assert "refused" in one_error_line(proc).lower()


def test_debug_shows_the_traceback() -> None:
    proc = run("--debug", "info", "nope://x")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "HandlerError" in proc.stderr


# -- the README's first command --------------------------------------------------------


@pytest.mark.parametrize("entry", ["script", "module"])
def test_readme_cp_example_then_info(entry: str, tmp_path: Path) -> None:
    cp = run("cp", "example", "./models/example", entry=entry, cwd=tmp_path)
    assert cp.returncode == EXIT_OK, cp.stderr
    assert cp.stdout.strip() == "copied example -> ./models/example (556 B of weights)"
    assert cp.stderr == ""  # not a terminal: no progress, no noise
    info = run("info", "./models/example", entry=entry, cwd=tmp_path)
    assert info.returncode == EXIT_OK, info.stderr
    text = info.stdout
    for expected in (
        "format     layers-model",
        "generated by TensorFlow.js tfjs-layers v4.22.0",
        'Sequential "mlp", 3 layers: 3 Dense',
        "inputs     mlp_d1 [?, 4] float32",
        "weights: 6 (139 parameters, 556 B)",
        "CRC32C recorded for 1 of 1 files",  # the default checksum
    ):
        assert expected in text, text
    assert any(
        line.split() == ["mlp_d1/kernel", "[4,", "8]", "float32", "-", "128"]
        for line in text.splitlines()
    ), text
    # What landed is the bundled model, weight for weight.
    copied = tfjs_store.load(str(tmp_path / "models" / "example")).weights()
    original = tfjs_store.load(str(EXAMPLE)).weights()
    assert copied.keys() == original.keys()
    for name in original:
        assert np.array_equal(copied[name], original[name])


def test_info_json(sharded: Path) -> None:
    out = run_json("info", str(sharded), "--json")
    assert out["format"] == "layers-model"
    assert out["generatedBy"] == "test"
    assert out["topology"]["className"] == "Model"
    assert out["topology"]["layerCount"] == 3
    assert out["topology"]["layerKinds"] == {"InputLayer": 1, "Dense": 2}
    assert out["topology"]["inputs"] == [{"name": "x", "shape": [None, 40], "dtype": "float32"}]
    assert [o["name"] for o in out["topology"]["outputs"]] == ["out"]
    assert [(w["name"], w["shape"], w["dtype"], w["bytes"]) for w in out["weights"]] == [
        ("dense/kernel", [40, 30], "float32", 4800),
        ("dense/bias", [30], "float32", 120),
        ("out/kernel", [30, 5], "float32", 600),
        ("steps", [4], "int32", 16),
    ]
    assert out["totals"]["parameters"] == 1200 + 30 + 150 + 4
    assert out["totals"]["weightBytes"] == 5536
    files = out["files"]
    assert len(files) == out["totals"]["files"] == 6  # ceil(5536 / 1000)
    assert [f["bytes"] for f in files] == [1000] * 5 + [536]
    assert [f["path"] for f in files] == [p.name for p in shards_of(sharded)]
    assert out["checksums"] is True
    for f, path in zip(files, shards_of(sharded), strict=True):
        assert f["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_info_of_the_bundled_example_and_of_a_tfjs_layout(node_layout: Path) -> None:
    out = run_json("info", "example", "--json")
    assert out["files"] == [
        {"group": 1, "path": "weights.bin", "bytes": 556, "sha256": None, "missing": False,
         "crc32c": None}
    ]
    assert out["checksums"] is False
    node = run_json("info", str(node_layout / "model.json"), "--json")  # the JSON file works too
    assert [f["path"] for f in node["files"]] == ["weights.bin"]
    assert node["files"][0]["bytes"] == (node_layout / "weights.bin").stat().st_size


def test_info_of_converter_models_reads_their_signature_and_keras_wrapper() -> None:
    """Real TF.js converter output (tests/fixtures/converter): a graph model's inputs and
    outputs come from its signature; a Keras model's topology sits under model_config."""
    fixtures = Path(__file__).parent / "fixtures" / "converter"
    graph = run_json("info", str(fixtures / "graph-conv-uint8"), "--json")
    assert graph["format"] == "graph-model"
    assert graph["topology"]["className"] == "GraphDef"
    assert graph["topology"]["layerKinds"].get("Placeholder") == len(graph["topology"]["inputs"])
    for tensor in graph["topology"]["inputs"] + graph["topology"]["outputs"]:
        assert tensor["dtype"] == "float32" and tensor["shape"][0] is None
    assert any(
        w["quantization"] and w["quantization"]["dtype"] == "uint8" for w in graph["weights"]
    )
    keras = run_json("info", str(fixtures / "layers-functional-uint16-split"), "--json")
    assert keras["topology"]["className"] == "Functional"
    assert keras["topology"]["layerKinds"]["InputLayer"] == len(keras["topology"]["inputs"]) >= 1
    assert run("verify", str(fixtures / "graph-conv-uint8")).returncode == EXIT_OK


def test_info_of_nothing_exits_3(tmp_path: Path) -> None:
    proc = run("info", str(tmp_path / "absent"))
    assert proc.returncode == EXIT_NOT_FOUND
    assert "absent" in one_error_line(proc)


# -- verify ----------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["script", "module"])
def test_verify_intact_model_exits_0(entry: str, sharded: Path) -> None:
    proc = run("verify", str(sharded), entry=entry)
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OK  ")
    assert "6 files read, 6 checksums compared, 4 weights decoded" in proc.stdout
    report = run_json("verify", str(sharded), "--json")
    assert report["ok"] is True and report["problems"] == []
    assert report["checked"] == {"files": 6, "checksums": 6, "weights": 4, "fileByFile": True}


def test_verify_catches_a_truncated_shard(sharded: Path) -> None:
    victim = shards_of(sharded)[2]
    victim.write_bytes(victim.read_bytes()[:-1])
    proc = run("verify", str(sharded))
    assert proc.returncode == EXIT_FAILED
    assert proc.stdout.startswith("FAILED")
    assert f"size-mismatch: weight file {victim.as_uri()} is 999 bytes" in proc.stdout


def test_verify_catches_a_truncated_weights_bin_without_checksums(node_layout: Path) -> None:
    weights = node_layout / "weights.bin"
    weights.write_bytes(weights.read_bytes()[:-4])
    report = run_json("verify", str(node_layout), "--json", expect=EXIT_FAILED)
    assert [p["kind"] for p in report["problems"]] == ["size-mismatch"]
    assert "5532 bytes" in report["problems"][0]["message"]


def test_verify_catches_a_missing_shard(sharded: Path) -> None:
    victim = shards_of(sharded)[-1]
    victim.unlink()
    report = run_json("verify", str(sharded), "--json", expect=EXIT_FAILED)
    assert report["problems"] == [
        {
            "kind": "missing-file",
            "path": victim.name,
            "message": f"weight file {victim.as_uri()} named in model.json does not exist",
        }
    ]


def test_verify_catches_one_flipped_bit_with_checksums(sharded: Path) -> None:
    victim = shards_of(sharded)[0]
    flip_bit(victim)
    # A flipped bit keeps sizes and decodes fine: only the digest can tell.
    proc = run("verify", str(sharded))
    assert proc.returncode == EXIT_FAILED, proc.stdout
    assert "1 problem" in proc.stdout
    assert f"checksum-mismatch: SHA-256 of weight file {victim.as_uri()}" in proc.stdout


def test_verify_catches_one_flipped_bit_with_the_default_crc32c(sharded_crc: Path) -> None:
    victim = shards_of(sharded_crc)[3]
    flip_bit(victim, offset=999)
    proc = run("verify", str(sharded_crc))
    assert proc.returncode == EXIT_FAILED, proc.stdout
    assert "6 files read, 6 checksums compared" in proc.stdout
    assert f"checksum-mismatch: CRC32C of weight file {victim.as_uri()}" in proc.stdout


def test_info_json_lists_the_default_crc32c(sharded_crc: Path) -> None:
    out = run_json("info", str(sharded_crc), "--json")
    assert out["checksums"] is True
    for f, path in zip(out["files"], shards_of(sharded_crc), strict=True):
        assert f["sha256"] is None
        assert f["crc32c"] == base64.b64encode(
            google_crc32c.value(path.read_bytes()).to_bytes(4, "big")
        ).decode()


def test_cp_checksum_option_picks_what_is_recorded(sharded: Path, tmp_path: Path) -> None:
    for kind, field in (("sha256", "sha256"), ("crc32c", "crc32c"), ("none", None)):
        dst = tmp_path / f"cp-{kind}"
        assert run("cp", str(sharded), str(dst), "--checksum", kind).returncode == EXIT_OK
        record = json.loads((dst / "model.json").read_text()).get("tfjsStore")
        if field is None:
            assert record is None
            continue
        assert all(set(f) == {"size", field} for f in record["files"].values()), record


def test_a_flipped_bit_without_checksums_is_out_of_reach_and_verify_says_so(
    node_layout: Path,
) -> None:
    flip_bit(node_layout / "weights.bin")
    report = run_json("verify", str(node_layout), "--json")
    assert report["ok"] is True
    assert any("records no checksums" in w for w in report["warnings"])


def test_verify_lists_every_problem_not_just_the_first(sharded: Path) -> None:
    first, second, third = shards_of(sharded)[:3]
    first.write_bytes(first.read_bytes()[:10])
    second.unlink()
    flip_bit(third)
    report = run_json("verify", str(sharded), "--json", expect=EXIT_FAILED)
    assert [(p["kind"], p["path"]) for p in report["problems"]] == [
        ("size-mismatch", first.name),
        ("missing-file", second.name),
        ("checksum-mismatch", third.name),
    ]
    proc = run("verify", str(sharded))
    assert proc.returncode == EXIT_FAILED
    assert "3 problems" in proc.stdout
    # load() stops at the first of them.
    with pytest.raises(tfjs_store.TfjsStoreError):
        tfjs_store.load(str(sharded))


def test_verify_reports_schema_and_unsafe_paths(tmp_path: Path, sharded: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.json").write_text('{"weightsManifest": [{"paths": 3}]}')
    report = run_json("verify", str(broken), "--json", expect=EXIT_FAILED)
    assert [p["kind"] for p in report["problems"]] == ["schema"]
    assert "paths" in report["problems"][0]["message"]

    doc = json.loads((sharded / "model.json").read_text())
    doc["weightsManifest"][0]["paths"][0] = "../outside.bin"
    (sharded / "model.json").write_text(json.dumps(doc))
    report = run_json("verify", str(sharded), "--json", expect=EXIT_FAILED)
    assert [(p["kind"], p["path"]) for p in report["problems"]] == [
        ("unsafe-path", "../outside.bin")
    ]


def test_verify_nothing_exits_3(tmp_path: Path) -> None:
    assert run("verify", str(tmp_path / "absent")).returncode == EXIT_NOT_FOUND


# -- ls --------------------------------------------------------------------------------


def test_ls_lists_every_model_under_a_prefix(tmp_path: Path) -> None:
    root = tmp_path / "models"
    save_model(root / "a")
    save_model(root / "team" / "b", layout="tfjs-node")
    (root / "not-a-model").mkdir()
    (root / "not-a-model" / "notes.txt").write_text("hello")
    listed = run_json("ls", str(root), "--json")
    assert [m["url"] for m in listed] == [(root / "a").as_uri(), (root / "team" / "b").as_uri()]
    assert all(m["weightDataBytes"] == 5536 for m in listed)
    text = run("ls", str(root))
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["MODEL", "WEIGHTS", "SAVED", "(UTC)"]
    assert [line.split()[0] for line in lines[1:]] == [m["url"] for m in listed]


def test_ls_of_an_empty_prefix(tmp_path: Path) -> None:
    proc = run("ls", str(tmp_path))
    assert proc.returncode == EXIT_OK and proc.stdout == ""
    assert "no models under" in proc.stderr
    assert run_json("ls", str(tmp_path), "--json") == []


# -- cp / mv / rm ----------------------------------------------------------------------


def test_cp_reshards(sharded: Path, tmp_path: Path) -> None:
    dst = tmp_path / "resharded"
    out = run_json("cp", str(sharded), str(dst), "--shard-size", "2KiB", "--json")
    assert out["modelArtifactsInfo"]["weightDataBytes"] == 5536
    sizes = [p.stat().st_size for p in shards_of(dst)]
    assert sizes == [2048, 2048, 1440]
    decimal = tmp_path / "decimal"
    assert run("cp", str(sharded), str(decimal), "--shard-size", "2KB").returncode == 0
    assert [p.stat().st_size for p in shards_of(decimal)] == [2000, 2000, 1536]
    loaded = tfjs_store.load(str(dst)).weights()
    for name, value in _weights().items():
        assert np.array_equal(loaded[name], value)


def test_cp_tfjs_node_layout_is_byte_identical_to_tfjs(tmp_path: Path) -> None:
    """The bundled model was written by real TF.js (tfjs-node's file:// handler)."""
    dst = tmp_path / "node"
    proc = run("cp", "example", str(dst), "--layout", "tfjs-node")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in dst.iterdir()) == ["model.json", "weights.bin"]
    assert (dst / "model.json").read_bytes() == (EXAMPLE / "model.json").read_bytes()
    assert (dst / "weights.bin").read_bytes() == (EXAMPLE / "weights.bin").read_bytes()
    with_sums = tmp_path / "node-sums"
    assert (
        run("cp", "example", str(with_sums), "--layout", "tfjs-node", "--checksums").returncode == 0
    )
    assert "tfjsStore" in json.loads((with_sums / "model.json").read_text())


def test_cp_quantizes_like_the_converter(sharded: Path, tmp_path: Path) -> None:
    dst = tmp_path / "uint8"
    proc = run("cp", str(sharded), str(dst), "--quantize", "uint8")
    assert proc.returncode == 0, proc.stderr
    assert "3 quantized to uint8" in proc.stdout
    info = run_json("info", str(dst), "--json")
    quantized = {w["name"]: w["quantization"] for w in info["weights"]}
    assert {k: (v or {}).get("dtype") for k, v in quantized.items()} == {
        "dense/kernel": "uint8",
        "dense/bias": "uint8",
        "out/kernel": "uint8",
        "steps": None,  # int32 weights stay as they are
    }
    assert info["totals"]["weightBytes"] == 1200 + 30 + 150 + 16
    loaded = tfjs_store.load(str(dst)).weights()
    for name, value in _weights().items():
        if name == "steps":
            assert np.array_equal(loaded[name], value)
            continue
        scale = quantized[name]["scale"]
        assert np.max(np.abs(loaded[name] - value)) <= scale / 2 + 1e-6


def test_cp_quantizes_only_matching_weights(sharded: Path, tmp_path: Path) -> None:
    dst = tmp_path / "f16"
    out = run_json(
        "cp", str(sharded), str(dst), "--quantize", "float16", "--match", "*/kernel", "--json"
    )
    assert out["quantized"] == {"dtype": "float16", "weights": ["dense/kernel", "out/kernel"]}
    loaded = tfjs_store.load(str(dst))
    specs = {s.name: s.quantization.dtype if s.quantization else None for s in loaded.weight_specs}
    assert specs == {
        "dense/kernel": "float16",
        "dense/bias": None,
        "out/kernel": "float16",
        "steps": None,
    }
    weights = loaded.weights()
    assert np.array_equal(weights["dense/bias"], _weights()["dense/bias"])
    assert np.array_equal(
        weights["out/kernel"], _weights()["out/kernel"].astype(np.float16).astype(np.float32)
    )


def test_cp_quantize_usage_errors(sharded: Path, tmp_path: Path) -> None:
    dst = tmp_path / "q"
    no_dtype = run("cp", str(sharded), str(dst), "--match", "*")
    assert no_dtype.returncode == EXIT_USAGE and "--quantize" in one_error_line(no_dtype)
    nothing = run("cp", str(sharded), str(dst), "--quantize", "uint8", "--match", "conv*")
    assert nothing.returncode == EXIT_USAGE
    assert "'conv*' matches no weight" in one_error_line(nothing)
    assert "dense/kernel" in nothing.stderr  # the hint names the weights there are
    assert not dst.exists()


def test_cp_refuses_to_write_the_example_or_onto_itself(sharded: Path) -> None:
    for args in (("cp", str(sharded), "example"), ("mv", "example", str(sharded / "x"))):
        proc = run(*args)
        assert proc.returncode == EXIT_USAGE
        assert "read-only" in one_error_line(proc)
    same = run("cp", str(sharded), str(sharded) + "/")
    assert same.returncode == EXIT_USAGE and "same" in one_error_line(same)


def test_cp_missing_source_exits_3_and_writes_nothing(tmp_path: Path) -> None:
    proc = run("cp", str(tmp_path / "absent"), str(tmp_path / "dst"))
    assert proc.returncode == EXIT_NOT_FOUND
    one_error_line(proc)
    assert not (tmp_path / "dst").exists()


def test_cp_option_the_destination_does_not_take_is_a_usage_error(tmp_path: Path) -> None:
    proc = run("cp", "example", "http://127.0.0.1:9/upload", "--layout", "tfjs-node")
    assert proc.returncode == EXIT_USAGE
    assert "layout" in one_error_line(proc)


def test_mv_then_rm(sharded: Path, tmp_path: Path) -> None:
    entry = "module"  # python -m tfjs_store (the script runs mv in the progress test)
    dst = tmp_path / "moved"
    mv = run("mv", str(sharded), str(dst), "--shard-size", "4MiB", entry=entry)
    assert mv.returncode == 0, mv.stderr
    assert mv.stdout.startswith(f"moved {sharded} -> {dst}")
    assert not (sharded / "model.json").exists()
    assert len(shards_of(dst)) == 1
    assert run("verify", str(dst), entry=entry).returncode == 0
    rm = run("rm", str(dst), entry=entry)
    assert rm.returncode == 0 and rm.stdout.strip() == f"removed {dst} (5.4 KiB of weights)"
    assert not dst.exists() or not any(dst.iterdir())
    again = run("rm", str(dst), entry=entry)
    assert again.returncode == EXIT_NOT_FOUND
    one_error_line(again)
    assert run("rm", "-f", str(dst), entry=entry).returncode == 0


# -- progress --------------------------------------------------------------------------


@pytest.fixture
def big_model(tmp_path: Path) -> Path:
    path = tmp_path / "big"
    tfjs_store.save({"w": np.zeros(5 * 1024 * 1024 // 4 + 1, np.float32)}, str(path))
    return path


def _run_on_terminal(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal; stdout stays a pipe."""
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*ENTRY_POINTS["script"], *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=slave,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        stdout = proc.stdout.read() if proc.stdout else ""
        code = proc.wait(timeout=120)
    finally:
        os.close(master)
    return code, stdout, b"".join(chunks).decode("utf-8", "replace")


def test_progress_shows_on_a_terminal_for_big_transfers_only(
    big_model: Path, tmp_path: Path
) -> None:
    code, stdout, terminal = _run_on_terminal("cp", str(big_model), "dst", cwd=tmp_path)
    assert code == 0, terminal
    assert "copied" in stdout
    assert "cp: reading 5.0 MiB [" in terminal
    assert "cp: writing 5.0 MiB [" in terminal
    assert terminal.endswith("\r")  # the bar erases itself

    code, stdout, terminal = _run_on_terminal("mv", "dst", "dst2", "--no-progress", cwd=tmp_path)
    assert code == 0 and "moved" in stdout and terminal == ""
    code, stdout, terminal = _run_on_terminal("cp", "example", "small", cwd=tmp_path)
    assert code == 0 and terminal == ""  # 556 bytes: no bar

    piped = run("cp", "dst2", "dst3", cwd=tmp_path)  # not a terminal: silent
    assert piped.returncode == 0 and piped.stderr == ""


def test_progress_line_follows_phases_and_handler_reports() -> None:
    import io

    from tfjs_store.cli._manage import _progress_option
    from tfjs_store.cli._progress import Progress

    progress = Progress(io.StringIO(), 8 * 1024 * 1024, "cp", ["reading", "writing"], enabled=True)
    start = progress._start
    assert progress.render(start).startswith("cp: reading 8.0 MiB [>-----------")
    progress.on_progress(0.5)  # TF.js-style fraction of the phase
    assert progress.render(start) == "cp: reading 8.0 MiB [######------------------]   0.0s"
    progress.phase("writing")
    progress.advance(8 * 1024 * 1024)
    assert progress.render(start) == "cp: writing 8.0 MiB [########################]   0.0s"

    from tfjs_store import ModelArtifacts, register_handler

    calls: list[dict[str, Any]] = []

    class Reports:  # a plugin's handler that says it calls on_progress
        reports_progress = True

        def __init__(self, url: str, **options: Any) -> None:
            calls.append(options)
            self.on_progress = options.get("on_progress")

        def load(self) -> ModelArtifacts:
            if self.on_progress is not None:
                self.on_progress(1.0)
            return ModelArtifacts.from_weights({"w": np.ones(2, np.float32)})

    class Silent:  # one that does not: its signature refuses on_progress
        def __init__(self, url: str, *, storage_options: Any = None) -> None:
            calls.append({"storage_options": storage_options})

        def load(self) -> ModelArtifacts:
            return ModelArtifacts.from_weights({"w": np.ones(2, np.float32)})

    register_handler("progress-test-reports", Reports)
    register_handler("progress-test-silent", Silent)
    progress.phase("reading")
    url = "progress-test-reports://m"
    tfjs_store.load(url, storage_options={"token": "t"}, **_progress_option(progress, url))
    assert calls[-1] == {"storage_options": {"token": "t"}, "on_progress": progress.on_progress}
    assert progress.render(start).startswith("cp: reading 8.0 MiB [############----")
    url = "progress-test-silent://m"  # read from the flag: never an OptionError to retry
    assert _progress_option(progress, url) == {}
    tfjs_store.load(url, storage_options={"token": "t"}, **_progress_option(progress, url))
    assert calls[-1] == {"storage_options": {"token": "t"}}
    # tfjs-store's own handlers report (file:// here), and so does every store plugin
    assert _progress_option(progress, "/tmp/m") == {"on_progress": progress.on_progress}
    progress.enabled = False  # no bar: the option is never passed
    assert _progress_option(progress, "progress-test-reports://m") == {}


# -- plugins ---------------------------------------------------------------------------


def test_plugins_lists_schemes_and_their_distribution() -> None:
    out = run_json("plugins", "--json")
    rows = {r["scheme"]: r for r in out["handlers"]}
    for scheme in ("file", "memory", "s3", "gs", "az", "http", "https", "downloads"):
        assert rows[scheme]["source"] == "tfjs-store" and rows[scheme]["active"], rows[scheme]
    assert rows["downloads"]["target"] == "tfjs_store.handlers.downloads:DownloadsHandler"
    assert rows["s3"]["installed"] is True  # s3fs is installed for the tests
    assert out["fallback"]["handler"] == "tfjs_store.handlers.fsspec:FsspecHandler"
    assert "sftp" in out["fallback"]["schemes"] and "s3" not in out["fallback"]["schemes"]
    text = run("plugins", "--all")
    assert text.returncode == 0
    assert text.stdout.splitlines()[0].split() == ["SCHEME", "HANDLER", "FROM", "STATUS"]
    assert "fall back to tfjs_store.handlers.fsspec:FsspecHandler:" in text.stdout
    assert "sftp" in text.stdout


@pytest.fixture(scope="module")
def two_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("cli-plugins")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--target", str(target),
         str(PLUGINS / "zip-plugin"), str(PLUGINS / "rival-plugin")],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return target


def test_plugins_shows_a_conflict_and_a_plugin_scheme_works(
    two_plugins: Path, tmp_path: Path
) -> None:
    env = {"PYTHONPATH": str(two_plugins), "ZIP_PLUGIN_ROOT": str(tmp_path)}
    env_clean = {k: v for k, v in os.environ.items() if k != "TFJS_STORE_HANDLERS"}
    out = run_json("plugins", "--json", env={**env_clean, **env})
    assert out["conflicts"] == ["zip"]
    zips = [r for r in out["handlers"] if r["scheme"] == "zip"]
    assert len(zips) == 2 and sum(r["active"] for r in zips) == 1
    text = run("plugins", env={**env_clean, **env})
    assert "conflict: zip:// is registered by" in text.stdout
    assert {r["source"] for r in zips} == {"tfjs-store-zip-plugin", "tfjs-store-rival-plugin"}
    # A plugin's scheme works from the command line; the conflict is warned about on one line.
    pick = {**env_clean, **env, "TFJS_STORE_HANDLERS": "zip=tfjs-store-zip-plugin"}
    cp = run("cp", "example", "zip://m1", env=pick)
    assert cp.returncode == 0, cp.stderr
    assert cp.stderr == ""  # an explicit choice: no warning
    info = run_json("info", "zip://m1", "--json", env=pick)
    assert info["totals"]["parameters"] == 139
    warned = run("info", "zip://m1", env={**env_clean, **env})
    assert warned.stderr.startswith("tfjs-store: warning: several distributions register")
    assert "Traceback" not in warned.stderr


# -- serve -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_serves_models_under_a_root(tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    root = tmp_path / "root"
    assert run("cp", "example", str(root / "m")).returncode == 0
    port = _free_port()
    proc = subprocess.Popen(
        [*ENTRY_POINTS["script"], "serve", str(root), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TFJS_STORE_TOKEN": "s3cret"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _get(f"{base}/models/m/model.json", "s3cret")
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "the server did not answer in 60 s"
                time.sleep(0.2)
        assert status == 200
        assert body == (root / "m" / "model.json").read_bytes()
        assert _get(f"{base}/models/m/model.json")[0] == 401  # the token from the environment
        # info and verify over http(s): that handler has no file access, so the model is
        # loaded whole (and verify says that only the first problem would show).
        url = f"{base}/models/m/model.json"
        headers = ["-H", "Authorization: Bearer s3cret"]
        info = run_json("info", url, "--json", *headers)
        assert info["totals"]["parameters"] == 139
        report = run_json("verify", url, "--json", *headers)
        assert report["ok"] is True and report["checked"]["fileByFile"] is False
        assert run("verify", url).returncode == EXIT_STORAGE  # 401 without the header
        wrong = run("info", url, "-o", "anon=true")  # storage options are for fsspec URLs
        assert wrong.returncode == EXIT_USAGE and "--header" in wrong.stderr
        back = tmp_path / "back"
        assert run("cp", url, str(back), *headers).returncode == 0
        assert (back / "model.json").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_serve_usage_errors(tmp_path: Path) -> None:
    proc = run("serve", str(tmp_path), "--public-read")
    assert proc.returncode == EXIT_USAGE and "token" in one_error_line(proc)
    proc = run("serve", str(tmp_path), "--port", "70000")
    assert proc.returncode == EXIT_USAGE
    for bad in ("0", "-1", "nan", "inf"):
        proc = run("serve", str(tmp_path), "--body-timeout", bad)
        assert proc.returncode == EXIT_USAGE and "--body-timeout" in one_error_line(proc), bad


def test_serve_redirect_expires_is_checked(tmp_path: Path) -> None:
    for bad in ("0", "-5", "604801"):
        proc = run("serve", str(tmp_path), "--redirect-weights", "--redirect-expires", bad)
        assert proc.returncode == EXIT_USAGE and "--redirect-expires" in one_error_line(proc), bad
    proc = run("serve", str(tmp_path), "--redirect-expires", "60")  # without the redirect
    assert proc.returncode == EXIT_USAGE and "--redirect-weights" in one_error_line(proc)


def test_serve_upload_form_and_its_deprecated_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--upload-form reaches the bridge; --layout (its old spelling) still does, with a
    warning; the two disagreeing is a usage error."""
    pytest.importorskip("starlette")
    import tfjs_store.server

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(tfjs_store.server, "serve", lambda root, **options: seen.append(options))
    assert main(["serve", str(tmp_path), "--upload-form", "single"]) == 0
    assert seen.pop()["upload_form"] == "single"
    assert "deprecated" not in capsys.readouterr().err
    assert main(["serve", str(tmp_path), "--layout", "single"]) == 0
    assert seen.pop()["upload_form"] == "single"
    assert "--layout is deprecated; use --upload-form" in capsys.readouterr().err
    assert main(["serve", str(tmp_path)]) == 0
    assert "upload_form" not in seen.pop()
    argv = ["serve", str(tmp_path), "--upload-form", "single", "--layout", "shards"]
    assert main(argv) == EXIT_USAGE and not seen
    assert "disagree" in capsys.readouterr().err
    assert "--layout" not in run("serve", "--help").stdout  # the old spelling is not offered


def test_serve_workers_must_be_positive(tmp_path: Path) -> None:
    for bad in ("0", "-2"):
        proc = run("serve", str(tmp_path), "--workers", bad)
        assert proc.returncode == EXIT_USAGE and "--workers" in one_error_line(proc), bad


def test_serve_allowed_host_is_checked(tmp_path: Path) -> None:
    for bad in ("http://models.example", "models.example:8000", ""):
        proc = run("serve", str(tmp_path), "--allowed-host", bad)
        assert proc.returncode == EXIT_USAGE, bad
        assert "--allowed-host" in one_error_line(proc) and "host name" in proc.stderr


def _status_for_host(port: int, host: str, deadline: float) -> int:
    """GET /models with ``Host: host``, once the server on ``port`` answers."""
    import http.client

    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/models", headers={"Host": host})
            return conn.getresponse().status
        except OSError:
            assert time.monotonic() < deadline, "the server did not answer in 60 s"
            time.sleep(0.2)
        finally:
            conn.close()


@pytest.mark.parametrize("allowed", ["models.example.test", "*"])
def test_serve_answers_allowed_hosts_only(tmp_path: Path, allowed: str) -> None:
    """``--allowed-host`` (repeatable) adds names to loopback's; ``*`` allows any."""
    pytest.importorskip("starlette")
    port = _free_port()
    hosts = ["--allowed-host", allowed, "--allowed-host", "second.example.test"]
    proc = subprocess.Popen(
        [*ENTRY_POINTS["script"], "serve", str(tmp_path), "--port", str(port), *hosts],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        assert _status_for_host(port, f"localhost:{port}", deadline) == 200
        assert _status_for_host(port, f"models.example.test:{port}", deadline) == 200
        assert _status_for_host(port, "second.example.test", deadline) == 200
        other = _status_for_host(port, f"rebind.example.test:{port}", deadline)
        assert other == (200 if allowed == "*" else 421)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    # without a token, '*' says what it turns off
    assert ("turns off the DNS-rebinding check" in output) == (allowed == "*"), output


# -- conformance (the runner is imported lazily) --------------------------------------


def test_conformance_runs_the_shipped_suite() -> None:
    helped = run("conformance", "--help")  # the runner's own help
    assert helped.returncode == 0 and "usage: tfjs-store conformance" in helped.stdout
    proc = run("conformance", "memory://cli-conformance", "-k", "list_models")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    assert "PASS  list_models" in proc.stdout


def test_conformance_takes_a_local_path(tmp_path: Path) -> None:
    """A path without a scheme is a folder on local disk, as for every other command
    (relative to where the command runs, though the suite runs in a folder of its own)."""
    proc = run("conformance", "./models", "-k", "list_models or stored_model", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    assert f"tfjs-store conformance: {tmp_path / 'models'}" in proc.stdout
    assert "PASS  stored_model_is_valid_tfjs (4/4)" in proc.stdout
    assert "PASS  list_models" in proc.stdout
    assert list((tmp_path / "models").iterdir()) == []  # every test's folder removed


def test_conformance_without_its_runner_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tfjs_store.conformance.runner", None)  # import fails
    assert main(["conformance", "memory://x"]) == EXIT_DEPENDENCY
    err = capsys.readouterr().err
    assert err.startswith("tfjs-store: error: the conformance suite's runner")


def test_conformance_passes_every_argument_to_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    seen: list[list[str]] = []
    runner = types.ModuleType("tfjs_store.conformance.runner")
    runner.main = lambda argv: seen.append(list(argv)) or 3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tfjs_store.conformance.runner", runner)
    assert main(["conformance", "s3://b/p", "-k", "save", "--storage-option", "a=1"]) == 3
    assert main(["--debug", "conformance", "--help"]) == 3
    assert seen == [["s3://b/p", "-k", "save", "--storage-option", "a=1"], ["--help"]]


def test_conformance_adds_no_storage_option_the_store_refuses(tmp_path: Path) -> None:
    """webdav4's filesystem refuses options it does not know (use_listings_cache): the
    suite's back door passes only what the user gave, on a real WebDAV server."""
    from support.servers import start_webdav

    root = tmp_path / "dav"
    root.mkdir()
    server = start_webdav(root, tmp_path / "server")
    try:
        proc = run(
            "conformance",
            "webdav://models",
            "-o",
            f"base_url={server.url}",
            "-k",
            "roundtrip_every_dtype or stored_model_is_valid or list_models or remove_model",
        )
    finally:
        server.stop()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "unexpected keyword argument" not in out
    for check in ("roundtrip_every_dtype", "stored_model_is_valid_tfjs (4/4)", "list_models"):
        assert f"PASS  {check}" in proc.stdout, proc.stdout
    assert list(root.iterdir()) == [root / "models"]  # stored there, then cleaned up
    assert list((root / "models").iterdir()) == []


# -- S3 on moto -------------------------------------------------------------------------


@pytest.mark.s3
def test_cp_ls_verify_against_s3(s3_target: Any, s3_endpoint: str, tmp_path: Path) -> None:
    flags = s3_cli_flags(s3_endpoint)
    env = environ_without_aws()
    dst = s3_target.join("team", "example")
    cp = subprocess.run(
        [*ENTRY_POINTS["script"], "cp", "example", dst, "--shard-size", "200", *flags],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert cp.returncode == 0, cp.stderr
    stored = s3_target.files()
    assert "team/example/model.json" in stored
    assert sum(f.endswith(".bin") for f in stored) == 3  # 556 bytes in 200-byte shards
    listed = run_json("ls", s3_target.url, "--json", *flags, env=env)
    assert [m["url"] for m in listed] == [dst]
    assert listed[0]["weightDataBytes"] == 556
    assert run("verify", dst, *flags, env=env).returncode == 0
    # and back down, with per-side options
    back = tmp_path / "back"
    src_flags = [f.replace("-o", "--src-storage-option") for f in flags]
    cp_back = run("cp", dst, str(back), *src_flags, env=env)
    assert cp_back.returncode == 0, cp_back.stderr
    assert (
        tfjs_store.load(str(back)).weights().keys()
        == tfjs_store.load(str(EXAMPLE)).weights().keys()
    )
    # without the endpoint the same URL does not reach moto: a storage error, one line
    bad = run("ls", s3_target.url, "-o", "endpoint_url=http://127.0.0.1:9", "-o", "key=x",
              "-o", "secret=y", "-o", "client_kwargs.region_name=us-west-2",
              "-o", "config_kwargs.retries.max_attempts=1", "-o", "retries=1",
              env=env, timeout=120)  # fmt: skip
    assert bad.returncode == EXIT_STORAGE, bad.stderr
    one_error_line(bad)


# -- start-up --------------------------------------------------------------------------

_IMPORTED = (
    "import sys, io, contextlib\n"
    "from tfjs_store.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    main(sys.argv[1:])\n"
    "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
)
_CLOUD = {
    "s3fs",
    "botocore",
    "aiobotocore",
    "boto3",
    "gcsfs",
    "google",
    "adlfs",
    "azure",
    "aiohttp",
}


def test_local_commands_import_no_cloud_library(tmp_path: Path) -> None:
    for args in (
        ["info", "example"],
        ["verify", "example"],
        ["cp", "example", str(tmp_path / "m")],
    ):
        proc = subprocess.run(
            [sys.executable, "-c", _IMPORTED, *args], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        assert not (_CLOUD & set(proc.stdout.split())), proc.stdout


def test_help_imports_nothing_heavy() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORTED, "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    heavy = {"numpy", "pydantic", "fsspec"} & set(proc.stdout.split())
    assert not heavy, heavy


# -- parsing (in process) ---------------------------------------------------------------


def test_storage_option_values_and_nesting() -> None:
    from tfjs_store.cli._common import UsageError, merge_options, parse_storage_options

    parsed = parse_storage_options(
        [
            "anon=true",
            "max_attempts=3",
            "token=007abc",
            'pin="0123"',
            "endpoint_url=http://127.0.0.1:9000",
            "client_kwargs.region_name=us-west-2",
            "client_kwargs.verify=false",
            'headers={"x-a": "1"}',
            "empty=",
        ]
    )
    assert parsed == {
        "anon": True,
        "max_attempts": 3,
        "token": "007abc",
        "pin": "0123",
        "endpoint_url": "http://127.0.0.1:9000",
        "client_kwargs": {"region_name": "us-west-2", "verify": False},
        "headers": {"x-a": "1"},
        "empty": "",
    }
    assert merge_options(parsed, {"client_kwargs": {"region_name": "eu"}})["client_kwargs"] == {
        "region_name": "eu",
        "verify": False,
    }
    for bad in (["novalue"], ["=x"], ["a..b=1"], ["a=1", "a.b=2"]):
        with pytest.raises(UsageError):
            parse_storage_options(bad)


def test_sizes() -> None:
    from tfjs_store.cli._common import UsageError, parse_size

    assert parse_size("4194304", "--s") == 4194304
    assert parse_size("4M", "--s") == parse_size("4MiB", "--s") == 4 * 1024 * 1024
    assert parse_size("4MB", "--s") == 4_000_000
    assert parse_size("1.5k", "--s") == 1536
    assert parse_size("2 GiB", "--s") == 2 * 1024**3
    for bad in ("", "0", "-1", "4XB", "0.5", "MB"):
        with pytest.raises(UsageError):
            parse_size(bad, "--s")


def test_a_local_folder_named_example_gets_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    save_model(tmp_path / "example")
    monkeypatch.chdir(tmp_path)
    assert main(["info", "example", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["totals"]["parameters"] == 139  # the bundled one
    assert "write ./example for the folder here" in captured.err
    assert main(["info", "./example", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["parameters"] == 1384


def test_clean_removes_leftovers_of_a_dead_save(tmp_path: Path) -> None:
    model = tmp_path / "m"
    assert subprocess.run([sys.executable, "-m", "tfjs_store", "cp", "example", str(model)],
                          capture_output=True, timeout=120).returncode == 0
    stray = model / "group1-shard1of1.0000000aaaaa.bin"  # a tag from 1970: stale
    stray.write_bytes(b"left by a save that died")
    before = sorted(p.name for p in model.iterdir() if p != stray)
    proc = subprocess.run([sys.executable, "-m", "tfjs_store", "clean", str(model), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [p.rsplit("/", 1)[-1] for p in json.loads(proc.stdout)["removed"]] == [stray.name]
    assert sorted(p.name for p in model.iterdir()) == before
    assert subprocess.run([sys.executable, "-m", "tfjs_store", "verify", str(model)],
                          capture_output=True, timeout=120).returncode == 0
