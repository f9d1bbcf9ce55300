"""The two halves of issue 3's promise, against real TF.js 4.22.0 (npm, Node 20):
``load`` reads what TF.js wrote, and TF.js loads what ``save`` wrote and predicts
exactly what it predicted before. (The full matrix lives in tests/interop/.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.tfjs import FIXTURES_DIR, require_tfjs, run_tfjs

import tfjs_store

pytestmark = pytest.mark.node

CASES = ["dense-node", "mlp-node-adam", "conv-node", "rnn-node", "functional-node"]


def _expected(case: str) -> dict:
    return json.loads((Path(FIXTURES_DIR) / case / "expected.json").read_text())


@pytest.mark.parametrize("case", CASES)
def test_load_reads_what_tfjs_wrote(case):
    expected = _expected(case)
    loaded = tfjs_store.load(str(Path(FIXTURES_DIR) / case))
    weights = loaded.weights()
    want = expected["weights"] + expected["optimizerWeights"]
    assert [w["name"] for w in want] == list(weights)
    for w in want:
        assert list(weights[w["name"]].shape) == w["shape"]
        assert weights[w["name"]].tobytes().hex() == w["hex"], w["name"]


@pytest.mark.parametrize("case", CASES)
def test_tfjs_predicts_the_same_from_what_save_wrote(case, tmp_path):
    require_tfjs()
    expected = _expected(case)
    artifacts = tfjs_store.load(str(Path(FIXTURES_DIR) / case))
    out = tmp_path / "saved"
    tfjs_store.save(artifacts, str(out), shard_size_bytes=1000)  # several shards
    assert len(list(out.glob("group1-shard*.bin"))) > 1 or artifacts.weight_data_bytes <= 1000
    result = run_tfjs("load-predict", "--url", str(out / "model.json"), "--model", expected["kind"])
    assert [p["hex"] for p in result["predictions"]] == [p["hex"] for p in expected["predictions"]]
    assert [w["hex"] for w in result["weights"]] == [w["hex"] for w in expected["weights"]]


def test_a_flipped_bit_changes_what_tfjs_predicts(tmp_path):
    """The comparison above can fail: one flipped weight bit shows in TF.js's output."""
    require_tfjs()
    expected = _expected("dense-node")
    artifacts = tfjs_store.load(str(Path(FIXTURES_DIR) / "dense-node"))
    out = tmp_path / "saved"
    tfjs_store.save(artifacts, str(out), checksums=False)
    (shard,) = out.glob("group1-shard*.bin")
    data = bytearray(shard.read_bytes())
    data[3] ^= 0x40
    shard.write_bytes(bytes(data))
    result = run_tfjs("load-predict", "--url", str(out / "model.json"), "--model", "dense")
    assert [p["hex"] for p in result["predictions"]] != [p["hex"] for p in expected["predictions"]]
