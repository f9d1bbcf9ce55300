"""The conformance checks: one class to subclass, capabilities as flags, a back door.

A handler's author subclasses ``HandlerTests`` (or ``ReadOnlyHandlerTests`` for a
handler that only loads) in a test module named ``test_*.py``, under a class name
starting with ``Test``, and gives:

- where fresh, empty model locations come from: ``base_url`` (each test gets
  ``BASE_URL/<unique>`` as its *container*, models live at ``CONTAINER/<name>``), or an
  override of the ``container`` fixture or of ``new_container()``;
- a **back door**: ``backdoor_read``, ``backdoor_write`` and ``backdoor_list``, which
  read and write the stored files of a location *without the handler* (raw SQL, the
  cloud SDK, a folder on disk). The suite checks what the handler stored against it,
  and plants hostile files through it. A model is seen through the back door as the
  files TF.js would read: the model JSON (``Location.json_name``) and the weight files
  its manifest names, at paths relative to the location;
- optionally ``open_faulty_handler`` (a handler whose storage fails at step N) for the
  interrupted-save checks;
- flags for what the handler cannot do (``supports_listing = False`` …), which turn
  the checks that need it into skips that say why, and ``known_failures``
  (``{"check name": "reason"}``), which turns those checks into expected failures.

The handler itself is found the way users find it: ``open_handler(location)`` asks
tfjs-store's registry for the handler of ``location.url`` (with ``location.options``),
or calls ``handler_factory(url, **options)`` when the class sets one.

Every check fails with a sentence that names what went wrong.
"""

from __future__ import annotations

import inspect
import json
import posixpath
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, ClassVar, NoReturn

import numpy as np
import pytest

import tfjs_store
from tfjs_store import (
    InvalidModelError,
    ModelArtifacts,
    ModelJSON,
    ModelNotFoundError,
    SaveResult,
    TfjsStoreError,
    UnsafePathError,
    WeightSpec,
)
from tfjs_store.format.integrity import crc32c_b64
from tfjs_store.stores.base import ByteStore

from .compare import (
    artifacts_problems,
    joined_bytes,
    js_json_byte_length,
    spec_objects,
    weight_bytes_problems,
)
from .corpus import (
    LAYOUTS,
    corpus_model,
    large_model,
    layout_expected,
    layout_files,
)

__all__ = [
    "CAPABILITIES",
    "ConformanceFailure",
    "FaultyHandler",
    "HandlerTests",
    "Location",
    "ReadOnlyHandlerTests",
]

TORN_CHECK_MIN_LOADS = 1
"""Loads that must have started while saves ran in
``test_concurrent_saves_and_loads_never_torn``: a run that overlapped no load with a save
proves nothing, and fails."""

CAPABILITIES = ("listing", "removal", "overwrite", "concurrency", "copy")
"""The capability flags: ``supports_<name>`` on the test class."""


class ConformanceFailure(AssertionError):
    """A check found the handler breaking its contract (the message says how)."""


def _fail(message: str, cause: BaseException | None = None) -> NoReturn:
    if cause is None:
        pytest.fail(message, pytrace=False)
    raise ConformanceFailure(message) from cause


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _unique() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Location:
    """Where one model lives (or a container of models).

    ``url`` is what the handler is opened with, ``options`` the keyword options for it
    (``storage_options`` and the like), ``json_name`` the name of the model JSON file as
    the back door sees it (``model.json``; ``NAME.json`` for ``downloads://NAME``).
    """

    url: str
    options: Mapping[str, Any] = field(default_factory=dict)
    json_name: str = "model.json"

    def child(self, name: str) -> Location:
        return replace(self, url=f"{self.url.rstrip('/')}/{name}")


@dataclass(frozen=True)
class FaultyHandler:
    """A handler whose storage fails at a chosen step, and how many steps it took.

    ``steps()`` is the number of storage-changing steps counted so far; ``describe(n)``
    (optional) says what step ``n`` was.
    """

    handler: Any
    steps: Callable[[], int]
    describe: Callable[[int], str] | None = None


def _strip_dot(path: str) -> str:
    while path.startswith("./"):
        path = path[2:]
    return path


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# -- hostile inputs ---------------------------------------------------------------------

_GOOD_WEIGHT = np.array([1.5, -2.0, 0.25, 8.0], dtype="<f4").tobytes()


def _manifest(paths: list[Any], weights: list[Any] | None = None) -> dict[str, Any]:
    return {
        "modelTopology": {"class_name": "Sequential", "config": {"name": "hostile"}},
        "weightsManifest": [
            {
                "paths": paths,
                "weights": weights
                if weights is not None
                else [{"name": "w", "shape": [4], "dtype": "float32"}],
            }
        ],
    }


def _json(obj: Any) -> bytes:
    return json.dumps(obj).encode()


HOSTILE_MODEL_JSON: dict[str, bytes] = {
    "empty-file": b"",
    "not-json": b'{"modelTopology": {',
    "not-utf8": b'{"modelTopology": {"name": "\xff\xfe"}, "weightsManifest": []}',
    "json-array": b"[]",
    "json-string": b'"model"',
    "no-topology-no-manifest": b'{"format": "layers-model"}',
    "nan-literal": b'{"modelTopology": NaN, "weightsManifest": []}',
    "deep-nesting": b'{"modelTopology": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "manifest-not-list": _json({"modelTopology": {}, "weightsManifest": {"paths": ["w.bin"]}}),
    "group-not-object": _json({"modelTopology": {}, "weightsManifest": ["w.bin"]}),
    "paths-not-strings": _json(_manifest([1])),
    "spec-not-object": _json(_manifest(["w.bin"], ["w"])),
    "unknown-dtype": _json(_manifest(["w.bin"], [{"name": "w", "shape": [2], "dtype": "float64"}])),
    "negative-dimension": _json(
        _manifest(["w.bin"], [{"name": "w", "shape": [-4], "dtype": "float32"}])
    ),
    "fractional-dimension": _json(
        _manifest(["w.bin"], [{"name": "w", "shape": [2.5], "dtype": "float32"}])
    ),
    "shape-not-list": _json(_manifest(["w.bin"], [{"name": "w", "shape": 4, "dtype": "float32"}])),
    "name-not-string": _json(_manifest(["w.bin"], [{"name": 7, "shape": [4], "dtype": "float32"}])),
    "duplicate-names": _json(
        _manifest(
            ["w.bin"],
            [
                {"name": "w", "shape": [2], "dtype": "float32"},
                {"name": "w", "shape": [2], "dtype": "float32"},
            ],
        )
    ),
    "uint8-without-scale": _json(
        _manifest(
            ["w.bin"],
            [
                {
                    "name": "w",
                    "shape": [16],
                    "dtype": "float32",
                    "quantization": {"dtype": "uint8", "min": 0},
                }
            ],
        )
    ),
    "unknown-quantization": _json(
        _manifest(
            ["w.bin"],
            [
                {
                    "name": "w",
                    "shape": [4],
                    "dtype": "float32",
                    "quantization": {"dtype": "int4", "min": 0, "scale": 1},
                }
            ],
        )
    ),
    "float16-on-int32": _json(
        _manifest(
            ["w.bin"],
            [{"name": "w", "shape": [8], "dtype": "int32", "quantization": {"dtype": "float16"}}],
        )
    ),
    # A handler must not trust the shape to size a buffer: 2**40 elements of 16 bytes.
    "huge-shape": _json(
        _manifest(["w.bin"], [{"name": "w", "shape": [2**40], "dtype": "float32"}])
    ),
    # A string length prefix of 4 GiB in 16 bytes of data.
    "string-length-overflow": _json(
        _manifest(["w.bin"], [{"name": "w", "shape": [1], "dtype": "string"}])
    ),
}
"""model.json contents every loader must refuse (the weight file ``w.bin`` holds 16
bytes: four float32, or a string whose length prefix says 4 GiB)."""

