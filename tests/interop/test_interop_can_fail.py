"""The matrix can fail, and its table is the one in docs/interop.md.

For a sample of cells (every direction, every place, every kind of file), the same cell is run
twice: as in the matrix (it passes) and with one bit of the first saved weight file flipped
between the save and the other side's read (it must fail). Run the whole matrix with
``TFJS_STORE_INTEROP_FLIP_BIT=1`` to see every cell fail.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import test_interop_bytes
import test_interop_converter
import test_interop_resume
import test_interop_store_to_tfjs
import test_interop_tfjs_to_store
from interop_cells import (
    bytes_identical,
    converter_load,
    converter_resave,
    resume_training,
    store_saves_tfjs_loads,
    tfjs_saves_store_loads,
)
from interop_matrix import ModelCase, cell_ids, converter_cell_ids, markdown

import tfjs_store

DOCS = Path(__file__).resolve().parents[2] / "docs" / "interop.md"
BEGIN = "<!-- BEGIN CELLS -->"
END = "<!-- END CELLS -->"


def test_cell_lists_agree() -> None:
    """The parametrized ids of every module are the table's cells (one source of truth)."""
    ids = cell_ids()
    modules = {
        "test_tfjs_saves_store_loads": test_interop_tfjs_to_store,
        "test_store_saves_tfjs_loads": test_interop_store_to_tfjs,
        "test_resume_training": test_interop_resume,
        "test_bytes_identical": test_interop_bytes,
    }
    for func, module in modules.items():
        assert [p.id for p in module.CELLS] == ids[func], func
        assert len(set(ids[func])) == len(ids[func]), f"duplicate cell ids in {func}"
    assert [p.id for p in test_interop_converter.CELLS] == converter_cell_ids()


def test_docs_table_is_current() -> None:
    """docs/interop.md holds the table ``python tests/interop/interop_matrix.py`` prints."""
    text = DOCS.read_text("utf-8")
    assert BEGIN in text and END in text, f"{DOCS} lacks the {BEGIN} … {END} markers"
    table = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert table.strip() == markdown().strip(), (
        "docs/interop.md is stale: paste the output of `python tests/interop/interop_matrix.py` "
        f"between {BEGIN} and {END}"
    )


# (name, runner taking flip=..., fixtures it needs)
SAMPLE = [
    ("tfjs->store file node mlp+adam", "d1", ("file", "node", ModelCase("mlp", "adam"))),
    ("tfjs->store s3 downloads conv", "d1", ("s3", "downloads", ModelCase("conv"))),
    ("tfjs->store file http rnn", "d1", ("file", "http", ModelCase("rnn"))),
    (
        "tfjs->store bridge http functional",
        "d1",
        ("bridge", "http", ModelCase("functional", metadata=True)),
    ),
    ("store->tfjs file shards numpy conv", "d2", ("file", "shards", "numpy", ModelCase("conv"))),
    ("store->tfjs s3 tfjs-node dense", "d2", ("s3", "tfjs-node", "loaded", ModelCase("dense"))),
    ("store->tfjs file downloads rnn", "d2", ("file", "downloads", "loaded", ModelCase("rnn"))),
    ("store->tfjs bridge http nested", "d2", ("bridge", "http", "loaded", ModelCase("nested"))),
    ("resume file numpy mlp+momentum", "d3", ("file", "numpy", ModelCase("mlp", "momentum"))),
    ("resume s3 mlp+adadelta", "d3", ("s3", "loaded", ModelCase("mlp", "adadelta"))),
    ("resume bridge mlp+adam", "d3", ("bridge", "loaded", ModelCase("mlp", "adam"))),
    ("bytes file tfjs-node conv", "bytes", ("file-tfjs-node", "loaded", ModelCase("conv"))),
    ("bytes s3 tfjs-node mlp+sgd", "bytes", ("s3-tfjs-node", "numpy", ModelCase("mlp", "sgd"))),
    ("bytes http body dense", "bytes", ("http-body", "loaded", ModelCase("dense"))),
    ("bytes downloads mlp", "bytes", ("file-downloads", "numpy", ModelCase("mlp"))),
    ("converter load uint16", "conv-load", ("layers-functional-uint16-split",)),
    ("converter file graph", "conv-resave", ("file", "graph-hashtable-float16")),
    ("converter s3 layers", "conv-resave", ("s3", "layers-cnn-uint8-split")),
    ("converter bridge graph", "conv-resave", ("bridge", "graph-conv-uint8")),
]


@pytest.mark.node
@pytest.mark.parametrize(("kind", "args"), [pytest.param(k, a, id=n) for n, k, a in SAMPLE])
def test_a_flipped_bit_fails_the_cell(kind, args, request, tfjs_saves, make_folder, tfjs):
    run = {
        "d1": functools.partial(
            tfjs_saves_store_loads, *args, saves=tfjs_saves, make_folder=make_folder, tfjs=tfjs
        ),
        "d2": functools.partial(
            store_saves_tfjs_loads, *args, saves=tfjs_saves, make_folder=make_folder, tfjs=tfjs
        ),
        "d3": functools.partial(
            resume_training, *args, saves=tfjs_saves, make_folder=make_folder, tfjs=tfjs
        ),
        "bytes": functools.partial(
            bytes_identical,
            *args,
            saves=tfjs_saves,
            make_folder=make_folder,
            capture=request.getfixturevalue("capture_server") if args[0] == "http-body" else None,
        ),
        "conv-load": functools.partial(converter_load, *args, make_folder=make_folder),
        "conv-resave": functools.partial(
            converter_resave, *args, make_folder=make_folder, tfjs=tfjs
        ),
    }[kind]
    run(flip=False)  # the cell as the matrix runs it: passes
    with pytest.raises((AssertionError, tfjs_store.TfjsStoreError)):
        run(flip=True)  # one flipped bit in the first saved weight file: fails
