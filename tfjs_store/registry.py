"""URL -> IOHandler: the router that entry points feed.

How a URL finds its handler
---------------------------
1. Routers registered at run time with ``register_save_router``/``register_load_router``
   (TF.js's API: a function ``(url) -> handler | None``) are all asked, in order.
2. The URL's scheme (``s3`` in ``s3://b/m``; ``file`` for a bare path) is looked up
   among handlers registered by scheme: entry points in the group
   ``tfjs_store.handlers`` (tfjs-store's own built-ins are registered that way too) and
   ``register_handler`` calls.
3. A scheme nobody registered but fsspec knows falls back to the fsspec handler;
   if fsspec knows it but its package is missing, the error says what to install.

Every match counts: no match and several matches are errors with TF.js's wording.

Adding a scheme from a package
------------------------------
In the plugin's ``pyproject.toml``::

    [project.entry-points."tfjs_store.handlers"]
    sqlite = "my_plugin:SQLiteHandler"

The object is one of three kinds. The first two receive the options the user passes
to ``save``/``load`` typed, in one way for tfjs-store's built-ins and for plugins: the
model handler's own (``layout``, ``shard_size_bytes``, ``checksum``, ``checksums``,
``verify``, ``on_progress``) are sorted out into a ``SaveOptions`` and a
``LoadOptions`` (``tfjs_store.options``: typed, checked before any I/O); the rest
(``storage_options``, ``max_concurrency``...) are the store's and stay keywords.

- A ``tfjs_store.stores.ByteStore`` subclass (the easy way: implement reading, writing,
  committing, removing and listing the files of one folder, and declare what the store
  can do with its ``supports_*`` flags). tfjs-store calls
  ``StoreClass.from_url(folder_url, **store_options)`` and puts its one model handler
  on top, handing it the two typed values, so the commit protocol, save record,
  integrity checks, ``clean`` and listing come for free.
- A handler factory that declares the typed signature with the flag
  ``takes_typed_options = True`` (a class attribute, on the class that defines
  ``__init__``; or an attribute of a function)::

      factory(url, *, save_options: SaveOptions, load_options: LoadOptions, **store_options)

  tfjs-store's own entry points are such factories: ``FsspecHandler`` (file, memory,
  s3, gs, az... and the fsspec fallback), ``HTTPHandler`` and ``DownloadsHandler``.
  Which of the handler options it honours it declares in ``OPTIONS`` (all by default;
  ``HTTPHandler``: ``verify`` and ``on_progress``): another one given is refused; its
  defaults for a save it may declare as ``save_defaults``, a ``SaveOptions``
  (``DownloadsHandler``: the ``downloads`` layout). A ``ModelHandler`` subclass takes
  ``save_options=`` / ``load_options=`` and hands them on to ``ModelHandler.__init__``.
- Any other callable ``factory(url, **options)`` returning an object with
  ``save(artifacts)`` and/or ``load()`` (and, for management, ``list_models()`` and
  ``remove_model()``): TF.js's IOHandler, for handlers that do their own format work.
  It receives every option as a keyword, as before the typed options existed.

An option a store, factory or typed factory does not take (read from its signature,
and for a typed factory from ``OPTIONS``) is an ``OptionError`` (a ``TypeError``)
before any I/O, with the hint the factory gives for it in its ``OPTION_HINTS`` mapping,
if any.

What a handler can do is read from flags, never from errors: a factory whose handlers
call ``on_progress`` as they move weight files says so with a class attribute
``reports_progress = True`` (tfjs-store's model handler, and so every store, does);
``reports_progress(url)`` reads it; ``takes_option(url, name)`` reads the signature and
``OPTIONS``; ``takes_typed_options(factory)`` reads the typed-signature flag.

When two distributions claim one scheme
---------------------------------------
tfjs-store warns (``HandlerConflictWarning``) naming both, and picks a plugin over
tfjs-store's own built-in, then the first distribution by name. Choose explicitly with
the environment variable ``TFJS_STORE_HANDLERS="s3=my-dist,gs=other-dist"`` or
``prefer_handler("s3", "my-dist")``.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

from ._exports import REGISTRY
from .errors import HandlerError, MissingDependencyError, OptionError
from .options import HANDLER_OPTIONS, SaveOptions, split_options

if TYPE_CHECKING:
    from .stores.base import ByteStore

__all__ = sorted([  # REGISTRY: the names the package exports (tfjs_store/_exports.py)
    *REGISTRY,
    "ENTRY_POINT_GROUP",
    "HandlerEntry",
    "reports_progress",
    "takes_option",
    "takes_typed_options",
    "unaccepted_options",
    "url_scheme",
])

ENTRY_POINT_GROUP = "tfjs_store.handlers"
OWN_DISTRIBUTION = "tfjs-store"
FSSPEC_FALLBACK = "tfjs_store.handlers.fsspec:FsspecHandler"
ENV_PREFERENCES = "TFJS_STORE_HANDLERS"
TYPED_OPTIONS_FLAG = "takes_typed_options"

Router = Callable[[str], Any]


class HandlerConflictWarning(UserWarning):
    """Two distributions register a handler for the same scheme."""


@dataclass(frozen=True)
class HandlerEntry:
    """One registered handler: its scheme, where it comes from, and how to load it."""

    scheme: str
    target: str
    """``module:attribute`` of the factory, or a description for run-time objects."""
    source: str
    """The distribution that registered it, ``runtime``, or ``fsspec (fallback)``."""
    factory: Callable[..., Any] | None = None

    def load(self) -> Callable[..., Any]:
        if self.factory is not None:
            return self.factory
        module_name, _, attr = self.target.partition(":")
        import importlib

        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj  # type: ignore[no-any-return]


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entry_points: dict[str, list[HandlerEntry]] | None = None
        self._runtime: dict[str, HandlerEntry] = {}
        self._preferences: dict[str, str] = {}
        self._warned: set[str] = set()
        self.save_routers: list[Router] = []
        self.load_routers: list[Router] = []

    def entry_points(self) -> dict[str, list[HandlerEntry]]:
        with self._lock:
            if self._entry_points is None:
                found: dict[str, list[HandlerEntry]] = {}
                for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
                    dist = ep.dist.name if ep.dist is not None else "unknown"
                    entry = HandlerEntry(ep.name.lower(), ep.value, dist)
                    same = found.setdefault(entry.scheme, [])
                    if not any(e.target == entry.target and e.source == entry.source for e in same):
                        same.append(entry)
                self._entry_points = found
            return self._entry_points

    def preferences(self) -> dict[str, str]:
        prefs = {}
        for item in os.environ.get(ENV_PREFERENCES, "").split(","):
            scheme, _, dist = item.partition("=")
            if scheme.strip() and dist.strip():
                prefs[scheme.strip().lower()] = dist.strip()
        prefs.update(self._preferences)
        return prefs

    def candidates(self, scheme: str) -> list[HandlerEntry]:
        if scheme in self._runtime:
            return [self._runtime[scheme]]
        return list(self.entry_points().get(scheme, []))

    def resolve(self, scheme: str) -> HandlerEntry | None:
        entries = self.candidates(scheme)
        if not entries:
            return self._fsspec_fallback(scheme)
        if len(entries) == 1:
            return entries[0]
        wanted = self.preferences().get(scheme)
        if wanted is not None:
            for entry in entries:
                if _same_dist(entry.source, wanted):
                    return entry
        ranked = sorted(entries, key=lambda e: (_same_dist(e.source, OWN_DISTRIBUTION), e.source))
        chosen = ranked[0]
        if scheme not in self._warned:
            self._warned.add(scheme)
            names = ", ".join(f"{e.source} ({e.target})" for e in entries)
            warnings.warn(
                f"several distributions register a tfjs-store handler for '{scheme}://': "
                f"{names}; using {chosen.source}. Choose with "
                f"{ENV_PREFERENCES}='{scheme}=DISTRIBUTION' or "
                f"tfjs_store.prefer_handler('{scheme}', 'DISTRIBUTION').",
                HandlerConflictWarning,
                stacklevel=4,
            )
        return chosen

    def _fsspec_fallback(self, scheme: str) -> HandlerEntry | None:
        from .stores.fsspec import ensure_protocol_known

        if ensure_protocol_known(scheme):
            return HandlerEntry(scheme, FSSPEC_FALLBACK, "fsspec (fallback)")
        return None

    def register(self, scheme: str, factory: Callable[..., Any], source: str) -> None:
        scheme = scheme.lower().removesuffix("://")
        with self._lock:
            self._runtime[scheme] = HandlerEntry(
                scheme, getattr(factory, "__qualname__", repr(factory)), source, factory
            )

    def prefer(self, scheme: str, distribution: str) -> None:
        self._preferences[scheme.lower()] = distribution


def _same_dist(a: str, b: str) -> bool:
    def norm(name: str) -> str:
        return name.lower().replace("_", "-").replace(".", "-")

    return norm(a) == norm(b)


_REGISTRY = _Registry()


def url_scheme(url: str) -> str:
    """The scheme that picks a handler: ``s3`` for ``s3://…``, the storage under a
    chained URL's wrappers (``simplecache::s3://…`` -> ``s3``; ``zip://m::s3://b/a.zip``
    -> ``s3``), ``file`` for a bare path (also at the end of a chain)."""
    last = url.split("::")[-1]
    if "://" not in last:
        return "file"
    return last.split("://", 1)[0].lower()


def register_handler(scheme: str, factory: Callable[..., Any], *, source: str = "runtime") -> None:
    """Register ``factory(url, **options) -> handler`` for a scheme, in this process.

    It takes precedence over entry points for that scheme.
    """
    _REGISTRY.register(scheme, factory, source)


def prefer_handler(scheme: str, distribution: str) -> None:
    """When several distributions register ``scheme``, use the one from ``distribution``."""
    _REGISTRY.prefer(scheme, distribution)


def register_save_router(router: Router) -> None:
    """TF.js's ``tf.io.registerSaveRouter``: ``router(url)`` returns a handler or None."""
    _REGISTRY.save_routers.append(router)


