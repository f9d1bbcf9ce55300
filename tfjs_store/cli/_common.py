"""What every command shares: errors to exit codes, option parsing, tables, sizes."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from . import (
    EXIT_DEPENDENCY,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_STORAGE,
    EXIT_USAGE,
)

PROG = "tfjs-store"

EXAMPLE_NAMES = ("example", "example:")
"""What names the bundled example model on the command line."""


class _HintedError(Exception):
    """An error the command prints as one line and, where given, a hint."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(_HintedError):
    """A mistake in the command line: exit 2 with the message and a hint."""


class SaveInterrupted(KeyboardInterrupt):
    """Ctrl-C while a command was saving to ``url``: the message names the cleanup."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class NothingThere(_HintedError):
    """The URL names no folder, bucket or model: exit 3 with the message and a hint."""

    exit_code = EXIT_NOT_FOUND


class CommandFailed(Exception):
    """The command ran but did not succeed (the details were already printed)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


# -- messages and errors -----------------------------------------------------------------


def say(message: str, stream: TextIO | None = None) -> None:
    """A note for the user on stderr (stdout stays clean for tables and JSON)."""
    print(message, file=stream or sys.stderr)


def error(message: str, hint: str | None = None) -> None:
    say(f"{PROG}: error: {_one_line(message)}")
    if hint:
        say(f"  hint: {hint}")


def _one_line(message: str) -> str:
    return " ".join(message.split()) or "(no message)"


def install_warning_format() -> None:
    """Warnings (e.g. two plugins claiming one scheme) as one ``tfjs-store: warning:`` line."""

    def show(message: Any, category: Any, filename: str, lineno: int, *a: Any, **k: Any) -> None:
        say(f"{PROG}: warning: {_one_line(str(message))}")

    warnings.showwarning = show


def handle_error(exc: BaseException) -> int:
    """Print one clear line (and a hint) for ``exc``; return the exit status."""
    from .. import errors

    if isinstance(exc, SystemExit):
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_FAILED)
    if isinstance(exc, KeyboardInterrupt):
        settle_abandoned_io()
        if isinstance(exc, SaveInterrupted):
            import shlex

            url = shlex.quote(exc.url)
            say(f"{PROG}: interrupted; `{PROG} clean {url}` removes what the save left behind")
        else:
            say(f"{PROG}: interrupted")
        return EXIT_INTERRUPTED
    if isinstance(exc, CommandFailed):
        return exc.code
    if isinstance(exc, BrokenPipeError):
        # The reader went away (`tfjs-store ls … | head`); say nothing more on stdout.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_FAILED
    if isinstance(exc, _HintedError):
        error(str(exc), exc.hint)
        return exc.exit_code
    for kind, hint, code in _library_errors():
        if isinstance(exc, kind):
            if kind is errors.HTTPStatusError:
                return _http_status(exc)
            error(str(exc), hint)
            return code
    if isinstance(exc, ImportError):
        error(f"a needed package cannot be imported: {exc}")
        return EXIT_DEPENDENCY
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        error(f"{exc}", "check the path")
        return EXIT_NOT_FOUND
    if isinstance(exc, (PermissionError, ConnectionError, TimeoutError, OSError)):
        error(f"{type(exc).__name__}: {exc}", _storage_hint())
        return EXIT_STORAGE
    error(
        f"unexpected {type(exc).__name__}: {exc}",
        "this is likely a bug in tfjs-store; run `tfjs-store --debug …` for the traceback",
    )
    return EXIT_FAILED


def _library_errors() -> tuple[tuple[type[BaseException], str | None, int], ...]:
    """tfjs-store's errors, most specific first: the hint printed and the exit status
    (an HTTP status has its own hints, from ``_http_status``)."""
    from .. import errors

    return (
        (
            errors.MissingDependencyError,
            "`tfjs-store plugins` shows what each URL scheme needs",
            EXIT_DEPENDENCY,
        ),
        (
            errors.ModelNotFoundError,
            "check the URL; `tfjs-store ls PREFIX` lists the models under a prefix",
            EXIT_NOT_FOUND,
        ),
        (
            errors.HandlerError,
            "`tfjs-store plugins` lists the URL schemes tfjs-store knows",
            EXIT_USAGE,
        ),
        (
            errors.InvalidModelError,
            "`tfjs-store verify URL` lists every problem of a stored model",
            EXIT_FAILED,
        ),
        (errors.HTTPStatusError, None, EXIT_STORAGE),
        (errors.StorageError, _storage_hint(), EXIT_STORAGE),
        (
            errors.OptionError,
            "-o/--storage-option is for fsspec URLs (file, s3, gs, az, ...); "
            "-H/--header is for http(s) URLs",
            EXIT_USAGE,
        ),
        (errors.TfjsStoreError, None, EXIT_FAILED),
    )