HOSTILE_WEIGHT_FILES: dict[str, tuple[dict[str, Any], dict[str, bytes]]] = {
    "short-shard": (_manifest(["w.bin"]), {"w.bin": _GOOD_WEIGHT[:-1]}),
    "long-shard": (_manifest(["w.bin"]), {"w.bin": _GOOD_WEIGHT + b"\x00"}),
    "missing-shard": (_manifest(["w1.bin", "w2.bin"]), {"w1.bin": _GOOD_WEIGHT[:8]}),
    "empty-shard": (_manifest(["w.bin"]), {"w.bin": b""}),
    # One byte short in group 1 and one byte long in group 2: the totals agree.
    "short-and-long-cancel": (
        {
            "modelTopology": {"class_name": "Sequential", "config": {"name": "hostile"}},
            "weightsManifest": [
                {"paths": ["a.bin"], "weights": [{"name": "a", "shape": [4], "dtype": "float32"}]},
                {"paths": ["b.bin"], "weights": [{"name": "b", "shape": [4], "dtype": "float32"}]},
            ],
        },
        {"a.bin": _GOOD_WEIGHT[:-1], "b.bin": _GOOD_WEIGHT + b"\x00"},
    ),
}
"""(model.json, weight files) pairs whose weight files do not match the manifest."""

ESCAPING_PATHS: dict[str, tuple[str, bool]] = {
    "parent": ("../escape.bin", True),
    "dot-parent": ("./../escape.bin", True),
    "nested-parent": ("sub/../../escape.bin", True),
    "absolute": ("/escape.bin", False),
    "file-url": ("file:///tfjs-store-conformance-escape.bin", False),
    "http-url": ("http://127.0.0.1:9/escape.bin", False),
    "backslash-parent": ("..\\escape.bin", False),
    "windows-drive": ("C:/escape.bin", False),
}
"""Manifest paths that leave the model's folder, and whether the suite plants a valid
weight file where a loader that follows the path would find it (``../escape.bin``
from the model's location: ``escape.bin`` in its container)."""


def _pair(seed: int, name: str) -> ModelArtifacts:
    """Three float32 weights of 16 values (192 bytes): same specs for every seed."""
    rng = np.random.default_rng(seed)
    weights = {f"{name}/w{i}": rng.standard_normal(16).astype(np.float32) for i in range(3)}
    training = {"loss": f"loss_{seed}", "optimizer_config": {"class_name": "SGD", "config": {}}}
    return ModelArtifacts.from_weights(
        weights,
        model_topology={"class_name": "Sequential", "config": {"name": f"{name}_{seed}"}},
        training_config=training,
        format="layers-model",
    )


def _twin_models() -> tuple[ModelArtifacts, ModelArtifacts]:
    """Two models with the same weight names and sizes but other bytes and metadata:
    a torn mix of the two loads without a size error and can only be caught by value."""
    return _pair(1, "twin"), _pair(2, "twin")


