"""The options a model handler takes, typed: ``SaveOptions`` and ``LoadOptions``.

Users keep passing them as keywords (``save(model, url, shard_size_bytes=...)``,
``load(url, verify=False)``); the router (``registry``) sorts the keywords a call was
given into these two values, checks them before any I/O, and hands them, typed, to the
handler it makes: the model handler over a plugin's byte store, and every handler
factory that declares the typed signature (tfjs-store's own ``FsspecHandler``,
``HTTPHandler`` and ``DownloadsHandler`` do; see ``registry``). Every keyword that is
not one of their fields is the store's (``storage_options``, ``max_concurrency``...)
and stays a mapping. These classes are the one home of the handler options' names,
defaults and checks.

Like TF.js's ``SaveConfig`` / ``LoadOptions``, but frozen and checked when made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .format.integrity import CHECKSUM_KINDS, DEFAULT_CHECKSUM, ChecksumKind
from .format.shards import DEFAULT_SHARD_SIZE

__all__ = [
    "HANDLER_OPTIONS",
    "FileLayout",
    "LoadOptions",
    "SaveOptions",
    "changed_options",
    "handler_options",
    "split_options",
]

FileLayout = Literal["shards", "tfjs-node", "downloads"]
"""Which files a save writes: tfjs-store's crash-safe shards, or TF.js's own files."""

FILE_LAYOUTS: tuple[FileLayout, ...] = ("shards", "tfjs-node", "downloads")

ProgressCallback = Callable[[float], Any]


def _check_progress(on_progress: object) -> None:
    if on_progress is not None and not callable(on_progress):
        raise TypeError("on_progress must be callable")


@dataclass(frozen=True, kw_only=True)
class SaveOptions:
    """What a save writes.

    Parameters
    ----------
    layout:
        ``"shards"`` (default): the converter's ``groupN-shardIofM`` files, cut at
        ``shard_size_bytes``, each named after its content, with sizes and checksums
        recorded in model.json. ``"tfjs-node"``: one ``weights.bin`` and model.json
        bytes exactly as tfjs-node's ``file://`` writes them. ``"downloads"``: the
        browser's ``NAME.json`` + ``NAME.weights.bin`` pair.
    shard_size_bytes:
        Where ``"shards"`` cuts the weights (4 MiB by default).
    checksum:
        Which checksum the save records, per weight file and per weight: ``"crc32c"``
        (the default for ``shards``), ``"sha256"``, or None (the default for the
        byte-exact TF.js layouts). ``"default"`` leaves the choice to ``layout``.
    checksums:
        The older switch: True is the default kind, False is None.
    on_progress:
        Called with the fraction of weight files written so far (0 < f <= 1).
    """

    layout: FileLayout = "shards"
    shard_size_bytes: int = DEFAULT_SHARD_SIZE
    checksum: ChecksumKind | Literal["default"] | None = "default"
    checksums: bool | None = None
    on_progress: ProgressCallback | None = None

    def __post_init__(self) -> None:
        if self.layout not in FILE_LAYOUTS:
            raise ValueError(
                f"unknown layout {self.layout!r}; choose 'shards', 'tfjs-node' or 'downloads'"
            )
        size = self.shard_size_bytes
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise ValueError(f"shard_size_bytes must be a positive integer, got {size!r}")
        if self.checksums is not None and not isinstance(self.checksums, bool):
            raise TypeError(f"checksums must be True, False or None, got {self.checksums!r}")
        _check_progress(self.on_progress)
        self.checksum_kind  # noqa: B018 - checks checksum= against checksums=

    @property
    def checksum_kind(self) -> ChecksumKind | None:
        """The kind the save records, from ``checksum`` and the older ``checksums``."""
        checksum, checksums = self.checksum, self.checksums
        if checksum != "default":
            if checksum is not None and checksum not in CHECKSUM_KINDS:
                raise ValueError(
                    f"unknown checksum {checksum!r}; choose 'crc32c', 'sha256' or None"
                )
            if checksums is not None and checksums != (checksum is not None):
                raise ValueError(
                    f"checksum={checksum!r} and checksums={checksums!r} disagree; give one"
                )
            return checksum
        if checksums is None:
            checksums = self.layout == "shards"
        return DEFAULT_CHECKSUM if checksums else None


@dataclass(frozen=True, kw_only=True)
class LoadOptions:
    """How a load reads.

    Parameters
    ----------
    verify:
        Check recorded checksums (sizes are always checked).
    on_progress:
        Called with the fraction of weight files read so far (0 < f <= 1).
    """

    verify: bool = True
    on_progress: ProgressCallback | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.verify, bool):
            raise TypeError(f"verify must be True or False, got {self.verify!r}")
        _check_progress(self.on_progress)


def _names(cls: type[Any]) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


SAVE_OPTIONS = _names(SaveOptions)
LOAD_OPTIONS = _names(LoadOptions)
HANDLER_OPTIONS = SAVE_OPTIONS | LOAD_OPTIONS
"""Every keyword a model handler takes; every other one is its store's."""
SAVE_ONLY = SAVE_OPTIONS - LOAD_OPTIONS
"""Options that shape what a save writes: given to a load they would do nothing."""
LOAD_ONLY = LOAD_OPTIONS - SAVE_OPTIONS


