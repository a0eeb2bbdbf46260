"""The official svix SDK (2.9.1)'s ``ingest`` module drives hookline's sources unchanged:
Svix's own source types, and hookline's extension providers reported as
``generic-webhook`` so that the SDK, which checks ``type`` against its list, parses them."""

from __future__ import annotations

import base64
import os

import httpx
import pytest
from svix.api import (
    IngestEndpointHeadersIn,
    IngestEndpointIn,
    IngestEndpointSecretIn,
    IngestEndpointUpsertIn,
    IngestSourceIn,
    Svix,
    SvixOptions,
)
from svix.api.ingest_source import IngestSourceListOptions
from svix.exceptions import HttpError, HTTPValidationError

pytestmark = pytest.mark.e2e


def whsec() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


# (type, config) as an SDK user writes them; extensions go through generic-webhook.
SVIX_TYPES = [
    ("github", {"secret": "gh-secret"}),
    ("stripe", {"secret": "whsec_stripe_secret"}),
    ("shopify", {"secret": "shopify-secret"}),
    ("slack", {"secret": "slack-signing-secret"}),
    ("svix", {"secret": whsec()}),
]
EXTENSIONS = [
    {"provider": "twilio", "secret": "twilio-token"},
    {"provider": "hmac", "secret": "hmac-key-value", "header": "X-Signature", "prefix": "sha256="},
    {"provider": "basic-auth", "username": "hook", "password": "basic-pw"},
    {"provider": "api-key", "secret": "api-key-value", "header": "X-Api-Key"},
    {"provider": "standard-webhooks", "secret": whsec()},
    {},  # plain generic-webhook: verifies nothing
]


@pytest.fixture(scope="module")
def server(start_module_server):
    return start_module_server()


@pytest.fixture
def svix(server):
    client = Svix(server.token, SvixOptions(server_url=server.base_url))
    yield client
    client._httpx_client.close()  # SDK 2.9.1 has no close()


def test_sources_of_every_type_through_the_sdk(svix, server):
    created = {}
    for kind, config in SVIX_TYPES:
        src = svix.ingest.source.create(
            IngestSourceIn(name=f"{kind} in", uid=f"sdk-{kind}", type=kind, config=config)
        )
        assert src.type == kind and src.id.startswith("src_")
        created[src.id] = kind
    for n, config in enumerate(EXTENSIONS):
        src = svix.ingest.source.create(
            IngestSourceIn(name=f"ext {n}", type="generic-webhook", config=config)
        )
        assert src.type == "generic-webhook"
        assert src.config["provider"] == config.get("provider", "none")
        created[src.id] = "generic-webhook"
    secrets = [v for _, c in SVIX_TYPES for v in c.values()]
    secrets += [v for c in EXTENSIONS for k, v in c.items() if k in ("secret", "password")]

    seen = {}
    iterator = None
    while True:  # lists parse with extension sources present, page by page
        page = svix.ingest.source.list(IngestSourceListOptions(limit=4, iterator=iterator))
        for src in page.data:
            seen[src.id] = src.type
            assert src.ingest_url.startswith(server.base_url + "/in/")
        if page.done:
            break
        iterator = page.iterator
    assert seen == created

    raw = httpx.get(
        server.base_url + "/ingest/api/v1/source", params={"limit": 250}, headers=server.auth
    )
    assert not any(s in raw.text for s in secrets), "a secret was shown"

    got = svix.ingest.source.get("sdk-github")
    assert got.type == "github" and got.uid == "sdk-github"


