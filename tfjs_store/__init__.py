"""tfjs-store: save, load, check and move TensorFlow.js models on any fsspec storage.

The functions you call (``help(tfjs_store.load)`` etc. for the details; every URL may be
a local path, ``file://``, ``memory://``, ``s3://``, ``gs://``, ``az://``, ``http(s)://``,
``downloads://NAME`` or any fsspec URL, with ``storage_options=`` for fsspec):

Load and save
    load(url)                     the model at ``url`` -> ``ModelArtifacts``
                                  (``.weights()``: name -> numpy array)
    save(model, url)              ``ModelArtifacts`` or ``{name: numpy array}`` -> ``url``,
                                  crash-safe; returns a ``SaveResult``
    load_files(json_file, *weight_files)
                                  a model from loose files, as ``tf.io.browserFiles``

Manage models
    list_models(prefix_url)       model URL -> ``ModelArtifactsInfo`` for each model
    copy_model(src, dst)          between any two URLs, streamed file by file
                                  (``src_storage_options=``/``dst_storage_options=``)
    move_model(src, dst)          copy, then remove the source
    remove_model(url)             model.json first, then its weight files
    clean(url, older_than=0)      remove leftovers of saves that died, in every folder
                                  below ``url`` too (``dry_run=True`` only lists them)

Check models
    verify(url)                   every problem of a stored model -> ``VerifyReport``
    inspect_model(url)            what a model is, from its model JSON -> ``ModelInspection``
    describe_model(url)           the same as a JSON-ready dict (``tfjs-store info``)

Weights and handlers
    encode_weights / decode_weights    TF.js's weight codec (every dtype, quantization)
    requantize(artifacts, "uint8")     quantize weights as the converter does
    register_handler(scheme, factory)  add a URL scheme (or an entry point; see registry;
                                       a ``tfjs_store.stores.ByteStore`` subclass is enough)

Every error raised on purpose is a ``TfjsStoreError`` (the tree: ``tfjs_store.errors``).

>>> import tfjs_store
>>> artifacts = tfjs_store.load("s3://bucket/models/m1")           # doctest: +SKIP
>>> tfjs_store.save(artifacts, "gs://other/models/m1")             # doctest: +SKIP

Names are imported on first use (PEP 562), so ``import tfjs_store`` and the CLI start
quickly; the errors are always there.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from ._exports import LAZY as _LAZY
from .errors import (
    ConflictError,
    HandlerError,
    HTTPNotFoundError,
    HTTPStatusError,
    IntegrityError,
    InvalidModelError,
    MissingDependencyError,
    ModelNotFoundError,
    OptionError,
    StorageError,
    TfjsStoreError,
    UnsafePathError,
    WeightDataError,
)

if _typing.TYPE_CHECKING:
    from .api import (
        clean,
        copy_model,
        list_models,
        load,
        model_version,
        move_model,
        open_model,
        remove_model,
        save,
    )
    from .checks import ModelInspection, Problem, VerifyReport, WeightFile, inspect_model, verify
    from .describe import describe_model
    from .files import load_files
    from .format.artifacts import ModelArtifacts
    from .format.codec import decode_weights, encode_weights
    from .format.requantize import requantize
    from .format.schemas import (
        ManifestGroup,
        ModelArtifactsInfo,
        ModelJSON,
        Quantization,
        SaveResult,
        TrainingConfig,
        WeightSpec,
    )
    from .handlers.base import IOHandler, LoadHandler, ModelStore, SaveHandler
    from .options import LoadOptions, SaveOptions
    from .reader import ModelReader
    from .registry import (
        HandlerConflictWarning,
        get_load_handlers,
        get_save_handlers,
        handler_entries,
        prefer_handler,
        register_handler,
        register_load_router,
        register_save_router,
    )

__version__ = "0.1.0"


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tfjs_store' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
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
