"""Item 5 of issue 9: schemathesis against the bridge's OpenAPI document, no failures.

The bridge runs in a second process over a folder holding one model; schemathesis's
command line (``schemathesis run URL/openapi.json``) runs every phase (examples,
coverage, fuzzing, stateful) with every check, with the bearer token (its
``ignored_auth`` check also sends requests without it). One documented relaxation,
in the config written below: an upload that fits the schema may still get 400,
because no JSON Schema can say that the weight bytes must match the weight specs
(the document says so for 400).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

import tfjs_store

from .bridge import TOKEN, bridge_process
from .common import HEAVY, versioned_model

MAX_EXAMPLES = 50 if HEAVY else 8

CONFIG = """\
[[operations]]
include-operation-id-regex = "^uploadModel"
# A schema-valid upload can still be an invalid model (byte counts, duplicate names):
# the bridge answers 400 for that, as the OpenAPI document describes. A schema-valid
# If-Match / If-None-Match: * whose precondition does not hold is answered 412 (issue 16).
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "412", "413"]
"""


@pytest.mark.timeout(900)
def test_schemathesis_finds_no_failure(tmp_path):
    executable = shutil.which("schemathesis") or shutil.which("st")
    if executable is None:
        pytest.fail("schemathesis is not installed: pip install schemathesis (test extra)")
    root = tmp_path / "root"
    tfjs_store.save(versioned_model(1, size=100), str(root / "m"), shard_size_bytes=256)
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    with bridge_process(str(root), token=TOKEN, max_upload_bytes=4 * 1024 * 1024) as bridge:
        proc = subprocess.run(
            [executable, "--config-file", str(tmp_path / "schemathesis.toml"), "run",
             f"{bridge.base}/openapi.json", "--checks", "all",
             "--header", f"Authorization: Bearer {TOKEN}",
             "--max-examples", str(MAX_EXAMPLES), "--seed", "9", "--workers", "1",
             "--request-timeout", "30", "--no-color"],
            cwd=tmp_path, capture_output=True, text=True, timeout=800,
        )
        log = bridge.log.read_text(errors="replace")
    report = proc.stdout[-6000:]
    assert proc.returncode == 0, f"schemathesis failed:\n{report}\n{proc.stderr[-2000:]}"
    assert "passed" in proc.stdout or "No issues found" in proc.stdout, report
    assert "Traceback" not in log.replace("ClientDisconnect", ""), log[-3000:]
    assert sys.executable  # the bridge ran under this interpreter
    # schemathesis may legitimately DELETE model m or overwrite it with a model of its
    # own making; whatever is there must load whole.
    if (root / "m" / "model.json").exists():
        loaded = tfjs_store.load(str(root / "m"))
        loaded.weights()
