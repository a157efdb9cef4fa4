"""The container's long-lived objects, created once, on first use.

Handlers ask here for the settings, the store, the sender and the fan-out, so
every boto3 client and pynamodb connection lives as long as the Lambda container
does. Tests call :func:`reset` to start from fresh settings.
"""

from __future__ import annotations

from functools import cache

from switchboard.actions import MessageHandler
from switchboard.auth import VerifierSource
from switchboard.config import Settings
from switchboard.fanout import Fanout
from switchboard.lifecycle import Connector
from switchboard.secrets import load_token_secret
from switchboard.sender import Sender, clear_clients, management_endpoint
from switchboard.store import Store
from switchboard.telemetry import record_publish


@cache
def settings() -> Settings:
    """Settings read from the environment (a bad setting fails the cold start)."""
    return Settings.from_env()


@cache
def store() -> Store:
    """The DynamoDB store bound to this deployment's tables."""
    return Store(settings())


@cache
def connector() -> Connector:
    """The ``$connect`` / ``$disconnect`` logic."""
    source = VerifierSource(settings(), load_token_secret)
    return Connector(store=store(), settings=settings(), verifier=source.get)


@cache
def sender(api_id: str, stage: str) -> Sender:
    """The Management API sender for this API's stage (one client per container)."""
    config = settings()
    endpoint = management_endpoint(config.management_endpoint, api_id, config.region, stage)
    return Sender.for_endpoint(endpoint, config.region, pool_size=config.fanout_concurrency)


@cache
def message_handler(api_id: str, stage: str) -> MessageHandler:
    """The ``$default`` frame handler for this API's stage."""
    config = settings()
    out = sender(api_id, stage)
    db = store()
    fanout = Fanout(
        out.post,
        db.delete_connection,
        concurrency=config.fanout_concurrency,
        max_attempts=config.fanout_max_attempts,
    )
    return MessageHandler(
        store=db, sender=out, fanout=fanout, settings=config, on_publish=record_publish
    )


def reset() -> None:
    """Forget every cached object (tests, or after changing the environment)."""
    for factory in (settings, store, connector, sender, message_handler):
        factory.cache_clear()
    clear_clients()
