"""Direction 3: a model saved by tfjs-store with its optimizer state really resumes in TF.js:
one more epoch gives the loss, weights and optimizer state of the uninterrupted run, bit for
bit (cpu backend, shuffle off, no dropout). For Adam the reference is TF.js resuming from its
own save (TF.js 4.22's Adam.setWeights itself departs from the uninterrupted run); how far
that is from the uninterrupted run is recorded as a property of the cell."""

from __future__ import annotations

import pytest
from interop_cells import resume_training
from interop_matrix import PLACES, RESUMABLE, flip_requested

pytestmark = pytest.mark.node

CELLS = [
    pytest.param(
        place,
        source,
        case,
        id=f"{place}-{source}-{case.id}",
        marks=[pytest.mark.s3] if place == "s3" else [],
    )
    for place in PLACES
    for source in (["loaded", "numpy"] if place == "file" else ["loaded"])
    for case in RESUMABLE
]


@pytest.mark.parametrize(("place", "source", "case"), CELLS)
def test_resume_training(place, source, case, tfjs_saves, make_folder, tfjs, record_property):
    facts = resume_training(
        place,
        source,
        case,
        saves=tfjs_saves,
        make_folder=make_folder,
        tfjs=tfjs,
        flip=flip_requested(),
    )
    for key, value in facts.items():
        record_property(key, value)
