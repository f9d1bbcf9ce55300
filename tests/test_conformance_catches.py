"""The conformance suite catches broken handlers, each by the check that names its defect.

Nine deliberately broken handlers (small changes to the fsspec handler) and one healthy
control run through the shipped suite in a separate pytest process, over ``memory://``.
Each broken one must fail the check about its defect, with a message that says what is
wrong, while checks unrelated to its defect still pass; the control must pass everything.
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from tfjs_store import ModelArtifacts, ModelNotFoundError, SaveResult, WeightSpec
from tfjs_store.conformance import FsspecHandlerTests
from tfjs_store.format.integrity import crc32c_b64
from tfjs_store.format.layout import ShardFile
from tfjs_store.handlers.fsspec import FsspecHandler
from tfjs_store.stores.base import WriteJob
from tfjs_store.stores.memory import MemoryStore

# -- the broken handlers -------------------------------------------------------------------


class DropsLastByte(FsspecHandler):
    """Writes every weight file but the last byte of the last one."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **{**options, "checksums": False})

    @staticmethod
    def _short(files: Any) -> list[Any]:
        files = list(files)
        if files and files[-1].size:
            last = files[-1]
            files[-1] = ShardFile(last.path, last.start, last.end - 1)
        return files

    def _write_files(self, files: Any, data: Any, *rest: Any) -> Any:
        return super()._write_files(self._short(files), data, *rest)

    def _write_missing(self, files: Any, data: Any, *rest: Any) -> Any:  # content-named
        return super()._write_missing(self._short(files), data, *rest)


class ReordersShards(FsspecHandler):
    """Lists each group's shard files in reverse order in model.json."""

    def _plan(self, artifacts: ModelArtifacts, *rest: Any) -> Any:
        plan, order = super()._plan(artifacts, *rest)
        for group in plan.model_json.weights_manifest or []:
            group.paths = list(reversed(group.paths))
        return plan, order


class IgnoresQuantization(FsspecHandler):
    """Stores quantized weights dequantized, as plain float32/int32 (values kept, format lost)."""

    def save(self, artifacts: ModelArtifacts) -> SaveResult:
        decoded = artifacts.weights(strings="bytes")
        specs, chunks = [], []
        for spec, chunk in zip(artifacts.weight_specs or [], _chunks(artifacts), strict=True):
            if spec.quantization is None:
                specs.append(spec)
                chunks.append(chunk)
            else:
                value = np.ascontiguousarray(decoded[spec.name])
                specs.append(WeightSpec(name=spec.name, shape=spec.shape, dtype=spec.dtype))
                chunks.append(memoryview(value.astype(value.dtype.newbyteorder("<")).tobytes()))
        plain = artifacts.model_copy(update={"weight_specs": specs, "weight_data": chunks})
        return super().save(plain)


class LosesTrainingConfig(FsspecHandler):
    """Saves everything but the trainingConfig."""

    def save(self, artifacts: ModelArtifacts) -> SaveResult:
        return super().save(artifacts.model_copy(update={"training_config": None}))


