"""The at-rest cipher, its settings, and the private files it lives in."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from hookline import runtime
from hookline.config import Settings
from hookline.signing import generate_secret
from hookline.signing.at_rest import CACHE_SIZE, PREFIX, SecretBox, UndecryptableSecret
from hookline.signing.at_rest import generate_key as new_key


def test_seal_hides_the_secret_and_open_returns_it() -> None:
    box = SecretBox([new_key()])
    secret = generate_secret()
    sealed = box.seal(secret)
    assert sealed.startswith(PREFIX)
    assert secret not in sealed and secret.removeprefix("whsec_") not in sealed
    assert box.seal(secret) != sealed  # a fresh nonce each time: equal secrets do not show
    assert box.open(sealed) == secret


def test_plain_text_from_before_encryption_passes_through_and_needs_resealing() -> None:
    box = SecretBox([new_key()])
    secret = generate_secret()
    assert box.open(secret) == secret
    assert box.needs_reseal(secret)
    assert not box.needs_reseal(box.seal(secret))


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    old, new = new_key(), new_key()
    written_before = SecretBox([old]).seal("whsec_a")
    box = SecretBox([new, old])
    assert box.open(written_before) == "whsec_a"
    assert box.needs_reseal(written_before)
    fresh = box.seal("whsec_b")
    assert not box.needs_reseal(fresh)
    assert Fernet(new.encode()).decrypt(fresh.removeprefix(PREFIX).encode()) == b"whsec_b"


def test_a_wrong_key_is_an_error_never_garbage() -> None:
    sealed = SecretBox([new_key()]).seal("whsec_a")
    with pytest.raises(UndecryptableSecret, match="HOOKLINE_SECRET_KEYS_PREVIOUS"):
        SecretBox([new_key()]).open(sealed)


def test_a_tampered_value_is_an_error_never_garbage() -> None:
    box = SecretBox([new_key()])
    token = bytearray(base64.urlsafe_b64decode(box.seal("whsec_a").removeprefix(PREFIX)))
    token[-40] ^= 1  # one bit of the ciphertext
    with pytest.raises(UndecryptableSecret):
        box.open(PREFIX + base64.urlsafe_b64encode(bytes(token)).decode())


def test_decryptions_are_cached_by_ciphertext_and_the_cache_is_bounded() -> None:
    box = SecretBox([new_key()])
    sealed = box.seal("whsec_a")
    for _ in range(3):
        assert box.open(sealed) == "whsec_a"
    assert box.cache_info().hits == 2
    for i in range(CACHE_SIZE + 10):
        box.open(box.seal(f"whsec_{i}"))
    assert box.cache_info().currsize == CACHE_SIZE


def test_a_malformed_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 url-safe base64"):
        SecretBox(["not-a-key"])


def test_settings_take_a_key_and_comma_separated_previous_keys() -> None:
    a, b, c = new_key(), new_key(), new_key()
    s = Settings(secret_key=a, secret_keys_previous=f" {b}, {c},")
    assert s.secret_key is not None and s.secret_key.get_secret_value() == a
    assert [k.get_secret_value() for k in s.secret_keys_previous] == [b, c]
    assert a not in repr(s) and b not in repr(s)


@pytest.mark.parametrize("setting", ["secret_key", "secret_keys_previous"])
def test_a_malformed_key_setting_is_named_and_not_echoed(tmp_path: Path, setting: str) -> None:
    almost = new_key()[:-2]  # a real key, cut short
    with pytest.raises(ValueError, match=f"HOOKLINE_{setting.upper()}: a secret key must") as exc:
        runtime.secret_box(Settings(data_dir=tmp_path, **{setting: almost}))
    assert almost not in str(exc.value)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_key_file_is_made_once_owner_only_and_a_loose_one_is_tightened(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    s = Settings(data_dir=data)
    first = runtime.secret_box(s).seal("whsec_a")
    assert mode(data) == 0o700 and mode(data / "secret_key") == 0o600
    (data / "secret_key").chmod(0o644)
    data.chmod(0o755)
    assert runtime.secret_box(s).open(first) == "whsec_a"  # the same key, read back
    assert mode(data) == 0o700 and mode(data / "secret_key") == 0o600


def test_a_configured_key_writes_no_key_file(tmp_path: Path) -> None:
    key = new_key()
    box = runtime.secret_box(Settings(data_dir=tmp_path, secret_key=key))
    assert not (tmp_path / "secret_key").exists()
    assert Fernet(key.encode()).decrypt(box.seal("x").removeprefix(PREFIX).encode()) == b"x"


def test_a_damaged_key_file_is_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("garbage\n")
    with pytest.raises(ValueError, match="secret_key: a secret key must be"):
        runtime.secret_box(Settings(data_dir=tmp_path))


def test_a_shared_folder_is_not_locked(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: locking it would break everyone else
    runtime.private_data_dir(Settings(data_dir=shared))
    assert mode(shared) == 0o1777
