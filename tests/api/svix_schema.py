"""Checks a real response body against Svix's own schema for that operation.

Svix's document (tests/reference/svix-openapi.json) is OpenAPI 3.1 with 3.0's ``nullable``
still in places; those become JSON Schema's ``null`` type, and the schema is checked as
JSON Schema 2020-12. Imported by tests as ``svix_schema``.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests" / "reference" / "svix-openapi.json"
COMPATIBILITY = ROOT / "docs" / "svix-compatibility.md"
# a row of docs/svix-compatibility.md's differences table: | `METHOD /path` | status | why |
_DIFFERENT = re.compile(
    r"^\|\s*`(GET|POST|PUT|PATCH|DELETE) (/[^`]*)`\s*\|\s*(\d{3})\s*\|\s*([^|]*?)\s*\|\s*$"
)


@cache
def answered_differently() -> dict[tuple[str, str], str]:
    """(method, path) → the success status hookline answers where Svix's document has
    none, as docs/svix-compatibility.md lists them (each with its reason)."""
    found = (_DIFFERENT.match(line) for line in COMPATIBILITY.read_text().splitlines())
    return {(m[1], m[2]): m[3] for m in found if m and len(m[4]) > 20}


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC.read_text())
    return spec


@cache
def _components() -> dict[str, Any]:
    converted: dict[str, Any] = _nullable(_spec()["components"])
    return converted


def is_svix_operation(method: str, path: str) -> bool:
    return method.lower() in _spec()["paths"].get(path, {})


@cache
def _validator(method: str, path: str, status: int) -> Any:
    operation = _spec()["paths"].get(path, {}).get(method.lower())
    if operation is None:
        return None
    responses = operation["responses"]
    response = responses.get(str(status))
    if response is None and answered_differently().get((method, path)) == str(status):
        # a listed difference: the body is what Svix answers with its own success status
        response = next((r for code, r in sorted(responses.items()) if code < "300"), None)
    if response is None:
        return False  # a status Svix never answers with this operation
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    root = {"components": _components(), **_nullable(schema)}
    return jsonschema_rs.Draft202012Validator(root)


def svix_shape_errors(method: str, path: str, status: int, body: Any) -> list[str]:
    """Why ``body`` is not what Svix's schema says ``method path`` answers with
    ``status`` (empty when it is, or when Svix does not define the operation)."""
    validator = _validator(method, path, status)
    if validator is None:
        return []
    if validator is False:
        return [f"Svix never answers {method} {path} with {status}"]
    errors = [e for e in validator.iter_errors(body) if not _source_id_width(e)]
    return [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in errors]


def _source_id_width(error: Any) -> bool:
    """Svix's Ingest ids are ``src_`` and 21-22 characters; hookline's have 27, as all its
    ids do (docs/svix-compatibility.md, "Ids"). The SDKs do not check an id's width."""
    value = error.instance
    return (
        isinstance(value, str)
        and value.startswith("src_")
        and str(error.instance_path[-1] if error.instance_path else "").endswith("id")
    )
