"""The base of every ingest URL: HOOKLINE_PUBLIC_URL when set, else where the API listens."""

from __future__ import annotations

from pathlib import Path

from hookline.config import Settings
from hookline.runtime import public_url


def test_public_url_wins_and_loses_its_trailing_slash(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, public_url="https://hooks.example.com/", port=9)
    assert public_url(settings) == "https://hooks.example.com"


def test_without_it_the_listening_address_is_used(tmp_path: Path) -> None:
    assert public_url(Settings(data_dir=tmp_path, port=8123)) == "http://127.0.0.1:8123"
    assert public_url(Settings(data_dir=tmp_path, host="::1", port=80)) == "http://[::1]:80"
