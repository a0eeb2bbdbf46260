"""Settings, read once by the composition root from ``HOOKLINE_*`` variables.

Nothing reads the environment anywhere else: every layer gets what it needs passed in.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Delays of the retries after the immediate first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> object:
    """Seconds, or a number with a unit: ``90``, ``30s``, ``15m``, ``2h``, ``5d``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text and text[-1] in _UNITS:
            return float(text[:-1]) * _UNITS[text[-1]]
        return float(text)
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOOKLINE_", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path(".hookline")
    database_url: str | None = None
    # PostgreSQL: connections per process (each on a thread of its own), and where the
    # processes LISTEN for wake-ups when database_url goes through a transaction pooler
    database_pool_size: int = Field(default=8, ge=1, le=256)
    notify_url: str | None = None
    api_token: SecretStr | None = None
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL"] = "FULL"

    retry_schedule: Annotated[tuple[float, ...], NoDecode] = DEFAULT_RETRY_SCHEDULE
    retry_jitter: float = Field(default=0.2, ge=0, lt=1)
    request_timeout: float = Field(default=15.0, gt=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    max_response_body: int = Field(default=20 * 1024, ge=0)
    max_payload_bytes: int = Field(default=1024 * 1024, gt=0)
    secret_rotation_grace: float = Field(default=24 * 3600.0, ge=0)

    allow_private_targets: bool = False
    allow_loopback_targets: bool = False
    allowed_subnets: Annotated[tuple[str, ...], NoDecode] = ()

    run_api: bool = True
    run_worker: bool = True
    run_maintenance: bool = True  # with the worker: replays and retention (one process is enough)
    worker_batch_size: int = Field(default=256, gt=0)
    worker_concurrency: int = Field(default=128, gt=0)
    worker_max_connections: int = Field(default=1024, gt=0)
    worker_slow_after: float = Field(default=0.25, gt=0)
    lease_seconds: float = Field(default=60.0, gt=0)
    poll_interval: float = Field(default=1.0, gt=0)
    # Polling endpoints and /events hand out a message only once its id is this old, so a
    # publish that commits after a newer one is never skipped (docs/architecture.md).
    poll_settle: float = Field(default=5.0, gt=0, le=300)
    # Deliveries a background fan-out creates per transaction (applications with many
    # endpoints); what a publish queued behind that transaction waits for.
    fanout_batch_size: int = Field(default=200, ge=1, le=10_000)
    send_svix_headers: bool = True

    # A delivery counts until its result is recorded, whichever process sent it: 16 keeps
    # one endpoint's cycle (send, then one commit that records and claims again) from
    # capping it near 500/s with the API writing beside it, and 50 hanging endpoints at 16
    # still leave room within worker_max_connections for the healthy ones.
    endpoint_max_in_flight: int = Field(default=16, gt=0)
    breaker_threshold: int = Field(default=5, gt=0)
    breaker_cooldown: Annotated[float, BeforeValidator(parse_duration)] = Field(default=30.0, gt=0)
    breaker_max_cooldown: Annotated[float, BeforeValidator(parse_duration)] = Field(
        default=1800.0, gt=0
    )
    disable_after: Annotated[float, BeforeValidator(parse_duration)] = Field(
        default=5 * 86400.0, gt=0
    )
    retention_days: float = Field(default=90.0, gt=0)

    # Encryption of stored secrets: the current key, then older keys that still decrypt.
    # Checked where they are used (runtime.secret_box), so no error message echoes a key.
    secret_key: SecretStr | None = None
    secret_keys_previous: Annotated[tuple[SecretStr, ...], NoDecode] = ()

    # Limits on API clients (HTTP/1.1 server): see hookline.api.http_server.
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    max_headers: int = Field(default=100, gt=0)
    header_timeout: Annotated[float, BeforeValidator(parse_duration)] = Field(default=10.0, gt=0)
    body_timeout: Annotated[float, BeforeValidator(parse_duration)] = Field(default=30.0, gt=0)
    keepalive_timeout: Annotated[float, BeforeValidator(parse_duration)] = Field(default=5.0, gt=0)
    max_connections: int = Field(default=1000, gt=0)

    # Receiving (sources): see hookline.inbound. public_url is where providers reach this
    # server (ingestUrl); X-Forwarded-Proto/-Host count only from trusted_proxies.
    public_url: str | None = None
    inbound_max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    actions_file: Path | None = None

    # The dashboard (/ui) and the consumer portal (/portal): see hookline.ui.
    ui_enabled: bool = True
    ui_session_ttl: Annotated[float, BeforeValidator(parse_duration)] = Field(
        default=12 * 3600.0, gt=0
    )
    # origins that may show the portal in an iframe (CSP frame-ancestors); none by default
    portal_frame_ancestors: Annotated[tuple[str, ...], NoDecode] = ()
    portal_logo_url: str | None = None
    portal_primary_color: str = Field(default="#4f46e5", pattern=r"^#[0-9a-fA-F]{6}$")
    portal_name: str = Field(default="hookline", min_length=1, max_length=60)
    # OpenTelemetry traces (the ``otel`` extra): on with HOOKLINE_OTEL=true, or when the
    # standard variables name an exporter; the SDK reads the other OTEL_* variables itself
    otel: bool = False
    otel_traces_exporter: str | None = Field(default=None, validation_alias="OTEL_TRACES_EXPORTER")
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT"
    )

    # Operating it: logs (read by the CLI's entry, beside --log-level) and readiness.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    heartbeat_seconds: Annotated[float, BeforeValidator(parse_duration)] = Field(
        default=5.0, gt=0, le=300
    )
    ready_require_worker: bool = True

    # Prometheus metrics (docs/observability.md): /metrics on the API, token-protected
    # unless public; a standalone worker serves its own on metrics_port when set.
    metrics: bool = True
    metrics_public: bool = False
    metrics_per_endpoint: bool = False
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # prometheus_client's own variable: set by ``hookline serve`` for its children, whose
    # samples the API's /metrics then aggregates
    metrics_multiproc_dir: str | None = Field(
        default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR"
    )

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _parse_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            return tuple(float(p) for p in parts)
        return value

    @field_validator("portal_frame_ancestors", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.replace(" ", ",").split(",") if p.strip())
        return value

    @field_validator("portal_frame_ancestors")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:*]+", origin):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return value

    @field_validator("allowed_subnets", "trusted_proxies", mode="before")
    @classmethod
    def _parse_subnets(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @field_validator("allowed_subnets", "trusted_proxies")
    @classmethod
    def _check_subnets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for subnet in value:
            ipaddress.ip_network(subnet, strict=False)
        return value

    @field_validator("retry_schedule")
    @classmethod
    def _check_schedule(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(d < 0 for d in value):
            raise ValueError("retry delays must be zero or positive seconds")
        return value

    @field_validator("secret_keys_previous", mode="before")
    @classmethod
    def _parse_previous_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @model_validator(mode="after")
    def _production_needs_a_token(self) -> Settings:
        if self.environment == "production":
            token = self.api_token.get_secret_value() if self.api_token else ""
            if len(token) < 16:
                raise ValueError("HOOKLINE_API_TOKEN must be set (16+ chars) in production")
        if self.lease_seconds <= self.request_timeout:
            raise ValueError("lease_seconds must exceed request_timeout")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hookline.db'}"
