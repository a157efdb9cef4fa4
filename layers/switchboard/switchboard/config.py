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
MAX_PUBLISH_RATE_LIMIT = 100  # the rate limit's register: one slot per publish a second
DELIVERY_ENGINES = ("fast", "boto3")


class Env:
    """The names of the environment variables, in one place."""

    CONNECTIONS_TABLE = "CONNECTIONS_TABLE"
    SUBSCRIPTIONS_TABLE = "SUBSCRIPTIONS_TABLE"
    HISTORY_TABLE = "HISTORY_TABLE"
    PRESENCE_TABLE = "PRESENCE_TABLE"
    IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
    HISTORY_RETENTION_SECONDS = "HISTORY_RETENTION_SECONDS"
    HISTORY_SIZE = "HISTORY_SIZE"
    REPLAY_LIMIT = "REPLAY_LIMIT"
    PRESENCE_PREFIX = "PRESENCE_PREFIX"
    PRESENCE_MAX_MEMBERS = "PRESENCE_MAX_MEMBERS"
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
    DELIVERY_ENGINE = "DELIVERY_ENGINE"
    FANOUT_QUEUE_URL = "FANOUT_QUEUE_URL"
    FANOUT_QUEUE_THRESHOLD = "FANOUT_QUEUE_THRESHOLD"
    FANOUT_BATCH_SIZE = "FANOUT_BATCH_SIZE"
    FANOUT_RATE_LIMIT = "FANOUT_RATE_LIMIT"
    PUBLISH_RATE_LIMIT = "PUBLISH_RATE_LIMIT"
    SECRET_MAX_AGE_SECONDS = "SECRET_MAX_AGE_SECONDS"
    # backend events (functions/events; switchboard.events)
    EVENT_BUS_NAME = "EVENT_BUS_NAME"
    CHANNEL_STATES_TABLE = "CHANNEL_STATES_TABLE"
    EVENTS_ENDPOINT = "EVENTS_ENDPOINT"  # a local EventBridge (the local gateway's)
    HOOKS_MODULE = "HOOKS_MODULE"


def _int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigurationError(f"{name} must be at most {maximum}, got {value}")
    return value


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _url(env: Mapping[str, str], name: str) -> str | None:
    # Not a URL (e.g. a queue's logical id, which ``!Ref`` gives where no SQS runs): unset.
    raw = env.get(name, "").strip()
    return raw if raw.startswith(("https://", "http://")) else None


@dataclass(frozen=True)
class Settings:
    """Everything a handler needs to know about its deployment."""

    connections_table: str = "switchboard-connections"
    subscriptions_table: str = "switchboard-subscriptions"
    history_table: str = "switchboard-history"
    presence_table: str = "switchboard-presence"
    idempotency_table: str = "switchboard-idempotency"
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
    delivery_engine: str = "fast"  # or "boto3", the reference path
    fanout_queue_url: str | None = None  # SQS fan-out above the threshold; None: inline
    fanout_queue_threshold: int = 500
    fanout_batch_size: int = 100
    fanout_rate_limit: int = 0  # posts per second per container; 0: unpaced
    publish_rate_limit: int = 50
    secret_max_age_seconds: int = 300
    history_retention_seconds: int = 24 * 60 * 60
    history_size: int = 1000
    replay_limit: int = 1000
    presence_prefix: str = "presence-"
    presence_max_members: int = 1000
    event_bus_name: str | None = None  # backend events (functions/events)
    channel_states_table: str | None = None
    events_endpoint: str | None = None  # a local EventBridge (the local gateway's)
    hooks_module: str = ""  # the app's hooks (switchboard.hooks); empty: none, no import

    def __post_init__(self) -> None:
        if self.delivery_engine not in DELIVERY_ENGINES:
            raise ConfigurationError(
                f"DELIVERY_ENGINE must be one of {', '.join(DELIVERY_ENGINES)}, "
                f"got {self.delivery_engine!r}"
            )
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
            history_table=env.get(Env.HISTORY_TABLE) or cls.history_table,
            presence_table=env.get(Env.PRESENCE_TABLE) or cls.presence_table,
            idempotency_table=env.get(Env.IDEMPOTENCY_TABLE) or cls.idempotency_table,
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
            delivery_engine=env.get(Env.DELIVERY_ENGINE, "").strip() or cls.delivery_engine,
            fanout_queue_url=_url(env, Env.FANOUT_QUEUE_URL),
            fanout_queue_threshold=_int(
                env, Env.FANOUT_QUEUE_THRESHOLD, cls.fanout_queue_threshold, 1
            ),
            fanout_batch_size=_int(env, Env.FANOUT_BATCH_SIZE, cls.fanout_batch_size, 1),
            fanout_rate_limit=_int(env, Env.FANOUT_RATE_LIMIT, cls.fanout_rate_limit),
            publish_rate_limit=_int(
                env, Env.PUBLISH_RATE_LIMIT, cls.publish_rate_limit, 0, MAX_PUBLISH_RATE_LIMIT
            ),
            secret_max_age_seconds=_int(
                env, Env.SECRET_MAX_AGE_SECONDS, cls.secret_max_age_seconds
            ),
            history_retention_seconds=_int(
                env, Env.HISTORY_RETENTION_SECONDS, cls.history_retention_seconds, 1
            ),
            history_size=_int(env, Env.HISTORY_SIZE, cls.history_size, 1),
            replay_limit=_int(env, Env.REPLAY_LIMIT, cls.replay_limit, 1),
            presence_prefix=env.get(Env.PRESENCE_PREFIX, cls.presence_prefix),
            presence_max_members=_int(env, Env.PRESENCE_MAX_MEMBERS, cls.presence_max_members, 1),
            event_bus_name=env.get(Env.EVENT_BUS_NAME) or None,
            channel_states_table=env.get(Env.CHANNEL_STATES_TABLE) or None,
            events_endpoint=env.get(Env.EVENTS_ENDPOINT) or None,
            hooks_module=env.get(Env.HOOKS_MODULE, "").strip(),
        )
        return replace(settings, **overrides) if overrides else settings


@cache
def get_settings() -> Settings:
    """The container's settings, built on first use."""
    return Settings.from_env()
