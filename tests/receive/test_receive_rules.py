"""Provider details beyond accept/reject: published vectors, event types, dedup keys,
payload conversion, challenges, and the generic schemes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import pytest
import stripe
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from hookline.receive import (
    ConfigError,
    ReceivedRequest,
    VerificationError,
    VerifiedEvent,
    parse_config,
    verify,
)

NOW = 1_700_000_000
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def check(
    provider: str,
    raw: Mapping[str, Any],
    headers: dict[str, str],
    body: bytes,
    url: str = "https://hooks.example.com/in/t",
) -> VerifiedEvent:
    return verify(parse_config(provider, raw), ReceivedRequest("POST", url, headers, body), now=NOW)


def refused(
    provider: str,
    raw: Mapping[str, Any],
    headers: dict[str, str],
    body: bytes,
    url: str = "https://hooks.example.com/in/t",
) -> str:
    with pytest.raises(VerificationError) as caught:
        check(provider, raw, headers, body, url)
    return caught.value.reason


def test_github_documented_example_verifies() -> None:
    # docs.github.com, "Validating webhook deliveries": the worked example's values.
    headers = {
        "x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a"
        "37570b6d7586c22c46f4379c8b043e17",
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": "d1",
    }
    event = check("github", {"secret": "It's a Secret to Everybody"}, headers, b"Hello, World!")
    assert (event.event_type, event.dedup_key) == ("ping", "d1")
    assert json.loads(event.payload) == {"body": "Hello, World!"}
    assert (
        refused("github", {"secret": "It's a Secret to Everybody"}, headers, b"Hello, World?")
        == "bad_signature"
    )
    headers["x-hub-signature-256"] = headers["x-hub-signature-256"].removeprefix("sha256=")
    assert (
        refused("github", {"secret": "It's a Secret to Everybody"}, headers, b"Hello, World!")
        == "malformed"
    )


def test_shopify_fixed_vector_verifies_and_topic_becomes_an_event_type() -> None:
    # Computed independently with OpenSSL:
    # printf '%s' BODY | openssl dgst -sha256 -hmac shpss_test_secret -binary | base64
    body = b'{"id":820982911946154508,"email":"jon@example.com"}'
    headers = {
        "X-Shopify-Hmac-Sha256": "LnwdZPLBbdjkBwPD/lDL1/rYEGby/GHPtL1aAH6Dxjc=",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": "b54557e4",
    }
    event = check("shopify", {"secret": "shpss_test_secret"}, headers, body)
    assert (event.event_type, event.dedup_key, event.payload) == ("orders.create", "b54557e4", body)
    headers["X-Shopify-Hmac-Sha256"] = "not base64!"
    assert refused("shopify", {"secret": "shpss_test_secret"}, headers, body) == "malformed"


def test_stripe_accepts_any_of_several_v1_signatures_and_reads_type_and_id() -> None:
    body = b'{"id":"evt_9","type":"charge.refunded"}'
    good = stripe.WebhookSignature.generate_signature_header(body.decode(), "whsec_k", NOW)
    header = f"t={NOW},v1={'ab' * 32},v1=zz,{good.split(',')[1]},v0={'cd' * 32}"
    event = check("stripe", {"secret": "whsec_k"}, {"Stripe-Signature": header}, body)
    assert (event.event_type, event.dedup_key) == ("charge.refunded", "evt_9")
    assert (
        refused("stripe", {"secret": "whsec_k"}, {"Stripe-Signature": f"t={NOW}"}, body)
        == "malformed"
    )
    no_t = good.split(",")[1]
    assert refused("stripe", {"secret": "whsec_k"}, {"Stripe-Signature": no_t}, body) == "malformed"


def _slack(body: bytes, extra: dict[str, str] | None = None) -> dict[str, str]:
    signature = SignatureVerifier("slack-secret").generate_signature(timestamp=str(NOW), body=body)
    assert signature
    return {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": str(NOW), **(extra or {})}


def test_slack_url_verification_is_answered_with_its_challenge() -> None:
    challenge = b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = b'{"token":"t","challenge":"' + challenge + b'","type":"url_verification"}'
    event = check("slack", {"secret": "slack-secret"}, _slack(body), body)
    assert event.challenge == challenge
    assert (event.event_type, event.content_type, event.dedup_key) == (
        "url_verification",
        "text/plain",
        None,
    )
    # A forged handshake is refused like any other request.
    assert refused("slack", {"secret": "other"}, _slack(body), body) == "bad_signature"


def test_slack_events_are_typed_by_the_inner_event_and_deduplicated_by_event_id() -> None:
    body = b'{"type":"event_callback","event_id":"Ev9","event":{"type":"reaction_added"}}'
    event = check("slack", {"secret": "slack-secret"}, _slack(body), body)
    assert (event.event_type, event.dedup_key, event.challenge) == ("reaction_added", "Ev9", None)


def test_slack_slash_commands_and_interactivity_verify_as_forms() -> None:
    command = urlencode({"command": "/deploy", "text": "prod", "team_id": "T1"}).encode()
    event = check("slack", {"secret": "slack-secret"}, _slack(command, FORM), command)
    assert event.event_type == "slash_command"
    assert json.loads(event.payload) == {"command": "/deploy", "text": "prod", "team_id": "T1"}
    inner = json.dumps({"type": "block_actions", "actions": []})
    action = urlencode({"payload": inner}).encode()
    event = check("slack", {"secret": "slack-secret"}, _slack(action, FORM), action)
    assert event.event_type == "block_actions"
    assert event.payload == inner.encode()  # the form's one JSON field is the payload


URL = "https://hooks.example.com/in/t?x=1"


def _twilio(params: Mapping[str, Any], url: str = URL, **kw: str) -> dict[str, str]:
    return {
        "X-Twilio-Signature": RequestValidator("tw-token").compute_signature(url, params, **kw),
        **FORM,
    }


@pytest.mark.parametrize(
    ("params", "event_type"),
    [
        ({"MessageSid": "SM1", "SmsStatus": "received", "Body": "hi"}, "twilio.message.received"),
        ({"MessageSid": "SM1", "MessageStatus": "delivered"}, "twilio.message.delivered"),
        ({"CallSid": "CA1", "CallStatus": "completed"}, "twilio.call.completed"),
        ({"SmsSid": "SM1"}, "twilio.message"),
        ({"AccountSid": "AC1"}, "twilio.webhook"),
    ],
)
def test_twilio_event_type_comes_from_the_resource_and_status(
    params: dict[str, str], event_type: str
) -> None:
    body = urlencode(params).encode()
    assert (
        check("twilio", {"secret": "tw-token"}, _twilio(params), body, URL).event_type == event_type
    )


class MultiDict(dict[str, list[str]]):
    """The shape Twilio's library reads repeated form fields from (as Flask and Django give)."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def test_twilio_repeated_fields_sha256_settings_and_default_port() -> None:
    params = MultiDict({"To": ["+1500", "+1400"], "MessageSid": ["SM1"]})
    body = urlencode(params, doseq=True).encode()
    event = check("twilio", {"secret": "tw-token"}, _twilio(params), body, URL)
    assert json.loads(event.payload)["To"] == ["+1500", "+1400"]
    # Signed without the default port, received with it (and the reverse).
    with_port = "https://hooks.example.com:443/in/t?x=1"
    assert check("twilio", {"secret": "tw-token"}, _twilio(params), body, with_port)
    assert check("twilio", {"secret": "tw-token"}, _twilio(params, with_port), body, URL)
    settings = {"X-Twilio-Webhooks-Signature-Settings": "key=k1,algorithm=HMAC_SHA256"}
    sha256 = {**_twilio(params, algorithm="HMAC_SHA256"), **settings}
    assert check("twilio", {"secret": "tw-token"}, sha256, body, URL)
    # The same signature under the default (SHA-1) reading does not verify.
    del sha256["X-Twilio-Webhooks-Signature-Settings"]
    assert refused("twilio", {"secret": "tw-token"}, sha256, body, URL) == "bad_signature"
    weird = {**_twilio(params), "X-Twilio-Webhooks-Signature-Settings": "algorithm=MD5"}
    assert refused("twilio", {"secret": "tw-token"}, weird, body, URL) == "malformed"


