"""Requests signed as the providers sign them (imported as ``inbound_helpers``).

GitHub publishes no signer: its documented scheme (HMAC-SHA256 of the body, hex, with a
``sha256=`` prefix) is computed here with ``hmac``, independently of hookline's verifier.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

import orjson

from hookline.sources import InboundFilter, InboundRequest, Source
from hookline.store.base import PageRequest, Store

SECRET = "It's a Secret to Everybody"


def github_push(
    n: int = 1, secret: str = SECRET, delivery: str | None = None
) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps({"ref": "refs/heads/main", "n": n, "repository": {"name": "hookline"}})
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/abc123",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
    }
    return body, headers


async def stored_requests(store: Store, source: Source) -> list[InboundRequest]:
    page = await store.list_inbound_requests(source.id, InboundFilter(), PageRequest(limit=250))
    return page.data
