from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hookline.errors import HooklineError
from hookline.signing import (
    InvalidSecret,
    Secret,
    Webhook,
    generate_ed25519_keypair,
    generate_secret,
    parse_secret,
)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


SEED = bytes(range(32))
PUBLIC = Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes_raw()


def test_generated_secret_has_svix_shape() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(secret.removeprefix("whsec_")) == 32
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert parse_secret(secret).kind == "v1"


def test_generated_secrets_differ() -> None:
    assert len({generate_secret() for _ in range(50)}) == 50


@pytest.mark.parametrize("nbytes", [24, 32, 64])
def test_generate_secret_sizes(nbytes: int) -> None:
    assert len(parse_secret(generate_secret(nbytes)).key) == nbytes


@pytest.mark.parametrize("nbytes", [0, 16, 23, 65])
def test_generate_secret_rejects_weak_or_oversized(nbytes: int) -> None:
    with pytest.raises(InvalidSecret):
        generate_secret(nbytes)


def test_keypair_halves_belong_together() -> None:
    secret_key, public_key = generate_ed25519_keypair()
    assert secret_key.startswith("whsk_") and public_key.startswith("whpk_")
    signing, verifying = parse_secret(secret_key), parse_secret(public_key)
    assert len(signing.key) == 64 and len(verifying.key) == 32
    assert signing.key[32:] == verifying.key
    assert signing.public_key() == verifying
    assert signing.can_sign and not verifying.can_sign


def test_string_forms_round_trip() -> None:
    for text in (generate_secret(), generate_secret(64), *generate_ed25519_keypair()):
        assert parse_secret(text).encode() == text


def test_prefix_and_padding_are_optional_for_hmac() -> None:
    raw = bytes(range(25))  # 25 bytes -> base64 needs padding
    expected = Secret("v1", raw)
    assert parse_secret("whsec_" + b64(raw)) == expected
    assert parse_secret(b64(raw)) == expected
    assert parse_secret(b64(raw).rstrip("=")) == expected


def test_signing_key_accepts_bare_seed() -> None:
    assert parse_secret("whsk_" + b64(SEED)) == parse_secret("whsk_" + b64(SEED + PUBLIC))
    assert parse_secret("whsk_" + b64(SEED)).key == SEED + PUBLIC


def test_repr_does_not_leak_key() -> None:
    secret = parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert "MfKQ" not in repr(secret)
    assert secret.key.hex() not in repr(secret)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "whsec_",
        "whsec_!!!!not-base64!!!!",
        "whsec_" + b64(bytes(16)),  # too short
        "whsec_" + b64(bytes(65)),  # too long
        "whsec_" + b64(bytes(24))[:10] + " " + b64(bytes(24))[10:],  # embedded space
        "whsec_" + b64(bytes(24))[:-1] + "é",
        "whsec_" + b64(bytes(24)) + "A",  # impossible base64 length
        "whsk_" + b64(bytes(48)),
        "whsk_" + b64(SEED + bytes(32)),  # public half does not match the seed
        "whsk_",
        "whpk_" + b64(PUBLIC + PUBLIC),
        "whpk_" + b64(PUBLIC)[:-2],
        "whpk_",
    ],
)
def test_malformed_secrets_raise_invalid_secret(text: str) -> None:
    with pytest.raises(InvalidSecret) as caught:
        parse_secret(text)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, HooklineError)


@pytest.mark.parametrize("bad", [None, 42, b"whsec_abc"])
def test_non_string_secret_raises_invalid_secret(bad: object) -> None:
    with pytest.raises(InvalidSecret):
        parse_secret(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "key"),
    [("v1", b""), ("v1", bytes(10)), ("v1a", bytes(31)), ("v2", bytes(32))],
)
def test_secret_validates_direct_construction(kind: str, key: bytes) -> None:
    with pytest.raises(InvalidSecret):
        Secret(kind, key)  # type: ignore[arg-type]


def test_public_key_cannot_sign() -> None:
    verifier = Webhook("whpk_" + b64(PUBLIC))
    with pytest.raises(InvalidSecret):
        verifier.sign("msg_1", 1, b"{}")


def test_hmac_secret_has_no_public_key() -> None:
    with pytest.raises(InvalidSecret):
        parse_secret(generate_secret()).public_key()


def test_raw_bytes_are_the_hmac_key_itself() -> None:
    raw = bytes(range(24))
    assert Webhook(raw).secret == parse_secret("whsec_" + b64(raw))
