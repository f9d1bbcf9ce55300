"""Real TF.js in Debian's Chromium: the browser schemes and the bridge into an S3 bucket.

The page (tests/js/browser/page.js, TF.js 4.22.0's tf.min.js, cpu backend) is served
from one origin; two bridges over folders of a bucket on moto's S3 server listen on
other ports, so every request to them is cross-origin and CORS is really exercised:

* ``shards``: the default layout, small shards (several per model), no token;
* ``single``: TF.js's two files byte for byte, bearer token (the page's PUT with an
  Authorization header is preflighted).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.browser import (
    BROWSER_JS_DIR,
    TFJS_BUNDLE,
    ensure_chromium,
    run_playwright,
    running_bridge,
    running_static,
)
from support.servers import s3_storage_options
from support.tfjs import ensure_node_modules, node_executable

import tfjs_store

pytestmark = [pytest.mark.browser, pytest.mark.s3, pytest.mark.timeout(300)]

TOKEN = "browser-test-token"
SHARD = 256


def _weights_hex(artifacts: tfjs_store.ModelArtifacts) -> list[dict[str, Any]]:
    out = []
    for spec, array in zip(artifacts.weight_specs or [], artifacts.weights().values(), strict=True):
        out.append(
            {
                "name": spec.name,
                "shape": list(spec.shape),
                "hex": np.ascontiguousarray(array, "<f4").tobytes().hex(),
            }
        )
    return out


@pytest.fixture(scope="module")
def browser_run(
    tmp_path_factory: pytest.TempPathFactory, s3_server: Any, s3_bucket: str
) -> dict[str, Any]:
    if node_executable() is None:
        pytest.skip("Node.js is not installed (needed for playwright-core)")
    ensure_node_modules()
    chromium = ensure_chromium()
    options = s3_storage_options(s3_server.url)
    root = f"s3://{s3_bucket}/browser-{uuid.uuid4().hex[:8]}"
    downloads = tmp_path_factory.mktemp("downloads")
    page_routes = {
        "/index.html": ((BROWSER_JS_DIR / "index.html").read_bytes(), "text/html; charset=utf-8"),
        "/page.js": ((BROWSER_JS_DIR / "page.js").read_bytes(), "text/javascript"),
        "/tf.min.js": (TFJS_BUNDLE.read_bytes(), "text/javascript"),
    }
    shards_options = {"cors_origins": [], "shard_size_bytes": SHARD}
    single_options = {"cors_origins": [], "token": TOKEN, "upload_form": "single"}
    with running_static(page_routes) as page_url:
        shards_options["cors_origins"] = single_options["cors_origins"] = [page_url]
        with (
            running_bridge(f"{root}/shards", storage_options=options, **shards_options) as shards,
            running_bridge(f"{root}/single", storage_options=options, **single_options) as single,
        ):
            answer = run_playwright(
                {
                    "executablePath": chromium,
                    "pageUrl": f"{page_url}/index.html",
                    "downloadsDir": str(downloads),
                    "expectDownloads": 2,
                    "args": {
                        "bridgeShards": shards,
                        "bridgeSingle": single,
                        "token": TOKEN,
                        "name": "m",
                    },
                }
            )
    fs = s3_fs(options)
    return {
        "answer": answer,
        "result": answer["result"],
        "downloads": downloads,
        "root": root,
        "options": options,
        "fs": fs,
        "page_url": page_url,
    }


def s3_fs(options: dict[str, Any]) -> Any:
    import fsspec

    return fsspec.filesystem("s3", **{**options, "use_listings_cache": False})


def test_page_ran_real_tfjs_on_cpu_cross_origin(browser_run: dict[str, Any]) -> None:
    result = browser_run["result"]
    assert result["backend"] == "cpu"
    assert result["origin"] == browser_run["page_url"]
    assert {"localstorage://m", "indexeddb://m", "indexeddb://m-from-bridge"} <= set(
        result["browserModels"]
    )


def test_downloads_pair_loads_in_python(browser_run: dict[str, Any]) -> None:
    downloads: Path = browser_run["downloads"]
    assert sorted(browser_run["answer"]["downloads"]) == ["m.json", "m.weights.bin"]
    artifacts = tfjs_store.load(str(downloads / "m.json"))
    assert _weights_hex(artifacts) == browser_run["result"]["weights"]
    model_json = json.loads((downloads / "m.json").read_bytes())
    assert model_json["weightsManifest"][0]["paths"] == ["./m.weights.bin"]


def test_single_upload_form_arrives_byte_exact(browser_run: dict[str, Any]) -> None:
    """The PUT through the bridge stores exactly the bytes TF.js sends (= its downloads)."""
    result = browser_run["result"]
    assert result["putStatus"] == 200
    assert result["putBody"]["name"] == "m"
    assert result["putBody"]["modelUrl"] == "/models/m/model.json"
    fs = browser_run["fs"]
    folder = f"{browser_run['root']}/single/m"
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.find(folder)) == [
        "model.json",
        "model.weights.bin",
    ]
    downloads: Path = browser_run["downloads"]
    sent_json = (downloads / "m.json").read_bytes()
    sent_json = sent_json.replace(b'"./m.weights.bin"', b'"./model.weights.bin"')
    assert fs.cat_file(f"{folder}/model.json") == sent_json
    assert fs.cat_file(f"{folder}/model.weights.bin") == (downloads / "m.weights.bin").read_bytes()


def test_copy_model_from_localstorage_lands_sharded_in_bucket(browser_run: dict[str, Any]) -> None:
    fs = browser_run["fs"]
    folder = f"{browser_run['root']}/shards/m"
    stored = json.loads(fs.cat_file(f"{folder}/model.json"))
    paths = [p for g in stored["weightsManifest"] for p in g["paths"]]
    assert len(paths) > 1  # resharded at the bridge's shard size
    data = b"".join(fs.cat_file(f"{folder}/{p}") for p in paths)
    downloads: Path = browser_run["downloads"]
    assert data == (downloads / "m.weights.bin").read_bytes()
    sent = json.loads((downloads / "m.json").read_bytes())
    top_keys = ["modelTopology", "format", "generatedBy", "convertedBy"]
    assert list(sent) == [*top_keys, "weightsManifest"]
    for key in top_keys:
        assert stored[key] == sent[key]
    stored_specs = [w for g in stored["weightsManifest"] for w in g["weights"]]
    assert stored_specs == sent["weightsManifest"][0]["weights"]
    info = browser_run["result"]["copyInfo"]
    assert info["weightDataBytes"] == len(data)
    loaded = tfjs_store.load(folder, storage_options=browser_run["options"])
    assert _weights_hex(loaded) == browser_run["result"]["weights"]


def test_models_loaded_back_from_the_bridge_predict_exactly(browser_run: dict[str, Any]) -> None:
    result = browser_run["result"]
    assert len(result["predictions"]) == 5 * 3 * 8  # 5 rows x 3 float32, hex
    for key in (
        "fromBridgePredictions",
        "fromIndexedDBPredictions",
        "fromSinglePredictions",
        "copiedPredictions",
    ):
        assert result[key] == result["predictions"], key
    assert result["fromIndexedDBWeights"] == result["weights"]


def test_bridge_refusals_are_visible_to_the_page(browser_run: dict[str, Any]) -> None:
    result = browser_run["result"]
    assert result["deniedError"] == (
        "BrowserHTTPRequest.save() failed due to HTTP response status 401."
    )
    assert result["badNameError"] is not None and "status 400" in result["badNameError"]
    assert not browser_run["fs"].exists(f"{browser_run['root']}/single/denied/model.json")
    names = [m["name"] for m in result["bridgeList"]["models"]]
    assert names == ["m"]


# -- picking files: <input type=file multiple>, tf.io.browserFiles, a form to the bridge ------

FIXTURES = Path(__file__).parent / "fixtures" / "tfjs"


@pytest.fixture(scope="module")
def upload_run(
    tmp_path_factory: pytest.TempPathFactory, s3_server: Any, s3_bucket: str
) -> dict[str, Any]:
    """Playwright picks a model.json and its five shard files in the file chooser of
    tests/js/browser/upload.html; the page loads them with tf.io.browserFiles, posts the
    form's data to a bridge over S3, submits the form itself too, and loads both back."""
    if node_executable() is None:
        pytest.skip("Node.js is not installed (needed for playwright-core)")
    ensure_node_modules()
    chromium = ensure_chromium()
    options = s3_storage_options(s3_server.url)
    root = f"s3://{s3_bucket}/browser-upload-{uuid.uuid4().hex[:8]}"
    folder = tmp_path_factory.mktemp("picked") / "functional"
    tfjs_store.save(
        tfjs_store.load(str(FIXTURES / "functional-node")), str(folder), shard_size_bytes=64
    )
    model_json = json.loads((folder / "model.json").read_bytes())
    shards = [p for g in model_json["weightsManifest"] for p in g["paths"]]
    assert len(shards) == 5
    expected = json.loads((FIXTURES / "functional-node" / "expected.json").read_bytes())
    page_routes = {
        "/upload.html": ((BROWSER_JS_DIR / "upload.html").read_bytes(), "text/html; charset=utf-8"),
        "/upload.js": ((BROWSER_JS_DIR / "upload.js").read_bytes(), "text/javascript"),
        "/tf.min.js": (TFJS_BUNDLE.read_bytes(), "text/javascript"),
    }
    picked = [folder / "model.json", *(folder / s for s in reversed(shards))]
    with (
        running_static(page_routes) as page_url,
        running_bridge(
            root, storage_options=options, cors_origins=[page_url], shard_size_bytes=100
        ) as bridge,
    ):
        answer = run_playwright(
            {
                "executablePath": chromium,
                "pageUrl": f"{page_url}/upload.html",
                "pickFiles": {"selector": "#model-files", "files": [str(p) for p in picked]},
                "args": {"bridge": bridge, "name": "picked", "inputs": expected["input"]},
            }
        )
    return {
        "result": answer["result"],
        "folder": folder,
        "shards": shards,
        "expected": expected,
        "root": root,
        "options": options,
        "fs": s3_fs(options),
    }