def _mac(key: str, content: bytes, algorithm: str) -> bytes:
    return hmac.new(key.encode(), content, getattr(hashlib, algorithm)).digest()


def test_generic_hmac_hex_with_prefix_and_sha1() -> None:
    raw = {"secret": "k", "header": "X-Sig", "algorithm": "sha1", "prefix": "sha1="}
    body = b'{"type":"build/finished"}'
    headers = {"X-Sig": "sha1=" + _mac("k", body, "sha1").hex()}
    assert check("hmac", raw, headers, body).event_type == "build.finished"
    assert refused("hmac", raw, {"X-Sig": _mac("k", body, "sha1").hex()}, body) == "malformed"
    assert refused("hmac", {**raw, "algorithm": "sha256"}, headers, body) == "bad_signature"


def test_generic_hmac_base64_sha512_over_timestamp_url_and_body() -> None:
    url = "https://hooks.example.com/in/t"
    raw = {
        "secrets": ["new", "old"],
        "header": "X-Sig",
        "algorithm": "sha512",
        "encoding": "base64",
        "signedContent": "{timestamp}:{url}:{body}",
        "timestampHeader": "X-Ts",
        "eventTypeHeader": "X-Kind",
    }
    body = b"plain text"

    def headers(ts: str, key: str = "old") -> dict[str, str]:
        signed = f"{ts}:{url}:".encode() + body
        return {
            "X-Sig": base64.b64encode(_mac(key, signed, "sha512")).decode(),
            "X-Ts": ts,
            "X-Kind": "job done",
        }

    event = check("hmac", raw, headers(str(NOW)), body, url)
    assert (event.event_type, json.loads(event.payload)) == ("job.done", {"body": "plain text"})
    assert check("hmac", raw, headers(str(NOW * 1000 + 5)), body, url)  # milliseconds
    assert refused("hmac", raw, headers(str(NOW - 301)), body, url) == "timestamp_out_of_tolerance"
    assert refused("hmac", raw, headers(str(NOW), "nope"), body, url) == "bad_signature"
    assert refused("hmac", raw, headers(str(NOW)), body, url + "/other") == "bad_signature"
    assert refused("hmac", raw, {**headers(str(NOW)), "X-Ts": "soon"}, body, url) == "malformed"


