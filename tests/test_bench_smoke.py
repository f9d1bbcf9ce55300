"""The benchmark harness (bench/run.py) runs end to end at its smallest size, so it cannot
rot: every row of the smoke run is measured and printed. No timing is asserted."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SPEED_ROWS = [
    (op, store) for op in ("load", "save") for store in ("file", "memory", "s3")
]
SLOW_ROWS = [("load", "http"), ("load", "s3"), ("save", "s3")]
STARTUP_ROWS = ["python", "import", "import-api", "help", "info", "cloud-sdks"]


def _positive(x: object) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.mark.s3
@pytest.mark.timeout(300)
def test_bench_smoke_run_has_every_row(tmp_path: Path, s3_endpoint: str) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--smoke", "--s3-endpoint", s3_endpoint,
         "--out", str(out), "--workdir", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=280, cwd=REPO, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads((out / "results.json").read_text())
    rows = {r["id"]: r for r in results["rows"]}
    expected = (
        [f"speed/{op}/{store}/1MiB" for op, store in SPEED_ROWS]
        + [f"slow/{op}/{store}" for op, store in SLOW_ROWS]
        + [f"startup/{key}" for key in STARTUP_ROWS]
    )
    assert sorted(rows) == sorted(expected)

    for op, store in SPEED_ROWS:
        row = rows[f"speed/{op}/{store}/1MiB"]
        assert row["errors"] == {}, row["errors"]
        assert row["bytes"] == 1024 * 1024 and row["files"] >= 1
        for impl in ("raw", "tfjs", "tfjs_nocheck"):
            assert _positive(row["seconds"][impl]), (row["id"], impl, row["seconds"])
            assert isinstance(row["rss_extra"][impl], int) and row["rss_extra"][impl] >= 0
        assert _positive(row["ratio"]) and _positive(row["ratio_nocheck"])
    for op, store in SLOW_ROWS:
        row = rows[f"slow/{op}/{store}"]
        assert row["errors"] == {}, row["errors"]
        assert _positive(row["seconds"]["one_by_one"]) and _positive(row["seconds"]["tfjs"])
        assert _positive(row["speedup"])
    for key in ("python", "import", "import-api", "help", "info"):
        row = rows[f"startup/{key}"]
        assert row["error"] is None, (key, row["error"])
        assert _positive(row["median"])
    sdk = rows["startup/cloud-sdks"]
    assert sdk["error"] is None and isinstance(sdk["modules"], list)

    # The printed markdown carries the same rows.
    text = proc.stdout
    assert text == (out / "results.md").read_text()
    for op, store in SPEED_ROWS:
        assert text.count(f"| {op} | {store} | 1 MiB |") == 2  # speed table and memory table
    for op, store in SLOW_ROWS:
        assert f"| {op} | {store} |" in text
    for header in ("### 1. Speed", "### 2. Peak memory", "### 3. Slow link", "### 5. Start-up"):
        assert header in text
    assert "Errors:" not in text