def _predictions(items: list[dict[str, Any]]) -> list[tuple[list[int], str]]:
    return [(list(p["shape"]), p["hex"]) for p in items]


def test_picked_files_load_in_tfjs_with_browser_files(upload_run: dict[str, Any]) -> None:
    result = upload_run["result"]
    assert result["backend"] == "cpu"
    assert sorted(result["picked"]) == sorted(["model.json", *upload_run["shards"]])
    expected = _predictions(upload_run["expected"]["predictions"])
    assert _predictions(result["localPredictions"]) == expected


@pytest.mark.parametrize("name", ["picked", "picked-form"])
def test_picked_files_posted_by_the_form_land_byte_exact(
    upload_run: dict[str, Any], name: str
) -> None:
    """fetch(new FormData(form)) and the form's own submission both store the model."""
    result = upload_run["result"]
    assert result["uploadStatus"] == 200 and result["uploadBody"]["name"] == "picked"
    assert result["bridgeList"] == ["picked", "picked-form"]
    fs = upload_run["fs"]
    folder: Path = upload_run["folder"]
    source = b"".join((folder / s).read_bytes() for s in upload_run["shards"])
    stored_folder = f"{upload_run['root']}/{name}"
    stored = json.loads(fs.cat_file(f"{stored_folder}/model.json"))
    paths = [p for g in stored["weightsManifest"] for p in g["paths"]]
    assert len(paths) == 4  # 316 bytes in the bridge's 100-byte shards
    assert b"".join(fs.cat_file(f"{stored_folder}/{p}") for p in paths) == source
    sent = json.loads((folder / "model.json").read_bytes())
    for key in ("modelTopology", "format", "generatedBy", "convertedBy", "userDefinedMetadata"):
        assert stored[key] == sent[key], key
    loaded = tfjs_store.load(stored_folder, storage_options=upload_run["options"])
    weights = [w["hex"] for w in upload_run["expected"]["weights"]]
    assert [np.ascontiguousarray(a).tobytes().hex() for a in loaded.weights().values()] == weights
    key = "fromBridgePredictions" if name == "picked" else "fromFormPredictions"
    assert _predictions(result[key]) == _predictions(upload_run["expected"]["predictions"])