class ReadOnlyHandlerTests:
    """Checks for a handler that loads: TF.js's layouts, hostile input, listing.

    Subclass it (``class TestMyHandler(ReadOnlyHandlerTests)``) and give the back door.
    """

    _tfjs_store_conformance: ClassVar[bool] = True

    # -- what a subclass declares -------------------------------------------------------

    base_url: ClassVar[str | None] = None
    """Where fresh containers are made: each test gets ``BASE_URL/<unique>``."""
    handler_options: ClassVar[Mapping[str, Any]] = {}
    """Keyword options for every handler the suite opens (``storage_options`` …)."""
    handler_factory: ClassVar[Callable[..., Any] | None] = None
    """``factory(url, **options) -> handler``; default: tfjs-store's registry."""
    supports_listing: ClassVar[bool] = True
    known_failures: ClassVar[Mapping[str, str]] = {}
    """``{"check_name": "why"}`` (or ``"check_name[case]"``): expected failures."""
    capability_notes: ClassVar[Mapping[str, str]] = {}
    """``{"listing": "why not"}``: said in the skip of a capability declared False."""
    conformance_title: ClassVar[str | None] = None
    """Title of this target in the summary table (default: the class name)."""

    # -- locations --------------------------------------------------------------------

    def new_container(self) -> Location:
        """A fresh, empty place for the models of one test."""
        if not self.base_url:
            raise pytest.UsageError(
                f"{type(self).__name__}: set base_url, or override new_container() or the "
                "container fixture, to say where fresh models may be stored"
            )
        return Location(self.container_url(_unique()), options=dict(self.handler_options))

    def container_url(self, unique: str) -> str:
        """The URL of a fresh container named ``unique`` under ``base_url``."""
        assert self.base_url is not None
        return f"{self.base_url.rstrip('/')}/{unique}"

    def location_in(self, container: Location, name: str) -> Location:
        """The location of model ``name`` inside ``container``."""
        return container.child(name)

    def remove_container(self, container: Location) -> None:
        """Remove what a test left in ``container`` (best effort)."""

    @pytest.fixture
    def container(self) -> Iterator[Location]:
        location = self.new_container()
        try:
            yield location
        finally:
            self.remove_container(location)

    @pytest.fixture
    def location(self, container: Location) -> Location:
        return self.location_in(container, "model")

    def same_location(self, listed: str, location: Location) -> bool:
        """Whether a key of ``list_models()`` names ``location``."""
        return _norm_url(listed, location.json_name) == _norm_url(location.url, location.json_name)

    def escape_plant(self, container: Location, location: Location) -> tuple[Location, str]:
        """Where ``../escape.bin`` from ``location`` lands: (location, relative path)."""
        return container, "escape.bin"

    # -- the handler --------------------------------------------------------------------

    def open_handler(self, location: Location, **options: Any) -> Any:
        """The handler for ``location``, as users get it."""
        opts = {**location.options, **options}
        factory = type(self).handler_factory
        if factory is not None:
            return factory(location.url, **opts)
        handlers = tfjs_store.get_load_handlers(location.url, **opts)
        if len(handlers) != 1:
            raise tfjs_store.HandlerError(
                f"{len(handlers)} handlers for {location.url!r}; the suite needs exactly one"
            )
        return handlers[0]

    # -- the back door ------------------------------------------------------------------

    def backdoor_read(self, location: Location, path: str) -> bytes:
        """The stored bytes of file ``path`` (relative to ``location``), read without the
        handler; ``FileNotFoundError`` if there is none."""
        raise NotImplementedError

    def backdoor_write(self, location: Location, path: str, data: bytes) -> None:
        """Store ``data`` as file ``path`` (relative to ``location``) without the handler."""
        raise NotImplementedError

    def backdoor_list(self, location: Location) -> list[str]:
        """Every stored file under ``location``, as relative paths, without the handler."""
        raise NotImplementedError

    def _has_backdoor(self) -> bool:
        cls = type(self)
        return all(
            getattr(cls, name) is not getattr(ReadOnlyHandlerTests, name)
            for name in ("backdoor_read", "backdoor_write", "backdoor_list")
        )

    def _require_backdoor(self) -> None:
        if not self._has_backdoor():
            pytest.skip(
                "no back door: this check writes or reads the storage directly; give "
                "backdoor_read, backdoor_write and backdoor_list"
            )

    def _require(self, capability: str) -> None:
        flag = f"supports_{capability}"
        if not getattr(self, flag, True):
            why = (
                self.capability_notes.get(capability)
                or f"the handler does not declare {capability}"
            )
            pytest.skip(f"{flag} is False: {why}")

    def _write_files(self, location: Location, files: Mapping[str, bytes]) -> None:
        for path, data in files.items():
            name = location.json_name if path == "model.json" else path
            self.backdoor_write(location, name, data)

    def _snapshot(self, location: Location) -> dict[str, bytes]:
        return {p: self.backdoor_read(location, p) for p in sorted(self.backdoor_list(location))}

    # -- calling the handler, with failures that say what happened ------------------------

    def _load(self, location: Location, doing: str) -> ModelArtifacts:
        try:
            handler = self.open_handler(location)
            return tfjs_store.load(handler)
        except Exception as exc:
            _fail(f"{doing}: load() raised {_describe(exc)}", exc)

    def _expect_load_error(
        self,
        location: Location,
        expected: type[BaseException],
        what: str,
        before: Mapping[str, bytes] | None = None,
        watch: Location | None = None,
    ) -> BaseException:
        try:
            handler = self.open_handler(location)
            loaded = tfjs_store.load(handler)
        except expected as exc:
            caught: BaseException = exc
        except Exception as exc:
            _fail(
                f"{what}: load() raised {_describe(exc)}; expected a {expected.__name__} "
                "(a typed tfjs-store error naming the problem)",
                exc,
            )
        else:
            names = [s.name for s in loaded.weight_specs or []]
            _fail(f"{what}: load() returned a model (weights {names}) instead of raising")
        if before is not None and watch is not None:
            after = self._snapshot(watch)
            if after != before:
                changed = sorted(
                    p for p in set(before) | set(after) if before.get(p) != after.get(p)
                )
                _fail(f"{what}: the failed load changed the stored files: {changed}")
        return caught

    # -- checks: TF.js's layouts ------------------------------------------------------------

    @pytest.mark.parametrize("layout", sorted(LAYOUTS))
    def test_load_tfjs_layout(self, layout: str, location: Location) -> None:
        """Files written by TF.js (tfjs-node, browser) and its converter load as TF.js
        reads them: the same weights, bit for bit, and the same model.json fields."""
        self._require_backdoor()
        files = layout_files(layout)
        self._write_files(location, files)
        loaded = self._load(location, f"loading TF.js's {layout} layout")
        model_json = json.loads(files["model.json"])
        expected = layout_expected(layout)
        problems = []
        got_specs = spec_objects(loaded.weight_specs)
        want_specs = spec_objects(
            [
                WeightSpec.model_validate(w)
                for g in model_json["weightsManifest"]
                for w in g["weights"]
            ]
        )
        if got_specs != want_specs:
            problems.append(
                f"the weight specs are not the manifest's: {len(got_specs)} specs loaded, "
                f"{len(want_specs)} in the manifest"
                + ("" if len(got_specs) != len(want_specs) else "; one differs in its fields")
            )
        else:
            decoded = loaded.weights(strings="bytes")
            for w in expected["weights"]:
                arr = decoded.get(w["name"])
                if arr is None:
                    problems.append(f"weight {w['name']!r} is missing")
                    continue
                got_hex = (
                    np.ascontiguousarray(arr)
                    .astype(w["dtype"] if w["dtype"] != "bool" else "u1")
                    .tobytes()
                    .hex()
                )
                if list(arr.shape) != w["shape"] or got_hex != w["hex"]:
                    problems.append(
                        f"weight {w['name']!r} decodes to other values than TF.js's "
                        f"(shape {list(arr.shape)}, expected {w['shape']})"
                    )
        if loaded.model_topology != model_json.get("modelTopology"):
            problems.append("modelTopology differs from the file's")
        for key, attr in (
            ("trainingConfig", "training_config"),
            ("userDefinedMetadata", "user_defined_metadata"),
            ("format", "format"),
            ("generatedBy", "generated_by"),
            ("convertedBy", "converted_by"),
        ):
            want = model_json.get(key)
            got = getattr(loaded, attr)
            got = got.to_json_obj() if hasattr(got, "to_json_obj") else got
            if want is not None and got != want:
                problems.append(f"{key} differs from the file's: {got!r}")
        total = sum(len(v) for k, v in files.items() if k != "model.json")
        if loaded.weight_data_bytes != total:
            problems.append(
                f"the loaded weight data is {loaded.weight_data_bytes} bytes, "
                f"the files hold {total}"
            )
        if problems:
            _fail(f"{layout} ({LAYOUTS[layout]}): " + "; ".join(problems))

    @pytest.mark.parametrize("layout", sorted(LAYOUTS))
    def test_partial_reads_equal_load(self, layout: str, location: Location) -> None:
        """Where the store declares ranged reads, ``open_model`` gives every weight of
        TF.js's layouts, each read alone, bit for bit as ``load`` does."""
        self._require_backdoor()
        self._write_files(location, layout_files(layout))
        self._check_partial_reads(location, f"TF.js's {layout} layout")

    def _check_partial_reads(self, location: Location, what: str) -> None:
        handler = self.open_handler(location)
        if not getattr(getattr(handler, "store", handler), "supports_ranges", False):
            pytest.skip("the store does not declare ranged reads (supports_ranges)")
        want = self._load(location, f"loading {what}").weights(strings="bytes")
        problems = []
        try:
            with tfjs_store.open_model(self.open_handler(location)) as reader:
                if list(reader) != list(want):
                    problems.append(f"open_model lists {list(reader)}, load {list(want)}")
                for name, arr in want.items():
                    got = reader.read([name])[name]
                    if got.dtype == object:  # strings: compare as load gives them as bytes
                        got = np.array([v.encode("utf-8", "surrogateescape")
                                        for v in got.reshape(-1)], dtype=object)
                        same = got.tolist() == arr.reshape(-1).tolist()
                    else:
                        same = (got.dtype == arr.dtype and got.shape == arr.shape
                                and got.tobytes() == arr.tobytes())
                    if not same:
                        problems.append(f"weight {name!r} read alone differs from load()'s")
        except Exception as exc:
            _fail(f"{what}: reading weights with open_model() raised {_describe(exc)}", exc)
        if problems:
            _fail(f"{what}: " + "; ".join(problems))

    def test_load_missing_model_raises(self, location: Location) -> None:
        """Loading where no model is raises ModelNotFoundError."""
        self._expect_load_error(location, ModelNotFoundError, "loading from an empty location")

    # -- checks: hostile input --------------------------------------------------------------

    @pytest.mark.parametrize("case", sorted(HOSTILE_MODEL_JSON))
    def test_hostile_model_json_rejected(
        self, case: str, container: Location, location: Location
    ) -> None:
        """A malformed model.json is refused with a TfjsStoreError; nothing changes."""
        self._require_backdoor()
        data = _GOOD_WEIGHT
        if case == "string-length-overflow":
            data = b"\xff\xff\xff\xff" + _GOOD_WEIGHT[4:]
        self._write_files(location, {"model.json": HOSTILE_MODEL_JSON[case], "w.bin": data})
        before = self._snapshot(container)
        self._expect_load_error(location, TfjsStoreError, f"model.json {case}", before, container)

    @pytest.mark.parametrize("case", sorted(HOSTILE_WEIGHT_FILES))
    def test_hostile_weight_files_rejected(
        self, case: str, container: Location, location: Location
    ) -> None:
        """Weight files shorter, longer or missing are refused with a TfjsStoreError."""
        self._require_backdoor()
        model_json, files = HOSTILE_WEIGHT_FILES[case]
        self._write_files(location, {"model.json": _json(model_json), **files})
        before = self._snapshot(container)
        self._expect_load_error(location, TfjsStoreError, f"weight files {case}", before, container)

    @pytest.mark.parametrize("case", sorted(ESCAPING_PATHS))
    def test_hostile_escaping_path_rejected(
        self, case: str, container: Location, location: Location
    ) -> None:
        """A manifest path leaving the model's folder is refused (UnsafePathError), even
        when a valid weight file waits where the path leads."""
        self._require_backdoor()
        path, plant = ESCAPING_PATHS[case]
        if plant:
            where, rel = self.escape_plant(container, location)
            self.backdoor_write(where, rel, _GOOD_WEIGHT)
        self._write_files(location, {"model.json": _json(_manifest([path]))})
        before = self._snapshot(container)
        self._expect_load_error(
            location, UnsafePathError, f"manifest path {path!r}", before, container
        )

    # -- checks: listing --------------------------------------------------------------------

    def _check_listing(
        self, container: Location, expected: Mapping[str, tuple[Location, int, int | None]]
    ) -> None:
        try:
            listed = dict(self.open_handler(container).list_models())
        except Exception as exc:
            _fail(f"list_models() raised {_describe(exc)}", exc)
        problems = []
        matched: set[str] = set()
        for name, (loc, data_bytes, topo_bytes) in expected.items():
            keys = [k for k in listed if self.same_location(k, loc)]
            if not keys:
                problems.append(f"model {name!r} ({loc.url}) is not listed")
                continue
            matched.update(keys)
            info = listed[keys[0]]
            problem = self._listed_key_loads(keys[0], container, data_bytes)
            if problem:
                problems.append(f"model {name!r}: {problem}")
            if info.weight_data_bytes != data_bytes:
                problems.append(
                    f"model {name!r}: listed weightDataBytes {info.weight_data_bytes}, "
                    f"stored {data_bytes}"
                )
            if topo_bytes is not None and info.model_topology_bytes != topo_bytes:
                problems.append(
                    f"model {name!r}: listed modelTopologyBytes {info.model_topology_bytes}, "
                    f"TF.js's formula gives {topo_bytes}"
                )
        extra = sorted(set(listed) - matched)
        if extra:
            problems.append(f"listed something that is not a model: {extra}")
        if problems:
            _fail("list_models(): " + "; ".join(problems) + f" (listed: {sorted(listed)})")

    def _listed_key_loads(self, key: str, container: Location, data_bytes: int) -> str | None:
        """A listing key is a URL that loads that model again, with the container's
        options (host, port, archive and all)."""
        try:
            loaded = tfjs_store.load(self.open_handler(Location(key, container.options)))
        except Exception as exc:
            return f"its listing key {key!r} does not load again: {_describe(exc)}"
        if loaded.weight_data_bytes != data_bytes:
            return (f"its listing key {key!r} loads a model of {loaded.weight_data_bytes} "
                    f"weight bytes, not {data_bytes}")
        return None

    def test_list_models_written_by_tfjs(self, container: Location) -> None:
        """Models TF.js wrote are listed (nested ones too); a folder with weight files but
        no model.json is not."""
        self._require("listing")
        self._require_backdoor()
        expected = {}
        for name, layout in (("a", "browser"), ("b/c", "tfjs-node")):
            loc = self.location_in(container, name)
            files = layout_files(layout)
            self._write_files(loc, files)
            info = layout_expected(layout)["modelArtifactsInfo"]
            expected[name] = (loc, info["weightDataBytes"], info["modelTopologyBytes"])
        self.backdoor_write(self.location_in(container, "junk"), "group1-shard1of1.bin", b"\0" * 8)
        self._check_listing(container, expected)


