"""Bodies of the Ingest API (``/ingest/api/v1/source…``), shaped like Svix's.

A source's ``type`` is one of Svix's names (github, stripe, shopify, slack, svix, or
``generic-webhook``) with Svix's ``config`` shape; hookline's extension providers come as
``generic-webhook`` with ``config.provider`` (or as their own name on input). Answers show
``config`` without secrets. ``dedupWindowSeconds`` and ``appId`` are hookline extensions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from hookline.api.schemas import ListOut, Metadata, Schema
from hookline.sources import DEFAULT_DEDUP_WINDOW_MS

SOURCE_UID_PATTERN = r"^[a-zA-Z0-9_-]+$"  # Svix's, which also refuses a "src_" prefix
MAX_DEDUP_WINDOW_S = 7 * 24 * 3600

SourceName = Annotated[str, StringConstraints(min_length=2, max_length=256)]
SourceUid = Annotated[
    str, StringConstraints(min_length=1, max_length=60, pattern=SOURCE_UID_PATTERN)
]
SourceType = Annotated[str, StringConstraints(min_length=1, max_length=64)]
DedupWindow = Annotated[int, Field(ge=0, le=MAX_DEDUP_WINDOW_S)]


def _no_id_prefix(uid: str | None) -> str | None:
    if uid is not None and uid.startswith("src_"):
        raise ValueError("a source uid must not start with 'src_', which source ids use")
    return uid


class IngestSourceIn(Schema):
    name: SourceName
    uid: SourceUid | None = None
    metadata: Metadata | None = None
    type: SourceType
    config: dict[str, Any] | None = None
    dedup_window_seconds: DedupWindow = DEFAULT_DEDUP_WINDOW_MS // 1000

    _uid = field_validator("uid")(_no_id_prefix)


class IngestSourcePatch(Schema):
    """Svix's patch (name, uid, metadata), plus type, config and the dedup window. A
    ``config`` replaces the whole config: to rotate a provider secret, send
    ``secrets: [new, old]``, and later only the new one."""

    name: SourceName | None = None
    uid: SourceUid | None = None
    metadata: Metadata | None = None
    type: SourceType | None = None
    config: dict[str, Any] | None = None
    dedup_window_seconds: DedupWindow | None = None

    _uid = field_validator("uid")(_no_id_prefix)


class IngestSourceOut(Schema):
    id: str
    uid: str | None = None
    name: str
    ingest_url: str
    type: str
    config: dict[str, Any]
    metadata: Metadata
    dedup_window_seconds: int
    app_id: str
    created_at: datetime
    updated_at: datetime


class ListIngestSourceOut(ListOut):
    data: list[IngestSourceOut]


class RotateTokenOut(Schema):
    ingest_url: str


class IngestLogOut(BaseModel):
    """Svix's IngestLogOut keeps snake_case keys on the wire, and so does this one;
    ``verdict``, ``event_type`` and ``msg_id`` are hookline's additions."""

    model_config = ConfigDict(extra="ignore")

    id: str
    source_id: str
    status_code: int
    error_text: str
    headers: dict[str, str]
    payload: str
    verdict: str
    event_type: str | None = None
    msg_id: str | None = None
    created_at: datetime
    updated_at: datetime


class ListIngestLogOut(ListOut):
    data: list[IngestLogOut]


class InboundRequestOut(Schema):
    """A received request in full (hookline extension). ``body`` is the body as text when
    it is UTF-8, else base64 (``bodyEncoding`` says which); null once retention dropped it.
    Credential headers are shown as ``***``."""

    id: str
    source_id: str
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str | None
    body_encoding: str | None
    verdict: str
    reason: str | None = None
    status_code: int
    event_type: str | None = None
    dedup_key: str | None = None
    msg_id: str | None = None
    replays: int
    received_at: datetime
    routed_at: datetime | None = None


class ListInboundRequestOut(ListOut):
    data: list[InboundRequestOut]


class TransformationPatchIn(Schema):
    code: Annotated[str, StringConstraints(min_length=10, max_length=51200)] | None = None
    enabled: bool | None = None
    variables: dict[str, str] | None = None


class PortalAccessIn(Schema):
    expiry: Annotated[int, Field(ge=3600, le=604800)] | None = None
    read_only: bool | None = None
