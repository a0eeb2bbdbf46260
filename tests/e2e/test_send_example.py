"""An endpoint's test event (Svix's ``send-example``), through the official SDK against a
real ``hookline serve``: delivered signed to that endpoint, retried like any message, and
never to the application's other endpoints."""

from __future__ import annotations

import time

import pytest
from standardwebhooks import Webhook
from svix.api import ApplicationIn, EndpointIn, EventExampleIn, EventTypeIn, Svix, SvixOptions

from hookline.testing import ThreadedReceiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def svix(start_server):
    server = start_server(env_overrides={"HOOKLINE_RETRY_SCHEDULE": "0.2,0.2"})
    client = Svix(server.token, SvixOptions(server_url=server.base_url))
    yield client
    client._httpx_client.close()


def test_send_example_reaches_only_that_endpoint_signed_and_retried(svix):
    example = {"user": "ada", "plan": "pro"}
    svix.event_type.create(
        EventTypeIn(
            name="user.signup",
            description="A user signed up",
            schemas={"1": {"type": "object", "examples": [example, {"user": "bob"}]}},
        )
    )
    with ThreadedReceiver() as rx:
        rx.script("/target", [500])  # the first try fails: the test event is retried
        app = svix.application.create(ApplicationIn(name="example"))
        target = svix.endpoint.create(app.id, EndpointIn(url=rx.url("/target")))
        svix.endpoint.create(app.id, EndpointIn(url=rx.url("/sibling")))  # takes everything
        secret = svix.endpoint.get_secret(app.id, target.id).key

        signup = EventExampleIn(event_type="user.signup")
        sent = svix.endpoint.send_example(app.id, target.id, signup)
        assert sent.event_type == "user.signup"
        assert sent.payload == example
        ping = svix.endpoint.send_example(app.id, target.id, EventExampleIn(event_type="svix.ping"))
        assert ping.payload == {"success": True}

        rx.wait_until(lambda: len(rx.requests("/target")) >= 3, timeout=20)
        received = rx.requests("/target")
        by_id = {}
        for request in received:
            verified = Webhook(secret).verify(request.body, dict(request.headers))
            by_id.setdefault(request.webhook_id, []).append(verified)
        assert by_id[sent.id] == [example, example]  # failed once, then retried
        assert by_id[ping.id] == [{"success": True}]
        time.sleep(0.5)  # give a wrong fan-out the time to show
        assert rx.requests("/sibling") == []
        assert [m.id for m in svix.message.list(app.id).data] == [ping.id, sent.id]
