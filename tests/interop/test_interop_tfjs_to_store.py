"""Direction 1: real TF.js saves (tfjs-node file://, http:// multipart, downloads:// pair),
the files travel to a place (a local folder, S3, or TF.js posts straight into the bridge over
memory://), and ``tfjs_store.load`` returns exactly TF.js's ``model.getWeights()``."""

from __future__ import annotations

import pytest
from interop_cells import tfjs_saves_store_loads
from interop_matrix import MODELS, PLACES, TFJS_LAYOUTS, flip_requested

pytestmark = pytest.mark.node

CELLS = [
    pytest.param(
        place,
        layout,
        case,
        id=f"{place}-{layout}-{case.id}",
        marks=[pytest.mark.s3] if place == "s3" else [],
    )
    for place in PLACES
    for layout in (["http"] if place == "bridge" else list(TFJS_LAYOUTS))
    for case in MODELS
]


@pytest.mark.parametrize(("place", "layout", "case"), CELLS)
def test_tfjs_saves_store_loads(place, layout, case, tfjs_saves, make_folder, tfjs):
    tfjs_saves_store_loads(
        place,
        layout,
        case,
        saves=tfjs_saves,
        make_folder=make_folder,
        tfjs=tfjs,
        flip=flip_requested(),
    )
