"""The http(s) handler on a flaky link: retries, Retry-After, 404s, loads racing saves.

The peer is a real ``http.server`` in a thread serving a folder written by tfjs-store;
a ``behave(method, path, count)`` hook decides, per request, whether to answer the file
or misbehave (a status, a ``Retry-After``, a body cut short and the connection closed).
"""

from __future__ import annotations

import contextlib
import email.utils
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.threaded_http import serving

import tfjs_store
from tfjs_store.stores.http_retry import (
    BACKOFF_CAP,
    MAX_RETRY_AFTER,
    backoff_seconds,
    is_transient,
    retry_after_seconds,
)

Answer = tuple[int, dict[str, str]] | str | None
"""What ``behave`` returns: None (serve the file), (status, headers), or "cut" (send
half of the file under the full Content-Length, then close the connection)."""


@dataclass
class Site:
    base: str
    root: Path
    counts: Counter[str] = field(default_factory=Counter)
    log: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    overrides: dict[str, bytes] = field(default_factory=dict)
    """Path -> bytes served instead of the file (once; then the file again)."""

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"


@contextlib.contextmanager
def flaky_site(
    root: Path, behave: Callable[[str, str, int], Answer] = lambda m, p, n: None
) -> Iterator[Site]:
    """Serve ``root``; ``behave(method, path, n)`` (n: 1 for the first request of that
    path) may answer otherwise."""
    site = Site("", root)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, method: str) -> None:
            path = self.path.split("?", 1)[0]
            with site.lock:
                site.counts[f"{method} {path}"] += 1
                n = site.counts[f"{method} {path}"]
                site.log.append((method, path))
                override = site.overrides.pop(path, None)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            answer = behave(method, path, n)
            if isinstance(answer, tuple):
                status, headers = answer
                body = b"<html>not now</html>"
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            file = root / path.lstrip("/")
            if override is None and not file.is_file():
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = override if override is not None else file.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if answer == "cut":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        site.base = base
        yield site


def _model(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "dense/kernel": rng.standard_normal((16, 8)).astype(np.float32),
        "dense/bias": rng.standard_normal(8).astype(np.float32),
    }


def _same(loaded: tfjs_store.ModelArtifacts, weights: dict[str, np.ndarray]) -> None:
    got = loaded.weights()
    assert sorted(got) == sorted(weights)
    for name, array in weights.items():
        assert got[name].tobytes() == array.tobytes(), name


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray], list[str]]:
    """A model saved by tfjs-store in several shards: (site root, weights, shard paths)."""
    weights = _model(1)
    tfjs_store.save(weights, str(tmp_path / "m"), shard_size_bytes=128)
    shards = sorted(f"/m/{p.name}" for p in (tmp_path / "m").glob("*.bin"))
    assert len(shards) >= 3
    return tmp_path, weights, shards


def _first_try(status: int, headers: dict[str, str] | None = None) -> Callable[..., Answer]:
    return lambda method, path, n: (status, headers or {}) if n == 1 else None


# -- retried -------------------------------------------------------------------------------


def test_503_to_the_first_get_of_every_file_still_loads(stored: Any) -> None:
    root, weights, shards = stored
    fractions: list[float] = []
    with flaky_site(root, _first_try(503)) as site:
        loaded = tfjs_store.load(
            site.url("m/model.json"), retry_backoff=0.01, on_progress=fractions.append
        )
    _same(loaded, weights)
    assert site.counts["GET /m/model.json"] == 2
    assert all(site.counts[f"GET {s}"] == 2 for s in shards)
    # each file's answer counts once in the progress, retried or not
    assert len(fractions) == 2 * len(shards) and fractions == sorted(fractions)
    assert fractions[-1] == 1.0


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_honoured(stored: Any, form: str) -> None:
    root, weights, _ = stored

    def behave(method: str, path: str, n: int) -> Answer:
        if path != "/m/model.json" or n > 1:
            return None
        if form == "seconds":
            return 503, {"Retry-After": "1"}
        return 429, {"Retry-After": email.utils.formatdate(time.time() + 2, usegmt=True)}

    with flaky_site(root, behave) as site:
        start = time.monotonic()
        loaded = tfjs_store.load(site.url("m/model.json"), retry_backoff=0.01)
        elapsed = time.monotonic() - start
    _same(loaded, weights)
    assert site.counts["GET /m/model.json"] == 2
    # the backoff alone would wait 10 ms at most; an HTTP date has 1 s resolution
    assert elapsed >= (0.9 if form == "seconds" else 0.5), elapsed


def test_a_body_cut_short_is_fetched_again(stored: Any) -> None:
    root, weights, shards = stored
    with flaky_site(root, lambda m, p, n: "cut" if n == 1 else None) as site:
        loaded = tfjs_store.load(site.url("m/model.json"), retry_backoff=0.01)
    _same(loaded, weights)
    assert all(site.counts[f"GET {p}"] == 2 for p in ["/m/model.json", *shards])


@pytest.mark.parametrize("status", [408, 429, 500, 502, 504])
def test_every_transient_status_is_retried(stored: Any, status: int) -> None:
    root, weights, shards = stored
    victim = shards[1]
    behave = lambda m, p, n: (status, {}) if p == victim and n <= 2 else None  # noqa: E731
    with flaky_site(root, behave) as site:
        _same(tfjs_store.load(site.url("m/model.json"), retry_backoff=0.01), weights)
    assert site.counts[f"GET {victim}"] == 3


# -- not retried -----------------------------------------------------------------------------


