"""The store contract for inbound sources: each is written, renamed and deleted together
with its application, found by id, uid or token hash, and updated optimistically."""

from __future__ import annotations

import secrets
import time
from dataclasses import replace

import pytest

from hookline import ids
from hookline.errors import Conflict, NotFound, VersionConflict
from hookline.models import Application, Endpoint, Message
from hookline.signing import generate_secret
from hookline.sources import Source, token_hash
from hookline.store.base import PageRequest, Store

NOW = int(time.time() * 1000)


def new_source(uid: str | None = None, **kw: object) -> tuple[Source, Application]:
    app = Application(id=ids.new_id("app"), name="github in", created_at=NOW, updated_at=NOW)
    source = Source(
        id=ids.new_id("src"),
        name="github in",
        provider="github",
        config={"secrets": ["gh-secret-" + secrets.token_hex(8)]},
        token=secrets.token_urlsafe(32),
        app_id=app.id,
        uid=uid,
        metadata={"team": "ops"},
        created_at=NOW,
        updated_at=NOW,
    )
    for key, value in kw.items():
        setattr(source, key, value)
    return source, app


async def test_create_then_find_by_id_uid_and_token_hash(store: Store) -> None:
    source, app = new_source(uid="gh-main")
    await store.create_source(source, app)
    for ref in (source.id, "gh-main"):
        assert await store.get_source(ref) == source
    assert await store.source_by_token(token_hash(source.token)) == source
    assert await store.source_by_token(token_hash("not-a-token")) is None
    assert (await store.get_application(app.id)).id == app.id
    with pytest.raises(NotFound):
        await store.get_source("src_missing")


async def test_a_taken_uid_conflicts_and_writes_neither_record(store: Store) -> None:
    first, app = new_source(uid="dup")
    await store.create_source(first, app)
    second, second_app = new_source(uid="dup")
    with pytest.raises(Conflict):
        await store.create_source(second, second_app)
    with pytest.raises(NotFound):
        await store.get_application(second_app.id)
    with pytest.raises(NotFound):
        await store.get_source(second.id)
    assert (await store.list_sources(PageRequest())).data == [first]


async def test_pagination_walks_every_source_once(store: Store) -> None:
    made = []
    for _ in range(5):
        source, app = new_source()
        made.append((await store.create_source(source, app)).id)
    seen: list[str] = []
    page = await store.list_sources(PageRequest(limit=2))
    seen += [s.id for s in page.data]
    while not page.done:
        page = await store.list_sources(PageRequest(limit=2, iterator=page.iterator))
        seen += [s.id for s in page.data]
    assert seen == made


async def test_update_is_optimistic_and_a_new_token_replaces_the_old(store: Store) -> None:
    source, app = new_source()
    await store.create_source(source, app)
    new_token = secrets.token_urlsafe(32)
    changed = replace(
        source, token=new_token, name="renamed", config={"secrets": ["a", "b"]}, uid="u2"
    )
    saved = await store.update_source(changed)
    assert saved.version == source.version + 1
    assert await store.get_source("u2") == saved
    assert await store.source_by_token(token_hash(source.token)) is None
    assert await store.source_by_token(token_hash(new_token)) == saved
    assert (await store.get_application(app.id)).name == "renamed"  # the app follows
    with pytest.raises(VersionConflict):  # read at the old version: nothing written
        await store.update_source(replace(source, name="stale"))
    assert (await store.get_source(source.id)).name == "renamed"
    other, other_app = new_source(uid="taken")
    await store.create_source(other, other_app)
    with pytest.raises(Conflict):
        await store.update_source(replace(saved, uid="taken"))
    with pytest.raises(NotFound):
        await store.update_source(replace(saved, id="src_missing"))


async def test_delete_removes_the_source_its_application_and_what_is_under_it(
    store: Store,
) -> None:
    source, app = new_source()
    keep, keep_app = new_source()
    await store.create_source(source, app)
    await store.create_source(keep, keep_app)
    ep = Endpoint(
        id=ids.new_id("ep"),
        app_id=app.id,
        url="http://127.0.0.1:9/hook",
        secret=generate_secret(),
        created_at=NOW,
        updated_at=NOW,
    )
    await store.create_endpoint(ep)
    msg = Message(
        id=ids.new_id("msg"), app_id=app.id, event_type="push", payload=b"{}", created_at=NOW
    )
    await store.publish(msg, NOW)
    await store.delete_source(source.id)
    with pytest.raises(NotFound):
        await store.get_source(source.id)
    with pytest.raises(NotFound):
        await store.get_application(app.id)
    with pytest.raises(NotFound):
        await store.get_endpoint(app.id, ep.id)
    with pytest.raises(NotFound):
        await store.get_message(app.id, msg.id)
    assert await store.source_by_token(token_hash(source.token)) is None
    assert await store.get_source(keep.id) == keep
    with pytest.raises(NotFound):
        await store.delete_source(source.id)


async def test_a_sources_application_is_deleted_only_with_its_source(store: Store) -> None:
    source, app = new_source()
    await store.create_source(source, app)
    with pytest.raises(Conflict):
        await store.delete_application(app.id)
    assert await store.get_source(source.id) == source
    assert (await store.get_application(app.id)).id == app.id
