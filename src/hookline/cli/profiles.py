"""Where the CLI finds its server and token: ``hookline login`` profiles, overridden by
``HOOKLINE_URL`` and ``HOOKLINE_TOKEN``.

The file is TOML, one table per profile, written with mode 0600 (a token is a password):

    [profiles.default]
    url = "http://127.0.0.1:8000"
    token = "..."

Its path is ``HOOKLINE_CONFIG`` if set, else ``$XDG_CONFIG_HOME/hookline/config.toml``
(``~/.config/hookline/config.toml``). The profile is ``--profile``, else
``HOOKLINE_PROFILE``, else ``default``.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PROFILE = "default"
DEFAULT_URL = "http://127.0.0.1:8000"


class ProfileError(Exception):
    """No usable server or token, or a config file that cannot be read."""


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    url: str
    token: str

    def __repr__(self) -> str:  # never the token, even in a traceback
        return f"Profile(name={self.name!r}, url={self.url!r}, token='***')"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("HOOKLINE_CONFIG"):
        return Path(env["HOOKLINE_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "hookline" / "config.toml"


def _read(path: Path) -> dict[str, dict[str, str]]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"cannot read {path}: {exc}") from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ProfileError(f"{path}: [profiles] is not a table")
    return {
        str(name): {str(k): str(v) for k, v in table.items()}
        for name, table in profiles.items()
        if isinstance(table, dict)
    }


def profile_names(env: Mapping[str, str] | None = None) -> list[str]:
    return sorted(_read(config_path(env)))


def profile_urls(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each profile's server URL (never its token), by name."""
    return {
        name: table.get("url", DEFAULT_URL)
        for name, table in sorted(_read(config_path(env)).items())
    }


def resolve(profile: str | None = None, env: Mapping[str, str] | None = None) -> Profile:
    """The server and token to use; the environment's win over the file's."""
    env = os.environ if env is None else env
    name = profile or env.get("HOOKLINE_PROFILE") or DEFAULT_PROFILE
    stored = _read(config_path(env)).get(name, {})
    if profile and not stored and not env.get("HOOKLINE_TOKEN"):
        raise ProfileError(f"no profile {name!r}: run `hookline login --profile {name}`")
    url = env.get("HOOKLINE_URL") or stored.get("url") or DEFAULT_URL
    token = env.get("HOOKLINE_TOKEN") or stored.get("token") or ""
    if not token:
        raise ProfileError("no token: run `hookline login` or set HOOKLINE_TOKEN")
    return Profile(name, url.rstrip("/"), token)


def save(name: str, url: str, token: str, env: Mapping[str, str] | None = None) -> Path:
    """Adds or replaces one profile, keeping the others; the file is 0600 from its first
    byte (created with that mode, then replaced atomically)."""
    path = config_path(env)
    profiles = _read(path)
    profiles[name] = {"url": url.rstrip("/"), "token": token}
    lines: list[str] = []
    for profile, table in sorted(profiles.items()):
        lines.append(f"[profiles.{json.dumps(profile)}]")
        # a JSON string of printable text is a valid TOML basic string
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in sorted(table.items()))
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def remove(name: str, env: Mapping[str, str] | None = None) -> bool:
    path = config_path(env)
    profiles = _read(path)
    if name not in profiles:
        return False
    others = {k: v for k, v in profiles.items() if k != name}
    path.unlink()
    for profile, table in others.items():
        save(profile, table.get("url", DEFAULT_URL), table.get("token", ""), env)
    return True
