"""Settings from the environment and an optional ``.env`` file.

One object, validated once at start-up. An invalid value stops start-up with one line that names
the variable (see :func:`load_settings`), never a pydantic traceback.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_PATH = Path("var") / "softone-sync.db"


class SettingsError(Exception):
    """A setting is missing or invalid; ``str()`` is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{DEFAULT_SQLITE_PATH}",
        description="SQLAlchemy URL; postgresql:// URLs use psycopg 3.",
    )
    cron_secret: SecretStr | None = Field(default=None, description="Guards the /api/cron endpoints.")
    app_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("APP_URL", "AUTH_URL", "NEXT_PUBLIC_APP_URL"),
        description="Public base URL of this service (the seed's AUTH_URL / NEXT_PUBLIC_APP_URL work too).",
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Fernet key (or any passphrase) that encrypts ERP passwords at rest."
    )
    admin_token: SecretStr | None = Field(
        default=None, description="Guards the management API and dashboard."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    cron_allowed_ips: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = Field(default_factory=list)
    trusted_proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = Field(default_factory=list)
    executor: Literal["inline", "http", "procrastinate"] = "inline"
    max_concurrent_runs: int = Field(default=4, ge=1, le=256)
    notify_webhook_url: SecretStr | None = Field(
        default=None, description="POSTed JSON when an integration keeps failing and when it recovers."
    )
    notify_after_failures: int = Field(default=3, ge=1, le=1000, description="Failures in a row that notify.")
    lease_ttl_seconds: float | None = Field(
        default=None,
        ge=3,
        le=86_400,
        description="How long a run's lease lasts without a heartbeat (default 60 s): a crashed process's "
        "run is failed and its integration runs again this long after it stopped.",
    )
    sync_wait_seconds: float = Field(
        default=25.0, ge=0, description="How long sync-integration waits before 202."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("cron_allowed_ips", "trusted_proxies", mode="before")
    @classmethod
    def _split_cidrs(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_db_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def normalise_database_url(url: str) -> str:
    """Map the URL forms operators paste (``postgres://``, ``postgresql://``, ``sqlite:///``) to drivers."""
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    if url.startswith(("postgresql+psycopg://", "sqlite+aiosqlite://")):
        return url
    raise ValueError("must start with postgresql:// or sqlite:///")


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning a validation failure into one line that names the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "?"
        raise SettingsError(f"invalid setting {name}: {first['msg']}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
