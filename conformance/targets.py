"""What ``tfjs-store conformance TARGET`` runs: a test class made from TARGET.

TARGET is one of:

``module:attribute``
    A ``HandlerTests``/``ReadOnlyHandlerTests`` subclass (run as it is), or any other
    callable: a handler factory, called with no arguments for each fresh location and
    returning a handler for it. A bare factory gives no back door, so the checks that
    need one are skipped and say so.
a URL, or a local path
    The suite runs against the handler that URL resolves to, with fresh locations made
    under it. A path without a scheme (``./models``, ``/tmp/models``) is a folder on
    local disk, made absolute, as every other command takes it. The test class comes
    from, in order: a distribution's entry point in the group ``tfjs_store.conformance``
    named after the URL's scheme (a ``HandlerTests`` subclass with its back door; this is
    how a plugin makes its scheme testable by URL); ``FsspecHandlerTests`` for any scheme
    fsspec knows (the back door is fsspec); otherwise a black-box class without a back
    door.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any, ClassVar

from .fsspec_target import FsspecHandlerTests
from .suite import HandlerTests, Location, ReadOnlyHandlerTests

__all__ = [
    "ENTRY_POINT_GROUP",
    "HTTPUrlTests",
    "HandlerFactoryTests",
    "TargetError",
    "UrlHandlerTests",
    "resolve_target",
    "target_test_class",
]

ENTRY_POINT_GROUP = "tfjs_store.conformance"
_OBJECT_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class TargetError(ValueError):
    """TARGET names nothing the suite can run against."""


class HandlerFactoryTests(HandlerTests):
    """Black-box checks of ``factory() -> handler`` (a handler at a fresh location)."""

    factory: ClassVar[Callable[[], Any]]
    base_url = "factory:/"
    supports_listing = False
    supports_copy = False

    def open_handler(self, location: Location, **options: Any) -> Any:
        cache: dict[str, Any] = self.__dict__.setdefault("_handlers", {})
        if location.url not in cache:
            cache[location.url] = type(self).factory()
        return cache[location.url]


class UrlHandlerTests(HandlerTests):
    """Black-box checks of a handler found by URL, when nothing gives a back door."""


class HTTPUrlTests(UrlHandlerTests):
    """Black-box checks of http(s) saves and loads against a running server (such as
    ``tfjs-store serve``): model ``NAME`` is saved to and loaded from
    ``BASE/NAME/model.json``. The server's storage is out of reach, so the checks that
    need a back door are skipped."""

    supports_listing = False
    supports_removal = False

    def container_url(self, unique: str) -> str:
        assert self.base_url is not None
        return f"{self.base_url.rstrip('/')}/c{unique}"

    def location_in(self, container: Location, name: str) -> Location:
        flat = name.replace("/", "-")
        return Location(f"{container.url}-{flat}/model.json", container.options)


def _load_object(ref: str) -> Any:
    module_name, _, attr = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetError(f"cannot import {module_name!r} for target {ref!r}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"{module_name!r} has no attribute {attr!r}") from None
    return obj


def _entry_point_class(scheme: str) -> type[ReadOnlyHandlerTests] | None:
    found = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == scheme]
    if not found:
        return None
    ep = found[0]
    try:
        cls = ep.load()
    except Exception as exc:
        raise TargetError(
            f"the conformance entry point {ep.name} = {ep.value} cannot be loaded: {exc}"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, ReadOnlyHandlerTests)):
        raise TargetError(f"the conformance entry point {ep.value} is not a HandlerTests class")
    return cls


def _fsspec_knows(scheme: str) -> bool:
    # tfjs-store's own test: it also knows protocols a package claims that fsspec's
    # table leaves out (dav:// of webdav4).
    from tfjs_store.stores.fsspec import ensure_protocol_known

    return ensure_protocol_known(scheme)


def _is_object_ref(target: str) -> bool:
    return "://" not in target and bool(_OBJECT_REF.match(target))


def resolve_target(target: str) -> str:
    """TARGET as the suite uses it: a local path (no scheme, not ``module:attribute``)
    made absolute, so it names the same folder from any working directory; anything
    else as it is."""
    if not target.strip():
        raise TargetError("TARGET is empty: give a URL, a local path or module:attribute")
    if "://" in target or _is_object_ref(target):
        return target
    return os.path.abspath(os.path.expanduser(target))


def target_test_class(
    target: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    known_failures: Mapping[str, str] | None = None,
) -> type[ReadOnlyHandlerTests]:
    """The test class (named ``TestConformance``) that checks TARGET."""
    handler_options = dict(options or {})
    if storage_options:
        handler_options["storage_options"] = dict(storage_options)
    attrs: dict[str, Any] = {"conformance_title": target}
    if known_failures:
        attrs["known_failures"] = dict(known_failures)
    base: type[ReadOnlyHandlerTests]
    if _is_object_ref(target):
        obj = _load_object(target)
        if isinstance(obj, type) and issubclass(obj, ReadOnlyHandlerTests):
            base = obj
            if handler_options:
                attrs["handler_options"] = {**obj.handler_options, **handler_options}
        elif callable(obj):
            base = HandlerFactoryTests
            attrs["factory"] = staticmethod(obj)
        else:
            raise TargetError(f"{target!r} is neither a HandlerTests class nor a handler factory")
    else:
        from tfjs_store.registry import url_scheme

        target = resolve_target(target)
        scheme = url_scheme(target)
        attrs["base_url"] = target.rstrip("/") or "/"
        attrs["handler_options"] = handler_options
        plugin_class = _entry_point_class(scheme)
        if plugin_class is not None:
            base = plugin_class
        elif scheme in ("http", "https"):
            base = HTTPUrlTests
        elif scheme == "downloads":
            from .builtin_targets import DownloadsHandlerTests

            base = DownloadsHandlerTests
        elif _fsspec_knows(scheme):
            base = FsspecHandlerTests
            if storage_options:
                attrs["storage_options"] = dict(storage_options)
                attrs["handler_options"] = {
                    k: v for k, v in handler_options.items() if k != "storage_options"
                }
        else:
            base = UrlHandlerTests
    return type("TestConformance", (base,), attrs)
