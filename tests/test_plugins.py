"""Third-party handlers found through the ``tfjs_store.handlers`` entry-point group.

The plugin packages under tests/plugins are really built and installed (into a
folder of their own) and used from a fresh interpreter, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).parent / "plugins"

SCRIPT = r"""
import json, os, sys, warnings
import numpy as np
import tfjs_store
warnings.simplefilter("always")
out = {}
with warnings.catch_warnings(record=True) as caught:
    model = tfjs_store.ModelArtifacts.from_weights(
        {"k": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.array(["a", "é"])},
        model_topology={"name": "zipped"}, format="layers-model")
    try:
        tfjs_store.save(model, "zip://m1")
        loaded = tfjs_store.load("zip://m1")
        out["weights"] = {k: v.tolist() for k, v in loaded.weights().items()}
        out["topology"] = loaded.model_topology
    except tfjs_store.TfjsStoreError as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    out["warnings"] = [str(w.message) for w in caught]
out["entries"] = [e for e in tfjs_store.handler_entries() if e["scheme"] == "zip"]
print(json.dumps(out))
"""


def _install(target: Path, *names: str) -> None:
    for name in names:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
             "--no-build-isolation", "--target", str(target), str(PLUGINS / name)],
            check=True, capture_output=True, timeout=300,
        )


def _run(target: Path, root: Path, **env: str) -> dict:
    environ = {**os.environ, "PYTHONPATH": str(target), "ZIP_PLUGIN_ROOT": str(root), **env}
    environ.pop("TFJS_STORE_HANDLERS", None) if "TFJS_STORE_HANDLERS" not in env else None
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=environ, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def one_plugin(tmp_path_factory):
    target = tmp_path_factory.mktemp("site-one")
    _install(target, "zip-plugin")
    return target


@pytest.fixture(scope="module")
def two_plugins(tmp_path_factory):
    target = tmp_path_factory.mktemp("site-two")
    _install(target, "zip-plugin", "rival-plugin")
    return target


def test_plugin_scheme_saves_and_loads(one_plugin, tmp_path):
    out = _run(one_plugin, tmp_path)
    assert "error" not in out, out
    assert out["weights"] == {"k": [[0, 1, 2], [3, 4, 5]], "s": ["a", "é"]}
    assert out["topology"] == {"name": "zipped"}
    assert (tmp_path / "m1.zip").exists()
    assert out["entries"] == [{"scheme": "zip", "target": "tfjs_store_zip_plugin:ZipHandler",
                               "source": "tfjs-store-zip-plugin", "active": True,
                               "conflict": False}]
    assert out["warnings"] == []


def test_two_plugins_claiming_a_scheme_warn_naming_both(two_plugins, tmp_path):
    out = _run(two_plugins, tmp_path)
    (message,) = [w for w in out["warnings"] if "several distributions" in w]
    assert "tfjs-store-zip-plugin" in message and "tfjs-store-rival-plugin" in message
    assert "TFJS_STORE_HANDLERS" in message
    assert {e["source"] for e in out["entries"]} == {"tfjs-store-zip-plugin",
                                                     "tfjs-store-rival-plugin"}
    assert all(e["conflict"] for e in out["entries"])
    assert sum(e["active"] for e in out["entries"]) == 1


@pytest.mark.parametrize("chosen", ["tfjs-store-zip-plugin", "tfjs-store-rival-plugin"])
def test_the_user_chooses_between_claimants(two_plugins, tmp_path, chosen):
    out = _run(two_plugins, tmp_path, TFJS_STORE_HANDLERS=f"zip={chosen}")
    active = [e["source"] for e in out["entries"] if e["active"]]
    assert active == [chosen]
    assert not [w for w in out["warnings"] if "several distributions" in w]
    if chosen == "tfjs-store-rival-plugin":
        assert out["error"] == "StorageError: rival plugin: saving is not implemented"
    else:
        assert out["weights"]["s"] == ["a", "é"]


def test_builtin_schemes_come_from_entry_points():
    import tfjs_store

    rows = {r["scheme"]: r for r in tfjs_store.handler_entries() if r["source"] == "tfjs-store"}
    for scheme in ("file", "memory", "s3", "gs", "gcs", "az", "http", "https", "downloads"):
        assert scheme in rows, scheme
    assert rows["s3"]["target"] == "tfjs_store.handlers.fsspec:FsspecHandler"


def test_unregistered_fsspec_protocol_falls_back_to_fsspec(tmp_path):
    import numpy as np

    import tfjs_store

    # "simplecache" is registered by nobody; fsspec knows it, so the fsspec handler serves it.
    url = f"simplecache::file://{tmp_path}/m"
    tfjs_store.save({"w": np.ones(3, np.float32)}, f"file://{tmp_path}/m")
    loaded = tfjs_store.load(url)
    assert loaded.weights()["w"].tolist() == [1.0, 1.0, 1.0]
    assert json.loads((tmp_path / "m" / "model.json").read_text())["weightsManifest"]


@pytest.mark.parametrize(
    ("url", "folder"),
    [
        ("sq:///x.db?model=team/m1", "sq:///x.db?model=team/m1"),
        ("x://bucket/m1/model.json", "x://bucket/m1"),
        ("x://bucket/m1/my.json", "x://bucket/m1"),
        ("x://bucket/m1/", "x://bucket/m1"),
    ],
)
def test_a_store_plugin_gets_its_folder_url_query_included(url: str, folder: str) -> None:
    from tfjs_store.handler import ModelHandler
    from tfjs_store.stores.base import ByteStore

    seen: list[str] = []

    class Probe(ByteStore):
        @classmethod
        def from_url(cls, url: str, /, *args: object, **options: object) -> ByteStore:
            seen.append(url)
            raise LookupError("probe")

    with pytest.raises(LookupError):
        ModelHandler.for_store(Probe, url)
    assert seen == [folder]
