"""The event catalogue: schemas and their examples, archived types marked for the
operator and left out of the portal, pages that cover every type once."""

from __future__ import annotations

import html
import re

import pytest
from msgs_kit import build_app, client, link, new_app, now_ms, session, store

from hookline.models import EventType
from hookline.store.base import Store
from hookline.ui import pages_catalogue

__all__ = ["store"]

SCHEMA = {
    "type": "object",
    "title": "Invoice paid",
    "properties": {"amount": {"type": "integer"}},
    "examples": [{"amount": 1200}],
}


async def add(store: Store, name: str, **fields: object) -> None:
    t = now_ms()
    await store.create_event_type(EventType(name=name, created_at=t, updated_at=t, **fields))  # type: ignore[arg-type]


def names(page: str) -> list[str]:
    return re.findall(r'data-testid="event-type" data-name="([^"]+)"', page)


async def test_the_catalogue_shows_schemas_examples_and_archived_types(store: Store) -> None:
    await add(store, "invoice.paid", description="An invoice was paid", schemas={"1": SCHEMA})
    await add(store, "user.gone", description="Old", archived=True)
    acme = await new_app(store, "acme")
    app = build_app(store)
    async with client(app, await session(store)) as ui:
        page = (await ui.get("/ui/event-types")).text
    assert names(page) == ["invoice.paid", "user.gone"]
    plain = html.unescape(page)
    assert "An invoice was paid" in plain and "JSON Schema, version 1" in plain
    assert '"title": "Invoice paid"' in plain and '"type": "integer"' in plain
    example = re.search(r'data-testid="event-type-example">(.*?)</pre>', page, re.S)
    assert example is not None and html.unescape(example.group(1)) == '{\n  "amount": 1200\n}'
    gone = page[page.index('data-name="user.gone"') :]
    assert 'data-testid="archived">archived</span>' in gone
    async with client(app, await session(store, acme.id), portal=True) as portal:
        shown = await portal.get("/portal/event-types")
    assert shown.status_code == 200 and names(shown.text) == ["invoice.paid"]


async def test_catalogue_pages_cover_every_type_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages_catalogue, "PAGE_SIZE", 4)
    made = [f"type.{i:02d}" for i in range(10)]
    for name in made:
        await add(store, name)
    async with client(build_app(store), await session(store)) as ui:
        seen: list[str] = []
        page = (await ui.get("/ui/event-types")).text
        for _ in range(10):
            seen += names(page)
            following = link(page, "page-next")
            if following is None:
                break
            page = (await ui.get("/ui/event-types" + following)).text
    assert seen == made
