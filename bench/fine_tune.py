"""A fine-tuning loop saving to S3 (moto): bytes sent and time, incremental against full.

    python bench/fine_tune.py                      # 32 MiB, 20 saves (a quick run)
    python bench/fine_tune.py --size 256MiB        # issue 17's benchmark
    python bench/fine_tune.py --json out.json --s3-endpoint http://127.0.0.1:PORT

The model is ``bench/_weights.py``'s (float32 dense layers, 4 MiB shards). Each of
``--saves`` epochs changes the last layer (the last dense kernel and bias, and the head)
and saves:

- ``incremental``: to the same folder each time, as a training loop does: tfjs-store
  names shards after their content and sends only those not already stored;
- ``full``: to a new, empty folder each time: every byte is sent, as any save that
  names its files per save does (tfjs-store before content names, TF.js's converter).

Every request passes through a counting proxy (``tests/support/counting_proxy.py``), so
"bytes sent" is what went up the wire: request bodies, weight files, model.json, the
in-flight marker and the removal of replaced files. moto is started on 127.0.0.1 (and
stopped) unless ``--s3-endpoint`` names a running one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

MiB = 1024 * 1024


def _last_layer(names: list[str]) -> list[str]:
    """The weights of the model's last layer: the last dense layer's, and the head."""
    dense = [n for n in names if n.startswith("dense_")]
    last = dense[-1].split("/")[0] if dense else None
    return [n for n in names if n.startswith("head/") or (last and n.startswith(last + "/"))]


def run(size: int, saves: int, endpoint: str | None, workdir: Path) -> dict[str, Any]:
    import fsspec
    import numpy as np
    from _weights import make_weights
    from support.counting_proxy import counting_proxy

    import tfjs_store

    moto = None
    if endpoint is None:
        from support.servers import start_moto

        moto = start_moto(workdir / "moto")
        endpoint = moto.url
    try:
        bucket = f"bench-fine-tune-{int(time.time() * 1000)}"
        base = {"key": "k", "secret": "s", "client_kwargs": {"region_name": "us-west-2"}}
        fsspec.filesystem("s3", endpoint_url=endpoint, skip_instance_cache=True,
                          **base).mkdir(bucket)
        weights = make_weights(size, 0)
        changing = _last_layer(list(weights))
        results: dict[str, Any] = {}
        with counting_proxy(endpoint) as proxy:
            options = {**base, "endpoint_url": proxy.url}
            for mode in ("full", "incremental"):
                seconds, sent, requests = [], [], []
                for epoch in range(saves):
                    rng = np.random.default_rng(1000 + epoch)
                    for name in changing:  # the epoch's training step
                        weights[name] = rng.random(weights[name].shape, dtype=np.float32)
                    url = (f"s3://{bucket}/full-{epoch}" if mode == "full"
                           else f"s3://{bucket}/incremental")
                    mark = len(proxy.exchanges)
                    start = time.perf_counter()
                    tfjs_store.save(weights, url, storage_options=options)
                    seconds.append(time.perf_counter() - start)
                    exchanges = proxy.since(mark)
                    sent.append(sum(e.sent_bytes for e in exchanges))
                    requests.append(len(exchanges))
                results[mode] = {
                    "seconds_total": sum(seconds),
                    "seconds_median": statistics.median(seconds[1:] or seconds),
                    "seconds_first": seconds[0],
                    "bytes_sent_total": sum(sent),
                    "bytes_sent_first": sent[0],
                    "bytes_sent_median": statistics.median(sent[1:] or sent),
                    "requests_total": sum(requests),
                }
        changed = sum(weights[n].nbytes for n in changing)
        fsspec.filesystem("s3", endpoint_url=endpoint, skip_instance_cache=True,
                          **base).rm(bucket, recursive=True)
        return {"size": size, "saves": saves, "changed_bytes_per_save": changed,
                "changing_weights": changing, **results}
    finally:
        if moto is not None:
            moto.stop()


def markdown(r: dict[str, Any]) -> str:
    full, inc = r["full"], r["incremental"]
    lines = [
        f"Fine-tuning loop: {r['saves']} saves of {r['size'] / MiB:.0f} MiB to S3 (moto), "
        f"{r['changed_bytes_per_save'] / MiB:.2f} MiB changed per save "
        f"({time.strftime('%Y-%m-%d %H:%M')})",
        "",
        "| saves | MiB sent (total) | MiB sent per save after the first (median) | "
        "seconds (total) | seconds per save after the first (median) | requests |",
        "|---|---|---|---|---|---|",
    ]
    for mode, row in (("full (new folder each time)", full),
                      ("incremental (content-named)", inc)):
        lines.append(
            f"| {mode} | {row['bytes_sent_total'] / MiB:.1f} | "
            f"{row['bytes_sent_median'] / MiB:.2f} | {row['seconds_total']:.2f} | "
            f"{row['seconds_median']:.3f} | {row['requests_total']} |"
        )
    ratio = full["bytes_sent_total"] / max(inc["bytes_sent_total"], 1)
    speed = full["seconds_total"] / max(inc["seconds_total"], 1e-9)
    lines += ["", f"Incremental sends {ratio:.1f}x fewer bytes and takes {speed:.1f}x less "
              "time over the loop."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="32MiB", help="model size (issue 17: 256MiB)")
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--s3-endpoint", help="use this S3 server instead of starting moto")
    parser.add_argument("--json", help="also write the results here as JSON")
    args = parser.parse_args()
    from run import parse_size

    with tempfile.TemporaryDirectory(prefix="fine-tune-bench-") as work:
        result = run(parse_size(args.size), args.saves, args.s3_endpoint, Path(work))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(markdown(result))


if __name__ == "__main__":
    main()
