"""The bridge in a process of its own: ``python bridge_child.py CONFIG_JSON``.

CONFIG_JSON holds ``root_url``, ``create_app`` keyword arguments and optionally
``log_level`` (default ``warning``). The process binds 127.0.0.1 on a free port, prints
``PORT <n>`` once uvicorn serves, and stops when its standard input closes (so it
never outlives the test that started it). SIGUSR1 prints every thread's stack to stderr
(to see where a hung server waits).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading


def main() -> None:
    import faulthandler
    import signal

    import uvicorn

    faulthandler.register(signal.SIGUSR1)  # kill -USR1 PID: every thread's stack on stderr

    from tfjs_store.server import create_app, log_config

    config = json.loads(sys.argv[1])
    root_url = config.pop("root_url")
    log_level = config.pop("log_level", "warning")  # "info": the bridge's own lines too
    app = create_app(root_url, **config)
    # proto IPPROTO_TCP: asyncio turns Nagle's algorithm off only on sockets that say TCP;
    # with proto 0 every request waits ~40 ms for a delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level=log_level, log_config=log_config(log_level),
                       lifespan="off", timeout_keep_alive=5,
                       limit_concurrency=None, backlog=512)
    )

    def announce() -> None:
        while not server.started:
            threading.Event().wait(0.01)
        print(f"PORT {sock.getsockname()[1]}", flush=True)

    def watch_stdin() -> None:
        while sys.stdin.buffer.read(65536):
            pass
        os._exit(0)

    threading.Thread(target=announce, daemon=True).start()
    threading.Thread(target=watch_stdin, daemon=True).start()
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
