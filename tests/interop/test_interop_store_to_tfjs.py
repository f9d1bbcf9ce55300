"""Direction 2: ``tfjs_store.save`` writes (shards, tfjs-node, downloads; to a local folder,
S3, memory:// behind the bridge, or over http:// into the bridge) and real TF.js
``loadLayersModel`` predicts exactly what the original model predicted."""

from __future__ import annotations

import pytest
from interop_cells import store_saves_tfjs_loads
from interop_matrix import MODELS, STORE_SAVES, flip_requested

pytestmark = pytest.mark.node

CELLS = [
    pytest.param(
        place,
        layout,
        source,
        case,
        id=f"{place}-{layout}-{source}-{case.id}",
        marks=[pytest.mark.s3] if place == "s3" else [],
    )
    for place, layout in STORE_SAVES
    for source in (["loaded", "numpy"] if (place, layout) == ("file", "shards") else ["loaded"])
    for case in MODELS
]


@pytest.mark.parametrize(("place", "layout", "source", "case"), CELLS)
def test_store_saves_tfjs_loads(place, layout, source, case, tfjs_saves, make_folder, tfjs):
    store_saves_tfjs_loads(
        place,
        layout,
        source,
        case,
        saves=tfjs_saves,
        make_folder=make_folder,
        tfjs=tfjs,
        flip=flip_requested(),
    )
