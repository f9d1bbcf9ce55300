"""What the wheel holds: every module of tfjs_store, and the conformance suite (the
repository's conformance/ folder) as tfjs_store.conformance, with no top-level module
of its own; the pytest plugin is registered under that name."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    """tfjs-store's wheel, built from a copy of the sources (nothing left in the tree)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("tfjs_store", "conformance"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    out = tmp / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    (built,) = out.glob("*.whl")
    with zipfile.ZipFile(built) as zf:
        yield zf


def _source_files(folder: Path, suffixes: tuple[str, ...] = (".py",)) -> set[str]:
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in suffixes and "__pycache__" not in p.parts
    }


def _dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    (path,) = [n for n in wheel.namelist() if n.endswith(f".dist-info/{name}")]
    return wheel.read(path).decode()


def test_wheel_holds_every_module_under_tfjs_store(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    want = {f"tfjs_store/{p}" for p in _source_files(ROOT / "tfjs_store")}
    want |= {"tfjs_store/py.typed"}
    want |= {f"tfjs_store/conformance/{p}" for p in _source_files(ROOT / "conformance")}
    corpus = ROOT / "conformance" / "corpus"
    want |= {
        f"tfjs_store/conformance/corpus/{p.relative_to(corpus).as_posix()}"
        for p in corpus.rglob("*")
        if p.is_file()
    }
    assert any(n.startswith("tfjs_store/conformance/corpus/") for n in want)
    missing = sorted(want - names)
    assert not missing, f"the wheel lacks {missing} (a package missing in pyproject.toml?)"


def test_wheel_has_no_top_level_conformance(wheel: zipfile.ZipFile) -> None:
    tops = {
        n.split("/", 1)[0] for n in wheel.namelist() if not n.split("/")[0].endswith(".dist-info")
    }
    assert tops == {"tfjs_store"}
    assert _dist_info(wheel, "top_level.txt").split() == ["tfjs_store"]


def test_wheel_registers_the_pytest_plugin_under_the_package(wheel: zipfile.ZipFile) -> None:
    entry_points = _dist_info(wheel, "entry_points.txt")
    assert "tfjs_store_conformance = tfjs_store.conformance.plugin" in entry_points
    assert " conformance.plugin" not in entry_points
