"""The tfjs-store bridge over ``memory://``, on a real socket in a thread of the test process.

``memory://`` lives in this process, so the bridge must run here (uvicorn in a thread, via
tests/support/browser.py's ``running_bridge``) for the tests to see what it stored: TF.js in
Node saves into it over http://, and the test reads the same memory store with tfjs_store.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field
from typing import Any

import fsspec
from interop_matrix import SHARD_SIZE, Folder


@dataclass
class RunningBridge:
    base_url: str
    root: str
    fs: Any
    _stack: contextlib.ExitStack = field(repr=False)

    def folder(self, name: str) -> Folder:
        """Model ``name``: memory://ROOT/name for tfjs_store, BASE/models/name for TF.js."""
        return Folder(
            "bridge",
            f"memory://{self.root}/{name}",
            {},
            self.fs,
            f"/{self.root}/{name}",
            http_base=f"{self.base_url}/models/{name}",
        )

    def save_url(self, folder: Folder) -> str:
        """Where TF.js's ``model.save('http://…')`` posts (the bridge's upload route)."""
        assert folder.http_base is not None
        return folder.http_base

    def stop(self) -> None:
        self._stack.close()


def start_bridge() -> RunningBridge:
    from support.browser import running_bridge

    root = f"tfjs-interop-bridge-{secrets.token_hex(4)}"
    stack = contextlib.ExitStack()
    base = stack.enter_context(running_bridge(f"memory://{root}", shard_size_bytes=SHARD_SIZE))
    return RunningBridge(base, root, fsspec.filesystem("memory"), stack)
