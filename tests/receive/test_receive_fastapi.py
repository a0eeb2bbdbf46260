"""The FastAPI dependency inside a FastAPI app driven in process by httpx (the transport
Starlette's TestClient wraps), with requests signed by each provider's own library
(``receive_signers``). No postponed annotations here: FastAPI reads the routes'
annotations, which name dependencies local to the functions that build the app."""

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from receive_signers import (
    BY_NAME,
    CASES,
    FORGERIES,
    FORGERY_IDS,
    PUBLIC_BASE,
    STALE_S,
    TWILIO_BODY,
    Case,
)

from hookline.integrations.fastapi import WebhookDependency, install_error_handler
from hookline.receive import MemoryIdempotencyStore, VerifiedEvent, Verifier, WebhookHandlers

BASE = "http://testserver"
seen: list[VerifiedEvent] = []


def _route(app: FastAPI, path: str, dependency: WebhookDependency) -> None:
    async def hook(event: Annotated[VerifiedEvent, Depends(dependency)]) -> dict[str, Any]:
        seen.append(event)
        return {"type": event.event_type}

    app.post(path)(hook)


def build_app(*, errors: bool = True) -> FastAPI:
    app = FastAPI()
    if errors:
        install_error_handler(app)
    for case in CASES:
        _route(app, f"/hooks/{case.name}", WebhookDependency(case.verifier()))
    twilio = BY_NAME["twilio"].verifier()
    _route(app, "/forwarded/twilio", WebhookDependency(twilio, trust_forwarded=True))
    _route(app, "/override/twilio", WebhookDependency(twilio, url=PUBLIC_BASE))
    return app


APP = build_app()


def asgi_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(APP) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def _fresh() -> None:
    seen.clear()


async def post(
    client: httpx.AsyncClient, path: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(path, content=body, headers=headers)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_signed_request_reaches_the_route_as_a_typed_event(
    client: httpx.AsyncClient, case: Case
) -> None:
    path = f"/hooks/{case.name}"
    body, headers = case.request(BASE + path)
    response = await post(client, path, body, headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"type": case.event_type}
    (event,) = seen
    assert (event.event_type, event.id) == (case.event_type, case.event_id)
    assert isinstance(event.data, dict)
    if case.timestamped:
        assert event.timestamp is not None and abs(event.timestamp - time.time()) < 60


@pytest.mark.parametrize(("case", "forgery"), FORGERIES, ids=FORGERY_IDS)
async def test_forgeries_get_401_json_and_never_reach_the_route(
    client: httpx.AsyncClient, case: Case, forgery: str
) -> None:
    path = f"/hooks/{case.name}"
    ts = int(time.time()) - STALE_S if forgery == "stale" else None
    secret = case.wrong if forgery == "wrong_secret" else None
    body, headers = case.request(BASE + path, ts=ts, secret=secret)
    if forgery == "tampered":
        body = body.replace(b"100", b"999")
    response = await post(client, path, body, headers)
    assert response.status_code == 401
    payload = response.json()
    assert payload["code"] == "invalid_signature"
    expected = "timestamp_out_of_tolerance" if forgery == "stale" else "bad_signature"
    assert payload["detail"].startswith(f"{expected}: ")
    assert seen == []


async def test_twilio_form_body_is_read_raw() -> None:
    """The form's fields are signed (sorted), and the event carries them all; an
    ``&`` inside a value survives."""
    case = BY_NAME["twilio"]
    async with asgi_client(build_app()) as client:
        body, headers = case.request(f"{BASE}/hooks/twilio")
        assert (await post(client, "/hooks/twilio", body, headers)).status_code == 200
    assert body == TWILIO_BODY
    assert seen[0].data == {
        "MessageSid": "SM1",
        "MessageStatus": "delivered",
        "Body": "pay 100 & more",
    }


async def test_twilio_behind_a_proxy_needs_trust_forwarded_or_the_public_url(
    client: httpx.AsyncClient,
) -> None:
    case = BY_NAME["twilio"]
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.test"}
    for path, status in [
        ("/forwarded/twilio", 200),  # trusts the proxy's headers
        ("/hooks/twilio", 401),  # sees http://testserver, not what Twilio signed
        ("/override/twilio", 200),  # told the public URL
    ]:
        body, headers = case.request(f"{PUBLIC_BASE}{path}?tenant=7")
        response = await post(client, f"{path}?tenant=7", body, {**headers, **proxy})
        assert response.status_code == status, path
    assert len(seen) == 2


async def test_without_the_error_handler_the_answer_is_still_401() -> None:
    case = BY_NAME["github"]
    async with asgi_client(build_app(errors=False)) as client:
        body, headers = case.request(f"{BASE}/hooks/github", secret=case.wrong)
        response = await post(client, "/hooks/github", body, headers)
    assert response.status_code == 401
    assert response.json()["detail"].startswith("bad_signature")
    assert seen == []


async def test_async_and_sync_handlers_run_once_per_webhook_id() -> None:
    handlers = WebhookHandlers(store=MemoryIdempotencyStore())
    calls: list[str] = []

    @handlers.on("invoice.*")
    async def on_invoice(event: VerifiedEvent) -> None:
        calls.append(f"async {event.id}")

    @handlers.on("invoice.paid")
    def on_paid(event: VerifiedEvent) -> None:
        calls.append(f"sync {event.id}")

    webhook = WebhookDependency(Verifier("standard-webhooks", BY_NAME["standard"].secret))
    app = FastAPI()

    @app.post("/hook")
    async def hook(event: Annotated[VerifiedEvent, Depends(webhook)]) -> dict[str, Any]:
        done = await handlers.adispatch(event)
        return {"duplicate": done.duplicate, "handled": done.handled}

    body, headers = BY_NAME["standard"].request(f"{BASE}/hook")
    async with asgi_client(app) as client:
        first = (await post(client, "/hook", body, headers)).json()
        again = (await post(client, "/hook", body, headers)).json()
    assert first == {"duplicate": False, "handled": 2}
    assert again == {"duplicate": True, "handled": 0}
    assert calls == ["sync msg_1", "async msg_1"]  # exact before prefix
