"""Byte identity: for the same model, what tfjs-store writes in TF.js's layouts is byte for
byte what TF.js writes: tfjs-node's model.json + weights.bin (local folder and S3), the whole
http:// multipart request (boundary aside), the downloads:// pair."""

from __future__ import annotations

import pytest
from interop_cells import bytes_identical
from interop_matrix import BYTE_CELLS, MODELS, SOURCES, flip_requested

pytestmark = pytest.mark.node

CELLS = [
    pytest.param(
        what,
        source,
        case,
        id=f"{what}-{source}-{case.id}",
        marks=[pytest.mark.s3] if what.startswith("s3") else [],
    )
    for what in BYTE_CELLS
    for source in SOURCES
    for case in MODELS
]


@pytest.mark.parametrize(("what", "source", "case"), CELLS)
def test_bytes_identical(what, source, case, tfjs_saves, make_folder, capture_server):
    bytes_identical(
        what,
        source,
        case,
        saves=tfjs_saves,
        make_folder=make_folder,
        capture=capture_server,
        flip=flip_requested(),
    )