def register_load_router(router: Router) -> None:
    """TF.js's ``tf.io.registerLoadRouter``."""
    _REGISTRY.load_routers.append(router)


def handler_entries() -> list[dict[str, Any]]:
    """What is registered: one row per scheme and claimant, with the one in use marked."""
    rows = []
    schemes = sorted(set(_REGISTRY.entry_points()) | set(_REGISTRY._runtime))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HandlerConflictWarning)
        for scheme in schemes:
            chosen = _REGISTRY.resolve(scheme)
            entries = _REGISTRY.candidates(scheme)
            for entry in entries:
                rows.append(
                    {
                        "scheme": scheme,
                        "target": entry.target,
                        "source": entry.source,
                        "active": entry == chosen,
                        "conflict": len(entries) > 1,
                    }
                )
    return rows


def _scheme_handler(url: str, options: dict[str, Any]) -> Any:
    scheme = url_scheme(url)
    entry = _REGISTRY.resolve(scheme)
    if entry is None:
        return None
    try:
        factory = entry.load()
    except ImportError as exc:
        raise MissingDependencyError(
            f"the handler for {scheme}:// ({entry.target}, from {entry.source}) cannot be "
            f"imported: {exc}"
        ) from None
    unknown = _refused(factory, options)
    if unknown:
        hints = getattr(factory, "OPTION_HINTS", {})
        said = "; ".join(hints[k] for k in unknown if k in hints)
        raise OptionError(
            f"the handler for {scheme}:// URLs ({entry.target}) got an unexpected keyword "
            f"argument {', '.join(repr(k) for k in unknown)} (given for {url})"
            + (f": {said}" if said else ""),
            options=tuple(unknown),
            url=url,
        )
    store_class = _store_class(factory)
    if store_class is not None:
        from .handler import ModelHandler

        save_options, load_options, store_options = split_options(options)
        return ModelHandler.for_store(
            store_class, url, save_options=save_options, load_options=load_options,
            store_options=store_options,
        )
    if takes_typed_options(factory):
        defaults = getattr(factory, "save_defaults", None)
        save_options, load_options, store_options = split_options(
            options, save_defaults=defaults if isinstance(defaults, SaveOptions) else None
        )
        return factory(url, save_options=save_options, load_options=load_options,
                       **store_options)
    return factory(url, **options)


