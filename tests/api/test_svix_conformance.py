"""Conformance with Svix's API, read from Svix's own OpenAPI documents (tests/reference).

Every operation of the open-source Svix server and of the spec the Svix SDKs are
generated from is either served by hookline or listed, with its reason, in
docs/svix-compatibility.md — the one place that says what hookline leaves out. A served
operation answers with Svix's success status and carries every field Svix's response
requires, so an SDK parses it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import pytest
from api_helpers import TOKEN
from svix_schema import COMPATIBILITY, answered_differently

from hookline.api import ApiContext, create_app
from hookline.store.base import Store

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests" / "reference"
METHODS = ("get", "post", "put", "patch", "delete")
# a table row of the not-served list: | `METHOD /path` | reason |, METHOD may be *, and a
# path ending in * covers every path that starts with what comes before it
ROW = re.compile(r"^\|\s*`(\*|GET|POST|PUT|PATCH|DELETE) (/[^`]*)`\s*\|\s*([^|]*?)\s*\|\s*$")


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    operation_id: str

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.operation_id})"


@dataclass(frozen=True, slots=True)
class NotServed:
    method: str
    path: str
    reason: str

    def covers(self, op: Operation) -> bool:
        if self.method not in ("*", op.method):
            return False
        if self.path.endswith("*"):
            return op.path.startswith(self.path[:-1])
        return op.path == self.path


@cache
def svix_spec(name: str) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads((REFERENCE / name).read_text()))


def operations(spec: dict[str, Any]) -> Iterator[Operation]:
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                op_id = item[method].get("operationId") or f"{method} {path}"
                yield Operation(method.upper(), path, op_id)


@cache
def hookline_doc() -> dict[str, Any]:
    return create_app(ApiContext(store=cast(Store, None), admin_token=TOKEN)).openapi()


@cache
def served() -> frozenset[tuple[str, str]]:
    """What hookline's own OpenAPI document claims; a route kept out of it only explains
    a refusal (for example that transformations are not run)."""
    return frozenset(
        (method.upper(), path)
        for path, item in hookline_doc()["paths"].items()
        for method in item
        if method in METHODS
    )


@cache
def not_served() -> tuple[NotServed, ...]:
    rows = []
    for line in COMPATIBILITY.read_text().splitlines():
        if m := ROW.match(line):
            rows.append(NotServed(m[1], m[2], m[3]))
    return tuple(rows)


@pytest.mark.parametrize("spec", ["svix-server-openapi.json", "svix-openapi.json"])
def test_every_svix_operation_is_served_or_listed_with_a_reason(spec: str) -> None:
    missing = [
        str(op)
        for op in operations(svix_spec(spec))
        if (op.method, op.path) not in served() and not any(r.covers(op) for r in not_served())
    ]
    assert not missing, "served nowhere and not in docs/svix-compatibility.md:\n" + "\n".join(
        missing
    )


def test_the_not_served_list_names_only_unserved_svix_operations() -> None:
    ops = list(operations(svix_spec("svix-openapi.json")))
    assert len(not_served()) > 10, "the table in docs/svix-compatibility.md did not parse"
    for row in not_served():
        assert row.reason and len(row.reason) > 20, f"{row.method} {row.path}: give a reason"
        covered = [op for op in ops if row.covers(op)]
        assert covered, f"{row.method} {row.path} names no Svix operation"
        now_served = [str(op) for op in covered if (op.method, op.path) in served()]
        assert not now_served, f"served, so drop it from the list: {now_served}"


def _successes(operation: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """Success status → its JSON schema (None for an empty body)."""
    out = {}
    for code, response in operation["responses"].items():
        if code.startswith("2"):
            out[code] = response.get("content", {}).get("application/json", {}).get("schema")
    assert out, f"no success response: {operation.get('operationId')}"
    return out


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _resolve(doc, schema["allOf"][0])
    return schema


def _served_pairs() -> list[tuple[Operation, dict[str, Any], dict[str, Any]]]:
    ours = hookline_doc()["paths"]
    pairs = []
    for op in operations(svix_spec("svix-openapi.json")):
        mine = ours.get(op.path, {}).get(op.method.lower())
        if mine is not None:
            theirs = svix_spec("svix-openapi.json")["paths"][op.path][op.method.lower()]
            pairs.append((op, theirs, mine))
    return pairs


def test_served_operations_answer_with_svix_success_status() -> None:
    wrong = []
    for op, theirs, mine in _served_pairs():
        allowed = set(_successes(theirs)) | {answered_differently().get((op.method, op.path))}
        if not set(_successes(mine)) <= allowed:
            wrong.append(
                f"{op}: Svix {sorted(_successes(theirs))}, hookline {sorted(_successes(mine))}"
            )
    assert not wrong, "\n".join(wrong)


def test_served_responses_carry_every_field_svix_requires() -> None:
    svix, doc = svix_spec("svix-openapi.json"), hookline_doc()
    gaps = []
    for op, theirs, mine in _served_pairs():
        for code, my_schema in _successes(mine).items():
            their_schema = _successes(theirs).get(code)
            if their_schema is None:  # a status Svix does not answer: listed, checked above
                continue
            required = set(_resolve(svix, their_schema).get("required", []))
            have = set(_resolve(doc, my_schema or {}).get("properties", {}))
            if required - have:
                gaps.append(f"{op} {code}: lacks {sorted(required - have)}")
    assert not gaps, "\n".join(gaps)


def test_each_listed_difference_is_real() -> None:
    pairs = {(op.method, op.path): (theirs, mine) for op, theirs, mine in _served_pairs()}
    assert answered_differently(), "the differences table in docs/svix-compatibility.md"
    for (method, path), status in answered_differently().items():
        assert (method, path) in pairs, f"{method} {path} is not a served Svix operation"
        theirs, mine = pairs[(method, path)]
        assert status in _successes(mine), f"{method} {path} does not answer {status}"
        assert status not in _successes(theirs), f"{method} {path}: Svix answers {status} too"
