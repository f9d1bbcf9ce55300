"""The public verbs: save, load, and model management over any URL.

These mirror TF.js's ``model.save(url)``, ``tf.loadLayersModel(url)`` and
``tf.io.listModels/copyModel/moveModel/removeModel``, for every store a handler
exists for, not only the browser's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._exports import API
from .errors import HandlerError, InvalidModelError, OptionError
from .format.artifacts import ModelArtifacts
from .format.schemas import ModelArtifactsInfo, SaveResult
from .handler import ModelHandler
from .options import LOAD_ONLY, SAVE_ONLY
from .registry import get_load_handlers, get_save_handlers, takes_option, url_scheme
from .stores.base import map_until_error

if TYPE_CHECKING:
    from .reader import ModelReader

__all__ = list(API)  # the package exports them all (tfjs_store/_exports.py)


def _options(storage_options: Mapping[str, Any] | None, options: dict[str, Any]) -> dict[str, Any]:
    out = dict(options)
    if storage_options is not None:
        out["storage_options"] = storage_options
    return out


def _one_handler(url: str, handlers: list[Any], direction: str) -> Any:
    if not handlers:
        raise HandlerError(f"Cannot find any {direction} handlers for URL '{url}'")
    if len(handlers) > 1:
        raise HandlerError(
            f"Found more than one ({len(handlers)}) {direction} handlers for URL '{url}'"
        )
    return handlers[0]


def _only(verb: str, options: Mapping[str, Any], refused: Collection[str]) -> None:
    wrong = sorted(k for k in options if k in refused)
    if wrong:
        raise OptionError(
            f"{verb}() does not take {', '.join(wrong)}: "
            + ("it shapes what a save writes" if verb == "load" else "it applies to loading"),
            options=tuple(wrong),
        )


_DIRECTIONS: dict[str, tuple[Collection[str], Callable[..., list[Any]], str]] = {
    "save": (LOAD_ONLY, get_save_handlers, "saving to"),
    "load": (SAVE_ONLY, get_load_handlers, "loading from"),
}
"""A verb's options it refuses, its handler look-up, and where its URL goes."""


def _handler(verb: str, target: Any, options: dict[str, Any]) -> Any:
    """The one ``verb`` handler for a URL or path; an IOHandler as it is."""
    refused, find, where = _DIRECTIONS[verb]
    if isinstance(target, os.PathLike):
        target = os.fspath(target)
    _only(verb, options, refused)
    if isinstance(target, str):
        return _one_handler(target, find(target, **options), verb)
    if options:
        raise TypeError(f"options {sorted(options)} only apply when {where} a URL")
    return target


def _as_artifacts(model: Any) -> ModelArtifacts:
    if isinstance(model, ModelArtifacts):
        return model
    if isinstance(model, Mapping):
        return ModelArtifacts.from_weights(model)
    raise TypeError(
        "save() takes ModelArtifacts or a mapping of weight name -> numpy array, "
        f"got {type(model).__name__}"
    )


def save(
    model: ModelArtifacts | Mapping[str, Any],
    url: Any,
    *,
    storage_options: Mapping[str, Any] | None = None,
    if_match: str | None = None,
    if_none_match: str | None = None,
    **options: Any,
) -> SaveResult:
    """Save a model to a URL or an IOHandler, as TF.js's ``model.save(url)``.

    ``model`` is ``ModelArtifacts`` or a mapping of weight name -> numpy array. Options
    go to the handler: for fsspec URLs ``shard_size_bytes`` (default 4 MiB), ``layout``
    (``"shards"``, ``"tfjs-node"``, ``"downloads"``), ``checksum`` (``"crc32c"``, the
    default for ``shards``; ``"sha256"``; or None: what the save records per weight file
    and per weight), ``max_concurrency``.
    A save never leaves a torn model: the previous model stays loadable until the new
    one is complete.

    ``if_match=TOKEN`` commits only if the stored model's version is ``TOKEN`` (from
    ``model_version``, ``SaveResult.version`` or ``ModelArtifacts.stored_version``);
    ``if_none_match="*"`` only if there is no model yet. Otherwise ``ConflictError``
    and nothing visible changes. Where the store cannot check that in the same step as
    the write, a conditional save is an ``OptionError`` before anything is written.
    """
    handler = _handler("save", url, _options(storage_options, options))
    if not callable(getattr(handler, "save", None)):
        raise HandlerError(
            "save() cannot proceed because the IOHandler provided does not have the "
            "`save` attribute defined."
        )
    condition = {k: v for k, v in (("if_match", if_match), ("if_none_match", if_none_match))
                 if v is not None}
    if condition and not _takes_conditions(handler):
        raise OptionError(
            f"{type(handler).__name__} cannot save conditionally "
            f"({', '.join(sorted(condition))})",
            options=tuple(sorted(condition)),
        )
    result = handler.save(_as_artifacts(model), **condition)
    if not isinstance(result, SaveResult):
        raise HandlerError(
            f"{type(handler).__name__}.save() returned {type(result).__name__}, not SaveResult"
        )
    return result


