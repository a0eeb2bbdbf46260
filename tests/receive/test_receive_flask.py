"""The Flask decorator inside Flask's test client, with requests signed by each
provider's own library (``receive_signers``)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask, jsonify, request
from flask.testing import FlaskClient
from receive_signers import (
    BY_NAME,
    CASES,
    FORGERIES,
    FORGERY_IDS,
    PUBLIC_BASE,
    STALE_S,
    Case,
)

from hookline.integrations.flask import verify_webhook
from hookline.receive import VerifiedEvent, Verifier, WebhookHandlers

PROXIED = [("/forwarded/twilio", 200), ("/hooks/twilio", 401), ("/override/twilio", 200)]
BASE = "http://localhost"
seen: list[VerifiedEvent] = []


def _view(event: VerifiedEvent, **args: Any) -> Any:
    seen.append(event)
    form = dict(request.form) if request.mimetype == "application/x-www-form-urlencoded" else {}
    return jsonify(type=event.event_type, args=args, form=form)


def build_app() -> Flask:
    app = Flask(__name__)
    for case in CASES:
        view = verify_webhook(case.verifier())(_view)
        app.add_url_rule(f"/hooks/{case.name}", f"hook_{case.name}", view, methods=["POST"])
    twilio = BY_NAME["twilio"].verifier()
    forwarded = verify_webhook(twilio, trust_forwarded=True)(_view)
    override = verify_webhook(twilio, url=PUBLIC_BASE)(_view)
    app.add_url_rule("/forwarded/twilio", "forwarded", forwarded, methods=["POST"])
    app.add_url_rule("/override/twilio", "override", override, methods=["POST"])
    github = verify_webhook(BY_NAME["github"].verifier())(_view)
    app.add_url_rule("/tenant/<int:tenant>/github", "tenant", github, methods=["POST"])
    return app


APP = build_app()


@pytest.fixture
def client() -> FlaskClient:
    return APP.test_client()


@pytest.fixture(autouse=True)
def _fresh() -> None:
    seen.clear()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_signed_request_reaches_the_view_as_a_typed_event(client: FlaskClient, case: Case) -> None:
    path = f"/hooks/{case.name}"
    body, headers = case.request(BASE + path)
    response = client.post(path, data=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json is not None and response.json["type"] == case.event_type
    (event,) = seen
    assert (event.event_type, event.id) == (case.event_type, case.event_id)
    if case.timestamped:
        assert event.timestamp is not None and abs(event.timestamp - time.time()) < 60


@pytest.mark.parametrize(("case", "forgery"), FORGERIES, ids=FORGERY_IDS)
def test_forgeries_get_401_json_and_never_reach_the_view(
    client: FlaskClient, case: Case, forgery: str
) -> None:
    path = f"/hooks/{case.name}"
    ts = int(time.time()) - STALE_S if forgery == "stale" else None
    secret = case.wrong if forgery == "wrong_secret" else None
    body, headers = case.request(BASE + path, ts=ts, secret=secret)
    if forgery == "tampered":
        body = body.replace(b"100", b"999")
    response = client.post(path, data=body, headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    payload = response.json
    assert payload is not None and payload["code"] == "invalid_signature"
    expected = "timestamp_out_of_tolerance" if forgery == "stale" else "bad_signature"
    assert payload["detail"].startswith(f"{expected}: ")
    assert seen == []


def test_twilio_form_is_verified_from_the_raw_body_and_still_readable(
    client: FlaskClient,
) -> None:
    body, headers = BY_NAME["twilio"].request(f"{BASE}/hooks/twilio")
    response = client.post("/hooks/twilio", data=body, headers=headers)
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["form"]["Body"] == "pay 100 & more"  # the view can still parse it
    assert seen[0].data["Body"] == "pay 100 & more"


def test_twilio_behind_a_proxy_needs_trust_forwarded_or_the_public_url(
    client: FlaskClient,
) -> None:
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.test"}
    for path, status in [
        ("/forwarded/twilio", 200),
        ("/hooks/twilio", 401),
        ("/override/twilio", 200),
    ]:
        body, headers = BY_NAME["twilio"].request(f"{PUBLIC_BASE}{path}?tenant=7")
        response = client.post(f"{path}?tenant=7", data=body, headers={**headers, **proxy})
        assert response.status_code == status, path
    assert len(seen) == 2


def test_url_arguments_follow_the_event(client: FlaskClient) -> None:
    body, headers = BY_NAME["github"].request(f"{BASE}/tenant/7/github")
    response = client.post("/tenant/7/github", data=body, headers=headers)
    assert response.status_code == 200
    assert response.json is not None and response.json["args"] == {"tenant": 7}


def test_the_registry_in_a_view_runs_a_handler_once_per_delivery() -> None:
    handlers = WebhookHandlers()
    calls: list[str | None] = []
    handlers.on("push")(lambda event: calls.append(event.id))
    app = Flask(__name__)

    @app.post("/github")
    @verify_webhook(Verifier("github", BY_NAME["github"].secret))
    def hook(event: VerifiedEvent) -> Any:
        return jsonify(duplicate=handlers.dispatch(event).duplicate)

    body, headers = BY_NAME["github"].request(f"{BASE}/github")
    client = app.test_client()
    answers = [client.post("/github", data=body, headers=headers).json for _ in range(2)]
    assert answers == [{"duplicate": False}, {"duplicate": True}]
    assert calls == [BY_NAME["github"].event_id]


def test_an_async_view_gets_the_event_too() -> None:
    app = Flask(__name__)

    @app.post("/github")
    @verify_webhook(BY_NAME["github"].verifier())
    async def hook(event: VerifiedEvent) -> Any:
        return jsonify(type=event.event_type)

    body, headers = BY_NAME["github"].request(f"{BASE}/github")
    response = app.test_client().post("/github", data=body, headers=headers)
    assert response.status_code == 200
    assert response.json == {"type": "push"}