class OverwritesInPlace(FsspecHandler):
    """tfjs-node's file names, each file overwritten in place: weights.bin, then model.json."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **{**options, "layout": "tfjs-node"})

    def _commit_json(self, body: bytes, tag: str) -> None:
        self.fs.pipe_file(self.json_path, body)


class IgnoresIfMatch(FsspecHandler):
    """Declares conditional commits (its store does) but commits unconditionally."""

    def _commit_json(self, body: bytes, tag: str, *_condition: Any) -> Any:
        return super()._commit_json(body, tag)


class FollowsDotDot(FsspecHandler):
    """Reads weight files at folder + manifest path, whatever the path says."""

    def _read_weights(self, model_json: Any) -> list[list[Any]]:
        groups = model_json.weights_manifest or []
        try:
            return [
                [bytes(self.fs.cat_file(posixpath.normpath(f"{self.folder}/{p}")))
                 for p in group.paths]
                for group in groups
            ]
        except FileNotFoundError as exc:
            raise ModelNotFoundError(f"weight file missing: {exc}") from None


class _RemembersChecksums(MemoryStore):
    """Claims to keep checksums, but tells the CRC32C each file had when it wrote it
    (over memory://, keeping its conditional commits: a subclass is not re-dispatched)."""

    def __init__(self, fs: Any, folder: str) -> None:
        super().__init__(fs, folder)
        self.keeps_checksums = True

    kept: ClassVar[dict[str, str]] = {}  # path -> CRC32C when written, for every instance

    def write(self, job: WriteJob) -> None:
        super().write(job)
        self.kept[self.path(job.name)] = crc32c_b64(self.read(job.name))

    def stored_checksums(self, names: Any) -> dict[str, dict[str, str]]:
        return {n: {"crc32c": self.kept[self.path(n)]} for n in names if self.path(n) in self.kept}


class StaleChecksums(FsspecHandler):
    """Its store says it keeps checksums, and keeps telling a rewritten file's old one."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.store = _RemembersChecksums(self.fs, self.folder)


class ListsKeysThatDoNotLoad(FsspecHandler):
    """Lists each model by its path alone, the scheme dropped (as ftp:// and sftp://
    listings once dropped host and port): the keys name the models but open nothing."""

    def list_models(self) -> Any:
        return {key.split("://", 1)[-1]: info for key, info in super().list_models().items()}


def _chunks(artifacts: ModelArtifacts) -> list[memoryview]:
    from tfjs_store.format.codec import weight_byte_ranges
    from tfjs_store.format.shards import CompositeBuffer

    data = CompositeBuffer(artifacts.weight_data)
    ranges = weight_byte_ranges(artifacts.weight_specs or [], data)
    return [memoryview(bytes(data.read(a, b - a))) for a, b in ranges]


# -- the suite over each of them (collected only in the inner run) ------------------------


def _suite(handler: type[FsspecHandler]) -> type[FsspecHandlerTests]:
    class Suite(FsspecHandlerTests):
        base_url = f"memory://conformance-catches/{handler.__name__}"
        handler_factory = handler
        conformance_title: ClassVar[str | None] = handler.__name__

    Suite.__name__ = Suite.__qualname__ = f"Test{handler.__name__}"
    return Suite


BROKEN = [
    DropsLastByte,
    ReordersShards,
    IgnoresQuantization,
    LosesTrainingConfig,
    OverwritesInPlace,
    FollowsDotDot,
    StaleChecksums,
    IgnoresIfMatch,
    ListsKeysThatDoNotLoad,
]
SUITES = {h.__name__: _suite(h) for h in [*BROKEN, FsspecHandler]}

# broken handler -> (the check that names its defect, words its failure message must hold)
DEFECTS = {
    "DropsLastByte": ("test_stored_model_is_valid_tfjs", "bytes (-1); it ends at byte"),
    "ReordersShards": ("test_roundtrip_many_shards", "shards or weights were reordered"),
    "IgnoresQuantization": ("test_roundtrip_quantized_weights", "(quantization lost)"),
    "LosesTrainingConfig": (
        "test_roundtrip_training_config_and_metadata",
        "trainingConfig was lost",
    ),
    "OverwritesInPlace": ("test_interrupted_save_keeps_previous_model", "(a torn model)"),
    "FollowsDotDot": ("test_hostile_escaping_path_rejected", "returned a model"),
    "StaleChecksums": ("test_stored_checksums_are_truthful", "still tells its old CRC32C"),
    "IgnoresIfMatch": (
        "test_conditional_saves_refuse_a_stale_writer",
        "committed against the same version",
    ),
    "ListsKeysThatDoNotLoad": ("test_list_models", "does not load again"),
}
# Checks far from every defect above: they must still pass, so a failure is specific.
UNRELATED = ["test_load_missing_model_raises", "test_hostile_model_json_rejected"]

INNER = """
from test_conformance_catches import SUITES
globals().update({suite.__name__: suite for suite in SUITES.values()})
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[dict]]]:
    """Run the suite over every handler once: target -> check -> outcomes of its cases."""
    root = tmp_path_factory.mktemp("catches")
    (root / "test_inner.py").write_text(INNER)
    report = root / "report.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(root),
            "-c",
            os.devnull,
            f"--conformance-report={report}",
            str(root / "test_inner.py"),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    table: dict[str, dict[str, list[dict]]] = {}
    for row in json.loads(report.read_text()):
        table.setdefault(row["target"], {}).setdefault(row["check"], []).append(row)
    assert set(table) == set(SUITES), proc.stdout[-3000:]
    # The summary table is printed, one block per target.
    for name in SUITES:
        assert f"tfjs-store conformance: {name}" in proc.stdout
    return table


@pytest.mark.parametrize("broken", sorted(DEFECTS))
def test_broken_handler_fails_the_check_naming_its_defect(broken, outcomes):
    check, words = DEFECTS[broken]
    cases = outcomes[broken][check]
    failed = [c for c in cases if c["outcome"] == "failed"]
    assert failed, f"{broken} passed {check}: {cases}"
    assert any(words in c["note"] for c in failed), [c["note"] for c in failed]
    for other in UNRELATED:
        assert all(c["outcome"] == "passed" for c in outcomes[broken][other]), (
            broken,
            other,
            outcomes[broken][other],
        )


def test_healthy_handler_passes_every_check(outcomes):
    bad = {
        check: [c["note"] for c in cases if c["outcome"] not in ("passed", "skipped")]
        for check, cases in outcomes["FsspecHandler"].items()
    }
    assert not any(bad.values()), bad
    skipped = [
        c
        for cases in outcomes["FsspecHandler"].values()
        for c in cases
        if c["outcome"] == "skipped"
    ]
    # copy/move find handlers by URL, so a suite given a handler_factory skips them;
    # memory:// keeps no checksums of its own.
    assert sorted(c["check"] for c in skipped) == [
        "test_copy_model",
        "test_move_model",
        "test_roundtrip_large_model",
        "test_stored_checksums_are_truthful",
    ]


def test_every_defect_is_caught_only_where_it_lies(outcomes):
    """The failures of each broken handler, listed: each defect shows in its own checks."""
    failing = {
        broken: sorted(
            check
            for check, cases in outcomes[broken].items()
            if any(c["outcome"] == "failed" for c in cases)
        )
        for broken in DEFECTS
    }
    assert failing["IgnoresQuantization"] == ["test_roundtrip_quantized_weights"], failing
    assert failing["FollowsDotDot"] == ["test_hostile_escaping_path_rejected"], failing
    assert failing["IgnoresIfMatch"] == ["test_conditional_saves_refuse_a_stale_writer"], failing
    assert "test_roundtrip_quantized_weights" not in failing["LosesTrainingConfig"], failing
    assert "test_hostile_escaping_path_rejected" not in failing["ReordersShards"], failing
