"""A slow link on 127.0.0.1: an HTTP reverse proxy that waits ``--delay`` seconds before
forwarding every request to ``--upstream`` (moto's S3, a static file server, ...).

    python bench/delay_proxy.py --upstream http://127.0.0.1:PORT --delay 0.05 --port-file F

The chosen port is written to ``--port-file``; the proxy stops when its standard input
closes (the harness holds the pipe), so it never outlives the benchmark. Requests and
responses pass through unchanged (Host header included, so S3 signatures still match);
only hop-by-hop headers are dropped. Bodies are buffered: this is for small shards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade", "expect", "content-length",
}


def make_app(upstream: str, delay: float, log_requests: bool = False) -> web.Application:
    app = web.Application(client_max_size=1024**3)

    async def start_session(app: web.Application) -> None:
        app["session"] = ClientSession(
            connector=TCPConnector(limit=0), timeout=ClientTimeout(total=600),
            auto_decompress=False,
        )

    async def close_session(app: web.Application) -> None:
        await app["session"].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        if log_requests:
            print(request.method, request.path_qs, file=sys.stderr, flush=True)
        await asyncio.sleep(delay)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with app["session"].request(
            request.method, upstream + request.path_qs, headers=headers,
            data=body if body or request.method in ("PUT", "POST") else None,
            allow_redirects=False,
        ) as resp:
            data = await resp.read()
            out = [(k, v) for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP]
            if request.method == "HEAD":
                length = resp.headers.get("Content-Length")
                reply = web.Response(status=resp.status, headers=out)
                if length is not None:
                    reply.headers["Content-Length"] = length
                return reply
            return web.Response(status=resp.status, body=data, headers=out)

    app.router.add_route("*", "/{tail:.*}", forward)
    app.on_startup.append(start_session)
    app.on_cleanup.append(close_session)
    return app


async def serve(upstream: str, delay: float, port_file: str, log_requests: bool) -> None:
    runner = web.AppRunner(make_app(upstream.rstrip("/"), delay, log_requests), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, port_file)

    def wait_for_eof() -> None:
        try:
            while sys.stdin.buffer.read(65536):
                pass
        except (OSError, ValueError):
            pass

    await asyncio.get_running_loop().run_in_executor(None, wait_for_eof)
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log-requests", action="store_true", help="method and path to stderr")
    args = parser.parse_args()
    asyncio.run(serve(args.upstream, args.delay, args.port_file, args.log_requests))
    os._exit(0)


if __name__ == "__main__":
    main()
