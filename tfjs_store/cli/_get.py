"""``tfjs-store get URL NAME...``: a few weights to a ``.npy``/``.npz`` file, read alone.

Only the byte ranges of the weights named are read (``tfjs_store.open_model``), so one
layer of a model of gigabytes in a bucket costs what that layer weighs.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from . import EXIT_OK
from ._common import UsageError, human_bytes, model_to_read, print_json, say, shape_text


def default_output(names: list[str]) -> str:
    """``NAME.npy`` (``/`` and other unsafe characters as ``_``) for one weight,
    ``weights.npz`` for several."""
    if len(names) == 1:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", names[0]).strip("._") + ".npy" or "weight.npy"
    return "weights.npz"


def _check_output(output: str, names: list[str]) -> None:
    if output.endswith(".npz"):
        return
    if output.endswith(".npy"):
        if len(names) > 1:
            raise UsageError(
                f"{len(names)} weights do not fit in one .npy file ({output})",
                "name an .npz file: -o weights.npz",
            )
        return
    hint = "e.g. -o kernel.npy or -o weights.npz"
    if "=" in output:
        hint = "storage options go with --storage-option KEY=VALUE for `get` (-o is the output)"
    raise UsageError(f"-o/--output must end with .npy or .npz, got {output!r}", hint)


def _savable(arr: Any) -> Any:
    """String weights (object arrays of str or bytes) as numpy string arrays: an .npy of
    objects would need pickle to be read back."""
    import numpy as np

    if arr.dtype != object:
        return arr
    flat = arr.reshape(-1).tolist()
    kind = bytes if flat and all(isinstance(v, bytes) for v in flat) else str
    return np.array(flat, dtype=kind).reshape(arr.shape) if flat else arr.astype(str)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..api import open_model

    names = list(dict.fromkeys(args.names))
    output = args.output or default_output(names)
    _check_output(output, names)
    url, options = model_to_read(args)
    with open_model(url, **options) as reader:
        missing = [n for n in names if n not in reader]
        if missing:
            known = list(reader)
            shown = ", ".join(known[:10]) + (" …" if len(known) > 10 else "")
            raise UsageError(
                f"{reader.url} has no weight named {', '.join(repr(n) for n in missing)}",
                f"its weights: {shown or '(none)'}; `tfjs-store info URL` lists them",
            )
        arrays = {name: _savable(arr) for name, arr in reader.read(names).items()}
        checks = {name: reader.verified.get(name) for name in names}
        warning = reader.warning
    temp = f"{output}.{os.getpid()}.tmp"
    try:
        with open(temp, "wb") as f:  # a file object: numpy adds no second suffix
            if output.endswith(".npy"):
                np.save(f, next(iter(arrays.values())), allow_pickle=False)
            else:
                np.savez(f, allow_pickle=False, **arrays)
        os.replace(temp, output)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    rows: list[dict[str, Any]] = [
        {"name": n, "dtype": str(a.dtype), "shape": list(a.shape), "bytes": int(a.nbytes),
         "checked": checks[n]}
        for n, a in arrays.items()
    ]
    if args.json:
        print_json({"output": output, "weights": rows, "warning": warning})
        return EXIT_OK
    for row in rows:
        checked = f", checked: {row['checked']}" if row["checked"] else ", not checked"
        print(
            f"{row['name']}  {row['dtype']} {shape_text(row['shape'])}  "
            f"{human_bytes(row['bytes'])}{checked}"
        )
    print(f"wrote {len(rows)} weight{'' if len(rows) == 1 else 's'} to {output}")
    if warning and not all(row["checked"] for row in rows):
        say(f"tfjs-store: note: {warning}")
    return EXIT_OK
