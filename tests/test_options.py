"""Typed handler options (issue 13, item 4): ``SaveOptions`` / ``LoadOptions`` are made
and checked by the router, a store plugin's handler receives them, and what a handler
can do is read from a flag."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import tfjs_store
from tfjs_store import LoadOptions, OptionError, SaveOptions
from tfjs_store.handler import ModelHandler
from tfjs_store.registry import register_handler, reports_progress, takes_option
from tfjs_store.stores.base import ByteStore
from tfjs_store.stores.memory import MemoryStore


def test_save_options_resolve_the_checksum_from_the_layout() -> None:
    assert SaveOptions().checksum_kind == "crc32c"
    assert SaveOptions(layout="tfjs-node").checksum_kind is None
    assert SaveOptions(layout="tfjs-node", checksums=True).checksum_kind == "crc32c"
    assert SaveOptions(checksum="sha256").checksum_kind == "sha256"
    assert SaveOptions(checksums=False).checksum_kind is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        SaveOptions().layout = "downloads"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"layout": "flat"}, ValueError, "unknown layout 'flat'"),
        ({"shard_size_bytes": 0}, ValueError, "shard_size_bytes must be a positive integer"),
        ({"shard_size_bytes": "4MB"}, ValueError, "shard_size_bytes must be a positive integer"),
        ({"checksum": "md5"}, ValueError, "unknown checksum 'md5'"),
        ({"checksum": "sha256", "checksums": False}, ValueError, "disagree"),
        ({"checksums": "yes"}, TypeError, "checksums must be True, False or None"),
        ({"on_progress": 3}, TypeError, "on_progress must be callable"),
    ],
)
def test_save_options_refuse_bad_values(
    options: dict[str, Any], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        SaveOptions(**options)


def test_load_options_refuse_bad_values() -> None:
    assert LoadOptions() == LoadOptions(verify=True, on_progress=None)
    with pytest.raises(TypeError, match="verify must be True or False, got 'no'"):
        LoadOptions(verify="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_progress must be callable"):
        LoadOptions(on_progress="bar")  # type: ignore[arg-type]


class _Recording(MemoryStore):
    """A store plugin over memory:// that records what ``from_url`` was given."""

    seen: ClassVar[list[dict[str, Any]]] = []

    @classmethod
    def from_url(  # type: ignore[override]
        cls, url: str, /, *, storage_options: Mapping[str, Any] | None = None
    ) -> ByteStore:
        cls.seen.append({"url": url, "storage_options": storage_options})
        return MemoryStore.from_url("memory://" + url.split("://", 1)[1])


def test_a_store_plugins_handler_gets_typed_options_and_the_store_the_rest() -> None:
    register_handler("options-test", _Recording)
    url = "options-test://typed/m1"
    given: list[float] = []
    tfjs_store.save(
        {"w": np.arange(300, dtype=np.float32)}, url, storage_options={"token": "t"},
        shard_size_bytes=400, checksum="sha256", on_progress=given.append,
    )
    assert _Recording.seen[-1] == {"url": url, "storage_options": {"token": "t"}}
    assert given and given[-1] == 1.0
    [handler] = tfjs_store.get_load_handlers(url, verify=False, layout="tfjs-node")
    assert isinstance(handler, ModelHandler)
    assert (handler.verify, handler.layout, handler.checksum) == (False, "tfjs-node", None)
    loaded = tfjs_store.load(url, storage_options={"token": "t"})
    assert loaded.weights()["w"].tolist() == list(range(300))
    assert loaded.weight_specs is not None and len(loaded.weight_specs) == 1


def test_bad_options_for_a_store_plugin_fail_before_the_store_is_opened() -> None:
    register_handler("options-test", _Recording)
    before = len(_Recording.seen)
    with pytest.raises(ValueError, match="shard_size_bytes must be a positive integer"):
        tfjs_store.save({"w": np.ones(2, np.float32)}, "options-test://m", shard_size_bytes=-1)
    with pytest.raises(OptionError, match="'region'") as caught:
        tfjs_store.save({"w": np.ones(2, np.float32)}, "options-test://m", region="x")
    assert caught.value.options == ("region",)
    with pytest.raises(OptionError, match="load\\(\\) does not take layout"):
        tfjs_store.load("options-test://m", layout="tfjs-node")
    assert len(_Recording.seen) == before


def test_reports_progress_is_read_from_a_flag() -> None:
    class Flagged:
        reports_progress = True

    def plain(url: str, **options: Any) -> None:
        return None

    register_handler("options-test", _Recording)
    register_handler("options-test-flagged", Flagged)
    register_handler("options-test-plain", plain)
    assert reports_progress("options-test://m")  # a store: the model handler reports
    assert reports_progress("options-test-flagged://m")
    assert not reports_progress("options-test-plain://m")
    assert reports_progress("memory://m") and reports_progress("https://h/m/model.json")
    assert not reports_progress("no-such-scheme-here://m")


