"""The names ``tfjs_store`` imports on first use (PEP 562), and the module each one lives in.

The one list of those names: ``tfjs_store/__init__.py`` reads the table, and a module
whose public names the package exports (``api``, part of ``registry``) builds its
``__all__`` from its list here. Nothing here imports those modules.
"""

from __future__ import annotations

API: tuple[str, ...] = (
    "clean",
    "copy_model",
    "list_models",
    "load",
    "model_version",
    "move_model",
    "open_model",
    "remove_model",
    "save",
)
"""``api.__all__``: the public verbs."""

REGISTRY: tuple[str, ...] = (
    "HandlerConflictWarning",
    "get_load_handlers",
    "get_save_handlers",
    "handler_entries",
    "prefer_handler",
    "register_handler",
    "register_load_router",
    "register_save_router",
)
"""The part of ``registry.__all__`` the package exports."""

LAZY: dict[str, str] = {
    **dict.fromkeys(API, ".api"),
    **dict.fromkeys(
        ["ModelInspection", "Problem", "VerifyReport", "WeightFile", "inspect_model", "verify"],
        ".checks",
    ),
    "load_files": ".files",
    "describe_model": ".describe",
    "ModelReader": ".reader",
    "ModelArtifacts": ".format.artifacts",
    "decode_weights": ".format.codec",
    "encode_weights": ".format.codec",
    "requantize": ".format.requantize",
    **dict.fromkeys(
        [
            "ManifestGroup",
            "ModelArtifactsInfo",
            "ModelJSON",
            "Quantization",
            "SaveResult",
            "TrainingConfig",
            "WeightSpec",
        ],
        ".format.schemas",
    ),
    **dict.fromkeys(["IOHandler", "LoadHandler", "ModelStore", "SaveHandler"], ".handlers.base"),
    **dict.fromkeys(["LoadOptions", "SaveOptions"], ".options"),
    **dict.fromkeys(REGISTRY, ".registry"),
}
"""Name -> the module (relative to ``tfjs_store``) that defines it."""
