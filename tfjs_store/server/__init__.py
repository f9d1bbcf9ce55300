"""``tfjs-store serve``: the bridge from browsers (TF.js's ``model.save('http://…')``) to buckets.

An ASGI app (Starlette, run by uvicorn) over any store URL::

    POST/PUT /models/{name}            an upload -> tfjs_store.save(ROOT/name), one of:
                                       TF.js's multipart (model.json + model.weights.bin),
                                       a set of files (one *.json + its weight files,
                                       matched by basename as tf.io.browserFiles does),
                                       or application/json with base64 weightData
    GET      /models/{name}/model.json the stored model.json   (tf.loadLayersModel)
    GET      /models/{name}/{file}     a weight file named in that model.json (Range works;
                                       with redirect_weights, 307 to a presigned URL)
    GET      /models/{name}            the model's ModelArtifactsInfo
    GET      /models                   every model under the root
    DELETE   /models/{name}            tfjs_store.remove_model(ROOT/name)
    GET      /openapi.json             the OpenAPI document

In a browser::

    await model.save('http://127.0.0.1:8000/models/my-model');
    const m = await tf.loadLayersModel('http://127.0.0.1:8000/models/my-model/model.json');

    // files the user picked in <input type=file name=files multiple>
    await fetch('http://127.0.0.1:8000/models/picked', {method: 'POST', body: new FormData(form)});

Needs the ``server`` extra: ``pip install 'tfjs-store[server]'``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..errors import MissingDependencyError

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from .app import create_app as create_app

__all__ = ["app_from_environment", "create_app", "log_config", "serve"]

_ANY_ADDRESS = ("", "0.0.0.0", "::")
_HINT = "install it with: pip install 'tfjs-store[server]'"


def _app_module() -> Any:
    try:
        from . import app
    except ImportError as exc:
        raise MissingDependencyError(
            f"the tfjs-store server needs starlette and python-multipart ({exc}); {_HINT}"
        ) from None
    return app


def __getattr__(name: str) -> Any:
    """``create_app`` (documented in ``tfjs_store.server.app``), imported on first use so
    that a missing ``server`` extra is a ``MissingDependencyError`` naming it."""
    if name == "create_app":
        return _app_module().create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def log_config(log_level: str = "info") -> dict[str, Any]:
    """uvicorn's logging configuration plus the ``tfjs_store`` loggers (the bridge's
    own lines, such as a client that left mid-upload), printed as uvicorn prints."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["tfjs_store"] = {
        "handlers": ["default"],
        "level": log_level.upper(),
        "propagate": False,
    }
    return config


_OPTIONS_ENV = "TFJS_STORE_SERVE_APP"
"""Where ``serve(workers=N)`` hands ``create_app``'s arguments to its worker processes."""


def app_from_environment() -> Starlette:
    """The app factory each worker of ``serve(workers=N)`` calls (uvicorn's
    ``factory=True``): ``create_app`` with the arguments ``serve`` left in the
    environment."""
    import json

    config = json.loads(os.environ[_OPTIONS_ENV])
    app: Starlette = _app_module().create_app(config.pop("root_url"), **config)
    return app


def serve(
    root_url: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    workers: int = 1,
    **app_options: Any,
) -> None:
    """Run the bridge with uvicorn until interrupted (what ``tfjs-store serve`` calls).

    ``app_options`` are ``create_app``'s keyword arguments (``storage_options``,
    ``token``, ``cors_origins``, ``max_upload_bytes``, ``shard_size_bytes``, ``upload_form``,
    ``public_read``, ``spool_dir``, ``allowed_hosts``, ``body_timeout``, ``redirect_weights``,
    ``redirect_expires``). ``port=0``
    picks a free port. A ``host`` named (not ``0.0.0.0``/``::``) is an allowed Host too.

    ``workers=N`` runs N processes over the one root (uvicorn's workers, each building
    the app with ``app_from_environment``); saves from different workers are safe from
    each other when clients send ``If-Match`` (a stale one gets 412).
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if host not in _ANY_ADDRESS:
        app_options["allowed_hosts"] = [host, *app_options.get("allowed_hosts", ())]
    app = _app_module().create_app(root_url, **app_options)
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError(
            f"the tfjs-store server needs uvicorn ({exc}); {_HINT}"
        ) from None
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level=log_level,
                    log_config=log_config(log_level))
        return
    import json

    try:
        os.environ[_OPTIONS_ENV] = json.dumps({"root_url": root_url, **app_options})
    except TypeError as exc:
        raise ValueError(f"serve(workers={workers}) takes JSON-able app options: {exc}") from None
    uvicorn.run(f"{__name__}:app_from_environment", factory=True, workers=workers, host=host,
                port=port, log_level=log_level, log_config=log_config(log_level))