def _store_class(factory: Any) -> type[ByteStore] | None:
    from .stores.base import ByteStore

    return factory if isinstance(factory, type) and issubclass(factory, ByteStore) else None


def takes_typed_options(factory: Any) -> bool:
    """Whether a handler factory declares the typed signature
    ``factory(url, *, save_options, load_options, **store_options)`` with the flag
    ``takes_typed_options = True``. On a class the flag counts where ``__init__`` is
    defined: a subclass that defines its own ``__init__`` without it is called with
    keywords, as before."""
    if isinstance(factory, type):
        owner = next((c for c in factory.__mro__ if "__init__" in vars(c)), object)
        return vars(owner).get(TYPED_OPTIONS_FLAG, False) is True
    return getattr(factory, TYPED_OPTIONS_FLAG, False) is True


def _refused(factory: Any, options: Mapping[str, Any]) -> list[str]:
    """The options a store class (after the model handler's own), a typed factory (its
    declared ``OPTIONS``, then its signature) or a factory does not take."""
    store_class = _store_class(factory)
    if store_class is None and not takes_typed_options(factory):
        return unaccepted_options(factory, options)
    store_options = {k: v for k, v in options.items() if k not in HANDLER_OPTIONS}
    if store_class is not None:
        return unaccepted_options(store_class.from_url, store_options)
    honoured = getattr(factory, "OPTIONS", HANDLER_OPTIONS)
    refused = {k for k in options if k in HANDLER_OPTIONS and k not in honoured}
    refused |= {k for k in store_options if k in ("save_options", "load_options")}
    return sorted(refused | set(unaccepted_options(factory, store_options)))


