"""``tfjs-store serve``: the bridge from browsers (TF.js's ``model.save('http://…')``) to buckets.

An ASGI app (Starlette, run by uvicorn) over any store URL::

    POST/PUT /models/{name}            an upload -> tfjs_store.save(ROOT/name), one of:
                                       TF.js's multipart (model.json + model.weights.bin),
                                       a set of files (one *.json + its weight files,
                                       matched by basename as tf.io.browserFiles does),
                                       or application/json with base64 weightData
    GET      /models/{name}/model.json the stored model.json   (tf.loadLayersModel)
    GET      /models/{name}/{file}     a weight file named in that model.json (Range works)
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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import MissingDependencyError

if TYPE_CHECKING:
    from starlette.applications import Starlette

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


def create_app(
    root_url: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    token: str | None = None,
    cors_origins: Sequence[str] = (),
    max_upload_bytes: int = 1 << 30,
    shard_size_bytes: int = 4 * 1024 * 1024,
    upload_form: str = "shards",
    public_read: bool = False,
    spool_dir: str | None = None,
    allowed_hosts: Sequence[str] = (),
    body_timeout: float | None = 60.0,
    layout: str | None = None,
) -> Starlette:
    """The bridge as an ASGI app over ``root_url``; model ``NAME`` lives at ``ROOT_URL/NAME``.

    Parameters
    ----------
    root_url:
        Any URL tfjs-store saves to (``s3://bucket/models``, ``gs://…``, ``memory://…``)
        or a local folder (created if missing). Model ``NAME`` (1-128 characters from
        ``A-Z a-z 0-9 . _ -``, not ``.``/``..``) lives at ``ROOT_URL/NAME``.
    storage_options:
        fsspec options for ``root_url`` (credentials, endpoints).
    token:
        Require ``Authorization: Bearer TOKEN`` on every request (401 otherwise).
    cors_origins:
        Browser origins allowed to call the bridge (``"*"`` for any). Empty: no CORS.
        Writes (POST, PUT, DELETE) from pages of other origins get 403.
    max_upload_bytes:
        Largest upload body accepted (1 GiB by default); larger ones get 413.
    shard_size_bytes:
        Weight shard size of stored models (4 MiB, the converter's default).
    upload_form:
        How an upload is stored: ``"shards"`` (converter-style shards, atomic replace)
        or ``"single"`` (``model.json`` + ``model.weights.bin`` byte for byte as TF.js
        sent them, overwritten in place).
    public_read:
        With ``token``, GET requests need no token.
    spool_dir:
        Where uploads are spilled while they arrive (default: the system temp folder).
    allowed_hosts:
        Host names the bridge answers to besides ``localhost``, loopback addresses and
        the address a connection arrived on (421 otherwise: DNS rebinding); ``"*"``: any.
    body_timeout:
        Seconds an upload may send nothing before it is cut off with 408 and nothing
        is stored (default 60; None: no limit).
    layout:
        Deprecated spelling of ``upload_form`` (warns ``FutureWarning``).
    """
    module = _app_module()
    app: Starlette = module.create_app(
        root_url,
        storage_options=storage_options,
        token=token,
        cors_origins=cors_origins,
        max_upload_bytes=max_upload_bytes,
        shard_size_bytes=shard_size_bytes,
        upload_form=upload_form,
        public_read=public_read,
        spool_dir=spool_dir,
        allowed_hosts=allowed_hosts,
        body_timeout=body_timeout,
        layout=layout,
    )
    return app


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
    return create_app(config.pop("root_url"), **config)


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
    ``public_read``, ``spool_dir``, ``allowed_hosts``, ``body_timeout``). ``port=0``
    picks a free port. A ``host`` named (not ``0.0.0.0``/``::``) is an allowed Host too.

    ``workers=N`` runs N processes over the one root (uvicorn's workers, each building
    the app with ``app_from_environment``); saves from different workers are safe from
    each other when clients send ``If-Match`` (a stale one gets 412).
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if host not in _ANY_ADDRESS:
        app_options["allowed_hosts"] = [host, *app_options.get("allowed_hosts", ())]
    app = create_app(root_url, **app_options)
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
