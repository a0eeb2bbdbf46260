from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hookline.config import Settings


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKLINE_RETRY_SCHEDULE", "1, 1,2")
    monkeypatch.setenv("HOOKLINE_PORT", "9001")
    monkeypatch.setenv("HOOKLINE_DATA_DIR", "/srv/hooks")
    monkeypatch.setenv("HOOKLINE_ALLOWED_SUBNETS", "127.0.0.0/8,::1/128")
    settings = Settings()
    assert settings.retry_schedule == (1.0, 1.0, 2.0)
    assert settings.port == 9001
    assert settings.resolved_database_url == "sqlite:///" + str(Path("/srv/hooks/hookline.db"))
    assert settings.allowed_subnets == ("127.0.0.0/8", "::1/128")


@pytest.mark.parametrize(
    "env",
    [
        {"HOOKLINE_RETRY_SCHEDULE": "1,-5"},
        {"HOOKLINE_RETRY_SCHEDULE": "soon"},
        {"HOOKLINE_ALLOWED_SUBNETS": "not-a-subnet"},
        {"HOOKLINE_PORT": "70000"},
        {"HOOKLINE_ENVIRONMENT": "production"},
        {"HOOKLINE_ENVIRONMENT": "production", "HOOKLINE_API_TOKEN": "short"},
    ],
)
def test_bad_configuration_is_refused(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError):
        Settings()


def test_production_starts_with_a_strong_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKLINE_ENVIRONMENT", "production")
    monkeypatch.setenv("HOOKLINE_API_TOKEN", "x" * 32)
    assert Settings().environment == "production"
