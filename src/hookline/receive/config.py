"""How one source verifies its provider's requests: parsed once, used per request.

The same mapping is what the Ingest API accepts as a source's ``config`` (camelCase keys,
Svix's shapes plus hookline's extensions) and what the store keeps (sealed, since it
holds secrets). ``public_view`` is what may be shown back: never a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hookline.signing import InvalidSecret, parse_secret

# Svix's own source types that hookline verifies, then hookline's extensions.
SVIX_PROVIDERS = ("github", "stripe", "shopify", "slack", "svix")
EXTENSION_PROVIDERS = ("twilio", "hmac", "basic-auth", "api-key", "standard-webhooks")
PROVIDERS = (*SVIX_PROVIDERS, *EXTENSION_PROVIDERS, "none")
ALGORITHMS = ("sha1", "sha256", "sha512")
ENCODINGS = ("hex", "base64")
MAX_SECRETS = 5  # current plus older ones still accepted while a provider rotates
DEFAULT_TOLERANCE_S = 300
_NO_SECRET = ("none",)
_STANDARD = ("svix", "standard-webhooks")  # secrets in the Standard Webhooks forms
_SETTINGS = {  # the keys each provider accepts besides secret/secrets/toleranceSeconds
    "hmac": {"header", "algorithm", "encoding", "prefix", "signedContent", "timestampHeader"},
    "api-key": {"header"},
    "basic-auth": {"username", "password", "credentials"},
}
_GENERIC = {"eventTypeHeader"}
_COMMON = {"secret", "secrets", "toleranceSeconds", "provider"}


class ConfigError(ValueError):
    """A source config that cannot verify anything; the message names the field."""


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    provider: str
    secrets: tuple[str, ...] = ()  # every one is accepted; the first is the newest
    header: str | None = None  # hmac: the signature header; api-key: the key header
    algorithm: str = "sha256"  # hmac
    encoding: str = "hex"  # hmac
    prefix: str = ""  # hmac: text before the signature in the header, such as "sha256="
    signed_content: str = "{body}"  # hmac: what is signed; {body}, {timestamp}, {url}
    timestamp_header: str | None = None  # hmac: where {timestamp} comes from
    tolerance_s: int = DEFAULT_TOLERANCE_S  # schemes with a timestamp
    event_type_header: str | None = None  # hmac, api-key, basic-auth, none


def _text(raw: Mapping[str, Any], key: str, default: str | None = None) -> str | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 1024:
        raise ConfigError(f"config.{key} must be a string of at most 1024 characters")
    return value


def _secrets(provider: str, raw: Mapping[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    if provider == "basic-auth":
        creds = raw.get("credentials")
        pairs = creds if isinstance(creds, list) else []
        if creds is not None and not isinstance(creds, list):
            raise ConfigError("config.credentials must be a list of {username, password}")
        if "username" in raw or "password" in raw:
            pairs = [{"username": raw.get("username"), "password": raw.get("password")}, *pairs]
        for pair in pairs:
            user = pair.get("username") if isinstance(pair, Mapping) else None
            word = pair.get("password") if isinstance(pair, Mapping) else None
            if not isinstance(user, str) or not isinstance(word, str) or ":" in user:
                raise ConfigError("basic-auth needs a username (no ':') and a password")
            found.append(f"{user}:{word}")
    else:
        single = raw.get("secret")
        many = raw.get("secrets")
        if single is not None:
            found.append(single)
        if many is not None:
            if not isinstance(many, list):
                raise ConfigError("config.secrets must be a list of strings")
            found.extend(many)
    if any(not isinstance(s, str) or not s or len(s) > 1024 for s in found):
        raise ConfigError("every secret must be a non-empty string of at most 1024 characters")
    unique = tuple(dict.fromkeys(found))
    if len(unique) > MAX_SECRETS:
        raise ConfigError(f"at most {MAX_SECRETS} secrets may be accepted at once")
    if provider not in _NO_SECRET and not unique:
        raise ConfigError(f"a {provider} source needs config.secret")
    if provider in _NO_SECRET and unique:
        raise ConfigError("a source of type none verifies nothing and takes no secret")
    if provider in _STANDARD:
        for secret in unique:
            try:
                parse_secret(secret)
            except InvalidSecret:
                raise ConfigError(
                    f"a {provider} secret must be whsec_ (or whsk_/whpk_) and base64"
                ) from None
    return unique


def parse_config(provider: str, raw: Mapping[str, Any]) -> ProviderConfig:
    """Validate an API or stored config for ``provider``; ``ConfigError`` says why not."""
    if provider not in PROVIDERS:
        raise ConfigError(f"unknown source type {provider!r}; one of {', '.join(PROVIDERS)}")
    allowed = _COMMON | _SETTINGS.get(provider, set()) | _GENERIC
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"a {provider} source does not take config.{unknown[0]}")
    tolerance = raw.get("toleranceSeconds", DEFAULT_TOLERANCE_S)
    if not isinstance(tolerance, int) or isinstance(tolerance, bool) or not 1 <= tolerance <= 86400:
        raise ConfigError("config.toleranceSeconds must be an integer from 1 to 86400")
    algorithm = _text(raw, "algorithm", "sha256") or "sha256"
    encoding = _text(raw, "encoding", "hex") or "hex"
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"config.algorithm must be one of {', '.join(ALGORITHMS)}")
    if encoding not in ENCODINGS:
        raise ConfigError(f"config.encoding must be one of {', '.join(ENCODINGS)}")
    header = _text(raw, "header", "x-api-key" if provider == "api-key" else None)
    if provider == "hmac" and not header:
        raise ConfigError("an hmac source needs config.header, the signature's header")
    signed = _text(raw, "signedContent", "{body}") or "{body}"
    timestamp_header = _text(raw, "timestampHeader")
    if "{timestamp}" in signed and not timestamp_header:
        raise ConfigError("config.signedContent uses {timestamp}: set config.timestampHeader")
    return ProviderConfig(
        provider=provider,
        secrets=_secrets(provider, raw),
        header=header.lower() if header else None,
        algorithm=algorithm,
        encoding=encoding,
        prefix=_text(raw, "prefix", "") or "",
        signed_content=signed,
        timestamp_header=timestamp_header.lower() if timestamp_header else None,
        tolerance_s=tolerance,
        event_type_header=(_text(raw, "eventTypeHeader") or "").lower() or None,
    )


def stored_config(config: ProviderConfig) -> dict[str, Any]:
    """The mapping to keep (secrets included); ``parse_config`` reads it back."""
    out: dict[str, Any] = public_view(config)
    out.pop("provider", None)
    out.pop("secretCount", None)
    out.pop("usernames", None)
    if config.provider == "basic-auth":
        out["credentials"] = [
            {"username": u, "password": p} for u, _, p in (s.partition(":") for s in config.secrets)
        ]
    elif config.secrets:
        out["secrets"] = list(config.secrets)
    return out


def public_view(config: ProviderConfig) -> dict[str, Any]:
    """Settings that may be shown: everything except the secrets, and their number."""
    out: dict[str, Any] = {"provider": config.provider, "secretCount": len(config.secrets)}
    if config.tolerance_s != DEFAULT_TOLERANCE_S:
        out["toleranceSeconds"] = config.tolerance_s
    if config.event_type_header:
        out["eventTypeHeader"] = config.event_type_header
    if config.provider == "hmac":
        out.update(
            header=config.header,
            algorithm=config.algorithm,
            encoding=config.encoding,
            prefix=config.prefix,
            signedContent=config.signed_content,
        )
        if config.timestamp_header:
            out["timestampHeader"] = config.timestamp_header
    elif config.provider == "api-key":
        out["header"] = config.header
    elif config.provider == "basic-auth":
        out["usernames"] = [s.partition(":")[0] for s in config.secrets]
    return out
