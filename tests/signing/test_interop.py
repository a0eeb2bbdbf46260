"""Independent implementations agree with ours: the reference HMAC libraries and libsodium."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import nacl.bindings
import nacl.signing
import pytest
import standardwebhooks.webhooks
import svix.webhooks
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline.signing import SignatureError, Webhook, parse_secret, sign


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def headers(
    msg_id: str, timestamp: int, signature: str, prefix: str = "webhook-"
) -> dict[str, str]:
    return {
        f"{prefix}id": msg_id,
        f"{prefix}timestamp": str(timestamp),
        f"{prefix}signature": signature,
    }


hmac_secrets = st.binary(min_size=24, max_size=64).map(lambda raw: "whsec_" + b64(raw))
# The reference libraries decode the body to str, so the cross-check uses UTF-8 text bodies.
json_bodies = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(st.characters(codec="utf-8")),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(st.characters(codec="utf-8")), inner),
    max_leaves=10,
)
msg_ids = st.from_regex(r"msg_[A-Za-z0-9]{1,30}", fullmatch=True)


def body_of(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


# Their verifiers read the real clock, so these tests sign with it too.
@settings(deadline=None)
@given(secret=hmac_secrets, msg_id=msg_ids, value=json_bodies)
def test_reference_libraries_verify_ours(secret: str, msg_id: str, value: object) -> None:
    body = body_of(value)
    now = int(time.time())
    signature = Webhook(secret).sign(msg_id, now, body.encode())
    standardwebhooks.webhooks.Webhook(secret).verify(
        body, headers(msg_id, now, signature), json_parse=False
    )
    svix.webhooks.Webhook(secret).verify(body, headers(msg_id, now, signature, "svix-"))
    svix.webhooks.Webhook(secret).verify(body.encode(), headers(msg_id, now, signature))


@settings(deadline=None)
@given(secret=hmac_secrets, msg_id=msg_ids, value=json_bodies)
def test_we_verify_reference_libraries(secret: str, msg_id: str, value: object) -> None:
    body = body_of(value)
    moment = datetime.now(UTC).replace(microsecond=0)
    now = int(moment.timestamp())
    ours = Webhook(secret)
    theirs = standardwebhooks.webhooks.Webhook(secret).sign(msg_id, moment, body)
    ours.verify(body.encode(), headers(msg_id, now, theirs))
    from_svix = svix.webhooks.Webhook(secret).sign(msg_id, moment, body)
    ours.verify(body.encode(), headers(msg_id, now, from_svix, "svix-"))


def test_reference_library_rejects_a_tampered_body_we_signed() -> None:
    """Guards the cross-check itself: their verify must be able to fail here."""
    secret, now = "whsec_" + b64(bytes(range(24))), int(time.time())
    signature = Webhook(secret).sign("msg_1", now, b'{"a": 1}')
    reference = standardwebhooks.webhooks.Webhook(secret)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        reference.verify('{"a": 2}', headers("msg_1", now, signature))


@given(seed=st.binary(min_size=32, max_size=32), msg_id=msg_ids, body=st.binary())
def test_libsodium_verifies_our_ed25519(seed: bytes, msg_id: str, body: bytes) -> None:
    public, secret_key = nacl.bindings.crypto_sign_seed_keypair(seed)  # libsodium's 64-byte form
    signature = sign(msg_id, 1_700_000_000, body, [parse_secret("whsk_" + b64(secret_key))])
    version, encoded = signature.split(",")
    assert version == "v1a"
    content = f"{msg_id}.1700000000.".encode() + body
    nacl.signing.VerifyKey(public).verify(content, base64.b64decode(encoded))


@given(seed=st.binary(min_size=32, max_size=32), msg_id=msg_ids, body=st.binary())
def test_we_verify_libsodium_ed25519(seed: bytes, msg_id: str, body: bytes) -> None:
    signing_key = nacl.signing.SigningKey(seed)
    content = f"{msg_id}.1700000000.".encode() + body
    signature = "v1a," + b64(signing_key.sign(content).signature)
    verifier = Webhook("whpk_" + b64(bytes(signing_key.verify_key)))
    sent = headers(msg_id, 1_700_000_000, signature)
    assert verifier.verify(body, sent, now=1_700_000_000) == body
    with pytest.raises(SignatureError):
        verifier.verify(body + b"!", sent, now=1_700_000_000)


def test_public_key_derivation_matches_libsodium() -> None:
    signing_key = nacl.signing.SigningKey.generate()
    ours = parse_secret("whsk_" + b64(bytes(signing_key)))
    assert ours.public_key().key == bytes(signing_key.verify_key)