def test_browser_files_refusals_match_load_files_word_for_word(
    upload_run: dict[str, Any],
) -> None:
    """TF.js's own tf.io.browserFiles(...).load() errors, in Chromium, and load_files's."""
    from tfjs_store.files import load_files

    folder: Path = upload_run["folder"]
    original = (folder / "model.json").read_bytes()
    cases = upload_run["result"]["malformed"]
    assert set(cases) == {
        "missing",
        "extra",
        "twice",
        "noTopology",
        "noManifest",
        "duplicateBasename",
    }
    for key, case in cases.items():
        assert case["error"], key  # TF.js refused it
        json_bytes = case["json"].encode() if case["json"] is not None else original
        weights = [
            (n, (folder / n).read_bytes() if (folder / n).exists() else bytes(4))
            for n in case["files"]
        ]
        with pytest.raises(tfjs_store.InvalidModelError) as info:
            load_files(("model.json", json_bytes), *weights)
        assert str(info.value) == case["error"], key


# -- issue 21: cross-site writes and DNS rebinding, from real pages ----------------------


@pytest.fixture(scope="module")
def crosssite_run(
    tmp_path_factory: pytest.TempPathFactory, s3_server: Any, s3_bucket: str
) -> dict[str, Any]:
    """tests/js/browser/crosssite.html posts a model to one bridge (no token, CORS for
    the allowed page's origin) with model.save(url) and with a plain <form>, from:

    * ``allowed``: the page on the origin given as ``cors_origins``;
    * ``foreign``: the same page on another origin (a second static server);
    * ``rebind``: the same page as a DNS-rebinding site serves it, at
      ``http://rebind.test:BRIDGE_PORT`` with rebind.test resolving to 127.0.0.1:
      same-origin with the bridge, so only its ``Host`` gives it away.
    """
    if node_executable() is None:
        pytest.skip("Node.js is not installed (needed for playwright-core)")
    ensure_node_modules()
    chromium = ensure_chromium()
    options = s3_storage_options(s3_server.url)
    root = f"s3://{s3_bucket}/browser-crosssite-{uuid.uuid4().hex[:8]}"
    files = {
        "/crosssite.html": (BROWSER_JS_DIR / "crosssite.html", "text/html; charset=utf-8"),
        "/crosssite.js": (BROWSER_JS_DIR / "crosssite.js", "text/javascript"),
        "/tf.min.js": (TFJS_BUNDLE, "text/javascript"),
    }
    routes = {path: (file.read_bytes(), kind) for path, (file, kind) in files.items()}
    runs: dict[str, dict[str, Any]] = {}
    with (
        running_static(routes) as allowed_page,
        running_static(routes) as foreign_page,
        running_bridge(root, storage_options=options, cors_origins=[allowed_page]) as bridge,
    ):
        for name, page_url in (("foreign", foreign_page), ("allowed", allowed_page)):
            runs[name] = run_playwright(
                {
                    "executablePath": chromium,
                    "pageUrl": f"{page_url}/crosssite.html",
                    "args": {"bridge": bridge, "name": name},
                }
            )
        rebound = f"http://rebind.test:{bridge.rsplit(':', 1)[1]}"
        runs["rebind"] = run_playwright(
            {
                "executablePath": chromium,
                "pageUrl": f"{rebound}/crosssite.html",
                "chromiumArgs": [
                    "--host-resolver-rules=MAP rebind.test 127.0.0.1",
                    # Chromium's own guard (a public page may not reach loopback) would
                    # stop the page first; Firefox and Safari have none, so the test
                    # turns it off to reach the bridge's
                    "--disable-features=LocalNetworkAccessChecks,"
                    "BlockInsecurePrivateNetworkRequests",
                ],
                "fulfill": {
                    f"{rebound}{path}": {"path": str(file), "contentType": kind}
                    for path, (file, kind) in files.items()
                },
                "args": {"bridge": None, "name": "rebind"},
            }
        )
    return {
        "runs": runs,
        "bridge": bridge,
        "rebound": rebound,
        "root": root,
        "options": options,
        "fs": s3_fs(options),
    }


