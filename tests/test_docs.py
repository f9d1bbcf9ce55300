"""The documentation a newcomer reads first agrees with the code (issue 19)."""

from __future__ import annotations

import pydoc

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
