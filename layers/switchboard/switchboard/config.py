"""Settings, read once per container from the environment.

Every environment variable Switchboard reads is named in :class:`Env`; explicit
keyword arguments to :meth:`Settings.from_env` win over the environment, which is
how tests and the local gateway replace single values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from switchboard.errors import ConfigurationError

MIN_SECRET_BYTES = 32


class Env:
    """The names of the environment variables, in one place."""

    CONNECTIONS_TABLE = "CONNECTIONS_TABLE"
    SUBSCRIPTIONS_TABLE = "SUBSCRIPTIONS_TABLE"
    CHANNELS_TABLE = "CHANNELS_TABLE"
    TOKENS_TABLE = "TOKENS_TABLE"
    DYNAMODB_ENDPOINT = "DYNAMODB_ENDPOINT"
    MANAGEMENT_ENDPOINT = "MANAGEMENT_ENDPOINT"
    REGION = "AWS_REGION"
    WS_SECRET = "WS_SECRET"
    WS_SECRET_PARAMETER = "WS_SECRET_PARAMETER"
    WS_SECRET_ID = "WS_SECRET_ID"
    JWKS_URL = "JWKS_URL"
    TOKEN_AUDIENCE = "TOKEN_AUDIENCE"
    TOKEN_ISSUER = "TOKEN_ISSUER"
    TOKEN_LEEWAY_SECONDS = "TOKEN_LEEWAY_SECONDS"
    ALLOWED_ORIGINS = "ALLOWED_ORIGINS"
    FANOUT_CONCURRENCY = "FANOUT_CONCURRENCY"
    FANOUT_MAX_ATTEMPTS = "FANOUT_MAX_ATTEMPTS"
    PUBLISH_RATE_LIMIT = "PUBLISH_RATE_LIMIT"
    SECRET_MAX_AGE_SECONDS = "SECRET_MAX_AGE_SECONDS"


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    """Everything a handler needs to know about its deployment."""

    connections_table: str = "switchboard-connections"
    subscriptions_table: str = "switchboard-subscriptions"
    channels_table: str = "switchboard-channels"
    tokens_table: str = "switchboard-tokens"
    region: str = "us-east-1"
    dynamodb_endpoint: str | None = None
    management_endpoint: str | None = None
    ws_secret: str | None = field(default=None, repr=False)
    ws_secret_parameter: str | None = None
    ws_secret_id: str | None = None
    jwks_url: str | None = None
    token_audience: str | None = None
    token_issuer: str | None = None
    token_leeway_seconds: int = 5
    allowed_origins: tuple[str, ...] = ()
    fanout_concurrency: int = 32
    fanout_max_attempts: int = 4
    publish_rate_limit: int = 50
    secret_max_age_seconds: int = 300

    def __post_init__(self) -> None:
        if self.ws_secret is not None and len(self.ws_secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                f"the token secret must be at least {MIN_SECRET_BYTES} bytes long"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from the environment; keyword arguments win."""
        env = os.environ if env is None else env
        settings = cls(
            connections_table=env.get(Env.CONNECTIONS_TABLE) or cls.connections_table,
            subscriptions_table=env.get(Env.SUBSCRIPTIONS_TABLE) or cls.subscriptions_table,
            channels_table=env.get(Env.CHANNELS_TABLE) or cls.channels_table,
            tokens_table=env.get(Env.TOKENS_TABLE) or cls.tokens_table,
            region=env.get(Env.REGION) or env.get("AWS_DEFAULT_REGION") or cls.region,
            dynamodb_endpoint=env.get(Env.DYNAMODB_ENDPOINT) or None,
            management_endpoint=env.get(Env.MANAGEMENT_ENDPOINT) or None,
            ws_secret=env.get(Env.WS_SECRET) or None,
            ws_secret_parameter=env.get(Env.WS_SECRET_PARAMETER) or None,
            ws_secret_id=env.get(Env.WS_SECRET_ID) or None,
            jwks_url=env.get(Env.JWKS_URL) or None,
            token_audience=env.get(Env.TOKEN_AUDIENCE) or None,
            token_issuer=env.get(Env.TOKEN_ISSUER) or None,
            token_leeway_seconds=_int(env, Env.TOKEN_LEEWAY_SECONDS, cls.token_leeway_seconds),
            allowed_origins=_list(env, Env.ALLOWED_ORIGINS),
            fanout_concurrency=_int(env, Env.FANOUT_CONCURRENCY, cls.fanout_concurrency, 1),
            fanout_max_attempts=_int(env, Env.FANOUT_MAX_ATTEMPTS, cls.fanout_max_attempts, 1),
            publish_rate_limit=_int(env, Env.PUBLISH_RATE_LIMIT, cls.publish_rate_limit),
            secret_max_age_seconds=_int(
                env, Env.SECRET_MAX_AGE_SECONDS, cls.secret_max_age_seconds
            ),
        )
        return replace(settings, **overrides) if overrides else settings


@cache
def get_settings() -> Settings:
    """The container's settings, built on first use."""
    return Settings.from_env()