def test_retries_0_fails_at_once(stored: Any) -> None:
    root, _, _ = stored
    with (
        flaky_site(root, _first_try(503)) as site,
        pytest.raises(tfjs_store.HTTPStatusError) as info,
    ):
        tfjs_store.load(site.url("m/model.json"), retries=0)
    assert info.value.status == 503
    assert site.counts["GET /m/model.json"] == 1
    assert "after" not in str(info.value)


def test_a_peer_that_always_fails_is_given_up_naming_url_and_status(stored: Any) -> None:
    root, _, shards = stored
    with (
        flaky_site(root, lambda m, p, n: (500, {})) as site,
        pytest.raises(tfjs_store.HTTPStatusError) as info,
    ):
        tfjs_store.load(site.url("m/model.json"), retries=2, retry_backoff=0.01)
    assert site.counts["GET /m/model.json"] == 3
    assert (info.value.status, info.value.url) == (500, site.url("m/model.json"))
    assert f"{site.url('m/model.json')} failed with status code 500 (after 3 tries)" in str(
        info.value
    )
    assert not isinstance(info.value, tfjs_store.ModelNotFoundError)

    victim = shards[0]
    with (
        flaky_site(root, lambda m, p, n: (502, {}) if p == victim else None) as site,
        pytest.raises(tfjs_store.HTTPStatusError) as info,
    ):
        tfjs_store.load(site.url("m/model.json"), retries=1, retry_backoff=0.01)
    assert (info.value.status, info.value.url) == (502, site.url(victim.lstrip("/")))
    assert "status code 502 (after 2 tries)" in str(info.value)
    assert site.counts[f"GET {victim}"] == 2


def test_a_404_model_json_is_model_not_found_and_http_status(tmp_path: Path) -> None:
    with flaky_site(tmp_path) as site, pytest.raises(tfjs_store.ModelNotFoundError) as info:
        tfjs_store.load(site.url("nothing/model.json"))
    assert isinstance(info.value, tfjs_store.HTTPStatusError)
    assert isinstance(info.value, FileNotFoundError)
    assert (info.value.status, info.value.url) == (404, site.url("nothing/model.json"))
    assert site.counts["GET /nothing/model.json"] == 1  # a 404 is an answer: not retried


def test_a_save_is_never_sent_twice(tmp_path: Path) -> None:
    with (
        flaky_site(tmp_path, lambda m, p, n: (503, {"Retry-After": "0"})) as site,
        pytest.raises(tfjs_store.HTTPStatusError) as info,
    ):
        tfjs_store.save(_model(2), site.url("upload"))
    assert info.value.status == 503
    assert site.log == [("POST", "/upload")]


def test_a_refused_first_connection_fails_without_waiting() -> None:
    with flaky_site(Path(".")) as site:
        pass  # the port is free again: nothing listens there
    start = time.monotonic()
    with pytest.raises(tfjs_store.StorageError, match="failed"):
        tfjs_store.load(site.url("m/model.json"), retry_backoff=1.0)
    assert time.monotonic() - start < 0.9


# -- a load racing a save ----------------------------------------------------------------------


def test_a_shard_404_after_model_json_changed_loads_the_new_model(tmp_path: Path) -> None:
    """model.json is read, then a save replaces the model (new shard names, old ones
    removed) before the shards are fetched: the load returns the new model."""
    old, new = _model(1), _model(2)
    tfjs_store.save(old, str(tmp_path / "m"), shard_size_bytes=128)
    stale = (tmp_path / "m" / "model.json").read_bytes()
    old_shards = {p.name for p in (tmp_path / "m").glob("*.bin")}
    tfjs_store.save(new, str(tmp_path / "m"), shard_size_bytes=128)
    assert not old_shards & {p.name for p in (tmp_path / "m").glob("*.bin")}
    with flaky_site(tmp_path) as site:
        site.overrides["/m/model.json"] = stale  # the first read sees the old model
        loaded = tfjs_store.load(site.url("m/model.json"))
    _same(loaded, new)
    assert site.counts["GET /m/model.json"] == 2
    assert any(site.counts[f"GET /m/{name}"] for name in old_shards)


def test_a_shard_404_with_model_json_unchanged_is_an_error(stored: Any) -> None:
    root, _, shards = stored
    victim = shards[-1]
    with (
        flaky_site(root, lambda m, p, n: (404, {}) if p == victim else None) as site,
        pytest.raises(tfjs_store.HTTPStatusError) as info,
    ):
        tfjs_store.load(site.url("m/model.json"))
    assert info.value.status == 404 and victim.rsplit("/", 1)[1] in str(info.value)
    assert site.counts["GET /m/model.json"] == 2  # read once more to see it unchanged


# -- the rules -----------------------------------------------------------------------------


def test_retry_after_and_backoff_rules() -> None:
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("100000") == MAX_RETRY_AFTER
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("-1") is None
    now = 1_700_000_000.0
    assert retry_after_seconds(email.utils.formatdate(now + 7, usegmt=True), now=now) == 7.0
    assert retry_after_seconds(email.utils.formatdate(now - 7, usegmt=True), now=now) == 0.0
    for attempt in range(12):
        ceiling = min(BACKOFF_CAP, 0.25 * 2**attempt)
        waits = [backoff_seconds(attempt, 0.25) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 1  # jittered
    assert is_transient(ConnectionResetError())
    assert not is_transient(ConnectionRefusedError())
    assert is_transient(ConnectionRefusedError(), refused=True)
    assert not is_transient(TimeoutError())


def test_bad_retry_options_are_refused() -> None:
    for bad in ({"retries": -1}, {"retries": 1.5}, {"retry_backoff": -1}):
        with pytest.raises(ValueError):
            tfjs_store.load("http://127.0.0.1:9/m/model.json", **bad)
