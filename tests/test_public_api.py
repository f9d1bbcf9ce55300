"""The public surface of ``tfjs_store`` is pinned: every exported name on purpose (issue 2).

When a name is added to ``tfjs_store/__init__.py`` it must be added to ``EXPECTED`` here too.
"""

from __future__ import annotations
import __future__

import types

import pytest

import tfjs_store

EXPECTED = [
    "ConflictError",
    "HTTPNotFoundError",
    "HTTPStatusError",
    "HandlerConflictWarning",
    "HandlerError",
    "IOHandler",
    "IntegrityError",
    "InvalidModelError",
    "LoadHandler",
    "LoadOptions",
    "ManifestGroup",
    "MissingDependencyError",
    "ModelArtifacts",
    "ModelArtifactsInfo",
    "ModelInspection",
    "ModelJSON",
    "ModelNotFoundError",
    "ModelReader",
    "ModelStore",
    "OptionError",
    "Problem",
    "Quantization",
    "SaveHandler",
    "SaveOptions",
    "SaveResult",
    "StorageError",
    "TfjsStoreError",
    "TrainingConfig",
    "UnsafePathError",
    "VerifyReport",
    "WeightDataError",
    "WeightFile",
    "WeightSpec",
    "__version__",
    "clean",
    "copy_model",
    "decode_weights",
    "describe_model",
    "encode_weights",
    "get_load_handlers",
    "get_save_handlers",
    "handler_entries",
    "inspect_model",
    "list_models",
    "load",
    "load_files",
    "model_version",
    "move_model",
    "open_model",
    "prefer_handler",
    "register_handler",
    "register_load_router",
    "register_save_router",
    "remove_model",
    "requantize",
    "save",
    "verify",
]

# The names issue 2 promises to users and to outside tests.
ISSUE_2_NAMES = [
    "encode_weights",
    "decode_weights",
    "ModelArtifacts",
    "ModelJSON",
    "SaveResult",
    "ModelArtifactsInfo",
    "TfjsStoreError",
]


def test_all_is_sorted() -> None:
    assert list(tfjs_store.__all__) == sorted(tfjs_store.__all__)


def test_all_has_no_duplicates() -> None:
    assert len(set(tfjs_store.__all__)) == len(tfjs_store.__all__)


def test_all_is_exactly_the_expected_list() -> None:
    assert list(tfjs_store.__all__) == EXPECTED


def test_all_equals_the_public_names_defined_in_the_module() -> None:
    # Names are imported lazily (PEP 562): dir() lists them before first use.
    public = {
        name
        for name in dir(tfjs_store)
        if not name.startswith("_")
        and not isinstance(getattr(tfjs_store, name), (types.ModuleType, __future__._Feature))
    }
    # __version__ is the one dunder that is deliberately public.
    assert set(tfjs_store.__all__) - {"__version__"} == public


def test_every_exported_name_resolves() -> None:
    for name in tfjs_store.__all__:
        assert getattr(tfjs_store, name) is not None, name


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from tfjs_store import *", namespace)
    namespace.pop("__builtins__", None)
    assert sorted(namespace) == sorted(tfjs_store.__all__)


@pytest.mark.parametrize("name", ISSUE_2_NAMES)
def test_issue_2_names_are_exported(name: str) -> None:
    assert name in tfjs_store.__all__
    assert hasattr(tfjs_store, name)


def test_issue_2_names_are_the_format_implementations() -> None:
    from tfjs_store.format import artifacts, codec, schemas

    assert tfjs_store.encode_weights is codec.encode_weights
    assert tfjs_store.decode_weights is codec.decode_weights
    assert tfjs_store.ModelArtifacts is artifacts.ModelArtifacts
    assert tfjs_store.ModelJSON is schemas.ModelJSON
    assert tfjs_store.SaveResult is schemas.SaveResult
    assert tfjs_store.ModelArtifactsInfo is schemas.ModelArtifactsInfo


def test_error_hierarchy() -> None:
    errors = tfjs_store
    assert issubclass(errors.TfjsStoreError, Exception)
    for name in (
        "InvalidModelError",
        "WeightDataError",
        "UnsafePathError",
        "IntegrityError",
        "HandlerError",
        "ModelNotFoundError",
        "ConflictError",
        "StorageError",
        "HTTPStatusError",
        "HTTPNotFoundError",
        "MissingDependencyError",
    ):
        assert issubclass(getattr(errors, name), errors.TfjsStoreError), name
    # Invalid models are ValueErrors too, so plain ``except ValueError`` keeps working.
    for name in ("InvalidModelError", "WeightDataError", "UnsafePathError", "IntegrityError"):
        assert issubclass(getattr(errors, name), ValueError), name
        assert issubclass(getattr(errors, name), errors.InvalidModelError), name
    assert issubclass(errors.StorageError, OSError)
    assert issubclass(errors.HTTPStatusError, errors.StorageError)
    assert issubclass(errors.ModelNotFoundError, FileNotFoundError)
    # A 404 over http is a missing model like any other, and still an HTTP status.
    assert issubclass(errors.HTTPNotFoundError, errors.ModelNotFoundError)
    assert issubclass(errors.HTTPNotFoundError, errors.HTTPStatusError)
    assert issubclass(errors.MissingDependencyError, ImportError)
    assert not issubclass(errors.HandlerError, ValueError)


def test_http_status_error_carries_status_and_url() -> None:
    err = tfjs_store.HTTPStatusError("boom", status=503, url="http://127.0.0.1/x")
    assert (err.status, err.url, str(err)) == (503, "http://127.0.0.1/x", "boom")


def test_http_not_found_error_is_a_404() -> None:
    err = tfjs_store.HTTPNotFoundError("gone", url="http://127.0.0.1/x")
    assert (err.status, err.url, str(err)) == (404, "http://127.0.0.1/x", "gone")
    assert isinstance(err, FileNotFoundError) and isinstance(err, tfjs_store.StorageError)


def test_version_is_a_string() -> None:
    assert isinstance(tfjs_store.__version__, str) and tfjs_store.__version__


def test_readme_public_api_table_lists_every_exported_name() -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = text[text.index("## Public API") : text.index("`tests/test_public_api.py` pins")]
    listed = set(re.findall(r"`([A-Za-z_]+)`", table))
    assert sorted(set(tfjs_store.__all__) - listed) == []
