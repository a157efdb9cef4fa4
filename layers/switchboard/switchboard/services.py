"""The container's long-lived objects, created once, on first use.

Handlers ask here for the settings, the store, the sender and the fan-out, so
every boto3 client and pynamodb connection lives as long as the Lambda container
does. Tests call :func:`reset` to start from fresh settings.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from switchboard.config import Settings
from switchboard.errors import ConfigurationError
from switchboard.store import Store

# Each handler imports only what its route needs: $connect never loads the fan-out,
# the frame handler or PyJWT's callers below until they are asked for.
if TYPE_CHECKING:
    from switchboard.actions import MessageHandler
    from switchboard.auth import VerifierSource
    from switchboard.fanout import Fanout, FanoutReport
    from switchboard.lifecycle import Connector
    from switchboard.queueing import BatchWorker, SqsOverflow
    from switchboard.realtime import Realtime
    from switchboard.sender import Sender
    from switchboard.server_publish import IdempotentRunner


@cache
def settings() -> Settings:
    """Settings read from the environment (a bad setting fails the cold start)."""
    return Settings.from_env()


@cache
def store() -> Store:
    """The DynamoDB store bound to this deployment's tables."""
    return Store(settings())


@cache
def verifier_source() -> VerifierSource:
    """Token verification: the JWKS client once, the secret through its cache."""
    from switchboard.auth import VerifierSource  # PyJWT only where tokens are verified
    from switchboard.secrets import load_token_secret

    return VerifierSource(settings(), load_token_secret)


@cache
def connector() -> Connector:
    """The ``$connect`` logic."""
    from switchboard.lifecycle import Connector

    return Connector(store=store(), settings=settings(), verifier=verifier_source().get)


def endpoint_for(api_id: str, stage: str) -> str:
    """The Management API endpoint of this API's stage (or the configured override)."""
    from switchboard.sender import management_endpoint

    config = settings()
    return management_endpoint(config.management_endpoint, api_id, config.region, stage)


def configured_endpoint() -> str:
    """The Management API endpoint for code that gets no WebSocket event (HTTP publish)."""
    endpoint = settings().management_endpoint
    if not endpoint:
        raise ConfigurationError("MANAGEMENT_ENDPOINT must name the WebSocket API's stage URL")
    return endpoint


@cache
def sender(endpoint: str) -> Sender:
    """The Management API sender for ``endpoint`` (one client per container).

    ``DELIVERY_ENGINE=fast`` (the default) posts through :mod:`switchboard.delivery`;
    ``boto3`` through the boto3 client, the reference path.
    """
    config = settings()
    if config.delivery_engine == "fast":
        from switchboard.delivery import DeliveryEngine

        return DeliveryEngine.for_endpoint(
            endpoint, config.region, pool_size=config.fanout_concurrency
        )
    from switchboard.sender import Sender

    return Sender.for_endpoint(endpoint, config.region, pool_size=config.fanout_concurrency)


@cache
def sqs() -> Any:
    """The SQS client of the fan-out queue (botocore, created once)."""
    from switchboard.queueing import sqs_client

    return sqs_client(settings().region)


def overflow(endpoint: str) -> SqsOverflow | None:
    """Where a fan-out above the threshold goes: SQS batches, when a queue is set."""
    config = settings()
    if not config.fanout_queue_url:
        return None
    from switchboard.queueing import SqsOverflow

    return SqsOverflow(
        sqs,
        config.fanout_queue_url,
        endpoint,
        threshold=config.fanout_queue_threshold,
        batch_size=config.fanout_batch_size,
    )


@cache
def batch_worker() -> BatchWorker:
    """The fan-out worker's logic: deliver queued batches through :func:`realtime`."""
    from switchboard.queueing import BatchWorker, FanoutBatch, SqsOverflow, endpoint_check

    config = settings()

    def deliver(endpoint: str, connection_ids: list[str], data: bytes) -> FanoutReport:
        channels = realtime(endpoint)
        report = channels.fanout.deliver(connection_ids, data)
        channels.announce_leaves()
        return report

    def requeue(batch: FanoutBatch, delay_seconds: int) -> FanoutReport:
        queue = SqsOverflow(
            sqs,
            config.fanout_queue_url or "",
            batch.endpoint,
            threshold=len(batch.connection_ids),
            batch_size=config.fanout_batch_size,
            generation=batch.generation,
            delay_seconds=delay_seconds,
        )
        return queue.enqueue(batch.connection_ids, batch.data)

    return BatchWorker(deliver, requeue, endpoint_check(config.management_endpoint, config.region))


@cache
def realtime(endpoint: str) -> Realtime:
    """Channels, history and presence, delivering through ``endpoint``."""
    from switchboard.fanout import Fanout
    from switchboard.realtime import Realtime
    from switchboard.telemetry import record_publish

    config = settings()
    out = sender(endpoint)

    def fanout_factory(prune: Callable[[str], object]) -> Fanout:
        return Fanout(
            out.post,
            prune,
            concurrency=config.fanout_concurrency,
            max_attempts=config.fanout_max_attempts,
            overflow=overflow(endpoint),
            max_rate=config.fanout_rate_limit or None,
            # the engine keeps many posts in flight on one thread; boto3 needs threads
            post_many=getattr(out, "post_many", None),
        )

    return Realtime(
        store=store(),
        send=out.post,
        settings=config,
        fanout_factory=fanout_factory,
        on_publish=record_publish,
    )


@cache
def idempotent_runner() -> IdempotentRunner:
    """Runs server-side publishes at most once per ``Idempotency-Key``."""
    from switchboard.server_publish import IdempotentRunner

    config = settings()
    return IdempotentRunner(config.idempotency_table, config.dynamodb_endpoint, config.region)


@cache
def message_handler(endpoint: str) -> MessageHandler:
    """The ``$default`` frame handler delivering through ``endpoint``."""
    from switchboard.actions import MessageHandler

    return MessageHandler(realtime=realtime(endpoint), sender=sender(endpoint), settings=settings())


def reset() -> None:
    """Forget every cached object (tests, or after changing the environment)."""
    for factory in (
        settings,
        store,
        verifier_source,
        connector,
        sender,
        realtime,
        idempotent_runner,
        message_handler,
        sqs,
        batch_worker,
    ):
        factory.cache_clear()
    from switchboard.sender import clear_clients

    clear_clients()
    from switchboard.delivery import clear_engines

    clear_engines()
