"""A message's raw payload and an attempt's headers, from a real delivery by a real
``hookline serve``: the bytes as published, the headers as sent (credentials named but
never shown) and the receiver's response headers; and the environment's settings, as the
server was configured."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from standardwebhooks import Webhook
from svix.api import ApplicationIn, EndpointIn, MessageIn, Svix, SvixOptions

from hookline.testing import ThreadedReceiver

pytestmark = pytest.mark.e2e

CREDENTIAL = "Bearer sk-views-" + "7" * 32
PAYLOAD = {"amount": 1250, "note": "caf\u00e9 \u2603", "nested": {"b": [1, 2.5, None]}}


def test_raw_payload_and_attempt_headers_show_what_was_sent(start_server):
    branding = {"HOOKLINE_PORTAL_NAME": "Acme Hooks", "HOOKLINE_PORTAL_PRIMARY_COLOR": "#123456"}
    server = start_server(env_overrides=branding)
    svix = Svix(server.token, SvixOptions(server_url=server.base_url))
    http = httpx.Client(base_url=server.base_url, headers=server.auth, timeout=10)
    try:
        with ThreadedReceiver() as rx:
            app = svix.application.create(ApplicationIn(name="views"))
            ep = svix.endpoint.create(
                app.id,
                EndpointIn(
                    url=rx.url("/hook"),
                    headers={"Authorization": CREDENTIAL, "X-Team": "blue"},
                ),
            )
            msg = svix.message.create(app.id, MessageIn(event_type="order.paid", payload=PAYLOAD))
            rx.wait_until(lambda: len(rx.requests("/hook")) == 1, timeout=20)
            body = rx.requests("/hook")[0].body
            secret = svix.endpoint.get_secret(app.id, ep.id).key
            Webhook(secret).verify(body, dict(rx.requests("/hook")[0].headers))

            base = f"/api/v1/app/{app.id}/msg/{msg.id}"
            raw = http.get(f"{base}/raw")
            assert raw.status_code == 200, raw.text
            # exactly the signed bytes: a consumer can hash or verify what it received
            assert raw.json()["payload"].encode() == body
            assert json.loads(raw.json()["payload"]) == PAYLOAD
            assert (
                hashlib.sha256(raw.json()["payload"].encode()).digest()
                == hashlib.sha256(body).digest()
            )

            attempts = svix.message_attempt.list_by_msg(app.id, msg.id).data
            assert len(attempts) == 1
            shown = http.get(f"{base}/attempt/{attempts[0].id}/headers")
            assert shown.status_code == 200, shown.text
            out = shown.json()
            assert set(out) == {"sentHeaders", "sensitive", "responseHeaders"}
            assert out["sensitive"] == ["Authorization"]
            sent = {k.lower(): v for k, v in out["sentHeaders"].items()}
            assert sent["x-team"] == "blue"
            assert sent["webhook-id"] == msg.id
            assert "authorization" not in sent
            assert "sk-views-" not in shown.text
            received = {k.lower(): v for k, v in out["responseHeaders"]}
            assert received["content-length"] == "0" or "content-type" in received

            other = svix.application.create(ApplicationIn(name="other"))
            assert http.get(f"/api/v1/app/{other.id}/msg/{msg.id}/raw").status_code == 404
            missing = http.get(f"{base}/attempt/atmpt_missing/headers")
            assert missing.status_code == 404 and missing.json()["code"]

        # Svix's environment settings report the portal's branding from the server's
        settings = http.get("/api/v1/environment/settings")
        assert settings.status_code == 200, settings.text
        shown = settings.json()
        assert (shown["displayName"], shown["customColor"]) == ("Acme Hooks", "#123456")
        assert shown["logoUrl"] is None
        assert shown["enableTransformations"] is False and shown["enableMessageTags"] is True
    finally:
        http.close()
        svix._httpx_client.close()
