"""mkdocs hook: pages made from the code at build time, so they cannot drift from it.

- ``cli.md``: ``tfjs-store --help`` and every command's help (argparse), and the
  conformance runner's;
- ``http-api.md``: the bridge's OpenAPI document (what ``GET /openapi.json`` serves, for a
  bridge with a token), as tables and as JSON;
- ``conformance.md``: the conformance suite's guide (``conformance/README.md``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]


def on_files(files: Files, config: Any) -> Files:
    for name, content in (
        ("cli.md", _cli_page()),
        ("http-api.md", _http_api_page()),
        ("conformance.md", _conformance_page()),
    ):
        files.append(File.generated(config, name, content=content))
    return files


def _fence(text: str, lang: str = "text") -> str:
    return f"```{lang}\n{text.rstrip()}\n```\n"


def _cli_page() -> str:
    from conformance.runner import _parser as conformance_parser
    from tfjs_store.cli import build_parser

    parser = build_parser()
    out = [
        "# Command line\n",
        "`tfjs-store` is installed with the package (`pip install tfjs-store`). "
        "This page is generated from its argparse definitions.\n",
        _fence(parser.format_help()),
    ]
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in sub.choices.items():
        out.append(f"## tfjs-store {name}\n")
        if name == "conformance":
            out.append(_fence(conformance_parser().format_help()))
        else:
            out.append(_fence(command.format_help()))
    return "\n".join(out)


def _http_api_page() -> str:
    import tfjs_store
    from tfjs_store.server.openapi import openapi_document

    doc = openapi_document(
        token=True, public_read=False, max_upload_bytes=1 << 30, version=tfjs_store.__version__
    )
    out = [
        "# The bridge's HTTP API\n",
        "`tfjs-store serve ROOT_URL` (or `tfjs_store.server.create_app`) serves this API; "
        "the bridge answers `GET /openapi.json` with the document below, for its own "
        "settings (this one: with a token, uploads up to 1 GiB). Generated from "
        "`tfjs_store.server.openapi`.\n",
    ]
    for path, item in doc.get("paths", {}).items():
        out.append(f"## `{path}`\n")
        for method, op in item.items():
            if not isinstance(op, dict) or method == "parameters":
                continue
            title = op.get("summary") or op.get("operationId") or ""
            out.append(f"### {method.upper()} `{path}`: {title}\n")
            if op.get("description"):
                out.append(op["description"].strip() + "\n")
            responses = op.get("responses", {})
            if responses:
                out.append("| status | meaning |\n|---|---|")
                for status, response in responses.items():
                    text = " ".join(str(response.get("description", "")).split())
                    text = text.replace("|", "\\|")
                    out.append(f"| {status} | {text} |")
                out.append("")
    out.append("## The document\n")
    out.append(_fence(json.dumps(doc, indent=2), "json"))
    return "\n".join(out)


def _conformance_page() -> str:
    text = (ROOT / "conformance" / "README.md").read_text(encoding="utf-8")
    return text