def _factory(url: str) -> Any:
    """The store class or factory registered for ``url``'s scheme; None when there is
    none or it cannot be imported (a save or load says what to install)."""
    entry = _REGISTRY.resolve(url_scheme(url))
    if entry is None:
        return None
    try:
        return entry.load()
    except ImportError:
        return None


def reports_progress(url: str) -> bool:
    """Whether the handler registered for ``url``'s scheme calls ``on_progress``: a
    byte store's (tfjs-store's model handler goes on top) always does; a factory does
    when it says so with its ``reports_progress`` flag. Read from the flag, before any
    handler is made."""
    factory = _factory(url)
    if factory is None:
        return False
    if _store_class(factory) is not None:
        return True
    return getattr(factory, "reports_progress", False) is True


def takes_option(url: str, name: str) -> bool:
    """Whether the handler registered for ``url``'s scheme takes the option ``name``
    (read from its signature, as ``save``/``load`` check options), before any handler
    is made."""
    factory = _factory(url)
    return factory is not None and not _refused(factory, {name: None})


def unaccepted_options(factory: Callable[..., Any], options: Mapping[str, Any]) -> list[str]:
    """The names in ``options`` that ``factory`` does not take, read from its signature
    (a class's ``**options`` passed on to its base class are followed up the MRO)."""
    try:
        accepted = _accepted_options(factory)
    except TypeError:  # unhashable: read it each time
        accepted = _accepted_options.__wrapped__(factory)
    if accepted is None:
        return []  # takes any keyword, or a builtin or C callable that will say itself
    return sorted(k for k in options if k not in accepted)


@functools.lru_cache(maxsize=256)
def _accepted_options(factory: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword names ``factory`` takes; None when it takes any (or cannot tell).
    Read once per factory: signatures cost more than the rest of a small model's load."""
    import inspect

    accepted: set[str] = set()
    callables: list[Any] = (
        [vars(c)["__init__"] for c in factory.__mro__ if "__init__" in vars(c)]
        if isinstance(factory, type) else [factory]
    )
    for call in callables:
        try:
            params = list(inspect.signature(call).parameters.values())
        except (TypeError, ValueError):
            return None  # a builtin or C callable: it will say itself
        accepted |= {p.name for p in params if p.kind is not p.VAR_KEYWORD}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return frozenset(accepted)
    return None  # takes any keyword


def _handlers(url: str, routers: list[Router], options: dict[str, Any]) -> list[Any]:
    if not isinstance(url, str) or not url:
        raise HandlerError(f"a model URL must be a non-empty string, got {url!r}")
    found = [h for h in (r(url) for r in list(routers)) if h is not None]
    handler = _scheme_handler(url, options)
    if handler is not None:
        found.append(handler)
    return found


def get_save_handlers(url: str, **options: Any) -> list[Any]:
    """Every handler that can save to ``url`` (TF.js's ``tf.io.getSaveHandlers``)."""
    return _handlers(url, _REGISTRY.save_routers, options)


def get_load_handlers(url: str, **options: Any) -> list[Any]:
    """Every handler that can load from ``url`` (TF.js's ``tf.io.getLoadHandlers``)."""
    return _handlers(url, _REGISTRY.load_routers, options)
