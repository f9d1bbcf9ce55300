"""Replacing or removing a model touches only its own files, whatever they are called.

A manifest may name files ``*``, ``[!k]*`` or ``w[12].bin`` (legal names on every store).
fsspec's ``rm`` expands such names as glob patterns: before the fix, saving a new model
over one naming ``*`` deleted every file in the folder, the new model included (found
while fuzzing the loader). Other files in the folder must survive too.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import tfjs_store

from .common import check_version, versioned_model
from .common import shared_options as _options

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("file", id="file"),
    pytest.param("s3", id="s3", marks=pytest.mark.s3),
]
DATA = np.arange(6, dtype=np.float32).tobytes()
BYSTANDERS = {"keep.txt": b"not a weight file", "w1.bin": b"one", "w2.bin": b"two", "x": b"x",
              "sub/inner.bin": b"inner"}


@pytest.fixture(params=BACKENDS)
def target(request):
    return request.getfixturevalue(f"{request.param}_target")


def _odd_model(name: str) -> dict[str, bytes]:
    model_json = {
        "modelTopology": {"class_name": "Sequential"},
        "weightsManifest": [
            {"paths": [name], "weights": [{"name": "w", "shape": [6], "dtype": "float32"}]}
        ],
    }
    return {"model.json": json.dumps(model_json).encode(), name: DATA}


@pytest.mark.parametrize("name", ["*", "w[12].bin", "*.bin", "[!k]*"])
def test_saving_over_a_model_with_glob_names_keeps_everything_else(target, name):
    target.write_many({**BYSTANDERS, **_odd_model(name)})
    options = _options(target)
    loaded = tfjs_store.load(target.url, storage_options=options)
    assert loaded.weights()["w"].tolist() == list(range(6))
    tfjs_store.save(versioned_model(5), target.url, storage_options=options)
    assert check_version(tfjs_store.load(target.url, storage_options=options)) == 5
    files = set(target.files())
    assert set(BYSTANDERS) <= files, f"bystanders lost: {set(BYSTANDERS) - files}"
    assert name not in files  # the replaced model's own file is gone


@pytest.mark.parametrize("name", ["*", "w[12].bin"])
def test_removing_a_model_with_glob_names_keeps_everything_else(target, name):
    target.write_many({**BYSTANDERS, **_odd_model(name)})
    tfjs_store.remove_model(target.url, storage_options=_options(target))
    assert set(target.files()) == set(BYSTANDERS)
