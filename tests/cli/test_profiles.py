"""Login profiles: the file is private, profiles coexist, the environment wins."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hookline.cli import profiles


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOOKLINE_CONFIG": str(tmp_path / "cfg" / "config.toml"), **extra}


def test_a_saved_profile_is_read_back_and_its_file_is_0600(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    path = profiles.save("default", "http://127.0.0.1:8000/", 's3cr"et\\x', env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    got = profiles.resolve(None, env)
    assert (got.url, got.token) == ("http://127.0.0.1:8000", 's3cr"et\\x')
    assert "s3cr" not in repr(got)


def test_profiles_coexist_and_the_environment_overrides_the_file(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    profiles.save("default", "http://127.0.0.1:8000", "one", env)
    profiles.save("staging", "http://127.0.0.1:9000", "two", env)
    assert profiles.resolve("staging", env).token == "two"
    assert profiles.resolve(None, env).token == "one"
    assert profiles.resolve(None, {**env, "HOOKLINE_PROFILE": "staging"}).token == "two"
    over = profiles.resolve(
        "staging", {**env, "HOOKLINE_URL": "http://[::1]:1", "HOOKLINE_TOKEN": "t"}
    )
    assert (over.url, over.token) == ("http://[::1]:1", "t")
    assert profiles.profile_names(env) == ["default", "staging"]
    assert profiles.remove("staging", env)
    assert profiles.profile_names(env) == ["default"]


def test_no_token_and_an_unknown_profile_are_clear_errors(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    with pytest.raises(profiles.ProfileError, match="hookline login"):
        profiles.resolve(None, env)
    profiles.save("default", "http://127.0.0.1:8000", "one", env)
    with pytest.raises(profiles.ProfileError, match="no profile 'nope'"):
        profiles.resolve("nope", env)
    Path(env["HOOKLINE_CONFIG"]).write_text("[profiles\n")
    with pytest.raises(profiles.ProfileError, match="cannot read"):
        profiles.resolve(None, env)
