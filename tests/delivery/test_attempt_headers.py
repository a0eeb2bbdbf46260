"""An attempt's record shows the request headers as sent, credentials masked, and the
response headers as received (bounded): what the dashboard's attempt page displays."""

from __future__ import annotations

from engine_kit import Engine, EngineFactory

from hookline.models import MASKED, Attempt
from hookline.store.base import AttemptFilter, PageRequest

SECRETS = {
    "Authorization": "Bearer sk-live-1",
    "Cookie": "session=sk-live-2",
    "X-Api-Key": "sk-live-3",
    "X-Customer-Token": "sk-live-4",
    "Client-Secret": "sk-live-5",
    "X-DB-Password": "sk-live-6",
}


async def attempts(e: Engine, msg_id: str, n: int) -> list[Attempt]:
    async def enough() -> bool:
        return len(await fetch()) >= n

    async def fetch() -> list[Attempt]:
        page = await e.store.list_attempts(
            e.app.id, AttemptFilter(), PageRequest(limit=50), msg_id=msg_id
        )
        return page.data

    await e.until(enough)
    return await fetch()


async def test_request_headers_are_recorded_with_credentials_masked(
    engine: EngineFactory,
) -> None:
    e = await engine(schedule=())
    e.receiver.script("/h", default=503, body="busy", headers={"X-Served-By": "r1"})
    await e.endpoint("/h", headers={**SECRETS, "X-Trace": "visible"})
    msg = await e.publish()
    [attempt] = await attempts(e, msg.id, 1)
    [request] = e.receiver.requests("/h")
    for name, value in SECRETS.items():
        assert request.headers[name] == value  # the receiver gets the real values
    sent = attempt.request_headers
    assert sent is not None
    assert {name: sent[name] for name in SECRETS} == dict.fromkeys(SECRETS, MASKED)
    assert sent["X-Trace"] == "visible"
    assert sent["webhook-id"] == msg.id == request.headers["webhook-id"]
    assert sent["webhook-signature"] == request.headers["webhook-signature"]
    assert sent["webhook-timestamp"] == request.headers["webhook-timestamp"]
    assert sent["content-length"] == str(len(request.body))
    assert not any("sk-live" in value for value in sent.values())
    received = attempt.response_headers
    assert received is not None
    assert received["x-served-by"] == "r1"
    assert attempt.response_status == 503 and attempt.response_body == "busy"


async def test_url_credentials_show_masked_and_response_headers_are_bounded(
    engine: EngineFactory,
) -> None:
    e = await engine(schedule=())
    many = {f"X-Header-{i:03d}": "v" * 100 for i in range(120)}
    e.receiver.script("/many", headers=many)
    ep = await e.endpoint("/many")
    ep.url = ep.url.replace("http://", "http://user:sk-live-7@")
    await e.store.update_endpoint(ep)
    msg = await e.publish()
    [attempt] = await attempts(e, msg.id, 1)
    [request] = e.receiver.requests("/many")
    assert request.headers["Authorization"].startswith("Basic ")
    assert attempt.request_headers is not None
    assert attempt.request_headers["authorization"] == MASKED
    received = attempt.response_headers
    assert received is not None
    assert 0 < len(received) <= 50
    assert sum(len(k) + len(v) for k, v in received.items()) <= 8 * 1024
    assert received.get("x-header-000") == "v" * 100  # the first ones are the ones kept
