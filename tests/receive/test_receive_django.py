"""The Django view decorator inside Django's test client (CSRF checks enforced, as a
browser-facing site runs them), and the Django idempotency store on an SQLite database;
requests signed by each provider's own library (``receive_signers``).

Django is configured in process (``settings.configure``) once, for this module, with this
module as the URL conf.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest
from django.conf import settings
from receive_signers import (
    BY_NAME,
    CASES,
    FORGERIES,
    FORGERY_IDS,
    PUBLIC_BASE,
    STALE_S,
    Case,
)

from hookline.receive import VerifiedEvent, WebhookHandlers

_FOLDER = Path(tempfile.mkdtemp(prefix="hookline-django-"))
atexit.register(shutil.rmtree, _FOLDER, True)  # also when no test here runs
if not settings.configured:
    settings.configure(
        SECRET_KEY="test-only-" + "k" * 40,
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(_FOLDER / "db")}
        },
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()

from django.db import connections  # noqa: E402 - needs the settings above
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.test import AsyncClient, Client  # noqa: E402
from django.urls import path  # noqa: E402

from hookline.integrations.django import verify_webhook  # noqa: E402
from hookline.integrations.django_store import DjangoIdempotencyStore  # noqa: E402

PROXIED = [("/forwarded/twilio", 200), ("/hooks/twilio", 401), ("/override/twilio", 200)]
BASE = "http://testserver"
seen: list[VerifiedEvent] = []
registry = WebhookHandlers(store=DjangoIdempotencyStore())
handled: list[str | None] = []
registry.on("orders.*")(lambda event: handled.append(event.id))


def _view(request: HttpRequest, event: VerifiedEvent, **args: Any) -> HttpResponse:
    seen.append(event)
    return JsonResponse({"type": event.event_type, "args": args})


@verify_webhook(BY_NAME["shopify"].verifier())
def _dispatching(request: HttpRequest, event: VerifiedEvent) -> HttpResponse:
    return JsonResponse({"duplicate": registry.dispatch(event).duplicate})


@verify_webhook(BY_NAME["github"].verifier())
async def _async_view(request: HttpRequest, event: VerifiedEvent) -> HttpResponse:
    seen.append(event)
    return JsonResponse({"type": event.event_type, "async": True})


_twilio = BY_NAME["twilio"].verifier()
urlpatterns = [
    *(path(f"hooks/{c.name}", verify_webhook(c.verifier())(_view)) for c in CASES),
    path("forwarded/twilio", verify_webhook(_twilio, trust_forwarded=True)(_view)),
    path("override/twilio", verify_webhook(_twilio, url=PUBLIC_BASE)(_view)),
    path("tenant/<int:tenant>/github", verify_webhook(BY_NAME["github"].verifier())(_view)),
    path("dispatch/shopify", _dispatching),
    path("async/github", _async_view),
]


@pytest.fixture(scope="module", autouse=True)
def _database() -> Iterator[None]:
    yield
    connections.close_all()
    shutil.rmtree(_FOLDER, ignore_errors=True)


@pytest.fixture
def client() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.fixture(autouse=True)
def _fresh() -> None:
    seen.clear()


def post(client: Client, url: str, body: bytes, headers: dict[str, str]) -> Any:
    content_type = headers.pop("Content-Type")
    return client.post(url, data=body, content_type=content_type, headers=headers)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_signed_request_reaches_the_view_as_a_typed_event(client: Client, case: Case) -> None:
    url = f"/hooks/{case.name}"
    body, headers = case.request(BASE + url)
    response = post(client, url, body, headers)
    assert response.status_code == 200, response.content  # and no CSRF 403
    assert response.json()["type"] == case.event_type
    (event,) = seen
    assert (event.event_type, event.id) == (case.event_type, case.event_id)
    if case.timestamped:
        assert event.timestamp is not None and abs(event.timestamp - time.time()) < 60


@pytest.mark.parametrize(("case", "forgery"), FORGERIES, ids=FORGERY_IDS)
def test_forgeries_get_401_json_and_never_reach_the_view(
    client: Client, case: Case, forgery: str
) -> None:
    url = f"/hooks/{case.name}"
    ts = int(time.time()) - STALE_S if forgery == "stale" else None
    secret = case.wrong if forgery == "wrong_secret" else None
    body, headers = case.request(BASE + url, ts=ts, secret=secret)
    if forgery == "tampered":
        body = body.replace(b"100", b"999")
    response = post(client, url, body, headers)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    payload = response.json()
    assert payload["code"] == "invalid_signature"
    expected = "timestamp_out_of_tolerance" if forgery == "stale" else "bad_signature"
    assert payload["detail"].startswith(f"{expected}: ")
    assert seen == []


def test_twilio_form_body_is_read_raw(client: Client) -> None:
    body, headers = BY_NAME["twilio"].request(f"{BASE}/hooks/twilio")
    assert post(client, "/hooks/twilio", body, headers).status_code == 200
    assert seen[0].data["Body"] == "pay 100 & more"


def test_twilio_behind_a_proxy_needs_trust_forwarded_or_the_public_url(client: Client) -> None:
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.test"}
    for url, status in [
        ("/forwarded/twilio", 200),
        ("/hooks/twilio", 401),
        ("/override/twilio", 200),
    ]:
        body, headers = BY_NAME["twilio"].request(f"{PUBLIC_BASE}{url}?tenant=7")
        response = post(client, f"{url}?tenant=7", body, {**headers, **proxy})
        assert response.status_code == status, url
    assert len(seen) == 2


def test_url_arguments_follow_the_event(client: Client) -> None:
    body, headers = BY_NAME["github"].request(f"{BASE}/tenant/7/github")
    response = post(client, "/tenant/7/github", body, headers)
    assert response.status_code == 200
    assert response.json()["args"] == {"tenant": 7}


def test_the_registry_on_the_django_store_runs_a_handler_once(client: Client) -> None:
    body, headers = BY_NAME["shopify"].request(f"{BASE}/dispatch/shopify")
    answers = [post(client, "/dispatch/shopify", body, dict(headers)).json() for _ in range(2)]
    assert answers == [{"duplicate": False}, {"duplicate": True}]
    assert handled == [BY_NAME["shopify"].event_id]


def test_django_store_claim_release_prune() -> None:
    store = DjangoIdempotencyStore(table_name="claims_basic")
    assert store.claim("a") and not store.claim("a")
    store.release("a")
    assert store.claim("a")
    assert store.prune(3600) == 0
    assert store.prune(-1) == 1  # every claim is older than a second from now
    assert store.claim("a")


def test_django_store_racing_threads_have_one_winner() -> None:
    store = DjangoIdempotencyStore(table_name="claims_race")
    store.create_table()
    rounds, threads = 5, 4
    wins: list[list[bool]] = [[] for _ in range(rounds)]
    barrier = threading.Barrier(threads)

    def race() -> None:
        try:
            for n in range(rounds):
                barrier.wait(timeout=10)
                wins[n].append(store.claim(f"key-{n}"))
        finally:
            connections.close_all()

    workers = [threading.Thread(target=race) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert [sorted(w) for w in wins] == [[False] * (threads - 1) + [True]] * rounds


async def test_an_async_view_is_verified_the_same_way() -> None:
    client = AsyncClient(enforce_csrf_checks=True)
    case = BY_NAME["github"]
    for secret, status in [(case.secret, 200), (case.wrong, 401)]:
        body, headers = case.request(f"{BASE}/async/github", secret=secret)
        content_type = headers.pop("Content-Type")
        response = await client.post(
            "/async/github", data=body, content_type=content_type, headers=headers
        )
        assert response.status_code == status
    assert [e.event_type for e in seen] == ["push"]
    assert response.json()["code"] == "invalid_signature"
