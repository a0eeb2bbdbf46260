from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookline.signing import (
    InvalidSecret,
    SignatureError,
    Webhook,
    generate_ed25519_keypair,
    generate_secret,
    parse_secret,
    sign,
)

NOW = 1_700_000_000
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def headers(msg_id: str, timestamp: int | str, signature: str) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


# Any key the formats allow: HMAC keys of every legal size and ed25519 seeds.
secrets = st.one_of(
    st.binary(min_size=24, max_size=64).map(lambda raw: "whsec_" + b64(raw)),
    st.binary(min_size=32, max_size=32).map(lambda seed: "whsk_" + b64(seed)),
)
msg_ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)
timestamps = st.integers(NOW - 300, NOW + 300)


@given(secret=secrets, msg_id=msg_ids, timestamp=timestamps, body=st.binary())
def test_round_trip(secret: str, msg_id: str, timestamp: int, body: bytes) -> None:
    webhook = Webhook(secret)
    signature = webhook.sign(msg_id, timestamp, body)
    assert webhook.verify(body, headers(msg_id, timestamp, signature), now=NOW) == body


@given(secret=secrets, body=st.binary(min_size=1), data=st.data())
def test_any_changed_body_byte_fails(secret: str, body: bytes, data: st.DataObject) -> None:
    webhook = Webhook(secret)
    signature = webhook.sign("msg_1", NOW, body)
    index = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
    with pytest.raises(SignatureError):
        webhook.verify(tampered, headers("msg_1", NOW, signature), now=NOW)


@given(secret=secrets, msg_id=msg_ids, other=msg_ids, body=st.binary())
def test_changed_id_fails(secret: str, msg_id: str, other: str, body: bytes) -> None:
    webhook = Webhook(secret)
    signature = webhook.sign(msg_id, NOW, body)
    if other != msg_id:
        with pytest.raises(SignatureError):
            webhook.verify(body, headers(other, NOW, signature), now=NOW)


@given(secret=secrets, timestamp=timestamps, other=timestamps, body=st.binary())
def test_changed_timestamp_fails(secret: str, timestamp: int, other: int, body: bytes) -> None:
    webhook = Webhook(secret)
    signature = webhook.sign("msg_1", timestamp, body)
    if other != timestamp:
        with pytest.raises(SignatureError):
            webhook.verify(body, headers("msg_1", other, signature), now=NOW)


def test_wrong_secret_fails() -> None:
    signature = Webhook(generate_secret()).sign("msg_1", NOW, b"{}")
    with pytest.raises(SignatureError):
        Webhook(generate_secret()).verify(b"{}", headers("msg_1", NOW, signature), now=NOW)


def test_str_body_is_verified_as_utf8_and_returned_as_bytes() -> None:
    webhook = Webhook(SECRET)
    signature = webhook.sign("msg_1", NOW, '{"name": "Zoë"}'.encode())
    verified = webhook.verify('{"name": "Zoë"}', headers("msg_1", NOW, signature), now=NOW)
    assert verified == '{"name": "Zoë"}'.encode()


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_timestamp_within_tolerance_passes(skew: int) -> None:
    webhook = Webhook(SECRET)
    signature = webhook.sign("msg_1", NOW + skew, b"{}")
    webhook.verify(b"{}", headers("msg_1", NOW + skew, signature), now=NOW)


@pytest.mark.parametrize(("skew", "message"), [(-301, "too old"), (301, "too new")])
def test_timestamp_outside_tolerance_fails(skew: int, message: str) -> None:
    webhook = Webhook(SECRET)
    signature = webhook.sign("msg_1", NOW + skew, b"{}")
    with pytest.raises(SignatureError, match=message):
        webhook.verify(b"{}", headers("msg_1", NOW + skew, signature), now=NOW)


def test_tolerance_is_configurable_and_clock_defaults_to_now() -> None:
    strict = Webhook(SECRET, tolerance=timedelta(seconds=10))
    moment = datetime.now(UTC)
    stamp = int(moment.timestamp())
    fresh = headers("msg_1", stamp, strict.sign("msg_1", moment, b"{}"))
    strict.verify(b"{}", fresh)
    stale = headers("msg_1", stamp - 60, strict.sign("msg_1", stamp - 60, b"{}"))
    with pytest.raises(SignatureError, match="too old"):
        strict.verify(b"{}", stale)
    Webhook(SECRET, tolerance=120).verify(b"{}", stale)


def test_negative_tolerance_is_rejected() -> None:
    with pytest.raises(ValueError):
        Webhook(SECRET, tolerance=-1)


def test_rotation_header_verifies_with_either_secret() -> None:
    new, old, unrelated = generate_secret(), generate_secret(), generate_secret()
    signature = sign("msg_1", NOW, b"{}", [parse_secret(new), parse_secret(old)])
    assert signature.count(" ") == 1
    for secret in (new, old):
        Webhook(secret).verify(b"{}", headers("msg_1", NOW, signature), now=NOW)
    with pytest.raises(SignatureError):
        Webhook(unrelated).verify(b"{}", headers("msg_1", NOW, signature), now=NOW)


def test_mixed_hmac_and_ed25519_header() -> None:
    signing_key, public_key = generate_ed25519_keypair()
    signature = sign("msg_1", NOW, b"{}", [parse_secret(SECRET), parse_secret(signing_key)])
    assert [entry.split(",")[0] for entry in signature.split()] == ["v1", "v1a"]
    for key in (SECRET, signing_key, public_key):
        Webhook(key).verify(b"{}", headers("msg_1", NOW, signature), now=NOW)


