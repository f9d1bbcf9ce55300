"""Shared helpers of the reliability tests: versioned models that prove themselves
complete, the heavy-mode switch, and back-door checks of what a folder holds."""

from __future__ import annotations

import os
import re
import threading
from typing import Any

import numpy as np
import pytest

from tfjs_store import ModelArtifacts
from tfjs_store.format.schemas import ManifestGroup

HEAVY = os.environ.get("TFJS_STORE_HEAVY", "") not in ("", "0")
"""``TFJS_STORE_HEAVY=1`` runs the long variants (more trials, more rounds)."""

SHARD_SIZE = 1024
"""Small shards, so that every test model has several files in each of two groups."""

TAGGED = re.compile(r"^group\d+-shard\d+of\d+\.([0-9a-z]{12}|[0-9a-f]{40})\.bin$")
"""A weight file named by a save: its save tag (older saves) or its content digest."""
TEMP_JSON = re.compile(r"^.+\.json\.[0-9a-z]{12}\.tmp$")


def scaled(ci: int, heavy: int) -> int:
    """A count for CI, or the heavy one under ``TFJS_STORE_HEAVY=1``."""
    return heavy if HEAVY else ci


TORN_SAVES_PER_WRITER = scaled(6, 60)
"""Saves per writer in each backend's conformance torn-read check
(``HandlerTests.concurrent_saves_per_writer``)."""


def versioned_model(version: int, size: int = 700) -> ModelArtifacts:
    """A two-group model whose every byte follows from ``version``.

    ``check_version`` rebuilds it from the version recorded in its metadata, so a model
    made of pieces of two saves (a torn model) cannot pass as either.
    """
    rng = np.random.default_rng(version)
    artifacts = ModelArtifacts.from_weights(
        {
            "dense/kernel": rng.standard_normal(size).astype(np.float32),
            "dense/bias": rng.integers(-1000, 1000, size // 3).astype(np.int32),
            "words": np.array([f"v{version}-{i}" for i in range(5)], dtype=object),
        },
        optimizer_weights={
            "iter": np.int32(version),
            "m": rng.random(size // 2).astype(np.float32),
        },
        model_topology={"class_name": "Sequential", "config": {"name": f"v{version}"}},
        format="layers-model",
        user_defined_metadata={"version": version},
    )
    specs = list(artifacts.weight_specs or [])
    artifacts.weights_manifest = [
        ManifestGroup(paths=[], weights=specs[:3]),
        ManifestGroup(paths=[], weights=specs[3:]),
    ]
    return artifacts


def model_bytes(artifacts: ModelArtifacts) -> bytes:
    return b"".join(bytes(b) for b in artifacts.buffers)


def check_version(loaded: ModelArtifacts) -> int:
    """The version of a loaded model, after checking it is exactly that version."""
    meta = loaded.user_defined_metadata or {}
    version = meta.get("version")
    assert isinstance(version, int), f"no version in the loaded model's metadata: {meta!r}"
    want = versioned_model(version, size=_size_of(loaded))
    assert loaded.model_topology == want.model_topology, f"v{version}: topology differs"
    assert [s.to_json_obj() for s in loaded.weight_specs or []] == [
        s.to_json_obj() for s in want.weight_specs or []
    ], f"v{version}: weight specs differ"
    assert model_bytes(loaded) == model_bytes(want), f"v{version}: weight bytes differ (torn)"
    return version


def _size_of(loaded: ModelArtifacts) -> int:
    for spec in loaded.weight_specs or []:
        if spec.name == "dense/kernel":
            return int(spec.shape[0])
    raise AssertionError("the loaded model has no dense/kernel weight")


def folder_names(fs: Any, path: str) -> list[str]:
    """Names of the files directly in ``path`` (nothing if it does not exist)."""
    try:
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False))
    except FileNotFoundError:
        return []


def referenced(fs: Any, path: str) -> set[str]:
    """model.json plus the weight files it names, read through the back door."""
    import json

    raw = fs.cat_file(f"{path}/model.json")
    manifest = json.loads(raw)["weightsManifest"]
    return {"model.json"} | {p.removeprefix("./") for g in manifest for p in g["paths"]}


def strays(fs: Any, path: str) -> list[str]:
    """Files in the folder no committed model.json refers to."""
    names = folder_names(fs, path)
    if "model.json" not in names:
        return names
    keep = referenced(fs, path)
    return [n for n in names if n not in keep]


BACKENDS = [
    pytest.param("file", id="file"),
    pytest.param("memory", id="memory"),
    pytest.param("s3", id="s3", marks=pytest.mark.s3),
]
"""The stores the reliability checks run on (each a ``<name>_target`` fixture)."""


def shared_options(target: Any) -> dict[str, Any]:
    """One cached filesystem instance per target (new S3 clients cost ~0.2 s each), with
    no listings cache so that it never sees a stale folder."""
    options = {k: v for k, v in target.storage_options.items() if k != "skip_instance_cache"}
    if target.name == "s3":
        options["use_listings_cache"] = False
    return options


def fresh_options(target: Any) -> dict[str, Any]:
    """A new filesystem instance per handler (as separate processes would have), with no
    listings cache."""
    options = dict(target.storage_options, skip_instance_cache=True)
    if target.name == "s3":
        options["use_listings_cache"] = False
    return options


def pause_after_first_file(handler: Any) -> tuple[threading.Event, threading.Event]:
    """Make ``handler``'s next save write its first weight file, then stall (outside any
    event loop) until the second event is set; the first is set when it stalls."""
    paused, resume = threading.Event(), threading.Event()
    write_many = handler.store.write_many

    def paused_write_many(jobs: Any, on_file: Any) -> None:
        handler.store.write(jobs[0])
        paused.set()
        assert resume.wait(60)
        write_many(jobs[1:], lambda i: on_file(i + 1))
        on_file(0)

    handler.store.write_many = paused_write_many
    return paused, resume
