"""Fixed vectors: what another implementation computed, reproduced byte for byte."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from hookline.signing import Webhook, parse_secret, sign

# Published with the Standard Webhooks / Svix reference libraries' tests.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

# RFC 8032 section 7.1, TEST 1.
RFC_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
# libsodium (via PyNaCl) signing b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330." + BODY with RFC_SEED.
EXPECTED_V1A = (
    "v1a,fldxM4gAKugP6nnt1hdz3sgGfZ6d99nzrMFnZOELIxbzEHoVmAb2ADpkJK7zgPePmPsle0zV9jSeGlHFG2NVAw=="
)


def headers(signature: str) -> dict[str, str]:
    return {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": signature,
    }


def test_published_vector_signs() -> None:
    assert sign(MSG_ID, TIMESTAMP, BODY, [parse_secret(SECRET)]) == EXPECTED
    assert Webhook(SECRET).sign(MSG_ID, TIMESTAMP, BODY) == EXPECTED


def test_published_vector_signs_from_datetime_and_unprefixed_secret() -> None:
    moment = datetime.fromtimestamp(TIMESTAMP, UTC)
    assert Webhook(SECRET.removeprefix("whsec_")).sign(MSG_ID, moment, BODY) == EXPECTED
    assert Webhook(SECRET).sign(MSG_ID, moment.replace(tzinfo=None), BODY) == EXPECTED


def test_published_vector_verifies() -> None:
    assert Webhook(SECRET).verify(BODY, headers(EXPECTED), now=TIMESTAMP) == BODY


def test_rfc8032_key_maps_to_whsk_and_whpk() -> None:
    secret = parse_secret("whsk_" + base64.b64encode(RFC_SEED).decode())
    assert secret.key == RFC_SEED + RFC_PUBLIC
    assert secret.public_key().encode() == "whpk_" + base64.b64encode(RFC_PUBLIC).decode()


def test_v1a_vector_signs_and_verifies() -> None:
    signer = Webhook("whsk_" + base64.b64encode(RFC_SEED + RFC_PUBLIC).decode())
    assert signer.sign(MSG_ID, TIMESTAMP, BODY) == EXPECTED_V1A
    verifier = Webhook("whpk_" + base64.b64encode(RFC_PUBLIC).decode())
    assert verifier.verify(BODY, headers(EXPECTED_V1A), now=TIMESTAMP) == BODY