def test_a_copy_gives_max_concurrency_to_a_source_only_where_it_takes_it() -> None:
    register_handler("options-test", _Recording)
    src, dst = "options-test://copy/src", "memory://options-test/copy/dst"
    tfjs_store.save({"w": np.arange(8, dtype=np.int32)}, src)
    assert not takes_option(src, "max_concurrency")  # from_url takes storage_options only
    assert takes_option(dst, "max_concurrency") and takes_option(dst, "layout")
    assert not takes_option("no-such-scheme-here://m", "layout")
    info = tfjs_store.copy_model(src, dst, max_concurrency=2)
    assert info.weight_data_bytes == 32
    assert tfjs_store.load(dst).weights()["w"].tolist() == list(range(8))


def _spy_on_init(monkeypatch: pytest.MonkeyPatch, cls: type[Any]) -> list[dict[str, Any]]:
    """Record the keywords ``cls(...)`` is called with (only for ``cls`` itself, not
    for a subclass calling it through ``super()``)."""
    calls: list[dict[str, Any]] = []
    original = cls.__init__

    @functools.wraps(original)
    def init(self: Any, url: str, **kwargs: Any) -> None:
        if type(self) is cls:
            calls.append({"url": url, **kwargs})
        original(self, url, **kwargs)

    monkeypatch.setattr(cls, "__init__", init)
    return calls


def test_the_built_in_handlers_receive_typed_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tfjs_store.handlers.downloads import DownloadsHandler
    from tfjs_store.handlers.fsspec import FsspecHandler
    from tfjs_store.handlers.http import HTTPHandler

    spies = {cls: _spy_on_init(monkeypatch, cls)
             for cls in (FsspecHandler, HTTPHandler, DownloadsHandler)}
    progress: list[float] = []

    def first_call(cls: type[Any]) -> dict[str, Any]:
        call = spies[cls][0]
        spies[cls].clear()
        assert isinstance(call["save_options"], SaveOptions)
        assert isinstance(call["load_options"], LoadOptions)
        assert not set(call) & set(ModelHandler.OPTIONS)  # none as a keyword
        return call

    [h] = tfjs_store.get_save_handlers(
        "memory://typed-builtin/m", shard_size_bytes=1024, checksum="sha256",
        on_progress=progress.append, max_concurrency=2,
    )
    call = first_call(FsspecHandler)
    assert call["save_options"] == SaveOptions(
        shard_size_bytes=1024, checksum="sha256", on_progress=progress.append
    )
    assert call["max_concurrency"] == 2  # the store's option stays a keyword
    assert (h.shard_size_bytes, h.checksum, h.on_progress) == (1024, "sha256", progress.append)

    [h] = tfjs_store.get_load_handlers(str(tmp_path / "m"), verify=False)
    assert first_call(FsspecHandler)["load_options"] == LoadOptions(verify=False)
    assert h.verify is False

    [h] = tfjs_store.get_save_handlers("downloads://typed", folder=str(tmp_path),
                                       checksum="sha256")
    call = first_call(DownloadsHandler)
    assert call["folder"] == str(tmp_path)
    assert call["save_options"] == SaveOptions(layout="downloads", checksum="sha256")
    assert (h.layout, h.checksum) == ("downloads", "sha256")
    [h] = tfjs_store.get_save_handlers("downloads://typed", folder=str(tmp_path),
                                       layout="tfjs-node")
    assert first_call(DownloadsHandler)["save_options"].layout == "tfjs-node"

    [h] = tfjs_store.get_load_handlers("http://127.0.0.1:9/m/model.json", verify=False,
                                       on_progress=progress.append, retries=0)
    call = first_call(HTTPHandler)
    assert call["load_options"] == LoadOptions(verify=False, on_progress=progress.append)
    assert call["retries"] == 0
    assert (h.verify, h.on_progress) == (False, progress.append)

    # and a save through the public API still writes what the options say
    tfjs_store.save({"w": np.arange(600, dtype=np.float32)}, "memory://typed-builtin/s",
                    shard_size_bytes=1024)
    assert first_call(FsspecHandler)["save_options"].shard_size_bytes == 1024
    loaded = tfjs_store.load("memory://typed-builtin/s")
    assert loaded.weights_manifest is not None
    assert len(loaded.weights_manifest[0].paths) == 3  # 2400 bytes cut at 1024


