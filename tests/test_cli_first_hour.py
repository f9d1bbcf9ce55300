"""Traps a newcomer met in the ``tfjs-store`` command's first hour (issue 19).

Each test runs the real entry point in a fresh process, as test_cli.py does (its helpers
are reused), against real storage.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import one_error_line, run, save_model

from tfjs_store.cli import EXIT_USAGE

# -- memory:// ends with the process -----------------------------------------------------


def test_mv_to_memory_is_refused_and_the_source_stays(tmp_path: Path) -> None:
    """``mv ./precious memory://precious`` deleted ./precious and exited 0: the model was
    gone with the process."""
    precious = save_model(tmp_path / "precious")
    before = sorted((p.name, p.read_bytes()) for p in precious.iterdir())
    for dst in ("memory://precious", "MEMORY://precious", "simplecache::memory://precious"):
        proc = run("mv", str(precious), dst)
        assert proc.returncode == EXIT_USAGE, proc.stderr + proc.stdout
        line = one_error_line(proc)
        assert "memory://" in line and "ends with this process" in line, line
        assert proc.stdout == ""
    assert sorted((p.name, p.read_bytes()) for p in precious.iterdir()) == before


def test_cp_to_memory_is_refused() -> None:
    proc = run("cp", "example", "memory://m")
    assert proc.returncode == EXIT_USAGE
    line = one_error_line(proc)
    assert "the destination of cp cannot be memory://" in line, line


def test_serve_on_memory_is_refused_before_starting() -> None:
    proc = run("serve", "memory://models", "--port", "0", timeout=30)
    assert proc.returncode == EXIT_USAGE
    line = one_error_line(proc)
    assert "the root of serve cannot be memory://" in line, line


def test_memory_stays_a_fine_source(tmp_path: Path) -> None:
    """Reading from memory:// in a fresh process finds nothing; that is exit 3, as before."""
    proc = run("cp", "memory://nothing-here", str(tmp_path / "x"))
    assert proc.returncode == 3
    one_error_line(proc)


# -- serve's root gets the same usage errors as every other command -------------------


@pytest.mark.parametrize("command", ["serve", "info"])
def test_a_misspelt_scheme_is_a_usage_error(command: str) -> None:
    proc = run(command, "fiel:///srv/models", timeout=30)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    line = one_error_line(proc)
    assert "fiel" in line and "bug" not in proc.stderr, proc.stderr


def test_serve_of_a_scheme_whose_package_is_missing_exits_4() -> None:
    import importlib.util

    assert importlib.util.find_spec("paramiko") is None, "pick a scheme whose package is absent"
    proc = run("serve", "sftp://host/models", timeout=30)
    assert proc.returncode == 4
    assert "paramiko" in one_error_line(proc)
