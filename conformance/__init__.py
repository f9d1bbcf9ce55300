"""The tfjs-store conformance suite: what every model handler must pass.

Subclass ``HandlerTests`` (``ReadOnlyHandlerTests`` for a load-only handler, or
``FsspecHandlerTests`` for a handler over an fsspec URL) in your own tests, or run
``tfjs-store conformance TARGET`` (``python -m tfjs_store.conformance TARGET``). The suite is a
pytest plugin (entry point ``pytest11``); it adds ``--conformance-large`` and prints a
summary table of the checks. See ``conformance/README.md`` in tfjs-store's repository.

Names are imported on first use, so that pytest loading the plugin stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "CAPABILITIES",
    "ConformanceFailure",
    "FaultyHandler",
    "FsspecHandlerTests",
    "HandlerTests",
    "Location",
    "ReadOnlyHandlerTests",
    "corpus",
]

_LAZY = {
    "CAPABILITIES": ".suite",
    "ConformanceFailure": ".suite",
    "FaultyHandler": ".suite",
    "HandlerTests": ".suite",
    "Location": ".suite",
    "ReadOnlyHandlerTests": ".suite",
    "FsspecHandlerTests": ".fsspec_target",
}


def __getattr__(name: str) -> Any:
    if name == "corpus":
        return importlib.import_module(".corpus", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
