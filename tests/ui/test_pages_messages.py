"""The message log and the message page, as HTML from the real app on a real store, with
attempts made by the real worker against a real receiver on loopback."""

from __future__ import annotations

import html as htmllib
import json
import re
from datetime import UTC, datetime

import pytest
from msgs_kit import (
    build_app,
    client,
    link,
    new_app,
    new_endpoint,
    now_ms,
    publish,
    row_ids,
    running_worker,
    session,
    settled,
    store,
    until,
)

from hookline import ids
from hookline.store.base import Store
from hookline.testing import Receiver
from hookline.ui import pages_messages

__all__ = ["store"]


def local(ms: int) -> str:
    """What a ``datetime-local`` field sends (UTC on this page)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")


async def test_each_filter_narrows_the_log(store: Store) -> None:
    acme, other = await new_app(store, "acme"), await new_app(store, "other")
    async with Receiver() as receiver:
        receiver.script("/bad", default=500, body="nope")
        ok = await new_endpoint(store, acme.id, receiver.url("/ok"))
        bad = await new_endpoint(
            store, acme.id, receiver.url("/bad"), event_types=["invoice.failed"]
        )
        ids._clock._last = 0  # an id dated two hours back, as if published then
        old = await publish(store, acme.id, "user.created", b'{"n":"zed"}', now_ms() - 7200_000)
        alice = await publish(store, acme.id, "user.created", b'{"name":"alice"}')
        failed = await publish(store, acme.id, "invoice.failed", b'{"name":"bob"}')
        tagged = await publish(store, acme.id, "user.deleted", b"{}", event_id="evt-3")
        elsewhere = await publish(store, other.id, "user.created", b'{"name":"alice"}')
        async with running_worker(store):
            for msg in (old, alice, failed, tagged):
                await until(lambda m=msg: settled(store, m))
    app = build_app(store)
    async with client(app, await session(store)) as ui:

        async def shown(path: str, **params: str) -> list[str]:
            page = await ui.get(path, params=params)
            assert page.status_code == 200, page.text
            return row_ids(page.text)

        log = f"/ui/app/{acme.id}/messages"
        assert await shown(log) == [tagged.id, failed.id, alice.id, old.id]
        assert await shown(log, event_type="user.created") == [alice.id, old.id]
        assert await shown(log, event_type="user.created, user.deleted") == [
            tagged.id,
            alice.id,
            old.id,
        ]
        assert await shown(log, status="failed") == [failed.id]
        assert await shown(log, status="success") == [tagged.id, failed.id, alice.id, old.id]
        assert await shown(log, endpoint=bad.id) == [failed.id]
        assert ok.id  # every message reached the catch-all endpoint
        assert await shown(log, endpoint=ok.id) == [tagged.id, failed.id, alice.id, old.id]
        assert await shown(log, since=local(old.created_at + 1000)) == [
            tagged.id,
            failed.id,
            alice.id,
        ]
        assert await shown(log, until=local(old.created_at + 1000)) == [old.id]
        assert await shown(log, ref="evt-3") == [tagged.id]
        assert await shown(log, ref=alice.id) == [alice.id]
        assert await shown(log, text="alice") == [alice.id]
        assert await shown("/ui/messages", text="alice") == [elsewhere.id, alice.id]
        assert await shown("/ui/messages", text="alice", app=other.id) == [elsewhere.id]
        # each row says how its deliveries went, in words
        page = (await ui.get(log, params={"ref": failed.id})).text
        assert ">failed</span>" in page and ">success</span>" in page
        assert f'href="/ui/app/{acme.id}/msg/{failed.id}"' in page
        # bad filters are a 4xx page, not a crash
        assert (await ui.get(log, params={"status": "lost"})).status_code == 400
        assert (await ui.get(log, params={"since": "yesterday"})).status_code == 400
        assert (await ui.get("/ui/app/app_nosuch/messages")).status_code == 404


async def test_paging_shows_every_message_once_both_ways(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages_messages, "PAGE_SIZE", 7)
    acme = await new_app(store, "acme")
    start = now_ms() - 100_000
    published = [
        (await publish(store, acme.id, "a.b", b"{}", start + i * 10)).id for i in range(30)
    ]
    newest_first = list(reversed(published))
    async with client(build_app(store), await session(store)) as ui:
        path = f"/ui/app/{acme.id}/messages"
        pages: list[list[str]] = []
        page = await ui.get(path)
        for _ in range(10):
            pages.append(row_ids(page.text))
            older = link(page.text, "page-next")
            if older is None:
                break
            page = await ui.get(path + older)
        assert [m for p in pages for m in p] == newest_first
        assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
        # and back from the last page to the first, page by page
        back: list[list[str]] = []
        for _ in range(10):
            newer = link(page.text, "page-prev")
            if newer is None:
                break
            page = await ui.get(path + newer)
            back.append(row_ids(page.text))
            assert link(page.text, "page-next") is not None  # older ones are still there
        assert back == list(reversed(pages[:-1]))


async def test_message_page_shows_every_attempt_and_resends(store: Store) -> None:
    acme = await new_app(store, "acme")
    async with Receiver() as receiver:
        receiver.script(
            "/hook", [500], default=200, body="upstream down", headers={"X-Reply": "r-1"}
        )
        ep = await new_endpoint(
            store,
            acme.id,
            receiver.url("/hook"),
            headers={"Authorization": "Bearer s3cr3t-value", "X-Team": "blue"},
        )
        msg = await publish(
            store, acme.id, "invoice.paid", b'{"amount":12,"who":"<b>x</b>"}', event_id="inv-9"
        )
        app = build_app(store)
        async with running_worker(store), client(app, await session(store)) as ui:
            await until(lambda: settled(store, msg))
            page = await ui.get(f"/ui/app/{acme.id}/msg/{msg.id}")
            assert page.status_code == 200
            text = page.text
            attempts = re.findall(r'data-testid="attempt" data-attempt-id="([^"]+)"', text)
            assert len(attempts) == 2
            # the payload, pretty and escaped; eventId
            assert '"amount": 12' in htmllib.unescape(text) and "&lt;b&gt;x&lt;/b&gt;" in text
            assert "inv-9" in text
            # what the page's script reads to wait for the resent attempt
            data = re.search(
                r'<script type="application/json" id="message-data">(.*?)</script>', text
            )
            assert data is not None
            assert json.loads(data.group(1)) == {"app": acme.id, "msg": msg.id, "attempts": 2}
            # the response: status, body, error kind, duration
            assert "HTTP 500" in text and "upstream down" in text and "http_status" in text
            assert re.search(r"\d+ ms", text)
            # resend through the API with the page's session, then the new attempt shows
            button = re.search(r'data-api="(POST [^"]+/resend)"', text)
            assert button is not None
            method, path = htmllib.unescape(button.group(1)).split(" ", 1)
            assert path == f"/api/v1/app/{acme.id}/msg/{msg.id}/endpoint/{ep.id}/resend"
            assert (await ui.request(method, path)).status_code == 202

            async def three() -> bool:
                again = await ui.get(f"/ui/app/{acme.id}/msg/{msg.id}")
                return again.text.count('data-testid="attempt"') == 3

            await until(three)


async def test_attempts_show_request_and_response_headers_masked(store: Store) -> None:
    acme = await new_app(store, "acme")
    async with Receiver() as receiver:
        receiver.script("/hook", default=200, body="fine", headers={"X-Reply": "r-1"})
        await new_endpoint(
            store,
            acme.id,
            receiver.url("/hook"),
            headers={"Authorization": "Bearer s3cr3t-value", "X-Team": "blue"},
        )
        msg = await publish(store, acme.id, "invoice.paid", b'{"amount":12}')
        async with running_worker(store):
            await until(lambda: settled(store, msg))
        sent = receiver.requests("/hook")[0]
    async with client(build_app(store), await session(store)) as ui:
        text = (await ui.get(f"/ui/app/{acme.id}/msg/{msg.id}")).text
    request = re.search(r'data-testid="request-headers">(.*?)</table>', text, re.S)
    response = re.search(r'data-testid="response-headers">(.*?)</table>', text, re.S)
    assert request is not None and response is not None, "headers not shown"
    # as sent: the signature headers and the endpoint's own, its credential masked
    assert sent.headers["webhook-signature"] in request.group(1)
    assert "x-team" in request.group(1).lower() and "blue" in request.group(1)
    assert "s3cr3t-value" not in text and "••••" in request.group(1)
    assert "x-reply" in response.group(1).lower() and "r-1" in response.group(1)
    assert '<pre data-testid="request-body">{&#34;amount&#34;:12}</pre>' in text


async def test_the_portal_sees_its_own_application_only(store: Store) -> None:
    mine, theirs = await new_app(store, "mine"), await new_app(store, "theirs")
    own = await publish(store, mine.id, "a.b", b'{"x":1}')
    foreign = await publish(store, theirs.id, "a.b", b'{"x":2}')
    app = build_app(store)
    async with client(app, await session(store, mine.id), portal=True) as portal:
        log = await portal.get("/portal/messages")
        assert log.status_code == 200 and row_ids(log.text) == [own.id]
        # an app filter in the query cannot widen it
        assert row_ids((await portal.get(f"/portal/messages?app={theirs.id}")).text) == [own.id]
        assert (await portal.get(f"/portal/msg/{own.id}")).status_code == 200
        assert f'href="/portal/msg/{own.id}"' in log.text
        missing = await portal.get(f"/portal/msg/{foreign.id}")
        assert missing.status_code == 404 and "x&#34;: 2" not in missing.text
        # the operator's pages are not the portal's
        assert (await portal.get(f"/ui/app/{theirs.id}/msg/{foreign.id}")).status_code == 303
        assert (await portal.get("/ui/messages")).status_code == 303


async def test_resend_shows_only_to_those_allowed(store: Store) -> None:
    acme = await new_app(store, "acme")
    await new_endpoint(store, acme.id, "https://example.com/hook")
    msg = await publish(store, acme.id, "a.b", b"{}")
    app = build_app(store)

    async def buttons(token: str, portal: bool) -> int:
        path = f"/portal/msg/{msg.id}" if portal else f"/ui/app/{acme.id}/msg/{msg.id}"
        async with client(app, token, portal=portal) as c:
            page = await c.get(path)
            assert page.status_code == 200
            return page.text.count('data-testid="resend"')

    assert await buttons(await session(store), portal=False) == 1
    assert await buttons(await session(store, acme.id), portal=True) == 1
    viewer_only = await session(store, acme.id, capabilities=("ViewBase",))
    assert await buttons(viewer_only, portal=True) == 0
    read_only = await session(store, acme.id, read_only=True)
    assert await buttons(read_only, portal=True) == 0
