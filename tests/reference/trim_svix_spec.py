"""Writes the trimmed copies of Svix's OpenAPI documents that the conformance tests read.

Usage: python tests/reference/trim_svix_spec.py FULL_SPEC SERVER_SPEC

FULL_SPEC is ``codegen/lib-openapi.json`` and SERVER_SPEC is ``server/openapi.json`` from
the ``svix/svix-webhooks`` repository (MIT licence). Prose (descriptions, summaries,
examples and code samples) is dropped: the tests need the operations and the schemas.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
DROPPED = {"description", "summary", "example", "examples", "x-codeSamples", "x-code-samples"}


def strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in DROPPED}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def trimmed(spec: dict[str, Any]) -> dict[str, Any]:
    return strip(
        {
            "openapi": spec["openapi"],
            "info": {"title": spec["info"]["title"], "version": spec["info"]["version"]},
            "paths": spec["paths"],
            "components": {"schemas": spec["components"]["schemas"]},
        }
    )


def main(full: str, server: str) -> None:
    for source, name in ((full, "svix-openapi.json"), (server, "svix-server-openapi.json")):
        spec = json.loads(Path(source).read_text())
        text = json.dumps(trimmed(spec), indent=1, sort_keys=True) + "\n"
        (HERE / name).write_text(text)


if __name__ == "__main__":
    main(*sys.argv[1:3])
