"""``ls``, ``cp``, ``mv``, ``rm``: model management over any URLs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from ..errors import OptionError
from ._common import (
    PROG,
    NothingThere,
    SaveInterrupted,
    UsageError,
    check_headers_used,
    durable_url,
    http_options,
    human_bytes,
    merge_options,
    no_http_management,
    parse_size,
    parse_storage_options,
    print_json,
    say,
    source_url,
    storage_options_or_none,
    table,
    writable_url,
)


def run(args: argparse.Namespace) -> int:
    command = args.command
    if command == "ls":
        return ls(args)
    if command in ("cp", "mv"):
        return copy(args, move=command == "mv")
    if command == "clean":
        return clean(args)
    return rm(args)


def _info_json(info: Any) -> dict[str, Any]:
    out: dict[str, Any] = info.model_dump(by_alias=True, mode="json")
    return out


# -- ls ---------------------------------------------------------------------------------


def ls(args: argparse.Namespace) -> int:
    import tfjs_store

    options = storage_options_or_none(parse_storage_options(args.storage_option))
    prefix = no_http_management(source_url(args.prefix), "list models")
    models = tfjs_store.list_models(prefix, storage_options=options)
    if not models and not _folder_exists(prefix, options):
        raise NothingThere(
            f"no such folder or bucket: {args.prefix}",
            "check the URL (and -o options such as endpoint_url); an empty folder that "
            "exists lists as 'no models'",
        )
    if args.json:
        print_json([{"url": url, **_info_json(info)} for url, info in sorted(models.items())])
    elif not models:
        say(f"no models under {args.prefix}")
    else:
        rows = []
        for url, info in sorted(models.items()):
            saved = info.date_saved.strftime("%Y-%m-%d %H:%M:%S") if info.date_saved else "?"
            rows.append([url, human_bytes(info.weight_data_bytes), saved])
        print(table(["MODEL", "WEIGHTS", "SAVED (UTC)"], rows, right=[1]))
    _note_leftovers(args.prefix, prefix, options)
    return 0


def _note_leftovers(given: str, prefix: str, options: Mapping[str, Any] | None) -> None:
    """Say on stderr when folders under the prefix hold leftovers of saves that died
    (``ls`` lists only committed models, so they would stay unseen)."""
    import shlex

    import tfjs_store

    try:
        stray = tfjs_store.clean(prefix, dry_run=True, storage_options=options)
    except (tfjs_store.TfjsStoreError, OSError):
        return  # a store that cannot tell (or list): the listing above stands alone
    if not stray:
        return
    folders = {u.rsplit("/", 1)[0] for u in stray}
    say(
        f"{len(stray)} leftover file(s) of saves that died in {len(folders)} folder(s) "
        f"under {given}; `{PROG} clean {shlex.quote(given)}` removes them"
    )


def _folder_exists(url: str, options: Mapping[str, Any] | None) -> bool:
    """Whether ``url`` names something on its fsspec filesystem (True when fsspec does not
    handle the URL: then the scheme's own handler had its say)."""
    from ..errors import HandlerError, MissingDependencyError
    from ..stores.fsspec import open_filesystem

    try:
        fs, path = open_filesystem(url, options)
    except (HandlerError, MissingDependencyError, ValueError):
        return True
    return bool(fs.exists(path))


# -- rm ---------------------------------------------------------------------------------


def rm(args: argparse.Namespace) -> int:
    import tfjs_store

    options = storage_options_or_none(parse_storage_options(args.storage_option))
    url = no_http_management(writable_url(args.url), "remove models")
    try:
        info = tfjs_store.remove_model(url, storage_options=options)
    except tfjs_store.ModelNotFoundError:
        if args.force:
            if args.json:
                print_json({"removed": None})
            return 0
        raise
    if args.json:
        print_json({"removed": url, "modelArtifactsInfo": _info_json(info)})
    else:
        print(f"removed {url} ({human_bytes(info.weight_data_bytes)} of weights)")
    return 0


def clean(args: argparse.Namespace) -> int:
    import tfjs_store

    options = storage_options_or_none(parse_storage_options(args.storage_option))
    url = no_http_management(writable_url(args.url), "clean up after saves")
    removed = tfjs_store.clean(
        url, older_than=args.older_than, dry_run=args.dry_run, storage_options=options
    )
    if args.json:
        print_json({"wouldRemove" if args.dry_run else "removed": removed})
    elif args.dry_run:
        for path in removed:
            print(f"would remove {path}")
        print(f"{len(removed)} leftover file(s) under {url}; nothing removed (--dry-run)")
    else:
        for path in removed:
            print(f"removed {path}")
        print(f"{len(removed)} leftover file(s) removed from {url}")
    return 0


# -- cp / mv ----------------------------------------------------------------------------


def _save_options(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.shard_size is not None:
        out["shard_size_bytes"] = parse_size(args.shard_size, "--shard-size")
    if args.layout is not None:
        out["layout"] = args.layout
    if args.checksums is not None:
        out["checksums"] = args.checksums
    if args.checksum is not None:
        out["checksum"] = None if args.checksum == "none" else args.checksum
    return out


def copy(args: argparse.Namespace, *, move: bool) -> int:
    import tfjs_store

    verb = "mv" if move else "cp"
    lost = "the model would be gone when tfjs-store exits" + (
        ", after the source was removed" if move else ""
    )
    src_given = args.src
    dst = durable_url(writable_url(args.dst), f"the destination of {verb}", lost)
    src = writable_url(src_given) if move else source_url(src_given)
    base = parse_storage_options(args.storage_option)
    src_opts = storage_options_or_none(
        merge_options(base, parse_storage_options(args.src_storage_option, "--src-storage-option"))
    )
    dst_opts = storage_options_or_none(
        merge_options(base, parse_storage_options(args.dst_storage_option, "--dst-storage-option"))
    )
    save_options = _save_options(args)
    check_headers_used(args.header, src, dst)
    src_handler_options = http_options(src, args.header)
    dst_handler_options = http_options(dst, args.header)
    if args.match and not args.quantize:
        raise UsageError("--match selects the weights to quantize; it needs --quantize")
    if src.rstrip("/") == dst.rstrip("/"):
        raise UsageError(f"source and destination are the same: {dst}")

    from ._progress import Progress, should_show

    total = None
    if should_show(sys.stderr, 1 << 62, args.no_progress):  # only look when a bar could show
        total = _weight_bytes(src, src_opts)
    show = should_show(sys.stderr, total, args.no_progress)
    quantized: list[str] = []
    try:
        if not args.quantize and not src_handler_options:
            # The library's own copy/move: streamed file by file between managed stores.
            with Progress(sys.stderr, total or 0, verb, ["reading", "writing"],
                          enabled=show) as progress:
                progress.phase("reading")  # model.json, then files stream through

                def on_written(fraction: float) -> None:
                    if progress.phases[progress.current] != "writing":
                        progress.phase("writing")
                    progress.on_progress(fraction)

                info = (tfjs_store.move_model if move else tfjs_store.copy_model)(
                    src,
                    dst,
                    src_storage_options=src_opts,
                    dst_storage_options=dst_opts,
                    on_progress=on_written if show else None,
                    **save_options,
                    **dst_handler_options,
                )
        else:
            phases = ["reading", "writing"] + (["removing source"] if move else [])
            with Progress(sys.stderr, total or 0, verb, phases, enabled=show) as progress:
                progress.phase("reading")
                artifacts = tfjs_store.load(
                    src,
                    storage_options=src_opts,
                    **_progress_option(progress, src),
                    **src_handler_options,
                )
                if args.quantize:
                    try:
                        artifacts, quantized = tfjs_store.requantize(
                            artifacts, args.quantize, match=args.match
                        )
                    except ValueError as exc:
                        raise UsageError(
                            f"--quantize: {exc}", "`tfjs-store info` lists the weight names"
                        ) from None
                progress.phase("writing")
                result = tfjs_store.save(
                    artifacts,
                    dst,
                    storage_options=dst_opts,
                    **_progress_option(progress, dst),
                    **save_options,
                    **dst_handler_options,
                )
                info = result.model_artifacts_info
                if move:
                    progress.phase("removing source")
                    tfjs_store.remove_model(src, storage_options=src_opts)
    except KeyboardInterrupt:
        raise SaveInterrupted(dst) from None
    except OptionError as exc:
        raise UsageError(
            str(exc),
            "--layout, --shard-size and --checksums apply to fsspec URLs (file, s3, gs, az, …)",
        ) from None

    written = _downloads_files(dst, dst_opts)
    if args.json:
        out: dict[str, Any] = {
            "source": src_given,
            "destination": dst,
            "modelArtifactsInfo": _info_json(info),
        }
        if written:
            out["files"] = written
        if args.quantize:
            out["quantized"] = {"dtype": args.quantize, "weights": quantized}
        print_json(out)
        return 0
    what = "moved" if move else "copied"
    extra = ""
    if args.quantize:
        extra = f", {len(quantized)} quantized to {args.quantize}"
    print(f"{what} {src_given} -> {dst} ({human_bytes(info.weight_data_bytes)} of weights{extra})")
    if written:
        print("wrote " + " and ".join(written))
    return 0


def _downloads_files(dst: str, options: Mapping[str, Any] | None) -> list[str]:
    """The files a ``downloads://NAME`` save wrote (NAME.json and its weight files, in
    $TFJS_STORE_DOWNLOADS or ~/Downloads), so the user learns where they went."""
    if not dst.lower().startswith("downloads://"):
        return []
    from ..format.layout import manifest_paths
    from ..handlers.downloads import DownloadsHandler

    handler = DownloadsHandler(dst, storage_options=options)
    weights = manifest_paths(handler.read_model_json())
    return [handler.json_path, *(f"{handler.folder}/{path}" for path in weights)]


def _progress_option(progress: Any, url: str) -> dict[str, Any]:
    """``on_progress`` feeding the bar, for a save or load of ``url`` whose handler
    reports progress (its ``reports_progress`` flag: tfjs-store's handlers do, as
    TF.js's do); nothing otherwise."""
    from ..registry import reports_progress

    if progress.enabled and reports_progress(url):
        return {"on_progress": progress.on_progress}
    return {}


def _weight_bytes(src: str, options: Mapping[str, Any] | None) -> int | None:
    """The source's weight bytes from its model.json alone, or None if that needs more."""
    from ..checks import inspect_model
    from ..errors import TfjsStoreError

    try:
        inspection = inspect_model(
            src, storage_options=options, file_sizes=False, allow_loading=False
        )
    except TfjsStoreError:
        return None  # the copy itself will report what is wrong
    sizes = [f.size for f in inspection.files]
    if sizes and all(s is not None for s in sizes):
        return sum(s for s in sizes if s is not None)
    spec_sizes = [s.byte_length for s in inspection.model_json.weight_specs]
    return sum(b for b in spec_sizes if b is not None)
