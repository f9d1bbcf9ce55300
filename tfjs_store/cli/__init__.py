"""``tfjs-store``: look at, check and move TensorFlow.js models on any storage.

Only argparse is imported up front so that ``tfjs-store --help`` starts fast; each
command's module (and numpy, pydantic, fsspec, cloud libraries) is imported when the
command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..server.caching import DEFAULT_REDIRECT_EXPIRES, MAX_REDIRECT_EXPIRES

__all__ = [
    "EXIT_DEPENDENCY",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_STORAGE",
    "EXIT_USAGE",
    "main",
]

EXIT_OK = 0
EXIT_FAILED = 1
"""verify found problems, the model is invalid, or the operation failed."""
EXIT_USAGE = 2
"""Bad arguments, an unknown URL scheme, an option the destination does not take."""
EXIT_NOT_FOUND = 3
"""No model at the URL."""
EXIT_DEPENDENCY = 4
"""The package a URL scheme (or command) needs is not installed."""
EXIT_STORAGE = 5
"""The storage failed: I/O, network, permissions, an HTTP error status."""
EXIT_INTERRUPTED = 130

_EPILOG = """\
URLs: any fsspec URL or a local path (file://, memory://, s3://, gs://, az://, http(s)://,
downloads://NAME, chained URLs like simplecache::s3://…). `example` names the model that
ships with tfjs-store (read-only): `tfjs-store cp example ./models/example`.

Storage options: -o/--storage-option KEY=VALUE (repeatable) goes to fsspec (http(s)://
URLs take -H/--header 'NAME: VALUE' instead). VALUE is read
as JSON when it parses (true, 123, {"a": 1}, "007" for a string of digits), else taken as
a string; dots in KEY nest (client_kwargs.region_name=us-west-2). Credentials also come
from each library's usual environment variables (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL,
GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_CONNECTION_STRING, …).