def _takes_conditions(handler: Any) -> bool:
    """The handler's ``save`` takes ``if_match`` / ``if_none_match`` (a ModelHandler's
    does, unless a subclass overrode ``save`` without them)."""
    import inspect

    if not isinstance(handler, ModelHandler):
        return False
    try:
        params = inspect.signature(handler.save).parameters
    except (TypeError, ValueError):
        return False
    return "if_match" in params and "if_none_match" in params


def load(
    url: Any, *, storage_options: Mapping[str, Any] | None = None, **options: Any
) -> ModelArtifacts:
    """Load a model from a URL (a folder, or its model JSON file) or an IOHandler.

    Weight files are read concurrently and checked: every file present, sizes and
    (where recorded) CRC32C or SHA-256 checksums matching, paths confined to the model's
    folder.
    ``artifacts.weights()`` then gives numpy arrays that are views into the loaded
    buffers.
    """
    handler = _handler("load", url, _options(storage_options, options))
    if not callable(getattr(handler, "load", None)):
        raise HandlerError(
            "load() cannot proceed because the IOHandler provided does not have the "
            "`load` attribute defined."
        )
    artifacts = handler.load()
    if not isinstance(artifacts, ModelArtifacts):
        raise HandlerError(
            f"{type(handler).__name__}.load() returned {type(artifacts).__name__}, "
            "not ModelArtifacts"
        )
    return artifacts


def model_version(url: str, *, storage_options: Mapping[str, Any] | None = None) -> str | None:
    """The version token of the model at ``url`` (an opaque string: S3's ETag, a content
    hash on local disks and memory), None when there is no model. A save with
    ``if_match=`` this token commits only if nobody committed in between."""
    handler = _handler("load", url, _options(storage_options, {}))
    if not isinstance(handler, ModelHandler):
        raise HandlerError(f"{url}: {type(handler).__name__} does not tell model versions")
    return handler.version()


def _manages(handler: Any, method: str) -> bool:
    """The handler has ``method`` (``list_models``, ``remove_model``, ``clean``) and, a
    model handler, a store that lists or removes (an http(s) store does neither)."""
    if isinstance(handler, ModelHandler) and not (
        handler.store.supports_listing or handler.store.supports_deletes
    ):
        return False
    return callable(getattr(handler, method, None))


def _manager(url: str, options: dict[str, Any], method: str) -> Any:
    handlers = get_load_handlers(url, **options)
    for handler in handlers:
        if _manages(handler, method):
            return handler
    raise HandlerError(f"Cannot find model manager for scheme '{url_scheme(url)}'")


def list_models(
    prefix_url: str, *, storage_options: Mapping[str, Any] | None = None
) -> dict[str, ModelArtifactsInfo]:
    """Every model under ``prefix_url``: model URL -> ``ModelArtifactsInfo``.

    A folder whose save never committed its model.json is not a model and is not listed.
    """
    return dict(_manager(prefix_url, _options(storage_options, {}), "list_models").list_models())


def remove_model(
    url: str, *, storage_options: Mapping[str, Any] | None = None
) -> ModelArtifactsInfo:
    """Remove the model at ``url`` and return its info (model.json goes first)."""
    return _manager(url, _options(storage_options, {}), "remove_model").remove_model()  # type: ignore[no-any-return]


