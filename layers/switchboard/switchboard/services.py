"""The former service locator, kept as names over :func:`switchboard.container.current`.

Owns nothing: each function answers from this process's :class:`~switchboard.container.Container`.
Handlers and the library take the container as an argument; these names remain for the
benchmarks and tests written against them (``bench/``), until they move to the container.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from switchboard.container import current, reset

if TYPE_CHECKING:
    from switchboard.actions import MessageHandler
    from switchboard.config import Settings
    from switchboard.lifecycle import Connector
    from switchboard.queueing import BatchWorker
    from switchboard.realtime import Realtime
    from switchboard.sender import ManagementApi
    from switchboard.storage import Storage

__all__ = ["reset"]


def settings() -> Settings:
    """The container's settings."""
    return current().settings


def store() -> Storage:
    """The container's store."""
    return current().store


def connector() -> Connector:
    """The ``$connect`` logic."""
    return current().connector()


def endpoint_for(api_id: str, stage: str) -> str:
    """The Management API endpoint of this API's stage (or the configured override)."""
    return current().endpoint_for(api_id, stage)


def configured_endpoint() -> str:
    """The configured Management API endpoint."""
    return current().configured_endpoint()


def sender(endpoint: str) -> ManagementApi:
    """The Management API sender for ``endpoint``."""
    return current().sender(endpoint)


def sqs() -> Any:
    """The fan-out queue's SQS client."""
    return current().sqs()


def realtime(endpoint: str) -> Realtime:
    """Channels, history and presence, delivering through ``endpoint``."""
    return current().realtime(endpoint)


def message_handler(endpoint: str) -> MessageHandler:
    """The ``$default`` frame handler."""
    return current().message_handler(endpoint)


def batch_worker() -> BatchWorker:
    """The fan-out worker's logic."""
    return current().batch_worker()


def verifier_source() -> Any:
    """An object whose ``get()`` is a token verifier (as the locator's was)."""

    class _Source:
        @staticmethod
        def get() -> Any:
            return current().verifier()

    return _Source()
