"""``tfjs-store plugins``: which handler serves each URL scheme, and where it comes from."""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any

from ._common import print_json, table

FSSPEC_HANDLER = "tfjs_store.handlers.fsspec:FsspecHandler"


def _module_installed(dotted: str) -> bool:
    top = dotted.split(":", 1)[0].split(".", 1)[0]
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def _fsspec_implementations() -> dict[str, dict[str, Any]]:
    from fsspec.registry import known_implementations, registry

    out = {name: dict(spec) for name, spec in known_implementations.items()}
    for name, cls in registry.items():
        out.setdefault(name, {"class": f"{cls.__module__}.{cls.__qualname__}"})
    return out


def _status(row: dict[str, Any], fsspec_impls: dict[str, dict[str, Any]]) -> tuple[bool, str]:
    """(installed, note): whether what the scheme needs can be imported, judged without
    importing it (a missing top-level package is certain; a present one is not a promise
    that its own dependencies are there)."""
    target = str(row["target"])
    if ":" not in target:  # registered at run time: an object, not an import path
        return True, ""
    if not _module_installed(target):
        return False, f"{target.split(':')[0]} is not installed"
    if target == FSSPEC_HANDLER:
        impl = fsspec_impls.get(row["scheme"])
        if impl is not None and not _module_installed(str(impl.get("class", ""))):
            return False, str(impl.get("err") or f"{impl['class']} is not installed")
    return True, ""


def run(args: argparse.Namespace) -> int:
    import tfjs_store

    fsspec_impls = _fsspec_implementations()
    rows = []
    for entry in tfjs_store.handler_entries():
        installed, note = _status(entry, fsspec_impls)
        rows.append({**entry, "installed": installed, "note": note})
    registered = {r["scheme"] for r in rows}
    fallback = sorted(s for s in fsspec_impls if s not in registered)
    conflicts = sorted({r["scheme"] for r in rows if r["conflict"]})

    if args.json:
        print_json(
            {
                "handlers": rows,
                "conflicts": conflicts,
                "fallback": {"handler": FSSPEC_HANDLER, "schemes": fallback},
            }
        )
        return 0
    print(
        table(
            ["SCHEME", "HANDLER", "FROM", "STATUS"],
            [
                [
                    r["scheme"],
                    r["target"],
                    r["source"],
                    ("active" if r["active"] else "not used")
                    + ("" if r["installed"] else f" (missing: {r['note']})"),
                ]
                for r in rows
            ],
        )
    )
    for scheme in conflicts:
        claimants = [r for r in rows if r["scheme"] == scheme]
        chosen = next((r["source"] for r in claimants if r["active"]), "?")
        names = ", ".join(r["source"] for r in claimants)
        print(
            f"\nconflict: {scheme}:// is registered by {names}; using {chosen}. Choose with "
            f"TFJS_STORE_HANDLERS='{scheme}=DISTRIBUTION'."
        )
    print(
        f"\n{len(fallback)} other protocols fsspec knows fall back to {FSSPEC_HANDLER}"
        + (":" if args.all else " (list them with --all).")
    )
    if args.all:
        print("  " + ", ".join(fallback))
    return 0