def _answers(run: dict[str, Any], method: str, url: str) -> list[int]:
    return [r["status"] for r in run["responses"] if r["method"] == method and r["url"] == url]


def _stored(crosssite_run: dict[str, Any]) -> list[str]:
    fs = crosssite_run["fs"]
    root = crosssite_run["root"]
    if not fs.exists(root):
        return []
    return sorted(p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False))


def test_a_foreign_page_can_neither_save_nor_submit_a_form(
    crosssite_run: dict[str, Any],
) -> None:
    run = crosssite_run["runs"]["foreign"]
    result, bridge = run["result"], crosssite_run["bridge"]
    assert result["origin"] != result["bridge"]
    # TF.js's POST is a simple request: sent without a preflight, and refused (403) by
    # the bridge; CORS then hides the answer, so TF.js sees a failed fetch
    assert result["save"] == {"ok": False, "error": "Failed to fetch"}
    assert result["form"]["ok"] is True  # the form navigated its iframe to the answer
    assert _answers(run, "POST", f"{bridge}/models/foreign-form") == [403]
    assert result["list"]["ok"] is False  # and it cannot read what is stored
    assert not {"foreign", "foreign-form"} & set(_stored(crosssite_run))


def test_the_page_on_an_allowed_origin_saves_both_ways(crosssite_run: dict[str, Any]) -> None:
    run = crosssite_run["runs"]["allowed"]
    result, bridge = run["result"], crosssite_run["bridge"]
    assert result["save"] == {"ok": True, "status": 200}
    assert _answers(run, "POST", f"{bridge}/models/allowed-form") == [200]
    assert result["list"]["value"]["status"] == 200
    assert {"allowed", "allowed-form"} <= set(_stored(crosssite_run))
    for name in ("allowed", "allowed-form"):
        loaded = tfjs_store.load(
            f"{crosssite_run['root']}/{name}", storage_options=crosssite_run["options"]
        )
        assert [a.tolist() for a in loaded.weights().values()] == [
            [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]],
            [1.5, 1.5, 1.5],
        ]


def test_a_dns_rebinding_page_is_refused_by_host(crosssite_run: dict[str, Any]) -> None:
    run = crosssite_run["runs"]["rebind"]
    result, rebound = run["result"], crosssite_run["rebound"]
    assert result["origin"] == result["bridge"] == rebound  # same-origin with the bridge
    # same-origin, so the page reads every answer: 421, nothing else
    assert result["save"] == {
        "ok": False,
        "error": "BrowserHTTPRequest.save() failed due to HTTP response status 421.",
    }
    assert result["list"]["value"]["status"] == 421
    assert "'rebind.test'" in json.loads(result["list"]["value"]["body"])["error"]
    assert _answers(run, "POST", f"{rebound}/models/rebind") == [421]
    assert _answers(run, "POST", f"{rebound}/models/rebind-form") == [421]
    assert not {"rebind", "rebind-form"} & set(_stored(crosssite_run))
