"""nox sessions: the same commands as the README and CI, in fresh virtualenvs."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests"]


@nox.session(python=["3.10", "3.11", "3.12"])
def tests(session: nox.Session) -> None:
    """The whole test suite (servers, TF.js and Chromium are set up by the tests)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and mypy --strict on the package."""
    session.install("-e", ".[test]")
    session.run("ruff", "check", "tfjs_store")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs + mkdocstrings), warnings as errors."""
    session.install("-e", ".[docs,server]")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(session.create_tmp() + "/site"))


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark harness (see BENCHMARKS.md)."""
    session.install("-e", ".[test]")
    session.run("python", "bench/run.py", *session.posargs)
