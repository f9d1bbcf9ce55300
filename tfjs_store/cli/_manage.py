"""``ls``, ``cp``, ``mv``, ``rm``: model management over any URLs."""

from __future__ import annotations

import argparse
import glob
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ._common import (
    UsageError,
    check_headers_used,
    http_options,
    human_bytes,
    merge_options,
    parse_size,
    parse_storage_options,
    print_json,
    say,
    source_url,
    storage_options_or_none,
    table,
    unexpected_option,
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
    prefix = source_url(args.prefix)
    models = tfjs_store.list_models(prefix, storage_options=options)
    if args.json:
        print_json([{"url": url, **_info_json(info)} for url, info in sorted(models.items())])
        return 0
    if not models:
        say(f"no models under {args.prefix}")
        return 0
    rows = []
    for url, info in sorted(models.items()):
        saved = info.date_saved.strftime("%Y-%m-%d %H:%M:%S") if info.date_saved else "?"
        rows.append([url, human_bytes(info.weight_data_bytes), saved])
    print(table(["MODEL", "WEIGHTS", "SAVED (UTC)"], rows, right=[1]))
    return 0


# -- rm ---------------------------------------------------------------------------------


def rm(args: argparse.Namespace) -> int:
    import tfjs_store

    options = storage_options_or_none(parse_storage_options(args.storage_option))
    url = writable_url(args.url)
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
    url = writable_url(args.url)
    removed = tfjs_store.clean(url, older_than=args.older_than, storage_options=options)
    if args.json:
        print_json({"removed": removed})
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
    src_given, dst = args.src, writable_url(args.dst)
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
        if not show and not args.quantize and not src_handler_options:
            if move:
                info = tfjs_store.move_model(
                    src,
                    dst,
                    src_storage_options=src_opts,
                    dst_storage_options=dst_opts,
                    **save_options,
                    **dst_handler_options,
                )
            else:
                info = tfjs_store.copy_model(
                    src,
                    dst,
                    src_storage_options=src_opts,
                    dst_storage_options=dst_opts,
                    **save_options,
                    **dst_handler_options,
                )
        else:
            phases = ["reading", "writing"] + (["removing source"] if move else [])
            with Progress(sys.stderr, total or 0, verb, phases, enabled=show) as progress:
                progress.phase("reading")
                artifacts = _reporting(
                    tfjs_store.load, progress, src, storage_options=src_opts, **src_handler_options
                )
                if args.quantize:
                    artifacts, quantized = requantize(artifacts, args.quantize, args.match)
                progress.phase("writing")
                result = _reporting(
                    tfjs_store.save,
                    progress,
                    artifacts,
                    dst,
                    storage_options=dst_opts,
                    **save_options,
                    **dst_handler_options,
                )
                info = result.model_artifacts_info
                if move:
                    progress.phase("removing source")
                    tfjs_store.remove_model(src, storage_options=src_opts)
    except TypeError as exc:
        usage = unexpected_option(exc, dst, save_options) if save_options else None
        if usage is None:
            raise
        raise usage from None

    if args.json:
        out: dict[str, Any] = {
            "source": src_given,
            "destination": dst,
            "modelArtifactsInfo": _info_json(info),
        }
        if args.quantize:
            out["quantized"] = {"dtype": args.quantize, "weights": quantized}
        print_json(out)
        return 0
    what = "moved" if move else "copied"
    extra = ""
    if args.quantize:
        extra = f", {len(quantized)} quantized to {args.quantize}"
    print(f"{what} {src_given} -> {dst} ({human_bytes(info.weight_data_bytes)} of weights{extra})")
    return 0


def _reporting(call: Any, progress: Any, *args: Any, **kwargs: Any) -> Any:
    """``call`` with ``on_progress`` feeding the bar when the handler takes that option
    (tfjs-store's http handler does, as TF.js's do); without it otherwise."""
    if not progress.enabled:
        return call(*args, **kwargs)
    try:
        return call(*args, on_progress=progress.on_progress, **kwargs)
    except TypeError as exc:
        if "on_progress" not in str(exc):
            raise
        return call(*args, **kwargs)  # the handler was refused before any I/O


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


def requantize(artifacts: Any, dtype: str, patterns: Sequence[str]) -> tuple[Any, list[str]]:
    """Decode the weights and encode them again with ``dtype`` quantization, as the
    converter does: every float32 weight, or those matching ``patterns``. Weights
    already quantized that no pattern selects keep their quantization dtype; optimizer
    weights are never quantized. Returns the new artifacts and the names quantized."""
    import fnmatch

    import tfjs_store

    if isinstance(artifacts.model_topology, (bytes, bytearray)):
        raise UsageError("--quantize needs a JSON model topology (this one is binary)")
    specs = list(artifacts.weight_specs or [])
    model_specs = [s for s in specs if s.group != "optimizer"]
    names = [s.name for s in model_specs]
    for pattern in patterns:
        if not fnmatch.filter(names, pattern):
            shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
            raise UsageError(
                f"--match {pattern!r} matches no weight of the model",
                f"weight names: {shown or '(none)'}; `tfjs-store info` lists them all",
            )
    plan: dict[str, str] = {}
    for spec in model_specs:
        if spec.dtype != "float32":
            continue
        if not patterns or any(fnmatch.fnmatchcase(spec.name, p) for p in patterns):
            plan[spec.name] = dtype
        elif spec.quantization is not None:
            plan[spec.name] = spec.quantization.dtype
    by_dtype: dict[str, list[str]] = {}
    for name, d in plan.items():
        by_dtype.setdefault(d, []).append(glob.escape(name))

    arrays = artifacts.weights()
    model = {s.name: arrays[s.name] for s in model_specs}
    optimizer = {s.name: arrays[s.name] for s in specs if s.group == "optimizer"}
    skip = {"model_topology", "weight_specs", "weight_data"}
    fields = {
        name: getattr(artifacts, name)
        for name in artifacts.model_fields_set
        if name in type(artifacts).model_fields and name not in skip
    }
    fields.update(artifacts.model_extra or {})
    new = tfjs_store.ModelArtifacts.from_weights(
        model,
        model_topology=artifacts.model_topology,
        optimizer_weights=optimizer or None,
        quantize=by_dtype or None,
        **fields,
    )
    groups = {s.name: s.group for s in specs}
    for spec in new.weight_specs or []:  # keep groups other than "optimizer" too
        if groups.get(spec.name) and spec.group != groups[spec.name]:
            spec.group = groups[spec.name]
    return new, [n for n, d in plan.items() if d == dtype]
