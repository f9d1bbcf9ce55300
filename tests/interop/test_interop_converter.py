"""Converter output (tests/fixtures/converter, made once by the real ``tensorflowjs``
converter with tests/converter/make_fixtures.py): layers and graph models, quantized
(uint8, uint16, float16), resharded, several groups, signature and modelInitializer. tfjs-store
loads them as TF.js decodes them, re-saves them losslessly, and real TF.js runs the re-saved
models (``loadLayersModel`` / ``loadGraphModel``) to the recorded outputs bit for bit."""

from __future__ import annotations

import pytest
from interop_cells import converter_load, converter_resave
from interop_matrix import CONVERTER_CHECKS, CONVERTER_FIXTURES, flip_requested

CELLS = [
    pytest.param(
        check,
        fixture,
        id=f"{check}-{fixture}",
        marks=([pytest.mark.s3] if check == "resave-s3" else [])
        + ([] if check == "load" else [pytest.mark.node]),
    )
    for check in CONVERTER_CHECKS
    for fixture in CONVERTER_FIXTURES
]


@pytest.mark.parametrize(("check", "fixture"), CELLS)
def test_converter(check, fixture, request):
    if check == "load":
        converter_load(
            fixture, make_folder=request.getfixturevalue("make_folder"), flip=flip_requested()
        )
        return
    converter_resave(
        check.removeprefix("resave-"),
        fixture,
        make_folder=request.getfixturevalue("make_folder"),
        tfjs=request.getfixturevalue("tfjs"),
        flip=flip_requested(),
    )