Exit status: 0 ok; 1 verify found problems, the model is invalid or the operation
failed; 2 usage error (bad arguments, unknown URL scheme); 3 no model at the URL;
4 a needed package is not installed; 5 storage error (I/O, network, permissions);
130 interrupted.
"""

_STORAGE_OPTION_HELP = "fsspec storage option (repeatable); see `tfjs-store --help`"
_SIZE_HELP = (
    "bytes, or with a suffix: K/M/G (KiB/MiB/GiB, powers of 1024), KB/MB/GB (powers of 1000)"
)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("tfjs-store")
    except Exception:  # pragma: no cover - running from a source tree without metadata
        return "unknown"


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        print(f"tfjs-store {_version()}")
        parser.exit()


def _add_repeatable(
    parser: argparse.ArgumentParser, *flags: str, metavar: str, help: str
) -> None:
    """An option that may be given several times; its values arrive as a list."""
    parser.add_argument(*flags, action="append", default=[], metavar=metavar, help=help)


def _repeatable_option(flags: Sequence[str], metavar: str, help: str) -> argparse.ArgumentParser:
    """A parent parser holding one option that may be given several times."""
    parent = argparse.ArgumentParser(add_help=False)
    _add_repeatable(parent, *flags, metavar=metavar, help=help)
    return parent


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    parents: list[argparse.ArgumentParser],
    help: str,
    description: str,
    *,
    raw: bool = False,
    json: str | None = None,
) -> argparse.ArgumentParser:
    """One command's parser: its one-line ``help`` in the command list, its
    ``description`` atop its own --help (``raw``: printed with its own line breaks),
    and ``--json`` described as ``json`` where the command prints JSON on request."""
    parser = sub.add_parser(
        name,
        parents=parents,
        help=help,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter if raw else argparse.HelpFormatter,
    )
    if json is not None:
        parser.add_argument("--json", action="store_true", help=json)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (argparse only; nothing heavy is imported)."""
    parser = argparse.ArgumentParser(
        prog="tfjs-store",
        description="Look at, check and move TensorFlow.js models on any storage.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument(
        "--debug", action="store_true", help="show the Python traceback of an error"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    storage = _repeatable_option(
        ["-o", "--storage-option"],
        "KEY=VALUE",
        _STORAGE_OPTION_HELP,
    )
    headers = _repeatable_option(
        ["-H", "--header"],
        "'NAME: VALUE'",
        "HTTP header for http(s):// URLs (repeatable), e.g. 'Authorization: Bearer TOKEN'",
    )

    p = _command(
        sub, "info", [storage, headers], "describe a model: format, layers, inputs, weights, files",
        "Describe a model from its model.json, without reading the weights.",
        raw=True,
        json="print JSON instead of tables",
    )
    p.add_argument("url", help="the model (its folder or model JSON file), or `example`")

    p = _command(
        sub, "verify", [storage, headers],
        "check that a model is intact; exit 1 listing every problem",
        "Check a model: model.json schema, every weight file present with the right\n"
        "size, checksums (CRC32C or SHA-256) where the save recorded them, every\n"
        "weight decodes. Exit 0 when intact, 1 with the list of every problem found.",
        raw=True,
        json="print the report as JSON",
    )
    p.add_argument("url", help="the model, or `example`")
    p.add_argument(
        "--remote",
        action="store_true",
        help="compare recorded CRC32Cs with those the store keeps (GCS, S3), reading no "
        "weight byte; files the store keeps none for are read",
    )

    p = _command(
        sub, "get", [headers], "write a few weights to a .npy/.npz file, reading only their bytes",
        "Write the named weights to a .npy (one) or .npz file, reading only their\n"
        "byte ranges (the rest of the model is not read), each checked where the\n"
        "save recorded a checksum. Here -o is the output file; storage options go\n"
        "with --storage-option KEY=VALUE.",
        raw=True,
        json="print what was written as JSON",
    )
    p.add_argument("url", help="the model (its folder or model JSON file), or `example`")
    p.add_argument("names", nargs="+", metavar="NAME", help="weight name (repeatable)")
    p.add_argument(
        "-o", "--output", metavar="FILE",
        help="FILE.npy (one weight) or FILE.npz (default: NAME.npy, or weights.npz)",
    )
    _add_repeatable(p, "--storage-option", metavar="KEY=VALUE", help=_STORAGE_OPTION_HELP)

    p = _command(
        sub, "ls", [storage], "list the models under a prefix",
        "List every model (every committed model.json) under a prefix URL.",
        json="print JSON instead of a table",
    )
    p.add_argument("prefix", help="prefix URL or folder")

    for name, verb in (("cp", "copy"), ("mv", "move")):
        move = name == "mv"
        p = _command(
            sub, name, [storage, headers],
            f"{verb} a model between any two URLs (re-shard, quantize)",
            f"{verb.capitalize()} a model between any two URLs; the schemes may differ.\n"
            + ("The source is removed only after the destination is saved.\n" if move else "")
            + "Progress is shown on a terminal for models over 4 MiB.",
            raw=True,
            json="print the result as JSON",
        )
        p.add_argument("src", help="source model" + (", or `example`" if name == "cp" else ""))
        p.add_argument("dst", help="destination model URL")
        for end, flag in (
            ("source", "--src-storage-option"), ("destination", "--dst-storage-option")
        ):
            _add_repeatable(
                p,
                flag,
                metavar="KEY=VALUE",
                help=f"storage option for the {end} only (overrides -o)",
            )
        p.add_argument("--shard-size", metavar="SIZE", help=f"largest weight file; {_SIZE_HELP}")
        p.add_argument(
            "--layout",
            choices=("shards", "tfjs-node", "downloads"),
            help="shards (default; crash-safe, checksums), tfjs-node (model.json + "
            "weights.bin byte-identical to TF.js), downloads (NAME.json + NAME.weights.bin)",
        )
        p.add_argument(
            "--checksum",
            choices=("crc32c", "sha256", "none"),
            help="the checksum recorded in model.json per weight file and per weight "
            "(default: crc32c for the shards layout, none for TF.js's byte-identical layouts)",
        )
        p.add_argument(
            "--checksums",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="record the default checksum (--checksums) or none (--no-checksums)",
        )
        p.add_argument(
            "--quantize",
            choices=("uint8", "uint16", "float16"),
            help="quantize float32 weights as the TF.js converter does",
        )
        _add_repeatable(
            p,
            "--match",
            metavar="PATTERN",
            help="with --quantize: only weights whose name matches this shell-style "
            "pattern (repeatable), e.g. '*/kernel'",
        )
        p.add_argument("--no-progress", action="store_true", help="never show a progress bar")

    p = _command(
        sub, "rm", [storage], "remove a model",
        "Remove a model: its model.json first, then its weight files.",
        json="print the result as JSON",
    )
    p.add_argument("url", help="the model to remove")
    p.add_argument(
        "-f", "--force", action="store_true", help="no error when there is no model there"
    )

    p = _command(
        sub, "clean", [storage],
        "remove leftovers of saves that died (files no model.json refers to)",
        "Remove weight and temporary files that tfjs-store's own saves left "
        "behind when they died: files no committed model.json refers to, in the folder "
        "and in every folder below it. Files of a save still running are never removed.",
        json="print the result as JSON",
    )
    p.add_argument("url", help="the model folder, or a prefix of model folders, to clean")
    p.add_argument(
        "--dry-run", action="store_true", help="only list what would be removed"
    )
    p.add_argument(
        "--older-than",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="only leftovers at least this old (a save in progress is younger; default 0)",
    )

    p = _command(
        sub, "serve", [storage], "serve models under a root URL over HTTP (TF.js's http protocol)",
        "Serve the models under ROOT_URL: TF.js loads from it and saves to it.",
    )
    p.add_argument("root", help="root URL the served models live under")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes over the one root (default 1); clients that send If-Match "
        "are safe from each other's saves",
    )
    p.add_argument(
        "--token",
        help="require `Authorization: Bearer TOKEN` on requests (default: $TFJS_STORE_TOKEN; "
        "prefer the variable, a command line is visible to other users)",
    )
    _add_repeatable(
        p,
        "--cors-origin",
        metavar="ORIGIN",
        help="allow browser requests from this origin (repeatable; * for any)",
    )
    _add_repeatable(
        p,
        "--allowed-host",
        metavar="HOST",
        help="also answer requests addressed to this host name (repeatable; * for any, "
        "behind a proxy that rewrites Host); others get 421 against DNS rebinding",
    )
    p.add_argument("--max-upload", metavar="SIZE", help=f"largest accepted save; {_SIZE_HELP}")
    p.add_argument("--shard-size", metavar="SIZE", help=f"shard size of saved models; {_SIZE_HELP}")
    p.add_argument(
        "--upload-form",
        choices=("shards", "single"),
        help="how uploads are stored: shards (default; crash-safe) or single (model.json + "
        "model.weights.bin byte for byte as TF.js sent them)",
    )
    p.add_argument(  # the old spelling: "layout" is how cp lays out a model's files
        "--layout", dest="deprecated_layout", choices=("shards", "single"), help=argparse.SUPPRESS
    )
    p.add_argument(
        "--public-read",
        action="store_true",
        help="with a token, let GET requests through without it",
    )
    p.add_argument(
        "--body-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="cut off an upload that sends nothing for this long (408, nothing stored; default 60)",
    )
    p.add_argument(
        "--redirect-weights",
        action="store_true",
        help="answer weight file GETs with 307 to a short-lived presigned URL of the bucket "
        "(S3; GCS and Azure where the credentials can sign), so weight bytes skip the "
        "bridge; browsers need CORS on the bucket (docs/deploy.md)",
    )
    p.add_argument(
        "--redirect-expires",
        type=int,
        default=DEFAULT_REDIRECT_EXPIRES,
        metavar="SECONDS",
        help="how long each presigned URL of --redirect-weights works (default "
        f"{DEFAULT_REDIRECT_EXPIRES}, at most {MAX_REDIRECT_EXPIRES})",
    )

    p = sub.add_parser(
        "conformance",
        help="run the conformance suite against a handler (see `conformance --help`)",
        add_help=False,
    )
    p.add_argument("args", nargs=argparse.REMAINDER)

    p = _command(
        sub, "plugins", [],
        "list URL schemes, the distributions that provide them, fallbacks, conflicts",
        "List the registered URL schemes and where their handlers come from.",
        json="print JSON instead of a table",
    )
    p.add_argument(
        "--all", action="store_true", help="also list the fsspec protocols that fall back"
    )
    return parser


