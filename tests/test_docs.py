"""The documentation a newcomer reads first agrees with the code (issue 19)."""

from __future__ import annotations

import argparse
import pydoc
import re
from pathlib import Path

import pytest

import tfjs_store

USER_FUNCTIONS = (
    "load",
    "save",
    "load_files",
    "list_models",
    "copy_model",
    "move_model",
    "remove_model",
    "clean",
    "verify",
    "inspect_model",
)


def test_help_starts_with_the_functions_a_user_calls() -> None:
    """``help(tfjs_store)`` ran 5,600 lines, the functions from line 5,473 on, after every
    pydantic method: the module docstring (shown first) names them."""
    text = pydoc.render_doc(tfjs_store, renderer=pydoc.plaintext)
    head = "\n".join(text.splitlines()[:60])
    for name in USER_FUNCTIONS:
        assert f"    {name}(" in head, f"{name} is not among the first 60 lines of help()"
        assert callable(getattr(tfjs_store, name))


# -- README and the command line agree -------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    from tfjs_store.cli import build_parser

    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in parser._actions if flag in a.option_strings), None)


def test_readme_names_every_command_that_takes_json() -> None:
    sentence = README[README.index("`--json` on") :].split(" prints JSON", 1)[0]
    named = set(re.findall(r"`([a-z]+)`", sentence))
    takes = {name for name, p in _subparsers().items() if _option(p, "--json") is not None}
    assert named == takes


def test_readme_names_every_layout_of_cp_and_upload_form_of_serve() -> None:
    for command, flag in (("cp", "--layout"), ("serve", "--upload-form")):
        action = _option(_subparsers()[command], flag)
        assert action is not None and action.choices
        for choice in action.choices:
            assert (
                f"`{choice}`" in README
                or f'`"{choice}"`' in README
                or (f"{flag} {choice}" in README)
            ), f"README does not name {command} {flag} {choice}"


def test_the_readme_and_load_files_point_at_a_spec_inside_the_repository() -> None:
    from tfjs_store import files

    for text in (README, files.__doc__ or ""):
        assert "../shared" not in text
    assert "docs/tfjs-format.md" in README and (ROOT / "docs" / "tfjs-format.md").is_file()
    assert "docs/tfjs-format.md" in (files.__doc__ or "")


def test_git_ignores_what_the_readme_first_command_writes() -> None:
    assert "tfjs-store cp example ./models/example" in README
    lines = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "/models/" in lines or "models/" in lines


def test_the_readme_gives_the_measured_install_time() -> None:
    development = README.split("## Development", 1)[1]
    assert re.search(r"install took \d+ min \d+ s|install took \d+ s", development)


# -- the conformance runner's words -----------------------------------------------------


def test_the_large_tier_skip_names_the_cli_flag() -> None:
    import inspect

    from conformance import suite

    source = inspect.getsource(suite)
    assert "tfjs-store conformance TARGET --large" in source
    assert "run with --conformance-large" not in source


def test_the_runner_without_pytest_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from conformance import runner

    monkeypatch.setitem(sys.modules, "pytest", None)  # `import pytest` fails in main()
    assert runner.main(["memory://x"]) == runner.EXIT_DEPENDENCY
    assert "pip install 'tfjs-store[conformance]'" in capsys.readouterr().err


def test_class_scoped_conformance_fixtures_are_classmethods() -> None:
    """pytest 9.2 deprecates class-scoped fixtures defined as instance methods
    (PytestRemovedIn10Warning, from the shipped conformance/builtin_targets.py)."""
    import ast

    for path in sorted((ROOT / "conformance").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or not node.args.args:
                continue
            decorators = [ast.unparse(d) for d in node.decorator_list]
            class_scoped = any("fixture" in d and "scope='class'" in d for d in decorators)
            if class_scoped and node.args.args[0].arg == "self":
                pytest.fail(f"{path.name}: fixture {node.name} is class-scoped but takes self")


# -- the documentation site --------------------------------------------------------------


def test_the_docs_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    """`nox -s docs` in-process: mkdocs --strict over the API (mkdocstrings), the CLI, the
    bridge's OpenAPI document, the conformance guide and the format."""
    import os
    import subprocess
    import sys

    site = tmp_path / "site"
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in USER_FUNCTIONS:
        assert re.search(rf'id="tfjs_store\.[a-z]+\.{name}"', api), name
    assert 'id="tfjs_store.errors.TfjsStoreError"' in api
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    for command in _subparsers():
        assert f"tfjs-store {command}" in cli, command
    http_api = (site / "http-api" / "index.html").read_text(encoding="utf-8")
    assert "/models/{name}/model.json" in http_api and "413" in http_api
    assert (site / "conformance" / "index.html").is_file()
    assert (site / "tfjs-format" / "index.html").is_file()