def clean(
    url: str,
    *,
    older_than: float = 0.0,
    dry_run: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> list[str]:
    """Remove leftovers of saves that died (weight and temporary files no committed
    model.json refers to), older than ``older_than`` seconds, in the folder at ``url``
    and in every folder below it (as ``list_models`` finds models below a prefix).
    Files of a save still in flight (its ``model.json.<tag>.inflight`` marker is live)
    are never removed. Returns what was removed; with ``dry_run``, what would be,
    removing nothing.

    A folder below ``url`` that holds a model JSON other than ``model.json`` is left
    alone (its weight files are not ``model.json``'s, yet not leftovers): clean it by
    naming that JSON (``clean("s3://b/m/custom.json")``). A URL naming a JSON file
    cleans only that model's folder.
    """
    options = _options(storage_options, {})
    top = _manager(url, options, "clean")
    handlers = [top, *_folders_below(top, url, options)]
    if dry_run and not all(callable(getattr(h, "leftovers", None)) for h in handlers):
        raise HandlerError(
            f"{type(top).__name__} cannot tell its leftovers without removing them"
        )

    def one(handler: Any) -> list[str]:
        found = handler.leftovers(older_than) if dry_run else handler.clean(older_than)
        return list(found)

    workers = top.store.max_concurrency if isinstance(top, ModelHandler) else 1
    return [u for found in map_until_error(one, handlers, workers) for u in found]


def _folders_below(top: Any, url: str, options: dict[str, Any]) -> list[Any]:
    """Handlers of the folders below ``top``'s folder that hold files, for ``clean``:
    every folder a save may have left files in (a save that never committed left no
    model.json), except those holding a model JSON of another name."""
    if not isinstance(top, ModelHandler) or not top.store.supports_listing:
        return []
    if url.split("?", 1)[0].rstrip("/").endswith(".json"):
        return []  # the URL names one model
    found = top.store.walk()
    files: dict[str, list[str]] = {}
    for path in found:
        if "/" in path:
            folder, name = path.rsplit("/", 1)
            files.setdefault(folder, []).append(name)
    folders = [f for f in sorted(files) if not _holds_other_model(top, f, files[f])]
    return [_manager(top.store.file_url(f), options, "clean") for f in folders]


def _holds_other_model(top: ModelHandler, folder: str, names: Sequence[str]) -> bool:
    """A model JSON not named ``model.json`` is in ``folder`` (or may be: unreadable)."""
    from .format.jsonfmt import parse_model_json
    from .handler import MAX_MODEL_JSON_BYTES

    for name in names:
        if not name.endswith(".json") or name == "model.json":
            continue
        try:
            raw = top.store.read(f"{folder}/{name}", limit=MAX_MODEL_JSON_BYTES)
            if len(raw) >= MAX_MODEL_JSON_BYTES:
                return True  # too large to tell
            parse_model_json(raw, name)
        except FileNotFoundError:
            continue
        except InvalidModelError:
            continue  # some other JSON file (metadata, a config): not a model
        except Exception:
            return True  # cannot tell: leave the folder alone
        return True
    return False


def _same_url(src: str, dst: str) -> bool:
    return src.rstrip("/") == dst.rstrip("/")


def copy_model(src: str, dst: str, **options: Any) -> ModelArtifactsInfo:
    """Copy a model between any two URLs (schemes may differ), as ``tf.io.copyModel``.

    Options: ``storage_options`` reach both ends;
    ``src_storage_options`` and ``dst_storage_options`` replace them for one end.
    ``on_progress(fraction)`` follows the copy. Every other option goes to the
    destination's handler (``shard_size_bytes``, ``layout``, ``checksum``...); an option
    it does not take is an ``OptionError``. ``max_concurrency`` reaches the source's
    handler too, where it takes one (a store whose client is not thread-safe, such as
    ftp://, stays at 1 either way).

    Between two stores tfjs-store manages (file, memory, s3, gs, az, store plugins), the
    weight files are streamed one by one, each checked against the source's record as it
    passes: memory holds a few files, not the model. A changed ``shard_size_bytes`` or
    one of TF.js's byte-exact layouts loads the model and saves it instead.
    """
    return _clone(src, dst, False, **options)


def move_model(src: str, dst: str, **options: Any) -> ModelArtifactsInfo:
    """Move a model: ``copy_model`` (the same options), then the source is removed.
    Unlike TF.js, the source is removed only after the destination is saved, so a failed
    move loses nothing."""
    return _clone(src, dst, True, **options)


def _clone(
    src: str,
    dst: str,
    move: bool,
    /,
    *,
    storage_options: Mapping[str, Any] | None = None,
    src_storage_options: Mapping[str, Any] | None = None,
    dst_storage_options: Mapping[str, Any] | None = None,
    on_progress: Callable[[float], Any] | None = None,
    **save_options: Any,
) -> ModelArtifactsInfo:
    if _same_url(src, dst):
        raise HandlerError(f"Old path and new path are the same: '{src}'")
    src_options = src_storage_options if src_storage_options is not None else storage_options
    dst_options = dst_storage_options if dst_storage_options is not None else storage_options
    loaders = _source_handlers(src, src_options, save_options)
    if not loaders:
        raise HandlerError(f"Copying failed because no load handler is found for source URL {src}.")
    if len(loaders) > 1:
        raise HandlerError(
            f"Copying failed because more than one ({len(loaders)}) load handlers "
            f"for source URL {src}."
        )
    savers = get_save_handlers(dst, **_options(dst_options, save_options))
    if not savers:
        raise HandlerError(
            f"Copying failed because no save handler is found for destination URL {dst}."
        )
    if len(savers) > 1:
        raise HandlerError(
            f"Copying failed because more than one ({len(savers)}) save handlers "
            f"for destination URL {dst}."
        )
    loader, saver = loaders[0], savers[0]
    if move and not _manages(loader, "remove_model"):
        raise HandlerError(
            f"Cannot find model manager for scheme '{url_scheme(src)}': {src} cannot be "
            "removed, so it cannot be moved (copy it instead)"
        )
    result = None
    streams = "shard_size_bytes" not in save_options
    if streams and isinstance(loader, ModelHandler) and isinstance(saver, ModelHandler):
        saver.on_progress = on_progress
        result = saver.copy_from(loader)
    if result is None:
        _follow(loader, on_progress, 0.0, 0.5)
        artifacts = load(loader)
        _follow(saver, on_progress, 0.5, 0.5)
        result = save(artifacts, saver)
    if move:
        loader.remove_model()
    return result.model_artifacts_info


def _source_handlers(
    src: str, options: Mapping[str, Any] | None, save_options: Mapping[str, Any]
) -> list[Any]:
    """The load handlers of a copy's source, given ``max_concurrency`` where they take it."""
    extra = {}
    if "max_concurrency" in save_options and takes_option(src, "max_concurrency"):
        extra["max_concurrency"] = save_options["max_concurrency"]
    return get_load_handlers(src, **_options(options, extra))


def _follow(
    handler: Any, on_progress: Callable[[float], Any] | None, start: float, span: float
) -> None:
    """Report a handler's progress as a part of the whole copy, where it reports any
    (its ``reports_progress`` flag says so: every model handler's does)."""
    if on_progress is not None and getattr(type(handler), "reports_progress", False) is True:
        handler.on_progress = lambda fraction: on_progress(start + span * fraction)


def open_model(
    url: Any, *, storage_options: Mapping[str, Any] | None = None, **options: Any
) -> ModelReader:
    """Open a stored model to read weights one by one, without reading the model.

    Returns a ``ModelReader``: a read-only mapping of weight name -> numpy array that
    reads only the byte ranges of the weights asked for (``reader[name]``,
    ``reader.read(names)``), located with the sizes in the save record, coalesced per
    file and fetched concurrently; local files are memory-mapped. Each weight is checked
    against its recorded CRC32C where there is one (``reader.verified`` tells how each
    was checked). Options go to the handler, as for ``load``.

    >>> with tfjs_store.open_model("s3://bucket/models/m1") as reader:  # doctest: +SKIP
    ...     table = reader["embedding/embeddings"]
    """
    from .reader import reader_for

    return reader_for(_handler("load", url, _options(storage_options, options)))
