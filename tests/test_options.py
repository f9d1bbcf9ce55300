"""Typed handler options (issue 13, item 4): ``SaveOptions`` / ``LoadOptions`` are made
and checked by the router, a store plugin's handler receives them, and what a handler
can do is read from a flag."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
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
