"""tfjs-store: save, load, check and move TensorFlow.js models on any fsspec storage.

>>> import tfjs_store
>>> artifacts = tfjs_store.load("s3://bucket/models/m1")           # doctest: +SKIP
>>> tfjs_store.save(artifacts, "gs://other/models/m1")             # doctest: +SKIP
"""

from __future__ import annotations

from .api import clean, copy_model, list_models, load, move_model, remove_model, save
from .errors import (
    HandlerError,
    HTTPStatusError,
    IntegrityError,
    InvalidModelError,
    MissingDependencyError,
    ModelNotFoundError,
    StorageError,
    TfjsStoreError,
    UnsafePathError,
    WeightDataError,
)
from .format.artifacts import ModelArtifacts
from .format.codec import decode_weights, encode_weights
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

__all__ = [
    "HTTPStatusError",
    "HandlerConflictWarning",
    "HandlerError",
    "IOHandler",
    "IntegrityError",
    "InvalidModelError",
    "LoadHandler",
    "ManifestGroup",
    "MissingDependencyError",
    "ModelArtifacts",
    "ModelArtifactsInfo",
    "ModelJSON",
    "ModelNotFoundError",
    "ModelStore",
    "Quantization",
    "SaveHandler",
    "SaveResult",
    "StorageError",
    "TfjsStoreError",
    "TrainingConfig",
    "UnsafePathError",
    "WeightDataError",
    "WeightSpec",
    "__version__",
    "clean",
    "copy_model",
    "decode_weights",
    "encode_weights",
    "get_load_handlers",
    "get_save_handlers",
    "handler_entries",
    "list_models",
    "load",
    "move_model",
    "prefer_handler",
    "register_handler",
    "register_load_router",
    "register_save_router",
    "remove_model",
    "save",
]
