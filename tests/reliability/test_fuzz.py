"""Item 4 of issue 9 (atheris part): the fuzz target, run time-bounded, and its corpora.

- Every seed (``fuzz/corpus/``) and every kept crash (``fuzz/crashes/``) is replayed
  through the target without atheris: a crash once found stays fixed.
- The atheris target runs for ``TFJS_STORE_FUZZ_SECONDS`` (default 10; 600 with
  ``TFJS_STORE_HEAVY=1``) from the seed corpus; any crash, timeout or memory blow-up
  fails the test and names the input libFuzzer wrote (copy it into fuzz/crashes/ once
  fixed).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .common import scaled

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
SECONDS = int(os.environ.get("TFJS_STORE_FUZZ_SECONDS", scaled(10, 600)))


def _target():
    spec = importlib.util.spec_from_file_location("fuzz_load", FUZZ / "fuzz_load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _inputs(folder: str) -> list[Path]:
    return sorted(p for p in (FUZZ / folder).iterdir() if p.is_file() and p.suffix != ".md")


def test_seed_corpus_is_kept():
    seeds = _inputs("corpus")
    assert len(seeds) >= 100
    assert any(p.name.startswith("valid-") for p in seeds)
    assert any(p.name.startswith("hostile-path-") for p in seeds)


@pytest.mark.parametrize("folder", ["corpus", "crashes"])
def test_corpus_replays_without_crash(folder):
    target = _target()
    for path in _inputs(folder):
        try:
            target.one_input(path.read_bytes())
        except Exception as exc:
            raise AssertionError(f"{folder}/{path.name}: {type(exc).__name__}: {exc}") from exc


def test_target_catches_a_read_outside_the_folder(monkeypatch):
    """The target's own checks can fail: with path checks switched off, a manifest
    naming ../sentinel.bin is caught as a read outside the folder."""
    import posixpath

    from tfjs_store import handler as handler_module

    target = _target()
    monkeypatch.setattr(handler_module, "manifest_paths",
                        lambda mj: [posixpath.normpath(p) for p in mj.weight_paths])
    seed = (FUZZ / "corpus" / "hostile-path-parent").read_bytes()
    with pytest.raises(AssertionError, match="outside"):
        target.one_input(seed + target.SEP + b"\0" * 36)


@pytest.mark.timeout(SECONDS + 300)
@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="atheris ships wheels for Linux only")
def test_atheris_finds_no_crash(tmp_path):
    try:
        import atheris  # noqa: F401
    except ImportError:
        pytest.fail("atheris is not installed: pip install atheris (it is in the test extra)")
    work = tmp_path / "work"
    artifacts = tmp_path / "artifacts"
    work.mkdir()
    artifacts.mkdir()
    proc = subprocess.run(
        [sys.executable, str(FUZZ / "fuzz_load.py"), f"-max_total_time={SECONDS}",
         "-max_len=16384", "-timeout=30", "-rss_limit_mb=2048",
         f"-artifact_prefix={artifacts}/", "-print_final_stats=1",
         str(work), str(FUZZ / "corpus")],
        capture_output=True, text=True, timeout=SECONDS + 240,
    )
    found = sorted(artifacts.iterdir())
    assert proc.returncode == 0 and not found, (
        f"atheris exited {proc.returncode}; the inputs that broke the target "
        f"(pytest keeps them): {[str(p) for p in found]}\n{proc.stderr[-4000:]}"
    )
    done = [line for line in proc.stderr.splitlines() if line.startswith("Done ")]
    assert done and "runs in" in done[-1], proc.stderr[-2000:]
    print(f"\natheris: {done[-1]}")