def test_http_declares_the_handler_options_it_honours() -> None:
    from tfjs_store.handlers.http import HTTPHandler

    url = "http://127.0.0.1:9/m/model.json"
    assert takes_option(url, "verify") and takes_option(url, "on_progress")
    assert not takes_option(url, "shard_size_bytes") and not takes_option(url, "layout")
    with pytest.raises(OptionError, match="unexpected keyword argument 'layout'") as caught:
        tfjs_store.get_save_handlers(url, layout="tfjs-node")
    assert caught.value.options == ("layout",)
    with pytest.raises(OptionError, match="HTTPHandler does not take shard_size_bytes"):
        HTTPHandler(url, save_options=SaveOptions(shard_size_bytes=5))


def test_typed_and_keyword_options_are_not_mixed_and_not_passed_as_options() -> None:
    from tfjs_store.handlers.fsspec import FsspecHandler

    with pytest.raises(TypeError, match="layout given both as keyword and in SaveOptions"):
        FsspecHandler("memory://typed-mix/m", save_options=SaveOptions(), layout="tfjs-node")
    with pytest.raises(TypeError, match="expected a LoadOptions"):
        FsspecHandler("memory://typed-mix/m", load_options=SaveOptions())  # type: ignore[arg-type]
    handler = FsspecHandler("memory://typed-mix/m", save_options=SaveOptions(layout="tfjs-node"),
                            verify=False)
    assert (handler.layout, handler.verify) == ("tfjs-node", False)
    with pytest.raises(OptionError, match="'save_options'"):
        tfjs_store.save({"w": np.ones(2, np.float32)}, "memory://typed-mix/m",
                        save_options=SaveOptions())


def test_only_factories_that_declare_the_typed_signature_get_it() -> None:
    from tfjs_store.handlers.fsspec import FsspecHandler
    from tfjs_store.registry import takes_typed_options

    seen: list[dict[str, Any]] = []

    class OwnInit(FsspecHandler):  # a third party's subclass with its own signature
        def __init__(self, url: str, *, verify: bool = True) -> None:
            seen.append({"verify": verify})
            super().__init__("memory://typed-own/" + url.split("://", 1)[1], verify=verify)

    class Inherited(FsspecHandler):  # FsspecHandler's signature, and so its flag
        pass

    def typed(url: str, *, save_options: SaveOptions, load_options: LoadOptions) -> Any:
        seen.append({"save_options": save_options, "load_options": load_options})
        return FsspecHandler("memory://typed-fn/m", save_options=save_options,
                             load_options=load_options)

    typed.takes_typed_options = True  # type: ignore[attr-defined]
    assert not takes_typed_options(OwnInit) and takes_typed_options(Inherited)
    assert takes_typed_options(typed) and not takes_typed_options(_Recording)
    register_handler("options-own-init", OwnInit)
    register_handler("options-typed-fn", typed)
    [handler] = tfjs_store.get_load_handlers("options-own-init://m", verify=False)
    assert seen.pop() == {"verify": False} and handler.verify is False
    [handler] = tfjs_store.get_save_handlers("options-typed-fn://m", layout="tfjs-node")
    assert seen.pop() == {"save_options": SaveOptions(layout="tfjs-node"),
                          "load_options": LoadOptions()}
    with pytest.raises(OptionError, match="'max_concurrency'"):  # from its signature
        tfjs_store.get_save_handlers("options-typed-fn://m", max_concurrency=2)


def test_a_factorys_signature_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Which options a handler takes is read from its signature, and remembered: a small
    model's load spent a fifth of its time re-reading it."""
    import inspect

    from tfjs_store import registry

    class Base:
        def __init__(self, url: str, *, shard_size_bytes: int = 0) -> None: ...

    class Handler(Base):
        def __init__(self, url: str, *, extra: int = 0, **options: Any) -> None: ...

    def any_keyword(url: str, **options: Any) -> None: ...

    reads: list[object] = []
    real = inspect.signature
    monkeypatch.setattr(inspect, "signature", lambda f: (reads.append(f), real(f))[1])
    for _ in range(3):
        assert registry.unaccepted_options(Handler, {"extra": 1, "bogus": 2}) == ["bogus"]
        assert registry.unaccepted_options(Handler, {"shard_size_bytes": 1}) == []
        assert registry.unaccepted_options(any_keyword, {"whatever": 1}) == []
    assert reads == [Handler.__init__, Base.__init__, any_keyword]

    class Unhashable:  # a factory that cannot be remembered is read each time
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, url: str, *, a: int = 0) -> None: ...

    factory = Unhashable()
    assert registry.unaccepted_options(factory, {"a": 1, "b": 2}) == ["b"]
    assert registry.unaccepted_options(factory, {"a": 1, "b": 2}) == ["b"]
    assert reads[3:] == [factory, factory]
