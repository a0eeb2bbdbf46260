"""Inbound sources: the list with ingest URLs and counts, a source's request log with
intake's verdicts (credentials masked), and replay through the ingest API with the page's
session. Requests arrive through the real intake app."""

from __future__ import annotations

import html
import re

import httpx
from msgs_kit import BASE, TOKEN, build_app, client, session, store

from hookline.access import csrf_token
from hookline.inbound.intake import IntakeApp, IntakeConfig
from hookline.sources import Verdict
from hookline.store.base import Store
from hookline.ui.session import PORTAL_COOKIE

__all__ = ["store"]


async def test_sources_show_verdicts_and_replay_through_the_api(store: Store) -> None:
    served = IntakeApp(build_app(store), store, IntakeConfig())
    admin = {"Authorization": f"Bearer {TOKEN}"}
    transport = httpx.ASGITransport(app=served)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=admin) as api:
        made = await api.post(
            "/ingest/api/v1/source",
            json={"name": "Keys", "type": "api-key", "config": {"secret": "k", "header": "X-Key"}},
        )
        assert made.status_code == 201, made.text
        source = made.json()
        intake = source["ingestUrl"].removeprefix(BASE)
        assert (await api.post(intake, json={"n": 1}, headers={"X-Key": "k"})).is_success
        assert (
            await api.post(intake, json={"n": 2}, headers={"X-Key": "wrong"})
        ).status_code == 401
    operator = await session(store)
    async with client(served, operator) as ui:  # type: ignore[arg-type]
        listing = (await ui.get("/ui/sources")).text
        assert source["ingestUrl"] in listing
        assert "accepted 1</span>" in listing and "rejected 1</span>" in listing
        page = await ui.get(f"/ui/sources/{source['id']}")
        assert page.status_code == 200
        verdicts = re.findall(
            r'data-testid="inbound-request" data-request-id="([^"]+)" data-verdict="(\w+)"',
            page.text,
        )
        assert [v for _, v in verdicts] == ["rejected", "accepted"]  # newest first
        assert "wrong" not in page.text and "***" in page.text  # the key header, masked
        assert '{"n":2}' in html.unescape(page.text)
        only = (await ui.get(f"/ui/sources/{source['id']}", params={"verdict": "accepted"})).text
        assert [
            r for r, _ in re.findall(r'data-request-id="([^"]+)" data-verdict="(\w+)"', only)
        ] == [verdicts[1][0]]
        assert (
            await ui.get(f"/ui/sources/{source['id']}", params={"verdict": "odd"})
        ).status_code == 400
        assert (await ui.get("/ui/sources/src_missing")).status_code == 404
        # the replay button's call, with the session and its CSRF token
        rejected = verdicts[0][0]
        button = re.search(rf'id="replay-{rejected}"\s+data-api="([^"]+)"', page.text)
        assert button is not None
        method, path = html.unescape(button.group(1)).split(" ", 1)
        answer = await ui.request(method, path)
        assert answer.status_code == 202, answer.text
        assert rejected in [r.id for r in await store.unrouted_requests(10)]
        after = (await ui.get(f"/ui/sources/{source['id']}", params={"verdict": "replay"})).text
        assert f'data-request-id="{rejected}" data-verdict="{Verdict.REPLAY.value}"' in after
    # a portal session has no source pages
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=served), base_url=BASE,
        cookies={PORTAL_COOKIE: operator}, headers={"X-CSRF-Token": csrf_token(operator)},
    ) as other:  # fmt: skip
        assert (await other.get("/portal/sources")).status_code == 404
