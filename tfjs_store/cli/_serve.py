"""``serve`` (the HTTP bridge) and ``conformance`` (the shipped suite's runner)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..server.caching import DEFAULT_REDIRECT_EXPIRES, MAX_REDIRECT_EXPIRES
from ._common import (
    UsageError,
    durable_url,
    known_fsspec_url,
    parse_size,
    parse_storage_options,
    say,
    storage_options_or_none,
)

TOKEN_ENV = "TFJS_STORE_TOKEN"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return serve(args)
    return conformance(args)


def serve(args: argparse.Namespace) -> int:
    from ..errors import MissingDependencyError

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {args.port}")
    lost = "every model saved to the bridge would be gone when it stops"
    durable_url(known_fsspec_url(args.root), "the root of serve", lost)
    token = args.token or os.environ.get(TOKEN_ENV) or None
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "storage_options": storage_options_or_none(parse_storage_options(args.storage_option)),
        "cors_origins": list(args.cors_origin),
    }
    if token is not None:
        options["token"] = token
    if args.public_read:
        if token is None:
            raise UsageError(
                "--public-read only makes sense with a token",
                f"set --token or ${TOKEN_ENV}; without a token everything is public already",
            )
        options["public_read"] = True
    if args.max_upload is not None:
        options["max_upload_bytes"] = parse_size(args.max_upload, "--max-upload")
    if args.shard_size is not None:
        options["shard_size_bytes"] = parse_size(args.shard_size, "--shard-size")
    upload_form = args.upload_form
    if args.deprecated_layout is not None:
        say("tfjs-store: warning: serve --layout is deprecated; use --upload-form (same values)")
        if upload_form not in (None, args.deprecated_layout):
            raise UsageError(
                f"--upload-form {upload_form} and --layout {args.deprecated_layout} disagree",
                "give --upload-form only (--layout is its deprecated spelling)",
            )
        upload_form = args.deprecated_layout
    if upload_form is not None:
        options["upload_form"] = upload_form
    if not 0 < args.body_timeout < float("inf"):
        raise UsageError(
            f"--body-timeout must be a positive number of seconds, got {args.body_timeout}"
        )
    options["body_timeout"] = args.body_timeout
    if not 1 <= args.redirect_expires <= MAX_REDIRECT_EXPIRES:
        raise UsageError(
            f"--redirect-expires must be from 1 to {MAX_REDIRECT_EXPIRES} seconds (7 days), "
            f"got {args.redirect_expires}"
        )
    if args.redirect_weights:
        options["redirect_weights"] = True
        options["redirect_expires"] = args.redirect_expires
    elif args.redirect_expires != DEFAULT_REDIRECT_EXPIRES:
        raise UsageError("--redirect-expires only makes sense with --redirect-weights")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.workers > 1:
        options["workers"] = args.workers
    if args.host not in _LOOPBACK and token is None:
        say(
            f"tfjs-store: warning: serving on {args.host} without a token: anyone who can "
            f"reach it can overwrite and delete models (set ${TOKEN_ENV} or --token)"
        )
    if "*" in args.allowed_host and token is None:
        say(
            "tfjs-store: warning: --allowed-host * turns off the DNS-rebinding check; "
            f"without a token any web page may read the models (set ${TOKEN_ENV} or --token)"
        )
    try:
        from ..server import serve as run_server
        from ..server.guard import check_allowed_host
    except ImportError as exc:
        raise MissingDependencyError(
            f"the tfjs-store server cannot be imported ({exc}); "
            "install it with: pip install 'tfjs-store[server]'"
        ) from None
    try:
        options["allowed_hosts"] = [check_allowed_host(h) for h in args.allowed_host]
    except ValueError as exc:
        raise UsageError(f"--allowed-host: {exc}") from None
    run_server(args.root, **options)
    return 0


def conformance(args: argparse.Namespace) -> int:
    import importlib

    from ..errors import MissingDependencyError

    try:
        runner = importlib.import_module("tfjs_store.conformance.runner")
    except ModuleNotFoundError as exc:
        if exc.name not in ("tfjs_store.conformance", "tfjs_store.conformance.runner"):
            raise
        raise MissingDependencyError(
            "the conformance suite's runner (tfjs_store.conformance.runner) is not installed "
            "with this copy of tfjs-store"
        ) from None
    run_conformance = runner.main
    result = run_conformance(list(args.args))
    return int(result or 0)
