"""The test extra installs without pip's resolver backtracking.

Left open, ``pip install -e '.[test]'`` spent minutes trying dozens of aiobotocore, gcsfs,
s3fs, fsspec and boto3 releases: s3fs requires exactly its own fsspec release and
aiobotocore a narrow botocore range, while boto3 and gcsfs run ahead. The test extra
therefore bounds the cloud stack on both sides, to releases known to fit together: the
set installed here, which pip resolved and the suite passes with.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"

BOUNDED = ("fsspec", "s3fs", "gcsfs", "adlfs", "aiobotocore", "botocore", "boto3", "moto",
           "pyftpdlib", "sshfs", "asyncssh", "paramiko")
"""The packages pip backtracked through, and the clients of the more backends
(tests/test_more_backends.py); each needs a lower and an upper bound."""


def _test_extra() -> dict[str, Requirement]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    reqs = [Requirement(r) for r in project["optional-dependencies"]["test"]]
    return {r.name.lower(): r for r in reqs}


@pytest.mark.parametrize("name", BOUNDED)
def test_the_cloud_stack_is_bounded_on_both_sides(name: str) -> None:
    req = _test_extra().get(name)
    assert req is not None, f"the test extra does not bound {name}"
    operators = {s.operator for s in req.specifier}
    assert operators & {">=", "==", "~="}, f"{name} has no lower bound: {req}"
    assert operators & {"<", "<=", "==", "~="}, f"{name} has no upper bound: {req}"


def test_s3fs_and_fsspec_are_the_same_calendar_release() -> None:
    """s3fs requires exactly its own fsspec release; gcsfs needs at least as new a one."""
    extra = _test_extra()
    assert str(extra["s3fs"].specifier) == str(extra["fsspec"].specifier)
    fsspec_floor = min(Version(s.version) for s in extra["fsspec"].specifier if s.operator == ">=")
    gcsfs_floor = min(Version(s.version) for s in extra["gcsfs"].specifier if s.operator == ">=")
    assert gcsfs_floor >= fsspec_floor


@pytest.mark.parametrize("name", BOUNDED)
def test_the_bounds_admit_the_installed_consistent_set(name: str) -> None:
    """The bounds hold the set installed here (which pip resolved without conflict)."""
    req = _test_extra()[name]
    try:
        installed = version(name)
    except PackageNotFoundError:  # pragma: no cover - the test extra installs all of them
        pytest.fail(f"{name} is not installed; install the test extra")
    assert req.specifier.contains(installed, prereleases=True), (
        f"installed {name} {installed} is outside the test extra's {req.specifier}"
    )


def test_nox_is_in_the_test_extra_since_the_readme_names_it() -> None:
    readme = (PYPROJECT.parent / "README.md").read_text(encoding="utf-8")
    assert "nox -s lint" in readme
    assert "nox" in _test_extra()