def test_api_key_in_a_named_header_with_rotation() -> None:
    raw = {"secrets": ["key-new", "key-old"], "header": "Authorization"}
    assert (
        check("api-key", raw, {"authorization": "key-old"}, b"{}").event_type == "api-key.webhook"
    )
    assert refused("api-key", raw, {"authorization": "key-ol"}, b"{}") == "bad_credentials"
    assert refused("api-key", raw, {"x-api-key": "key-old"}, b"{}") == "missing_header"
    assert check("api-key", {"secret": "k"}, {"X-API-Key": "k"}, b"{}")  # the default header


def _basic(user: str, word: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{word}".encode()).decode()}


def test_basic_auth_accepts_each_configured_pair_only() -> None:
    raw = {
        "username": "hook",
        "password": "pw1",
        "credentials": [{"username": "hook", "password": "pw0"}],
    }
    assert check("basic-auth", raw, _basic("hook", "pw0"), b"{}")
    assert check("basic-auth", raw, _basic("hook", "pw1"), b"{}")
    assert refused("basic-auth", raw, _basic("hook", "pw2"), b"{}") == "bad_credentials"
    assert refused("basic-auth", raw, _basic("other", "pw1"), b"{}") == "bad_credentials"
    assert refused("basic-auth", raw, {"Authorization": "Bearer x"}, b"{}") == "malformed"
    assert refused("basic-auth", raw, {"Authorization": "Basic %%%"}, b"{}") == "malformed"
    assert refused("basic-auth", raw, {}, b"{}") == "missing_header"


@pytest.mark.parametrize(
    ("body", "headers", "payload"),
    [
        (b' {"a": 1,\n "b": [1, 2]} ', {}, b' {"a": 1,\n "b": [1, 2]} '),  # byte for byte
        (b"[1, 2]", {}, {"body": "[1, 2]"}),  # JSON, but not an object
        (b'{"a": 1, "a": 2}', {}, {"body": '{"a": 1, "a": 2}'}),  # repeated key
        (b'{"x":{"b":":","b":2}}', {}, {"body": '{"x":{"b":":","b":2}}'}),
        (b'{"a":1,"a":"\\u003a"}', {}, {"body": '{"a":1,"a":"\\u003a"}'}),  # colon escaped
        (b'{"a:b":"\\u003A:"}', {}, b'{"a:b":"\\u003A:"}'),
        (b'{"a":"\\ud800"}', {}, {"body": '{"a":"\\ud800"}'}),  # lone surrogate
        (b'{"a": NaN}', {}, {"body": '{"a": NaN}'}),
        (b'{"a": 1e400}', {}, {"body": '{"a": 1e400}'}),
        (b"\xff\xfe{}", {}, {"bodyBase64": "//57fQ=="}),
        (b"a=1&b=&a=2&c=%E2%9C%93", FORM, {"a": ["1", "2"], "b": "", "c": "\u2713"}),
        (b"a=%FF", FORM, {"body": "a=%FF"}),  # a form whose fields are not UTF-8
        (b"a=1", {}, {"body": "a=1"}),  # form-looking, but not declared a form
        (b"payload=%7B%22a%22%3A1%7D", FORM, b'{"a":1}'),  # GitHub's form delivery
        (b"payload=%5B1%5D", FORM, {"payload": "[1]"}),  # not an object: kept as a field
        (b"payload=%7B%7D&b=1", FORM, {"payload": "{}", "b": "1"}),  # not the only field
        (b"", {}, {"body": ""}),
    ],
)
def test_payload_is_a_json_object(body: bytes, headers: dict[str, str], payload: object) -> None:
    event = check("none", {}, headers, body)
    if isinstance(payload, bytes):
        assert event.payload == payload
    else:
        assert json.loads(event.payload) == payload


def test_nesting_deeper_than_a_payload_can_be_served_is_wrapped() -> None:
    fits = b'{"a":' * 254 + b"1" + b"}" * 254
    deep = b'{"a":' * 255 + b"1" + b"}" * 255
    assert check("none", {}, {}, fits).payload == fits
    assert json.loads(check("none", {}, {}, deep).payload) == {"body": deep.decode()}
    # Brackets inside strings do not count.
    quoted = b'{"a":"' + b"[" * 600 + b'"}'
    assert check("none", {}, {}, quoted).payload == quoted


@pytest.mark.parametrize(
    ("raw_type", "expected"),
    [
        ("orders/create", "orders.create"),
        ("a b//c", "a.b.c"),
        ("/leading/", "leading"),
        ("push\n", "push"),
        ("x" * 300, "x" * 256),
        ("\u00e9\u00e9", "none.webhook"),
        ("caf\u00e9 au lait", "caf.au.lait"),
    ],
)
def test_event_type_names_are_made_valid(raw_type: str, expected: str) -> None:
    body = json.dumps({"type": raw_type}).encode()
    assert check("none", {}, {}, body).event_type == expected


def test_configured_event_type_header_comes_before_the_providers_own() -> None:
    body = b'{"type":"body.type"}'
    raw = {"secret": "s", "eventTypeHeader": "X-Kind"}
    digest = hmac.new(b"s", body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "push", "X-Kind": "ci"}
    assert check("github", raw, headers, body).event_type == "ci"
    del headers["X-Kind"]
    assert check("github", raw, headers, body).event_type == "push"
    del headers["X-GitHub-Event"]
    assert check("github", raw, headers, body).event_type == "body.type"
    plain = hmac.new(b"s", b"[]", hashlib.sha256).hexdigest()
    headers["X-Hub-Signature-256"] = f"sha256={plain}"
    assert check("github", raw, headers, b"[]").event_type == "github.webhook"


def test_long_delivery_ids_become_a_stable_hash() -> None:
    def key(delivery: str) -> str | None:
        config = parse_config("shopify", {"secret": "s"})
        return verify(config, ReceivedRequest("POST", "u", _shopify(delivery), b"{}")).dedup_key

    assert key("d" * 256) == "d" * 256
    long_key = key("d" * 257)
    assert long_key == "sha256:" + hashlib.sha256(b"d" * 257).hexdigest()
    assert long_key == key("d" * 257) != key("d" * 258)


def _shopify(delivery: str) -> dict[str, str]:
    digest = base64.b64encode(hmac.new(b"s", b"{}", hashlib.sha256).digest()).decode()
    return {"X-Shopify-Hmac-Sha256": digest, "X-Shopify-Webhook-Id": delivery}


def test_header_names_are_case_insensitive_and_repeats_are_joined() -> None:
    req = ReceivedRequest("POST", "u", {"X-Api-Key": "a", "x-api-key": "b", "Other": ""}, b"")
    assert req.header("X-API-KEY") == "a, b"
    assert req.header("other") is None
    assert dict(req.headers) == {"x-api-key": "a, b", "other": ""}


def test_standard_webhooks_sources_refuse_secrets_that_cannot_verify() -> None:
    with pytest.raises(ConfigError):
        parse_config("svix", {"secret": "whsec_***"})
    with pytest.raises(ConfigError):
        parse_config("standard-webhooks", {"secret": "whsec_" + "A" * 8})
    assert parse_config("svix", {"secret": "whsec_" + "A" * 32}).secrets
