"""What a verified body becomes: its JSON payload, its event type name and its dedup key.

Kept apart from the providers so every provider converts the same way.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from hookline.receive.types import ReceivedRequest, VerifiedEvent

EVENT_TYPE_MAX = 256
DEDUP_KEY_MAX = 256
MAX_DEPTH = 254  # what orjson writes back, so a stored payload can always be served
MAX_FORM_FIELDS = 1000
_EVENT_TYPE = re.compile(r"[a-zA-Z0-9\-_.]+")
_NOT_EVENT_TYPE = re.compile(r"[^a-zA-Z0-9\-_.]+")
FORM = "application/x-www-form-urlencoded"


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("repeated key")
    return obj


def _repeats_a_key(body: bytes, reencoded: bytes) -> bool:
    """Parsing drops each repeated key's earlier pair, and with it at least one ':'
    (its separator); nothing else changes how many colons there are, unless the body
    spells a colon as an escape, which the re-encoding writes plainly. Then: ask the
    slower parser that sees every pair."""
    if b"\\u003a" in body or b"\\u003A" in body:
        try:
            json.loads(body, object_pairs_hook=_unique)
        except ValueError:
            return True
        return False
    return body.count(b":") != reencoded.count(b":")


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None if it is not one a payload can carry as it is.

    orjson decides what is JSON, since orjson reads stored payloads back (filters, the
    API): UTF-8, no NaN, no lone surrogate. Beyond that: no key repeated in an object (its
    meaning would depend on the parser) and at most ``MAX_DEPTH`` levels, which the
    re-encoding checks: orjson refuses to write deeper.
    """
    try:
        value = orjson.loads(body)
        if not isinstance(value, dict):
            return None
        reencoded = orjson.dumps(value)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None
    return None if _repeats_a_key(body, reencoded) else value


def form_fields(body: bytes) -> dict[str, str | list[str]] | None:
    """A form-encoded body as name -> value; a repeated name -> its values in order.
    None if it does not decode (not UTF-8, too many fields)."""
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError:  # UnicodeDecodeError, too many fields
        return None
    out: dict[str, str | list[str]] = {}
    for name, value in pairs:
        seen = out.get(name)
        if seen is None:
            out[name] = value
        elif isinstance(seen, list):
            seen.append(value)
        else:
            out[name] = [seen, value]
    return out


def is_form(request: ReceivedRequest) -> bool:
    media = (request.header("content-type") or "").partition(";")[0].strip().lower()
    return media == FORM


def _dump(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode("ascii")


@dataclass(frozen=True, slots=True)
class Body:
    """A verified body as the message will carry it, and the object that encodes."""

    payload: bytes
    document: dict[str, Any] | None  # what providers read fields from; None for plain text


def read_body(request: ReceivedRequest) -> Body:
    """A JSON object body byte for byte. A form body as an object of its fields, except
    that a form of one field ``payload`` holding a JSON object (GitHub's form deliveries,
    Slack's interactivity) is that object. Anything else as ``{"body": text}``, or
    ``{"bodyBase64": ...}`` if it is not UTF-8."""
    parsed = json_object(request.body)
    if parsed is not None:
        return Body(request.body, parsed)
    fields = form_fields(request.body) if is_form(request) else None
    if fields is not None:
        inner = fields.get("payload")
        if len(fields) == 1 and isinstance(inner, str):
            encoded = inner.encode("utf-8")
            unwrapped = json_object(encoded)
            if unwrapped is not None:
                return Body(encoded, unwrapped)
        return Body(_dump(fields), dict(fields))
    try:
        return Body(_dump({"body": request.body.decode("utf-8")}), None)
    except UnicodeDecodeError:
        return Body(_dump({"bodyBase64": base64.b64encode(request.body).decode("ascii")}), None)


def event_type_name(raw: object) -> str | None:
    """``raw`` as a valid event type name: each run of other characters becomes ``.``
    (Shopify's ``orders/create`` is ``orders.create``), cut to 256; None if nothing is left."""
    if not isinstance(raw, str):
        return None
    if len(raw) <= EVENT_TYPE_MAX and _EVENT_TYPE.fullmatch(raw):
        return raw
    name = _NOT_EVENT_TYPE.sub(".", raw[: EVENT_TYPE_MAX * 4]).strip(".")[:EVENT_TYPE_MAX]
    return name.rstrip(".") or None


def dedup_key(raw: object) -> str | None:
    """A provider's delivery id, fit for the store: a longer one (over 256 characters) is
    replaced by ``sha256:`` and its hex digest, so the same id always gives the same key."""
    if not isinstance(raw, str) or not raw:
        return None
    if len(raw) <= DEDUP_KEY_MAX:
        return raw
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256:{digest}"


def body_field(parsed: dict[str, Any] | None, *path: str) -> object:
    """``parsed[path[0]][path[1]]...`` or None where any step is missing."""
    value: object = parsed
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def finish(
    provider: str,
    event_type_header: str | None,
    request: ReceivedRequest,
    *,
    own_type: object = None,
    dedup: object = None,
    body: Body,
    timestamp: int | None = None,
) -> VerifiedEvent:
    """The event of a verified request. Event type: the configured ``eventTypeHeader`` if
    the request has it, else the provider's own (``own_type``), else the body's ``type``,
    else ``{provider}.webhook``; each made a valid name by ``event_type_name``."""
    configured = request.header(event_type_header) if event_type_header else None
    event_type = (
        event_type_name(configured)
        or event_type_name(own_type)
        or event_type_name(body_field(body.document, "type"))
        or f"{provider}.webhook"
    )
    return VerifiedEvent(
        event_type=event_type,
        dedup_key=dedup_key(dedup),
        payload=body.payload,
        timestamp=timestamp,
    )