def split_options(
    options: Mapping[str, Any], *, save_defaults: SaveOptions | None = None
) -> tuple[SaveOptions, LoadOptions, dict[str, Any]]:
    """The keywords a call was given, sorted: the handler's, typed and checked, and the
    rest (the store's), as they came. ``save_defaults``: what a save writes when the
    call does not say (a handler's own defaults, e.g. ``downloads://``'s layout)."""
    given = {k: v for k, v in options.items() if k in SAVE_OPTIONS}
    save = (
        dataclasses.replace(save_defaults, **given) if save_defaults is not None
        else SaveOptions(**given)
    )
    load = LoadOptions(**{k: v for k, v in options.items() if k in LOAD_OPTIONS})
    rest = {k: v for k, v in options.items() if k not in HANDLER_OPTIONS}
    return save, load, rest


_DEFAULTS: dict[str, Any] = {
    f.name: f.default for cls in (SaveOptions, LoadOptions) for f in dataclasses.fields(cls)
}


def handler_options(
    save_options: SaveOptions | None,
    load_options: LoadOptions | None,
    **keywords: Any,
) -> tuple[SaveOptions, LoadOptions]:
    """The options a handler was made with: the typed ones it was handed (as the router
    hands them), or else the ones its keyword arguments (``layout=``, ``verify=``...)
    make. A keyword that differs from its default beside a typed value is a
    ``TypeError``: the two would disagree."""
    unknown = sorted(set(keywords) - HANDLER_OPTIONS)
    if unknown:
        raise TypeError(f"not handler options: {', '.join(unknown)}")
    for value, cls in ((save_options, SaveOptions), (load_options, LoadOptions)):
        if value is not None and not isinstance(value, cls):
            raise TypeError(f"expected a {cls.__name__}, got {value!r}")
    for typed, names in ((save_options, SAVE_OPTIONS), (load_options, LOAD_OPTIONS)):
        if typed is None:
            continue
        clash = sorted(
            k for k, v in keywords.items()
            if k in names and _differs(v, _DEFAULTS[k])
        )
        if clash:
            raise TypeError(
                f"{', '.join(clash)} given both as keyword and in {type(typed).__name__}; "
                "give one"
            )
    save = save_options if save_options is not None else SaveOptions(
        **{k: v for k, v in keywords.items() if k in SAVE_OPTIONS}
    )
    load = load_options if load_options is not None else LoadOptions(
        **{k: v for k, v in keywords.items() if k in LOAD_OPTIONS}
    )
    return save, load


def changed_options(save: SaveOptions, load: LoadOptions) -> set[str]:
    """The names of the options that differ from their defaults."""
    return {
        name for typed in (save, load) for name in _names(type(typed))
        if _differs(getattr(typed, name), _DEFAULTS[name])
    }


def _differs(value: Any, default: Any) -> bool:
    return value is not default and bool(value != default)