def _norm_url(url: str, json_name: str) -> str:
    url = url.rstrip("/")
    if url.endswith("/" + json_name):
        url = url[: -len(json_name) - 1]
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "file:" + posixpath.normpath(url)
    return f"{scheme.lower()}:{rest.lstrip('/')}"


class HandlerTests(ReadOnlyHandlerTests):
    """Every check a handler that saves and loads must pass.

    Subclass it and give the back door (see the module's docstring); declare what the
    handler cannot do with the ``supports_*`` flags.
    """

    supports_removal: ClassVar[bool] = True
    supports_overwrite: ClassVar[bool] = True
    supports_concurrency: ClassVar[bool] = True
    supports_copy: ClassVar[bool] = True
    """Copy and move between two URLs with ``tfjs_store.copy_model``/``move_model``."""
    concurrent_saves_per_writer: ClassVar[int] = 6
    """Saves each of the two writers makes in the torn-read check (more: a longer run)."""
    sharding_options: ClassVar[Mapping[str, Any] | None] = None
    """Save options that make the handler cut weights into small files (e.g.
    ``{"shard_size_bytes": 64}``); ``None`` if it has none."""

    def open_faulty_handler(self, location: Location, fail_at: int | None) -> FaultyHandler | None:
        """A handler for ``location`` whose storage fails at its ``fail_at``-th
        storage-changing step and every step after (as if the process died there);
        ``fail_at=None`` only counts the steps. ``None``: not supported (the
        interrupted-save checks are skipped)."""
        return None

    # -- helpers ---------------------------------------------------------------------------

    def _save(
        self, location: Location, model: ModelArtifacts, doing: str, **options: Any
    ) -> SaveResult:
        try:
            handler = self.open_handler(location, **options)
            return tfjs_store.save(model, handler)
        except Exception as exc:
            _fail(f"{doing}: save() raised {_describe(exc)}", exc)

    def _roundtrip(self, location: Location, name: str, **options: Any) -> ModelArtifacts:
        model = corpus_model(name)
        self._save(location, model, f"saving corpus model {name!r}", **options)
        loaded = self._load(location, f"loading corpus model {name!r} just saved")
        problems = artifacts_problems(model, loaded)
        if problems:
            _fail(f"corpus model {name!r} did not round-trip: " + "; ".join(problems))
        return loaded

    def _stored_manifest(self, location: Location) -> ModelJSON:
        raw = self.backdoor_read(location, location.json_name)
        try:
            obj = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except ValueError as exc:
            _fail(f"the stored {location.json_name} is not valid UTF-8 JSON: {exc}")
        try:
            return ModelJSON.parse(obj, f"the stored {location.json_name}")
        except InvalidModelError as exc:
            _fail(f"the stored {location.json_name} is not a TF.js model.json: {exc}")

    def _sharding(self) -> dict[str, Any]:
        return dict(self.sharding_options or {})

    # -- checks: round trips ---------------------------------------------------------------

    def test_roundtrip_every_dtype(self, location: Location) -> None:
        """float32 (NaN payloads, -0, inf), int32, bool, complex64 and string weights come
        back byte for byte."""
        self._roundtrip(location, "every-dtype")

    def test_roundtrip_strings(self, location: Location) -> None:
        """Empty, unicode, NUL-carrying, raw-byte and zero-element string tensors."""
        self._roundtrip(location, "strings")

    def test_roundtrip_quantized_weights(self, location: Location) -> None:
        """uint8/uint16/float16 quantized weights keep their quantization and bytes."""
        self._roundtrip(location, "quantized")

    def test_roundtrip_optimizer_weights(self, location: Location) -> None:
        """Weights of group 'optimizer' keep their group, and the trainingConfig stays."""
        self._roundtrip(location, "optimizer")

    @pytest.mark.parametrize("model", ["zero-byte", "zero-byte-mixed", "no-weights"])
    def test_roundtrip_zero_byte_weights(self, model: str, location: Location) -> None:
        """Weights with no elements, a model with no weight bytes, a model with no weights."""
        self._roundtrip(location, model)

    def test_roundtrip_many_shards(self, location: Location) -> None:
        """40 weights cut into dozens of small files come back whole and in order."""
        self._roundtrip(location, "many-shards", **self._sharding())
        if self.sharding_options and self._has_backdoor():
            paths = self._stored_manifest(location).weight_paths
            if len(paths) < 10:
                _fail(
                    f"sharding_options {dict(self.sharding_options)} were given but the stored "
                    f"model has only {len(paths)} weight file(s): the check did not test shards"
                )

    def test_roundtrip_weight_straddling_shards(self, location: Location) -> None:
        """A weight handed over in pieces cut mid-element, and stored across files."""
        self._roundtrip(location, "straddle", **self._sharding())

    def test_partial_reads_after_save(self, container: Location) -> None:
        """Where the store declares ranged reads, weights saved across files and read
        one by one with ``open_model`` equal ``load``'s (strings, quantized, straddling)."""
        for name in ("straddle", "strings", "quantized"):
            here = self.location_in(container, name)
            self._save(here, corpus_model(name), f"saving corpus model {name!r}",
                       **self._sharding())
            self._check_partial_reads(here, f"corpus model {name!r}")

    def test_roundtrip_unicode_names(self, location: Location) -> None:
        """Unicode, quotes, backslashes and slashes in names, topology and metadata."""
        self._roundtrip(location, "unicode-names")

    def test_roundtrip_training_config_and_metadata(self, location: Location) -> None:
        """trainingConfig, format, generatedBy, convertedBy, signature,
        userDefinedMetadata, modelInitializer and initializerSignature survive."""
        self._roundtrip(location, "metadata")

    def test_roundtrip_large_model(
        self, location: Location, request: pytest.FixtureRequest
    ) -> None:
        """Over 1 GiB of weights (opt-in: ``--conformance-large``)."""
        try:
            enabled = bool(request.config.getoption("conformance_large"))
        except ValueError:
            enabled = False
        if not enabled:
            pytest.skip(
                "the large tier (over 1 GiB) is opt-in: tfjs-store conformance TARGET --large "
                "(--conformance-large under pytest)"
            )
        import hashlib

        model = large_model()
        want_specs = spec_objects(model.weight_specs)
        digest = hashlib.sha256()
        for buf in model.buffers:
            digest.update(buf)
        want_size = model.weight_data_bytes
        self._save(location, model, "saving the large model")
        del model
        loaded = self._load(location, "loading the large model")
        got = hashlib.sha256()
        for buf in loaded.buffers:
            got.update(buf)
        problems = []
        if spec_objects(loaded.weight_specs) != want_specs:
            problems.append("the weight specs differ")
        if loaded.weight_data_bytes != want_size:
            problems.append(f"{loaded.weight_data_bytes} bytes loaded of {want_size}")
        elif got.digest() != digest.digest():
            problems.append("the weight bytes differ (SHA-256)")
        if problems:
            _fail("the large model did not round-trip: " + "; ".join(problems))

    @pytest.mark.parametrize("model", ["every-dtype", "strings", "many-shards", "optimizer"])
    def test_stored_model_is_valid_tfjs(self, model: str, location: Location) -> None:
        """What the handler stored is a model TF.js reads: a valid model.json whose
        manifest names files, inside the location, that hold exactly the weights, group
        by group, in manifest order."""
        self._require_backdoor()
        artifacts = corpus_model(model)
        self._save(location, artifacts, f"saving corpus model {model!r}", **self._sharding())
        stored = self._stored_manifest(location)
        problems = []
        if spec_objects(stored.weight_specs) != spec_objects(artifacts.weight_specs):
            problems.append("the stored manifest's weight specs are not the saved ones")
        if stored.model_topology != artifacts.model_topology:
            problems.append("the stored modelTopology is not the saved one")
        pieces = []
        for g, group in enumerate(stored.weights_manifest or [], start=1):
            group_bytes = b""
            for path in group.paths:
                rel = _strip_dot(path)
                norm = posixpath.normpath(rel) if rel else rel
                if not rel or norm.startswith("..") or "://" in rel or rel.startswith("/"):
                    problems.append(f"manifest path {path!r} does not stay in the model's folder")
                    continue
                try:
                    group_bytes += self.backdoor_read(location, norm)
                except FileNotFoundError:
                    problems.append(f"weight file {path!r} named in the manifest is not stored")
            need = _group_size(group.weights, group_bytes)
            if need != len(group_bytes):
                problems.append(
                    f"group {g} ({len(group.paths)} file(s)) holds {len(group_bytes)} bytes, its "
                    f"weights need {need}"
                )
            pieces.append(group_bytes)
        problems += weight_bytes_problems(
            list(artifacts.weight_specs or []), joined_bytes(artifacts), b"".join(pieces), "stored"
        )
        if problems:
            _fail(
                f"the stored {model!r} model is not what TF.js would read back: "
                + "; ".join(problems)
            )

    # -- checks: SaveResult ----------------------------------------------------------------

    @pytest.mark.parametrize("case", ["browser", "tfjs-node", "unicode-names", "every-dtype"])
    def test_save_result_byte_counts(self, case: str, location: Location) -> None:
        """``SaveResult.model_artifacts_info`` counts bytes as TF.js does: UTF-8 length of
        JSON.stringify(modelTopology) and of JSON.stringify(weightSpecs), and the total
        weight bytes; dated now."""
        if case in LAYOUTS:
            files = layout_files(case)
            model_json = ModelJSON.parse(json.loads(files["model.json"]))
            buffers = [files[_strip_dot(p)] for p in model_json.weight_paths]
            artifacts = ModelArtifacts.from_model_json(model_json, buffers)
            want = layout_expected(case)["modelArtifactsInfo"]
            source = "measured by TF.js 4.22.0"
        else:
            artifacts = corpus_model(case)
            want = {
                "modelTopologyType": "JSON",
                "modelTopologyBytes": js_json_byte_length(artifacts.model_topology),
                "weightSpecsBytes": js_json_byte_length(spec_objects(artifacts.weight_specs)),
                "weightDataBytes": artifacts.weight_data_bytes,
            }
            source = "by TF.js's formula"
        before = time.time()
        result = self._save(location, artifacts, f"saving {case!r}")
        after = time.time()
        info = result.model_artifacts_info
        got = {
            "modelTopologyType": info.model_topology_type,
            "modelTopologyBytes": info.model_topology_bytes,
            "weightSpecsBytes": info.weight_specs_bytes,
            "weightDataBytes": info.weight_data_bytes,
        }
        problems = [
            f"{key} is {got[key]!r}, {source} {want[key]!r}"
            for key in want
            if got[key] != want[key]
        ]
        saved = info.date_saved
        if not isinstance(saved, datetime):
            problems.append(f"dateSaved is {saved!r}, not a datetime")
        else:
            stamp = (saved if saved.tzinfo else saved.replace(tzinfo=timezone.utc)).timestamp()
            if not before - 300 <= stamp <= after + 300:
                problems.append(f"dateSaved {saved.isoformat()} is not the time of the save")
        if problems:
            _fail(f"SaveResult.model_artifacts_info for {case!r}: " + "; ".join(problems))

    # -- checks: overwrite and failure -----------------------------------------------------

    def test_overwrite_replaces_completely(self, location: Location) -> None:
        """A second save replaces the first completely: its weights, its metadata (no
        trainingConfig left behind) and, through the back door, its files."""
        self._require("overwrite")
        first, second = corpus_model("metadata"), corpus_model("zero-byte-mixed")
        self._save(location, corpus_model("many-shards"), "the first save", **self._sharding())
        self._save(location, first, "the second save", **self._sharding())
        self._save(location, second, "the overwriting save", **self._sharding())
        loaded = self._load(location, "loading after the overwrite")
        problems = artifacts_problems(second, loaded)
        if problems:
            _fail("after overwriting, the model is not the second one: " + "; ".join(problems))
        if self._has_backdoor():
            stored = self._stored_manifest(location)
            keep = {location.json_name} | {
                posixpath.normpath(_strip_dot(p)) for p in stored.weight_paths
            }
            left = sorted(set(self.backdoor_list(location)) - keep)
            if left:
                _fail(f"files of the replaced models remain next to the new one: {left}")

    def _faulty(self, location: Location, fail_at: int | None) -> FaultyHandler:
        faulty = self.open_faulty_handler(location, fail_at)
        if faulty is None:
            pytest.skip("no fault injection: give open_faulty_handler() to check interrupted saves")
        return faulty

    def test_interrupted_save_keeps_previous_model(self, container: Location) -> None:
        """A save that dies at any storage step leaves the previous model loadable and
        whole (or, once the new one is committed, the new one), never a mix."""
        self._require("overwrite")
        old, new = _twin_models()
        probe = self.location_in(container, "probe")
        self._save(probe, old, "saving the first model", **self._sharding())
        counter = self._faulty(probe, None)
        try:
            tfjs_store.save(new, counter.handler)
        except Exception as exc:
            _fail(
                f"a save through the fault-injecting handler (no fault) raised {_describe(exc)}",
                exc,
            )
        steps = counter.steps()
        if steps < 1:
            _fail(
                "the fault-injecting handler counted no storage step: faults cannot reach the save"
            )
        problems = []
        for n in range(1, steps + 1):
            loc = self.location_in(container, f"step{n}")
            self._save(loc, old, f"saving the first model (step {n})", **self._sharding())
            faulty = self._faulty(loc, n)
            error: BaseException | None = None
            try:
                tfjs_store.save(new, faulty.handler)
            except Exception as exc:
                error = exc
            what = faulty.describe(n) if faulty.describe else f"step {n}"
            try:
                state = tfjs_store.load(self.open_handler(loc))
            except Exception as exc:
                problems.append(
                    f"storage failing at step {n} of {steps} ({what}): the model no longer "
                    f"loads: {_describe(exc)}"
                )
                continue
            as_old, as_new = artifacts_problems(old, state), artifacts_problems(new, state)
            if error is None and as_new:
                problems.append(
                    f"storage failing at step {n} of {steps} ({what}): save() reported success "
                    f"but the stored model is not the new one: {as_new[0]}"
                )
            elif as_old and as_new:
                problems.append(
                    f"storage failing at step {n} of {steps} ({what}): the stored model is "
                    f"neither the previous nor the new one (a torn model): {as_old[0]}"
                )
        if problems:
            _fail(f"{len(problems)} interrupted save(s) broke the model: " + " | ".join(problems))

    def test_storage_failure_raises_typed_error(self, location: Location) -> None:
        """When the storage fails, save() raises a TfjsStoreError (StorageError), not the
        storage library's own exception."""
        old, new = _twin_models()
        self._save(location, old, "saving the first model")
        faulty = self._faulty(location, 1)
        try:
            tfjs_store.save(new, faulty.handler)
        except TfjsStoreError:
            return
        except Exception as exc:
            _fail(
                f"storage failing at its first step: save() raised {_describe(exc)}, not a "
                "TfjsStoreError such as StorageError",
                exc,
            )
        _fail("storage failing at its first step: save() reported success")

    # -- checks: management ----------------------------------------------------------------

    def test_list_models(self, container: Location) -> None:
        """Saved models are listed with their byte counts; nothing else is."""
        self._require("listing")
        expected = {}
        for name, model in (("a", "every-dtype"), ("b/nested", "optimizer")):
            loc = self.location_in(container, name)
            artifacts = corpus_model(model)
            self._save(loc, artifacts, f"saving {name!r}")
            expected[name] = (
                loc,
                artifacts.weight_data_bytes,
                js_json_byte_length(artifacts.model_topology),
            )
        self._check_listing(container, expected)

    def test_remove_model(self, container: Location) -> None:
        """remove_model() removes one model (and its files) and reports its info; the
        model next to it stays."""
        self._require("removal")
        gone, kept = self.location_in(container, "gone"), self.location_in(container, "kept")
        model, other = corpus_model("every-dtype"), corpus_model("optimizer")
        self._save(gone, model, "saving the model to remove", **self._sharding())
        self._save(kept, other, "saving the model to keep")
        try:
            info = self.open_handler(gone).remove_model()
        except Exception as exc:
            _fail(f"remove_model() raised {_describe(exc)}", exc)
        problems = []
        if getattr(info, "weight_data_bytes", None) != model.weight_data_bytes:
            problems.append(
                "remove_model() reported weightDataBytes "
                f"{getattr(info, 'weight_data_bytes', info)!r}, "
                f"the model had {model.weight_data_bytes}"
            )
        try:
            tfjs_store.load(self.open_handler(gone))
            problems.append("the removed model still loads")
        except ModelNotFoundError:
            pass
        except Exception as exc:
            problems.append(
                f"loading the removed model raised {_describe(exc)}, not ModelNotFoundError"
            )
        if self._has_backdoor():
            left = self.backdoor_list(gone)
            if left:
                problems.append(f"files of the removed model remain: {sorted(left)}")
        kept_problems = artifacts_problems(other, self._load(kept, "loading the model next to it"))
        if kept_problems:
            problems.append("the model next to it changed: " + kept_problems[0])
        if problems:
            _fail("remove_model(): " + "; ".join(problems))

    def test_remove_missing_model_raises(self, location: Location) -> None:
        """remove_model() where no model is raises ModelNotFoundError."""
        self._require("removal")
        try:
            self.open_handler(location).remove_model()
        except ModelNotFoundError:
            return
        except Exception as exc:
            _fail(
                f"remove_model() of a missing model raised {_describe(exc)}, "
                "not ModelNotFoundError",
                exc,
            )
        _fail("remove_model() of a missing model returned instead of raising ModelNotFoundError")

    def _url_options(self, location: Location) -> tuple[Any, dict[str, Any]]:
        options = dict(location.options)
        storage = options.pop("storage_options", None)
        if type(self).handler_factory is not None:
            pytest.skip("handler_factory is set: copy_model/move_model find handlers by URL")
        return storage, options

    def test_copy_model(self, container: Location) -> None:
        """tfjs_store.copy_model() between two locations: the copy is the same model,
        the source is untouched."""
        self._require("copy")
        src, dst = self.location_in(container, "src"), self.location_in(container, "dst")
        storage, options = self._url_options(src)
        model = corpus_model("quantized")
        self._save(src, model, "saving the source")
        try:
            info = tfjs_store.copy_model(
                src.url,
                dst.url,
                src_storage_options=storage,
                dst_storage_options=storage,
                **options,
            )
        except Exception as exc:
            _fail(f"copy_model() raised {_describe(exc)}", exc)
        problems = []
        if info.weight_data_bytes != model.weight_data_bytes:
            problems.append(f"copy_model() reported weightDataBytes {info.weight_data_bytes}")
        for loc, role in ((dst, "copy"), (src, "source")):
            diff = artifacts_problems(model, self._load(loc, f"loading the {role}"), what=role)
            if diff:
                problems.append(f"the {role} is not the model: {diff[0]}")
        if problems:
            _fail("copy_model(): " + "; ".join(problems))

    def test_move_model(self, container: Location) -> None:
        """tfjs_store.move_model(): the model is at the destination and gone from the
        source."""
        self._require("copy")
        self._require("removal")
        src, dst = self.location_in(container, "src"), self.location_in(container, "dst")
        storage, options = self._url_options(src)
        model = corpus_model("strings")
        self._save(src, model, "saving the source")
        try:
            tfjs_store.move_model(
                src.url,
                dst.url,
                src_storage_options=storage,
                dst_storage_options=storage,
                **options,
            )
        except Exception as exc:
            _fail(f"move_model() raised {_describe(exc)}", exc)
        problems = artifacts_problems(
            model, self._load(dst, "loading the moved model"), what="moved"
        )
        try:
            tfjs_store.load(self.open_handler(src))
            problems.append("the source still loads after the move")
        except ModelNotFoundError:
            pass
        except Exception as exc:
            problems.append(f"loading the moved-away source raised {_describe(exc)}")
        if problems:
            _fail("move_model(): " + "; ".join(problems))

    # -- checks: the storage's own checksums ------------------------------------------------

    def test_stored_checksums_are_truthful(self, location: Location) -> None:
        """A store that declares ``keeps_checksums`` tells, for each file it wrote, the
        CRC32C of the bytes stored; a file rewritten behind its back never keeps the old
        value (``verify(remote=True)`` would otherwise prove a changed file intact)."""
        self._require_backdoor()
        store = getattr(self.open_handler(location), "store", None)
        if not isinstance(store, ByteStore) or not store.keeps_checksums:
            pytest.skip("the store does not declare keeps_checksums")
        self._save(location, corpus_model("many-shards"), "saving a sharded model",
                   **self._sharding())
        paths = [posixpath.normpath(_strip_dot(p))
                 for p in self._stored_manifest(location).weight_paths]
        try:
            kept = store.stored_checksums(paths)
        except Exception as exc:
            _fail(f"stored_checksums() raised {_describe(exc)}", exc)
        if not kept:
            _fail("the store declares keeps_checksums but stored_checksums() told none of "
                  f"the {len(paths)} files it just wrote")
        for path, sums in kept.items():
            actual = crc32c_b64(self.backdoor_read(location, path))
            if sums.get("crc32c", actual) != actual:
                _fail(f"stored_checksums() says CRC32C {sums['crc32c']} for {path}, but its "
                      f"stored bytes have {actual}")
        victim = next(iter(kept))
        data = bytearray(self.backdoor_read(location, victim))
        data[len(data) // 2] ^= 0x01
        self.backdoor_write(location, victim, bytes(data))
        store.refresh()
        after = store.stored_checksums([victim]).get(victim, {}).get("crc32c")
        if after == kept[victim].get("crc32c"):
            _fail(f"{victim} was rewritten with one bit flipped, but stored_checksums() "
                  f"still tells its old CRC32C {after}")
        if after is not None and after != crc32c_b64(bytes(data)):
            _fail(f"{victim} was rewritten: stored_checksums() tells CRC32C {after}, but the "
                  f"new bytes have {crc32c_b64(bytes(data))}")

    # -- checks: concurrency ---------------------------------------------------------------

    def test_concurrent_saves_and_loads_never_torn(self, location: Location) -> None:
        """Two writers saving and two readers loading one location at once: every load
        returns one of the saved models, whole (and at least ``TORN_CHECK_MIN_LOADS``
        loads started while saves ran)."""
        self._require("concurrency")
        self._require("overwrite")
        store = getattr(self.open_handler(location), "store", None)
        if not getattr(store, "atomic_commit", True):
            pytest.skip(
                "the store declares atomic_commit = False: it replaces model.json in place "
                "(no atomic put, no rename over a file), so a reader may see a partial one"
            )
        first, second = _twin_models()
        third = _pair(3, "other")  # other names and sizes
        models = [first, second, third]
        self._save(location, first, "saving the first model", **self._sharding())
        saves_per_writer = self.concurrent_saves_per_writer
        deadline = time.monotonic() + 120
        problems: list[str] = []
        lock = threading.Lock()
        writers_done = threading.Event()
        loads = [0]

        def note(problem: str) -> None:
            with lock:
                if len(problems) < 5:
                    problems.append(problem)

        def writer(k: int) -> None:
            for i in range(saves_per_writer):
                if time.monotonic() > deadline:
                    return
                model = models[(i + k) % len(models)]
                try:
                    tfjs_store.save(model, self.open_handler(location, **self._sharding()))
                except Exception as exc:
                    note(f"a concurrent save raised {_describe(exc)}")

        def reader() -> None:
            while not writers_done.is_set() and time.monotonic() < deadline:
                try:
                    got = tfjs_store.load(self.open_handler(location))
                except Exception as exc:
                    note(f"a load during concurrent saves raised {_describe(exc)}")
                    continue
                with lock:
                    loads[0] += 1
                diffs = [artifacts_problems(m, got) for m in models]
                if all(diffs):
                    best = min(diffs, key=len)
                    note(f"a load returned a torn model, none of the saved ones: {best[0]}")

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
        readers = [threading.Thread(target=reader) for _ in range(2)]
        for t in threads + readers:
            t.start()
        for t in threads:
            t.join()
        writers_done.set()
        for t in readers:
            t.join()
        if loads[0] < TORN_CHECK_MIN_LOADS and not problems:
            problems.append(f"only {loads[0]} loads started while the saves ran (the check "
                            f"needs {TORN_CHECK_MIN_LOADS}): nothing was checked")
        final = self._load(location, "loading after the concurrent saves")
        if all(artifacts_problems(m, final) for m in models):
            problems.append("after the concurrent saves the stored model is none of the saved ones")
        if problems:
            _fail(f"concurrent saves and loads ({loads[0]} loads): " + " | ".join(problems))


    def test_conditional_saves_refuse_a_stale_writer(self, location: Location) -> None:
        """Where the store declares conditional commits (``supports_conditional_commit``):
        four writers that read the same version all save with ``if_match`` at once;
        exactly one commits, the others get ``ConflictError``, and the stored model.json
        is the winner's."""
        self._require("concurrency")
        self._require("overwrite")
        probe = self.open_handler(location, **self._sharding())
        if not getattr(getattr(probe, "store", None), "supports_conditional_commit", False):
            pytest.skip("the store does not declare conditional commits")
        if "if_match" not in inspect.signature(probe.save).parameters:
            pytest.skip("the handler's save() takes no if_match")
        if getattr(probe, "layout", "shards") != "shards":
            pytest.skip("conditional saves need the shards layout (others rewrite in place)")
        models = [_pair(10 + k, f"writer{k}") for k in range(4)]
        self._save(location, _pair(9, "base"), "saving the first model", **self._sharding())
        problems: list[str] = []
        for round_ in range(3):
            # model.json alone: this check is about the commit, not the weights
            token = self.open_handler(location).version()
            if not token:
                _fail("the model has no version on a store that declares conditional commits")
            barrier = threading.Barrier(len(models))
            outcomes: list[Any] = [None] * len(models)

            def writer(
                k: int, token: str = token, barrier: threading.Barrier = barrier,
                outcomes: list[Any] = outcomes,
            ) -> None:
                handler = self.open_handler(location, **self._sharding())
                barrier.wait()
                try:
                    outcomes[k] = tfjs_store.save(models[k], handler, if_match=token)
                except Exception as exc:
                    outcomes[k] = exc

            threads = [threading.Thread(target=writer, args=(k,)) for k in range(len(models))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            won = [k for k, o in enumerate(outcomes) if isinstance(o, SaveResult)]
            wrong = [o for o in outcomes
                     if not isinstance(o, (SaveResult, tfjs_store.ConflictError))]
            if wrong:
                problems.append(f"round {round_}: a racing save raised {_describe(wrong[0])}")
            if len(won) != 1:
                problems.append(f"round {round_}: {len(won)} of {len(models)} writers "
                                "committed against the same version (exactly 1 may)")
                continue
            stored = self.open_handler(location).read_model_json()
            if stored.model_topology != models[won[0]].model_topology:
                problems.append(f"round {round_}: the stored model.json is not the winner's")
        if problems:
            _fail("conditional saves: " + " | ".join(problems))


def _group_size(specs: list[WeightSpec], data: bytes) -> int:
    """Bytes the weights of one group take, walking string length prefixes in ``data``."""
    pos = 0
    for spec in specs:
        size = spec.byte_length
        if size is None:
            for _ in range(spec.size):
                if pos + 4 > len(data):
                    return len(data) + 1  # a length prefix past the end
                pos += 4 + int.from_bytes(data[pos : pos + 4], "little")
        else:
            pos += size
    return pos