def settle_abandoned_io(timeout: float = 2.0) -> None:
    """After Ctrl-C: cancel and await what is still running on fsspec's event loop.

    Ctrl-C stops the main thread, but the requests of an S3/GCS/Azure transfer run on in
    fsspec's own I/O thread; when the process then closed their connections, asyncio
    printed "Task exception was never retrieved … ClientConnectionResetError" for each
    request in flight. They are cancelled and awaited here, and the loop drops what its
    tasks report from now on: the user asked to stop, and `interrupted` says so.
    """
    asyn = sys.modules.get("fsspec.asyn")  # never import fsspec just for this
    loop = getattr(asyn, "loop", [None])[0] if asyn is not None else None
    if loop is None or loop.is_closed() or not loop.is_running():
        return
    import asyncio

    loop.set_exception_handler(lambda loop, context: None)

    async def cancel_all() -> None:
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for task in tasks:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: nothing left to report

    # Best effort: a second Ctrl-C (or a loop that does not answer) ends the wait too.
    with contextlib.suppress(BaseException):
        asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(timeout + 1)


def _http_status(exc: Any) -> int:
    """An http(s) peer's refusal: a missing model JSON is exit 3; hints name -H, since
    http(s) URLs take headers, not storage options."""
    status = exc.status
    if status in (404, 410) and "weight file" not in str(exc):
        error(str(exc), "check the URL: it names the model JSON (…/model.json on a bridge)")
        return EXIT_NOT_FOUND
    if status in (401, 403):
        hint = "the server wants a credential: pass it with -H 'Authorization: Bearer TOKEN'"
    elif status == 413:
        hint = (
            "the server refused the upload's size; a tfjs-store bridge takes more with "
            "`serve --max-upload SIZE`, and --quantize uint8 makes the model smaller"
        )
    else:
        hint = "check the URL and the server; send headers it needs with -H 'NAME: VALUE'"
    error(str(exc), hint)
    return EXIT_STORAGE


def _storage_hint() -> str:
    return (
        "check the URL, your credentials and network; pass endpoint or credentials with "
        "-o KEY=VALUE (see `tfjs-store --help`)"
    )


# -- option values -----------------------------------------------------------------------


def parse_storage_options(items: Sequence[str], flag: str = "--storage-option") -> dict[str, Any]:
    """``KEY=VALUE`` items to a storage_options dict.

    VALUE is JSON when it parses as JSON (``true``, ``123``, ``{"a": 1}``, ``"007"``),
    else the string itself. Dots in KEY nest: ``client_kwargs.region_name=x`` gives
    ``{"client_kwargs": {"region_name": "x"}}``.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        parts = key.split(".")
        if not sep or not key or any(not p for p in parts):
            raise UsageError(
                f"{flag} takes KEY=VALUE, got {item!r}",
                f"e.g. {flag} endpoint_url=http://127.0.0.1:9000",
            )
        value = _json_or_string(raw)
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UsageError(
                    f"{flag} {key}: {'.'.join(parts[: i + 1])} already has the value {child!r}"
                )
            node = child
        node[parts[-1]] = value
    return out


def _json_or_string(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def is_http(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def http_options(url: str, headers: Sequence[str]) -> dict[str, Any]:
    """Handler options for ``-H 'Name: value'`` headers: ``request_init`` for http(s) URLs."""
    if not headers or not is_http(url):
        return {}
    parsed: dict[str, str] = {}
    for item in headers:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageError(
                f"--header takes 'NAME: VALUE', got {item!r}",
                "e.g. -H 'Authorization: Bearer TOKEN'",
            )
        parsed[name.strip()] = value.strip()
    return {"request_init": {"headers": parsed}}


def no_http_management(url: str, what: str) -> str:
    """``ls``/``rm``/``clean`` on an http(s) URL: TF.js's http protocol only loads and
    saves, so say that plainly (not "no model manager", not `plugins`)."""
    if is_http(url):
        raise UsageError(
            f"http(s) URLs cannot {what}: TF.js's http protocol only loads and saves a model",
            "a tfjs-store bridge lists its models at GET /models and removes one with "
            "DELETE /models/NAME; or run the command on the bridge's storage URL",
        )
    return url


def check_headers_used(headers: Sequence[str], *urls: str) -> None:
    if headers and not any(is_http(u) for u in urls):
        raise UsageError("--header only applies to http(s):// URLs")


def model_to_read(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The model ``info``, ``verify`` and ``get`` read (``example`` resolved) and the
    options to open it with: ``storage_options`` from --storage-option and the http(s)
    handler's options from -H/--header."""
    options = storage_options_or_none(parse_storage_options(args.storage_option))
    url = source_url(args.url)
    check_headers_used(args.header, url)
    return url, {"storage_options": options, **http_options(url, args.header)}