def test_update_patch_rotate_and_delete_a_source(svix, server):
    src = svix.ingest.source.create(
        IngestSourceIn(name="Stripe", type="stripe", config={"secret": "whsec_a"})
    )
    updated = svix.ingest.source.upsert(
        src.id,
        IngestSourceIn(
            name="Stripe live", uid="stripe-live", type="stripe", config={"secret": "whsec_b"}
        ),
    )
    assert (updated.id, updated.name, updated.uid) == (src.id, "Stripe live", "stripe-live")
    made = svix.ingest.source.upsert(
        "made-by-put",
        IngestSourceIn(
            name="Made", type="generic-webhook", config={"provider": "api-key", "secret": "k"}
        ),
    )
    assert made.uid == "made-by-put" and made.config["provider"] == "api-key"

    # The SDK has no patch; it is the same route any HTTP client calls.
    patched = httpx.patch(
        f"{server.base_url}/ingest/api/v1/source/stripe-live",
        json={"name": "Stripe patched", "config": {"secrets": ["whsec_c", "whsec_b"]}},
        headers=server.auth,
    )
    assert patched.status_code == 200, patched.text
    again = svix.ingest.source.get("stripe-live")
    assert again.name == "Stripe patched" and again.type == "stripe"

    old_url = again.ingest_url
    rotated = svix.ingest.source.rotate_token(src.id)
    assert rotated.ingest_url != old_url
    assert rotated.ingest_url.startswith(server.base_url + "/in/")
    assert svix.ingest.source.get(src.id).ingest_url == rotated.ingest_url

    with pytest.raises(HTTPValidationError):
        svix.ingest.source.create(IngestSourceIn(name="Bad", type="github", config={}))
    with pytest.raises(HttpError) as conflict:
        svix.ingest.source.create(
            IngestSourceIn(name="Dup", uid="stripe-live", type="svix", config={"secret": whsec()})
        )
    assert conflict.value.status_code == 409

    svix.ingest.source.delete(src.id)
    with pytest.raises(HttpError) as gone:
        svix.ingest.source.get(src.id)
    assert gone.value.status_code == 404


def test_source_endpoints_through_the_sdk(svix, server):
    src = svix.ingest.source.create(
        IngestSourceIn(name="GitHub", type="github", config={"secret": "s"})
    )
    ep = svix.ingest.endpoint.create(
        src.id,
        IngestEndpointIn(
            url="https://example.com/hook",
            uid="hook",
            headers={"X-Team": "ops"},
            metadata={"a": "b"},
        ),
    )
    assert ep.id.startswith("ep_") and ep.uid == "hook" and ep.metadata == {"a": "b"}
    assert [e.id for e in svix.ingest.endpoint.list(src.id).data] == [ep.id]
    assert svix.ingest.endpoint.get(src.id, "hook").url == "https://example.com/hook"

    updated = svix.ingest.endpoint.upsert(
        src.id, ep.id, IngestEndpointUpsertIn(url="https://example.com/v2", description="v2")
    )
    assert (updated.url, updated.description) == ("https://example.com/v2", "v2")

    secret = svix.ingest.endpoint.get_secret(src.id, ep.id).key
    assert secret.startswith("whsec_")
    svix.ingest.endpoint.rotate_secret(src.id, ep.id, IngestEndpointSecretIn())
    rotated = svix.ingest.endpoint.get_secret(src.id, ep.id).key
    assert rotated.startswith("whsec_") and rotated != secret
    chosen = whsec()
    svix.ingest.endpoint.rotate_secret(src.id, ep.id, IngestEndpointSecretIn(key=chosen))
    assert svix.ingest.endpoint.get_secret(src.id, ep.id).key == chosen

    assert svix.ingest.endpoint.get_headers(src.id, ep.id).headers == {"X-Team": "ops"}
    svix.ingest.endpoint.set_headers(
        src.id, ep.id, IngestEndpointHeadersIn(headers={"X-Team": "dev"})
    )
    assert svix.ingest.endpoint.get_headers(src.id, ep.id).headers == {"X-Team": "dev"}

    # The same endpoint, as the source's application sees it through the endpoint API.
    raw = httpx.get(f"{server.base_url}/ingest/api/v1/source/{src.id}", headers=server.auth)
    app_id = raw.json()["appId"]
    assert svix.endpoint.get(app_id, "hook").url == "https://example.com/v2"

    svix.ingest.endpoint.delete(src.id, ep.id)
    assert svix.ingest.endpoint.list(src.id).data == []
