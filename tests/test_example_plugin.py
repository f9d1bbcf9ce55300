"""The example plugin (examples/sqlite-handler) passes the conformance suite, and a plugin
author gets there from a fresh virtualenv holding only the two wheels.

The fresh-virtualenv test builds tfjs-store's wheel and the example's, makes a virtualenv
without the system's site-packages, installs the two wheels (their dependencies and
pytest come from the package index), and runs the suite both ways a plugin author would:
``tfjs-store conformance sqlite:///…`` and ``pytest`` over a test module that subclasses
the example's ``SQLiteHandlerTests``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sqlite-handler"


def _run(
    argv: list[str], cwd: Path, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST", "VIRTUAL_ENV"))
    }
    environ.update(env)
    return subprocess.run(
        argv, cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout
    )


def _copy_source(src: Path, dst: Path, names: list[str]) -> Path:
    """Build from a copy, so the build leaves nothing in the work tree."""
    dst.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "node_modules")
    for name in names:
        path = src / name
        if path.is_dir():
            shutil.copytree(path, dst / name, ignore=ignore)
        else:
            shutil.copy2(path, dst / name)
    return dst


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with only tfjs-store's wheel, the example's wheel and pytest."""
    tmp = tmp_path_factory.mktemp("fresh-venv")
    wheels = tmp / "wheels"
    sources = [
        _copy_source(
            ROOT, tmp / "tfjs-store", ["pyproject.toml", "README.md", "tfjs_store", "conformance"]
        ),
        _copy_source(EXAMPLE, tmp / "sqlite-handler", ["pyproject.toml", "README.md", "src"]),
    ]
    build = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            *map(str, sources),
        ],
        tmp,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    built = sorted(p.name for p in wheels.glob("*.whl"))
    assert [n.split("-")[0] for n in built] == ["tfjs_store", "tfjs_store_sqlite"], built
    env = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", str(env)], tmp)
    assert made.returncode == 0, made.stderr
    assert "include-system-site-packages = false" in (env / "pyvenv.cfg").read_text()
    pip = _run(
        [
            str(env / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            *map(str, sorted(wheels.glob("*.whl"))),
            "pytest",
        ],
        tmp,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return env


def _python(env: Path) -> str:
    return str(env / "bin" / "python")


@pytest.mark.slow
def test_fresh_venv_has_only_the_wheels(venv):
    """Nothing leaks in from this checkout or the system's site-packages; the suite is
    tfjs_store.conformance, with no top-level ``conformance`` module of its own."""
    probe = _run(
        [
            _python(venv),
            "-c",
            "import tfjs_store.conformance, tfjs_store, tfjs_store_sqlite, sys;"
            "print(tfjs_store.conformance.__file__); print(tfjs_store.__file__);"
            "print(tfjs_store_sqlite.__file__); print(sys.prefix)",
        ],
        venv.parent,
    )
    assert probe.returncode == 0, probe.stderr
    for line in probe.stdout.split():
        assert line.startswith(str(venv)), probe.stdout
    top = _run([_python(venv), "-c", "import conformance"], venv.parent)
    assert "No module named 'conformance'" in top.stderr, top.stdout + top.stderr
    moto = _run([_python(venv), "-c", "import moto"], venv.parent)
    assert moto.returncode != 0  # installed here, not in the fresh virtualenv


@pytest.mark.slow
def test_one_command_runs_the_suite_against_the_plugin(venv, tmp_path):
    db = tmp_path / "scratch.db"
    proc = _run([str(venv / "bin" / "tfjs-store"), "conformance", f"sqlite://{db}"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    out = proc.stdout
    assert f"tfjs-store conformance: sqlite://{db}" in out
    for check in (
        "roundtrip_every_dtype",
        "interrupted_save_keeps_previous_model",
        "hostile_escaping_path_rejected (8/8)",
        "load_tfjs_layout (4/4)",
        "concurrent_saves_and_loads_never_torn",
        "move_model",
    ):
        assert f"PASS  {check}" in out, out
    assert "SKIP  roundtrip_large_model" in out
    assert "SKIP  conditional_saves_refuse_a_stale_writer" in out  # it declares none
    assert f"sqlite://{db}: 78 checks: 75 passed, 3 skipped" in out
    # The suite cleans up after itself: no model is left in the database.
    rows = _run(
        [
            _python(venv),
            "-c",
            "import sqlite3,sys;"
            "print(sqlite3.connect(sys.argv[1]).execute("
            "'select count(*) from tfjs_files').fetchone()[0])",
            str(db),
        ],
        tmp_path,
    )
    assert rows.stdout.strip() == "0", rows


@pytest.mark.slow
def test_plugin_author_subclasses_the_suite_with_pytest(venv, tmp_path):
    """The pytest11 plugin and the shipped classes work in the author's own test module."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE / "tests", project / "tests")
    proc = _run([_python(venv), "-m", "pytest", "-p", "no:cacheprovider", "tests"], project)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "tfjs-store conformance: TestSQLiteHandler" in proc.stdout
    assert "TestSQLiteHandler: 78 checks: 75 passed, 3 skipped" in proc.stdout


@pytest.mark.slow
def test_suite_fails_a_broken_plugin_in_the_fresh_venv(venv, tmp_path):
    """The same command exits non-zero, naming the check, when the handler is broken."""
    module = tmp_path / "broken_sqlite.py"
    module.write_text(
        "from tfjs_store_sqlite import SQLiteHandler\n"
        "from tfjs_store_sqlite.conformance import SQLiteHandlerTests\n"
        "class LosesTrainingConfig(SQLiteHandler):\n"
        "    def save(self, artifacts):\n"
        "        return super().save(artifacts.model_copy(update={'training_config': None}))\n"
        "class BrokenTests(SQLiteHandlerTests):\n"
        "    handler_factory = LosesTrainingConfig\n"
        f"    base_url = 'sqlite://{tmp_path}/broken.db'\n"
    )
    proc = _run(
        [
            str(venv / "bin" / "tfjs-store"),
            "conformance",
            "broken_sqlite:BrokenTests",
            "-k",
            "roundtrip",
        ],
        tmp_path,
        PYTHONPATH=str(tmp_path),
    )
    assert proc.returncode == 1, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "FAIL  roundtrip_training_config_and_metadata" in proc.stdout
    assert "trainingConfig was lost" in proc.stdout
    assert "PASS  roundtrip_every_dtype" in proc.stdout


# -- the example in this environment (fast) ----------------------------------------------


@pytest.fixture(scope="module")
def example_installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed into a folder of its own, as tests/test_plugins.py does."""
    target = tmp_path_factory.mktemp("site-sqlite")
    src = _copy_source(
        EXAMPLE,
        tmp_path_factory.mktemp("src") / "sqlite-handler",
        ["pyproject.toml", "README.md", "src"],
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return target


def test_example_plugin_passes_with_python_m_conformance(example_installed, tmp_path):
    env = {"PYTHONPATH": os.pathsep.join([str(example_installed), str(ROOT)])}
    proc = _run(
        [sys.executable, "-m", "tfjs_store.conformance", f"sqlite://{tmp_path}/m.db"],
        tmp_path,
        **env,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert f"sqlite://{tmp_path}/m.db: 78 checks: 75 passed, 3 skipped" in proc.stdout


def test_unknown_target_is_a_usage_error(tmp_path):
    proc = _run(
        [sys.executable, "-m", "tfjs_store.conformance", "no_such_module_xyz:Tests"],
        tmp_path,
        PYTHONPATH=str(ROOT),
    )
    assert proc.returncode == 2
    assert "cannot import 'no_such_module_xyz'" in proc.stderr