def merge_options(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``, merging nested dicts."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_options(out[key], value)
        else:
            out[key] = value
    return out


def storage_options_or_none(options: Mapping[str, Any]) -> dict[str, Any] | None:
    return dict(options) if options else None


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kib": 1024,
    "kb": 1000,
    "m": 1024**2,
    "mib": 1024**2,
    "mb": 1000**2,
    "g": 1024**3,
    "gib": 1024**3,
    "gb": 1000**3,
}


def parse_size(text: str, flag: str) -> int:
    """``4194304``, ``4M``/``4MiB`` (4 × 1024²), ``4MB`` (4 × 1000²), … to a byte count."""
    m = _SIZE.match(text)
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS:
        raise UsageError(
            f"{flag} takes a size like 4194304, 4MiB, 4M or 4MB, got {text!r}",
            "K/M/G and KiB/MiB/GiB are powers of 1024; KB/MB/GB are powers of 1000",
        )
    value = float(m.group(1)) * _UNITS[unit]
    if value < 1 or value != int(value):
        raise UsageError(f"{flag} must be a whole number of bytes of at least 1, got {text!r}")
    return int(value)


# -- the bundled example --------------------------------------------------------------


def example_path() -> str:
    return str(Path(__file__).resolve().parent.parent / "data" / "example")


def source_url(url: str) -> str:
    """``example`` (or ``example:``) -> the bundled model's folder; other URLs unchanged."""
    if url in EXAMPLE_NAMES:
        if url == "example" and os.path.exists("example"):
            say(
                f"{PROG}: note: `example` is the bundled example model; "
                "write ./example for the folder here"
            )
        return example_path()
    return url


def writable_url(url: str) -> str:
    if url in EXAMPLE_NAMES:
        raise UsageError(
            "the bundled example model is read-only",
            "copy it first: tfjs-store cp example ./models/example",
        )
    return url


def durable_url(
    url: str, what: str, lost: str = "the model would be gone when tfjs-store exits"
) -> str:
    """Refuse ``memory://`` (also at the end of a chained URL) where the command would
    leave a model there: the memory store ends with this process, so the model would be
    lost the moment the command returns (and ``mv`` would have removed the source)."""
    last = url.rsplit("::", 1)[-1]
    if last.lower().startswith("memory:"):
        raise UsageError(
            f"{what} cannot be memory:// ({url}): the memory store ends with this process; " + lost,
            "use a folder or a bucket; memory:// is for Python code in one process",
        )
    return url


def known_fsspec_url(url: str) -> str:
    """A usage error for a URL naming a protocol fsspec does not know (a typo like
    ``fiel://``); an ImportError (exit 4) when its package is missing. Known is what
    the library opens (``dav://`` too, which fsspec's table does not list)."""
    import fsspec
    from fsspec.core import split_protocol

    from ..stores.fsspec import ensure_protocol_known

    for part in url.split("::"):
        protocol, _ = split_protocol(part)
        if protocol is None:
            continue
        if not ensure_protocol_known(protocol):
            raise UsageError(
                f"unknown URL scheme {protocol!r} in {url}",
                "check the spelling; `tfjs-store plugins --all` lists the schemes",
            )
        fsspec.get_filesystem_class(protocol)
    return url


# -- output -----------------------------------------------------------------------------


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    return f"{n} B"  # pragma: no cover


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], right: Iterable[int] = ()) -> str:
    """Plain-text columns; ``right`` lists the columns aligned to the right (numbers)."""
    rows = [list(map(str, r)) for r in rows]
    right_cols = set(right)
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def fmt(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            last = i == len(cells) - 1
            if i in right_cols:
                out.append(cell.rjust(widths[i]))
            else:
                out.append(cell if last else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    return "\n".join([fmt(headers), *(fmt(r) for r in rows)])


def shape_text(shape: Sequence[Any] | None) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join("?" if d is None or d == -1 else str(d) for d in shape) + "]"
