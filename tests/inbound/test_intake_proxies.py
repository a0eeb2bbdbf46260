"""The URL a provider signed, behind a proxy: X-Forwarded-Proto/-Host count only when the
peer is a configured trusted proxy. Twilio signs the full URL, so it shows the difference;
signatures come from Twilio's own library."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from inbound_helpers import stored_requests
from inbound_kit import Served, serve
from twilio.request_validator import RequestValidator

from hookline.sources import InboundRequest, Verdict

AUTH_TOKEN = "twilio-auth-token-0123456789abcdef"
PUBLIC = "https://hooks.example.com"  # what Twilio calls; a header value only, never dialled
PARAMS = {"MessageSid": "SM123", "From": "+15550001111", "Body": "hello", "SmsStatus": "received"}


async def post_signed_for(
    server: Served, signed_base: str, forwarded: bool
) -> tuple[int, InboundRequest]:
    source = await server.source("twilio", {"secret": AUTH_TOKEN})
    path = f"/in/{source.token}?tenant=7"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(signed_base + path, PARAMS)
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": signature,
    }
    if forwarded:
        headers |= {"x-forwarded-proto": "https", "x-forwarded-host": "hooks.example.com"}
    response = await server.client.post(path, content=urlencode(PARAMS), headers=headers)
    [stored] = await stored_requests(server.store, source)
    assert stored.status_code == response.status_code, stored.reason
    if response.status_code == 200:
        assert stored.verdict is Verdict.ACCEPTED
        assert stored.event_type == "twilio.message.received"

        async def routed() -> bool:
            return len(await server.messages(source)) == 1

        await server.eventually(routed)  # the router rebuilt the same URL from the stored row
    return response.status_code, stored


async def test_forwarded_headers_from_a_trusted_proxy_give_the_public_url(tmp_path: Path) -> None:
    async with serve(tmp_path, trusted_proxies=("127.0.0.0/8",)) as server:
        status, stored = await post_signed_for(server, PUBLIC, forwarded=True)
        assert status == 200
        assert stored.headers["x-forwarded-host"] == "hooks.example.com"
        # behind the proxy, a signature over the address hookline listens on is wrong
        assert (await post_signed_for(server, server.base_url, forwarded=True))[0] == 401


async def test_forwarded_headers_from_anyone_else_are_ignored(tmp_path: Path) -> None:
    async with serve(tmp_path, trusted_proxies=("10.0.0.0/8",)) as server:
        assert (await post_signed_for(server, PUBLIC, forwarded=True))[0] == 401
        status, stored = await post_signed_for(server, server.base_url, forwarded=True)
        assert status == 200, (stored.reason, stored.headers)
        # not believed, so not kept: a replay must not believe them either
        assert "x-forwarded-host" not in stored.headers
        assert "x-forwarded-proto" not in stored.headers