_COMMAND_MODULES = {
    "info": "_info",
    "verify": "_verify",
    "get": "_get",
    "ls": "_manage",
    "cp": "_manage",
    "mv": "_manage",
    "rm": "_manage",
    "clean": "_manage",
    "serve": "_serve",
    "conformance": "_serve",
    "plugins": "_plugins",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tfjs-store`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    conformance_args = _conformance_args(argv)
    if conformance_args is not None:  # the runner parses its own arguments (and --help)
        args = argparse.Namespace(
            command="conformance", args=conformance_args, debug="--debug" in argv
        )
        return _dispatch(args)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return _dispatch(args)


def _conformance_args(argv: Sequence[str]) -> list[str] | None:
    """The arguments after ``conformance`` when that is the command (after only --debug)."""
    for i, arg in enumerate(argv):
        if arg == "conformance":
            return list(argv[i + 1 :])
        if arg != "--debug":
            return None
    return None


def _dispatch(args: argparse.Namespace) -> int:
    import importlib

    from ._common import handle_error, install_warning_format

    install_warning_format()
    try:
        module = importlib.import_module(f"{__name__}.{_COMMAND_MODULES[args.command]}")
        return int(module.run(args))
    except BaseException as exc:  # every error becomes one line, a hint and an exit code
        if args.debug:
            raise
        return handle_error(exc)
