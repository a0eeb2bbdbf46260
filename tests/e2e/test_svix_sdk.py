"""The official svix SDK (2.9.1) works against hookline unchanged, end to end."""

from __future__ import annotations

import json
import time

import pytest
from svix.api import (
    ApplicationIn,
    EndpointIn,
    EndpointSecretRotateIn,
    MessageIn,
    MessageStatus,
    Svix,
    SvixOptions,
)
from svix.webhooks import Webhook, WebhookVerificationError

from hookline.testing import ThreadedReceiver

pytestmark = pytest.mark.e2e


def eventually(check, timeout: float = 30.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(interval)
    return result


@pytest.fixture
def svix(start_server, database_url):
    server = start_server()
    client = Svix(server.token, SvixOptions(server_url=server.base_url))
    yield client
    # SDK 2.9.1 has no close(); left open, its keep-alive socket trips ResourceWarning (an error
    # under filterwarnings=error).
    client._httpx_client.close()


def test_svix_sdk_round_trip(svix):
    with ThreadedReceiver() as rx:
        app = svix.application.create(ApplicationIn(name="SDK app", uid="sdk-app"))
        assert app.id.startswith("app_")
        same = svix.application.get_or_create(ApplicationIn(name="SDK app", uid="sdk-app"))
        assert same.id == app.id
        assert svix.application.get("sdk-app").id == app.id

        endpoint = svix.endpoint.create(
            app.id, EndpointIn(url=rx.url("/sdk"), event_types=["user.signup"])
        )
        assert endpoint.id.startswith("ep_")
        assert endpoint.event_types == ["user.signup"]
        old_secret = svix.endpoint.get_secret(app.id, endpoint.id).key
        assert old_secret.startswith("whsec_")

        first = svix.message.create(
            app.id, MessageIn(event_type="user.signup", payload={"user": "ada", "n": 1})
        )
        assert first.id.startswith("msg_")
        [request] = rx.wait_for(1, "/sdk")
        assert request.webhook_id == first.id
        Webhook(old_secret).verify(request.body, dict(request.headers))
        assert request.json() == {"user": "ada", "n": 1}

        def delivered():
            attempts = svix.message_attempt.list_by_msg(app.id, first.id).data
            return [a for a in attempts if a.status == MessageStatus.SUCCESS]

        [attempt] = eventually(delivered)
        assert attempt.msg_id == first.id
        assert attempt.endpoint_id == endpoint.id
        assert attempt.response_status_code == 200

        # Svix answers 204 with no body; SDK 2.9.1 still parses one (later SDKs return None),
        # so the call raises on the empty body after the rotation has landed, as against Svix.
        with pytest.raises(json.JSONDecodeError):
            svix.endpoint.rotate_secret(app.id, endpoint.id, EndpointSecretRotateIn())
        new_secret = svix.endpoint.get_secret(app.id, endpoint.id).key
        assert new_secret.startswith("whsec_")
        assert new_secret != old_secret

        second = svix.message.create(
            app.id, MessageIn(event_type="user.signup", payload={"user": "grace", "n": 2})
        )
        request = rx.wait_for(2, "/sdk")[-1]
        assert request.webhook_id == second.id
        headers = dict(request.headers)
        # During the grace period both keys sign, so receivers on either side of the rotation
        # accept the message.
        Webhook(new_secret).verify(request.body, headers)
        Webhook(old_secret).verify(request.body, headers)
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "A" * 32).verify(request.body, headers)