def test_signing_needs_a_secret() -> None:
    with pytest.raises(InvalidSecret):
        sign("msg_1", NOW, b"{}", [])


def test_svix_headers_and_any_case_are_read() -> None:
    webhook = Webhook(SECRET)
    signature = webhook.sign("msg_1", NOW, b"{}")
    svix = {"Svix-Id": "msg_1", "SVIX-TIMESTAMP": str(NOW), "svix-signature": signature}
    webhook.verify(b"{}", svix, now=NOW)
    mixed = {"Webhook-ID": "msg_1", "Webhook-Timestamp": str(NOW), "WEBHOOK-SIGNATURE": signature}
    webhook.verify(b"{}", mixed, now=NOW)


# Built against SECRET at NOW for body b"{}" with id "msg_1"; each case breaks one thing.
GOOD = Webhook(SECRET).sign("msg_1", NOW, b"{}")
GOOD_SIG = GOOD.removeprefix("v1,")
OTHER_SIG = Webhook("whsec_" + "B" * 32).sign("msg_1", NOW, b"{}").removeprefix("v1,")


def test_baseline_for_malformed_cases_verifies() -> None:
    Webhook(SECRET).verify(b"{}", headers("msg_1", NOW, GOOD), now=NOW)


@pytest.mark.parametrize(
    "changes",
    [
        {"webhook-id": None},
        {"webhook-timestamp": None},
        {"webhook-signature": None},
        {"webhook-id": ""},
        {"webhook-timestamp": ""},
        {"webhook-signature": ""},
        {"webhook-timestamp": "abc"},
        {"webhook-timestamp": f"{NOW}.0"},
        {"webhook-timestamp": f"{NOW}.5"},
        {"webhook-timestamp": f" {NOW}"},
        {"webhook-timestamp": f"+{NOW}"},
        {"webhook-timestamp": f"0{NOW}"},
        {"webhook-timestamp": "1_700_000_000"},
        {"webhook-timestamp": "\u0661\u0667" + "\u0660" * 8},  # Arabic-Indic; int() takes them
        {"webhook-timestamp": "-1"},
        {"webhook-timestamp": "9" * 5000},
        {"webhook-timestamp": "1e9"},
        {"webhook-signature": "v1"},
        {"webhook-signature": "v1,"},
        {"webhook-signature": ","},
        {"webhook-signature": ",,,,"},
        {"webhook-signature": GOOD_SIG},
        {"webhook-signature": "v1,!!!!"},
        {"webhook-signature": "v1," + GOOD_SIG[:-4]},
        {"webhook-signature": "v1," + GOOD_SIG + "AAAA"},
        {"webhook-signature": "v1," + GOOD_SIG.replace("=", "") + "x"},
        {"webhook-signature": "v1,ñ" + GOOD_SIG},
        {"webhook-signature": "v2," + GOOD_SIG},
        {"webhook-signature": "V1," + GOOD_SIG},
        {"webhook-signature": "v1a," + GOOD_SIG},
        {"webhook-signature": "v1=" + GOOD_SIG},
        {"webhook-signature": "v1," + OTHER_SIG},
        {"webhook-signature": "v1," + GOOD_SIG.lower()},
        {"webhook-signature": "v1," + base64.urlsafe_b64encode(bytes(32)).decode()},
        {"webhook-signature": "v1," + b64(bytes(64))},
        {"webhook-id": "msg_1\udc80"},  # lone surrogate: not encodable
        {"webhook-id": "msg_2"},
    ],
    ids=repr,
)
def test_malformed_headers_raise_signature_error(changes: dict[str, str | None]) -> None:
    sent = headers("msg_1", NOW, GOOD)
    for name, value in changes.items():
        if value is None:
            del sent[name]
        else:
            sent[name] = value
    with pytest.raises(SignatureError):
        Webhook(SECRET).verify(b"{}", sent, now=NOW)


@pytest.mark.parametrize("bad_headers", [None, [("webhook-id", "msg_1")], "webhook-id"])
def test_non_mapping_headers_raise_signature_error(bad_headers: object) -> None:
    with pytest.raises(SignatureError):
        Webhook(SECRET).verify(b"{}", bad_headers, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad_body", [None, 42, {"a": 1}, "\udc80"])
def test_unusable_body_raises_signature_error(bad_body: object) -> None:
    with pytest.raises(SignatureError):
        Webhook(SECRET).verify(bad_body, headers("msg_1", NOW, GOOD), now=NOW)  # type: ignore[arg-type]


@given(
    secret=st.sampled_from([SECRET, generate_ed25519_keypair()[1]]),
    msg_id=st.text(),
    timestamp=st.one_of(st.text(), st.integers().map(str)),
    signature=st.one_of(st.text(), st.lists(st.text()).map(" ".join)),
    body=st.one_of(st.binary(), st.text()),
    prefix=st.sampled_from(["webhook-", "svix-", "Webhook-"]),
)
def test_arbitrary_header_text_only_raises_signature_error(
    secret: str, msg_id: str, timestamp: str, signature: str, body: bytes | str, prefix: str
) -> None:
    sent = {f"{prefix}id": msg_id, f"{prefix}timestamp": timestamp, f"{prefix}signature": signature}
    with pytest.raises(SignatureError):
        Webhook(secret).verify(body, sent, now=NOW)


def test_public_key_verifier_rejects_hmac_signatures() -> None:
    _, public_key = generate_ed25519_keypair()
    with pytest.raises(SignatureError):
        Webhook(public_key).verify(b"{}", headers("msg_1", NOW, GOOD), now=NOW)
