"""Settings from the environment and a ``.env`` file (pydantic-settings)."""

from __future__ import annotations

import re
from datetime import time
from functools import cached_property
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from knowledge.languages import LANGUAGES as LANGUAGES  # re-exported: the bot's name for it

TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{30,}$")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/studentbot.db"


class ConfigError(Exception):
    """A setting is missing or malformed; the message says what to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_nested_delimiter="__"
    )

    bot_token: SecretStr | None = None
    database_url: str = DEFAULT_DATABASE_URL
    telegram_api_url: str | None = None
    redis_url: str | None = None
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    staff_chat_id: int | None = None
    timezone: str = "Asia/Atyrau"
    default_language: str = "kk"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = 8080
    webhook_path: str = "/telegram/webhook"
    log_level: str = "INFO"
    # Reliability and scale (issue 7): drain on SIGTERM, flood control, /metrics in polling.
    shutdown_timeout: float = 20.0
    max_concurrent_updates: int = 64  # polling: more stay unconfirmed at Telegram
    flood_limit: int = 8  # messages per flood_window seconds; 0 turns flood control off
    flood_window: float = 5.0
    processed_updates_retention_hours: int = 48
    update_lease_seconds: float = 60.0  # an inbox update taken by a process that died waits this
    redis_max_connections: int = 50  # per process; more updates wait for a connection
    metrics_port: int | None = None  # polling mode: serve /healthz and /metrics here
    # Delivery and helpdesk tuning (issues 5 and 6 read these).
    # Issue 19: one outgoing budget per bot token (bot/budget.py), shared through Redis.
    bot_api_rate: float = 30.0  # messages Telegram lets the bot send a second, all told
    broadcast_rate: float = 30.0  # cap for broadcasts and reminders (they take what is left)
    quiet_hours_start: time = time(22, 0)
    quiet_hours_end: time = time(8, 0)
    helpdesk_sla_minutes: int = 30
    working_hours_start: time = time(9, 0)
    working_hours_end: time = time(18, 0)
    reminder_grace_hours: int = 12  # issue 5: missed reminders older than this are dropped
    # Web chat (issue 14): /chat on the bot's own aiohttp server.
    web_chat_enabled: bool = False
    web_chat_port: int | None = None  # None: the webhook port (webhook mode) or 8080
    web_chat_host: str | None = None  # None: WEBHOOK_HOST
    web_chat_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    web_chat_secret: SecretStr | None = None  # signs the session cookie; same in every process
    web_chat_cookie_secure: bool = True  # False only for plain-http development
    web_chat_max_message: int = 4000  # characters per browser message
    web_chat_rate: float = 2.0  # browser frames per second per connection (burst: 10)
    # issue 18: the question matcher's index is kept here, under a hash of its documents
    # ("" or "-": built in memory at every start)
    search_cache_dir: str = "data/cache"

    @property
    def search_cache_path(self) -> Path | None:
        value = self.search_cache_dir.strip()
        return None if value in ("", "-") else Path(value)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in re.split(r"[,\s]+", value.strip()) if part]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("web_chat_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.rstrip("/") for part in re.split(r"[,\s]+", value.strip()) if part]
        return value

    @field_validator("default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def token(self) -> str:
        """The bot token, checked; raises ConfigError with what to set."""
        if self.bot_token is None or not self.bot_token.get_secret_value().strip():
            raise ConfigError(
                "BOT_TOKEN is not set: put the token from @BotFather into the environment or "
                ".env (or run `studentbot chat` for the local chat, which needs no token)"
            )
        token = self.bot_token.get_secret_value().strip()
        if not TOKEN_RE.match(token):
            raise ConfigError(
                "BOT_TOKEN is malformed: expected '<digits>:<35 letters, digits, - or _>' "
                "as given by @BotFather"
            )
        return token

    def web_secret(self) -> bytes:
        """The cookie-signing key, checked; the web chat refuses to run without one."""
        secret = self.web_chat_secret.get_secret_value() if self.web_chat_secret else ""
        if len(secret.strip()) < 32:
            raise ConfigError(
                "WEB_CHAT_SECRET is not set or too short: the web chat signs its session cookie "
                "with it; use at least 32 random characters, the same in every bot process "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        return secret.strip().encode()

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


def load_settings(**overrides: object) -> Settings:
    """Read settings; a malformed value becomes a ConfigError naming the variable."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        raise ConfigError(f"{name} is invalid: {err['msg']}") from None
