"""``downloads://NAME``: what a browser's ``model.save('downloads://NAME')`` leaves behind.

It writes ``NAME.json`` and ``NAME.weights.bin`` (manifest path ``./NAME.weights.bin``,
key order of TF.js's ``getModelJSONForModelArtifacts``) into a downloads folder: the
user's ``~/Downloads`` by default, ``$TFJS_STORE_DOWNLOADS`` if set, or ``folder=`` (any
fsspec URL). Unlike the browser's, this scheme also loads, from the same place.

The pair is the fsspec handler's ``downloads`` layout in that folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ..options import SaveOptions
from .fsspec import FsspecHandler

__all__ = ["DownloadsHandler", "default_downloads_folder"]


def default_downloads_folder() -> str:
    """``$TFJS_STORE_DOWNLOADS``, else ``~/Downloads``."""
    return os.environ.get("TFJS_STORE_DOWNLOADS") or str(Path.home() / "Downloads")


class DownloadsHandler(FsspecHandler):
    """Saves ``NAME.json`` + ``NAME.weights.bin`` as browsers download them.

    ``folder``: where (see the module doc). The other options are ``FsspecHandler``'s;
    the layout is ``"downloads"`` unless one is given.
    """

    takes_typed_options: ClassVar[bool] = True
    save_defaults: ClassVar[SaveOptions] = SaveOptions(layout="downloads")
    """What a save writes when the call does not say: the router builds the
    ``SaveOptions`` it hands this class from these."""

    def __init__(
        self,
        url: str,
        *,
        folder: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        save_options: SaveOptions | None = None,
        **options: Any,
    ) -> None:
        prefix = "downloads://"
        if not url.startswith(prefix):
            raise ValueError(f"not a downloads:// URL: {url!r}")
        name = url[len(prefix) :].strip().rstrip("/") or "model"
        if name.endswith(".json"):
            name = name[: -len(".json")]
        if "/" in name or name in (".", ".."):
            from ..errors import UnsafePathError

            raise UnsafePathError(f"downloads:// takes a file name prefix, not a path: {name!r}")
        self.name = name
        root = (folder or default_downloads_folder()).rstrip("/")
        if save_options is None:
            options.setdefault("layout", self.save_defaults.layout)
        super().__init__(
            f"{root}/{name}.json", storage_options=storage_options, save_options=save_options,
            **options,
        )
